"""What a user coming from NumPy writes that tracing cannot take: each error names the expression and says
what to write instead, and x[:, idx] (an index array with whole axes) works."""

from __future__ import annotations

import math

import numpy as np
import pytest

import gradgen as gg


def _fails(fn, error, message: str) -> None:
    with pytest.raises(error, match=message):
        gg.compile(fn, x=gg.Array((2, 3)))


def test_python_numbers_and_conversions_say_what_to_use_instead():
    _fails(lambda x: float(x), gg.TracingError, r"float\(\) .* use gg's functions \(gg.exp, gg.log")
    _fails(lambda x: math.exp(x[0, 0]), gg.TracingError, r"math module, such as math.exp\).*gg's functions")
    _fails(lambda x: np.asarray(x), gg.TracingError, r"np.asarray or np.array .* Use the value as it is.*gg.stack")
    _fails(lambda x: 1.0 if x[0, 0] > 0 else 0.0, gg.TracingError, "Branch with gg.where")
    _fails(lambda x: range(x[0, 0]), gg.TracingError, "Index with an int64 input instead")


def test_numpy_functions_gradgen_lacks_name_what_exists_or_say_it_is_missing():
    _fails(lambda x: np.diff(x), gg.TracingError, r"numpy.diff .* write x\[1:\] - x\[:-1\]")
    _fails(lambda x: np.add.reduce(x), gg.TracingError, r"numpy.add.reduce .* use gg.sum")
    _fails(lambda x: np.gradient(x), gg.TracingError, "gradgen has no gradient yet")
    _fails(lambda x: np.exp(x, out=np.empty((2, 3))), gg.TracingError, r"numpy.exp with out= .* call it without")


def test_assigning_into_a_traced_value_is_an_input_error_naming_the_way_out():
    def fn(x):
        x[0] = 0.0
        return x

    _fails(fn, gg.InputError, r"x\[0\] = \.\.\. on x .* cannot be changed in place.*gg.where\(mask, new, x\)")


@pytest.mark.parametrize("backend", ["python", "c"])
def test_an_index_array_with_whole_axes_takes_along_that_axis(backend):
    X = np.arange(24.0).reshape(2, 3, 4)
    idx = np.array([3, 0, 3])
    cases = [(lambda x: x[:, :, idx], X[:, :, idx]), (lambda x: x[..., idx], X[..., idx]),
             (lambda x: x[:, [2, 0]], X[:, [2, 0]]), (lambda x: x[[1, 0], ...], X[[1, 0], ...]),
             (lambda x: x[:, np.array([[1], [2]]), :], X[:, np.array([[1], [2]]), :])]
    for fn, expected in cases:
        got = gg.compile(fn, backend=backend, x=gg.Array((2, 3, 4)))(X)
        np.testing.assert_array_equal(got, expected)
    weights = np.random.default_rng(0).normal(size=(2, 3, 3))
    _, grads = gg.value_and_grad(lambda x: gg.sum(x[:, :, idx] * weights), backend=backend,
                                 x=gg.Array((2, 3, 4)))(X)
    expected = np.zeros_like(X)
    np.add.at(expected, (slice(None), slice(None), idx), weights)
    np.testing.assert_array_equal(grads["x"], expected)
    with pytest.raises(gg.ShapeError, match="index 4 is out of bounds for axis 2 of size 4"):
        gg.compile(lambda x: x[..., np.array([4])], x=gg.Array((2, 3, 4)))
    with pytest.raises(gg.InputError, match=r"combines only with whole axes .*x\[1:\]\[:, idx\]"):
        gg.compile(lambda x: x[1:, idx], x=gg.Array((2, 3, 4)))


# --- signatures a user writes ---------------------------------------------------------------------------
def loss_with_defaults(w, x, scale=2.0, *, power=2):
    return gg.sum((w * x) ** power) * scale


@pytest.mark.parametrize("backend", ["python", "c"])
def test_parameters_with_defaults_are_constants_unless_given_a_spec(backend):
    w, x = np.array([0.5, -1.0, 2.0]), np.array([1.0, 2.0, 3.0])
    kernel = gg.value_and_grad(loss_with_defaults, wrt="w", backend=backend, w=gg.Array((3,)), x=gg.Array((3,)))
    assert kernel.graph.input_names == ("w", "x")
    value, grads = kernel(w, x)
    assert value == pytest.approx(2.0 * np.sum((w * x) ** 2), rel=1e-15)
    np.testing.assert_allclose(grads["w"], 4.0 * w * x * x, rtol=1e-15)
    jit = gg.value_and_grad(loss_with_defaults, wrt="w", backend=backend)  # shapes from the first call
    assert jit(w, x)[0] == value
    given = gg.value_and_grad(loss_with_defaults, wrt=["w", "scale"], backend=backend, w=gg.Array((3,)),
                              x=gg.Array((3,)), scale=gg.Scalar())
    value, grads = given(w, x, 3.0)
    assert value == pytest.approx(3.0 * np.sum((w * x) ** 2), rel=1e-15)
    assert grads["scale"] == pytest.approx(np.sum((w * x) ** 2), rel=1e-15)
    with pytest.raises(gg.InputError, match="argument 'scale' has a Python default and no spec"):
        kernel(w, x, scale=3.0)
    with pytest.raises(gg.InputError, match="'scale', 'power' kept their defaults as constants"):
        kernel(w, x, 3.0)


