"""Array-API-generic code traces unchanged: ``x.__array_namespace__()`` gives gradgen's functions under the
standard's names, and the same function runs on NumPy (its own namespace) and traced (gradgen's)."""

from __future__ import annotations

import numpy as np
import pytest

import gradgen as gg
from gradgen.array_api import NAMESPACE, RENAMED, SAME


def generic_loss(W, x, y):
    """Written against the array API standard only (as a library that supports several backends is)."""
    xp = W.__array_namespace__()
    h = xp.tanh(xp.matmul(W, x))
    logits = xp.concat([h, xp.pow(h, 2.0)])
    shifted = logits - xp.max(logits)
    logp = shifted - xp.log(xp.sum(xp.exp(shifted)))
    return -xp.sum(logp * y) + xp.sum(xp.acos(xp.clip(xp.permute_dims(W) * 0.1, -0.5, 0.5)))


@pytest.mark.parametrize("backend", ["python", "c"])
def test_array_api_generic_code_traces_unchanged(backend):
    rng = np.random.default_rng(0)
    W, x = rng.normal(size=(3, 4)), rng.normal(size=4)
    y = np.eye(6)[2]
    value, grads = gg.value_and_grad(generic_loss, wrt="W", backend=backend, W=gg.Array((3, 4)), x=gg.Array((4,)),
                                     y=gg.Array((6,)))(W, x, y)
    assert value == pytest.approx(_numpy_generic(W, x, y), rel=1e-13)  # the same code, run by NumPy
    h = 1e-6
    for index in np.ndindex(W.shape):
        step = np.zeros_like(W)
        step[index] = h
        numeric = (_numpy_generic(W + step, x, y) - _numpy_generic(W - step, x, y)) / (2 * h)
        assert grads["W"][index] == pytest.approx(numeric, rel=1e-6, abs=1e-8)


class _NumpyArray(np.ndarray):
    """A NumPy array that answers the array API with NumPy's own namespace (NumPy 2 has the names)."""

    def __array_namespace__(self, api_version=None):
        return np


def _numpy_generic(W, x, y):
    return float(generic_loss(W.view(_NumpyArray), x.view(_NumpyArray), y.view(_NumpyArray)))


def test_the_namespace_has_the_standards_names_and_refuses_others_as_a_namespace_does():
    assert NAMESPACE.__array_api_version__ == "2023.12"
    for name in (*SAME, *RENAMED, "astype", "linalg", "pi"):
        assert hasattr(NAMESPACE, name), name
    assert NAMESPACE.linalg.solve is gg.linalg.solve
    with pytest.raises(AttributeError, match="fft"):
        NAMESPACE.fft  # noqa: B018 - gradgen has no FFT
    traced = gg.compile(lambda v: v.__array_namespace__().cumulative_sum(v), backend="python", v=gg.Array((3,)))
    np.testing.assert_array_equal(traced(np.array([1.0, 2.0, 3.0])), [1.0, 3.0, 6.0])
    with pytest.raises(gg.InputError, match="include_initial=True is not supported"):
        gg.compile(lambda v: v.__array_namespace__().cumulative_sum(v, include_initial=True), backend="python",
                   v=gg.Array((3,)))
