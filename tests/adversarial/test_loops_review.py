"""Adversarial review of gg.scan / gg.fori_loop.

Each test asserts the correct behaviour. The tests in the first part fail while the defect named in their
docstring exists; the tests in the second part pass and cover cases tests/test_loops.py does not.
References: the same function written as an unrolled Python loop (gradgen without scan), central finite
differences and JAX's lax.scan with x64.
"""

from __future__ import annotations

import shutil
import subprocess
from collections import namedtuple

import numpy as np
import pytest
from adversarial_helpers import specs_of

import gradgen as gg

BACKENDS = ["python", "c"]




def _agree(looped, unrolled, values: dict, backend: str, rtol: float = 1e-12, wrt=None) -> None:
    """``looped`` (with gg.scan) on ``backend`` and ``unrolled`` (a Python loop, Python backend) agree in
    value and gradient."""
    specs = specs_of(values)
    kw = {} if wrt is None else {"wrt": wrt}
    value, grads = gg.value_and_grad(looped, backend=backend, specs=specs, **kw)(**values)
    expected_value, expected = gg.value_and_grad(unrolled, backend="python", specs=specs, **kw)(**values)
    np.testing.assert_allclose(value, expected_value, rtol=rtol, atol=rtol)
    assert set(grads) == set(expected)
    for name in expected:
        np.testing.assert_allclose(grads[name], expected[name], rtol=rtol, atol=rtol, err_msg=name)


def _jax():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    return jax


# =========================================================================================================
# Defects: each test below fails while the defect exists
# =========================================================================================================


def _sqrt_chain(w, v, xs):
    def step(c, x):
        a, b = c
        return (gg.sqrt(a), b * x), None
    (a, b), _ = gg.scan(step, (w, v), xs)
    return b


def _sqrt_chain_unrolled(w, v, xs):
    a, b = w, v
    for t in range(xs.shape[0]):
        a, b = gg.sqrt(a), b * xs[t]
    return b


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_carry_the_output_never_reads_gets_gradient_zero_not_nan(backend):
    """J = b does not depend on w at all (w only starts the carry a, which nothing reads), so dJ/dw is 0;
    the unrolled loop and JAX say 0. The loop's gradient is NaN: the reverse loop starts the cotangent of
    every float carry at zeros (ops/loops.py ``_scan_vjp``: ``zeros_like`` for carries without a
    cotangent) and pushes it through every step's VJP (passes/loop_grad.py ``step_vjp_body``), where
    0 * sqrt'(0) = 0 * inf = NaN. Carries that reach no result with a cotangent should be dropped from
    the reverse loop (or zero cotangents guarded)."""
    values = {"w": 0.0, "v": 2.0, "xs": np.array([1.0, 3.0])}
    _, grads = gg.value_and_grad(_sqrt_chain, backend=backend, specs=specs_of(values))(**values)
    assert grads["w"] == 0.0
    _agree(_sqrt_chain, _sqrt_chain_unrolled, values, backend)

    jax = _jax()
    jnp = jax.numpy

    def jax_loss(w, v, xs):
        (a, b), _ = jax.lax.scan(lambda c, x: ((jnp.sqrt(c[0]), c[1] * x), None), (w, v), xs)
        return b

    expected = jax.grad(jax_loss, argnums=(0, 1, 2))(0.0, 2.0, jnp.array([1.0, 3.0]))
    np.testing.assert_allclose([grads["w"], grads["v"]], [float(expected[0]), float(expected[1])])
    np.testing.assert_allclose(grads["xs"], np.asarray(expected[2]))


def _log_chain(w, xs):
    def step(c, x):
        a, b = c
        return (gg.log(a), gg.where(x > 0.0, b + a, b)), None
    (a, b), _ = gg.scan(step, (w, w * 0.0 + 1.0), xs)
    return b


def _log_chain_unrolled(w, xs):
    a, b = w, w * 0.0 + 1.0
    for t in range(xs.shape[0]):
        a, b = gg.log(a), gg.where(xs[t] > 0.0, b + a, b)
    return b


def _selected_away(w, v, xs):
    a, _ = gg.scan(lambda a, x: (gg.sqrt(a) * x, None), w, xs)
    return gg.where(v > 0.0, v, a)


