"""NumPy's elementwise functions in the DSL: their conventions at the edges, NumPy's spellings of them,
their gradients against JAX, and their SymPy forms. (Every op's value, gradient, JVP, NaN behaviour and
C spelling is checked by the registry-driven tests of test_op_registry and test_c_vs_python.)"""

from __future__ import annotations

import math

import numpy as np
import pytest

import gradgen as gg

BACKENDS = ["python", "c"]


def _named(fn, count: int):
    """``fn`` as a function of the named inputs x (and y), as a kernel traces it."""
    return (lambda x: fn(x)) if count == 1 else (lambda x, y: fn(x, y))


def _forward(fn, x: np.ndarray, backend: str, *rest: np.ndarray) -> np.ndarray:
    specs = {name: gg.Array(np.shape(v)) for name, v in zip("xy", (x, *rest))}
    return np.asarray(gg.compile(_named(fn, 1 + len(rest)), backend=backend, specs=specs)(x, *rest))


def _gradients(fn, backend: str, x: np.ndarray, y: np.ndarray | None = None) -> dict:
    """The gradient of sum(fn(x[, y])) wrt x (and y)."""
    values = {"x": x} if y is None else {"x": x, "y": y}
    specs = {name: gg.Array(np.shape(v)) for name, v in values.items()}
    loss = _named(lambda *a: gg.sum(fn(*a)), len(values))
    return gg.value_and_grad(loss, backend=backend, specs=specs)(**values)[1]


