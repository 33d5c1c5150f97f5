"""Adversarial review of checkpoint="residuals" (passes/residuals.py), the pruning of unread ys (passes/dce.py)
and the rows handed to C loop bodies in place (schedule/loopnode.py ``Row``).

The first test fails while the defect named in its docstring exists; the others pass and cover cases
tests/test_loops.py and tests/adversarial/test_loops_review.py do not. References: the same function as an
unrolled Python loop, the other checkpoint, and JAX's lax.scan with x64.
"""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest
from adversarial_helpers import specs_of

import gradgen as gg

BACKENDS = ["python", "c"]
CHECKPOINTS = ["residuals", "carry"]




def _agree(looped, unrolled, values: dict, backend: str, rtol: float = 1e-12, wrt=None) -> None:
    """``looped(checkpoint)`` with either checkpoint on ``backend`` and ``unrolled`` (Python backend) agree."""
    specs = specs_of(values)
    kw = {} if wrt is None else {"wrt": wrt}
    expected_value, expected = gg.value_and_grad(unrolled, backend="python", specs=specs, **kw)(**values)
    for checkpoint in CHECKPOINTS:
        value, grads = gg.value_and_grad(looped(checkpoint), backend=backend, specs=specs, **kw)(**values)
        np.testing.assert_allclose(value, expected_value, rtol=rtol, atol=rtol, err_msg=checkpoint)
        assert set(grads) == set(expected)
        for name in expected:
            assert np.all(np.isfinite(grads[name])), (checkpoint, name)
            np.testing.assert_allclose(grads[name], expected[name], rtol=rtol, atol=rtol,
                                       err_msg=f"{checkpoint} {name}")


def _scans(graph) -> list:
    return [n for n in graph.nodes if n.op == "scan"]


def _steps(graph) -> int:
    """Body steps a graph runs, counting the steps of loops nested in bodies."""
    return sum(n.params["length"] * (1 + _steps(n.params["body"])) for n in _scans(graph))


# =========================================================================================================
# Defect
# =========================================================================================================


def _nest(depth: int, checkpoint: str):
    def f(w, xs):
        def level(k):
            def body(c, x):
                if k == depth:
                    return gg.sin(c) + x, None
                d, _ = gg.scan(level(k + 1), c, gg.stack([x, x * 0.5]), checkpoint=checkpoint)
                return gg.sin(d) * w, None
            return body
        return gg.scan(level(1), w, xs, checkpoint=checkpoint)[0]
    return f


@pytest.mark.parametrize("depth", [2, 3])
def test_the_forward_sweep_runs_an_inner_loop_once(depth):
    """With residuals, the outer forward body must run its inner loop once. It runs it twice (depth 3: the
    forward sweep does 48 body steps against 18 with checkpoint="carry", and residuals do as much work in
    all as carry, 72 steps: nothing is saved by saving). Cause: passes/residuals.py ``saving_body`` copies
    the body's loops with ``saving_attrs`` (every saved y of the inner loop), while the reverse body it
    reads the frontier from (``step_vjp_body``, which ends in ``eliminate_dead_code``) holds the inner loop
    with its unread ys pruned (``without_unread_ys``: here saved_c, since sin's VJP reads only cos(c)). The
    structural keys (``_keys``) include the loop's attrs, so the two inner loops do not match, the ``again``
    copy adds a second inner loop to the forward body, and the frontier values are read from it."""
    graphs = {ck: gg.value_and_grad(_nest(depth, ck), backend="python", w=gg.Scalar(), xs=gg.Array((3,))).graph
              for ck in CHECKPOINTS}
    forward = [n for n in _scans(graphs["residuals"]) if not n.params["reverse"]][0].params["body"]
    assert len(_scans(forward)) == 1, [n.params["body"].output_names for n in _scans(forward)]
    assert _steps(graphs["residuals"]) < _steps(graphs["carry"])


# =========================================================================================================
# Passing checks
# =========================================================================================================


