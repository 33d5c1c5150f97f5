"""Sorting: ``argsort`` (a primitive, int64 indices, NumPy's stable order with NaN last) and ``sort`` as
``take_along_axis(x, argsort(x))``, so the gradient of a sorted array flows back through the
permutation: each entry's cotangent goes to the entry it came from (ties by position, as the stable
order puts them).

The primitive orders the rows of a 2-D array; the functions move the axis last and fold the others
into rows around it. Its C form is a routine of the runtime (heapsort on indices, ties broken by index).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from gradgen.dsl.value import Value
from gradgen.errors import InputError, ShapeError
from gradgen.ir.graph import FLOAT_DTYPES, Node
from gradgen.ops import functions as F
from gradgen.ops.core import apply, cast, normalize_axes
from gradgen.ops.registry import Op, define


def _rows_infer(inputs: Sequence[Node], attrs: dict) -> tuple[tuple[int, ...], str]:
    (x,) = inputs
    if len(x.shape) != 2:
        raise ShapeError(f"argsort_rows: expected a 2-D array of rows, got shape {x.shape}")
    if x.dtype not in FLOAT_DTYPES:
        raise ShapeError(f"argsort_rows: expected floats, got {x.dtype}")
    return x.shape, "int64"


def argsort_rows_array(x: np.ndarray) -> np.ndarray:
    """The stable order of each row of ``x`` (NaN last), as int64."""
    return np.argsort(x, axis=-1, kind="stable").astype(np.int64)


define(Op("argsort_rows", _rows_infer, argsort_rows_array, lambda g, out, x: (None,), None, "argsort_rows({0})",
          jvp=lambda t, out, x: None, routine="gg_argsort", np_helper=("argsort_rows", argsort_rows_array),
          doc="The stable order of each row of a 2-D array (NaN last): int64 indices, no gradient."))


def _along_last(x: Value, axis: Any, what: str) -> tuple[Value, int]:
    if x.ndim == 0:
        raise ShapeError(f"{what}: a scalar has no axis to order along; give an array")
    (axis,) = normalize_axes(axis, x.ndim, what)
    return F.moveaxis(x, axis, -1), axis


def argsort(x: Any, axis: int | None = -1, kind: str | None = None) -> Any:
    """The indices that sort ``x`` along ``axis`` (None: the flattened array), as ``np.argsort`` with
    ``kind="stable"`` (every kind gives that order; equal entries keep their order, NaN last). Integer
    arrays are ordered as float64 (exactly up to 2**53)."""
    if kind not in (None, "stable", "mergesort", "quicksort", "heapsort"):
        raise InputError(f"argsort: kind must be one of NumPy's ('quicksort', 'mergesort', 'heapsort', 'stable'), "
                         f"got {kind!r}")
    if not isinstance(x, Value):
        return np.argsort(x, axis=axis, kind="stable")
    if axis is None:
        return argsort(F.ravel(x))
    x = cast(x, "float64") if x.node.dtype not in FLOAT_DTYPES else x
    moved, axis = _along_last(x, axis, "argsort")
    rows = F.reshape(moved, (math.prod(moved.shape[:-1]), moved.shape[-1]))
    order = F.reshape(apply("argsort_rows", rows), moved.shape)
    return F.moveaxis(order, -1, axis)


def sort(x: Any, axis: int | None = -1, kind: str | None = None) -> Any:
    """``x`` sorted along ``axis`` (None: flattened), as ``np.sort``; the gradient flows back through the
    permutation."""
    if not isinstance(x, Value):
        return np.sort(x, axis=axis, kind="stable" if kind is None else kind)
    if axis is None:
        return sort(F.ravel(x))
    order = argsort(x, axis, kind)  # refuses a scalar, names the axis
    return F.take_along_axis(x, order, normalize_axes(axis, x.ndim, "sort")[0])
