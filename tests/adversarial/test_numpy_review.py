"""Review of issue 12's NumPy surface: the new elementwise ops at IEEE edges (scalar kernels, both backends),
contractions and array manipulation against NumPy and JAX, statistics and reductions at their edges, and
the signatures a user writes (defaults, partials, has_aux, structured parameters)."""

from __future__ import annotations

import functools
import math
import warnings

import numpy as np
import pytest

import gradgen as gg

try:
    import jax
except ImportError:
    jax = None
else:
    jax.config.update("jax_enable_x64", True)
    jnp = jax.numpy
needs_jax = pytest.mark.skipif(jax is None, reason="JAX (x64) is the reference here: pip install jax")

inf, nan = np.inf, np.nan
BACKENDS = ("python", "c")
RNG = np.random.default_rng(12)
A = RNG.normal(size=(3, 4))
V = np.array([0.3, -1.2, 2.0, 0.7])


def both(make, *args):
    """The results of the kernel ``make(backend)`` called with ``args``, Python backend first."""
    return [make(backend)(*args) for backend in BACKENDS]


def same(got, want, rtol=1e-12):
    np.testing.assert_allclose(np.asarray(got, dtype=float), np.asarray(want, dtype=float), rtol=rtol, atol=1e-300,
                               equal_nan=True)
    got, want = np.asarray(got, dtype=float), np.asarray(want, dtype=float)
    signed = ~np.isnan(want)  # signed zeros kept (a NaN's sign is not compared)
    assert np.array_equal(np.signbit(got)[signed], np.signbit(want)[signed])


# --- scalar kernels at IEEE edges -------------------------------------------------------------------------

UNARY_POINTS = {
    "rint": [0.5, 1.5, 2.5, -0.5, -2.5, inf, nan], "floor": [-0.5, -inf, nan], "ceil": [-0.5, 0.2, inf],
    "trunc": [-1.7, inf, -0.2], "arccosh": [1.0, 0.0, inf, 1e200], "arctanh": [1.0, -1.0, 2.0, -0.0],
    "arcsin": [1.0, 2.0, -0.0], "arccos": [-1.0, 2.0], "arcsinh": [-inf, 1e200, -0.0], "exp2": [2000.0, -2000.0, -inf],
    "sinh": [1000.0, -0.0], "cosh": [-1000.0, 0.0], "tan": [inf, -0.0], "log2": [-1.0, 0.0, -0.0, inf],
    "log10": [-1.0, 0.0, 1e-320], "sinc": [0.0, 1.0, inf, -2.0], "reciprocal": [0.0, -0.0, inf],
    "square": [inf, -3.0], "deg2rad": [180.0, -0.0], "rad2deg": [np.pi], "arctan": [inf, -inf],
}
BINARY_POINTS = {
    "mod": [(5.0, -3.0), (-5.0, 3.0), (5.0, 0.0), (5.0, inf), (5.0, -inf), (-0.0, 3.0), (3.0, -3.0), (-3.0, 3.0),
            (inf, 2.0), (1e300, 1e-300)],
    "fmod": [(-5.0, 3.0), (5.0, 0.0), (inf, 2.0), (-0.0, 2.0), (5.0, -inf)],
    "arctan2": [(0.0, -0.0), (-0.0, -1.0), (inf, inf), (-0.0, 0.0), (1.0, 0.0)],
    "hypot": [(inf, nan), (nan, -inf), (1e300, 1e300), (0.0, -0.0)],
    "logaddexp": [(-inf, -inf), (inf, inf), (nan, 1.0), (1000.0, -1000.0), (-inf, 3.0)],
    "logaddexp2": [(-inf, -inf), (inf, inf), (1000.0, 1000.0)],
}


@pytest.mark.parametrize("name", sorted(UNARY_POINTS))
def test_unary_scalar_kernels_match_numpy_at_edges(name):
    fn = getattr(gg, name)
    kernels = [gg.compile(lambda x: fn(x), backend=b, specs={"x": gg.Scalar()}) for b in BACKENDS]
    for x in UNARY_POINTS[name]:
        with np.errstate(all="ignore"):
            want = getattr(np, name)(x)
        for k in kernels:
            same(k(x), want)


