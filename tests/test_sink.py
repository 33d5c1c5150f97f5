"""Sinking: a sum over the steps of a loop's stacked results is computed inside the loop.

Each case checks the graph C is compiled from (the sum is a carry of the loop,
the stacked values it summed are gone) and the numbers: C (sunk) against the
Python backend (stacked, as written) and, for one, JAX and central differences.
"""

from __future__ import annotations

import numpy as np
import pytest

import gradgen as gg
from gradgen.dsl.trace import trace
from gradgen.passes.reroll import reroll
from gradgen.passes.sink import sink_sums


def _specs(values: dict) -> dict:
    return {k: gg.Array(np.shape(v)) for k, v in values.items()}


def _kernels(fn, values: dict, wrt) -> tuple[gg.Kernel, gg.Kernel]:
    """The C and Python kernels of ``fn``, checked to agree to 1e-12."""
    c = gg.value_and_grad(fn, wrt=wrt, backend="c", specs=_specs(values))
    py = gg.value_and_grad(fn, wrt=wrt, backend="python", specs=_specs(values))
    (vc, gc), (vp, gp) = c(**values), py(**values)
    assert vc == pytest.approx(vp, rel=1e-12)
    for name in gp:
        np.testing.assert_allclose(gc[name], gp[name], rtol=1e-12, atol=1e-13)
    return c, py


def _loops(graph) -> list:
    return [node for node in graph.nodes if node.op == "scan"]


