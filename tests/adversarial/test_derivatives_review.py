"""Adversarial review of the derivative kernels (gg.jvp, gg.vjp, gg.jacobian, gg.hessian, gg.hvp),
gradgen.optimize and gg.linalg: against JAX (x64) and central differences, on both backends.

The tests marked "BUG" fail on the reviewed checkout; the others pin down what was probed and works.
"""

from __future__ import annotations

import pickle
import subprocess
import warnings
from pathlib import Path

import numpy as np
import pytest

import gradgen as gg
from tests.test_export import needs_cc

try:
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    import jax.scipy.linalg as jsl
except ImportError:  # pragma: no cover - the JAX comparisons need it
    jax = None

needs_jax = pytest.mark.skipif(jax is None, reason="JAX (x64) is the reference; the test extra installs it")
BACKENDS = ["python", "c"]

warnings.filterwarnings("ignore", message=".*fall.*back.*")


def _close(got, expected, rtol=1e-9, atol=1e-11):
    np.testing.assert_allclose(np.asarray(got, dtype=float), np.asarray(expected, dtype=float), rtol=rtol, atol=atol)


def _central(f, x, h=1e-6):
    """The Jacobian of f at x by central differences, of shape f(x).shape + x.shape."""
    x = np.asarray(x, dtype=float)
    out = np.asarray(f(x))
    J = np.zeros(out.shape + x.shape)
    for k in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[k] = h
        J[(...,) + k] = (np.asarray(f(x + e)) - np.asarray(f(x - e))) / (2 * h)
    return J


# ==========================================================================================================
# BUGS
# ==========================================================================================================

def _fori_product(x, obs):
    """A fori_loop that indexes two arrays with its counter i."""
    return gg.fori_loop(0, 3, lambda i, c: c * x[i] * obs[i], 1.0)


def _fori_product_np(x, obs):
    return np.prod(x * obs)


X3 = np.array([1.0, 2.0, 3.0])
OBS3 = np.array([0.5, 0.1, 0.2])


@pytest.mark.parametrize("backend", BACKENDS)
def test_jvp_of_fori_loop_indexing_an_undifferentiated_array(backend):
    """gg.jvp(wrt="x") of a fori_loop that also indexes `obs` with i: InputError 'cannot use None (NoneType)
    as a number' (gg.value_and_grad of the same function works)."""
    value, tangent = gg.jvp(_fori_product, wrt="x", backend=backend)(X3, OBS3, tangents={"x": np.ones(3)})
    _close(value, _fori_product_np(X3, OBS3))
    _close(tangent, _central(lambda x: _fori_product_np(x, OBS3), X3).sum(), rtol=1e-7)


@pytest.mark.parametrize("backend", BACKENDS)
def test_forward_jacobian_of_fori_loop_with_few_directions(backend):
    """jacobian(mode="forward") / hessian with <= 16 directions (the unrolled basis path) of a fori_loop that
    indexes with i: the same InputError about None; the > 16 direction path and reverse mode work."""
    _, J = gg.jacobian(_fori_product, mode="forward", backend=backend)(X3, OBS3)
    _close(J["x"], _central(lambda x: _fori_product_np(x, OBS3), X3), rtol=1e-7)
    _close(J["obs"], _central(lambda o: _fori_product_np(X3, o), OBS3), rtol=1e-7)


@pytest.mark.parametrize("backend", BACKENDS)
def test_hessian_of_fori_loop_indexing_with_i(backend):
    _, _, H = gg.hessian(_fori_product, wrt="x", backend=backend)(X3, OBS3)
    def grad(x):
        return _central(lambda y: _fori_product_np(y, OBS3), x)
    _close(H, _central(grad, X3, h=1e-4), rtol=1e-5, atol=1e-7)