def _three_levels(ck):
    def f(w, v, u, xs):
        a = gg.sin(w)

        def outer(c, row):
            b = c * v

            def mid(d, r2):
                e = gg.exp(d * 0.1)
                g, gs = gg.scan(lambda g, x: (gg.tanh(g * w + x * b + e * u + a), g * x), d, r2, checkpoint=ck)
                return g * e, gg.sum(gs)
            d, ds = gg.scan(mid, c, row, reverse=True, checkpoint=ck)
            return d + b, ds
        c, ys = gg.scan(outer, w * 0.5, xs, checkpoint=ck)
        return gg.sum(c * c) + gg.sum(ys * ys)
    return f


def _three_levels_unrolled(w, v, u, xs):
    a, c, total = gg.sin(w), w * 0.5, 0.0
    for i in range(xs.shape[0]):
        b, d = c * v, c
        for j in reversed(range(xs.shape[1])):
            e, g, s = gg.exp(d * 0.1), d, 0.0
            for k in range(xs.shape[2]):
                s = s + g * xs[i, j, k]
                g = gg.tanh(g * w + xs[i, j, k] * b + e * u + a)
            d, total = g * e, total + gg.sum(s * s)
        c = d + b
    return gg.sum(c * c) + total


@pytest.mark.parametrize("backend", BACKENDS)
def test_three_nested_levels_with_parameters_closed_over_at_each(backend):
    values = {"w": 0.3, "v": 0.7, "u": -0.4, "xs": np.random.default_rng(0).normal(size=(3, 3, 3))}
    _agree(_three_levels, _three_levels_unrolled, values, backend)
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    jnp = jax.numpy

    def jax_loss(w, v, u, xs):
        a = jnp.sin(w)

        def outer(c, row):
            b = c * v

            def mid(d, r2):
                e = jnp.exp(d * 0.1)
                g, gs = jax.lax.scan(lambda g, x: (jnp.tanh(g * w + x * b + e * u + a), g * x), d, r2)
                return g * e, jnp.sum(gs)
            d, ds = jax.lax.scan(mid, c, row, reverse=True)
            return d + b, ds
        c, ys = jax.lax.scan(outer, w * 0.5, xs)
        return jnp.sum(c * c) + jnp.sum(ys * ys)

    expected = jax.grad(jax_loss, argnums=(0, 1, 2, 3))(*values.values())
    _, grads = gg.value_and_grad(_three_levels("residuals"), backend=backend, specs=specs_of(values))(**values)
    for name, e in zip(values, expected):
        np.testing.assert_allclose(grads[name], np.asarray(e), rtol=1e-11, atol=1e-13, err_msg=name)


def _indexing(ck):
    def f(w, xs, idx):
        def step(s, x):
            c, i = s
            m = x[0] > 0.0
            c = gg.where(m, c * w + x[1], gg.sin(c) + x[idx[i]])
            return (c, gg.cast(i + 1, "int64")), (c, m)
        (c, _), (cs, ms) = gg.scan(step, (w, gg.cast(idx[0] * 0, "int64")), xs, checkpoint=ck)
        return gg.sum(c) + gg.sum(cs * gg.where(ms, 2.0, 3.0))
    return f


def _indexing_unrolled(w, xs, idx):
    c, total = w, 0.0
    for t in range(xs.shape[0]):
        m = xs[t, 0] > 0.0
        c = gg.where(m, c * w + xs[t, 1], gg.sin(c) + xs[t, idx[t]])
        total = total + c * gg.where(m, 2.0, 3.0)
    return gg.sum(c) + total


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("length", [0, 1, 2, 3])
def test_int_carry_indexing_bool_ys_and_where_at_every_short_length(backend, length):
    values = {"w": 0.3, "xs": np.random.default_rng(length).normal(size=(length, 3)),
              "idx": np.array([2, 0, 1, 2, 1], dtype=np.int64)}
    _agree(_indexing, _indexing_unrolled, values, backend, wrt=["w", "xs"])


