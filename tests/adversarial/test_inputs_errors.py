"""Kernel arguments no float64 or int64 can hold are InputErrors that name the argument, never raw Python errors."""

from __future__ import annotations

import numpy as np
import pytest

import gradgen as gg
from tests.models import linear


@pytest.mark.parametrize("backend", ["python", "c"])
@pytest.mark.parametrize("jit", [True, False], ids=["jit", "specs"])
def test_a_scalar_beyond_float64_names_its_argument(backend, jit):
    kernel = gg.value_and_grad(linear, backend=backend) if jit else \
        gg.value_and_grad(linear, backend=backend, specs={"w": gg.Scalar()})
    assert kernel(2, 8, -2, 2) == (2.0, {"w": -4.0, "b": 2.0, "x": 4.0, "y": -2.0})
    for huge in (10**400, -(10**309), np.array(10**400, dtype=object)):
        with pytest.raises(gg.InputError, match=r"argument 'x': an integer of \d+ digits is too large for a float64"):
            kernel(2.0, 8.0, huge, 2.0)
    assert kernel(2.0, 8.0, -(10**150), 2.0)[0] == pytest.approx(2e300)  # a large int a float holds converts


def test_array_entries_beyond_float64_name_their_argument():
    kernel = gg.value_and_grad(lambda x: gg.sum(x * x), x=gg.Array((2,)))
    with pytest.raises(gg.InputError, match="argument 'x': an entry is too large for float64"):
        kernel([1, 10**400])
    assert kernel([1, 2**70])[0] == 1.0 + 2.0**140  # a large int that a float holds is converted
    with pytest.raises(gg.InputError, match="argument 'x': expected a numeric array"):
        kernel([1, "2"])


def test_a_jit_kernel_names_a_list_numpy_cannot_read_as_numbers():
    kernel = gg.value_and_grad(lambda x: gg.sum(x * x))
    with pytest.raises(gg.InputError, match="argument 'x': expected numbers, but NumPy reads this list as objects"):
        kernel([1, 10**400])


def test_wrt_that_is_not_a_name_or_a_list_of_names_is_an_input_error():
    with pytest.raises(gg.InputError, match="wrt: expected a name or a list of names, got 3"):
        gg.value_and_grad(linear, wrt=3)


def test_unchecked_before_any_signature_raises_and_can_be_checked_while_testing(monkeypatch):
    jit = gg.value_and_grad(lambda x: gg.sum(x * x), backend="python")
    with pytest.raises(gg.InputError, match="has not compiled any signature yet"):
        jit.unchecked(np.ones(3))
    monkeypatch.setenv("GRADGEN_CHECK_UNCHECKED", "1")
    checked = gg.value_and_grad(lambda x: gg.sum(x * x), backend="python", x=gg.Array((3,)))
    assert checked.unchecked(np.ones(3))[0] == 3.0
    with pytest.raises(gg.InputError, match="shape"):
        checked.unchecked(np.ones(2))
    with pytest.raises(gg.InputError):
        checked.unchecked(np.ones(3), np.ones(3))
