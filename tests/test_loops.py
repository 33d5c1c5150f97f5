"""gg.scan and gg.fori_loop: one node in the graph, traced once, differentiated as loops.

Each loop is checked on both backends against the same function written as
an unrolled Python loop (a graph without loop nodes), against central
finite differences, and against JAX's ``lax.scan`` with x64 where JAX is
installed.
"""

from __future__ import annotations

import numpy as np
import pytest

import gradgen as gg
from gradgen.ir.check import check_graph
from gradgen.ops.registry import OPS
from gradgen.passes.pipeline import prepare
from gradgen.runtime.interpret import evaluate

BACKENDS = ["python", "c"]


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def _central_differences(fn, values: dict, name: str, eps: float = 1e-6) -> np.ndarray:
    """dJ/d values[name] by central differences of the Python kernel of ``fn``."""
    specs = {k: gg.Array(np.shape(v)) for k, v in values.items()}
    forward = gg.compile(fn, backend="python", specs=specs)
    base = np.asarray(values[name], dtype=float)
    grad = np.zeros(base.shape)
    for idx in np.ndindex(base.shape):
        plus, minus = base.copy(), base.copy()
        plus[idx] += eps
        minus[idx] -= eps
        grad[idx] = (forward(**{**values, name: plus}) - forward(**{**values, name: minus})) / (2 * eps)
    return grad


def _agree(looped, unrolled, values: dict, backend: str, rtol: float = 1e-12) -> None:
    """``looped`` (with gg.scan) and ``unrolled`` (a Python loop) agree in value and gradient."""
    specs = {k: gg.Array(np.shape(v)) for k, v in values.items()}
    value, grads = gg.value_and_grad(looped, backend=backend, specs=specs)(**values)
    expected_value, expected = gg.value_and_grad(unrolled, backend="python", specs=specs)(**values)
    assert value == pytest.approx(expected_value, rel=rtol, abs=rtol)
    for name in expected:
        np.testing.assert_allclose(grads[name], expected[name], rtol=rtol, atol=rtol)


# --- the functions: each written with scan and as a plain Python loop -------------------------------------
def rnn_scan(h0, W, U, xs):
    def step(h, x):
        h = gg.tanh(W @ h + U * x)
        return h, gg.sum(h * h)
    h, energies = gg.scan(step, h0, xs)
    return gg.sum(h) + gg.sum(energies * energies)


def rnn_unrolled(h0, W, U, xs):
    h, total = h0, 0.0
    for t in range(xs.shape[0]):
        h = gg.tanh(W @ h + U * xs[t])
        total = total + gg.sum(h * h) ** 2
    return gg.sum(h) + total


RNN = {"h0": (3,), "W": (3, 3), "U": (3,), "xs": (6,)}


def _rnn_values(seed: int, steps: int = 6) -> dict:
    rng = _rng(seed)
    return {"h0": rng.normal(size=3), "W": 0.6 * rng.normal(size=(3, 3)), "U": rng.normal(size=3),
            "xs": rng.normal(size=steps)}


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_scanned_rnn_matches_its_unrolled_loop(backend):
    _agree(rnn_scan, rnn_unrolled, _rnn_values(0), backend)


def test_a_scanned_rnn_matches_central_differences():
    values = _rnn_values(1)
    _, grads = gg.value_and_grad(rnn_scan, backend="python", specs={k: gg.Array(s) for k, s in RNN.items()})(**values)
    for name in RNN:
        np.testing.assert_allclose(grads[name], _central_differences(rnn_scan, values, name), rtol=1e-6, atol=1e-8)


def test_the_loop_is_one_node_and_its_body_is_traced_once():
    calls = []

    def f(h0, W, U, xs):
        def step(h, x):
            calls.append(1)
            return gg.tanh(W @ h + U * x), None
        h, _ = gg.scan(step, h0, xs)
        return gg.sum(h)

    graph = gg.trace(f, h0=gg.Array((3,)), W=gg.Array((3, 3)), U=gg.Array((3,)), xs=gg.Array((10_000,)))
    assert len(calls) == 1
    assert [n.op for n in graph.nodes].count("scan") == 1 and len(graph.nodes) < 12
    check_graph(prepare(graph, gradient=True, check=True))
    text = str(graph)
    assert "    body(h, x, W, U):" in text and "        return h=" in text