@pytest.mark.parametrize("name", sorted(BINARY_POINTS))
def test_binary_scalar_kernels_match_numpy_at_edges(name):
    fn = getattr(gg, name)
    kernels = [gg.compile(lambda a, b: fn(a, b), backend=b, specs={"a": gg.Scalar(), "b": gg.Scalar()})
               for b in BACKENDS]
    for a, b in BINARY_POINTS[name]:
        with np.errstate(all="ignore"):
            want = getattr(np, name)(a, b)
        for k in kernels:
            same(k(a, b), want)


def test_round_and_clip_scalars_match_numpy():
    for decimals, x in [(1, 0.25), (-1, 25.0), (0, 2.5), (2, inf), (0, -0.5)]:
        for b in BACKENDS:
            same(gg.compile(functools.partial(gg.round, decimals=decimals), backend=b, specs={"x": gg.Scalar()})(x),
                 np.round(x, decimals))
    for lo, hi, x in [(0.0, 1.0, nan), (1.0, 0.0, 0.5), (-1.0, 1.0, -inf)]:
        for b in BACKENDS:
            same(gg.compile(functools.partial(gg.clip, lower=lo, upper=hi), backend=b, specs={"x": gg.Scalar()})(x),
                 np.clip(x, lo, hi))


GRAD_EDGES = [("arccosh", 1.0), ("arctanh", 1.0), ("arcsin", 1.0), ("arccos", -1.0), ("exp2", 2000.0),
              ("sinh", 1000.0), ("erf", 30.0), ("log2", 0.0), ("log10", 0.0), ("arcsinh", 1e200), ("sinc", 0.0),
              ("sinc", 1.0), ("reciprocal", 0.0), ("arctan", inf), ("tan", 1.0), ("rint", 0.5), ("floor", 1.0)]


@needs_jax
@pytest.mark.parametrize(("name", "x"), GRAD_EDGES)
def test_unary_gradients_at_edges_match_jax(name, x):
    jf = getattr(jnp, name, None) or getattr(jax.scipy.special, name)
    want = (float(jf(x)), float(jax.grad(jf)(x)))
    for value, grads in both(lambda b: gg.value_and_grad(lambda x: getattr(gg, name)(x), backend=b,
                                                         specs={"x": gg.Scalar()}), x):
        same(value, want[0])
        same(grads["x"], want[1])


@needs_jax
@pytest.mark.parametrize(("name", "a", "b"), [("arctan2", 0.0, 0.0), ("arctan2", 1.0, 0.0), ("mod", 5.0, -3.0),
                                              ("mod", 6.0, 3.0), ("fmod", -5.0, 3.0), ("logaddexp", 1000.0, -1000.0),
                                              ("logaddexp", -inf, -inf), ("hypot", 3.0, -4.0)])
def test_binary_gradients_at_edges_match_jax(name, a, b):
    jf = getattr(jnp, name)
    want = [float(g) for g in jax.grad(jf, argnums=(0, 1))(a, b)]
    for _, grads in both(lambda be: gg.value_and_grad(lambda a, b: getattr(gg, name)(a, b), backend=be,
                                                      specs={"a": gg.Scalar(), "b": gg.Scalar()}), a, b):
        same([grads["a"], grads["b"]], want)


# --- arrays: contractions and manipulation against JAX ------------------------------------------------------

def weights(shape):
    return np.arange(1.0, math.prod(shape) + 1).reshape(shape) / 7


