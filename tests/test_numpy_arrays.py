"""NumPy's array manipulation, statistics, norms and vector products in the DSL, each case against NumPy
itself (the same function on plain arrays is NumPy's), on both backends, with its gradient against central
differences and, where installed, JAX."""

from __future__ import annotations

import zlib

import numpy as np
import pytest

import gradgen as gg

CASES = {
    "ravel": (lambda x: gg.ravel(x) * np.arange(6.0), [(2, 3)]),
    "flatten method": (lambda x: x.flatten() * np.arange(6.0), [(2, 3)]),
    "squeeze": (lambda x: gg.squeeze(x), [(1, 3, 1)]),
    "squeeze axis": (lambda x: gg.squeeze(x, axis=2), [(1, 3, 1)]),
    "expand_dims": (lambda x: gg.expand_dims(x, (0, 2)), [(2, 3)]),
    "swapaxes": (lambda x: gg.swapaxes(x, 0, -1), [(2, 3, 4)]),
    "moveaxis": (lambda x: gg.moveaxis(x, 0, -1), [(2, 3, 4)]),
    "moveaxis two": (lambda x: gg.moveaxis(x, [0, 1], [2, 0]), [(2, 3, 4)]),
    "atleast_2d": (lambda x: gg.atleast_2d(x), [(3,)]),
    "atleast_3d": (lambda x: gg.atleast_3d(x), [(2, 3)]),
    "hstack": (lambda x, y: gg.hstack([x, y]), [(2, 3), (2, 1)]),
    "hstack 1-D": (lambda x, y: np.hstack([x, y]), [(3,), (2,)]),
    "vstack": (lambda x, y: gg.vstack([x, y]), [(3,), (2, 3)]),
    "column_stack": (lambda x, y: gg.column_stack([x, y]), [(3,), (3, 2)]),
    "dstack": (lambda x, y: np.dstack([x, y]), [(2, 3), (2, 3)]),
    "split": (lambda x: gg.stack(gg.split(x, 3)), [(6, 2)]),
    "array_split": (lambda x: gg.concatenate(gg.array_split(x, 3)[::-1]), [(7,)]),
    "hsplit": (lambda x: gg.hsplit(x, 2)[1], [(2, 4)]),
    "vsplit": (lambda x: gg.vsplit(x, [1, 3])[1], [(4, 2)]),
    "flip": (lambda x: gg.flip(x), [(2, 3)]),
    "flip axis": (lambda x: np.flip(x, 1), [(2, 3)]),
    "fliplr": (lambda x: gg.fliplr(x), [(2, 3)]),
    "flipud": (lambda x: gg.flipud(x), [(2, 3)]),
    "roll": (lambda x: gg.roll(x, 2), [(5,)]),
    "roll axes": (lambda x: gg.roll(x, (1, -1), axis=(0, 1)), [(2, 3)]),
    "roll flat": (lambda x: np.roll(x, 4), [(2, 3)]),
    "tile": (lambda x: gg.tile(x, (2, 1, 2)), [(2, 3)]),
    "repeat": (lambda x: gg.repeat(x, 2, axis=1), [(2, 3)]),
    "repeat counts": (lambda x: x.repeat(np.array([1, 0, 2])), [(3,)]),
    "tril": (lambda x: gg.tril(x, 1), [(3, 4)]),
    "triu batched": (lambda x: np.triu(x, -1), [(2, 3, 3)]),
    "diag of a vector": (lambda x: gg.diag(x, 1), [(3,)]),
    "diag below": (lambda x: gg.diag(x, -2), [(3,)]),
    "diag of a matrix": (lambda x: gg.diag(x, 1), [(3, 4)]),
    "diagonal": (lambda x: gg.diagonal(x, -1, 2, 0), [(2, 3, 4)]),
    "trace": (lambda x: np.trace(x), [(3, 3)]),
    "trace method": (lambda x: x.trace(offset=1), [(3, 4)]),
    "pad": (lambda x: gg.pad(x, ((1, 0), (2, 1)), constant_values=1.5), [(2, 3)]),
    "pad one width": (lambda x: np.pad(x, 1), [(2, 2)]),
    "eye": (lambda x: x * gg.eye(3, 4, 1), [(3, 4)]),
    "var": (lambda x: gg.var(x, axis=1, ddof=1), [(3, 4)]),
    "var method": (lambda x: x.var(), [(3, 4)]),
    "std": (lambda x: np.std(x, axis=0, keepdims=True), [(3, 4)]),
    "norm": (lambda x: gg.norm(x), [(3, 4)]),
    "norm 1": (lambda x: gg.linalg.norm(x, 1), [(5,)]),
    "norm inf": (lambda x: np.linalg.norm(x, np.inf), [(5,)]),
    "norm -inf": (lambda x: gg.norm(x, -np.inf), [(5,)]),
    "norm 3 over an axis": (lambda x: gg.norm(x, 3, axis=1, keepdims=True), [(3, 4)]),
    "norm fro": (lambda x: gg.norm(x, "fro"), [(3, 4)]),
    "norm matrix 1": (lambda x: gg.norm(x, 1), [(3, 4)]),
    "norm matrix inf": (lambda x: np.linalg.norm(x, np.inf), [(3, 4)]),
    "norm matrix -1 axes": (lambda x: gg.norm(x, -1, axis=(2, 0)), [(3, 2, 4)]),
    "norm spectral": (lambda x: gg.linalg.norm(x, 2), [(3, 4)]),
    "norm smallest singular value": (lambda x: np.linalg.norm(x, -2, axis=(1, 0), keepdims=True), [(4, 3)]),
    "norm nuclear": (lambda x: gg.norm(x, "nuc"), [(3, 3)]),
    "norm spectral of a stack": (lambda x: gg.norm(x, 2, axis=(2, 0), keepdims=True), [(3, 2, 4)]),
    "outer": (lambda x, y: gg.outer(x, y), [(3,), (2, 2)]),
    "inner": (lambda x, y: gg.inner(x, y), [(2, 3), (4, 3)]),
    "inner 1-D": (lambda x, y: np.inner(x, y), [(3,), (3,)]),
    "vdot": (lambda x, y: gg.vdot(x, y), [(2, 3), (3, 2)]),
    "kron": (lambda x, y: gg.kron(x, y), [(2, 2), (2, 3)]),
    "kron mixed": (lambda x, y: np.kron(x, y), [(3,), (2, 2)]),
    "dot method": (lambda x, y: x.dot(y), [(2, 3), (3,)]),
    "cumsum": (lambda x: gg.cumsum(x, axis=1), [(2, 4)]),
    "cumsum flat": (lambda x: np.cumsum(x), [(2, 3)]),
    "cumprod": (lambda x: x.cumprod(axis=0), [(3, 2)]),
    "prod": (lambda x: gg.prod(x, axis=1), [(3, 4)]),
    "prod all keepdims": (lambda x: np.prod(x, keepdims=True), [(2, 3)]),
    "prod axes": (lambda x: x.prod(axis=(0, 2)), [(2, 3, 2)]),
    "dot beyond 2-D": (lambda x, y: np.dot(x, y), [(2, 3, 4), (2, 4, 3)]),
    "einsum batched": (lambda x, y: gg.einsum("bij,bjk->bik", x, y), [(2, 3, 4), (2, 4, 2)]),
    "einsum matrix product": (lambda x, y: np.einsum("ij,kj->ik", x, y), [(3, 4), (2, 4)]),
    "einsum diagonal": (lambda x: gg.einsum("ii->i", x), [(3, 3)]),
    "einsum implicit": (lambda x, y: gg.einsum("ijk,ikl", x, y), [(2, 3, 4), (2, 4, 2)]),
    "einsum three": (lambda x, y: gg.einsum("ij,jk,ki->", x, y, x.T), [(2, 3), (3, 3)]),
    "einsum outer sum": (lambda x, y: gg.einsum("i,jk->ij", x, y), [(3,), (2, 4)]),
    "tensordot": (lambda x, y: gg.tensordot(x, y, axes=([1, 2], [2, 1])), [(2, 3, 4), (5, 4, 3)]),
    "tensordot int": (lambda x, y: np.tensordot(x, y, 1), [(2, 3), (3, 4)]),
    "matmul batched": (lambda x, y: x @ y, [(2, 1, 3, 4), (3, 4, 2)]),
    "matmul vector and stack": (lambda x, y: x @ y, [(4,), (2, 4, 3)]),
    "matmul stack and vector": (lambda x, y: gg.matmul(x, y), [(2, 3, 4), (4,)]),
    "clip method": (lambda x: x.clip(-0.5, 0.5), [(2, 3)]),
    "activations as methods": (lambda x: x.relu() + x.exp() + (x * x + 1.0).log() + x.tanh() + x.sigmoid(),
                               [(2, 3)]),
}
#: The NumPy result of the cases whose plain-array path is not NumPy's (NumPy arrays have no .relu()).
REFERENCES = {
    "activations as methods": lambda x: np.maximum(x, 0.0) + np.exp(x) + np.log(x * x + 1.0) + np.tanh(x)
    + 1.0 / (1.0 + np.exp(-x)),
}