@pytest.mark.parametrize("backend", BACKENDS)
def test_reverse_scan_with_dict_carries_and_ys(backend):
    def looped(a, xs):
        def step(state, x):
            s, m = state["sum"], state["prod"]
            return {"sum": s + x * a, "prod": m * gg.cos(x)}, s * m
        final, ys = gg.scan(step, {"sum": a * 0.0, "prod": a}, xs, reverse=True)
        return gg.sum(final["sum"] * final["prod"]) + gg.sum(ys * gg.sin(xs))

    def unrolled(a, xs):
        s, m, ys = a * 0.0, a, [None] * xs.shape[0]
        for t in reversed(range(xs.shape[0])):
            ys[t] = s * m
            s, m = s + xs[t] * a, m * gg.cos(xs[t])
        return gg.sum(s * m) + gg.sum(gg.stack(ys) * gg.sin(xs))

    rng = _rng(2)
    _agree(looped, unrolled, {"a": rng.normal(size=2), "xs": rng.normal(size=(5, 2))}, backend)


@pytest.mark.parametrize("backend", BACKENDS)
def test_nested_scans_over_closed_over_parameters(backend):
    def looped(w, xs):
        def outer(c, row):
            def inner(d, x):
                return gg.tanh(d * w + x), d
            d, ds = gg.scan(inner, c, row)
            return d + gg.sum(ds), gg.sum(d)
        c, ys = gg.scan(outer, 0.5, xs)
        return c + gg.sum(ys * ys)

    def unrolled(w, xs):
        c, total = 0.5, 0.0
        for i in range(xs.shape[0]):
            d, ds = c, 0.0
            for j in range(xs.shape[1]):
                ds = ds + d
                d = gg.tanh(d * w + xs[i, j])
            c = d + ds
            total = total + d * d
        return c + total

    rng = _rng(3)
    _agree(looped, unrolled, {"w": 0.7, "xs": rng.normal(size=(3, 4))}, backend)


def _gated(checkpoint: str):
    """A loss through a gated cell (sigmoid, tanh, a relu that selects), a reverse inner scan and an
    integer gather, written with ``checkpoint``."""
    def looped(W, v, h0, xs, picks):
        def step(h, pair):
            x, pick = pair
            def inner(c, w):
                return c * gg.sigmoid(w * c + x), gg.relu(c - 0.1)
            c, cs = gg.scan(inner, h[pick], v, reverse=True, checkpoint=checkpoint)
            gate = gg.sigmoid(W @ h + x)
            h = gate * gg.tanh(h * c) + (1.0 - gate) * h
            return h, gg.sum(cs) + gg.sum(h * h)
        h, ys = gg.scan(step, h0, (xs, picks), checkpoint=checkpoint)
        return gg.sum(h) + gg.sum(ys * ys)
    return looped


def _gated_unrolled(W, v, h0, xs):
    h, total = h0, 0.0
    for t in range(xs.shape[0]):
        c, y = h[int(PICKS[t])], 0.0
        for j in reversed(range(v.shape[0])):
            y = y + gg.relu(c - 0.1)
            c = c * gg.sigmoid(v[j] * c + xs[t])
        gate = gg.sigmoid(W @ h + xs[t])
        h = gate * gg.tanh(h * c) + (1.0 - gate) * h
        y = y + gg.sum(h * h)
        total = total + y * y
    return gg.sum(h) + total