def against_jax(fn, *arrays, dtype="float64", rtol=1e-10):
    """``fn(module, *arrays)`` (a scalar) on both backends against JAX: value and every gradient."""
    specs = {f"x{i}": gg.Array(a.shape, dtype) for i, a in enumerate(arrays)}
    names = ", ".join(specs)
    traced = eval(f"lambda {names}: fn(gg, {names})", {"fn": fn, "gg": gg})  # named parameters for the specs
    jargs = [jnp.asarray(a) for a in arrays]
    want = fn(jnp, *jargs)
    wgrads = jax.grad(lambda *a: fn(jnp, *a), argnums=tuple(range(len(arrays))))(*jargs)
    results = both(lambda b: gg.value_and_grad(traced, backend=b, specs=specs), *arrays)
    for value, grads in results:
        np.testing.assert_allclose(value, float(want), rtol=rtol)
        for i, n in enumerate(specs):
            np.testing.assert_allclose(grads[n], np.asarray(wgrads[i]), rtol=rtol, atol=1e-12)
    np.testing.assert_allclose(results[0][0], results[1][0], rtol=1e-12)


Q = RNG.normal(size=(3, 3))
CONTRACTIONS = {
    "ii": (lambda m, q: m.einsum("ii", q) ** 2, [Q]),
    "ii->i": (lambda m, q: (m.einsum("ii->i", q) * np.arange(1.0, 4.0)).sum(), [Q]),
    "implicit": (lambda m, a, b: (m.einsum("ij,jk", a, b) * weights((3, 5))).sum(), [A, RNG.normal(size=(4, 5))]),
    "three": (lambda m, a, b, c: (m.einsum("ij,jk,kl->il", a, b, c) ** 2).sum(),
              [A, RNG.normal(size=(4, 5)), RNG.normal(size=(5, 2))]),
    "same operand": (lambda m, a: (m.einsum("ij,ij->i", a, a) ** 2).sum(), [A]),
    "cyclic trace": (lambda m, q: m.einsum("ij,jk,ki", q, q, q), [Q]),
    "iij->j": (lambda m, t: (m.einsum("iij->j", t) ** 2).sum(), [RNG.normal(size=(3, 3, 2))]),
    "batched diagonal": (lambda m, a, b: (m.einsum("bii,bi->b", a, b) ** 2).sum(),
                         [RNG.normal(size=(2, 3, 3)), RNG.normal(size=(2, 3))]),
    "unused operand axis": (lambda m, a, b: (m.einsum("ij,k->i", a, b) ** 2).sum(), [A, V]),
    "matmul batch broadcast": (lambda m, a, b: ((a @ b) ** 2).sum(),
                               [RNG.normal(size=(2, 1, 3, 4)), RNG.normal(size=(5, 4, 2))]),
    "matmul 1-D @ batch": (lambda m, a, b: ((a @ b) ** 2).sum(), [V, RNG.normal(size=(2, 4, 3))]),
    "matmul batch @ 1-D": (lambda m, a, b: ((a @ b) ** 2).sum(), [RNG.normal(size=(2, 3, 4)), V]),
    "dot N-D": (lambda m, a, b: (m.dot(a, b) ** 2).sum(), [RNG.normal(size=(2, 3, 4)), RNG.normal(size=(5, 4, 2))]),
    "tensordot axes": (lambda m, a, b: m.tensordot(a, b, axes=([0, 1], [1, 0])) ** 2, [A, RNG.normal(size=(4, 3))]),
    "tensordot 0": (lambda m, a, b: (m.tensordot(a, b, 0) ** 2).sum(), [V, V[::-1].copy()]),
    "kron": (lambda m, a, b: (m.kron(a, b) * weights((9, 12))).sum(), [Q, A]),
    "inner 2-D": (lambda m, a, b: (m.inner(a, b) ** 2).sum(), [A, RNG.normal(size=(2, 4))]),
    "outer of 2-D": (lambda m, a, b: (m.outer(a, b) ** 2).sum(), [Q, V]),
    "vdot 2-D": (lambda m, a, b: m.vdot(a, b), [A, A * 2]),
}


@needs_jax
@pytest.mark.parametrize("case", sorted(CONTRACTIONS))
def test_contractions_match_jax(case):
    fn, arrays = CONTRACTIONS[case]
    against_jax(fn, *arrays)


T3 = RNG.normal(size=(2, 3, 4))


def trace(m):
    """np.trace on traced values (gg.trace traces a function), jnp.trace for JAX."""
    return np.trace if m is gg else m.trace


