"""Adversarial review of sinking sums into loops (passes/sink.py) and of re-rolling a Python loop's first step
(passes/reroll.py ``_with_first_step``). The tests of the first part fail while the defect in their docstring
exists; those of the second pass. References: the Python backend (the graph as written: unsunk, unrolled), NumPy,
JAX's lax.scan with x64, central differences."""

from __future__ import annotations

import ctypes
import shutil
import subprocess

import numpy as np
import pytest
from adversarial_helpers import specs_of

import gradgen as gg
from gradgen.dsl.trace import trace
from gradgen.ir.check import check_graph
from gradgen.passes.pipeline import prepare
from gradgen.passes.reroll import reroll
from gradgen.passes.sink import sink_sums


def _agree(fn, values: dict, wrt=None, rtol: float = 1e-12) -> gg.Kernel:
    """C (re-rolled and sunk) and Python (as written) agree in value and gradient; the graphs C is made from
    pass the IR checker. Returns the C kernel."""
    specs = specs_of(values)
    sunk = check_graph(sink_sums(check_graph(reroll(trace(fn, specs)))))
    prepare(sunk, gradient=True, wrt=wrt, check=True)
    c = gg.value_and_grad(fn, wrt=wrt, backend="c", specs=specs)
    py = gg.value_and_grad(fn, wrt=wrt, backend="python", specs=specs)
    (vc, gc), (vp, gp) = c(**values), py(**values)
    np.testing.assert_allclose(vc, vp, rtol=rtol, atol=rtol)
    assert set(gc) == set(gp)
    for name in gp:
        np.testing.assert_allclose(gc[name], gp[name], rtol=rtol, atol=rtol, err_msg=name)
    return c


def _forward_agree(fn, values: dict, rtol: float = 1e-12) -> None:
    """gg.compile (forward only): C and Python give the same values, shapes and dtypes."""
    specs = specs_of(values)
    c, py = gg.compile(fn, backend="c", specs=specs)(**values), gg.compile(fn, backend="python", specs=specs)(**values)
    for a, b in zip(c if isinstance(c, tuple) else (c,), py if isinstance(py, tuple) else (py,)):
        assert np.shape(a) == np.shape(b) and np.asarray(a).dtype == np.asarray(b).dtype
        np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol)


def _carries(graph) -> list[int]:
    return [node.params["carries"] for node in graph.nodes if node.op == "scan"]


def _rnn(h0, w, obs, **kw):
    def step(h, x):
        h = gg.tanh(h * w + x)
        return h, h

    return gg.scan(step, h0, obs, **kw)