def test_reverse_jacobian_and_gradient_of_the_same_fori_loop_work():
    _, J = gg.jacobian(_fori_product, mode="reverse", backend="python")(X3, OBS3)
    _close(J["x"], _central(lambda x: _fori_product_np(x, OBS3), X3), rtol=1e-7)
    _, grads = gg.value_and_grad(_fori_product, wrt="x", backend="python")(X3, OBS3)
    _close(grads["x"], J["x"])


def _chol_loss(A):
    return gg.sum(gg.linalg.cholesky(A @ A.T + np.eye(3)) ** 3)


A3 = np.array([[3.2, 0.4, -0.1], [0.3, 2.5, 0.6], [-0.5, 0.2, 3.9]])


@needs_jax
@pytest.mark.parametrize("backend", BACKENDS)
def test_reverse_jacobian_of_cholesky_on_c(backend):
    """jacobian(mode="reverse") (a gg.scan over output directions) of a cholesky: on C an IndexError 'tuple
    index out of range' in codegen/cabi.kernel_source (the failures table looks up a loop body's routine
    node in the outer graph)."""
    _, J = gg.jacobian(_chol_loss, mode="reverse", backend=backend)(A3)
    def jf(A):
        return jnp.sum(jnp.linalg.cholesky(A @ A.T + jnp.eye(3)) ** 3)
    _close(J["A"], jax.grad(jf)(A3), rtol=1e-8)


@pytest.mark.parametrize("backend", BACKENDS)
def test_cholesky_inside_scan_builds_on_c_and_reports_not_positive_definite(backend):
    """A cholesky in a gg.scan body: C build dies with IndexError (cabi.kernel_source / routines()) instead of
    compiling; a non-positive-definite matrix must be the InputError Python gives."""
    def f(A, bs):
        def step(c, b):
            return c + 0.1, gg.sum(gg.linalg.cholesky(A + c * np.eye(3)) * b)
        _, ys = gg.scan(step, 0.0, bs)
        return gg.sum(ys)

    S = A3 @ A3.T
    kernel = gg.compile(f, backend=backend)
    expected = sum(np.sum(np.linalg.cholesky(S + 0.1 * k * np.eye(3))) for k in range(4))
    _close(kernel(S, np.ones((4, 3, 3))), expected)
    with pytest.raises(gg.InputError, match="cholesky"):
        kernel(-S, np.ones((4, 3, 3)))


@needs_jax
@pytest.mark.parametrize("backend", BACKENDS)
def test_hessian_kernel_and_solve_inside_scan_newton_steps(backend):
    """Newton steps (a gg.hessian kernel + gg.linalg.solve) in a gg.scan, then differentiated: C build
    IndexError, as above."""
    def e(x, w):
        return gg.sum(gg.tanh(x * w) ** 2)

    hk = gg.hessian(e, wrt="x")

    def newton(x0, w):
        def step(x, _):
            _, g, H = hk(x, w)
            x = x - gg.linalg.solve(H + 5.0 * np.eye(3), g["x"])
            return x, e(x, w)
        _, ys = gg.scan(step, x0, None, length=3)
        return gg.sum(ys)

    def ej(x, w):
        return jnp.sum(jnp.tanh(x * w) ** 2)

    def newton_j(x0, w):
        def step(x, _):
            x = x - jnp.linalg.solve(jax.hessian(ej)(x, w) + 5.0 * jnp.eye(3), jax.grad(ej)(x, w))
            return x, ej(x, w)
        _, ys = jax.lax.scan(step, x0, None, length=3)
        return jnp.sum(ys)

    rng = np.random.default_rng(12)
    x0, w = rng.normal(size=3), rng.normal(size=3)
    _, grads = gg.value_and_grad(newton, backend=backend)(x0, w)
    _close(grads["x0"], jax.grad(newton_j)(x0, w), rtol=1e-8)


