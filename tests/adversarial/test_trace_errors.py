"""What a traced function or a spec can get wrong is a GradgenError that says what to do, never a raw
Python error: keyword-only parameters are traced, and names in the function cannot break the kernel."""

from __future__ import annotations

import math

import numpy as np
import pytest

import gradgen as gg


def test_keyword_only_parameters_are_traced_and_called_by_keyword():
    def scaled(x, *, scale):
        return x * scale

    for backend in ("python", "c"):
        kernel = gg.value_and_grad(scaled, backend=backend)
        assert kernel(2.0, scale=3.0) == (6.0, {"x": 3.0, "scale": 2.0})
    assert gg.trace(scaled).input_names == ("x", "scale")


def test_locals_named_like_the_exceptions_of_the_ieee_fallback_do_not_break_it():
    def shadowing(x):
        ValueError = x * 2.0  # noqa: N806 - the point of the test
        ArithmeticError = gg.log(ValueError - x)  # noqa: N806
        return ArithmeticError

    kernel = gg.value_and_grad(shadowing, backend="python")
    assert kernel(0.0)[0] == -math.inf  # math.log(0) raises: the NumPy twin answers
    assert kernel(1.0) == (0.0, {"x": 1.0})
    value, grads = kernel(-1.0)
    assert math.isnan(value) and grads == {"x": -1.0}


def test_a_nul_in_a_name_is_an_input_error():
    with pytest.raises(gg.InputError, match="gg.name: the name 'a\\\\x00b' holds a NUL character"):
        gg.trace(lambda x: gg.exp(gg.name(x * 2.0, "a\0b")) * x)


def test_control_characters_in_names_cannot_break_a_python_kernel():
    def f(x):
        y = gg.name(gg.exp(x * 2.0), 'a\x1b"""\\\r\x85b')
        return gg.name(y * x, "J\u2028")

    for backend in ("python", "c"):
        value, grads = gg.value_and_grad(f, backend=backend)(0.5)
        assert value == pytest.approx(0.5 * math.e) and grads["x"] == pytest.approx(2 * math.e)


@pytest.mark.parametrize("fn, error, message", [
    (lambda x: x[::0], gg.ShapeError, r"slice\(None, None, 0\): a slice step cannot be zero"),
    (lambda x: x[1.5:], gg.InputError, "slice bounds and steps must be ints or None"),
    (lambda x: x[True], gg.InputError, "NumPy reads a bool as a mask"),
    (lambda x: x[[0, 1], 0], gg.InputError, "an index array combines only with whole axes"),
    (lambda x: gg.concatenate([]), gg.ShapeError, "concatenate: needs at least one array, got none"),
    (lambda x: gg.stack([]), gg.ShapeError, "stack: needs at least one array, got none"),
    (lambda x: gg.concatenate(3.0), gg.InputError, "concatenate: expected a sequence of arrays"),
    (lambda x: gg.reshape(x, (1.5, 2)), gg.InputError, r"reshape: the new shape: expected ints, got 1.5"),
    (lambda x: x.reshape(True, 3), gg.InputError, "reshape: the new shape: expected ints, got True"),
    (lambda x: gg.broadcast_to(x, (2.0, 3)), gg.InputError, "broadcast_to: the shape: expected ints"),
    (lambda x: gg.sum(x, axis=True), gg.InputError, "sum: axis: expected ints, got True"),
    (lambda x: gg.transpose(x, (0.0,)), gg.InputError, "transpose: axes: expected ints"),
])
def test_bad_indices_shapes_and_axes_are_gradgen_errors(fn, error, message):
    with pytest.raises(error, match=message):
        gg.trace(fn, x=gg.Array((3,)))


@pytest.mark.parametrize("shape", [(True, 3), (3, False), True, (np.True_,), (2.0,), 3.0, (-1,), (None,)])
def test_a_spec_shape_is_made_of_non_negative_ints(shape):
    with pytest.raises(gg.InputError, match="Array spec: shape must be non-negative ints"):
        gg.Array(shape)


def test_a_spec_too_large_to_exist_says_so():
    with pytest.raises(gg.InputError, match=r"shape \(1099511627776, 1099511627776\) has "
                                            r"1,208,925,819,614,629,174,706,176 elements of 8 bytes"):
        gg.Array((2**40, 2**40))
    assert gg.Array((2**20, 2**20)).shape == (2**20, 2**20)  # large, but it can exist: tracing works
    graph = gg.trace(lambda x: gg.mean(x), x=gg.Array((2**20, 2**20)))
    assert graph.nodes[graph.outputs[0]].shape == ()


def test_a_result_too_large_to_exist_is_a_shape_error_naming_the_line():
    def outer(a, b):
        return gg.sum(a * b)

    with pytest.raises(gg.ShapeError, match=r"multiply: operands of shapes \(4294967296, 1\) and \(1, 4294967296\) "
                                            r"broadcast to a shape \(4294967296, 4294967296\) has .* elements of 8 "
                                            r"bytes, more than the .* bytes one array can address\n  at "
                                            r".*test_trace_errors.py"):
        gg.trace(outer, a=gg.Array((2**32, 1)), b=gg.Array((1, 2**32)))
    with pytest.raises(gg.ShapeError, match=r"matmul: the result's shape \(4294967296, 4294967296\) has"):
        gg.trace(lambda a, b: gg.sum(a @ b), a=gg.Array((2**32, 1)), b=gg.Array((1, 2**32)))


@pytest.mark.parametrize("fn", [lambda x: [x, x], lambda x: (x, [x * 2.0])], ids=["list", "nested"])
def test_returning_a_list_of_values_says_to_return_a_tuple(fn):
    with pytest.raises(gg.GraphError, match="holding gradgen values; return one value or a flat tuple of values"):
        gg.trace(fn)