PICKS = np.array([2, 0, 1, 2, 1], dtype=np.int64)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("checkpoint", ["residuals", "carry"])
def test_each_checkpoint_gives_the_numbers_of_the_unrolled_loop(backend, checkpoint):
    rng = _rng(12)
    values = {"W": 0.5 * rng.normal(size=(3, 3)), "v": rng.normal(size=4), "h0": rng.normal(size=3),
              "xs": rng.normal(size=5), "picks": PICKS}
    specs = {k: gg.Array(np.shape(v), "int64" if k == "picks" else "float64") for k, v in values.items()}
    wrt = ["W", "v", "h0", "xs"]
    value, grads = gg.value_and_grad(_gated(checkpoint), wrt=wrt, backend=backend, specs=specs)(**values)
    unrolled_specs = {k: s for k, s in specs.items() if k != "picks"}
    floats = {k: x for k, x in values.items() if k != "picks"}
    expected_value, expected = gg.value_and_grad(_gated_unrolled, backend="python", specs=unrolled_specs)(**floats)
    assert value == pytest.approx(expected_value, rel=1e-12)
    for name in wrt:
        np.testing.assert_allclose(grads[name], expected[name], rtol=1e-11, atol=1e-13)
    np.testing.assert_allclose(grads["xs"], _central_differences(_gated_unrolled, floats, "xs"), rtol=1e-6)


def test_residuals_are_read_not_computed_again_and_carry_saves_only_the_carry():
    residuals, carry = (gg.value_and_grad(_rnn_with(c), backend="c", h0=gg.Array((3,)), W=gg.Array((3, 3)),
                                          U=gg.Array((3,)), xs=gg.Array((100,))) for c in ("residuals", "carry"))
    reverse_body = lambda kernel: str(kernel.program).split("body 1, a program:")[1]  # noqa: E731
    assert "tanh(" not in reverse_body(residuals)  # the reverse step reads tanh's values, saved
    assert "tanh(" in reverse_body(carry)  # computes the step again from its saved carry
    assert "saved_subtract_h" in str(residuals.program) and "saved_subtract_h" not in str(carry.program)
    # memory: per step h before and after, sum(h * h) and 1 - h * h (10 numbers, residuals) against the
    # carry of 3; the reverse body computing the step again needs 3 numbers of work of its own
    assert residuals.program.work_size - carry.program.work_size == 100 * (10 - 3) - 3
    values = _rnn_values(5, steps=100)
    value, grads = residuals(**values)
    expected_value, expected = carry(**values)
    assert value == pytest.approx(expected_value, rel=1e-14)
    for name in grads:
        np.testing.assert_allclose(grads[name], expected[name], rtol=1e-13)


def _rnn_with(checkpoint: str):
    def rnn(h0, W, U, xs):
        def step(h, x):
            h = gg.tanh(W @ h + U * x)
            return h, gg.sum(h * h)
        h, energies = gg.scan(step, h0, xs, checkpoint=checkpoint)
        return gg.sum(h) + gg.sum(energies * energies)
    return rnn


@pytest.mark.parametrize("backend", BACKENDS)
def test_fori_loop_indexes_with_its_counter(backend):
    def looped(x0, k, obs):
        def body(i, state):
            x, misfit = state
            x = x + 0.1 * (k * x - x * x)
            return x, misfit + (x - obs[i]) ** 2
        x, misfit = gg.fori_loop(0, obs.shape[0], body, (x0, 0.0))
        return misfit + 0.01 * x

    def unrolled(x0, k, obs):
        x, misfit = x0, 0.0
        for i in range(obs.shape[0]):
            x = x + 0.1 * (k * x - x * x)
            misfit = misfit + (x - obs[i]) ** 2
        return misfit + 0.01 * x

    rng = _rng(4)
    _agree(looped, unrolled, {"x0": 0.3, "k": 1.5, "obs": rng.uniform(0.2, 1.0, size=8)}, backend)


@pytest.mark.parametrize("backend", BACKENDS)
def test_one_step_and_xs_none(backend):
    def looped(a):
        c, ys = gg.scan(lambda c, _: (c * a + 1.0, c), a, length=1)
        return c + gg.sum(ys)

    _agree(looped, lambda a: a * a + 1.0 + a, {"a": 0.8}, backend)


def _rnn_by_hand(h0, W, U, xs):
    """rnn_scan's value and gradient in NumPy: the forward loop, then the adjoint loop written out."""
    hs, energies = [h0], []
    for x in xs:
        hs.append(np.tanh(W @ hs[-1] + U * x))
        energies.append(hs[-1] @ hs[-1])
    value = hs[-1].sum() + sum(e * e for e in energies)
    dh, dW, dU, dxs = np.ones(3), np.zeros((3, 3)), np.zeros(3), np.zeros(len(xs))
    for t in reversed(range(len(xs))):
        dh = dh + 4.0 * energies[t] * hs[t + 1]
        da = dh * (1.0 - hs[t + 1] ** 2)
        dW += np.outer(da, hs[t])
        dU += da * xs[t]
        dxs[t] = da @ U
        dh = W.T @ da
    return value, {"h0": dh, "W": dW, "U": dU, "xs": dxs}