@needs_jax
@pytest.mark.parametrize("backend", BACKENDS)
def test_hessian_of_inv_and_slogdet_with_20_directions_on_c(backend):
    """A 4x4 matrix and a 4-vector (20 directions: the gg.scan path) through inv and slogdet: on C the
    same IndexError in cabi.kernel_source (the 16-direction unrolled path of the same function builds)."""
    rng = np.random.default_rng(7)
    A, b = rng.normal(size=(4, 4)) + 3 * np.eye(4), rng.normal(size=4)
    def g(A, b):
        return gg.sum(gg.linalg.inv(A.T) * A) * gg.linalg.slogdet(A)[1] * gg.sum(b * b)
    def j(A, b):
        return jnp.sum(jnp.linalg.inv(A.T) * A) * jnp.linalg.slogdet(A)[1] * jnp.sum(b * b)
    _, _, H = gg.hessian(g, backend=backend)(A, b)
    jH = jax.hessian(j, argnums=(0, 1))(A, b)
    _close(H["A"]["A"], jH[0][0], rtol=1e-8, atol=1e-10)
    _close(H["A"]["b"], jH[0][1], rtol=1e-8, atol=1e-10)


@needs_jax
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", ["jacobian-forward", "hessian"])
def test_mixed_float32_float64_inputs_beyond_16_directions(backend, kind):
    """A float32 and a float64 input, 20 + 20 directions (the gg.scan path): GraphError 'elementwise
    operands differ: (20,) float64 vs (20,) float32' (dsl/transforms._split_loop cuts a float64 basis
    into the tangents of a float32 input without casting). With 3 + 3 directions it works."""
    rng = np.random.default_rng(9)
    x32, y64 = rng.normal(size=20).astype(np.float32), rng.normal(size=20)
    if kind == "hessian":
        _, _, H = gg.hessian(lambda x, y: gg.sum(gg.sin(x) * y * y), backend=backend)(x32, y64)
        jH = jax.hessian(lambda x, y: jnp.sum(jnp.sin(x) * y * y), argnums=(0, 1))(x32.astype(float), y64)
        _close(H["x"]["y"], jH[0][1], rtol=1e-6, atol=1e-6)
    else:
        _, J = gg.jacobian(lambda x, y: gg.sin(x) * y, mode="forward", backend=backend)(x32, y64)
        jJ = jax.jacfwd(lambda x, y: jnp.sin(x) * y, argnums=(0, 1))(x32.astype(float), y64)
        _close(J["x"], jJ[0], rtol=1e-6, atol=1e-6)
        _close(J["y"], jJ[1], rtol=1e-6, atol=1e-6)


@needs_jax
@pytest.mark.parametrize("backend", BACKENDS)
def test_mixed_float32_float64_inputs_with_few_directions_work(backend):
    rng = np.random.default_rng(9)
    x32, y64 = rng.normal(size=3).astype(np.float32), rng.normal(size=3)
    _, J = gg.jacobian(lambda x, y: gg.sin(x) * y, mode="forward", backend=backend)(x32, y64)
    jJ = jax.jacfwd(lambda x, y: jnp.sin(x) * y, argnums=(0, 1))(x32.astype(float), y64)
    _close(J["x"], jJ[0], rtol=1e-6, atol=1e-6)


def test_tangents_that_is_not_a_mapping_raises_a_gradgen_error():
    """tangents=[array] (a list, as jax.jvp takes): a bare ValueError from dict() in
    runtime/derivatives._directions, not an InputError naming tangents=."""
    kernel = gg.jvp(lambda x: gg.sin(x), backend="python")
    with pytest.raises(gg.GradgenError, match="tangents"):
        kernel(np.ones(3), tangents=[np.ones(3)])


def test_spec_shapes_are_enforced_by_derivative_kernels_like_value_and_grad():
    """value_and_grad with specs refuses an argument of another shape (InputError); gg.hessian/jacobian/jvp
    with the same specs silently trace and compile a new signature (runtime/derivatives.__call__ ignores
    the specs given at construction)."""
    def f(x):
        return gg.sum(gg.sin(x) ** 2)
    specs = {"x": gg.Array((3,))}
    with pytest.raises(gg.InputError, match="'x'"):
        gg.value_and_grad(f, backend="python", specs=specs)(np.ones(4))
    with pytest.raises(gg.InputError, match="'x'"):
        gg.hessian(f, backend="python", specs=specs)(np.ones(4))