def _inputs(name: str, shapes: list) -> dict:
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    return {f"x{k}": rng.uniform(-2.0, 2.0, shape) for k, shape in enumerate(shapes)}


def _named(fn, count: int):
    return (lambda x0: fn(x0)) if count == 1 else (lambda x0, x1: fn(x0, x1))


def _loss(fn, count: int, weights: np.ndarray):
    return (lambda x0: gg.sum(fn(x0) * weights)) if count == 1 else (lambda x0, x1: gg.sum(fn(x0, x1) * weights))


@pytest.mark.parametrize("backend", ["python", "c"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_each_function_matches_numpy_and_central_differences(name, backend):
    fn, shapes = CASES[name]
    reference = REFERENCES.get(name, fn)  # the plain-array path is NumPy's own function
    values = _inputs(name, shapes)
    expected = np.asarray(reference(*values.values()))
    specs = {k: gg.Array(v.shape) for k, v in values.items()}
    got = gg.compile(_named(fn, len(shapes)), backend=backend, specs=specs)(**values)
    np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-13, atol=1e-14)
    assert np.shape(got) == expected.shape
    weights = np.random.default_rng(1).normal(size=expected.shape)
    loss = _loss(fn, len(shapes), weights)
    _, grads = gg.value_and_grad(loss, backend=backend, specs=specs)(**values)
    for k, x in values.items():
        central = np.zeros(x.shape)
        for i in range(x.size):
            probe = []
            for step in (1e-6, -1e-6):
                moved = {**values, k: x.copy()}
                moved[k].flat[i] += step
                probe.append(float(np.sum(np.asarray(reference(*moved.values())) * weights)))
            central.flat[i] = (probe[0] - probe[1]) / 2e-6
        np.testing.assert_allclose(grads[k], central, rtol=1e-6, atol=1e-7, err_msg=f"d/d{k}")


def test_gradients_match_jax():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    jnp = jax.numpy
    pairs = {
        "roll axes": lambda x: jnp.roll(x, (1, -1), axis=(0, 1)), "tile": lambda x: jnp.tile(x, (2, 1, 2)),
        "repeat": lambda x: jnp.repeat(x, 2, axis=1), "diag below": lambda x: jnp.diag(x, -2),
        "diagonal": lambda x: jnp.diagonal(x, -1, 2, 0), "pad": lambda x: jnp.pad(x, ((1, 0), (2, 1)),
                                                                                  constant_values=1.5),
        "var": lambda x: jnp.var(x, axis=1, ddof=1), "std": lambda x: jnp.std(x, axis=0, keepdims=True),
        "norm 3 over an axis": lambda x: jnp.linalg.norm(x, 3, axis=1, keepdims=True),
        "norm matrix -1 axes": lambda x: jnp.linalg.norm(x, -1, axis=(2, 0)),
        "kron": lambda x, y: jnp.kron(x, y), "inner": lambda x, y: jnp.inner(x, y),
        "triu batched": lambda x: jnp.triu(x, -1),
        "einsum batched": lambda x, y: jnp.einsum("bij,bjk->bik", x, y),
        "einsum three": lambda x, y: jnp.einsum("ij,jk,ki->", x, y, x.T),
        "tensordot": lambda x, y: jnp.tensordot(x, y, axes=([1, 2], [2, 1])),
        "matmul batched": lambda x, y: x @ y, "dot beyond 2-D": lambda x, y: jnp.dot(x, y),
        "cumsum": lambda x: jnp.cumsum(x, axis=1), "cumprod": lambda x: jnp.cumprod(x, axis=0),
        "prod axes": lambda x: jnp.prod(x, axis=(0, 2)),
    }
    for name, theirs in pairs.items():
        fn, shapes = CASES[name]
        values = _inputs(name, shapes)
        weights = np.random.default_rng(1).normal(size=np.shape(fn(*values.values())))
        specs = {k: gg.Array(v.shape) for k, v in values.items()}
        _, grads = gg.value_and_grad(_loss(fn, len(shapes), weights), backend="c", specs=specs)(**values)
        expected = jax.grad(lambda *a, f=theirs, w=weights: jnp.sum(f(*a) * w), argnums=tuple(range(len(shapes))))(
            *values.values())
        for k, want in zip(values, expected):
            np.testing.assert_allclose(grads[k], np.asarray(want), rtol=1e-12, atol=1e-14, err_msg=name)


@pytest.mark.parametrize("backend", ["python", "c"])
def test_std_and_norm_have_gradient_zero_where_the_formula_is_zero_over_zero(backend):
    """JAX gives NaN here (sqrt'(0) times 0); the subgradient 0 keeps a model training."""
    equal = np.full((2, 3), 0.5)
    for fn in (lambda x: gg.std(x), lambda x: gg.norm(x - 0.5), lambda x: gg.norm(x - 0.5, axis=1)):
        kernel = gg.value_and_grad(_loss(fn, 1, np.ones(np.shape(fn(equal)))), backend=backend,
                                   x0=gg.Array((2, 3)))
        value, grads = kernel(equal)
        assert value == 0.0
        np.testing.assert_array_equal(grads["x0"], np.zeros((2, 3)))


def test_bad_arguments_are_named():
    x = gg.Array((2, 3))
    for fn, message in (
            (lambda v: gg.squeeze(v, 1), "squeeze: axis 1 of shape \\(2, 3\\) has length 3, not 1"),
            (lambda v: gg.split(v, 4, axis=1), "split: axis 1 of length 3 does not divide into 4"),
            (lambda v: gg.pad(v, 1, mode="reflect"), "pad: only mode='constant'"),
            (lambda v: gg.norm(v, 3), "ord=3 is no matrix norm"),
            (lambda v: gg.norm(v, "fro", axis=1), "matrix norm"),
            (lambda v: gg.repeat(v, [1, 2]), "repeat: repeats must be a non-negative int or 6 of them"),
            (lambda v: gg.moveaxis(v, 0, (0, 1)), "moveaxis: 1 source axes but 2 destinations"),
            (lambda v: gg.roll(v, (1, 2, 3), axis=(0, 1)), "roll: 3 shifts for 2 axes"),
            (lambda v: gg.hstack(v), "hstack: give a non-empty list or tuple of arrays"),
            (lambda v: gg.diag(gg.reshape(v, (1, 2, 3))), "diag: needs a 1-D or 2-D array"),
            (lambda v: gg.einsum("ij,jk->ik", v, v), "einsum 'ij,jk->ik': axis 'j' has length 3 and 2"),
            (lambda v: gg.einsum("ijk", v), "operand 0 has 2 axes, its subscripts 'ijk' name 3"),
            (lambda v: gg.einsum("...j->j", v), "stands for 1 axes, which the output must keep: write ..."),
            (lambda v: gg.einsum("...ijk", v), "operand 0 has 2 axes, fewer than its subscripts '...ijk' name"),
            (lambda v: gg.einsum("ij->k", v), "the output 'k' must name distinct letters of the inputs"),
            (lambda v: gg.tensordot(v, v, axes=([0], [0, 1])), "tensordot: 1 axes of a against 2 of b"),
            (lambda v: gg.reshape(v, (1, 2, 3)) @ gg.reshape(v, (3, 2)).T, "do not fit"),
            (lambda v: gg.matmul(v, 2.0), "operands must have at least one axis")):
        with pytest.raises(gg.GradgenError, match=message):
            gg.compile(_named(fn, 1), x0=x)


@pytest.mark.parametrize("backend", ["python", "c"])
def test_products_with_zeros_have_exact_gradients(backend):
    """prod / x, the textbook gradient, is NaN at a zero; the loop's own gradient is exact."""
    kernel = gg.value_and_grad(lambda x: gg.prod(x), backend=backend, x=gg.Array((3,)))
    assert kernel(np.array([2.0, 0.0, 3.0])) == (0.0, {"x": pytest.approx(np.array([0.0, 6.0, 0.0]))})
    value, grads = kernel(np.array([0.0, 0.0, 3.0]))
    np.testing.assert_array_equal(grads["x"], np.zeros(3))
    running = gg.value_and_grad(lambda x: gg.sum(gg.cumprod(x)), backend=backend, x=gg.Array((3,)))
    value, grads = running(np.array([2.0, 0.0, 3.0]))  # 2 + 0 + 0
    assert value == 2.0
    np.testing.assert_array_equal(grads["x"], [1.0, 2.0 + 6.0, 0.0])
    assert gg.compile(lambda x: gg.prod(x, axis=0), backend=backend, x=gg.Array((0, 2)))(np.zeros((0, 2))).tolist() \
        == [1.0, 1.0]


@pytest.mark.parametrize("backend", ["python", "c"])
def test_argmax_and_argmin_follow_numpy_ties_and_nans(backend):
    x = np.array([[1.0, 3.0, 3.0, -2.0], [np.nan, 0.0, np.nan, 5.0], [-1.0, -1.0, -4.0, -4.0]])
    for ours, theirs in ((gg.argmax, np.argmax), (gg.argmin, np.argmin)):
        for axis in (None, 0, 1, -1):
            got = gg.compile(lambda v, f=ours, a=axis: f(v, a) if a is not None else f(v), backend=backend,
                             v=gg.Array((3, 4)))(x)
            np.testing.assert_array_equal(got, theirs(x, axis) if axis is not None else theirs(x))
            assert np.asarray(got).dtype == np.int64
    labels = gg.compile(lambda v: v.argmax(axis=1), backend=backend, v=gg.Array((3, 4)))(np.nan_to_num(x))
    np.testing.assert_array_equal(labels, np.argmax(np.nan_to_num(x), axis=1))
    with pytest.raises(gg.ShapeError, match="argmax: axis 0 of shape \\(0, 3\\) has length 0"):
        gg.compile(lambda v: gg.argmax(v, 0), v=gg.Array((0, 3)))


ELLIPSIS_CASES = [("...ij,...jk->...ik", (2, 3, 4), (2, 4, 5)), ("...ij,...jk", (3, 4), (1, 4, 2)),
                  ("...ij,...jk->...ik", (2, 3, 4), (1, 4, 5)), ("i...->...", (3, 2, 2)), ("...ii->...i", (2, 3, 3)),
                  ("...i,...i->...", (2, 3), (2, 3)), ("ij...,j->i...", (3, 4, 2), (4,)), ("...", (2, 3))]


@pytest.mark.parametrize("backend", ["python", "c"])
@pytest.mark.parametrize("case", ELLIPSIS_CASES, ids=[c[0] for c in ELLIPSIS_CASES])
def test_einsum_with_ellipses_broadcasts_as_numpy_and_differentiates(backend, case):
    subscripts, *shapes = case
    rng = np.random.default_rng(len(subscripts))
    operands = [rng.normal(size=shape) for shape in shapes]
    names = [f"x{k}" for k in range(len(shapes))]
    specs = {n: gg.Array(shape) for n, shape in zip(names, shapes)}
    traced = _named(lambda *xs: gg.einsum(subscripts, *xs), len(shapes))
    got = gg.compile(traced, backend=backend, specs=specs)(*operands)
    expected = np.einsum(subscripts, *operands)
    assert np.shape(got) == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-13, atol=1e-14)
    weights = rng.normal(size=expected.shape)
    loss = _named(lambda *xs: gg.sum(gg.einsum(subscripts, *xs) * weights), len(shapes))
    _, grads = gg.value_and_grad(loss, backend=backend, specs=specs)(*operands)
    for k, name in enumerate(names):
        numeric = np.zeros(shapes[k])
        for index in np.ndindex(shapes[k]):
            step = np.zeros(shapes[k])
            step[index] = 1e-6
            up = [o + step if j == k else o for j, o in enumerate(operands)]
            down = [o - step if j == k else o for j, o in enumerate(operands)]
            numeric[index] = (np.sum(np.einsum(subscripts, *up) * weights)
                              - np.sum(np.einsum(subscripts, *down) * weights)) / 2e-6
        np.testing.assert_allclose(grads[name], numeric, rtol=1e-7, atol=1e-9, err_msg=name)
