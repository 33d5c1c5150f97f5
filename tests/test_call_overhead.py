"""The checked call's fast path: well-typed positional arguments go straight to the C call, inside the
entry itself; everything else takes the checked path, which binds, converts and raises as before."""

from __future__ import annotations

import sys

import numpy as np
import pytest

import gradgen as gg


def linear(w, b, x, y):
    c = w * x
    a = c + b
    d = a - y
    return d**2 / 2


def logreg(w, b, X, y):
    p = gg.sigmoid(X @ w + b)
    return -gg.mean(y * gg.log(p) + (1 - y) * gg.log(1 - p))


SEEDS = (2.0, 8.0, -2.0, 2.0)


@pytest.fixture(scope="module")
def seed_c():
    return gg.value_and_grad(linear, wrt=["w", "b"], backend="c", specs={n: gg.Scalar() for n in "wbxy"})


def _python_calls(call) -> list[str]:
    """The Python functions entered while ``call()`` runs (C functions such as the cffi call not counted)."""
    names: list[str] = []

    def profile(frame, event, arg):
        if event == "call":
            names.append(frame.f_code.co_name)

    sys.setprofile(profile)
    try:
        call()
    finally:
        sys.setprofile(None)
    return [n for n in names if n != "<lambda>"]


def test_a_well_typed_checked_call_of_a_c_kernel_is_one_python_call(seed_c):
    assert seed_c(*SEEDS) == (2.0, {"w": -4.0, "b": 2.0})
    assert _python_calls(lambda: seed_c(*SEEDS)) == ["entry"]  # the glue is inlined, nothing else runs
    assert _python_calls(lambda: seed_c.unchecked(*SEEDS)) == ["linear_value_and_grad"]


def test_arrays_that_pass_the_checks_take_the_fast_path_too():
    rng = np.random.default_rng(0)
    X, y, w = rng.standard_normal((20, 3)), (rng.random(20) < 0.5).astype(float), rng.standard_normal(3)
    k = gg.value_and_grad(logreg, wrt=["w", "b"], backend="c", w=gg.Array((3,)), b=gg.Scalar(),
                          X=gg.Array((20, 3)), y=gg.Array((20,)))
    value, grads = k(w, 0.1, X, y)
    assert _python_calls(lambda: k(w, 0.1, X, y)) == ["entry"]
    # a Fortran-ordered X is converted (the checked path), with the same result
    assert "_checked" in _python_calls(lambda: k(w, 0.1, np.asfortranarray(X), y))
    again = k(w, 0.1, np.asfortranarray(X), y)
    assert again[0] == pytest.approx(value) and again[1]["w"] == pytest.approx(grads["w"])
    by_keyword = k(w, 0.1, y=y, X=X)
    assert by_keyword[0] == value and np.array_equal(by_keyword[1]["w"], grads["w"])


@pytest.mark.parametrize("backend", ["python", "c"])
def test_calls_off_the_fast_path_bind_and_convert_as_before(backend):
    k = gg.value_and_grad(linear, wrt=["w", "b"], backend=backend, specs={n: gg.Scalar() for n in "wbxy"})
    expected = (2.0, {"w": -4.0, "b": 2.0})
    assert k(*SEEDS) == expected
    assert k(2, 8, -2, 2) == expected  # ints converted
    assert k(np.float64(2), np.float32(8), np.int64(-2), np.array(2.0)) == expected
    assert k(w=2.0, b=8.0, x=-2.0, y=2.0) == expected
    assert k(2.0, 8.0, y=2.0, x=-2.0) == expected


@pytest.mark.parametrize("backend", ["python", "c"])
@pytest.mark.parametrize(("args", "kwargs", "message"), [
    ((1.0, 2.0, 3.0, 4.0, 5.0), {}, "expected 4 argument(s) (w, b, x, y), got 5 positional"),
    ((1.0, 2.0), {}, "missing argument(s) 'x', 'y'; expected 4: w, b, x, y"),
    ((), {}, "missing argument(s) 'w', 'b', 'x', 'y'; expected 4: w, b, x, y"),
    ((1.0, 2.0, 3.0, 4.0), {"w": 1.0}, "argument 'w' given twice (by position and by keyword)"),
    ((1.0, 2.0, 3.0), {"a3": 1.0}, "unknown argument 'a3'; the arguments are w, b, x, y"),
    ((1.0, 2.0, 3.0, 4.0), {"self": 1.0}, "unknown argument 'self'; the arguments are w, b, x, y"),
    ((True, 2.0, 3.0, 4.0), {}, "argument 'w': expected a number, got a bool"),
    ((1.0, "2", 3.0, 4.0), {}, "argument 'b': expected a number, got str"),
    ((1.0, 2.0, 3.0, None), {}, "argument 'y': expected a number, got NoneType"),
])
def test_wrong_calls_raise_the_same_errors(backend, args, kwargs, message):
    k = gg.value_and_grad(linear, wrt=["w", "b"], backend=backend, specs={n: gg.Scalar() for n in "wbxy"})
    with pytest.raises(gg.InputError) as info:
        k(*args, **kwargs)
    assert str(info.value) == message


@pytest.mark.parametrize("backend", ["python", "c"])
def test_an_index_out_of_range_on_the_fast_path_names_its_argument(backend):
    k = gg.value_and_grad(lambda n, x: x[n] * 2.0, wrt="x", backend=backend, n=gg.Scalar("int64"),
                          x=gg.Array((3,)))
    assert k(1, np.arange(3.0))[0] == 2.0
    with pytest.raises(gg.InputError, match="argument 'n': an index is out of range"):
        k(5, np.arange(3.0))
    with pytest.raises(gg.InputError, match="outside the int64 range"):
        k(2**63, np.arange(3.0))


@pytest.mark.parametrize("backend", ["python", "c"])
def test_a_kernel_without_inputs_can_be_called(backend):
    k = gg.compile(lambda: 2.0, backend=backend, specs={})
    assert k() == 2.0 and k.unchecked() == 2.0
    with pytest.raises(gg.InputError, match=r"expected 0 argument\(s\) \(\), got 1 positional"):
        k(1.0)


def test_a_jit_kernel_still_compiles_each_signature():
    k = gg.value_and_grad(lambda x: gg.sum(x * x), backend="c")
    assert k(np.arange(3.0))[0] == 5.0
    assert k(np.arange(4.0))[0] == 14.0  # another shape: the first variant's entry sends it on
    assert k(np.arange(3.0))[0] == 5.0
    assert k(x=np.ones(2))[0] == 2.0