def test_float32_spec_of_a_jvp_kernel_gives_float32_results():
    """value_and_grad with a float32 spec converts a float64 argument and returns float32; a jvp kernel
    with the same spec returns float64 (a second signature compiled in float64)."""
    _, grads = gg.value_and_grad(lambda x: gg.sum(gg.sin(x)), backend="python",
                                 specs={"x": gg.Array((3,), "float32")})(np.ones(3))
    assert grads["x"].dtype == np.float32
    value, tangent = gg.jvp(lambda x: gg.sin(x), backend="python",
                            specs={"x": gg.Array((3,), "float32")})(np.ones(3), tangents={"x": np.ones(3)})
    assert value.dtype == np.float32 and tangent.dtype == np.float32


@pytest.mark.parametrize("backend", BACKENDS)
def test_jacobian_with_respect_to_an_empty_input(backend):
    """x of shape (0,): ShapeError 'stack: needs at least one array, got none' (transforms._along_basis
    stacks no rows) instead of J of shape out.shape + (0,), as JAX gives."""
    value, J = gg.jacobian(lambda x, y: gg.sum(x) + y, wrt="x", backend=backend)(np.ones(0), np.arange(3.0))
    assert J["x"].shape == (3, 0)


def test_empty_wrt_error_names_wrt():
    """wrt=[]: 'stack: needs at least one array, got none', which does not name wrt."""
    with pytest.raises(gg.GradgenError, match="wrt"):
        gg.jacobian(lambda x: gg.sin(x), wrt=[], backend="python")(np.ones(3))


def test_derivative_kernel_pickles_after_it_was_called():
    """DESIGN: pickle.dumps(kernel) works for every Kernel. At the start of this review a called kernel
    failed with PicklingError (per-instance Kernel subclass, no __reduce__); it passes with the
    uncommitted gradgen/runtime/travel.py that appeared in the working tree during the review."""
    kernel = gg.hessian(_pickle_loss, backend="python")
    first = kernel(X3, OBS3)
    again = pickle.loads(pickle.dumps(kernel))(X3, OBS3)
    _close(again[2]["x"]["x"], first[2]["x"]["x"])


def _pickle_loss(x, y):
    return gg.sum(gg.sin(x) * y * x)


def test_least_squares_with_a_2d_residual():
    """least_squares of a residual of shape (2, 2): SciPy's ValueError '`fun` must return at most 1-d'
    (optimize.least_squares passes the residual unflattened; the Jacobian reshape assumes 1-D)."""
    from gradgen import optimize

    result = optimize.least_squares(lambda p: gg.reshape(p, (2, 2)) - 1.0, np.zeros(4))
    _close(result.x, np.ones(4), atol=1e-8)


def test_minimize_with_an_unknown_method_is_a_gradgen_error():
    """method="newton_cg" (a typo): SciPy's ValueError 'Unknown solver', not an InputError naming method."""
    from gradgen import optimize

    with pytest.raises(gg.GradgenError, match="method"):
        optimize.minimize(lambda x: gg.sum(x ** 2), np.zeros(3), method="newton_cg")


# ==========================================================================================================
# What was probed and works
# ==========================================================================================================

@needs_jax
@pytest.mark.parametrize("backend", BACKENDS)
def test_float32_jvp_jacobian_hessian_keep_float32(backend):
    x = np.array([0.3, -1.2, 0.7], dtype=np.float32)
    value, tangent = gg.jvp(lambda x: gg.sin(x) * x, backend=backend)(x, tangents={"x": np.ones(3, np.float32)})
    assert value.dtype == tangent.dtype == np.float32
    _close(tangent, np.cos(x) * x + np.sin(x), rtol=1e-6)
    _, J = gg.jacobian(lambda x: gg.sin(x) * x, backend=backend)(x)
    assert J["x"].dtype == np.float32
    _, _, H = gg.hessian(lambda x: gg.sum(gg.sin(x) * x), backend=backend)(x)
    assert H["x"]["x"].dtype == np.float32
    _close(H["x"]["x"], jax.hessian(lambda x: jnp.sum(jnp.sin(x) * x))(x.astype(float)), rtol=1e-5, atol=1e-6)