def _inner_loops(ck):
    def f(w, X, idx):
        def outer(c, row):
            def count(j, x):  # an int-only inner loop: its result (an index) is a residual
                k = gg.cast(j + idx[j], "int64")
                return gg.cast(gg.where(k >= 3, k - 3, k), "int64"), j
            j, js = gg.scan(count, gg.cast(idx[0] * 0, "int64"), row, checkpoint=ck)
            d = gg.fori_loop(0, 3, lambda i, d: gg.sin(d * row[i] + w), c, checkpoint=ck)
            return gg.tanh(d * w + X[j]), gg.sum(js)
        c, ys = gg.scan(outer, w, X, checkpoint=ck)
        return gg.sum(c) + gg.sum(gg.cast(ys, "float64")) * gg.sum(w)
    return f


def _inner_loops_unrolled(w, X, idx):
    picks, c, total = [1, 2, 0], w, 0.0
    for t in range(X.shape[0]):
        j, s, d = 0, 0, c
        for _ in range(X.shape[1]):
            s, j = s + j, (j + picks[j]) % 3
        for i in range(3):
            d = gg.sin(d * X[t, i] + w)
        c, total = gg.tanh(d * w + X[j]), total + s
    return gg.sum(c) + total * gg.sum(w)


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_int_only_loop_and_a_fori_loop_inside_a_differentiated_body(backend):
    values = {"w": np.array([0.3, 0.2, 0.1]), "X": np.random.default_rng(1).normal(size=(3, 3)),
              "idx": np.array([1, 2, 0], dtype=np.int64)}
    _agree(_inner_loops, _inner_loops_unrolled, values, backend, wrt=["w", "X"])


def _rescanned(ck):
    def f(w, X, rows):
        def step(c, xi):
            x, i = xi
            c = gg.tanh(c * w + x[i[0]] * x + w[i[1]])
            return c, (c * x, x)
        c, (ys, same) = gg.scan(step, w, (X, rows), checkpoint=ck)
        d, zs = gg.scan(lambda d, y: (gg.sin(d * y), d * y * w), w, ys, reverse=True, checkpoint=ck)
        M, _ = gg.scan(lambda M, x: (M * gg.cos(x[:, None] * w), None), gg.broadcast_to(w, (3, 3)) * 1.0, X,
                       checkpoint=ck)
        e, es = gg.scan(lambda e, r: (e + gg.exp(r * e), e), w * 0.1, M.T, checkpoint=ck)
        return gg.sum(c) + gg.sum(d) + gg.sum(zs * zs) + gg.sum(es) + gg.sum(e) + gg.sum(same * same)
    return f


def _rescanned_unrolled(picks):
    def f(w, X, rows):
        c, ys = w, []
        for t in range(X.shape[0]):
            c = gg.tanh(c * w + X[t][int(picks[t, 0])] * X[t] + w[int(picks[t, 1])])
            ys.append(c * X[t])
        d, total = w, 0.0
        for t in reversed(range(X.shape[0])):
            total, d = total + gg.sum((d * ys[t] * w) ** 2), gg.sin(d * ys[t])
        M = gg.broadcast_to(w, (3, 3)) * 1.0
        for t in range(X.shape[0]):
            M = M * gg.cos(X[t][:, None] * w)
        e, s = w * 0.1, 0.0
        for t in range(3):
            s, e = s + gg.sum(e), e + gg.exp(M.T[t] * e)
        return gg.sum(c) + gg.sum(d) + total + s + gg.sum(e) + gg.sum(X * X)
    return f


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("length, dtype", [(1, "float64"), (3, "float64"), (4, "float64"), (3, "float32")])
def test_loops_scanning_the_ys_and_carries_of_loops_and_int_rows(backend, length, dtype):
    """Rows of kernel inputs, of loop results (ys and a matrix carry) and of a transposed one go to the
    bodies in place; int rows index; a y is the step's x unchanged."""
    rng = np.random.default_rng(length)
    picks = rng.integers(0, 3, size=(length, 2)).astype(np.int64)
    values = {"w": rng.normal(size=3).astype(dtype), "X": rng.normal(size=(length, 3)).astype(dtype), "rows": picks}
    _agree(_rescanned, _rescanned_unrolled(picks), values, backend, rtol=1e-12 if dtype == "float64" else 2e-4,
           wrt=["w", "X"])


