"""gg.custom_op: a function with the user's own derivative rules, used by every mode on both backends."""

from __future__ import annotations

import numpy as np
import pytest

import gradgen as gg

BACKENDS = ["python", "c"]


def _log1pexp(x):
    return gg.log1p(gg.exp(x))


softplus = gg.custom_op(_log1pexp, vjp=lambda g, out, x: (g * gg.sigmoid(x),),
                        jvp=lambda t, out, x: t[0] * gg.sigmoid(x), name="my_softplus")

# A straight-through estimator: the value is rounded, the gradient passes as if it were not.
straight_through = gg.custom_op(lambda x: gg.rint(x), vjp=lambda g, out, x: (g,), jvp=lambda t, out, x: t[0])


def _scaled(x, s):
    return x * s


# A rule that is deliberately not the derivative: shows which rule each mode runs.
marked = gg.custom_op(_scaled, vjp=lambda g, out, x, s: (10.0 * g, None), jvp=lambda t, out, x, s: 100.0 * t[0])


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_rules_are_the_derivative_against_central_differences(backend):
    x = np.array([-3.0, 0.5, 2.0])
    value, grads = gg.value_and_grad(lambda x: gg.sum(softplus(x) ** 2), backend=backend, x=gg.Array((3,)))(x)
    f = lambda x: np.sum(np.log1p(np.exp(x)) ** 2)  # noqa: E731
    assert value == pytest.approx(f(x), rel=1e-14)
    fd = [(f(x + h) - f(x - h)) / 2e-6 for h in np.eye(3) * 1e-6]
    np.testing.assert_allclose(grads["x"], fd, rtol=1e-7)
    hv = gg.hvp(lambda x: gg.sum(softplus(x) ** 2), backend=backend, x=gg.Array((3,)))(x, tangents={"x": np.ones(3)})
    s = 1 / (1 + np.exp(-x))
    np.testing.assert_allclose(hv[2]["x"], 2 * s * s + 2 * np.log1p(np.exp(x)) * s * (1 - s), rtol=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
def test_reverse_mode_runs_the_vjp_and_forward_mode_the_jvp(backend):
    x = np.array([1.0, 2.0])
    specs = {"x": gg.Array((2,)), "s": gg.Scalar()}
    value, grads = gg.value_and_grad(lambda x, s: gg.sum(marked(x, s)), backend=backend, specs=specs)(x, 3.0)
    assert value == 9.0
    np.testing.assert_array_equal(grads["x"], [10.0, 10.0])
    assert grads["s"] == 0.0  # the rule gives s no gradient
    _, tangent = gg.jvp(lambda x, s: marked(x, s), wrt="x", backend=backend, specs=specs)(
        x, 3.0, tangents={"x": np.array([1.0, -1.0])})
    np.testing.assert_array_equal(tangent, [100.0, -100.0])
    _, grads = gg.value_and_grad(lambda x: gg.sum(straight_through(x) * x), backend=backend, x=gg.Array((2,)))(
        np.array([0.4, 1.6]))
    np.testing.assert_allclose(grads["x"], [0.4 + 0.0, 1.6 + 2.0])  # d/dx(round(x)) taken as 1


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_custom_op_inside_a_loop_body(backend):
    def f(h0, xs):
        h, _ = gg.scan(lambda h, x: (softplus(h * x), None), h0, xs)
        return gg.sum(h)

    h0, xs = np.array([0.5, -0.2]), np.array([[1.0, 2.0], [0.5, -1.0], [2.0, 0.3]])
    value, grads = gg.value_and_grad(f, backend=backend, h0=gg.Array((2,)), xs=gg.Array((3, 2)))(h0, xs)

    def ref(h0):
        h = h0
        for x in xs:
            h = np.log1p(np.exp(h * x))
        return np.sum(h)

    assert value == pytest.approx(ref(h0), rel=1e-13)
    fd = [(ref(h0 + h) - ref(h0 - h)) / 2e-6 for h in np.eye(2) * 1e-6]
    np.testing.assert_allclose(grads["h0"], fd, rtol=1e-7)


def test_the_generated_code_is_the_function_itself_and_plain_arrays_compute_directly():
    kernel = gg.value_and_grad(lambda x: gg.sum(softplus(x)), backend="python", x=gg.Array((3,)))
    assert "my_softplus = np.log1p(t1)" in kernel.source and "custom_my_softplus(" not in kernel.source
    assert "dJ_dx = 1.0 / (1.0 + np.exp(-x))  # dJ/dx through (custom_my_softplus)" in kernel.source  # the rule
    assert "custom_my_softplus" in {node.op for node in gg.trace(lambda x: softplus(x), x=gg.Array((3,))).nodes}
    np.testing.assert_allclose(softplus(np.array([0.0])), [np.log(2.0)])


def test_a_mode_without_its_rule_says_which_is_missing():
    only_reverse = gg.custom_op(_scaled, vjp=lambda g, out, x, s: (g * s, g * x))
    with pytest.raises(gg.GraphError, match="has no forward-mode rule"):
        kernel = gg.jvp(lambda x: only_reverse(x, 2.0), backend="python", x=gg.Array((2,)))
        kernel(np.ones(2), tangents={"x": np.ones(2)})
    only_forward = gg.custom_op(_scaled, jvp=lambda t, out, x, s: t[0] * s)
    with pytest.raises(gg.GraphError, match="has no gradient rule"):
        gg.value_and_grad(lambda x: gg.sum(only_forward(x, 2.0)), backend="python", x=gg.Array((2,)))


@pytest.mark.parametrize("make, message", [
    (lambda: gg.custom_op(_scaled), "give vjp= \\(reverse mode\\), jvp= \\(forward mode\\) or both"),
    (lambda: gg.custom_op(_scaled, vjp=lambda g, out, x, s: (g,)), "vjp returned 1 cotangents for 2 inputs"),
    (lambda: gg.custom_op(_scaled, vjp=lambda g, out, x, s: (gg.sum(g), None)),
     r"vjp returned shape \(\) for input 'x' of shape \(2,\)"),
    (lambda: gg.custom_op(_scaled, vjp=lambda g, out, x, s: (g, None), name="not a name"),
     "name must be an identifier"),
])
def test_bad_rules_are_errors_that_say_what_to_return(make, message):
    with pytest.raises(gg.GradgenError, match=message):
        op = make()
        gg.value_and_grad(lambda x: gg.sum(op(x, 2.0)), backend="python", x=gg.Array((2,)))