@needs_jax
@pytest.mark.parametrize("backend", BACKENDS)
def test_scalars_in_and_out(backend):
    f, fj = (lambda x, y: x * gg.exp(y) * y), (lambda x, y: x * jnp.exp(y) * y)
    value, tangent = gg.jvp(f, backend=backend)(2.0, 0.5, tangents={"y": 1.0})
    assert isinstance(value, float) and isinstance(tangent, float)
    _close(tangent, jax.grad(fj, argnums=1)(2.0, 0.5))
    _, grads, H = gg.hessian(f, wrt="y", backend=backend)(2.0, 0.5)
    assert isinstance(H, float)
    _close(H, jax.hessian(fj, argnums=1)(2.0, 0.5))
    _, _, Hv = gg.hvp(f, backend=backend)(2.0, 0.5, tangents={"y": 1.0})
    _close(Hv["x"], jax.hessian(fj, argnums=(0, 1))(2.0, 0.5)[0][1])


@needs_jax
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("mode", ["auto", "forward", "reverse"])
@pytest.mark.parametrize("n", [3, 20])  # the unrolled path and the gg.scan path
def test_jacobian_of_a_2d_output_matches_jax(backend, mode, n):
    rng = np.random.default_rng(n)
    A, x = rng.normal(size=(n, 2)), rng.normal(size=n)
    value, J = gg.jacobian(lambda A, x: gg.tanh(A * x[:, None]), mode=mode, backend=backend)(A, x)
    jJ = jax.jacrev(lambda A, x: jnp.tanh(A * x[:, None]), argnums=(0, 1))(A, x)
    assert J["A"].shape == (n, 2, n, 2) and J["x"].shape == (n, 2, n)
    _close(J["A"], jJ[0])
    _close(J["x"], jJ[1])


@needs_jax
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("n", [5, 20])
def test_hessian_and_hvp_of_scan_where_max_match_jax(backend, n):
    def f(x, w):
        def step(c, xi):
            c = gg.tanh(c * w + xi)
            return c, c * c
        c, ys = gg.scan(step, x[0], x)
        return gg.sum(ys) + c + gg.max(x * x) + gg.sum(gg.where(x > 0, x ** 3, gg.sin(x)))

    def fj(x, w):
        def step(c, xi):
            c = jnp.tanh(c * w + xi)
            return c, c * c
        c, ys = jax.lax.scan(step, x[0], x)
        return jnp.sum(ys) + c + jnp.max(x * x) + jnp.sum(jnp.where(x > 0, x ** 3, jnp.sin(x)))

    rng = np.random.default_rng(n)
    x, w = rng.normal(size=n), 0.7
    _, grads, H = gg.hessian(f, backend=backend)(x, w)
    jH = jax.hessian(fj, argnums=(0, 1))(x, w)
    _close(H["x"]["x"], jH[0][0], rtol=1e-8)
    _close(H["x"]["w"], jH[0][1], rtol=1e-8)
    v = rng.normal(size=n)
    _, _, Hv = gg.hvp(f, wrt="x", backend=backend)(x, w, tangents={"x": v})
    _close(Hv["x"], np.asarray(jH[0][0]) @ v, rtol=1e-8)