MANIPULATIONS = {
    "pad zero widths": (lambda m, a: (m.pad(a, ((0, 0), (0, 2))) * weights((3, 6))).sum(), [A]),
    "pad 0": (lambda m, a: (m.pad(a, 0) ** 2).sum(), [A]),
    "roll past length": (lambda m, a: (m.roll(a, 7) * weights((4,))).sum(), [V]),
    "roll negative axis": (lambda m, a: (m.roll(a, -9, axis=1) * weights((3, 4))).sum(), [A]),
    "roll flat 2-D": (lambda m, a: (m.roll(a, -13) * weights((3, 4))).sum(), [A]),
    "roll two axes": (lambda m, a: (m.roll(a, (1, -1), axis=(0, 1)) * weights((3, 4))).sum(), [A]),
    "repeat zeros": (lambda m, a: (m.repeat(a, np.array([0, 2, 0, 1])) * np.arange(1.0, 4.0)).sum(), [V]),
    "repeat all zero": (lambda m, a: m.repeat(a, 0).sum() + a.sum(), [V]),
    "tile": (lambda m, a: (m.tile(a, (2, 1, 2)) * weights((2, 3, 8))).sum(), [A]),
    "flip two axes": (lambda m, a: (m.flip(a, axis=(0, 2)) * weights((2, 3, 4))).sum(), [T3]),
    "moveaxis": (lambda m, a: (m.moveaxis(a, [0, 1], [-1, -2]) * weights((4, 3, 2))).sum(), [T3]),
    "trace offset": (lambda m, a: trace(m)(a, offset=1) ** 2 + trace(m)(a, offset=-2), [A]),
    "trace 3-D": (lambda m, a: (trace(m)(a, axis1=1, axis2=2) ** 2).sum(), [T3]),
    "diagonal 3-D": (lambda m, a: (m.diagonal(a, 1, 0, 2) ** 2).sum(), [T3]),
    "diag vector k": (lambda m, a: (m.diag(a, k=2) * weights((6, 6))).sum(), [V]),
    "triu 3-D": (lambda m, a: (m.triu(a, 1) ** 2).sum(), [T3]),
    "norm keepdims negative axis": (lambda m, a: (m.linalg.norm(a, axis=-2, keepdims=True) * weights((1, 4))).sum(),
                                    [A]),
    "norm matrix inf": (lambda m, a: m.linalg.norm(a, ord=np.inf) + m.linalg.norm(a, ord=-1), [A]),
    "norm ord 3": (lambda m, a: m.linalg.norm(a, ord=3), [V]),
    "norm over two axes": (lambda m, a: (m.linalg.norm(a, axis=(-2, -1)) * weights((2,))).sum(), [T3]),
    "var axes": (lambda m, a: (m.var(a, axis=(0, 2), ddof=1) * weights((3,))).sum(), [T3]),
    "std keepdims": (lambda m, a: (m.std(a, axis=-1, keepdims=True) * weights((3, 1))).sum(), [A]),
    "prod with zeros": (lambda m, a: m.prod(a) + m.prod(a[:3]), [np.array([1.0, 0.0, 3.0, 0.0])]),
    "cumprod with a zero": (lambda m, a: (m.cumprod(a) * weights((4,))).sum(), [np.array([2.0, 0.0, 3.0, 0.5])]),
    "cumsum axis": (lambda m, a: (m.cumsum(a, axis=-2) * weights((2, 3, 4))).sum(), [T3]),
    "mod arrays": (lambda m, a, b: (m.mod(a, b) * weights((3, 4))).sum(), [A * 5, np.array([1.5, -2.0, 0.7, -0.3])]),
}


@needs_jax
@pytest.mark.parametrize("case", sorted(MANIPULATIONS))
def test_manipulations_match_jax(case):
    fn, arrays = MANIPULATIONS[case]
    against_jax(fn, *arrays)


