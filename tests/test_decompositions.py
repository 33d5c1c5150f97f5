"""gg.linalg.eigh, eigvalsh, svd and svdvals on both backends, the C one both ways: calling LAPACK (a
kernel that links the BLAS) and by its own Jacobi routines (as exported kernels, or without the BLAS).

Values against NumPy (and the decompositions against their definitions), gradients and Hessians against
JAX (x64) and central differences, C against Python; a repeated eigenvalue leaves the eigenvalues'
gradient exact and makes the eigenvectors' an InputError on both backends (and a documented status in
an exported kernel); arguments NumPy would take but no derivative can follow are refused by name.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gradgen as gg
from gradgen.inspect.export import export_c
from gradgen.ops.decompositions import column_signs
from tests.test_export import _run, needs_cc

jax.config.update("jax_enable_x64", True)
BACKENDS = ["python", "c", "c-jacobi"]


@pytest.fixture
def backend(request, monkeypatch):
    """The backend of a test parametrized over BACKENDS; "c-jacobi" is the C backend without the BLAS."""
    if request.param == "c-jacobi":
        monkeypatch.setattr("gradgen.runtime.kernel.find_blas", lambda: None)
    return request.param.split("-")[0]
WEIGHTS = np.arange(1.0, 17.0).reshape(4, 4) / 7.0


def _symmetric(n: int, seed: int) -> np.ndarray:
    """A random symmetric matrix with eigenvalues about 1 apart, stored in full but for noise above the
    diagonal (only the lower triangle is read)."""
    rng = np.random.default_rng(seed)
    q = np.linalg.qr(rng.normal(size=(n, n)))[0]
    a = (q * (np.arange(n) - 1.3 + rng.uniform(-0.2, 0.2, n))) @ q.T
    return a + np.triu(rng.uniform(-5.0, 5.0, (n, n)), 1)


def _lower(a, np=np):
    """The symmetric matrix the lower triangle of ``a`` stands for (what NumPy's eigh reads)."""
    return np.tril(a) + np.tril(a, -1).T


def spectral(a, m, np=np, linalg=gg.linalg):
    """Eigen- and singular decompositions in every term a sign choice cannot change (JAX's signs are its
    own), each weighted differently."""
    w, v = linalg.eigh(a)
    u, s, vt = linalg.svd(m, full_matrices=False)
    projector = (u * s) @ vt  # m itself
    return (np.sum(w * np.arange(1.0, 5.0)) + np.sum(v * v * WEIGHTS) + np.sum(s ** 3) + np.sum(projector * m)
            + np.sum((u @ u.T) * np.arange(25.0).reshape(5, 5)) + np.sum((vt.T @ np.diag(s) @ vt) * WEIGHTS[:3, :3]))


def spectral_jax(a, m):
    w, v = jnp.linalg.eigh(_lower(a, jnp), symmetrize_input=False)
    u, s, vt = jnp.linalg.svd(m, full_matrices=False)
    return (jnp.sum(w * jnp.arange(1.0, 5.0)) + jnp.sum(v * v * WEIGHTS) + jnp.sum(s ** 3)
            + jnp.sum(((u * s) @ vt) * m) + jnp.sum((u @ u.T) * jnp.arange(25.0).reshape(5, 5))
            + jnp.sum((vt.T @ jnp.diag(s) @ vt) * WEIGHTS[:3, :3]))


def signed(a, m):
    """Terms that do depend on the signs gradgen fixes (against central differences of itself)."""
    w, v = gg.linalg.eigh(a)
    u, s, vt = gg.linalg.svd(m, full_matrices=False)
    wide = gg.linalg.svd(m.T, full_matrices=False)
    return (gg.sum(v ** 3 * WEIGHTS) + gg.sum(u * np.arange(15.0).reshape(5, 3)) + gg.sum(vt ** 3)
            + gg.sum(wide.U * WEIGHTS[:3, :3]) + gg.sum(wide.Vh ** 3) + gg.sum(w ** 2))


SPECS = {"a": gg.Array((4, 4)), "m": gg.Array((5, 3))}


def _arguments(seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    u, v = np.linalg.qr(rng.normal(size=(5, 3)))[0], np.linalg.qr(rng.normal(size=(3, 3)))[0]
    return {"a": _symmetric(4, seed), "m": (u * np.array([3.1, 0.6, 1.8])) @ v.T}


def _central_differences(f, args: dict, name: str, h: float = 1e-6) -> np.ndarray:
    grad = np.zeros_like(args[name])
    for i in np.ndindex(grad.shape):
        step = np.zeros_like(grad)
        step[i] = h
        grad[i] = (f(**{**args, name: args[name] + step}) - f(**{**args, name: args[name] - step})) / (2 * h)
    return grad


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
@pytest.mark.parametrize("shape", [(5, 3), (3, 3), (2, 4)])
def test_decompositions_are_what_they_claim(backend, shape):
    a = _symmetric(4, 1)
    m = np.random.default_rng(2).normal(size=shape)
    f = gg.compile(lambda a, m: (*gg.linalg.eigh(a), *gg.linalg.svd(m, full_matrices=False), gg.linalg.svdvals(m),
                                 gg.linalg.eigvalsh(a, UPLO="U")),
                   backend=backend, a=gg.Array((4, 4)), m=gg.Array(shape))
    w, v, u, s, vt, values, upper = f(a, m)
    np.testing.assert_allclose(w, np.linalg.eigvalsh(a), rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(_lower(a) @ v, v * w, atol=1e-12)
    np.testing.assert_allclose(v.T @ v, np.eye(4), atol=1e-13)
    np.testing.assert_array_equal(column_signs(v), np.ones(4))
    np.testing.assert_allclose(upper, np.linalg.eigvalsh(a, UPLO="U"), rtol=1e-13, atol=1e-13)
    k = min(shape)
    assert (u.shape, s.shape, vt.shape) == ((shape[0], k), (k,), (k, shape[1]))
    np.testing.assert_allclose(s, np.linalg.svd(m, compute_uv=False), rtol=1e-13)
    np.testing.assert_array_equal(values, s)
    np.testing.assert_allclose((u * s) @ vt, m, atol=1e-13)
    np.testing.assert_allclose(u.T @ u, np.eye(k), atol=1e-13)
    np.testing.assert_allclose(vt @ vt.T, np.eye(k), atol=1e-13)
    np.testing.assert_array_equal(column_signs(u if shape[0] >= shape[1] else vt.T), np.ones(k))


def test_concrete_arguments_fix_signs_as_traced_ones_do():
    args = _arguments(3)
    traced = gg.compile(lambda a, m: (*gg.linalg.eigh(a), *gg.linalg.svd(m, full_matrices=False)),
                        backend="python", specs=SPECS)(**args)
    plain = (*gg.linalg.eigh(args["a"]), *gg.linalg.svd(args["m"], full_matrices=False))
    for got, want in zip(plain, traced):
        np.testing.assert_allclose(got, want, rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
def test_gradients_agree_with_jax(backend):
    args = _arguments(4)
    value, grads = gg.value_and_grad(spectral, backend=backend, specs=SPECS)(**args)
    assert value == pytest.approx(float(spectral_jax(**args)), rel=1e-13)
    expected = jax.grad(spectral_jax, argnums=(0, 1))(args["a"], args["m"])
    for name, want in zip("am", expected):
        np.testing.assert_allclose(grads[name], np.asarray(want), rtol=1e-10, atol=1e-10, err_msg=f"dJ/d{name}")
    assert np.all(np.triu(grads["a"], 1) == 0.0)  # the upper triangle is not read


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
def test_gradients_of_sign_fixed_vectors_match_central_differences(backend):
    args = _arguments(5)
    value, grads = gg.value_and_grad(signed, backend=backend, specs=SPECS)(**args)
    assert value == pytest.approx(signed(**args), rel=1e-12)
    for name in args:
        np.testing.assert_allclose(grads[name], _central_differences(signed, args, name), rtol=1e-6, atol=1e-6,
                                   err_msg=f"dJ/d{name}")


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
def test_hessians_agree_with_jax(backend):
    args = _arguments(6)

    def f(a, m):
        return gg.sum(gg.linalg.eigvalsh(a) ** 3) + gg.sum(gg.linalg.svdvals(m) ** 3)

    def f_jax(a, m):
        return (jnp.sum(jnp.linalg.eigvalsh(_lower(a, jnp)) ** 3)
                + jnp.sum(jnp.linalg.svd(m, compute_uv=False) ** 3))

    _, _, hessian = gg.hessian(f, wrt=["a", "m"], backend=backend, specs=SPECS)(**args)
    expected = jax.hessian(f_jax, argnums=(0, 1))(args["a"], args["m"])
    for i, first in enumerate("am"):
        for j, second in enumerate("am"):
            np.testing.assert_allclose(hessian[first][second], np.asarray(expected[i][j]), rtol=1e-9, atol=1e-9,
                                       err_msg=f"d2J/d{first}d{second}")


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
def test_c_agrees_with_python_in_float32(backend):
    args = {name: value.astype(np.float32) for name, value in _arguments(7).items()}
    specs = {name: gg.Array(spec.shape, "float32") for name, spec in SPECS.items()}
    value, grads = gg.value_and_grad(signed, backend=backend, specs=specs)(**args)
    reference, expected = gg.value_and_grad(signed, backend="python", specs=SPECS)(
        **{name: x.astype(np.float64) for name, x in args.items()})
    assert value == pytest.approx(reference, rel=1e-5)
    for name in args:
        assert grads[name].dtype == np.float32
        np.testing.assert_allclose(grads[name], expected[name], rtol=1e-4, atol=1e-4)


REPEATED = np.diag([2.0, 1.0, 1.0])


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
def test_a_repeated_eigenvalue_leaves_the_values_differentiable_and_refuses_the_vectors(backend):
    values = gg.value_and_grad(lambda a: gg.sum(gg.linalg.eigvalsh(a) ** 2), backend=backend, a=gg.Array((3, 3)))
    value, grad = values(REPEATED)
    assert value == pytest.approx(6.0, rel=1e-15)
    np.testing.assert_allclose(grad["a"], 2.0 * REPEATED, atol=1e-14)  # the sum of squares is |a|^2
    vectors = gg.value_and_grad(lambda a: gg.sum(gg.linalg.eigh(a).eigenvectors ** 3), backend=backend,
                                a=gg.Array((3, 3)))
    with pytest.raises(gg.InputError, match=r"inverse_gaps: the matrix is degenerate \(two of its eigenvalues or "
                                            r"singular values are equal.*needs distinct eigenvalues"):
        vectors(REPEATED)
    singular = gg.value_and_grad(lambda m: gg.sum(gg.linalg.svd(m, full_matrices=False).U ** 3), backend=backend,
                                 m=gg.Array((3, 2)))
    with pytest.raises(gg.InputError, match="inverse_gaps: the matrix is degenerate"):
        singular(np.array([[1.0, 0.0], [0.0, 0.0], [0.0, 0.0]]))  # a zero singular value of a tall matrix


@needs_cc
def test_an_exported_kernel_documents_and_returns_the_status_of_a_repeated_eigenvalue(tmp_path):
    h, _ = export_c(lambda a: gg.sum(gg.linalg.eigh(a).eigenvectors ** 3), tmp_path, "eig", a=gg.Array((2, 2)))
    line = next(line for line in h.read_text().splitlines() if "when inverse_gaps: the matrix is degenerate" in line)
    code = int(line.split()[2])
    values = _run(tmp_path, "eig", """
#include <stdio.h>
#include <stdlib.h>
#include "eig.h"
int main(void) {
    const double good[4] = {2, 0, 1, 3}, repeated[4] = {1, 0, 0, 1};
    double J, da[4];
    double *work = malloc(sizeof(double) * (eig_work_size() + 1));
    int ok = eig(good, &J, da, work);
    printf("%d %.17g %d\\n", ok, J, eig(repeated, &J, da, work));
    free(work);
    return 0;
}
""")
    v = gg.linalg.eigh(np.array([[2.0, 0.0], [1.0, 3.0]])).eigenvectors
    assert values == [0, pytest.approx(np.sum(v ** 3), rel=1e-14), code] and code < 0


def test_the_c_source_names_the_routines_and_calls_lapack_where_it_links_the_blas(monkeypatch):
    def vectors(a):
        return gg.sum(gg.linalg.eigh(a).eigenvectors ** 3)

    kernel = gg.value_and_grad(vectors, backend="c", a=gg.Array((3, 3)))
    # the gradient of the vectors reads the values too: one routine gives both
    assert kernel.source.count("gg_eigh_packed(3, 4, a_copy") == 1 and "gg_eigvalsh" not in kernel.source
    assert "gg_inverse_gaps(3, 3, " in kernel.source
    whole = gg.value_and_grad(lambda m: gg.sum(gg.linalg.svd(m, False).U ** 3), backend="c", m=gg.Array((4, 3)))
    assert whole.source.count("gg_svd_packed(4, 3, ") == 1 and "gg_svdvals" not in whole.source
    alone = gg.compile(lambda a: gg.linalg.eigvalsh(a), backend="c", a=gg.Array((3, 3)))  # no vectors needed
    assert "gg_eigh_packed" not in alone.source and "gg_eigvalsh(3, 1, " in alone.source
    assert "#define GG_USE_LAPACK 1" in kernel.source
    monkeypatch.setattr("gradgen.runtime.kernel.find_blas", lambda: None)
    assert "GG_USE_LAPACK" not in gg.value_and_grad(vectors, backend="c", a=gg.Array((3, 3))).source


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
@pytest.mark.parametrize("scale", [1e-160, 1e-80, 1e80, 1e150])
def test_tiny_and_huge_matrices_decompose_to_full_precision(backend, scale):
    a, m = _symmetric(4, 11) * scale, np.random.default_rng(12).normal(size=(5, 4)) * scale
    w, s, u = gg.compile(lambda a, m: (gg.linalg.eigvalsh(a), gg.linalg.svdvals(m), gg.linalg.svd(m, False).U),
                         backend=backend, a=gg.Array((4, 4)), m=gg.Array((5, 4)))(a, m)
    np.testing.assert_allclose(w, np.linalg.eigvalsh(a), rtol=1e-13, atol=1e-13 * scale)
    np.testing.assert_allclose(s, np.linalg.svd(m, compute_uv=False), rtol=1e-13)
    np.testing.assert_allclose(u.T @ u, np.eye(4), atol=1e-13)


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
def test_a_zero_singular_value_keeps_u_orthonormal_and_its_gradients(backend):
    m = np.array([[1.0, 2.0, 0.0], [3.0, 1.0, 0.0], [0.0, 1.0, 0.0]])  # rank 2, its third column zero
    weights = np.arange(9.0).reshape(3, 3)

    def rebuilt(m):
        u, s, vt = gg.linalg.svd(m)
        return gg.sum(((u * s) @ vt) * weights) + gg.sum((u @ u.T) * weights)

    value, grads = gg.value_and_grad(rebuilt, backend=backend, m=gg.Array((3, 3)))(m)
    assert value == pytest.approx(np.sum(m * weights) + np.trace(weights), rel=1e-14)
    np.testing.assert_allclose(grads["m"], weights, atol=1e-12)  # u u.T is the identity: no gradient
    u = gg.compile(lambda m: gg.linalg.svd(m).U, backend=backend, m=gg.Array((3, 3)))(m)
    np.testing.assert_allclose(u.T @ u, np.eye(3), atol=1e-14)


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
def test_eigenvalues_equal_to_rounding_count_as_repeated(backend):
    kernel = gg.value_and_grad(lambda a: gg.sum(gg.linalg.eigh(a).eigenvectors ** 3), backend=backend,
                               a=gg.Array((3, 3)))
    with pytest.raises(gg.InputError, match="inverse_gaps: the matrix is degenerate"):
        kernel(np.array([[2.0, 1.0, 1.0], [1.0, 2.0, 1.0], [1.0, 1.0, 2.0]]))  # 1, 1, 4 to rounding
    value, _ = kernel(np.diag([1.0, 1.0 + 1e-9, 4.0]))  # close, yet apart: a steep but true derivative
    assert value == pytest.approx(3.0)


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
def test_the_triangle_not_read_may_hold_anything(backend):
    a = np.array([[2.0, np.nan, np.inf], [1.0, 3.0, np.nan], [0.5, 1.0, 4.0]])
    f = gg.compile(lambda a: (gg.linalg.eigvalsh(a), gg.linalg.eigvalsh(a.T, UPLO="u")), backend=backend,
                   a=gg.Array((3, 3)))
    for w in f(a):
        np.testing.assert_allclose(w, np.linalg.eigvalsh(a), rtol=1e-14)
    assert np.isnan(f(np.where(np.eye(3) == 1.0, np.nan, a))[0]).all()  # NaN where it is read: NaN out


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
def test_empty_matrices_decompose_to_empty_arrays(backend):
    f = gg.compile(lambda a: (*gg.linalg.eigh(a), *gg.linalg.svd(a)), backend=backend, a=gg.Array((0, 0)))
    assert [x.shape for x in f(np.zeros((0, 0)))] == [(0,), (0, 0), (0, 0), (0,), (0, 0)]


@pytest.mark.parametrize("fn, specs, error, message", [
    (gg.linalg.eigh, {"a": gg.Array((2, 3))}, gg.ShapeError, r"eigh: the matrix must be square, got shape \(2, 3\)"),
    (gg.linalg.eigvalsh, {"a": gg.Array((3,))}, gg.ShapeError, r"eigvalsh: expected an operand with at least 2 axes"),
    (lambda a: gg.linalg.eigh(a, UPLO="X"), {"a": gg.Array((2, 2))}, gg.InputError, "UPLO must be 'L' or 'U'"),
    (gg.linalg.svd, {"a": gg.Array((3, 2))}, gg.InputError,
     r"full_matrices=True on a 3 x 2 matrix .* pass full_matrices=False"),
    (lambda a: gg.linalg.svd(a, hermitian=True), {"a": gg.Array((2, 2))}, gg.InputError,
     "hermitian=True is not supported"),
])
def test_bad_arguments_say_what_to_do(fn, specs, error, message):
    with pytest.raises(error, match=message):
        gg.compile(fn, backend="python", specs=specs)


def test_a_square_matrix_takes_numpy_s_defaults():
    m = np.random.default_rng(8).normal(size=(3, 3))
    u, s, vt = gg.compile(lambda m: np.linalg.svd(m), backend="python", m=gg.Array((3, 3)))(m)
    np.testing.assert_allclose((u * s) @ vt, m, atol=1e-13)