@needs_jax
@pytest.mark.parametrize("backend", BACKENDS)
def test_int64_index_input_in_hessian_and_jacobian(backend):
    idx = np.array([2, 0, 1, 2], dtype=np.int64)
    x = np.array([0.3, -0.4, 0.9])
    _, grads, H = gg.hessian(lambda x, idx: gg.sum(gg.exp(x[idx]) * x[idx]), backend=backend)(x, idx)
    assert list(grads) == ["x"]
    _close(H["x"]["x"], jax.hessian(lambda x: jnp.sum(jnp.exp(x[idx]) * x[idx]))(x))
    _, J = gg.jacobian(lambda x, idx: gg.exp(x[idx]), mode="reverse", backend=backend)(x, idx)
    _close(J["x"], jax.jacfwd(lambda x: jnp.exp(x[idx]))(x))


@needs_jax
def test_python_defaults_and_numpy_closures_are_constants():
    A = np.array([[1.0, 0.2], [0.3, -0.5]])
    def f(x, scale=2.0):
        return gg.sum(gg.tanh(A @ x) * scale)
    x = np.array([0.4, -0.1])
    _, grads, H = gg.hessian(f, backend="python")(x)
    assert list(grads) == ["x"]
    _close(H["x"]["x"], jax.hessian(lambda x: jnp.sum(jnp.tanh(A @ x) * 2.0))(x))
    with pytest.raises(gg.InputError, match="scale"):
        gg.hessian(f, backend="python")(x, scale=3.0)
    _, grads, H = gg.hessian(f, backend="python", specs={"x": gg.Array((2,)), "scale": gg.Scalar()})(x, 3.0)
    assert list(H) == ["x", "scale"]


@needs_jax
def test_jit_per_signature_and_wrt_as_one_string():
    kernel = gg.jacobian(lambda x, y: gg.tanh(x) * y[0], wrt="x", backend="python")
    for n in (2, 5, 20):
        x, y = np.linspace(-1, 1, n), np.array([0.5, 2.0])
        _, J = kernel(x, y)
        assert list(J) == ["x"]
        _close(J["x"], jax.jacfwd(lambda x: jnp.tanh(x) * 0.5)(x))
    assert "3 signature" in repr(kernel)


@pytest.mark.parametrize("backend", BACKENDS)
def test_unchecked_matches_the_checked_call(backend):
    x, v = np.array([0.1, 0.2, 0.3]), np.ones(3)
    def f(x, y):
        return gg.sin(x) * y
    def loss(x, y):
        return gg.sum(gg.sin(x) * y)
    cases = [(gg.jvp(f, backend=backend), dict(tangents={"x": v, "y": v}), (x, x, v, v)),
             (gg.vjp(f, backend=backend), dict(cotangent=v), (x, x, v)),
             (gg.jacobian(f, backend=backend), {}, (x, x)),
             (gg.hessian(loss, backend=backend), {}, (x, x)),
             (gg.hvp(loss, backend=backend), dict(tangents={"x": v, "y": v}), (x, x, v, v))]
    for kernel, kw, positional in cases:
        assert repr(kernel(x, x, **kw)) == repr(kernel.unchecked(*positional))


