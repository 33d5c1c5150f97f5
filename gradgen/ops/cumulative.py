"""Running sums and products, products and arg-extrema, written in the DSL: the running ones as a
``gg.scan`` over the axis (one loop node, traced once: C runs it as a loop, the Python backend as a
Python loop over rows), so their gradients are the loop's own (exact where entries are zero, which the
textbook ``prod / x`` is not). On plain numbers and arrays each is NumPy's function."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from gradgen.dsl import loops
from gradgen.dsl.value import Value
from gradgen.errors import ShapeError
from gradgen.ops import functions as F
from gradgen.ops.core import normalize_axes


def _rows(x: Value, axis: Any) -> tuple[Value, int | None]:
    """``x`` with ``axis`` moved first (``x`` flattened for None), and that axis."""
    if axis is None:
        return F.ravel(x), None
    (axis,) = normalize_axes(axis, x.ndim, "cumulative")
    return F.moveaxis(x, axis, 0), axis


def _running(x: Value, axis: Any, start: float, step: Any) -> Value:
    rows, axis = _rows(x, axis)
    first = np.full(rows.shape[1:], start, dtype=x.node.dtype)
    _, stacked = loops.scan(lambda total, row: (step(total, row),) * 2, first, rows)
    return stacked if axis is None else F.moveaxis(stacked, 0, axis)


def _floating(x: Value) -> Value:
    """``x`` as float64 unless it is floating already (gradgen's arithmetic on integers gives float64)."""
    return x if x.node.dtype in ("float64", "float32") else F.cast(x, "float64")


def cumsum(x: Any, axis: int | None = None) -> Any:
    """The running sums along ``axis`` (of ``ravel(x)`` by default), as ``np.cumsum``."""
    if not isinstance(x, Value):
        return np.cumsum(x, axis)
    return _running(_floating(x), axis, 0.0, lambda total, row: total + row)


def cumprod(x: Any, axis: int | None = None) -> Any:
    """The running products along ``axis`` (of ``ravel(x)`` by default), as ``np.cumprod``."""
    if not isinstance(x, Value):
        return np.cumprod(x, axis)
    return _running(_floating(x), axis, 1.0, lambda total, row: total * row)


def prod(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    """The product over ``axis`` (all entries by default), as ``np.prod``: 1 over no entries; float64 for an
    integer ``x``, like the rest of gradgen's arithmetic."""
    if not isinstance(x, Value):
        return np.prod(x, axis=axis, keepdims=keepdims)
    x = _floating(x)
    axes = normalize_axes(axis, x.ndim, "prod")
    rest = tuple(n for a, n in enumerate(x.shape) if a not in axes)
    rows = F.reshape(F.moveaxis(x, axes, tuple(range(len(axes)))), (math.prod(x.shape[a] for a in axes),) + rest)
    total, _ = loops.scan(lambda partial, row: (partial * row, None), np.ones(rest, dtype=x.node.dtype), rows)
    return F.reshape(total, tuple(1 if a in axes else n for a, n in enumerate(x.shape))) if keepdims else total


def _arg_extreme(x: Value, axis: int | None, keepdims: bool, pick: Any, what: str) -> Value:
    """The index of the first entry equal to ``pick`` over ``axis`` (the first NaN, if any), as int64."""
    shape = x.shape
    flat, along = (F.ravel(x), 0) if axis is None else (x, axis)
    (along,) = normalize_axes(along, flat.ndim, what)
    if flat.shape[along] == 0:
        raise ShapeError(f"{what}: axis {along} of shape {flat.shape} has length 0; an empty axis has no "
                         f"{what[3:]}")
    extreme = pick(flat, axis=along, keepdims=True)
    hit = (flat == extreme) | (flat != flat)  # flat != flat: a NaN, which np.argmax reports first
    place = np.arange(flat.shape[along], dtype=np.float64).reshape((-1,) + (1,) * (flat.ndim - along - 1))
    first = F.cast(F.min(F.where(hit, np.broadcast_to(place, flat.shape), float(flat.shape[along])), axis=along),
                   "int64")
    if not keepdims:
        return first
    return F.reshape(first, tuple(1 if axis is None or a == along else n for a, n in enumerate(shape)))


def argmax(x: Any, axis: int | None = None, keepdims: bool = False) -> Any:
    """The index of the largest entry along ``axis`` (of ``ravel(x)`` by default), the first at a tie, as
    ``np.argmax``: an int64 result, no gradient."""
    if not isinstance(x, Value):
        return np.argmax(x, axis, keepdims=keepdims)
    return _arg_extreme(x, axis, keepdims, F.max, "argmax")


def argmin(x: Any, axis: int | None = None, keepdims: bool = False) -> Any:
    """The index of the smallest entry along ``axis``, as ``np.argmin`` (int64, no gradient)."""
    if not isinstance(x, Value):
        return np.argmin(x, axis, keepdims=keepdims)
    return _arg_extreme(x, axis, keepdims, F.min, "argmin")
