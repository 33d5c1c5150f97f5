"""Reductions: ``sum`` and ``max`` are primitives; mean, min, logsumexp, softmax and
log_softmax are written from them in the DSL."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from gradgen.dsl.value import Value
from gradgen.errors import ShapeError
from gradgen.ir.graph import FLOAT_DTYPES, Node
from gradgen.ops import functions as F
from gradgen.ops.core import apply, broadcast_to, cast, normalize_axes, user_location
from gradgen.ops.registry import Op, define
from gradgen.ops.shape import reshape


def _reduce_infer(inputs: Sequence[Node], attrs: dict) -> tuple[tuple[int, ...], str]:
    x = inputs[0]
    axes, keepdims = attrs["axes"], attrs["keepdims"]
    shape = tuple(1 if i in axes else n for i, n in enumerate(x.shape) if keepdims or i not in axes)
    return shape, x.dtype


def _kept(g: Any, x: Any, axes: tuple[int, ...]) -> Any:
    """``g`` reshaped so its reduced axes are length-1 again, ready to broadcast onto ``x``."""
    return reshape(g, tuple(1 if i in axes else n for i, n in enumerate(x.shape)))


def _sum_vjp(g: Any, out: Any, x: Any, axes: tuple[int, ...], keepdims: bool) -> tuple[Any]:
    return (broadcast_to(_kept(g, x, axes), x.shape),)


def _max_vjp(g: Any, out: Any, x: Any, axes: tuple[int, ...], keepdims: bool) -> tuple[Any]:
    # Ties share the gradient evenly: each maximal entry gets g / (number of maxima).
    is_max = x == broadcast_to(_kept(out, x, axes), x.shape)
    count = F.sum(cast(F.where(is_max, 1.0, 0.0), x.node.dtype), axis=axes, keepdims=True)
    return (F.where(is_max, broadcast_to(_kept(g, x, axes) / count, x.shape), 0.0),)


def _max_jvp(t: Any, out: Any, x: Any, axes: tuple[int, ...], keepdims: bool) -> Any:
    # The tangent of the maximum: the mean of t over the maximal entries (ties share); 0 where
    # no entry equals the maximum (it is NaN), as the VJP gives.
    is_max = x == broadcast_to(_kept(out, x, axes), x.shape)
    weight = cast(F.where(is_max, 1.0, 0.0), x.node.dtype)
    total = F.sum(weight * t, axis=axes, keepdims=keepdims)
    return total / F.maximum(F.sum(weight, axis=axes, keepdims=keepdims), 1.0)


define(Op("sum", _reduce_infer, lambda x, axes, keepdims: np.sum(x, axis=axes, keepdims=keepdims),
          _sum_vjp, None, "np.sum({0}, axis={axes}, keepdims={keepdims})",
          jvp=lambda t, out, x, axes, keepdims: apply("sum", t[0], axes=axes, keepdims=keepdims),
          kind="reduction", reads_forward=False, doc="Sum over axes."))
define(Op("max", _reduce_infer, lambda x, axes, keepdims: np.max(x, axis=axes, keepdims=keepdims),
          _max_vjp, None, "np.max({0}, axis={axes}, keepdims={keepdims})",
          jvp=lambda t, out, x, axes, keepdims: _max_jvp(t[0], out, x, axes, keepdims),
          kind="reduction", doc="Maximum over axes; ties share the gradient evenly; NaN propagates."))


def _reduce(name: str, x: Any, axis: Any, keepdims: bool) -> Any:
    if not isinstance(x, Value):
        return getattr(np, name)(np.asarray(x), axis=axis, keepdims=keepdims)
    if x.node.dtype not in FLOAT_DTYPES:
        x = cast(x, "float64")
    axes = normalize_axes(axis, x.ndim, name)
    if not axes:
        return x
    return apply(name, x, axes=axes, keepdims=bool(keepdims))


def sum(x: Any, axis: Any = None, keepdims: bool = False) -> Any:  # noqa: A001 - NumPy's name
    """Sum over ``axis`` (None: all axes), as ``np.sum``."""
    return _reduce("sum", x, axis, keepdims)


def _empty_axes(x: Any, axis: Any, what: str) -> list[int]:
    """The axes among ``axis`` (as NumPy reads it) along which ``x`` has no entries."""
    shape = np.shape(x) if not isinstance(x, Value) else x.shape
    return [a for a in normalize_axes(axis, len(shape), what) if shape[a] == 0]


def _require_entries(x: Any, axis: Any, what: str) -> None:
    """ShapeError unless every reduced axis has entries: the max or min of nothing is undefined."""
    empty = _empty_axes(x, axis, what)
    if empty:
        shape = np.shape(x) if not isinstance(x, Value) else x.shape
        location = user_location()
        raise ShapeError(f"{what}: axis {empty[0]} of shape {shape} has length 0, and the {what} of no entries is "
                         "undefined (NumPy raises too); reduce over axes with entries, or use gg.logsumexp, "
                         "which is -inf there" + (f"\n  at {location}" if location else ""))


def max(x: Any, axis: Any = None, keepdims: bool = False) -> Any:  # noqa: A001 - NumPy's name
    """Maximum over ``axis``, as ``np.max``; ties share the gradient evenly.

    A reduced axis of length 0 raises ShapeError (at trace time: shapes are static).
    """
    _require_entries(x, axis, "max")
    return _reduce("max", x, axis, keepdims)


def min(x: Any, axis: Any = None, keepdims: bool = False) -> Any:  # noqa: A001 - NumPy's name
    """Minimum over ``axis``, as ``np.min``; ties share the gradient evenly.

    A reduced axis of length 0 raises ShapeError (at trace time: shapes are static).
    """
    _require_entries(x, axis, "min")
    if not isinstance(x, Value):
        return np.min(np.asarray(x), axis=axis, keepdims=keepdims)
    return -max(-x, axis=axis, keepdims=keepdims)


def mean(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    """Mean over ``axis``, as ``np.mean``."""
    if not isinstance(x, Value):
        return np.mean(np.asarray(x), axis=axis, keepdims=keepdims)
    count = int(np.prod([x.shape[a] for a in normalize_axes(axis, x.ndim, "mean")], dtype=np.int64))
    return sum(x, axis=axis, keepdims=keepdims) / float(count)


def logsumexp(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    """log(sum(exp(x))) over ``axis`` without overflow: the max is taken out first.

    Over an axis of length 0 it is log(0) = -inf, as in SciPy and JAX.
    """
    if not isinstance(x, Value):
        x = np.asarray(x, dtype=float)
    if _empty_axes(x, axis, "logsumexp"):
        # No entries, so no max to take out: the sum of nothing is exactly 0, and this is -inf in the
        # result's shape and dtype.
        return sum(x, axis=axis, keepdims=keepdims) * 0.0 - np.inf
    peak = max(x, axis=axis, keepdims=True)
    # The shift cancels in value and gradient; a non-finite peak (all -inf) shifts by 0.
    peak = F.stop_gradient(F.where(F.abs(peak) < np.inf, peak, 0.0))
    total = F.log(sum(F.exp(x - peak), axis=axis, keepdims=True)) + peak
    if keepdims:
        return total
    axes = normalize_axes(axis, np.ndim(x) if not isinstance(x, Value) else x.ndim, "logsumexp")
    return reshape(total, tuple(n for i, n in enumerate(np.shape(x) if not isinstance(x, Value) else x.shape)
                                if i not in axes))


def log_softmax(x: Any, axis: int = -1) -> Any:
    """x - logsumexp(x) along ``axis`` (default the last)."""
    return x - logsumexp(x, axis=axis, keepdims=True)


def softmax(x: Any, axis: int = -1) -> Any:
    """exp(x) / sum(exp(x)) along ``axis`` (default the last), computed stably."""
    return F.exp(log_softmax(x, axis=axis))