def _unchanged(ck):
    def f(a, b, X):
        def step(c, x):
            p, q, r = c
            return (p * x + gg.sum(X, axis=0) * 0.1, q, gg.sqrt(r)), (p, x, q)  # q unchanged; r unread
        (p, q, r), (ps, xs, qs) = gg.scan(step, (a, b, a * a), X, checkpoint=ck)
        return gg.sum(p) + gg.sum(ps * xs) + gg.sum(qs)
    return f


def _unchanged_unrolled(a, b, X):
    p, total = a, 0.0
    for t in range(X.shape[0]):
        total, p = total + gg.sum(p * X[t] + b), p * X[t] + gg.sum(X, axis=0) * 0.1
    return gg.sum(p) + total


@pytest.mark.parametrize("backend", BACKENDS)
def test_unchanged_carries_xs_as_ys_an_unread_sqrt_carry_and_xs_also_captured(backend):
    values = {"a": np.array([0.0, 1.5]), "b": np.array([2.0, -1.0]),
              "X": np.random.default_rng(2).normal(size=(3, 2))}
    _agree(_unchanged, _unchanged_unrolled, values, backend)


def _nested_short(ck):
    def f(w, X):
        def outer(c, row):
            d, ds = gg.scan(lambda d, x: (gg.tanh(d * x + w), gg.exp(d * x)), c, row, checkpoint=ck)
            return d * gg.sin(c), (ds, gg.sum(ds) + gg.sum(d))
        c, (dss, ss) = gg.scan(outer, w, X, checkpoint=ck)
        return gg.sum(c) + gg.sum(dss) + gg.sum(ss * ss)
    return f


def _nested_short_unrolled(w, X):
    c, total = w, 0.0
    for i in range(X.shape[0]):
        d, s = c, 0.0
        for j in range(X.shape[1]):
            s, d = s + gg.exp(d * X[i, j]), gg.tanh(d * X[i, j] + w)
        total, c = total + gg.sum(s) + gg.sum((gg.sum(s) + gg.sum(d)) ** 2), d * gg.sin(c)
    return gg.sum(c) + total


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("outer, inner", [(0, 2), (2, 0), (1, 1), (3, 1)])
def test_nested_loops_of_length_zero_and_one(backend, outer, inner):
    values = {"w": np.array([0.4, -0.3]), "X": np.random.default_rng(3).normal(size=(outer, inner, 2))}
    _agree(_nested_short, _nested_short_unrolled, values, backend)


def _edges(ck):
    def f(w, xs):
        def step(c, x):
            a = gg.where(c > 0.0, gg.sqrt(c), -c) + gg.where(x > 0.0, gg.log(x), 0.0)  # NaN/-inf untaken
            m = gg.relu(c * x) + gg.abs(c - x) + gg.maximum(c, x) + gg.max(a) + gg.logsumexp(a)
            return a * 0.5 + x + gg.stop_gradient(m) * 0.01, gg.where(c > 1.0, gg.log(c - 1.0), c) + m
        c, ys = gg.scan(step, w, xs, checkpoint=ck)
        return gg.sum(c) + gg.sum(ys)
    return f


def _edges_unrolled(w, xs):
    c, total = w, 0.0
    for t in range(xs.shape[0]):
        x = xs[t]
        a = gg.where(c > 0.0, gg.sqrt(c), -c) + gg.where(x > 0.0, gg.log(x), 0.0)
        m = gg.relu(c * x) + gg.abs(c - x) + gg.maximum(c, x) + gg.max(a) + gg.logsumexp(a)
        total = total + gg.sum(gg.where(c > 1.0, gg.log(c - 1.0), c) + m)
        c = a * 0.5 + x + gg.stop_gradient(m) * 0.01
    return gg.sum(c) + total


@pytest.mark.parametrize("backend", BACKENDS)
def test_where_at_domain_edges_and_nonsmooth_ops_read_from_saved_values(backend):
    values = {"w": np.array([-1.0, 0.5, 4.0]),
              "xs": np.array([[-1.0, 0.0, 2.0], [0.0, -3.0, 1.0], [-0.5, 0.25, -9.0]])}
    _agree(_edges, _edges_unrolled, values, backend)