def _values(steps: int = 40, width: int = 4, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    return {"h0": rng.normal(size=width), "w": rng.uniform(0.5, 1.5, width), "obs": rng.normal(size=(steps, width))}


def rnn_misfit(h0, w, obs):
    def step(h, x):
        h = gg.tanh(h * w + x)
        return h, h

    _, hs = gg.scan(step, h0, obs)
    return gg.sum((hs - obs) ** 2)


def test_a_sum_of_a_function_of_the_ys_becomes_a_carry_and_the_ys_go():
    values = _values()
    traced = trace(rnn_misfit, _specs(values))
    sunk = sink_sums(traced)
    (loop,) = _loops(sunk)
    assert loop.params["carries"] == 2 and "sum" not in [n.op for n in sunk.nodes]
    body = loop.params["body"]
    assert body.input_names[:2] == ("h", "J")  # the total is named after what it becomes
    assert "sum" in [n.op for n in body.nodes]
    c, _ = _kernels(rnn_misfit, values, ["h0", "w", "obs"])
    (forward,) = [n for n in _loops(c.c_graph) if not n.params["reverse"]]
    assert "y" not in forward.params["body"].output_names  # the stacked hs are no longer made


def test_the_sunk_loop_matches_jax_and_central_differences():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    jnp = jax.numpy

    def reference(h0, w, obs):
        _, hs = jax.lax.scan(lambda h, x: (jnp.tanh(h * w + x),) * 2, h0, obs)
        return jnp.sum((hs - obs) ** 2)

    values = _values(steps=25)
    c, _ = _kernels(rnn_misfit, values, ["h0", "w", "obs"])
    value, grads = c(**values)
    expected_value, expected = jax.value_and_grad(reference, argnums=(0, 1, 2))(*values.values())
    assert value == pytest.approx(float(expected_value), rel=1e-13)
    for name, want in zip(values, expected):
        np.testing.assert_allclose(grads[name], np.asarray(want), rtol=1e-12, atol=1e-13)
    eps, w = 1e-6, values["w"]
    for k in range(w.size):
        up, down = w.copy(), w.copy()
        up[k] += eps
        down[k] -= eps
        central = (c(**{**values, "w": up})[0] - c(**{**values, "w": down})[0]) / (2 * eps)
        assert grads["w"][k] == pytest.approx(central, rel=1e-6)


def test_sums_over_axis_0_keepdims_means_and_values_made_after_the_loop():
    def fn(h0, w, obs):
        def step(h, x):
            h = gg.sin(h * w) + x
            return h, h * h

        _, ys = gg.scan(step, h0, obs)
        scale = gg.reshape(w, (1, 4)) * 2.0  # broadcast over the steps, made after the loop
        per_column = gg.sum(ys * scale, axis=0)  # a vector total
        kept = gg.sum(ys - obs * 0.5, axis=(0, 1), keepdims=True)  # obs * 0.5 is scanned with the loop
        return gg.sum(per_column * w) + gg.mean(ys) + gg.sum(kept)

    values = _values(steps=30)
    sunk = sink_sums(trace(fn, _specs(values)))
    (loop,) = _loops(sunk)
    assert loop.params["carries"] == 4 and loop.params["xs"] == 2
    # left: sum(per_column * w) does not step with the loop, sum(kept) reads a reshape of the total
    assert [n.op for n in sunk.nodes].count("sum") == 2
    _kernels(fn, values, ["h0", "w", "obs"])


def test_two_ys_of_one_loop_and_a_constant_array_are_summed_inside():
    weights = np.linspace(0.1, 2.0, 20 * 3).reshape(20, 3)

    def fn(h0, xs):
        def step(h, x):
            h = gg.tanh(h + x)
            return h, (h, gg.exp(-h))

        _, (hs, decays) = gg.scan(step, h0, xs, reverse=True)
        return gg.sum(hs * decays * weights)

    rng = np.random.default_rng(3)
    values = {"h0": rng.normal(size=3), "xs": rng.normal(size=(20, 3))}
    sunk = sink_sums(trace(fn, _specs(values)))
    (loop,) = _loops(sunk)
    assert loop.params["carries"] == 2 and loop.params["reverse"]
    _kernels(fn, values, ["h0", "xs"])


def test_a_sum_inside_a_loop_body_sinks_into_the_inner_loop():
    def fn(h0, xs):
        def outer(h, x):
            _, inner = gg.scan(lambda g, v: (gg.sin(g + v), g * v), h, gg.reshape(x, (3, 2)))
            h = 0.5 * h + 0.1 * gg.sum(inner * inner)
            return h, h

        h, _ = gg.scan(outer, h0, xs)
        return gg.sum(h)

    rng = np.random.default_rng(4)
    values = {"h0": rng.normal(size=2), "xs": rng.normal(size=(5, 6))}
    (loop,) = _loops(sink_sums(trace(fn, _specs(values))))
    (inner,) = _loops(loop.params["body"])
    assert inner.params["carries"] == 2
    _kernels(fn, values, ["h0", "xs"])


def test_a_stacked_python_loop_is_re_rolled_then_its_sum_sunk():
    def fn(x0, obs):
        x, states = x0, []
        for _ in range(obs.shape[0]):
            x = x + 0.01 * (gg.sin(x) * x - x * x * x)
            states.append(x)
        return gg.sum((gg.stack(states) - obs) ** 2)

    rng = np.random.default_rng(5)
    values = {"x0": rng.uniform(0.5, 1.0, 2), "obs": rng.normal(size=(60, 2))}
    (loop,) = _loops(sink_sums(reroll(trace(fn, _specs(values)))))
    assert loop.params["length"] == 60 and loop.params["carries"] == 2  # every step, the sum inside
    c, _ = _kernels(fn, values, ["x0"])
    assert len(_loops(c.c_graph)) == 2 and "concatenate" not in [n.op for n in c.c_graph.nodes]


def test_what_cannot_sink_stays_as_written():
    def fn(h0, w, obs):
        def step(h, x):
            h = gg.tanh(h * w + x)
            return h, h

        _, hs = gg.scan(step, h0, obs)
        squared = hs * hs  # read twice: by the sum and by the product below
        return gg.sum(gg.sum(squared, axis=1) ** 2) * 0 + gg.sum(squared @ w) + gg.max(hs) \
            + gg.sum(gg.sum(hs, axis=1))

    values = _values(steps=12)
    traced = trace(fn, _specs(values))
    sunk = sink_sums(traced)
    # sum over axis 1 and max are not over the steps; squared has a reader that is no elementwise op;
    # only sum(sum(hs, axis=1)) is of the steps, and it reads a sum, not an elementwise chain
    assert _loops(sunk)[0].params["carries"] == 1
    _kernels(fn, values, ["h0", "w"])


def test_a_y_read_elsewhere_stays_stacked_and_the_sum_still_sinks():
    def fn(h0, w, obs):
        def step(h, x):
            h = gg.tanh(h * w + x)
            return h, h

        _, hs = gg.scan(step, h0, obs)
        return gg.sum(hs * hs) + gg.sum(hs[-1] * 3.0)

    values = _values(steps=16)
    (loop,) = _loops(sink_sums(trace(fn, _specs(values))))
    assert loop.params["carries"] == 2 and len(loop.params["body"].outputs) == 3
    _kernels(fn, values, ["h0", "w", "obs"])
