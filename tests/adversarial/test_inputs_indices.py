"""Index inputs: exact conversion with range checks, int64 scalars as indices, errors that name the argument.

- An index converts exactly or raises InputError naming its argument: a
  uint64 2**64 - 1 used to wrap to -1 and read x[-1].
- ``x[i]`` with ``i = gg.Scalar("int64")`` works (and ``X[i, :]``, ``X[:, i]``).
- An index out of range for the array it indexes names the argument that
  holds it, on the Python backend too, also through views (``labels[:, None]``).
- One rule for integer arrays whatever a kernel was called with before.
"""

from __future__ import annotations

import numpy as np
import pytest

import gradgen as gg

BACKENDS = ["python", "c"]


def _gather(backend: str, size: int = 3):
    return gg.value_and_grad(lambda i, x: gg.sum(x[i] ** 2), wrt="x", backend=backend, i=gg.Array((2,), "int64"),
                             x=gg.Array((size,)))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("indices, message", [
    (np.array([0, 2**64 - 1], dtype=np.uint64), "index 18446744073709551615 is outside the int64 range"),
    ([0, 2**63], "index 9223372036854775808 is outside the int64 range"),
    ([0, -(2**63) - 1], "index -9223372036854775809 is outside the int64 range"),
    ([0, 2**70], "index 1180591620717411303424 is outside the int64 range"),
    ([0, 1.5], r"expected integer indices \(int64\), got the entry 1.5"),
    (np.array([0.0, 1.0]), "expected integer indices"),
    ([True, False], "expected a numeric array"),
    ([0, "1"], "expected a numeric array"),
])
def test_index_arrays_convert_exactly_or_name_the_argument(backend, indices, message):
    kernel = _gather(backend)
    with pytest.raises(gg.InputError, match=f"argument 'i': {message}"):
        kernel(indices, np.arange(3.0))


@pytest.mark.parametrize("backend", BACKENDS)
def test_exact_index_arrays_of_any_integer_type_work(backend):
    kernel = _gather(backend)
    expected = (4.0 + 1.0, {"x": pytest.approx(np.array([0.0, 2.0, 4.0]))})
    for indices in ([1, 2], np.array([1, -1], dtype=np.int8), np.array([1, 2], dtype=np.uint64),
                    np.array([1, 2], dtype=object), (np.int64(1), 2)):
        assert kernel(indices, np.arange(3.0)) == expected


def _pick(backend: str):
    return gg.value_and_grad(lambda x, i: x[i] * x[i], wrt="x", backend=backend, x=gg.Array((3,)),
                             i=gg.Scalar("int64"))


@pytest.mark.parametrize("i, expected", [(1, 1), (-1, 2), (np.int64(2), 2), (np.uint8(0), 0), (np.array(2), 2)])
def test_an_int64_scalar_input_indexes_on_the_python_backend(i, expected):
    x = np.array([3.0, -2.0, 5.0])
    value, grads = _pick("python")(x, i)
    assert value == x[expected] ** 2
    np.testing.assert_array_equal(grads["x"], np.where(np.arange(3) == expected, 2 * x[expected], 0.0))


@pytest.mark.parametrize("i, message", [
    (3, r"argument 'i': an index is out of range.*index 3 is out of bounds for axis 0 with size 3"),
    (-4, "argument 'i': an index is out of range"),
    (2**63, "argument 'i': index 9223372036854775808 is outside the int64 range"),
    (10**30, "argument 'i': index 10{30} is outside the int64 range"),
    (np.uint64(2**64 - 1), "argument 'i': index 18446744073709551615 is outside the int64 range"),
    (1.0, r"argument 'i': expected an integer index \(int64\), got the float 1.0"),
    (np.float64(1.5), "argument 'i': expected an integer index"),
    (True, "argument 'i': expected a number, got a bool"),
])
def test_a_bad_int64_scalar_index_names_its_argument(i, message):
    with pytest.raises(gg.InputError, match=message):
        _pick("python")(np.zeros(3), i)