def _selected_away_unrolled(w, v, xs):
    a = w
    for t in range(xs.shape[0]):
        a = gg.sqrt(a) * xs[t]
    return gg.where(v > 0.0, v, a)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("looped, unrolled, values", [
    (_log_chain, _log_chain_unrolled, {"w": 1.0, "xs": np.array([1.0, -1.0, -1.0])}),
    (_selected_away, _selected_away_unrolled, {"w": 0.0, "v": 1.0, "xs": np.array([1.0, 2.0])}),
], ids=["where-inside-later-steps", "where-after-the-loop"])
def test_the_where_convention_holds_across_loop_steps(backend, looped, unrolled, values):
    """README convention: the branch ``where`` does not take gets exactly 0 and no inf/NaN of that branch
    leaks into gradients. The unrolled loops give dJ/dw = 1 and 0; the loops give NaN: the zero cotangent
    arriving from a ``where`` of a later step (or after the loop) is multiplied by log'(0) or sqrt'(0)
    inside a step's VJP. autodiff.differentiate guards such contributions (its ``guarded`` set), but
    the guard does not cross into the reverse loop (ops/loops.py ``_scan_vjp`` /
    passes/loop_grad.py ``step_vjp_body`` differentiate each step without knowing its cotangent may be
    a selected-away zero)."""
    _agree(looped, unrolled, values, backend)


@pytest.mark.parametrize("mode", ["forward", "value_and_grad"])
def test_an_argument_named_range_does_not_break_the_python_loop(mode):
    """The Python backend writes ``for step in range(n):`` but ``range`` is not a reserved name
    (codegen/pyhelpers.py RESERVED; used by codegen/python.py ``_Emitter.loop``), so a kernel whose
    argument (or a local) is called ``range`` shadows the builtin and the kernel raises
    ``TypeError: 'numpy.ndarray' object is not callable``. The C backend is fine."""
    def f(range, xs):  # noqa: A002 - the point of the test
        c, ys = gg.scan(lambda c, x: (c * x, c), range, xs)
        return gg.sum(c) + gg.sum(ys)

    values = {"range": np.array([0.5, -1.0]), "xs": np.arange(6.0).reshape(3, 2)}
    specs = specs_of(values)
    make = gg.compile if mode == "forward" else gg.value_and_grad
    expected = make(f, backend="c", specs=specs)(**values)
    got = make(f, backend="python", specs=specs)(**values)
    if mode == "forward":
        assert got == pytest.approx(expected)
    else:
        assert got[0] == pytest.approx(expected[0])
        for k in expected[1]:
            np.testing.assert_allclose(got[1][k], expected[1][k])


def _dict_step(s, x):
    return {"q": s["q"] * 2.0, "p": s["p"] + x}, s["p"] * s["q"]  # keys in another order than the init's


def _dict_looped(a, b, xs):
    s, ys = gg.scan(_dict_step, {"p": a, "q": b}, xs)
    return s["p"] * 10.0 + s["q"] + gg.sum(ys)


def _dict_unrolled(a, b, xs):
    p, q, total = a, b, 0.0
    for t in range(xs.shape[0]):
        total = total + p * q
        p, q = p + xs[t], q * 2.0
    return p * 10.0 + q + total


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_dict_carry_returned_with_its_keys_in_another_order(backend):
    """A body returning ``{"q": ..., "p": ...}`` for the carry ``{"p": ..., "q": ...}`` passes the structure
    check (dict structures compare equal whatever their order) but the leaves are paired by position,
    so p and q are silently swapped after each step (gives 63 instead of 67). Cause: dsl/loops.py
    ``_loop``/``_flatten``: dicts are flattened in insertion order and ``zip(new_leaves, carry_leaves)``
    pairs them by position (JAX sorts the keys)."""
    values = {"a": 1.0, "b": 3.0, "xs": np.array([1.0, 2.0])}
    _agree(_dict_looped, _dict_unrolled, values, backend)