@needs_jax
@needs_cc
def test_export_c_of_a_hessian_compiles_pedantic_and_runs(tmp_path: Path):
    def f(A, x):
        return gg.sum(gg.tanh(A @ x) ** 2) + gg.linalg.det(A)

    kernel = gg.hessian(f, backend="python", specs={"A": gg.Array((3, 3)), "x": gg.Array((3,))})
    gg.export_c(kernel, tmp_path, "hess")
    (tmp_path / "main.c").write_text(r"""
#include <stdio.h>
#include <stdlib.h>
#include "hess.h"
int main(void) {
    double A[9] = {1.0, 0.2, 0.1, 0.3, 2.0, 0.4, 0.5, 0.6, 3.0};
    double x[3] = {0.1, -0.2, 0.3};
    double J, dA[9], dx[3], HAA[81], HAx[27], HxA[27], Hxx[9];
    double *work = malloc(sizeof(double) * (hess_work_size() + 1));
    int rc = hess(A, x, &J, dA, dx, HAA, HAx, HxA, Hxx, work);
    printf("%d %.17g\n", rc, J);
    for (int i = 0; i < 9; i++) printf("%.17g\n", Hxx[i]);
    free(work);
    return 0;
}
""")
    flags = ["-std=c99", "-Wall", "-Wextra", "-pedantic", "-Werror"]
    subprocess.run(["cc", *flags, "main.c", "hess.c", "-lm", "-o", "main"], cwd=tmp_path, check=True)
    out = subprocess.run([str(tmp_path / "main")], capture_output=True, text=True, check=True).stdout.split()
    assert out[0] == "0"
    A = np.array([1.0, 0.2, 0.1, 0.3, 2.0, 0.4, 0.5, 0.6, 3.0]).reshape(3, 3)
    x = np.array([0.1, -0.2, 0.3])
    def jf(A, x):
        return jnp.sum(jnp.tanh(A @ x) ** 2) + jnp.linalg.det(A)
    _close(float(out[1]), jf(A, x))
    _close(np.array(out[2:], dtype=float), np.ravel(jax.hessian(jf, argnums=1)(A, x)))


@needs_jax
@pytest.mark.parametrize("backend", BACKENDS)
def test_nested_derivative_kernels_inside_traced_functions(backend):
    def f(x, y):
        return gg.sum(gg.sin(x) * y * x)

    def fj(x, y):
        return jnp.sum(jnp.sin(x) * y * x)

    g, jv, hk = gg.grad(f, wrt="x"), gg.jvp(f), gg.hessian(f, wrt="x")
    rng = np.random.default_rng(6)
    x, y, _v = rng.normal(size=3), rng.normal(size=3), rng.normal(size=3)
    got = gg.grad(lambda x, y: gg.sum(g(x, y)["x"] ** 2), backend=backend)(x, y)["x"]
    _close(got, jax.grad(lambda x, y: jnp.sum(jax.grad(fj)(x, y) ** 2))(x, y))
    got = gg.grad(lambda x, y: jv(x, y, tangents={"x": y})[1], backend=backend)(x, y)["y"]
    _close(got, jax.grad(lambda x, y: jax.jvp(lambda x: fj(x, y), (x,), (y,))[1], argnums=1)(x, y))
    got = gg.grad(lambda x, y: gg.sum(hk(x, y)[2] ** 2), wrt="y", backend=backend)(x, y)["y"]
    _close(got, jax.grad(lambda x, y: jnp.sum(jax.hessian(fj)(x, y) ** 2), argnums=1)(x, y))