def _shared(ck):
    other = "carry" if ck == "residuals" else "residuals"

    def f(W, b, h0, xs):
        def step(h, x):
            h = gg.tanh(h @ W + x * b)
            return h, gg.sum(h * b)
        h1, e1 = gg.scan(step, h0, xs, checkpoint=ck)
        h2, e2 = gg.scan(step, h1, xs[::-1], checkpoint=other)
        h3, e3 = gg.scan(step, h0, xs, checkpoint=ck)  # the first loop again
        return gg.sum(h2 * h1) + gg.sum(e1 * e2) + gg.sum(e3) + gg.sum(h3 * h3)
    return f


def _shared_unrolled(W, b, h0, xs):
    def run(h, X):
        es = []
        for t in range(X.shape[0]):
            h = gg.tanh(h @ W + X[t] * b)
            es.append(gg.sum(h * b))
        return h, gg.stack(es)
    h1, e1 = run(h0, xs)
    h2, e2 = run(h1, xs[::-1])
    return gg.sum(h2 * h1) + gg.sum(e1 * e2) + gg.sum(e1) + gg.sum(h1 * h1)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("wrt", [None, ["W"], ["h0", "b"]])
def test_one_body_in_loops_of_both_checkpoints_results_used_twice(backend, wrt):
    rng = np.random.default_rng(6)
    values = {"W": rng.normal(size=(3, 3)) * 0.5, "b": rng.normal(size=3), "h0": rng.normal(size=3),
              "xs": rng.normal(size=(5, 3))}
    _agree(_shared, _shared_unrolled, values, backend, wrt=wrt)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_forward_kernel_returning_some_ys_twice(backend):
    def f(w, xs):
        c, (_, b, _) = gg.scan(lambda c, x: (c * x, (gg.exp(c), gg.sin(x) * c, gg.cast(c > 0.5, "int64"))), w, xs)
        d, zs = gg.scan(lambda d, y: (d * y, y), c, b)
        return b, zs, b, d

    rng = np.random.default_rng(7)
    w, xs = rng.normal(size=2), rng.normal(size=(3, 2))
    got = gg.compile(f, backend=backend, w=gg.Array((2,)), xs=gg.Array((3, 2)))(w, xs)
    c, b = w, []
    for x in xs:
        c, b = c * x, b + [np.sin(x) * c]
    b = np.stack(b)
    expected = (b, b, b, c * np.prod(b, axis=0))
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, e, rtol=1e-13)
    assert not np.shares_memory(got[0], got[2])


def test_an_exported_nested_residuals_kernel_with_int_rows_and_bool_residuals_builds_strictly(tmp_path):
    def nested(w, X, rows):
        def outer(c, xi):
            x, i = xi
            d, ds = gg.scan(lambda d, e: (gg.where(e > 0.0, gg.sin(d * w + e), d), (d * e, e > 0.0)), c, x,
                            reverse=True)
            return gg.tanh(d * w[i[0]]), ((ds[0][0], ds[1][0]), gg.sum(X[i[1]]) * d)
        c, ((dss, flags), ys) = gg.scan(outer, w, (X, rows))
        return gg.sum(c) + gg.sum(dss * gg.where(flags, 1.0, 2.0)) + gg.sum(ys)

    for dtype in ("float64", "float32"):
        specs = {"w": gg.Array((3,), dtype), "X": gg.Array((4, 3, 3), dtype), "rows": gg.Array((4, 2), "int64")}
        kernel = gg.value_and_grad(nested, backend="c", wrt=["w", "X"], specs=specs)
        gg.export_c(kernel, tmp_path, f"nested_{dtype}")
        cc = shutil.which("cc") or shutil.which("gcc")
        built = subprocess.run([cc, "-std=c99", "-pedantic", "-Wall", "-Wextra", "-Werror", "-c",
                                str(tmp_path / f"nested_{dtype}.c"), "-o", str(tmp_path / f"nested_{dtype}.o")],
                               capture_output=True, text=True)
        assert built.returncode == 0, built.stderr
