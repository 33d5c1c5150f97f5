"""Kernels: calling conventions, results the caller owns, per-shape variants, errors."""

from __future__ import annotations

import inspect
import traceback

import numpy as np
import pytest

import gradgen as gg
from tests.models import linear


def logreg(X, y, w, b):
    Z = X @ w + b
    a = gg.sigmoid(Z)
    return gg.mean(-y * gg.log(a) - (1 - y) * gg.log(1 - a))


@pytest.fixture
def kernel():
    return gg.value_and_grad(linear, wrt=["w", "b"])


def test_positional_keyword_and_mixed_calls_agree(kernel):
    expected = (2.0, {"w": -4.0, "b": 2.0})
    assert kernel(2.0, 8.0, -2.0, 2.0) == expected
    assert kernel(w=2.0, b=8.0, x=-2.0, y=2.0) == expected
    assert kernel(2.0, 8.0, y=2.0, x=-2.0) == expected
    assert kernel(2, 8, -2, 2) == expected
    assert kernel(np.float64(2), np.int32(8), np.array(-2.0), 2.0) == expected


def test_scalars_come_back_as_python_floats_in_wrt_order(kernel):
    value, grads = kernel(2.0, 8.0, -2.0, 2.0)
    assert type(value) is float and all(type(g) is float for g in grads.values())
    assert list(grads) == ["w", "b"]
    assert list(gg.value_and_grad(linear, wrt=["b", "w"])(2.0, 8.0, -2.0, 2.0)[1]) == ["b", "w"]


def test_grad_and_compile_return_their_parts():
    assert gg.grad(linear, wrt="w")(2.0, 8.0, -2.0, 2.0) == {"w": -4.0}
    assert gg.compile(linear)(2.0, 8.0, -2.0, 2.0) == 2.0
    both = gg.compile(lambda x: (x * 2, x + 1))
    assert both(3.0) == (6.0, 4.0)


def test_default_wrt_is_every_float_input():
    grads = gg.grad(linear)(2.0, 8.0, -2.0, 2.0)
    assert grads == {"w": -4.0, "b": 2.0, "x": 4.0, "y": -2.0}


def test_unchecked_gives_the_same_result(kernel):
    checked = kernel(2.0, 8.0, -2.0, 2.0)  # first: unchecked runs a signature a checked call compiled
    assert kernel.unchecked(2.0, 8.0, -2.0, 2.0) == checked


def test_backend_source_graph_and_inspect(kernel):
    assert kernel.backend == "python"
    assert "def linear_value_and_grad(w, b, x, y):" in kernel.source
    assert "c = w * x" in kernel.source and "dJ_dw" in kernel.source
    assert kernel.graph.output_names == ("J", "dJ_dw", "dJ_db")
    source = inspect.getsource(kernel.unchecked)
    assert source.startswith("def linear_value_and_grad")


def test_tracebacks_show_generated_lines():
    k = gg.value_and_grad(lambda x: gg.sum(gg.exp(x) * 2.0), backend="python", x=gg.Array((3,)))
    with pytest.raises(TypeError) as info:
        k.unchecked(["not", "an", "array"])  # unchecked: no validation, the kernel itself fails
    text = "".join(traceback.format_exception(info.value))
    assert "<gradgen" in text and "np.exp(x)" in text


@pytest.mark.parametrize("backend", ["python", "c"])
def test_index_out_of_range_is_an_input_error_on_both_backends(backend):
    k = gg.value_and_grad(lambda i, x: gg.sum(x[i]), wrt="x", backend=backend, i=gg.Array((2,), "int64"),
                          x=gg.Array((3,)))
    assert k(np.array([2, -3]), np.arange(3.0)) == (2.0, {"x": pytest.approx(np.array([1.0, 0.0, 1.0]))})
    with pytest.raises(gg.InputError, match="index is out of range"):
        k(np.array([0, 7]), np.zeros(3))


def test_arrays_are_fresh_and_inputs_untouched():
    def f(x, y):
        return gg.sum(x * y)

    k = gg.value_and_grad(f)
    x, y = np.array([1.0, 2.0]), np.array([3.0, 4.0])
    _, grads = k(x, y)
    np.testing.assert_array_equal(grads["x"], y)
    assert not np.shares_memory(grads["x"], y) and not np.shares_memory(grads["y"], x)
    grads["x"][0] = 99.0
    assert y[0] == 3.0 and x[0] == 1.0
    identity = gg.value_and_grad(lambda v: gg.sum(v), v=gg.Array((3,)))
    _, g = identity(np.zeros(3))
    g["v"][0] = 5.0  # a broadcast constant underneath must not be read-only or shared
    assert identity(np.zeros(3))[1]["v"][0] == 1.0


def test_each_shape_signature_compiles_once():
    k = gg.value_and_grad(lambda x: gg.sum(x**2))
    assert k(np.arange(3.0))[0] == 5.0
    assert k(np.arange(4.0))[0] == 14.0
    assert k(2.0) == (4.0, {"x": 4.0})
    assert k([1.0, 2.0]) == (5.0, {"x": pytest.approx(np.array([2.0, 4.0]))})
    assert len(k._variants) == 4  # (3,), (4,), scalar, (2,)