@needs_jax
def test_float32_new_ops_keep_float32_on_both_backends():
    x = np.array([0.1, 0.5, -2.0], np.float32)

    def f(x):
        return (gg.arctan2(x, x + 1) + gg.logaddexp(x, -x) + gg.mod(x, 0.3) + gg.erf(x) + gg.exp2(x)
                + gg.hypot(x, 2 * x) + gg.cumsum(x) + gg.sinc(x)).sum() + gg.prod(x) + gg.std(x)

    def jf(x):
        return (jnp.arctan2(x, x + 1) + jnp.logaddexp(x, -x) + jnp.mod(x, 0.3) + jax.scipy.special.erf(x)
                + jnp.exp2(x) + jnp.hypot(x, 2 * x) + jnp.cumsum(x) + jnp.sinc(x)).sum() + jnp.prod(x) + jnp.std(x)

    x64 = x.astype(np.float64)
    for value, grads in both(lambda b: gg.value_and_grad(f, backend=b, specs={"x": gg.Array((3,), "float32")}), x):
        assert grads["x"].dtype == np.float32
        np.testing.assert_allclose(value, float(jf(x64)), rtol=1e-5)
        np.testing.assert_allclose(grads["x"], np.asarray(jax.grad(jf)(x64)), rtol=1e-4)


def test_argmax_float32_nan_and_ties_follow_numpy():
    x = np.array([1.0, nan, 3.0, nan], np.float32)
    ties = np.array([3.0, 1.0, 3.0, -inf], np.float32)
    for b in BACKENDS:
        k = gg.compile(lambda x: (gg.argmax(x), gg.argmin(x)), backend=b, specs={"x": gg.Array((4,), "float32")})
        assert k(x) == (np.argmax(x), np.argmin(x))
        assert k(ties) == (np.argmax(ties), np.argmin(ties))


def test_split_with_indices_out_of_range_and_descending_follow_numpy():
    for idx in ([2, 10], [3, 1], [-1], [-10, 2], [5]):
        want = tuple(p.sum() * (i + 1) + p.size for i, p in enumerate(np.split(V, idx)))
        def pieces(x, idx=idx):
            return tuple(p.sum() * (i + 1) + p.size for i, p in enumerate(gg.split(x, idx)))

        for b in BACKENDS:
            np.testing.assert_allclose(gg.compile(pieces, backend=b, specs={"x": gg.Array((4,))})(V), want, rtol=1e-12)


# --- bugs: statistics, dtypes and error types ---------------------------------------------------------------

@pytest.mark.parametrize("ddof", [4, 5, 7])
def test_var_and_std_with_ddof_at_least_n_are_inf_as_in_numpy(ddof):
    # NumPy divides by max(n - ddof, 0): inf (with a warning), never a negative variance.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want_var, want_std = np.var(V, ddof=ddof), np.std(V, ddof=ddof)
    for var, std in both(lambda b: gg.compile(lambda x: (gg.var(x, ddof=ddof), gg.std(x, ddof=ddof)), backend=b,
                                              specs={"x": gg.Array((4,))}), V):
        same(var, want_var)
        same(std, want_std)


def test_pad_with_a_pair_of_constant_values_matches_numpy():
    want = np.pad(V, (1, 2), constant_values=(2.5, -1.0))
    for got in both(lambda b: gg.compile(lambda x: gg.pad(x, (1, 2), constant_values=(2.5, -1.0)), backend=b,
                                         specs={"x": gg.Array((4,))}), V):
        np.testing.assert_array_equal(got, want)


def test_prod_of_an_int64_array_matches_numpy():
    x = np.array([2, 3, -4])
    for got in both(lambda b: gg.compile(lambda x: (gg.prod(x), gg.cumprod(x)), backend=b,
                                         specs={"x": gg.Array((3,), "int64")}), x):
        assert got[0] == np.prod(x)
        np.testing.assert_array_equal(got[1], np.cumprod(x))


@pytest.mark.parametrize("fn", [lambda x: gg.tile(x, -1), lambda x: x // 2.0,
                                lambda x: np.argmax(x, axis=0, keepdims=True)],
                         ids=["tile negative", "floor division", "argmax keepdims"])