@pytest.mark.parametrize("backend, steps", [("python", 1), ("c", 1), ("python", 10_000), ("c", 10_000)])
def test_long_loops_match_the_adjoint_written_by_hand(backend, steps):
    """One step and 10,000: the Python backend runs a Python loop over the generated body, the C
    backend a C loop calling the body's function, whatever the length."""
    values = _rnn_values(5, steps=steps)
    kernel = gg.value_and_grad(rnn_scan, backend=backend, specs={k: gg.Array(np.shape(v)) for k, v in values.items()})
    value, grads = kernel(**values)
    expected_value, expected = _rnn_by_hand(**values)
    assert value == pytest.approx(expected_value, rel=1e-11)
    for name in expected:
        np.testing.assert_allclose(grads[name], expected[name], rtol=1e-10, atol=1e-12)


def test_concrete_arguments_run_the_loop_at_once():
    carry, ys = gg.scan(lambda c, x: (c + x, c * x), 0.0, np.arange(4.0))
    assert float(carry) == 6.0 and ys.tolist() == [0.0, 0.0, 2.0, 9.0]
    assert float(gg.fori_loop(0, 5, lambda i, c: c + i, 0)) == 10.0


def test_the_jvp_of_a_loop_matches_central_differences():
    """OPS["scan"].jvp: a loop carrying tangents beside the values."""
    def pushed(h0, W, U, xs, t_h0, t_W):
        h, _ = gg.scan(lambda h, x: (gg.tanh(W @ h + U * x), gg.sum(h)), h0, xs)
        loop = gg.Value(h.builder, h.node.inputs[0])
        inputs = [gg.Value(h.builder, i) for i in loop.node.inputs]
        tangent_of = {h0.id: t_h0, W.id: t_W}
        results = OPS["scan"].jvp([tangent_of.get(v.id) for v in inputs], loop, *inputs, **loop.node.params)
        return gg.sum(results[0]), results[1][2]

    rng = _rng(7)
    values = {**_rnn_values(7, steps=4), "t_h0": rng.normal(size=3), "t_W": rng.normal(size=(3, 3))}
    specs = {k: gg.Array(np.shape(v)) for k, v in values.items()}
    graph = check_graph(gg.trace(pushed, specs))
    got = evaluate(graph, values)
    tangent_sum, tangent_y2 = float(got[graph.outputs[0]]), float(got[graph.outputs[1]])

    def final(h0, W, U, xs):
        h, ys = gg.scan(lambda h, x: (gg.tanh(W @ h + U * x), gg.sum(h)), h0, xs)
        return gg.sum(h), ys[2]

    forward = gg.compile(final, backend="python", specs={k: specs[k] for k in RNN})
    eps = 1e-6
    plus = forward(**{k: values[k] + eps * values.get(f"t_{k}", 0.0) for k in RNN})
    minus = forward(**{k: values[k] - eps * values.get(f"t_{k}", 0.0) for k in RNN})
    assert tangent_sum == pytest.approx((plus[0] - minus[0]) / (2 * eps), rel=1e-6)
    assert tangent_y2 == pytest.approx((plus[1] - minus[1]) / (2 * eps), rel=1e-6)