def test_a_dict_carry_in_another_key_order_on_concrete_numbers_matches_jax():
    """Same defect as above, on concrete numbers (dsl/loops.py ``_loop``): q comes out 8 instead of 12."""
    carry, _ = gg.scan(_dict_step, {"p": 1.0, "q": 3.0}, np.array([1.0, 2.0]))
    jax = _jax()
    expected, _ = jax.lax.scan(lambda s, x: ({"q": s["q"] * 2.0, "p": s["p"] + x}, None), {"p": 1.0, "q": 3.0},
                               jax.numpy.array([1.0, 2.0]))
    assert float(carry["p"]) == float(expected["p"]) == 4.0
    assert float(carry["q"]) == float(expected["q"]) == 12.0


State = namedtuple("State", ["h", "n"])


def test_namedtuple_carries_reach_the_body_as_namedtuples():
    """A namedtuple is a tuple, and the module docstring accepts tuples; JAX keeps the namedtuple. The
    body receives a *list* (``s.h`` raises AttributeError, not even a GradgenError) and the ys come back
    as a list. Cause: dsl/loops.py ``_rebuild`` rebuilds only ``kind == "tuple"`` as a tuple; ``_flatten``
    records ``type(tree).__name__`` ("State") and everything else becomes a list."""
    def f(a, xs):
        s, ys = gg.scan(lambda s, x: (State(s.h * x, s.n + 1.0), State(s.h, x)), State(a, 0.0), xs)
        return s.h + s.n + gg.sum(ys.h * ys.n)

    values = {"a": 0.5, "xs": np.array([1.0, 2.0])}
    value, grads = gg.value_and_grad(f, backend="python", specs=specs_of(values))(**values)
    assert value == pytest.approx(0.5 * 2.0 + 2.0 + (0.5 * 1.0 + 0.5 * 2.0))
    carry, ys = gg.scan(lambda s, x: (State(s.h * x, s.n + 1.0), State(s.h, x)), State(0.5, 0.0),
                        np.array([1.0, 2.0]))
    assert isinstance(carry, State) and isinstance(ys, State)


def test_the_c_of_a_fori_loop_does_not_grow_with_its_length():
    """loopnode.py promises 'the C size and the compile time of a loop do not depend on its length', but
    fori_loop scans a constant ``np.arange(lower, upper)`` counter (dsl/loops.py ``fori_loop``), which the
    C backend writes out as a constant array (codegen/cabi.py ``_constant``): 100,000 steps give about
    1.6 MB of C against 2.8 KB for 10 steps (and 10**8 steps would embed 800 MB), even when the body
    never reads ``i``. The counter could be the step variable itself (or an int64 carry)."""
    def kernel(n):
        return gg.value_and_grad(lambda w: gg.fori_loop(0, n, lambda i, c: c * w + 1e-6, w), backend="c",
                                 w=gg.Scalar())

    short, long = kernel(10), kernel(100_000)
    assert long(0.5)[0] == pytest.approx(2e-6)
    assert len(long.source) - len(short.source) < 2_000


def test_backprop_steps_of_a_loop_use_each_steps_own_cotangent():
    """gg.backprop_steps writes a loop out step by step (passes/unroll.py), and every step's carry keeps
    the body's name ``c``. inspect/steps.py ``backprop_steps`` then looks the dJ/dnode of each node up
    by label (``table = {row.name: row ...}``, ``table.get(node.label())``), so all the ``c`` nodes share
    one row: the last step's edge to b is shown as dJ/dc_1 * c_1 = -0.632 * 0.5 instead of
    dJ/dc_2 * c_1 = -0.211 * 1.5, and the contributions to b add up to -1.265, not dJ/db = -0.632."""
    def f(a, b):
        c, _ = gg.scan(lambda c, _: (c * b, None), a, length=2)
        return gg.sin(c)

    values = {"a": 0.5, "b": 3.0}
    _, grads = gg.value_and_grad(f, backend="python", specs=specs_of(values))(**values)
    steps = gg.backprop_steps(f, **values)
    for name in values:
        total = sum(float(np.sum(s.contribution)) for s in steps.steps if s.input == name)
        assert total == pytest.approx(grads[name], rel=1e-12), name