@pytest.mark.parametrize("backend", ["python", "c"])
def test_a_partial_traces_as_the_function_it_calls(backend):
    import functools

    data = np.array([1.0, 2.0, 3.0])
    bound = functools.partial(loss_with_defaults, x=data, scale=0.5)
    kernel = gg.value_and_grad(bound, backend=backend, w=gg.Array((3,)))
    value, grads = kernel(np.ones(3))
    assert value == pytest.approx(0.5 * np.sum(data**2)) and list(grads) == ["w"]
    np.testing.assert_allclose(grads["w"], data**2, rtol=1e-15)
    assert "loss_with_defaults" in kernel.source  # named after the function, not "partial"
    positional = gg.compile(functools.partial(loss_with_defaults, np.ones(3)), backend=backend, x=gg.Array((3,)))
    assert positional(data) == pytest.approx(2.0 * np.sum(data**2))
    table = gg.backprop_table(loss_with_defaults, w=np.ones(3), x=data)  # the views fold defaults too
    assert [row.name for row in table.rows][:2] == ["w", "x"]


def logistic_with_metrics(w, X, y):
    logits = X @ w
    loss = gg.mean(gg.softplus(logits) - y * logits)
    accuracy = gg.mean(gg.cast((logits > 0.0) == (y > 0.5), "float64"))
    return loss, {"accuracy": accuracy, "logits": logits, "pair": (logits[0], 2.0), "listed": [gg.sum(w)]}


@pytest.mark.parametrize("backend", ["python", "c"])
def test_has_aux_returns_the_aux_values_beside_the_gradient(backend):
    rng = np.random.default_rng(3)
    X, y, w = rng.normal(size=(8, 3)), (rng.random(8) > 0.5).astype(float), rng.normal(size=3)
    logits = X @ w
    expected_loss = np.mean(np.logaddexp(0.0, logits) - y * logits)
    expected_grad = X.T @ (1.0 / (1.0 + np.exp(-logits)) - y) / 8
    kernel = gg.value_and_grad(logistic_with_metrics, wrt="w", backend=backend, has_aux=True,
                               w=gg.Array((3,)), X=gg.Array((8, 3)), y=gg.Array((8,)))
    (value, aux), grads = kernel(w, X, y)
    assert value == pytest.approx(expected_loss, rel=1e-14)
    np.testing.assert_allclose(grads["w"], expected_grad, rtol=1e-13)
    assert list(grads) == ["w"] and list(aux) == ["accuracy", "logits", "pair", "listed"]
    assert aux["accuracy"] == np.mean((logits > 0) == (y > 0.5))
    np.testing.assert_allclose(aux["logits"], logits, rtol=1e-15)
    assert aux["pair"] == (pytest.approx(logits[0], rel=1e-15), 2.0) and isinstance(aux["listed"], list)
    only_grads, aux_again = gg.grad(logistic_with_metrics, wrt="w", backend=backend, has_aux=True)(w, X, y)
    np.testing.assert_allclose(only_grads["w"], expected_grad, rtol=1e-13)
    assert aux_again["accuracy"] == aux["accuracy"]
    single = gg.value_and_grad(lambda x: (x * x, x + 1.0), backend=backend, has_aux=True)
    assert single(3.0) == ((9.0, 4.0), {"x": 6.0})


def test_has_aux_errors_name_what_is_wrong():
    with pytest.raises(gg.GraphError, match="with has_aux=True the function returns \\(loss, aux\\), got Value"):
        gg.value_and_grad(lambda x: x * x, has_aux=True, x=gg.Scalar())
    with pytest.raises(gg.GraphError, match="pass has_aux=True"):
        gg.value_and_grad(lambda x: (x * x, x), x=gg.Scalar())
    with pytest.raises(gg.GraphError, match="the keys of an aux dict must be strings or ints, got \\(1, 2\\)"):
        gg.value_and_grad(lambda x: (x * x, {(1, 2): x}), has_aux=True, x=gg.Scalar())
    with pytest.raises(gg.InputError, match="has_aux must be True or False, got 'yes'"):
        gg.value_and_grad(lambda x: x * x, has_aux="yes")
    graph = gg.trace(lambda x: x * x)
    with pytest.raises(gg.InputError, match="has_aux=True needs a Python function"):
        gg.value_and_grad(graph, has_aux=True)