# --- against JAX ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
def test_scan_and_fori_loop_match_jax(backend):
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    jnp = jax.numpy

    def jax_loss(h0, W, U, xs):
        def step(h, x):
            h = jnp.tanh(W @ h + U * x)
            return h, jnp.sum(h * h)
        h, energies = jax.lax.scan(step, h0, xs, reverse=True)
        h = jax.lax.fori_loop(0, 3, lambda i, h: h * 0.5 + xs[i], h)
        return jnp.sum(h) + jnp.sum(energies * energies)

    def loss(h0, W, U, xs):
        def step(h, x):
            h = gg.tanh(W @ h + U * x)
            return h, gg.sum(h * h)
        h, energies = gg.scan(step, h0, xs, reverse=True)
        h = gg.fori_loop(0, 3, lambda i, h: h * 0.5 + xs[i], h)
        return gg.sum(h) + gg.sum(energies * energies)

    values = _rnn_values(8)
    value, grads = gg.value_and_grad(loss, backend=backend, specs={k: gg.Array(s) for k, s in RNN.items()})(**values)
    expected_value, expected = jax.value_and_grad(jax_loss, argnums=(0, 1, 2, 3))(*values.values())
    assert value == pytest.approx(float(expected_value), rel=1e-12)
    for name, want in zip(RNN, expected):
        np.testing.assert_allclose(grads[name], np.asarray(want), rtol=1e-11, atol=1e-13)


# --- bad loops --------------------------------------------------------------------------------------------
def _trace_scan(f, init_shape=(3,), xs_shape=(4,)):
    return gg.trace(lambda h0, xs: gg.scan(f, h0, xs)[0], h0=gg.Array(init_shape), xs=gg.Array(xs_shape))


def test_a_carry_that_changes_shape_is_named():
    with pytest.raises(gg.ShapeError, match=r"the carry entry carry is \(3,\) float64 before a step and \(\) "):
        _trace_scan(lambda h, x: (gg.sum(h) * x, None))


def test_a_carry_of_another_structure_is_refused():
    with pytest.raises(gg.ShapeError, match="another structure"):
        _trace_scan(lambda h, x: ((h, h), None))


def test_a_dict_carry_entry_is_named_by_its_key():
    def f(h0, xs):
        return gg.scan(lambda s, x: ({"a": s["a"], "b": s["b"][:2]}, None), {"a": h0, "b": h0}, xs)[0]["a"]

    with pytest.raises(gg.ShapeError, match=r"carry\['b'\]"):
        gg.trace(f, h0=gg.Array((3,)), xs=gg.Array((4,)))


def test_bad_arguments_are_named():
    with pytest.raises(gg.InputError, match="length="):
        gg.scan(lambda c, x: (c, None), 0.0)
    with pytest.raises(gg.ShapeError, match="length=3 but xs have length 4"):
        gg.scan(lambda c, x: (c, None), 0.0, np.zeros(4), length=3)
    with pytest.raises(gg.ShapeError, match="different lengths"):
        gg.scan(lambda c, x: (c, None), 0.0, (np.zeros(4), np.zeros(5)))
    with pytest.raises(gg.InputError, match="must return a pair"):
        gg.scan(lambda c, x: c, 0.0, np.zeros(4))
    with pytest.raises(gg.InputError, match="f must be a function"):
        gg.scan(3, 0.0, np.zeros(4))
    with pytest.raises(gg.InputError, match="upper must be a Python int"):
        gg.fori_loop(0, 2.5, lambda i, c: c, 0.0)
    with pytest.raises(gg.InputError, match="checkpoint must be one of 'residuals', 'carry', got 'all'"):
        gg.scan(lambda c, x: (c, None), 0.0, np.zeros(4), checkpoint="all")
    with pytest.raises(gg.InputError, match="fori_loop: checkpoint"):
        gg.fori_loop(0, 2, lambda i, c: c, 0.0, checkpoint=None)


# --- passes and views inside loops ------------------------------------------------------------------------
def test_numerics_and_dead_code_elimination_reach_into_bodies():
    def f(z, xs):
        def step(c, x):
            unused = gg.exp(c) * 3.0  # noqa: F841 - dead inside the body
            return c + gg.log(gg.sigmoid(x * z)), None
        c, _ = gg.scan(step, 0.0, xs)
        return c

    prepared = prepare(gg.trace(f, z=gg.Scalar(), xs=gg.Array((3,))), gradient=False, check=True)
    (loop,) = [n for n in prepared.nodes if n.op == "scan"]
    ops = [n.op for n in loop.params["body"].nodes]
    assert "softplus" in ops and "log" not in ops and "exp" not in ops
    value = gg.compile(f, backend="python", z=gg.Scalar(), xs=gg.Array((3,)))(1000.0, np.array([-1.0, 1.0, 2.0]))
    assert value == pytest.approx(-1000.0)