def test_a_body_taking_the_wrong_number_of_arguments_is_a_gradgen_error():
    """Every other bad scan is a gg.GradgenError naming the problem; a body that takes one parameter (or
    three) escapes as a bare Python TypeError from the call ``f(carry, x)`` in dsl/loops.py ``_loop``
    (minor: the message names the lambda but not scan's contract f(carry, x) -> (carry, y))."""
    def f(a, xs):
        return gg.scan(lambda c: (c, None), a, xs)[0]

    with pytest.raises(gg.GradgenError, match="scan"):
        gg.trace(f, a=gg.Scalar(), xs=gg.Array((3,)))


# =========================================================================================================
# Passing checks of cases tests/test_loops.py does not cover
# =========================================================================================================


@pytest.mark.parametrize("backend", BACKENDS)
def test_float32_carries_and_xs_stay_float32(backend):
    def looped(a, xs):
        c, ys = gg.scan(lambda c, x: (c * x + a, c), a, xs)
        return gg.sum(c) + gg.sum(ys)

    def unrolled(a, xs):
        c, ys = a, []
        for t in range(xs.shape[0]):
            ys.append(c)
            c = c * xs[t] + a
        return gg.sum(c) + gg.sum(gg.stack(ys))

    rng = np.random.default_rng(0)
    values = {"a": rng.normal(size=3).astype(np.float32), "xs": rng.normal(size=(4, 3)).astype(np.float32)}
    _, grads = gg.value_and_grad(looped, backend=backend, specs=specs_of(values))(**values)
    assert grads["a"].dtype == np.float32 and grads["xs"].dtype == np.float32
    _agree(looped, unrolled, values, backend, rtol=1e-5)


@pytest.mark.parametrize("backend", BACKENDS)
def test_int64_counter_bool_flag_and_integer_ys(backend):
    def looped(x, obs, k):
        def step(state, o):
            i, flag, acc = state
            acc = gg.where(flag, acc * x, acc + x) + obs[i]
            return (gg.cast(i + 1, "int64"), flag | (o > 0.5), acc), (flag, i)
        (i, flag, acc), (flags, counters) = gg.scan(step, (k, False, x * 0.0), obs[:3])
        return acc + gg.sum(gg.where(flags, 1.0, 0.0)) * x + gg.sum(gg.cast(counters, "float64")) * x

    def unrolled(x, obs, k):
        i, flag, acc, total = k, obs[0] > 1e9, x * 0.0, 0.0
        for t in range(3):
            total = total + gg.where(flag, 1.0, 0.0) * x + gg.cast(i, "float64") * x
            acc = gg.where(flag, acc * x, acc + x) + obs[i]
            i, flag = gg.cast(i + 1, "int64"), flag | (obs[t] > 0.5)
        return acc + total

    values = {"x": 0.7, "obs": np.array([0.1, 0.9, 0.2, 0.3, 0.8]), "k": np.int64(1)}
    _agree(looped, unrolled, values, backend, wrt=["x", "obs"])


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("reverse", [False, True])
def test_zero_steps(backend, reverse):
    def f(a, xs):
        c, ys = gg.scan(lambda c, x: (c * x + a, c), a, xs, reverse=reverse)
        return gg.sum(c) + gg.sum(ys)

    a = np.array([0.5, -1.0, 2.0])
    kernel = gg.value_and_grad(f, backend=backend, a=gg.Array((3,)), xs=gg.Array((0, 3)))
    value, grads = kernel(a, np.zeros((0, 3)))
    assert value == pytest.approx(1.5) and grads["a"].tolist() == [1.0, 1.0, 1.0] and grads["xs"].shape == (0, 3)
    c, ys = gg.compile(lambda a, xs: gg.scan(lambda c, x: (c * x, c), a, xs), backend=backend,
                       a=gg.Array((3,)), xs=gg.Array((0, 3)))(a, np.zeros((0, 3)))
    assert c.tolist() == a.tolist() and ys.shape == (0, 3) and not np.shares_memory(c, a)


