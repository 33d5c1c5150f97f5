"""gg.jvp, gg.vjp, gg.jacobian, gg.hessian, gg.hvp: kernels beyond the gradient, on both backends.

Each against central differences (of the value, or of the gradient for second order) and against JAX
(``jvp``, ``vjp``, ``jacfwd``, ``jacrev``, ``hessian`` with x64) where it is installed; Hessians
symmetric and equal to the stacked Hessian-vector products; stop_gradient in every mode; loops
(``gg.scan``) differentiated forward, and forward over reverse.
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest

import gradgen as gg
from tests.test_export import _run, needs_cc

try:
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
except ImportError:  # the JAX comparisons need it; the central differences do not
    jax = None

needs_jax = pytest.mark.skipif(jax is None, reason="JAX (x64) is the reference; the test extra installs it")
BACKENDS = ["python", "c"]


def layer(W, x, b):
    """A vector function of a matrix and two vectors."""
    return gg.tanh(W @ x + b) * gg.sin(x[:3]) + 0.5 * b ** 2


def layer_np(W, x, b, np=np):
    return np.tanh(W @ x + b) * np.sin(x[:3]) + 0.5 * b ** 2


def logreg(w, b, X, y):
    z = X @ w + b
    return gg.mean(gg.softplus(z) - y * z) + 0.01 * gg.sum(w ** 4)


def logreg_np(w, b, X, y, np=np):
    z = X @ w + b
    return np.mean(np.logaddexp(0.0, z) - y * z) + 0.01 * np.sum(w ** 4)


LAYER_SPECS = {"W": gg.Array((3, 4)), "x": gg.Array((4,)), "b": gg.Array((3,))}


def _layer_args(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"W": rng.normal(size=(3, 4)), "x": rng.normal(size=4), "b": rng.normal(size=3)}


def _logreg_args(seed: int = 0, n: int = 50) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    return {"w": rng.normal(size=4) * 0.5, "b": 0.3, "X": X, "y": (rng.uniform(size=n) < 0.5).astype(float)}


LOGREG_SPECS = {"w": gg.Array((4,)), "b": gg.Scalar(), "X": gg.Array((50, 4)), "y": gg.Array((50,))}


def _along(f, args: dict, direction: dict, h: float = 1e-6):
    """The central difference of ``f`` at ``args`` along ``direction``."""
    plus = {k: v + h * direction[k] if k in direction else v for k, v in args.items()}
    minus = {k: v - h * direction[k] if k in direction else v for k, v in args.items()}
    return (np.asarray(f(**plus)) - np.asarray(f(**minus))) / (2 * h)


# --- jvp and vjp -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
def test_jvp_is_the_directional_derivative(backend):
    args = _layer_args(1)
    rng = np.random.default_rng(2)
    tangents = {"W": rng.normal(size=(3, 4)), "x": rng.normal(size=4)}
    kernel = gg.jvp(layer, backend=backend, specs=LAYER_SPECS)
    value, tangent = kernel(**args, tangents=tangents)  # no tangent for b: it is zero
    np.testing.assert_allclose(value, layer_np(**args), rtol=1e-13)
    np.testing.assert_allclose(tangent, _along(layer_np, args, tangents), rtol=1e-7, atol=1e-9)
    assert tangent.shape == (3,)
    zero = kernel(**args, tangents={})[1]
    np.testing.assert_array_equal(zero, np.zeros(3))


@pytest.mark.parametrize("backend", BACKENDS)
def test_vjp_pairs_with_the_jvp(backend):
    args = _layer_args(3)
    rng = np.random.default_rng(4)
    cotangent = rng.normal(size=3)
    tangents = {k: rng.normal(size=np.shape(v)) for k, v in args.items()}
    value, pulled = gg.vjp(layer, backend=backend, specs=LAYER_SPECS)(**args, cotangent=cotangent)
    _, pushed = gg.jvp(layer, backend=backend, specs=LAYER_SPECS)(**args, tangents=tangents)
    np.testing.assert_allclose(value, layer_np(**args), rtol=1e-13)
    assert set(pulled) == {"W", "x", "b"} and pulled["W"].shape == (3, 4)
    backward = sum(np.sum(pulled[k] * tangents[k]) for k in args)
    assert np.dot(cotangent, pushed) == pytest.approx(backward, rel=1e-12)


@needs_jax
@pytest.mark.parametrize("backend", BACKENDS)
def test_jvp_and_vjp_agree_with_jax(backend):
    args = _layer_args(5)
    rng = np.random.default_rng(6)
    tangents = {k: rng.normal(size=np.shape(v)) for k, v in args.items()}
    cotangent = rng.normal(size=3)
    reference = lambda W, x, b: layer_np(W, x, b, np=jnp)  # noqa: E731
    primal = (args["W"], args["x"], args["b"])
    _, expected_t = jax.jvp(reference, primal, (tangents["W"], tangents["x"], tangents["b"]))
    _, pull = jax.vjp(reference, *primal)
    expected_v = pull(cotangent)
    _, t = gg.jvp(layer, backend=backend, specs=LAYER_SPECS)(**args, tangents=tangents)
    _, v = gg.vjp(layer, backend=backend, specs=LAYER_SPECS)(**args, cotangent=cotangent)
    np.testing.assert_allclose(t, expected_t, rtol=1e-12)
    for name, want in zip("Wxb", expected_v):
        np.testing.assert_allclose(v[name], want, rtol=1e-12, err_msg=name)


# --- jacobians -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("mode", ["forward", "reverse", "auto"])
def test_jacobian_in_every_mode_matches_central_differences(backend, mode):
    args = _layer_args(7)
    value, jac = gg.jacobian(layer, wrt=["W", "x"], mode=mode, backend=backend, specs=LAYER_SPECS)(**args)
    np.testing.assert_allclose(value, layer_np(**args), rtol=1e-13)
    assert jac["W"].shape == (3, 3, 4) and jac["x"].shape == (3, 4) and set(jac) == {"W", "x"}
    for name in ("W", "x"):
        for index in np.ndindex(args[name].shape):
            direction = np.zeros_like(args[name])
            direction[index] = 1.0
            column = _along(layer_np, args, {name: direction})
            np.testing.assert_allclose(jac[name][(slice(None), *index)], column, rtol=1e-6, atol=1e-8)


@needs_jax
@pytest.mark.parametrize("backend", BACKENDS)
def test_jacobians_agree_with_jacfwd_and_jacrev(backend):
    args = _layer_args(8)
    reference = lambda W, x, b: layer_np(W, x, b, np=jnp)  # noqa: E731
    primal = (args["W"], args["x"], args["b"])
    forward = jax.jacfwd(reference, argnums=(0, 1, 2))(*primal)
    reverse = jax.jacrev(reference, argnums=(0, 1, 2))(*primal)
    for mode, expected in (("forward", forward), ("reverse", reverse)):
        _, jac = gg.jacobian(layer, mode=mode, backend=backend, specs=LAYER_SPECS)(**args)
        for name, want in zip("Wxb", expected):
            np.testing.assert_allclose(jac[name], want, rtol=1e-12, atol=1e-15, err_msg=f"{mode} {name}")


def test_jacobian_of_a_scalar_function_is_its_gradient_and_of_a_scalar_input_has_its_shape():
    args = _logreg_args(9)
    _, jac = gg.jacobian(logreg, wrt=["w", "b"], backend="python", specs=LOGREG_SPECS)(**args)
    _, grads = gg.value_and_grad(logreg, wrt=["w", "b"], backend="python", specs=LOGREG_SPECS)(**args)
    assert jac["w"].shape == (4,) and np.shape(jac["b"]) == ()
    np.testing.assert_allclose(jac["w"], grads["w"], rtol=1e-13)
    assert float(jac["b"]) == pytest.approx(grads["b"], rel=1e-13)


# --- second order ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
def test_hessian_is_symmetric_and_the_central_differences_of_the_gradient(backend):
    args = _logreg_args(10)
    value, grads, H = gg.hessian(logreg, wrt=["w", "b"], backend=backend, specs=LOGREG_SPECS)(**args)
    gradient = gg.value_and_grad(logreg, wrt=["w", "b"], backend="python", specs=LOGREG_SPECS)
    assert value == pytest.approx(logreg_np(**args), rel=1e-13)
    np.testing.assert_allclose(grads["w"], gradient(**args)[1]["w"], rtol=1e-13)
    assert H["w"]["w"].shape == (4, 4) and H["w"]["b"].shape == (4,) and np.shape(H["b"]["b"]) == ()
    np.testing.assert_allclose(H["w"]["w"], H["w"]["w"].T, rtol=1e-13)
    np.testing.assert_allclose(H["w"]["b"], H["b"]["w"], rtol=1e-13)
    for k in range(4):
        direction = np.zeros(4)
        direction[k] = 1.0
        column = _along(lambda **a: gradient(**a)[1]["w"], args, {"w": direction})
        np.testing.assert_allclose(H["w"]["w"][:, k], column, rtol=1e-6, atol=1e-9)
    single = gg.hessian(logreg, wrt="w", backend=backend, specs=LOGREG_SPECS)(**args)[2]
    np.testing.assert_allclose(single, H["w"]["w"], rtol=1e-13)


@pytest.mark.parametrize("backend", BACKENDS)
def test_hvp_is_the_hessian_times_the_vector(backend):
    args = _logreg_args(11)
    rng = np.random.default_rng(12)
    v = {"w": rng.normal(size=4), "b": 0.7}
    value, grads, products = gg.hvp(logreg, wrt=["w", "b"], backend=backend, specs=LOGREG_SPECS)(**args, tangents=v)
    _, _, H = gg.hessian(logreg, wrt=["w", "b"], backend="python", specs=LOGREG_SPECS)(**args)
    np.testing.assert_allclose(products["w"], H["w"]["w"] @ v["w"] + H["w"]["b"] * v["b"], rtol=1e-12)
    assert float(products["b"]) == pytest.approx(float(H["b"]["w"] @ v["w"] + H["b"]["b"] * v["b"]), rel=1e-12)
    assert value == pytest.approx(logreg_np(**args), rel=1e-13)


@pytest.mark.parametrize("backend", BACKENDS)
def test_hvp_without_the_gradient_gives_the_same_products_for_less_work(backend):
    def layer_loss(W, x):
        return gg.sum(gg.tanh(x @ W) ** 2)

    rng = np.random.default_rng(15)
    W, x, v = rng.normal(size=(4, 3)), rng.normal(size=(6, 4)), rng.normal(size=(4, 3))
    specs = {"W": gg.Array((4, 3)), "x": gg.Array((6, 4))}
    full = gg.hvp(layer_loss, wrt="W", backend=backend, specs=specs)
    products_only = gg.hvp(layer_loss, wrt="W", backend=backend, specs=specs, with_gradient=False)
    value, grads, products = full(W, x, tangents={"W": v})
    only_value, only = products_only(W, x, tangents={"W": v})
    assert only_value == value and list(only) == ["W"]
    np.testing.assert_allclose(only["W"], products["W"], rtol=1e-14)
    np.testing.assert_allclose(products_only.unchecked(W, x, v)[1]["W"], products["W"], rtol=1e-14)
    travelled = pickle.loads(pickle.dumps(products_only))  # the setting travels with the kernel
    np.testing.assert_allclose(travelled(W, x, tangents={"W": v})[1]["W"], products["W"], rtol=1e-14)
    # x.T @ (cotangent of x @ W), the gradient's own product, is gone
    count = lambda kernel: sum(node.op == "matmul" for node in kernel.graph.nodes)  # noqa: E731
    assert count(products_only) == count(full) - 1
    with pytest.raises(gg.InputError, match="with_gradient must be True or False, got 'no'"):
        gg.hvp(layer_loss, wrt="W", specs=specs, with_gradient="no")


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_small_hessian_is_computed_once_per_pair_and_exactly_symmetric(backend):
    args = _logreg_args(16)
    kernel = gg.hessian(logreg, wrt="w", backend=backend, specs=LOGREG_SPECS)
    _, _, H = kernel(**args)
    np.testing.assert_array_equal(H, H.T)
    # X @ w, X.T @ (the gradient's cotangent), then along direction j the gradient's tangent from entry j
    # down only: 4 + 3 + 2 + 1 entries of X.T @ (its cotangent's tangent)
    products = [(kernel.graph.nodes[n.inputs[0]].shape, n.shape) for n in kernel.graph.nodes if n.op == "matmul"]
    assert products == [((50, 4), (50,)), ((4, 50), (4,)), ((4, 50), (4,)), ((3, 50), (3,)), ((2, 50), (2,)),
                        ((1, 50), (1,))]


def test_a_basis_direction_reads_only_the_entries_it_picks():
    """d(X @ w)/dw is X, inf entries and all: the derivative along e_j reads column j alone (inf * 0 in
    the other columns would make NaN)."""
    X = np.array([[1.0, np.inf], [2.0, 3.0]])
    for mode in ("forward", "reverse"):
        _, jac = gg.jacobian(lambda X, w: X @ w, wrt="w", mode=mode, backend="python",
                             X=gg.Array((2, 2)), w=gg.Array((2,)))(X, np.ones(2))
        if mode == "forward":
            np.testing.assert_array_equal(jac["w"], X)


@needs_jax
@pytest.mark.parametrize("backend", BACKENDS)
def test_second_order_agrees_with_jax(backend):
    args = _logreg_args(13)
    reference = lambda w, b: logreg_np(w, b, args["X"], args["y"], np=jnp)  # noqa: E731
    expected = jax.hessian(reference, argnums=(0, 1))(args["w"], args["b"])
    _, _, H = gg.hessian(logreg, wrt=["w", "b"], backend=backend, specs=LOGREG_SPECS)(**args)
    np.testing.assert_allclose(H["w"]["w"], expected[0][0], rtol=1e-12)
    np.testing.assert_allclose(H["w"]["b"], expected[0][1], rtol=1e-12)
    assert float(H["b"]["b"]) == pytest.approx(float(expected[1][1]), rel=1e-12)
    v = np.random.default_rng(14).normal(size=4)
    hv = jax.jvp(jax.grad(lambda w: reference(w, args["b"])), (args["w"],), (v,))[1]
    _, _, products = gg.hvp(logreg, wrt="w", backend=backend, specs=LOGREG_SPECS)(**args, tangents={"w": v})
    np.testing.assert_allclose(products["w"], hv, rtol=1e-12)


def rnn(h0, W, xs):
    """A loop: a tanh recurrence over the rows of xs, then a scalar loss."""
    h, _ = gg.scan(lambda h, x: (gg.tanh(W @ h + x), None), h0, xs)
    return gg.sum(h ** 2)


def rnn_np(h0, W, xs, np=np):
    h = h0
    for x in xs:
        h = np.tanh(W @ h + x)
    return np.sum(h ** 2)


@pytest.mark.parametrize("backend", BACKENDS)
def test_loops_differentiate_forward_and_forward_over_reverse(backend):
    rng = np.random.default_rng(15)
    args = {"h0": rng.normal(size=3), "W": rng.normal(size=(3, 3)) * 0.5, "xs": rng.normal(size=(5, 3))}
    specs = {k: gg.Array(v.shape) for k, v in args.items()}
    tangents = {"h0": rng.normal(size=3), "W": rng.normal(size=(3, 3))}
    _, t = gg.jvp(rnn, wrt=["h0", "W"], backend=backend, specs=specs)(**args, tangents=tangents)
    assert t == pytest.approx(float(_along(rnn_np, args, tangents)), rel=1e-7)
    _, _, H = gg.hessian(rnn, wrt="h0", backend=backend, specs=specs)(**args)
    gradient = gg.value_and_grad(rnn, wrt="h0", backend="python", specs=specs)
    for k in range(3):
        direction = np.eye(3)[k]
        column = _along(lambda **a: gradient(**a)[1]["h0"], args, {"h0": direction})
        np.testing.assert_allclose(H[:, k], column, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(H, H.T, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("backend", BACKENDS)
def test_stop_gradient_is_a_constant_in_every_mode(backend):
    def f(x):
        return gg.sum(x * gg.stop_gradient(x) ** 2)

    x = np.array([1.0, -2.0, 3.0])
    specs = {"x": gg.Array((3,))}
    assert gg.jvp(f, backend=backend, specs=specs)(x, tangents={"x": np.ones(3)})[1] == pytest.approx(14.0)
    np.testing.assert_allclose(gg.vjp(f, backend=backend, specs=specs)(x, cotangent=1.0)[1]["x"], x ** 2)
    np.testing.assert_allclose(gg.jacobian(f, backend=backend, specs=specs)(x)[1]["x"], x ** 2)
    np.testing.assert_array_equal(gg.hessian(f, wrt="x", backend=backend, specs=specs)(x)[2], np.zeros((3, 3)))


# --- the kernel around it --------------------------------------------------------------------------------
def test_kernels_without_specs_compile_per_signature_and_show_their_source():
    kernel = gg.jvp(lambda x, y: x * gg.exp(y), backend="python")
    assert kernel(2.0, 0.0, tangents={"x": 1.0, "y": 1.0}) == (2.0, 3.0)
    value, tangent = kernel(np.array([1.0, 2.0]), np.zeros(2), tangents={"y": np.ones(2)})
    np.testing.assert_array_equal(tangent, [1.0, 2.0])
    assert "y_dot" in kernel.source and "exp" in kernel.source
    assert kernel.unchecked(2.0, 0.0, 1.0, 1.0) == (2.0, 3.0)


@pytest.mark.parametrize("make, call, error, message", [
    (lambda: gg.hessian(layer, specs=LAYER_SPECS), lambda k: k(**_layer_args()), gg.GraphError,
     r"gg.hessian: the function must return a scalar float \(a loss\), got shape \(3,\)"),
    (lambda: gg.vjp(layer, specs=LAYER_SPECS), lambda k: k(**_layer_args()), gg.InputError,
     "a gg.vjp kernel needs cotangent="),
    (lambda: gg.jvp(layer, specs=LAYER_SPECS), lambda k: k(**_layer_args(), tangents={"z": 1.0}), gg.InputError,
     r"tangents: \['z'\] are not differentiated inputs"),
    (lambda: gg.jacobian(layer, mode="sideways", specs=LAYER_SPECS), None, gg.InputError,
     "mode must be one of"),
    (lambda: gg.jvp(layer, wrt="q", specs=LAYER_SPECS), None, gg.InputError, "wrt: 'q' is not an input"),
    (lambda: gg.hvp(lambda x, i: gg.sum(x[i]), wrt="i", x=gg.Array((3,)), i=gg.Array((2,), "int64")), None,
     gg.InputError, "wrt: 'i' is an int64 input and cannot be differentiated"),
])
def test_user_errors_say_what_to_do(make, call, error, message):
    with pytest.raises(error, match=message):
        kernel = make()
        if call is not None:
            call(kernel)


def _sin_dot(x, y):
    return gg.sum(gg.sin(x) * y)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_gradient_inside_a_traced_loss_is_differentiated_again(backend):
    inner = gg.grad(_sin_dot, wrt="x")
    directional = gg.jvp(_sin_dot, wrt="y")

    def loss(x, y):
        gx = inner(x, y)["x"]  # cos(x) * y, a value of this trace
        _, along = directional(x, y, tangents={"y": x})  # sum(sin(x) * x)
        return gg.sum(gx ** 2) + along

    x, y = np.array([0.3, 1.2, -0.7]), np.array([2.0, -1.0, 0.5])
    value, grads = gg.value_and_grad(loss, backend=backend, x=gg.Array((3,)), y=gg.Array((3,)))(x, y)
    assert value == pytest.approx(np.sum(np.cos(x) ** 2 * y ** 2) + np.sum(np.sin(x) * x), rel=1e-14)
    np.testing.assert_allclose(grads["x"], -2 * np.cos(x) * np.sin(x) * y ** 2 + np.cos(x) * x + np.sin(x),
                               rtol=1e-13)
    np.testing.assert_allclose(grads["y"], 2 * np.cos(x) ** 2 * y, rtol=1e-13)


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_loop_over_directions_gives_what_the_unrolled_directions_give(backend, monkeypatch):
    """Beyond UNROLLED_DIRECTIONS, Jacobians and Hessians loop over the basis (one gg.scan)."""
    from gradgen.dsl import transforms

    args = _layer_args(16)
    logreg_args = _logreg_args(17)
    jacobian = lambda: gg.jacobian(layer, wrt=["x", "b"], mode="forward", backend=backend,  # noqa: E731
                                   specs=LAYER_SPECS)
    hessian = lambda: gg.hessian(logreg, wrt=["w", "b"], backend=backend, specs=LOGREG_SPECS)  # noqa: E731
    kernels = (jacobian(), hessian())
    unrolled = (kernels[0](**args), kernels[1](**logreg_args))
    assert all("scan" not in {node.op for node in k.graph.nodes} for k in kernels)
    monkeypatch.setattr(transforms, "UNROLLED_DIRECTIONS", 0)
    kernels = (jacobian(), hessian())
    looped = (kernels[0](**args), kernels[1](**logreg_args))
    assert all("scan" in {node.op for node in k.graph.nodes} for k in kernels)
    for name in "xb":
        np.testing.assert_allclose(looped[0][1][name], unrolled[0][1][name], rtol=1e-13, atol=1e-15)
    for a in ("w", "b"):
        for b in ("w", "b"):
            np.testing.assert_allclose(looped[1][2][a][b], unrolled[1][2][a][b], rtol=1e-13, atol=1e-15)


@needs_cc
def test_derivative_kernels_export_as_standalone_c(tmp_path):
    kernel = gg.hvp(logreg, wrt="w", specs={**LOGREG_SPECS, "X": gg.Array((3, 4)), "y": gg.Array((3,))})
    h, _ = gg.export_c(kernel, tmp_path, "newton")
    header = h.read_text()
    assert "w_dot" in header and "Hv_w" in header
    values = _run(tmp_path, "newton", """
#include <stdio.h>
#include <stdlib.h>
#include "newton.h"
int main(void) {
    const double w[4] = {0.1, -0.2, 0.3, 0.4}, X[12] = {1, 2, 0, -1, 0.5, 0, 1, 1, -1, 2, 0.5, 0}, y[3] = {1, 0, 1};
    const double v[4] = {1, 0, -1, 0.5};
    double J, dw[4], hv[4];
    double *work = malloc(sizeof(double) * (newton_work_size() + 1));
    int status = newton(w, 0.2, X, y, v, &J, dw, hv, work);
    printf("%d %.17g %.17g %.17g %.17g %.17g\\n", status, J, hv[0], hv[1], hv[2], hv[3]);
    free(work);
    return 0;
}
""")
    X = np.array([[1, 2, 0, -1], [0.5, 0, 1, 1], [-1, 2, 0.5, 0]], dtype=float)
    w, v = np.array([0.1, -0.2, 0.3, 0.4]), np.array([1.0, 0.0, -1.0, 0.5])
    value, _, products = kernel(w, 0.2, X, np.array([1.0, 0.0, 1.0]), tangents={"w": v})
    assert values[0] == 0
    np.testing.assert_allclose(values[1:], [value, *products["w"]], rtol=1e-12)