def test_views_show_a_loop_as_one_node_and_expand_its_steps():
    values = _rnn_values(9, steps=3)
    table = gg.backprop_table(rnn_scan, **values)
    h_row = next(r for r in table.rows if r.name == "h")
    assert h_row.expression.startswith("scan(h0, xs, W, U,") and h_row.expression.endswith("[0]")
    assert "scan" not in [r.op for r in table.rows]
    label = next(line for line in gg.to_dot(rnn_scan, **values).source.splitlines() if "scan(" in line)
    assert "body(h, x, W, U):" in label and "tanh(" in label
    steps = gg.backprop_steps(rnn_scan, **values)  # written out: one tanh per step
    assert sum(1 for s in steps.steps if s.node.startswith("%")) > 3 * 3
    expr = gg.to_sympy(lambda a, b: gg.scan(lambda c, _: (c * b + 1.0, None), a, length=2)[0])
    import sympy
    a, b = sympy.symbols("a b", real=True)
    assert sympy.simplify(expr - ((a * b + 1) * b + 1)) == 0


# --- C: a loop, whatever its length ----------------------------------------------------------------------
def _rnn_kernel(steps: int, backend: str = "c") -> gg.Kernel:
    return gg.value_and_grad(rnn_scan, backend=backend, h0=gg.Array((3,)), W=gg.Array((3, 3)), U=gg.Array((3,)),
                             xs=gg.Array((steps,)))


def test_the_c_of_a_loop_does_not_grow_with_its_length():
    short, long = _rnn_kernel(10), _rnn_kernel(100_000)
    assert abs(len(long.source.splitlines()) - len(short.source.splitlines())) <= 8
    assert long.source.count("static int gg_rnn_scan_value_and_grad_body") == 2  # forward and reverse bodies
    text = str(long.program)
    # the ys written in place, row by row: what the reverse sweep reads (the carry each step starts from,
    # the new h, the energy and 1 - h * h, tanh's derivative); the energies are not stacked: the sum of
    # their squares is a carry of the loop (passes/sink.py)
    assert ("h.next, total.next, saved_h[6*step0:], saved_h_2[6*step0:], saved_sum_h[2*step0:], "
            "saved_subtract_h[6*step0:] = body 0(h, total[0], xs[2*step0], W, U)") in text
    assert "h, total, saved_h[6*step0 + 3:]" in text
    assert "body 1, a program:" in text


def test_an_exported_loop_builds_alone_and_agrees(tmp_path):
    import shutil
    import subprocess

    values = _rnn_values(10, steps=7)
    kernel = _rnn_kernel(7)
    gg.export_c(kernel, tmp_path, "rnn")
    (tmp_path / "main.c").write_text(r"""
#include <stdio.h>
#include <stdlib.h>
#include "rnn.h"
int main(void) {
    double h0[3], W[9], U[3], xs[7], J, dh0[3], dW[9], dU[3], dxs[7];
    for (int k = 0; k < 3; ++k) scanf("%lf", &h0[k]);
    for (int k = 0; k < 9; ++k) scanf("%lf", &W[k]);
    for (int k = 0; k < 3; ++k) scanf("%lf", &U[k]);
    for (int k = 0; k < 7; ++k) scanf("%lf", &xs[k]);
    double *work = malloc(sizeof(double) * (rnn_work_size() + 1));
    int status = rnn(h0, W, U, xs, &J, dh0, dW, dU, dxs, work);
    printf("%d %.17g", status, J);
    for (int k = 0; k < 9; ++k) printf(" %.17g", dW[k]);
    printf("\n");
    free(work);
    return 0;
}
""")
    cc = shutil.which("cc") or shutil.which("gcc")
    flags = ["-std=c99", "-pedantic", "-Wall", "-Wextra", "-Werror"]
    subprocess.run([cc, *flags, "-o", str(tmp_path / "main"), str(tmp_path / "main.c"), str(tmp_path / "rnn.c"),
                    "-lm"], check=True, capture_output=True)
    stdin = " ".join(repr(float(v)) for v in np.concatenate([np.ravel(values[k]) for k in RNN]))
    out = subprocess.run([str(tmp_path / "main")], input=stdin, capture_output=True, text=True, check=True).stdout
    status, value, *dW = out.split()
    expected_value, expected = _rnn_by_hand(**values)
    assert status == "0" and float(value) == pytest.approx(expected_value, rel=1e-13)
    np.testing.assert_allclose(np.array(dW, dtype=float).reshape(3, 3), expected["W"], rtol=1e-12)