def _views():
    rng = np.random.default_rng(1)
    return [
        ("transpose", lambda X: gg.transpose(X)[:, :3], rng.normal(size=(3, 5))),
        ("strided-slice", lambda X: X[1:4, ::2], rng.normal(size=(5, 6))),
        ("reversed", lambda X: X[::-1], rng.normal(size=(4, 3))),
        ("broadcast", lambda X: gg.broadcast_to(X, (4, 3)), rng.normal(size=3)),
        ("column-broadcast", lambda X: gg.broadcast_to(X[:, None], (4, 3)), rng.normal(size=4)),
        ("computed", lambda X: gg.exp(X * 0.1) + np.linspace(0.0, 1.0, 12).reshape(4, 3), rng.normal(size=(4, 3))),
    ]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("view", [v[1:] for v in _views()], ids=[v[0] for v in _views()])
def test_xs_that_are_views_or_computed(backend, view):
    make, X = view

    def looped(a, X):
        c, ys = gg.scan(lambda c, x: (gg.tanh(c * x + a), gg.sum(c * x)), a, make(X))
        return gg.sum(c) + gg.sum(ys * ys)

    def unrolled(a, X):
        V, c, total = make(X), a, 0.0
        for t in range(V.shape[0]):
            y = gg.sum(c * V[t])
            c, total = gg.tanh(c * V[t] + a), total + y * y
        return gg.sum(c) + total

    _agree(looped, unrolled, {"a": np.array([0.3, -0.2, 0.5]), "X": X}, backend)


@pytest.mark.parametrize("backend", BACKENDS)
def test_nested_scans_reading_the_outer_body_and_the_outermost_function(backend):
    def looped(w, v, xs):
        u = gg.sin(w)

        def outer(c, row):
            k = c * v

            def inner(d, x):
                return gg.tanh(d * w + x * k + u + row[0]), d * u
            d, ds = gg.scan(inner, c, row, reverse=True)
            return d + gg.sum(ds) * w, (gg.sum(d) + u, ds)
        c, (ys, dss) = gg.scan(outer, 0.5 + 0 * v, xs)
        return gg.sum(c) + gg.sum(ys * ys) + gg.sum(dss * np.arange(12.0).reshape(3, 4, 1)) + gg.sum(u * w)

    def unrolled(w, v, xs):
        u, c, total = gg.sin(w), 0.5 + 0 * v, 0.0
        for i in range(xs.shape[0]):
            k, d, ds = c * v, c, [None] * xs.shape[1]
            for j in reversed(range(xs.shape[1])):
                ds[j] = d * u
                d = gg.tanh(d * w + xs[i, j] * k + u + xs[i, 0])
            weights = np.arange(4.0 * i, 4.0 * i + 4.0)
            total = total + gg.sum((gg.sum(d) + u) ** 2) + gg.sum(gg.stack(ds) * weights[:, None])
            c = d + gg.sum(gg.stack(ds)) * w
        return gg.sum(c) + total + gg.sum(u * w)

    rng = np.random.default_rng(2)
    _agree(looped, unrolled, {"w": rng.normal(size=2), "v": rng.normal(size=2), "xs": rng.normal(size=(3, 4, 2))},
           backend)


@pytest.mark.parametrize("backend", BACKENDS)
def test_swapped_carries_captured_results_and_a_second_loop_over_the_first_ys(backend):
    def looped(w, z, xs):
        (p, q), ys = gg.scan(lambda c, x: ((c[1], c[0] * x), z), (w, w * 2.0), xs)  # y: a captured value
        r, zs = gg.scan(lambda r, y: (z, r * y + p), q, ys, reverse=True)  # carry: a captured value
        return gg.sum(p * 3.0 + q * 5.0) + gg.sum(zs * zs) + gg.sum(r)

    def unrolled(w, z, xs):
        p, q = w, w * 2.0
        for t in range(xs.shape[0]):
            p, q = q, p * xs[t]
        r, total = q, 0.0
        for _t in reversed(range(xs.shape[0])):
            total = total + gg.sum((r * z + p) ** 2)
            r = z
        return gg.sum(p * 3.0 + q * 5.0) + total + gg.sum(r)

    rng = np.random.default_rng(3)
    values = {"w": rng.normal(size=2), "z": rng.normal(size=2), "xs": rng.normal(size=(3, 2))}
    _agree(looped, unrolled, values, backend)
    _agree(looped, unrolled, values, backend, wrt=["xs"])