def _values(steps: int = 6, width: int = 3, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    return {"h0": rng.normal(size=width), "w": rng.uniform(0.5, 1.5, width), "obs": rng.normal(size=(steps, width))}


# =========================================================================================================
# Defects: each test below fails while the defect exists
# =========================================================================================================

N = 100


def _same_start(m, x0, w):
    x, y = x0, x0  # two carries, one initial value
    for k in range(N):
        x = m.tanh(x * w[k])
        y = y * x
    return m.sum(x + y)


def _same_constant_start(m, a, w):
    x, y = 1.5, 1.5  # one hash-consed constant
    for k in range(N):
        s = m.sum(m.tanh(a * w[k]))
        x = x * s * 0.4
        y = s * y * 0.3
    return x + y


@pytest.mark.parametrize("loop, fn", [(_same_start, lambda x0, w: _same_start(gg, x0, w)),
                                      (_same_constant_start, lambda a, w: _same_constant_start(gg, a, w))],
                         ids=["input", "constant"])
def test_two_carries_starting_from_one_value_stay_two_carries(loop, fn):
    """Re-rolling with the first step taken in keys the body's carry inputs by the node each carry starts
    from (``inside[carried[o]]`` in _step_body): two carries that start from the same value (``x, y = x0,
    x0``, or ``1.5, 1.5``) become one input, the body reads ``y`` for both: C returns 0.0 instead of 2.1403
    (1.3e-18 instead of 1.8e-06), the NumPy loop's value, the Python backend's and C's before this change."""
    rng = np.random.default_rng(6)
    values = dict(zip(fn.__code__.co_varnames[:2], [rng.uniform(0.5, 1.0, 3), rng.uniform(1.1, 1.5, N)]))
    kernel = gg.compile(fn, backend="c", specs=specs_of(values))
    assert kernel(**values) == pytest.approx(loop(np, *values.values()), rel=1e-12)  # NumPy runs the loop
    _agree(fn, values)


def _constant_start_broadcast(a, w):
    x = 1.5  # the carry starts at the constant 1.5 ...
    for k in range(60):
        x = x * gg.sum(gg.tanh(a * w[k] + 1.5) * 0.35)  # ... which each step also broadcasts
    return x


def test_a_carry_starting_at_a_constant_the_step_broadcasts_re_rolls():
    """_step_body copies the source of a broadcast constant into the body under the source's id
    (``inside[source] = copy_node(...)``), overwriting the carry input keyed by the same id when the carry
    starts at that constant: building the C kernel (value_and_grad, and forward-only compile) raises
    ``KeyError: 'name'`` at ``names = [body.nodes[inside[carried[o]]].params["name"] ...]``."""
    rng = np.random.default_rng(5)
    values = {"a": rng.normal(size=3), "w": rng.uniform(0.5, 1.0, 60)}
    x = 1.5
    for k in range(60):
        x = x * np.sum(np.tanh(values["a"] * values["w"][k] + 1.5) * 0.35)
    assert gg.compile(_constant_start_broadcast, backend="c", specs=specs_of(values))(**values) == \
        pytest.approx(x, rel=1e-12)
    _agree(_constant_start_broadcast, values)


def _capturing_after_the_inner_loop(p_shape):
    def fn(h0, xs, P, Q):
        def outer(h, x):
            _, inner = gg.scan(lambda g, v: (gg.sin(g + v), g * v), h, gg.reshape(x, (3, 2)))
            p = P * h if p_shape == (2,) else gg.sum(P * h, axis=0)  # P first read here, after the inner loop
            a = Q * h  # Q too: ``a`` steps with the inner loop, so the sum below sinks into it
            h = 0.5 * h + 0.1 * gg.sum(inner * a, axis=0) + 0.01 * p
            return h, h

        h, _ = gg.scan(outer, h0, xs)
        return gg.sum(h)

    return fn


@pytest.mark.parametrize("p_shape", [(3, 2), (2,)], ids=["same-shapes", "other-shapes"])
def test_sinking_in_a_body_keeps_the_order_of_its_captured_inputs(p_shape):
    """In a loop's body a captured value's input node is made where it is first read, so it can come after
    the inner loop. _order moves what the sunk sum reads (``Q * h``, and with it the input ``Q``) before the
    inner loop, ahead of the input ``P``: the body's inputs change order while the outer loop still passes
    P then Q. With P and Q of one shape C gives 0.1375 instead of 0.0815; with other shapes building fails
    with ``ShapeError: scan: input 'Q' is (2,) float64 but the body takes (3, 2) float64``."""
    rng = np.random.default_rng(11)
    values = {"h0": rng.normal(size=2), "xs": rng.normal(size=(4, 6)), "P": rng.normal(size=p_shape),
              "Q": rng.normal(size=(3, 2)) * 0.5}
    fn = _capturing_after_the_inner_loop(p_shape)
    _agree(fn, values)
    body = next(n for n in sink_sums(trace(fn, specs_of(values))).nodes if n.op == "scan").params["body"]
    assert body.input_names == ("h", "x", "P", "Q")


# =========================================================================================================
# Regression tests: these pass
# =========================================================================================================


@pytest.mark.parametrize("reduce", [
    lambda d, w: gg.sum(gg.sum(d, axis=0, keepdims=True) * w),
    lambda d, w: gg.sum(gg.sum(d, axis=(0, 1), keepdims=True)),
    lambda d, w: gg.sum(d, axis=(1, 0)),
    lambda d, w: gg.sum(gg.sum(d, axis=-2) * w),
    lambda d, w: gg.sum(gg.mean(d, axis=0) * w) + gg.mean(d),
    lambda d, w: gg.sum(d) * gg.sum(gg.sum(d, axis=0) * w),  # one chain, two sums: neither sinks
], ids=["keepdims0", "keepdims01", "axes10", "negative", "means", "two-sums-one-chain"])
def test_reductions_over_the_steps_agree(reduce):
    def fn(h0, w, obs):
        _, hs = _rnn(h0, w, obs)
        return reduce((hs - obs) ** 2, w)

    _agree(fn, _values())


@pytest.mark.parametrize("axis", [0, (0, -1), None, (-2,)])
@pytest.mark.parametrize("keepdims", [False, True])
def test_a_sum_that_is_an_output_keeps_its_shape(axis, keepdims):
    def fn(h0, w, obs):
        _, hs = _rnn(h0, w, obs)
        return gg.sum(hs * obs, axis=axis, keepdims=keepdims), gg.sum(hs > 0, axis=0)

    _forward_agree(fn, _values())


def test_chains_with_where_casts_ints_bools_and_constants_sink():
    weights = np.linspace(0.1, 2.0, 18).reshape(6, 3)

    def fn(h0, w, obs):
        def step(h, x):
            h = gg.tanh(h * w + x)
            return h, (h, gg.cast(h > 0, "int64"))

        _, (hs, ks) = gg.scan(step, h0, obs)
        counted = gg.sum(gg.cast(hs > 0, "int64")) * 1.0 + gg.sum(ks * 2) * 0.5
        chosen = gg.sum(gg.where(hs > obs, hs * hs, hs - obs) + gg.where(obs > 0, hs, -hs) * weights)
        rounded = gg.sum(gg.cast(gg.cast(hs, "float32"), "float64") * hs * np.array([1.0, 2.0, 3.0]))
        return counted + chosen + rounded

    values = _values()
    assert _carries(sink_sums(trace(fn, specs_of(values)))) == [5]
    _agree(fn, values, wrt=["h0", "w", "obs"], rtol=1e-9)


def test_float32_specs_sink():
    values = {k: v.astype(np.float32) for k, v in _values(steps=20).items()}

    def fn(h0, w, obs):
        _, hs = _rnn(h0, w, obs)
        return gg.sum((hs - obs) ** 2 * w)

    specs = specs_of(values)
    (vc, gc), (vp, gp) = (gg.value_and_grad(fn, backend=b, specs=specs)(**values) for b in ("c", "python"))
    assert vc == pytest.approx(vp, rel=1e-5)
    for name in gp:
        assert gc[name].dtype == np.float32
        np.testing.assert_allclose(gc[name], gp[name], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("make", [
    lambda w, obs: gg.reshape(w, (1, 3)), lambda w, obs: w, lambda w, obs: gg.sum(w),
    lambda w, obs: gg.reshape(gg.sum(w), (1, 1)), lambda w, obs: gg.reshape(gg.sum(obs, axis=1), (obs.shape[0], 1)),
    lambda w, obs: np.array([[1.0, 2.0, 3.0]]),
], ids=["(1,n)", "(n,)", "scalar", "(1,1)", "(T,1)", "constant (1,n)"])
def test_values_broadcast_over_the_steps(make):
    def fn(h0, w, obs):
        _, hs = _rnn(h0, w, obs)
        return gg.sum(hs * make(w, obs) + 2.0)

    values = _values()
    assert _carries(sink_sums(trace(fn, specs_of(values)))) == [2]
    _agree(fn, values)


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("checkpoint", ["residuals", "carry"])
@pytest.mark.parametrize("steps", [0, 1, 2, 7])
def test_directions_checkpoints_and_lengths(reverse, checkpoint, steps):
    def fn(h0, w, obs):
        _, hs = _rnn(h0, w, obs, reverse=reverse, checkpoint=checkpoint)
        return gg.sum((hs - obs) ** 2 * gg.exp(obs)) + gg.sum(gg.sum(hs, axis=0, keepdims=True) * w)

    _agree(fn, _values(steps=steps))


def test_second_readers_ys_as_outputs_and_chains_as_outputs():
    def fn(h0, w, obs):
        _, hs = _rnn(h0, w, obs)
        d = hs - obs
        return gg.sum(d * d) + gg.sum(d[2]), gg.sum(hs * hs), hs, d

    _forward_agree(fn, _values())
    _agree(lambda h0, w, obs: fn(h0, w, obs)[0] + fn(h0, w, obs)[1], _values())


def test_loops_reading_loops_and_aligned_values_made_after():
    def fn(h0, w, obs):
        h, hs = _rnn(h0, w, obs)
        _, gs = _rnn(h0 * 0.5, w * 2.0, obs, reverse=True)
        _, fs = _rnn(h, w, hs)  # scans the first loop's ys, starts from its final carry
        return gg.sum(hs * gg.exp(gs) * obs) + gg.sum(fs * hs) + gg.sum(gs * fs)

    _agree(fn, _values())


def test_sums_in_bodies_of_scans_and_fori_loops():
    def fn(h0, w, xs):
        def outer(h, x):
            _, inner = gg.scan(lambda g, v: (gg.sin(g * w + v), g * v), h, x, checkpoint="carry")
            h = 0.5 * h + 0.1 * gg.sum(inner * (gg.exp(x) * h), axis=0)
            return h, gg.sum(inner * inner)

        h, ys = gg.scan(outer, h0, xs)

        def body(i, c):
            _, inner = gg.scan(lambda g, v: (gg.sin(g * w + v), g * v), c, xs[i])
            return c * 0.9 + gg.sum((inner - xs[i]) ** 2, axis=0)

        return gg.sum(h) + gg.sum(ys * 2.0) + gg.sum(gg.fori_loop(0, 4, body, h0, checkpoint="carry"))

    rng = np.random.default_rng(4)
    _agree(fn, {"h0": rng.normal(size=2), "w": rng.uniform(0.5, 1.5, 2), "xs": rng.normal(size=(4, 3, 2))})


def test_grad_kernels_match_jax_and_central_differences():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    jnp = jax.numpy

    def fn(h0, w, obs):
        _, hs = _rnn(h0, w, obs, reverse=True)
        return gg.sum(gg.mean((hs - obs) ** 2, axis=0) * w) + gg.sum(gg.where(hs > 0, hs, 0.5 * hs))

    def reference(h0, w, obs):
        _, hs = jax.lax.scan(lambda h, x: (jnp.tanh(h * w + x),) * 2, h0, obs, reverse=True)
        return jnp.sum(jnp.mean((hs - obs) ** 2, axis=0) * w) + jnp.sum(jnp.where(hs > 0, hs, 0.5 * hs))

    values = _values(steps=9)
    grads = gg.grad(fn, wrt=["h0", "w", "obs"], backend="c", specs=specs_of(values))(**values)
    for name, want in zip(values, jax.grad(reference, argnums=(0, 1, 2))(*values.values())):
        np.testing.assert_allclose(grads[name], np.asarray(want), rtol=1e-12, atol=1e-13)
    value = gg.compile(fn, backend="c", specs=specs_of(values))
    eps, w = 1e-6, values["w"]
    for k in range(w.size):
        up, down = w.copy(), w.copy()
        up[k], down[k] = w[k] + eps, w[k] - eps
        central = (value(**{**values, "w": up}) - value(**{**values, "w": down})) / (2 * eps)
        assert grads["w"][k] == pytest.approx(central, rel=1e-6)


@pytest.mark.skipif(shutil.which("cc") is None, reason="needs a C compiler")
def test_export_c_of_a_sunk_sum_compiles_strictly_and_agrees(tmp_path):
    def rnn(h0, w, obs):
        _, hs = _rnn(h0, w, obs)
        return gg.sum((hs - obs) ** 2)

    values = _values(steps=5)
    gg.export_c(rnn, tmp_path, "rnn", wrt=["h0", "w"], **specs_of(values))
    library = tmp_path / "librnn.so"
    subprocess.run(["cc", "-std=c99", "-pedantic", "-Wall", "-Wextra", "-Werror", "-O2", "-shared", "-fPIC", "-o",
                    str(library), str(tmp_path / "rnn.c"), "-lm"], check=True, capture_output=True, text=True)
    lib = ctypes.CDLL(str(library))
    lib.rnn_work_size.restype = ctypes.c_size_t
    out = [np.zeros(()), np.zeros(3), np.zeros(3)]
    work = np.zeros(lib.rnn_work_size() + 1)
    pointer = [np.ascontiguousarray(a).ctypes.data_as(ctypes.POINTER(ctypes.c_double))
               for a in [values["h0"], values["w"], values["obs"], *out, work]]
    assert lib.rnn(*pointer) == 0
    value, grads = gg.value_and_grad(rnn, wrt=["h0", "w"], backend="python")(**values)
    np.testing.assert_allclose([out[0], *out[1], *out[2]], [value, *grads["h0"], *grads["w"]], rtol=1e-12)


# --- re-rolling a Python loop with its first step -------------------------------------------------------


M = 100


def _python_loops():
    def constant_start(a, w, x0, obs):
        x = 1.5
        for k in range(M):
            x = x * gg.sum(gg.tanh(a * w[k])) * 0.4
        return x

    def stacked_after_x0(a, w, x0, obs):
        x, states = x0, [x0]
        for k in range(M):
            x = gg.tanh(x * w[k])
            states.append(x)
        return gg.sum((gg.stack(states) - 0.5) ** 2)

    def stacked_sum_mean_where(a, w, x0, obs):
        x, hs, gs = x0, [], []
        for k in range(M):
            x = gg.tanh(x * w[k] + obs[k])
            hs.append(x * a)
            gs.append(gg.exp(-x))
        s = gg.stack(hs)
        return gg.sum(gg.mean((s - obs) ** 2, axis=0, keepdims=True) * a) + gg.sum(gg.where(s > 0, s, -s * 0.5)) \
            + gg.sum(s * gg.stack(gs) * obs)

    def first_step_read_after(a, w, x0, obs):
        x, first = x0, None
        for k in range(M):
            x = gg.tanh(x * w[k])
            first = x if k == 0 else first
        return gg.sum(x * a) + gg.sum(first * first)

    def first_step_other_constant(a, w, x0, obs):
        x = x0
        for k in range(M):
            x = gg.tanh(x * w[k]) * (0.9 if k == 0 else 1.1)
        return gg.sum(x)

    def captured_made_in_the_first_step(a, w, x0, obs):
        x = x0
        for k in range(M):
            x = gg.tanh(x * w[k]) * gg.sin(a) + w[0]  # sin(a), w[0] first made by step 0
        return gg.sum(x)

    def x0_as_start_and_captured(a, w, x0, obs):
        x = x0
        for k in range(M):
            x = x0 * gg.tanh(x * w[k]) + x0 * 0.1
        return gg.sum(x)

    def swapped_starts(a, w, x0, obs):
        x, y = x0, a
        for k in range(M):
            x, y = gg.tanh(y * w[k]), x * 0.5 + y * 0.5
        return gg.sum(x * y)

    def two_loops(a, w, x0, obs):
        x, hs = x0, []
        for k in range(M):
            x = gg.tanh(x * w[k] + obs[k])
            hs.append(x)
        y, gs = x, []
        for k in range(M):
            y = gg.sin(y * w[k] - obs[k])
            gs.append(y)
        return gg.sum((gg.stack(hs) - gg.stack(gs)) ** 2) + gg.sum(gg.stack(gs) * obs)

    return [constant_start, stacked_after_x0, stacked_sum_mean_where, first_step_read_after,
            first_step_other_constant, captured_made_in_the_first_step, x0_as_start_and_captured, swapped_starts,
            two_loops]


#: The loops re-rolled: every step (the first taken in), or all but the first (where it differs).
LENGTHS = {"constant_start": [M], "stacked_after_x0": [M], "stacked_sum_mean_where": [M], "first_step_read_after": [M],
           "two_loops": [M, M]}


@pytest.mark.parametrize("fn", _python_loops(), ids=lambda f: f.__name__)
def test_re_rolled_python_loops_agree(fn):
    rng = np.random.default_rng(9)
    values = {"a": rng.normal(size=3), "w": rng.uniform(1.1, 1.5, M), "x0": rng.uniform(0.5, 1.0, 3),
              "obs": rng.normal(size=(M, 3))}
    loops = [n.params["length"] for n in reroll(trace(fn, specs_of(values))).nodes if n.op == "scan"]
    assert loops == LENGTHS.get(fn.__name__, [M - 1])
    _agree(fn, values, rtol=1e-10)