def test_specs_fix_the_signature_and_conversions_are_clear():
    k = gg.value_and_grad(logreg, wrt=["w", "b"], X=gg.Array((4, 2)), y=gg.Array((4,)), w=gg.Array((2,)))
    X = np.arange(8.0).reshape(4, 2) / 10
    y = np.array([0.0, 1.0, 1.0, 0.0])
    w = np.array([0.3, -0.2])
    ref = k(X, y, w, 0.1)
    again = k(np.asfortranarray(X), y.astype(np.float32).tolist(), w.astype(np.int64) * 0 + w, np.float32(0.1))
    assert again[0] == pytest.approx(ref[0], rel=1e-7)
    with pytest.raises(gg.InputError, match=r"argument 'X': expected shape \(4, 2\), got \(3, 2\)"):
        k(X[:3], y, w, 0.1)
    with pytest.raises(gg.InputError, match="argument 'w'.*complex"):
        k(X, y, w.astype(complex), 0.1)
    with pytest.raises(gg.InputError, match="argument 'b': expected a scalar"):
        k(X, y, w, w)


@pytest.mark.parametrize("call, message", [
    (lambda k: k(1.0, 2.0, 3.0), "missing argument.*'y'"),
    (lambda k: k(1.0, 2.0, 3.0, 4.0, 5.0), "expected 4 argument"),
    (lambda k: k(1.0, 2.0, 3.0, 4.0, z=1.0), "unknown argument 'z'"),
    (lambda k: k(1.0, 2.0, 3.0, 4.0, w=1.0), "'w' given twice"),
    (lambda k: k(1.0, 2.0, 3.0, "4"), "argument 'y': expected a number.*, got str"),
    (lambda k: k(1.0, 2.0, 3.0, None), "argument 'y'"),
    (lambda k: k(1.0, 2.0, 3.0, 1j), "argument 'y': complex"),
    (lambda k: k(1.0, 2.0, 3.0, True), "argument 'y': expected a number, got a bool"),
])
def test_bad_arguments_raise_input_error_naming_them(kernel, call, message):
    with pytest.raises(gg.InputError, match=message):
        call(kernel)


def test_bad_wrt_and_non_scalar_output_are_graph_or_input_errors():
    with pytest.raises(gg.InputError, match="'q' is not an input"):
        gg.value_and_grad(linear, wrt=["q"], w=gg.Scalar())
    with pytest.raises(gg.InputError, match="int64 input and cannot be differentiated"):
        gg.grad(lambda x, i: gg.sum(x[i]), wrt="i", x=gg.Array((3,)), i=gg.Array((2,), "int64"))
    with pytest.raises(gg.GraphError, match=r"scalar float output; 'J' has shape \(3,\)"):
        gg.value_and_grad(lambda x: x * 2, x=gg.Array((3,)))
    with pytest.raises(gg.InputError, match="backend must be one of"):
        gg.value_and_grad(linear, backend="fortran")


def test_nan_inputs_propagate_without_crashing(kernel):
    value, grads = kernel(float("nan"), 8.0, -2.0, 2.0)
    assert np.isnan(value) and np.isnan(grads["w"]) and np.isnan(grads["b"])
    k = gg.value_and_grad(logreg, wrt=["w", "b"])
    value, grads = k(np.array([[np.nan, 0.0]]), np.array([1.0]), np.zeros(2), 0.0)
    assert np.isnan(value) and np.isnan(grads["w"][0])


def test_ieee_results_where_math_would_raise():
    k = gg.value_and_grad(lambda x: gg.log(x) + 1 / x)
    value, grads = k(0.0)
    assert np.isnan(value) or value == np.inf or value == -np.inf
    assert type(value) is float
    assert gg.compile(lambda x: gg.exp(x))(1000.0) == np.inf
    assert np.isnan(gg.compile(lambda x: gg.sqrt(x))(-1.0))
    assert gg.compile(lambda x: x ** 0.5)(-1.0) != gg.compile(lambda x: x ** 0.5)(-1.0)  # nan, not complex


def test_gradgen_backend_env_overrides_auto_only(monkeypatch):
    monkeypatch.setenv("GRADGEN_BACKEND", "python")
    assert gg.value_and_grad(linear, w=gg.Scalar()).backend == "python"
    monkeypatch.setenv("GRADGEN_BACKEND", "fortran")
    with pytest.raises(gg.InputError, match="GRADGEN_BACKEND"):
        gg.value_and_grad(linear, w=gg.Scalar())
    assert gg.value_and_grad(linear, backend="python", w=gg.Scalar()).backend == "python"


def test_float32_kernels_stay_float32():
    k = gg.value_and_grad(lambda x: gg.sum(gg.tanh(x)), x=gg.Array((3,), "float32"))
    value, grads = k(np.array([0.1, 0.2, 0.3], dtype=np.float32))
    assert grads["x"].dtype == np.float32
    assert value == pytest.approx(np.tanh([0.1, 0.2, 0.3]).sum(), rel=1e-6)


def test_clear_cache_empties_the_build_cache(tmp_path, monkeypatch):
    from gradgen.build import find_compiler

    monkeypatch.setenv("GRADGEN_CACHE_DIR", str(tmp_path / "cache"))
    if find_compiler() is not None:
        gg.value_and_grad(lambda x: gg.sum(gg.exp(x)), backend="c", x=gg.Array((3,)))
        assert any((tmp_path / "cache" / "entries").iterdir())
    gg.clear_cache()
    entries = tmp_path / "cache" / "entries"
    assert not entries.exists() or not any(entries.iterdir())