@needs_jax
@pytest.mark.parametrize("backend", BACKENDS)
def test_linalg_views_and_second_derivatives_match_jax(backend):
    rng = np.random.default_rng(7)
    A, b = rng.normal(size=(3, 3)) + 3 * np.eye(3), rng.normal(size=3)  # 12 directions: the unrolled path
    cases = [
        (lambda A, b: gg.sum(gg.linalg.solve(A.T, b) ** 2), lambda A, b: jnp.sum(jnp.linalg.solve(A.T, b) ** 2)),
        (lambda A, b: gg.sum(gg.linalg.solve(A[::-1, ::-1][1:, 1:], b[:2]) ** 2),
         lambda A, b: jnp.sum(jnp.linalg.solve(A[::-1, ::-1][1:, 1:], b[:2]) ** 2)),
        (lambda A, b: gg.sum(gg.linalg.inv(A.T) * A) * gg.linalg.slogdet(A)[1],
         lambda A, b: jnp.sum(jnp.linalg.inv(A.T) * A) * jnp.linalg.slogdet(A)[1]),
        (lambda A, b: gg.sum(gg.linalg.solve_triangular(gg.triu(A).T, b, lower=True) ** 2),
         lambda A, b: jnp.sum(jsl.solve_triangular(jnp.triu(A).T, b, lower=True) ** 2)),
    ]
    for g, j in cases:
        _, _, H = gg.hessian(g, backend=backend)(A, b)
        jH = jax.hessian(j, argnums=(0, 1))(A, b)
        _close(H["A"]["b"], jH[0][1], rtol=1e-8, atol=1e-10)
        _close(H["b"]["b"], jH[1][1], rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("backend", BACKENDS)
def test_singular_matrices_raise_input_error_in_derivative_kernels(backend):
    Z = np.array([[1.0, 2.0], [2.0, 4.0]])
    assert gg.compile(lambda A: gg.linalg.det(A), backend=backend)(Z) == 0.0
    with pytest.raises(gg.InputError, match="singular"):
        gg.jvp(lambda A: gg.linalg.det(A), backend=backend)(Z, tangents={"A": np.eye(2)})
    with pytest.raises(gg.InputError, match="singular"):
        gg.jacobian(lambda A, b: gg.linalg.solve(A, b), mode="reverse", backend=backend)(Z, np.ones(2))
    with pytest.raises(gg.InputError, match="cholesky"):
        gg.jvp(lambda A: gg.linalg.cholesky(A), backend=backend)(-np.eye(2), tangents={"A": np.eye(2)})


@pytest.mark.parametrize("backend", BACKENDS)
def test_forward_and_reverse_agree_at_nonsmooth_points(backend):
    x, y = np.array([0.0, 1.0, -1.0, 2.0]), np.array([0.0, 1.0, 3.0, 2.0])
    for fn in (lambda x, y: gg.relu(x) * y, lambda x, y: gg.abs(x) * y, lambda x, y: gg.maximum(x, y),
               lambda x, y: gg.where(x > 0, gg.log(x), 2.0 * x)):
        _, forward = gg.jacobian(fn, mode="forward", backend=backend)(x, y)
        _, reverse = gg.jacobian(fn, mode="reverse", backend="python")(x, y)
        for name in ("x", "y"):
            assert np.isfinite(forward[name]).all()
            np.testing.assert_array_equal(forward[name], reverse[name])


def test_user_errors_of_derivative_kernels_are_gradgen_errors():
    def f(x, y):
        return gg.sin(x) * y
    x = np.ones(3)
    with pytest.raises(gg.InputError, match="x_dot"):
        gg.jvp(f, backend="python")(x, x, tangents={"x": np.ones(4)})
    with pytest.raises(gg.InputError, match="cotangent"):
        gg.vjp(f, backend="python")(x, x)
    with pytest.raises(gg.InputError, match="mode"):
        gg.jacobian(f, mode="fwd")
    with pytest.raises(gg.InputError, match="'z'"):
        gg.jacobian(f, wrt="z", backend="python")(x, x)
    with pytest.raises(gg.GraphError, match="scalar"):
        gg.hessian(f, backend="python")(x, x)
    with pytest.raises(gg.InputError, match="tangents"):
        gg.jvp(f, backend="python")(x, x, tangents={"q": x})


def test_optimize_structures_and_second_order_methods():
    from gradgen import optimize

    def loss(p):
        return gg.sum((p["a"][0] - 1.0) ** 2) + (p["a"][1] - 2.0) ** 2 + gg.sum(p["m"] ** 2)
    start = {"a": [np.zeros(2), 0.0], "m": np.ones((2, 2))}
    for method in ("trust-ncg", "trust-exact", "Newton-CG"):
        result = optimize.minimize(loss, start, method=method, backend="python")
        _close(result.x["a"][0], np.ones(2), atol=1e-6)
        _close(result.x["a"][1], 2.0, atol=1e-6)
        _close(result.x["m"], np.zeros((2, 2)), atol=1e-6)
    t = np.linspace(0, 1, 5)
    fit = optimize.least_squares(lambda p, t, y: p[0] * gg.exp(-p[1] * t) - y, np.array([1.0, 0.5]),
                                 args=(t, 2.0 * np.exp(-0.3 * t)), backend="python")
    _close(fit.x, [2.0, 0.3], atol=1e-8)