@pytest.mark.parametrize("backend", BACKENDS)
def test_fori_loop_from_a_nonzero_lower_bound_with_row_indexing(backend):
    def looped(w, X, obs):
        return gg.fori_loop(2, 5, lambda i, c: gg.tanh(X[i, :] @ w + c * obs[i]), 0.3 + 0 * w[0])

    def unrolled(w, X, obs):
        c = 0.3 + 0 * w[0]
        for i in range(2, 5):
            c = gg.tanh(X[i, :] @ w + c * obs[i])
        return c

    rng = np.random.default_rng(4)
    _agree(looped, unrolled, {"w": rng.normal(size=3), "X": rng.normal(size=(6, 3)), "obs": rng.normal(size=6)},
           backend)


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_index_out_of_range_in_a_nested_body_names_the_argument(backend):
    def f(x, idx, w):
        def outer(c, row):
            return gg.scan(lambda d, i: (d + x[i] * w, None), c, row)[0], None
        return gg.scan(outer, w, idx)[0]

    specs = {"x": gg.Array((4,)), "idx": gg.Array((2, 3), "int64"), "w": gg.Scalar()}
    good, bad = np.array([[0, 1, 2], [3, -1, 0]]), np.array([[0, 1, 2], [3, 7, 0]])
    assert gg.compile(f, backend=backend, specs=specs)(np.arange(4.0), good, 1.0) == 10.0
    for kernel in (gg.compile(f, backend=backend, specs=specs),
                   gg.value_and_grad(f, backend=backend, wrt=["x", "w"], specs=specs)):
        with pytest.raises(gg.InputError, match="argument 'idx'"):
            kernel(np.arange(4.0), bad, 1.0)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_carry_on_threads_with_big_arrays_outside_the_loop(backend, monkeypatch):
    monkeypatch.setenv("GRADGEN_NUM_THREADS", "2")
    n = 100_000

    def looped(w, big, xs):
        s, u = gg.sum(gg.exp(big * 0.001)), big * 0.5
        c, ys = gg.scan(lambda c, x: (gg.tanh(c * w + x * s), gg.sum(u * c)), w, xs)
        return gg.sum(c) + gg.sum(ys) + gg.sum(gg.sin(big))

    def unrolled(w, big, xs):
        s, u, c, total = gg.sum(gg.exp(big * 0.001)), big * 0.5, w, 0.0
        for t in range(xs.shape[0]):
            total = total + gg.sum(u * c)
            c = gg.tanh(c * w + xs[t] * s)
        return gg.sum(c) + total + gg.sum(gg.sin(big))

    rng = np.random.default_rng(5)
    _agree(looped, unrolled, {"w": rng.normal(size=n) * 0.5, "big": rng.normal(size=n),
                              "xs": rng.normal(size=3) * 1e-6}, backend, rtol=1e-10)


def test_exported_loops_of_every_dtype_build_with_strict_flags(tmp_path):
    def nested(w, xs, idx, flag):
        def outer(state, x):
            c, i, on = state
            d, ds = gg.scan(lambda d, e: (d * w + e * x[0], gg.sum(d)), c, x, reverse=True)
            return (d, gg.cast(i + 1, "int64"), on | (ds[0] > 0.0)), gg.sum(ds) * w[idx[i]]
        (c, i, on), ys = gg.scan(outer, (w, np.int64(0), flag > 0.5), xs)
        return gg.sum(c) + gg.sum(ys) + gg.where(on, 1.0, 0.0)

    def simple(w, xs):
        c, ys = gg.scan(lambda c, x: (c * w + x, c), w, xs)
        return gg.sum(c) + gg.sum(ys)

    kernels = {
        "nested": gg.value_and_grad(nested, backend="c", wrt=["w", "xs"], w=gg.Array((2,)), xs=gg.Array((3, 2)),
                                    idx=gg.Array((3,), "int64"), flag=gg.Scalar()),
        "nested_forward": gg.compile(nested, backend="c", w=gg.Array((2,)), xs=gg.Array((3, 2)),
                                     idx=gg.Array((3,), "int64"), flag=gg.Scalar()),
        "f32": gg.value_and_grad(simple, backend="c", w=gg.Scalar("float32"), xs=gg.Array((4,), "float32")),
        "empty": gg.value_and_grad(simple, backend="c", w=gg.Array((2,)), xs=gg.Array((0, 2))),
        "fori": gg.value_and_grad(lambda w, xs: gg.fori_loop(1, 3, lambda i, c: (c[1], c[0] * xs[i]), (w, w))[0],
                                  backend="c", w=gg.Scalar(), xs=gg.Array((3,))),
    }
    cc = shutil.which("cc") or shutil.which("gcc")  # the kernels above were built, so there is one
    for name, kernel in kernels.items():
        gg.export_c(kernel, tmp_path, name)
        built = subprocess.run([cc, "-std=c99", "-pedantic", "-Wall", "-Wextra", "-Werror", "-c",
                                str(tmp_path / f"{name}.c"), "-o", str(tmp_path / f"{name}.o")],
                               capture_output=True, text=True)
        assert built.returncode == 0, (name, built.stderr)