@pytest.mark.parametrize("backend", BACKENDS)
def test_remainders_and_rounding_follow_numpy_signs_and_ties(backend):
    a = np.array([-3.0, 3.0, -3.5, 3.5, 0.0, -0.0, 7.25, -7.25])
    b = np.array([2.0, -2.0, 2.0, -2.0, 3.0, -3.0, 0.5, 0.5])
    for fn, ref in ((lambda x, y: x % y, np.mod), (gg.fmod, np.fmod), (lambda x, y: x // y, np.floor_divide)):
        got = _forward(fn, a, backend, b)
        np.testing.assert_array_equal(got, ref(a, b))
        np.testing.assert_array_equal(np.signbit(got), np.signbit(ref(a, b)))  # signed zeros too
    ties = np.array([0.5, 1.5, 2.5, -0.5, -1.5, -0.4, 0.6, -2.6])
    for fn, ref in ((gg.rint, np.rint), (gg.floor, np.floor), (gg.ceil, np.ceil), (gg.trunc, np.trunc),
                    (gg.round, np.round), (lambda x: gg.round(x, 1), lambda x: np.round(x, 1))):
        got = _forward(fn, ties * 1.01, backend)
        np.testing.assert_array_equal(got, ref(ties * 1.01))
        np.testing.assert_array_equal(np.signbit(got), np.signbit(ref(ties * 1.01)))
    np.testing.assert_array_equal(_forward(gg.rint, ties, backend), [0.0, 2.0, 2.0, -0.0, -2.0, -0.0, 1.0, -3.0])
    # // is the quotient of %, as NumPy and Python compute it: 1.0 // 0.1 is 9 (floor(1.0 / 0.1) is 10)
    got = _forward(lambda x, y: x // y, np.array([1.0, -1.0, 0.7]), backend, np.array([0.1, 0.1, -0.1]))
    np.testing.assert_array_equal(got, [9.0, -10.0, -7.0])
    np.testing.assert_array_equal(got, np.floor_divide([1.0, -1.0, 0.7], [0.1, 0.1, -0.1]))
    np.testing.assert_array_equal(_forward(lambda x: gg.round(x, -1), np.array([15.0, 25.0, -35.0]), backend),
                                  np.round(np.array([15.0, 25.0, -35.0]), -1))


@pytest.mark.parametrize("backend", BACKENDS)
def test_rounding_has_zero_gradient_and_remainders_the_quotients(backend):
    x = np.array([0.3, -1.7, 2.2])
    for fn in (gg.floor, gg.ceil, gg.trunc, gg.rint, lambda v: gg.round(v, 2)):
        np.testing.assert_array_equal(_gradients(fn, backend, x)["x"], np.zeros(3))
    b = np.array([0.7, 0.7, -0.9])
    grads = _gradients(lambda p, q: p % q, backend, x, b)
    np.testing.assert_array_equal(grads["x"], np.ones(3))
    np.testing.assert_allclose(grads["y"], -np.floor(x / b), rtol=1e-15)
    grads = _gradients(gg.fmod, backend, x, b)
    np.testing.assert_allclose(grads["y"], -np.trunc(x / b), rtol=1e-15)


@pytest.mark.parametrize("backend", BACKENDS)
def test_logaddexp_hypot_and_sinc_at_their_edges(backend):
    inf = np.inf
    a = np.array([-inf, inf, 1000.0, -1000.0, 2.0, 0.0])
    b = np.array([-inf, inf, 1000.0, -999.0, -3.0, 0.0])
    np.testing.assert_array_equal(_forward(gg.logaddexp, a, backend, b), np.logaddexp(a, b))
    np.testing.assert_allclose(_forward(gg.logaddexp2, a, backend, b), np.logaddexp2(a, b), rtol=1e-15)
    finite = slice(2, None)
    grads = _gradients(gg.logaddexp, backend, a[finite], b[finite])
    share = np.exp(a[finite] - np.logaddexp(a[finite], b[finite]))
    np.testing.assert_allclose(grads["x"], share, rtol=1e-14)
    # a tie splits evenly (to the rounding of out = a + log 2 at 1000)
    np.testing.assert_allclose(grads["x"] + grads["y"], np.ones(4), rtol=1e-13)
    np.testing.assert_allclose(grads["x"][[0, 3]], [0.5, 0.5], rtol=1e-13)
    grads = _gradients(gg.hypot, backend, np.array([0.0, 3.0, 1e300]), np.array([0.0, -4.0, 1e300]))
    np.testing.assert_allclose(grads["x"], [0.0, 0.6, math.sqrt(0.5)], rtol=1e-15)  # no overflow, 0 at 0
    np.testing.assert_allclose(grads["y"], [0.0, -0.8, math.sqrt(0.5)], rtol=1e-15)
    x = np.array([0.0, 0.5, -1.25, 1e-9])
    np.testing.assert_allclose(_forward(gg.sinc, x, backend), np.sinc(x), rtol=1e-15)
    derivative = _gradients(gg.sinc, backend, x)["x"]
    assert derivative[0] == 0.0
    t = math.pi * x[1:]
    np.testing.assert_allclose(derivative[1:], (t * np.cos(t) - np.sin(t)) / (t * t) * math.pi, rtol=1e-7)


@pytest.mark.parametrize("backend", BACKENDS)
def test_clip_passes_the_gradient_inside_and_none_outside(backend):
    x = np.array([-2.0, -1.0, 0.3, 1.0, 4.0])
    np.testing.assert_array_equal(_forward(lambda v: gg.clip(v, -1.0, 1.0), x, backend), np.clip(x, -1.0, 1.0))
    np.testing.assert_array_equal(_gradients(lambda v: gg.clip(v, -1.0, 1.0), backend, x)["x"],
                                  [0.0, 0.5, 1.0, 0.5, 0.0])
    np.testing.assert_array_equal(_forward(lambda v: np.clip(v, None, 0.5), x, backend), np.clip(x, None, 0.5))
    with pytest.raises(gg.InputError, match="clip: give lower, upper or both"):
        gg.compile(lambda x: gg.clip(x), x=gg.Array((5,)))


def test_numpy_spellings_dispatch_to_the_dsl():
    """``np.<name>(traced)`` of every new function builds the same graph as ``gg.<name>``."""
    x = np.array([0.3, -0.6, 0.9])
    y = np.array([1.1, 0.4, -0.8])
    spelled = {
        "tan": np.tan, "sinh": np.sinh, "cosh": np.cosh, "arcsin": np.arcsin, "arccos": np.arccos,
        "arctan": np.arctan, "arcsinh": np.arcsinh, "arctanh": np.arctanh, "erf": None, "exp2": np.exp2,
        "log2": lambda v: np.log2(v * v), "log10": lambda v: np.log10(v * v), "floor": np.floor, "ceil": np.ceil,
        "trunc": np.trunc, "fix": np.fix, "rint": np.rint, "round": np.round, "around": np.around,
        "square": np.square, "reciprocal": np.reciprocal, "deg2rad": np.deg2rad, "radians": np.radians,
        "rad2deg": np.rad2deg, "degrees": np.degrees, "sinc": np.sinc, "clip": lambda v: np.clip(v, -0.5, 0.5),
        "arccosh": lambda v: np.arccosh(v * v + 1.5),
    }
    for name, fn in spelled.items():
        if fn is None:
            continue
        traced = gg.compile(_named(fn, 1), backend="python", x=gg.Array((3,)))
        with np.errstate(all="ignore"):
            np.testing.assert_allclose(traced(x), fn(x), rtol=1e-15, err_msg=name)
    pairs = {"arctan2": np.arctan2, "hypot": np.hypot, "logaddexp": np.logaddexp, "logaddexp2": np.logaddexp2,
             "remainder": np.remainder, "mod": np.mod, "fmod": np.fmod}
    for name, fn in pairs.items():
        traced = gg.compile(_named(fn, 2), backend="python", x=gg.Array((3,)), y=gg.Array((3,)))
        np.testing.assert_allclose(traced(x, y), fn(x, y), rtol=1e-15, err_msg=name)
    erf = gg.compile(gg.erf, backend="python", x=gg.Array((3,)))
    np.testing.assert_allclose(erf(x), [math.erf(v) for v in x], rtol=1e-15)


def test_gradients_match_jax():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    jnp = jax.numpy
    unary = {
        gg.tan: jnp.tan, gg.sinh: jnp.sinh, gg.cosh: jnp.cosh, gg.arcsin: jnp.arcsin, gg.arccos: jnp.arccos,
        gg.arctan: jnp.arctan, gg.arcsinh: jnp.arcsinh, gg.arctanh: jnp.arctanh, gg.erf: jax.scipy.special.erf,
        gg.exp2: jnp.exp2, gg.square: jnp.square, gg.reciprocal: jnp.reciprocal, gg.deg2rad: jnp.deg2rad,
        gg.rad2deg: jnp.rad2deg, gg.sinc: jnp.sinc,
    }
    x = np.array([0.31, -0.62, 0.85, -0.07])
    for backend in BACKENDS:
        for ours, theirs in unary.items():
            grads = _gradients(lambda v, f=ours: f(v) * (v + 2.0), backend, x)
            expected = jax.grad(lambda v, f=theirs: jnp.sum(f(v) * (v + 2.0)))(x)
            np.testing.assert_allclose(grads["x"], expected, rtol=1e-13, atol=1e-15,
                                       err_msg=f"{ours.__name__} {backend}")
        positive = x * x + 1.2
        for ours, theirs in ((gg.arccosh, jnp.arccosh), (gg.log2, jnp.log2), (gg.log10, jnp.log10)):
            grads = _gradients(ours, backend, positive)
            expected = jax.grad(lambda v, f=theirs: jnp.sum(f(v)))(positive)
            np.testing.assert_allclose(grads["x"], expected, rtol=1e-13)
        y = np.array([1.3, 0.4, -0.9, -2.0])
        for ours, theirs in ((gg.arctan2, jnp.arctan2), (gg.hypot, jnp.hypot), (gg.logaddexp, jnp.logaddexp),
                             (gg.logaddexp2, jnp.logaddexp2), (lambda a, b: a % b, jnp.mod), (gg.fmod, jnp.fmod)):
            grads = _gradients(lambda a, b, f=ours: f(a, b) * a, backend, x, y)
            expected = jax.grad(lambda a, b, f=theirs: jnp.sum(f(a, b) * a), argnums=(0, 1))(x, y)
            for name, want in zip("xy", expected):
                np.testing.assert_allclose(grads[name], want, rtol=1e-13, atol=1e-15)


def test_sympy_forms_of_the_new_functions():
    sp = pytest.importorskip("sympy")
    expr = gg.to_sympy(lambda x, y: gg.tan(x) + gg.arctan2(y, x) + gg.erf(x) + gg.hypot(x, y) + gg.log2(y)
                       + gg.floor(x) + x % y, x=gg.Scalar(), y=gg.Scalar())
    x, y = sp.symbols("x y", real=True)
    expected = (sp.tan(x) + sp.atan2(y, x) + sp.erf(x) + sp.sqrt(x**2 + y**2) + sp.log(y) / sp.log(2)
                + sp.floor(x) + sp.Mod(x, y))
    assert sp.simplify(expr - expected) == 0
    with pytest.raises(gg.GraphError, match="no SymPy form for op 'rint'"):
        gg.to_sympy(lambda x: gg.rint(x), x=gg.Scalar())


def test_the_readme_lists_every_dsl_function_by_family_as_the_catalog_does():
    from pathlib import Path

    from gradgen.ops import functions
    from gradgen.ops.catalog import FAMILIES, catalog_markdown

    listed = [name for names in FAMILIES.values() for name in names]
    assert len(listed) == len(set(listed)), "a function in two families"
    public = set(gg.__all__) & (set(functions.__all__) | {"scan", "fori_loop", "cast", "broadcast_to"})
    public |= {f"linalg.{name}" for name in gg.linalg.__all__ if name != "norm" and not name.endswith("Result")}
    assert set(listed) == public
    readme = (Path(gg.__file__).resolve().parents[1] / "README.md").read_text()
    assert catalog_markdown() in readme, "run python -m gradgen.ops.catalog and paste its list into the README"


def test_numpy_shape_ndim_and_size_read_a_traced_value():
    f = gg.compile(lambda x: x * (np.shape(x)[1] + np.ndim(x) + np.size(x)), backend="python", x=gg.Array((2, 3)))
    np.testing.assert_array_equal(f(np.ones((2, 3))), np.full((2, 3), 11.0))