def test_an_index_out_of_range_inside_a_loop_names_the_argument():
    def f(x, idx):
        return gg.scan(lambda c, i: (c + x[i], None), 0.0, idx)[0]

    for backend in BACKENDS:
        kernel = gg.compile(f, backend=backend, x=gg.Array((4,)), idx=gg.Array((3,), "int64"))
        assert kernel(np.arange(4.0), np.array([0, 3, -1])) == 6.0
        with pytest.raises(gg.InputError, match="argument 'idx'"):
            kernel(np.arange(4.0), np.array([0, 4, 1]))


def test_the_ode_fitting_example_recovers_the_model():
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parent.parent / "examples" / "ode_fit_rk4.py"
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, check=True).stdout
    fitted = out.split("fitted a, b, c, d = [")[1].split("]")[0].split()
    np.testing.assert_allclose(np.array(fitted, dtype=float), [1.0, 0.6, 0.8, 1.2], atol=0.03)
    assert "max relative error" in out and float(out.split("max relative error ")[1].split()[0]) < 1e-6


def test_the_lstm_example_agrees_between_backends_and_with_central_differences():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "examples" / "char_lstm.py"
    spec = importlib.util.spec_from_file_location("gradgen_example_char_lstm", path)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    H, V = example.H, example.V
    rng = np.random.default_rng(11)
    codes = rng.integers(0, V, 25)
    values = {"Wx": 0.3 * rng.standard_normal((V, 4 * H)), "Wh": 0.3 * rng.standard_normal((4 * H, H)),
              "b": 0.1 * rng.standard_normal(4 * H), "Wy": 0.3 * rng.standard_normal((V, H)),
              "by": 0.1 * rng.standard_normal(V), "chars": codes[:-1], "targets": codes[1:]}
    specs = {k: gg.Array(v.shape, "int64" if v.dtype.kind == "i" else "float64") for k, v in values.items()}
    wrt = ["Wx", "Wh", "b", "Wy", "by"]
    value_c, grads_c = gg.value_and_grad(example.lstm_loss, wrt=wrt, backend="c", specs=specs)(**values)
    value_py, grads_py = gg.value_and_grad(example.lstm_loss, wrt=wrt, backend="python", specs=specs)(**values)
    assert value_c == pytest.approx(value_py, rel=1e-13)
    for name in wrt:
        np.testing.assert_allclose(grads_c[name], grads_py[name], rtol=1e-11, atol=1e-14)
    loss = gg.compile(example.lstm_loss, backend="c", specs=specs)
    for name, index in [("Wh", (5, 7)), ("Wx", (int(codes[3]), 70)), ("by", (2,))]:
        plus, minus = values[name].copy(), values[name].copy()
        plus[index] += 1e-6
        minus[index] -= 1e-6
        estimate = (loss(**{**values, name: plus}) - loss(**{**values, name: minus})) / 2e-6
        assert grads_c[name][index] == pytest.approx(estimate, rel=1e-6, abs=1e-9)


def test_a_loop_scans_a_reshaped_slice_of_an_input():
    """The scanned array is a general reshape of a view (copied first); the C kernel agrees with Python."""
    def loss(h0, X):
        def step(h, row):
            h = gg.tanh(h * row[0] + 0.1)
            return h, gg.sum(h)
        h, ys = gg.scan(step, h0, gg.reshape(X[1:, :], (5, 1, 4)))
        return gg.sum(h) + gg.sum(ys * ys)

    rng = _rng(21)
    values = {"h0": rng.normal(size=4), "X": rng.normal(size=(6, 4))}
    _agree(loss, loss, values, "c")