@pytest.mark.parametrize("backend", BACKENDS)
def test_dict_carries_tuple_ys_reverse_and_nested_match_jax(backend):
    jax = _jax()
    jnp = jax.numpy

    def loss(w, xs):
        def outer(s, x):
            d, ds = gg.scan(lambda d, e: (gg.sin(d * w + e), d * e), s["h"], x, reverse=True)
            return {"h": d * s["m"], "m": s["m"] * 0.9}, (gg.sum(ds), ds)
        s, (tot, dss) = gg.scan(outer, {"h": w, "m": w * 0.0 + 1.0}, xs, reverse=True)
        return gg.sum(s["h"] * s["m"]) + gg.sum(tot * np.arange(1.0, 4.0)) + gg.sum(dss * dss)

    def jax_loss(w, xs):
        def outer(s, x):
            d, ds = jax.lax.scan(lambda d, e: (jnp.sin(d * w + e), d * e), s["h"], x, reverse=True)
            return {"h": d * s["m"], "m": s["m"] * 0.9}, (jnp.sum(ds), ds)
        s, (tot, dss) = jax.lax.scan(outer, {"h": w, "m": w * 0.0 + 1.0}, xs, reverse=True)
        return jnp.sum(s["h"] * s["m"]) + jnp.sum(tot * jnp.arange(1.0, 4.0)) + jnp.sum(dss * dss)

    rng = np.random.default_rng(6)
    w, xs = rng.normal(size=2), rng.normal(size=(3, 4, 2))
    value, grads = gg.value_and_grad(loss, backend=backend, w=gg.Array((2,)), xs=gg.Array((3, 4, 2)))(w, xs)
    expected_value, expected = jax.value_and_grad(jax_loss, argnums=(0, 1))(w, xs)
    assert value == pytest.approx(float(expected_value), rel=1e-12)
    np.testing.assert_allclose(grads["w"], np.asarray(expected[0]), rtol=1e-11, atol=1e-13)
    np.testing.assert_allclose(grads["xs"], np.asarray(expected[1]), rtol=1e-11, atol=1e-13)


def test_more_bad_loops_are_named():
    xs = np.zeros(3)
    with pytest.raises(gg.InputError, match="non-negative"):
        gg.scan(lambda c, x: (c, None), 0.0, length=-1)
    with pytest.raises(gg.InputError, match="non-negative"):
        gg.scan(lambda c, x: (c, None), 0.0, length=2.0)
    with pytest.raises(gg.InputError, match="y entry y is a str"):
        gg.scan(lambda c, x: (c, "y"), 0.0, xs)
    with pytest.raises(gg.ShapeError, match="xs entry xs is a scalar"):
        gg.scan(lambda c, x: (c, None), 0.0, np.float64(3.0))
    with pytest.raises(gg.ShapeError, match=r"\[value\] instead of \(value,\)"):
        gg.scan(lambda c, x: ([c[0]], None), (0.0,), xs)
    with pytest.raises(gg.ShapeError, match=r"\(\) float64 before a step and \(\) float32 after it.*gg.cast"):
        gg.trace(lambda a, xs: gg.scan(lambda c, x: (gg.cast(c, "float32"), None), a, xs)[0],
                 a=gg.Scalar(), xs=gg.Array((3,)))
    with pytest.raises(gg.InputError, match="lower must be a Python int"):
        gg.fori_loop(0.0, 3, lambda i, c: c, 0.0)
