"""Reductions over axes of length 0 follow NumPy, at trace time and the same on both backends.

max and min of no entries are undefined: ShapeError when the function is
traced (shapes are static), naming the shape and the axis. sum is 0, mean
NaN (0 / 0), logsumexp -inf (log 0, as in SciPy and JAX); softmax and
log_softmax of no entries are empty.
"""

from __future__ import annotations

import numpy as np
import pytest

import gradgen as gg

EMPTY = [((2, 0), 1), ((0, 2), 0), ((0,), None), ((2, 0), None), ((0, 0), 1), ((3, 0, 2), (0, 1))]


@pytest.mark.parametrize("shape, axis", EMPTY)
@pytest.mark.parametrize("reduce", [
    lambda x, axis: gg.max(x, axis=axis), lambda x, axis: gg.min(x, axis=axis, keepdims=True),
    lambda x, axis: x.max(axis=axis), lambda x, axis: np.min(x, axis=axis),
], ids=["gg.max", "gg.min keepdims", "x.max", "np.min"])
def test_max_and_min_of_an_empty_axis_are_shape_errors_at_trace_time(reduce, shape, axis):
    with pytest.raises(gg.ShapeError) as info:
        gg.trace(lambda x: reduce(x, axis), x=gg.Array(shape))
    message = str(info.value)
    empty = next(a for a in ((axis,) if isinstance(axis, int) else axis or range(len(shape))) if shape[a] == 0)
    assert f"axis {empty} of shape {shape} has length 0" in message and "test_numerics_empty_axes.py" in message


@pytest.mark.parametrize("shape, axis", EMPTY)
def test_gg_max_and_min_of_plain_empty_arrays_follow_the_same_rule(shape, axis):
    for reduce in (gg.max, gg.min):
        with pytest.raises(gg.ShapeError, match="has length 0"):
            reduce(np.zeros(shape), axis=axis)


@pytest.mark.parametrize("backend", ["python", "c"])
def test_max_over_a_full_axis_of_an_empty_array_is_empty(backend):
    kernel = gg.value_and_grad(lambda x: gg.sum(gg.max(x, axis=1)) + gg.sum(gg.min(x, axis=1)), backend=backend,
                               x=gg.Array((0, 3)))
    value, grads = kernel(np.zeros((0, 3)))
    assert value == 0.0 and grads["x"].shape == (0, 3)


def _results(backend: str, shape: tuple[int, ...], axis: object) -> list[object]:
    def f(x):
        return (gg.sum(x, axis=axis), gg.mean(x, axis=axis), gg.logsumexp(x, axis=axis),
                gg.logsumexp(x, axis=axis, keepdims=True))

    return list(gg.compile(f, backend=backend, x=gg.Array(shape))(np.zeros(shape)))


@pytest.mark.parametrize("shape, axis", EMPTY)
def test_sum_mean_and_logsumexp_of_an_empty_axis_agree_with_numpy_on_both_backends(shape, axis):
    x = np.zeros(shape)
    out = np.sum(x, axis=axis).shape
    expected = [np.zeros(out), np.full(out, np.nan), np.full(out, -np.inf),
                np.full(np.sum(x, axis=axis, keepdims=True).shape, -np.inf)]
    for backend in ("python", "c"):
        for got, want in zip(_results(backend, shape, axis), expected):
            assert np.shape(got) == want.shape, backend
            np.testing.assert_array_equal(got, want, err_msg=backend)


@pytest.mark.parametrize("backend", ["python", "c"])
@pytest.mark.parametrize("shape, axis", [((2, 0), 1), ((0, 2), 0), ((0,), -1)])
def test_softmax_of_an_empty_axis_is_empty_and_so_are_the_gradients(shape, axis, backend):
    def loss(x):
        return gg.sum(gg.softmax(x, axis=axis)) + gg.sum(gg.log_softmax(x, axis=axis)) + gg.logsumexp(x)

    value, grads = gg.value_and_grad(loss, backend=backend, x=gg.Array(shape))(np.zeros(shape))
    assert value == -np.inf and grads["x"].shape == shape


def test_an_empty_mean_has_a_nan_value_and_an_empty_gradient():
    for backend in ("python", "c"):
        value, grads = gg.value_and_grad(lambda x: gg.mean(x), backend=backend, x=gg.Array((0,)))(np.zeros(0))
        assert np.isnan(value) and grads["x"].shape == (0,)