def test_numpy_a_user_writes_works_or_raises_a_gradgen_error(fn):
    x = np.array([1.5, -2.0, 3.0])
    with np.errstate(all="ignore"):
        try:
            want = fn(x)
        except ValueError:
            want = None
    for b in BACKENDS:
        if want is None:
            with pytest.raises(gg.GradgenError):
                gg.compile(fn, backend=b, specs={"x": gg.Array((3,))})(x)
            continue
        try:
            got = gg.compile(fn, backend=b, specs={"x": gg.Array((3,))})(x)
        except gg.GradgenError:
            continue
        np.testing.assert_array_equal(got, want)


# --- signatures: defaults, partials, has_aux, structured parameters -----------------------------------------

def loss(params, X):
    return ((X @ params["W"] + params["b"]) ** 2).sum()


W, B, X = RNG.normal(size=(3, 2)), RNG.normal(size=2), RNG.normal(size=(4, 3))
PARAMS_SPECS = {"params": {"W": gg.Array((3, 2)), "b": gg.Array((2,))}, "X": gg.Array((4, 3))}
@needs_jax
def test_structured_parameters_match_jax_and_check_their_structure():
    want = jax.grad(lambda p: ((X @ p["W"] + p["b"]) ** 2).sum())({"W": W, "b": B})
    for b in BACKENDS:
        k = gg.value_and_grad(loss, wrt="params", backend=b, specs=PARAMS_SPECS)
        value, grads = k(params={"W": W, "b": B}, X=X)
        np.testing.assert_allclose(grads["params"]["W"], want["W"], rtol=1e-12)
        np.testing.assert_allclose(grads["params"]["b"], want["b"], rtol=1e-12)
        assert set(gg.value_and_grad(loss, wrt="params.W", backend=b, specs=PARAMS_SPECS)(
            {"W": W, "b": B}, X)[1]["params"]) == {"W"}
        for bad, path in [({"W": W}, "params"), ({"W": W, "b": np.ones(3)}, "params.b"), ([W, B], "params")]:
            with pytest.raises(gg.InputError, match=path):
                k(bad, X)


def test_unchecked_on_a_structured_kernel_returns_what_a_checked_call_returns():
    # Kernel.unchecked: "exactly the kernel's positional arguments ... returns what a checked call returns".
    for b in BACKENDS:
        k = gg.value_and_grad(loss, wrt="params", backend=b, specs=PARAMS_SPECS)
        value, grads = k({"W": W, "b": B}, X)
        got_value, got_grads = k.unchecked({"W": W, "b": B}, X)
        assert got_value == value
        np.testing.assert_array_equal(got_grads["params"]["W"], grads["params"]["W"])
@needs_jax
def test_nested_lists_of_dicts_with_int_leaves_and_leaf_wrt():
    def mlp(layers, x, picks):
        for layer in layers:
            x = gg.tanh(x @ layer["W"] + layer["b"])
        return (x[picks["i"]] ** 2).sum()

    layers = [{"W": RNG.normal(size=(3, 3)), "b": RNG.normal(size=3)}, {"W": RNG.normal(size=(3, 2)), "b": B}]
    x, picks = RNG.normal(size=3), {"i": np.array([1, 1, 0])}
    specs = {"layers": [{"W": gg.Array((3, 3)), "b": gg.Array((3,))}, {"W": gg.Array((3, 2)), "b": gg.Array((2,))}],
             "x": gg.Array((3,)), "picks": {"i": gg.Array((3,), "int64")}}

    def jmlp(layers):
        h = jnp.asarray(x)
        for layer in layers:
            h = jnp.tanh(h @ layer["W"] + layer["b"])
        return (h[picks["i"]] ** 2).sum()

    want = jax.grad(jmlp)(layers)
    for b in BACKENDS:
        _, grads = gg.value_and_grad(mlp, backend=b, specs=specs)(tuple(layers), x, picks)
        assert "picks" not in grads
        for got, ref in zip(grads["layers"], want):
            np.testing.assert_allclose(got["W"], ref["W"], rtol=1e-12)
        _, leaf = gg.value_and_grad(mlp, wrt="layers.1.b", backend=b, specs=specs)(layers, x, picks)
        assert leaf == {"layers": [None, {"b": pytest.approx(np.asarray(want[1]["b"]), rel=1e-12)}]}
        with pytest.raises(gg.InputError, match="int64"):
            gg.value_and_grad(mlp, wrt="picks.i", backend=b, specs=specs)