def test_x_of_an_int64_scalar_is_a_take_of_a_scalar_index_in_the_graph():
    graph = gg.trace(lambda x, i: x[i], x=gg.Array((3,)), i=gg.Scalar("int64"))
    take = [n for n in graph.nodes if n.op == "take"]
    assert len(take) == 1 and take[0].shape == () and graph.nodes[take[0].inputs[1]].params == {"name": "i"}


@pytest.mark.parametrize("backend", BACKENDS)
def test_int64_scalars_index_rows_and_columns(backend):
    def f(X, i, j):
        return gg.sum(X[i, :]) * X[1, j] + gg.sum(X[:, i]) + gg.sum(X[..., j, None])

    kernel = gg.value_and_grad(f, wrt="X", backend=backend, X=gg.Array((3, 4)), i=gg.Scalar("int64"),
                               j=gg.Scalar("int64"))
    X = np.arange(12.0).reshape(3, 4)
    value, grads = kernel(X, 2, -1)
    assert value == X[2, :].sum() * X[1, -1] + X[:, 2].sum() + X[:, -1].sum()
    expected = np.zeros((3, 4))
    expected[2, :] += X[1, -1]
    expected[1, -1] += X[2, :].sum()
    expected[:, 2] += 1.0
    expected[:, -1] += 1.0
    np.testing.assert_array_equal(grads["X"], expected)
    with pytest.raises(gg.InputError, match="argument 'i'"):
        kernel(X, 3, 0)
    with pytest.raises(gg.InputError, match="argument 'j'"):
        kernel(X, 0, 4)


def test_a_float_scalar_as_an_index_says_how_to_make_it_an_int64_input():
    with pytest.raises(gg.InputError, match=r"must be an int64 scalar.*gg.Scalar\('int64'\)"):
        gg.trace(lambda x, i: x[i], x=gg.Array((3,)))


def _cross_entropy(W, labels):
    return -gg.sum(gg.take_along_axis(gg.log_softmax(W), labels[:, None], axis=1))


@pytest.mark.parametrize("make", [
    lambda: gg.value_and_grad(_cross_entropy, wrt="W", backend="python", W=gg.Array((2, 3)),
                              labels=gg.Array((2,), "int64")),
    lambda: gg.compile(_cross_entropy, backend="python", W=gg.Array((2, 3)), labels=gg.Array((2,), "int64")),
    lambda: gg.value_and_grad(_cross_entropy, wrt="W", backend="python"),  # JIT: labels become an index input
], ids=["value_and_grad", "compile", "jit"])
@pytest.mark.parametrize("labels", [[0, 3], [-4, 1], [2**40, 0]])
def test_python_index_errors_name_the_argument_through_views(make, labels):
    with pytest.raises(gg.InputError, match=r"argument 'labels': an index is out of range.*out of bounds for axis 1"):
        make()(np.ones((2, 3)), np.array(labels))


def test_python_index_errors_name_the_argument_among_several():
    def f(x, i, j):
        return gg.sum(x[i]) + gg.sum(x[j[::-1]])

    kernel = gg.value_and_grad(f, wrt="x", backend="python", x=gg.Array((4,)), i=gg.Array((2,), "int64"),
                               j=gg.Array((2,), "int64"))
    assert kernel(np.arange(4.0), np.array([0, 3]), np.array([1, 2]))[0] == 6.0
    with pytest.raises(gg.InputError, match="argument 'j':"):
        kernel(np.arange(4.0), np.array([0, 3]), np.array([1, 4]))
    with pytest.raises(gg.InputError, match="argument 'i':"):
        kernel(np.arange(4.0), np.array([-5, 3]), np.array([1, 2]))


def test_an_index_into_an_index_array_is_named_not_the_array_it_indexes():
    kernel = gg.compile(lambda x, i, j: gg.sum(x[i[j]]), backend="python", x=gg.Array((4,)),
                        i=gg.Array((3,), "int64"), j=gg.Array((2,), "int64"))
    assert kernel(np.arange(4.0), np.array([3, 2, 1]), np.array([0, 2])) == 4.0
    with pytest.raises(gg.InputError, match="argument 'j': .*index 3 is out of bounds for axis 0 with size 3"):
        kernel(np.arange(4.0), np.array([3, 2, 1]), np.array([0, 3]))
    with pytest.raises(gg.InputError, match="argument 'i' or 'j': .*index 9 is out of bounds for axis 0 with size 4"):
        kernel(np.arange(4.0), np.array([9, 2, 1]), np.array([0, 2]))


