"""gg.linalg: solve, solve_triangular, inv, det, slogdet, cholesky on both backends.

Values against NumPy, gradients against central differences and JAX (x64, where installed), C against
Python; a singular matrix is an InputError on both backends (inside a loop's body too, and from an
exported kernel as its documented status); bad shapes are ShapeErrors naming the shapes.
"""

from __future__ import annotations

import numpy as np
import pytest

import gradgen as gg
from gradgen.inspect.export import export_c
from gradgen.ops.registry import failure_code
from tests.test_export import _run, needs_cc

try:
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
except ImportError:  # the JAX comparisons need it; the rest does not
    jax = None

needs_jax = pytest.mark.skipif(jax is None, reason="JAX (x64) is the reference; the test extra installs it")
BACKENDS = ["python", "c"]


def _matrices(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A well-conditioned matrix (determinant negative), a symmetric positive definite one, a right side."""
    rng = np.random.default_rng(seed)
    a = rng.uniform(-1.0, 1.0, (n, n)) + n * np.diag([1.0] * (n - 1) + [-1.0])
    m = rng.uniform(-1.0, 1.0, (n, n))
    return a, m @ m.T + n * np.eye(n), rng.uniform(-2.0, 2.0, (n, 2))


def objective(a, s, b):
    """Every routine once, each weighted differently so a swapped gradient would show."""
    x = gg.linalg.solve(a, b)
    lower = gg.linalg.solve_triangular(a, b[:, 0], lower=True)
    upper = gg.linalg.solve_triangular(a, b, lower=False)
    sign, logdet = gg.linalg.slogdet(a)
    l = gg.linalg.cholesky(s)  # noqa: E741
    return (gg.sum(x ** 2) + 0.5 * gg.sum(lower) + 0.25 * gg.sum(upper * upper) + gg.linalg.det(a)
            + 3.0 * logdet * sign + gg.sum(gg.linalg.inv(a) * np.arange(16.0).reshape(4, 4)) + gg.sum(l * l * l))


def objective_numpy(a, s, b, np=np):
    """The same with NumPy (or jax.numpy): triangular solves through the triangle taken explicitly."""
    x = np.linalg.solve(a, b)
    lower = np.linalg.solve(np.tril(a), b[:, 0])
    upper = np.linalg.solve(np.triu(a), b)
    sign, logdet = np.linalg.slogdet(a)
    l = np.linalg.cholesky(np.tril(s) + np.tril(s, -1).T)  # noqa: E741 - only the lower triangle is read
    return (np.sum(x ** 2) + 0.5 * np.sum(lower) + 0.25 * np.sum(upper * upper) + np.linalg.det(a)
            + 3.0 * logdet * sign + np.sum(np.linalg.inv(a) * np.arange(16.0).reshape(4, 4)) + np.sum(l ** 3))


SPECS = {"a": gg.Array((4, 4)), "s": gg.Array((4, 4)), "b": gg.Array((4, 2))}


def _central_differences(f, args: dict, name: str, h: float = 1e-6) -> np.ndarray:
    x = args[name]
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        step = np.zeros_like(x)
        step[i] = h
        grad[i] = (f(**{**args, name: x + step}) - f(**{**args, name: x - step})) / (2 * h)
    return grad


@pytest.mark.parametrize("backend", BACKENDS)
def test_values_and_gradients_agree_with_numpy_and_central_differences(backend):
    a, s, b = _matrices(4)
    kernel = gg.value_and_grad(objective, backend=backend, specs=SPECS)
    value, grads = kernel(a, s, b)
    assert value == pytest.approx(objective_numpy(a, s, b), rel=1e-12)
    args = {"a": a, "s": s, "b": b}
    for name in args:
        np.testing.assert_allclose(grads[name], _central_differences(objective_numpy, args, name), rtol=1e-6,
                                   atol=1e-6, err_msg=f"dJ/d{name}")
    # cholesky reads the lower triangle only: the upper one has no gradient
    assert np.all(np.triu(grads["s"], 1) == 0.0)


@needs_jax
@pytest.mark.parametrize("backend", BACKENDS)
def test_gradients_agree_with_jax(backend):
    a, s, b = _matrices(4, seed=1)
    value, grads = gg.value_and_grad(objective, backend=backend, specs=SPECS)(a, s, b)
    expected = jax.grad(lambda a, s, b: objective_numpy(a, s, b, np=jnp), argnums=(0, 1, 2))(a, s, b)
    for name, want in zip("asb", expected):
        np.testing.assert_allclose(grads[name], np.asarray(want), rtol=1e-10, atol=1e-12, err_msg=f"dJ/d{name}")


def test_c_agrees_with_python_in_float32_too():
    a, s, b = _matrices(4, seed=2)
    specs = {k: gg.Array(v.shape, "float32") for k, v in SPECS.items()}
    args = [x.astype(np.float32) for x in (a, s, b)]
    vp, gp = gg.value_and_grad(objective, backend="python", specs=specs)(*args)
    vc, gc = gg.value_and_grad(objective, backend="c", specs=specs)(*args)
    assert vc == pytest.approx(vp, rel=1e-5)
    for name in "asb":
        assert gc[name].dtype == np.float32
        np.testing.assert_allclose(gc[name], gp[name], rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("backend", BACKENDS)
def test_numpy_spellings_trace(backend):
    a, s, b = _matrices(3, seed=3)
    f = gg.compile(lambda a, b: (np.linalg.solve(a, b), np.linalg.inv(a), np.linalg.det(a),
                                 *np.linalg.slogdet(a), np.linalg.cholesky(a @ a.T)),
                   backend=backend, a=gg.Array((3, 3)), b=gg.Array((3,)))
    x, inverse, det, sign, logdet, l = f(a, b[:, 0])  # noqa: E741
    np.testing.assert_allclose(x, np.linalg.solve(a, b[:, 0]), rtol=1e-12)
    np.testing.assert_allclose(inverse, np.linalg.inv(a), rtol=1e-12)
    assert det == pytest.approx(np.linalg.det(a), rel=1e-12)
    assert (sign, logdet) == pytest.approx(tuple(np.linalg.slogdet(a)), rel=1e-12)
    np.testing.assert_allclose(l, np.linalg.cholesky(a @ a.T), rtol=1e-12)


def test_concrete_arguments_compute_with_numpy():
    a, s, b = _matrices(3)
    np.testing.assert_allclose(gg.linalg.solve_triangular(a, b, lower=True), np.linalg.solve(np.tril(a), b))
    assert gg.linalg.slogdet(a).sign == -1.0
    with pytest.raises(gg.InputError, match="inv: the matrix is singular"):
        gg.linalg.inv(np.ones((2, 2)))


SINGULAR = np.array([[1.0, 2.0], [2.0, 4.0]])


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("fn, bad, message", [
    (lambda a, b: gg.linalg.solve(a, b), SINGULAR, "solve: the matrix is singular; solve needs an invertible matrix"),
    (lambda a, b: gg.linalg.inv(a) @ b, SINGULAR, "solve: the matrix is singular"),
    (lambda a, b: gg.linalg.solve_triangular(a, b, lower=True), np.array([[1.0, 5.0], [1.0, 0.0]]),
     r"solve_triangular: the matrix is singular \(a zero on its diagonal\)"),
    (lambda a, b: gg.linalg.cholesky(a) @ b, SINGULAR, "cholesky: the matrix is not positive definite"),
])
def test_a_singular_matrix_raises_on_both_backends(backend, fn, bad, message):
    kernel = gg.compile(fn, backend=backend, a=gg.Array((2, 2)), b=gg.Array((2,)))
    with pytest.raises(gg.InputError, match=message):
        kernel(bad, np.ones(2))
    np.testing.assert_allclose(kernel(np.array([[2.0, 1.0], [1.0, 3.0]]), np.ones(2)),
                               fn(np.array([[2.0, 1.0], [1.0, 3.0]]), np.ones(2)))


@pytest.mark.parametrize("backend", BACKENDS)
def test_det_and_slogdet_of_a_singular_matrix_follow_numpy_but_their_gradients_raise(backend):
    f = gg.compile(lambda a: (gg.linalg.det(a), *gg.linalg.slogdet(a)), backend=backend, a=gg.Array((2, 2)))
    assert f(SINGULAR) == (0.0, 0.0, -np.inf)
    grad = gg.value_and_grad(gg.linalg.det, backend=backend, a=gg.Array((2, 2)))
    with pytest.raises(gg.InputError, match="solve: the matrix is singular"):
        grad(SINGULAR)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_singular_matrix_inside_a_loop_body_raises(backend):
    def f(a, b):
        x, _ = gg.scan(lambda x, k: (gg.linalg.solve(a * k, x), None), b, np.array([1.0, 2.0, 0.0, 3.0]))
        return gg.sum(x)

    kernel = gg.value_and_grad(f, wrt="b", backend=backend, a=gg.Array((2, 2)), b=gg.Array((2,)))
    a = np.array([[2.0, 1.0], [1.0, 3.0]])
    with pytest.raises(gg.InputError, match="solve: the matrix is singular"):
        kernel(a, np.ones(2))


@pytest.mark.parametrize("fn, specs, message", [
    (gg.linalg.det, {"a": gg.Array((2, 3))}, r"det: the matrix must be square, got shape \(2, 3\)"),
    (gg.linalg.solve, {"a": gg.Array((2, 3, 3)), "b": gg.Array((4, 3, 1))},
     r"solve: operands of shapes \(2,\) and \(4,\) do not broadcast"),
    (gg.linalg.eigh, {"a": gg.Array((2, 3, 4))}, r"eigh: the matrix must be square, got shape \(3, 4\)"),
    (gg.linalg.solve, {"a": gg.Array((3, 3)), "b": gg.Array((2,))},
     r"solve: the right-hand side must have shape \(3,\) or \(3, k\) for a matrix of shape \(3, 3\), got \(2,\)"),
    (gg.linalg.cholesky, {"a": gg.Array((3,))}, r"cholesky: expected an operand with at least 2 axes, got shape "
                                                r"\(3,\)"),
])
def test_bad_shapes_are_shape_errors(fn, specs, message):
    with pytest.raises(gg.ShapeError, match=message):
        gg.compile(fn, backend="python", specs=specs)


def test_integer_matrices_become_float64_and_lower_must_be_a_bool():
    f = gg.compile(lambda b: gg.linalg.solve(np.array([[2, 0], [0, 4]]), b), backend="python", b=gg.Array((2,)))
    np.testing.assert_array_equal(f(np.array([2.0, 2.0])), [1.0, 0.5])
    with pytest.raises(gg.InputError, match="lower must be True or False, got 'yes'"):
        gg.linalg.solve_triangular(np.eye(2), np.ones(2), lower="yes")


def _solved(a, b):
    x = gg.linalg.solve(a, b)
    return gg.sum(x)


def test_generated_c_names_the_routine_and_the_program_shows_it():
    kernel = gg.value_and_grad(_solved, backend="c", a=gg.Array((3, 3)), b=gg.Array((3,)))
    code = failure_code("solve")
    expected = ("    /* x = solve(a_copy, b_copy), in double precision */\n"
                f"    if (gg_solve(3, 1, a_copy, b_copy, x)) return {code};  /* the matrix is singular */")
    assert expected in kernel.source
    assert f"gg_solve(3, 1; a.copy, b.copy, x) (else fail with {code})" in str(kernel.program)


@needs_cc
def test_an_exported_kernel_returns_the_documented_status_for_a_singular_matrix(tmp_path):
    h, _ = export_c(lambda a, b: gg.sum(gg.linalg.solve(a, b)), tmp_path, "lin", a=gg.Array((2, 2)),
                    b=gg.Array((2,)))
    assert "when solve: the matrix is singular." in h.read_text()
    values = _run(tmp_path, "lin", """
#include <stdio.h>
#include <stdlib.h>
#include "lin.h"
int main(void) {
    const double good[4] = {2, 1, 1, 3}, bad[4] = {1, 2, 2, 4}, b[2] = {1, 1};
    double J, da[4], db[2];
    double *work = malloc(sizeof(double) * (lin_work_size() + 1));
    int ok = lin(good, b, &J, da, db, work);
    printf("%d %.17g %d\\n", ok, J, lin(bad, b, &J, da, db, work));
    free(work);
    return 0;
}
""")
    code = next(int(line.split()[2]) for line in h.read_text().splitlines() if "when solve: the matrix" in line)
    assert values == [0, pytest.approx(0.6, rel=1e-15), code] and code < 0


def stacked(a, b, s):
    """Every function on stacks of matrices (a: (2, 3, 4, 4), b: (3, 4, 2) broadcast, s: symmetric ones)."""
    sign, logdet = gg.linalg.slogdet(a)
    w, v = gg.linalg.eigh(s)
    return (gg.sum(gg.linalg.solve(a, b) ** 2) + gg.sum(gg.linalg.solve_triangular(a, b, lower=True))
            + gg.sum(gg.linalg.inv(a) * np.arange(16.0).reshape(4, 4)) + gg.sum(gg.linalg.det(a) * sign)
            + gg.sum(logdet) + gg.sum(gg.linalg.cholesky(s) ** 3) + gg.sum(w * np.arange(4.0)) + gg.sum((v * v)[..., 0])
            + gg.sum(gg.linalg.svdvals(a[..., :3]) ** 3) + gg.sum(gg.linalg.norm(b, "nuc", axis=(1, 2))))


def stacked_jax(a, b, s):
    sign, logdet = jnp.linalg.slogdet(a)
    w, v = jnp.linalg.eigh(jnp.tril(s) + jnp.swapaxes(jnp.tril(s, -1), -1, -2), symmetrize_input=False)
    chol = jnp.linalg.cholesky(jnp.tril(s) + jnp.swapaxes(jnp.tril(s, -1), -1, -2))
    lower = jnp.linalg.solve(jnp.tril(a), jnp.broadcast_to(b, (2, 3, 4, 2)))
    return (jnp.sum(jnp.linalg.solve(a, jnp.broadcast_to(b, (2, 3, 4, 2))) ** 2) + jnp.sum(lower)
            + jnp.sum(jnp.linalg.inv(a) * jnp.arange(16.0).reshape(4, 4)) + jnp.sum(jnp.linalg.det(a) * sign)
            + jnp.sum(logdet) + jnp.sum(chol ** 3) + jnp.sum(w * jnp.arange(4.0)) + jnp.sum((v * v)[..., 0])
            + jnp.sum(jnp.linalg.svd(a[..., :3], compute_uv=False) ** 3)
            + jnp.sum(jnp.linalg.svd(b, compute_uv=False)))


@needs_jax
@pytest.mark.parametrize("backend", BACKENDS)
def test_stacks_of_matrices_go_matrix_by_matrix_and_agree_with_jax(backend):
    rng = np.random.default_rng(9)
    a = rng.uniform(-1.0, 1.0, (2, 3, 4, 4)) + 4.0 * np.eye(4)
    m = rng.uniform(-1.0, 1.0, (2, 3, 4, 4))
    s = m @ np.swapaxes(m, -1, -2) + np.diag([1.0, 2.0, 3.0, 4.0])
    b = rng.uniform(-1.0, 1.0, (3, 4, 2))
    kernel = gg.value_and_grad(stacked, backend=backend, a=gg.Array(a.shape), b=gg.Array(b.shape),
                               s=gg.Array(s.shape))
    value, grads = kernel(a, b, s)
    assert value == pytest.approx(float(stacked_jax(a, b, s)), rel=1e-12)
    expected = jax.grad(stacked_jax, argnums=(0, 1, 2))(a, b, s)
    for name, want in zip("abs", expected):
        np.testing.assert_allclose(grads[name], np.asarray(want), rtol=1e-9, atol=1e-9, err_msg=f"dJ/d{name}")



def test_a_stack_is_one_loop_whatever_its_size():
    def size(stack: tuple[int, ...]) -> int:
        specs = {"a": gg.Array((*stack, 3, 4, 4)), "b": gg.Array((3, 4, 2)), "s": gg.Array((*stack, 3, 4, 4))}
        return len(gg.trace(stacked, specs).nodes)

    assert size((2,)) == size((7,)) == size((7, 5))


def test_stacks_of_concrete_matrices_are_numpy_s():
    a = np.random.default_rng(10).uniform(-1.0, 1.0, (2, 3, 3)) + 3.0 * np.eye(3)
    np.testing.assert_allclose(gg.linalg.inv(a), np.linalg.inv(a))
    np.testing.assert_allclose(gg.linalg.det(a), np.linalg.det(a))