@pytest.mark.parametrize(("tree", "value"), [({1: gg.Scalar(), "1": gg.Scalar()}, {1: 1.0, "1": 10.0}),
                                             ({"a.b": gg.Scalar(), "a": {"b": gg.Scalar()}},
                                              {"a.b": 1.0, "a": {"b": 10.0}})],
                         ids=["int and str keys", "dotted key"])
def test_structure_paths_that_collide_are_refused_or_kept_apart(tree, value):
    # p[1] and p["1"] (or p["a.b"] and p["a"]["b"]) both have the path "p.1" ("p.a.b"): the gradients must not
    # be merged into one (d/dp[1] = 2, d/dp["1"] = 3).
    first, second = list(tree)

    def f(p):
        inner = p[second]["b"] if isinstance(tree[second], dict) else p[second]
        return p[first] * 2.0 + inner * 3.0

    for b in BACKENDS:
        try:
            k = gg.value_and_grad(f, backend=b, specs={"p": tree})
        except gg.InputError:
            continue
        value_out, grads = k(value)
        assert value_out == 32.0
        inner = grads["p"][second]["b"] if isinstance(tree[second], dict) else grads["p"][second]
        assert (grads["p"][first], inner) == (2.0, 3.0)


def test_has_aux_with_structures_defaults_and_partials():
    def f(p, l2=0.1):
        return (p["w"] ** 2).sum() * l2, {"m": p["w"].mean(), "i": gg.argmax(p["w"]), "k": p["k"], "c": l2}

    w = np.array([0.5, -1.0, 2.0])
    specs = {"p": {"w": gg.Array((3,)), "k": gg.Scalar("int64")}}
    for b in BACKENDS:
        (value, aux), grads = gg.value_and_grad(f, backend=b, has_aux=True, specs=specs)({"w": w, "k": 4})
        assert aux == {"m": pytest.approx(w.mean()), "i": 2, "k": 4, "c": 0.1}
        np.testing.assert_allclose(grads["p"]["w"], 0.2 * w, rtol=1e-12)
        grads2, aux2 = gg.grad(functools.partial(f, l2=1.0), wrt="p", backend=b, has_aux=True, specs=specs)(
            {"w": w, "k": 4})
        np.testing.assert_allclose(grads2["p"]["w"], 2 * w, rtol=1e-12)
        assert aux2["c"] == 1.0
        with pytest.raises(gg.InputError, match="l2"):
            gg.value_and_grad(f, backend=b, has_aux=True, specs=specs)({"w": w, "k": 4}, 0.5)


WEIGHTS = np.array([1.0, 0.0, -1.0])


def test_partials_and_array_defaults():
    def g(a, x, w=WEIGHTS):
        return (a * x * w).sum()

    x = np.array([0.5, -1.0, 2.0])
    for b in BACKENDS:
        value, grads = gg.value_and_grad(functools.partial(g, 2.0), backend=b, specs={"x": gg.Array((3,))})(x)
        assert value == pytest.approx(-3.0) and list(grads) == ["x"]
        np.testing.assert_allclose(grads["x"], [2.0, 0.0, -2.0])
        nested = functools.partial(functools.partial(g, 3.0), x)
        value, grads = gg.value_and_grad(nested, backend=b, specs={"w": gg.Array((3,))})(x)
        np.testing.assert_allclose(grads["w"], 3.0 * x)
        (_, aux), _ = gg.value_and_grad(lambda x: ((x ** 2).sum(), x), backend=b, has_aux=True,
                                        specs={"x": gg.Array((3,))})(x)
        assert not np.shares_memory(aux, x)