def test_constant_indices_out_of_range_are_shape_errors_at_trace_time():
    with pytest.raises(gg.ShapeError, match="index 3 is out of bounds for axis 0 of size 3"):
        gg.trace(lambda x: x[np.array([0, 3])], x=gg.Array((3,)))
    with pytest.raises(gg.ShapeError, match="index 18446744073709551615 is out of bounds"):
        gg.trace(lambda x: x[np.array([2**64 - 1], dtype=np.uint64)], x=gg.Array((3,)))
    with pytest.raises(gg.InputError, match="does not fit in int64"):
        gg.trace(lambda x: gg.take_along_axis(x, np.array([2**64 - 1], dtype=np.uint64), 0), x=gg.Array((3,)))


# --- one rule for integer arrays, whatever came first ----------------------------------------------
def _square_sum(x):
    return gg.sum(x * x)


@pytest.mark.parametrize("order", [("int", "float"), ("float", "int")])
def test_a_jit_kernel_treats_integer_arrays_the_same_whatever_came_first(order):
    kernel = gg.value_and_grad(_square_sum)
    arrays = {"int": np.array([1, 2]), "float": np.array([1.0, 2.0])}
    results = {kind: kernel(arrays[kind]) for kind in order}
    assert results["int"] == (5.0, {})  # an int64 index input: never differentiated
    assert results["float"][0] == 5.0 and results["float"][1]["x"].tolist() == [2.0, 4.0]


@pytest.mark.parametrize("make", [
    lambda: gg.value_and_grad(_square_sum, wrt="x"),
    lambda: gg.value_and_grad(_square_sum, wrt=["x"], x=gg.Array((2,))),
], ids=["jit", "specs"])
def test_an_integer_array_to_differentiate_is_an_input_error_before_and_after_a_float_call(make):
    kernel = make()
    message = r"argument 'x' is in wrt but holds integers \(dtype int64\).*x.astype\(float\)"
    with pytest.raises(gg.InputError, match=message):
        kernel(np.array([1, 2]))
    assert kernel(np.array([1.0, 2.0]))[0] == 5.0
    with pytest.raises(gg.InputError, match=message):
        kernel(np.array([1, 2]))
    with pytest.raises(gg.InputError, match="holds integers"):
        kernel([3, 4])


def test_integer_scalars_stay_numbers_and_specs_decide_for_arrays():
    kernel = gg.value_and_grad(lambda w, x: w * x, wrt="w")
    assert kernel(2, 3) == (6.0, {"w": 3.0}) and kernel(np.int64(2), 3.0) == (6.0, {"w": 3.0})
    not_differentiated = gg.value_and_grad(_square_sum, wrt=[], x=gg.Array((2,)))
    assert not_differentiated(np.array([1, 2])) == (5.0, {})  # a float spec converts the integers


def test_a_jit_kernel_compiles_float32_as_float32_whatever_came_first():
    kernel = gg.value_and_grad(_square_sum)
    kernel(np.array([1.0, 2.0]))
    _, grads = kernel(np.array([1.0, 2.0], dtype=np.float32))
    fresh = gg.value_and_grad(_square_sum)(np.array([1.0, 2.0], dtype=np.float32))[1]
    assert grads["x"].dtype == fresh["x"].dtype == np.float32


def test_the_rule_is_in_the_docstring():
    doc = gg.value_and_grad.__doc__
    assert "integer array given for an" in doc and "int64 index input" in doc and "numbers" in doc


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_jit_kernel_gives_float32_scalars_float32_and_python_floats_float64_whatever_came_first(backend):
    square = gg.value_and_grad(lambda x: x * x, backend=backend)
    single, double = np.float32(0.1), 0.1
    want_single, want_double = float(single * single), double * double
    assert square(single)[0] == want_single
    assert square(double)[0] == want_double  # not rounded through the float32 kernel compiled first
    assert square(np.array(single))[0] == want_single and square(np.array(double))[0] == want_double
    assert square(1)[0] == 1.0 and len(square._variants) == 2
