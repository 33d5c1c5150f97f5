"""NumPy's array manipulation, written in the DSL from views (reshape, transpose, slices, broadcasts),
concatenation, gathers and masks: their gradients are those of the primitives. On plain numbers and
arrays each is NumPy's function itself."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from gradgen.dsl.value import Value
from gradgen.errors import InputError, ShapeError
from gradgen.ops import functions as F
from gradgen.ops.core import apply, as_ints, constant, normalize_axes


def _axes_in_order(axis: Any, ndim: int, what: str) -> tuple[int, ...]:
    """``axis`` (one or several, negative ones counted from the end) in the order given, each checked."""
    axes = axis if isinstance(axis, (tuple, list)) else (axis,)
    return tuple(normalize_axes(int(a), ndim, what)[0] for a in axes)


def _traced(*values: Any) -> bool:
    return any(isinstance(v, Value) for v in values)


def _shape(x: Any) -> tuple[int, ...]:
    return x.shape if isinstance(x, Value) else np.shape(x)


def ravel(x: Any) -> Any:
    """``x`` as one axis, row by row."""
    return F.reshape(x, (-1,)) if _traced(x) else np.ravel(x)


def squeeze(x: Any, axis: Any = None) -> Any:
    """``x`` without its axes of length 1 (or only ``axis``, which must have length 1)."""
    if not _traced(x):
        return np.squeeze(x, axis)
    axes = normalize_axes(axis, x.ndim, "squeeze") if axis is not None else \
        tuple(a for a, n in enumerate(x.shape) if n == 1)
    for a in axes:
        if x.shape[a] != 1:
            raise ShapeError(f"squeeze: axis {a} of shape {x.shape} has length {x.shape[a]}, not 1; "
                             "squeeze only axes of length 1 (or reshape)")
    return F.reshape(x, tuple(n for a, n in enumerate(x.shape) if a not in axes))


def expand_dims(x: Any, axis: Any) -> Any:
    """``x`` with axes of length 1 inserted at ``axis`` (positions in the result)."""
    if not _traced(x):
        return np.expand_dims(x, axis)
    count = len(axis) if isinstance(axis, (tuple, list)) else 1
    axes = normalize_axes(axis, x.ndim + count, "expand_dims")
    sizes = iter(x.shape)
    return F.reshape(x, tuple(1 if a in axes else next(sizes) for a in range(x.ndim + count)))


def swapaxes(x: Any, axis1: int, axis2: int) -> Any:
    """``x`` with two axes exchanged."""
    if not _traced(x):
        return np.swapaxes(x, axis1, axis2)
    (a,), (b,) = normalize_axes(axis1, x.ndim, "swapaxes"), normalize_axes(axis2, x.ndim, "swapaxes")
    order = list(range(x.ndim))
    order[a], order[b] = order[b], order[a]
    return F.transpose(x, tuple(order))


def moveaxis(x: Any, source: Any, destination: Any) -> Any:
    """``x`` with the axes ``source`` moved to the positions ``destination``, the others in order."""
    if not _traced(x):
        return np.moveaxis(x, source, destination)
    src = _axes_in_order(source, x.ndim, "moveaxis: source")
    dst = _axes_in_order(destination, x.ndim, "moveaxis: destination")
    if len(src) != len(dst):
        raise InputError(f"moveaxis: {len(src)} source axes but {len(dst)} destinations; give as many of each")
    rest = iter(a for a in range(x.ndim) if a not in src)
    placed = dict(zip(dst, src))
    return F.transpose(x, tuple(placed[k] if k in placed else next(rest) for k in range(x.ndim)))


def _at_least(x: Any, ndim: int) -> Any:
    shape = _shape(x)
    if len(shape) >= ndim:
        return x
    if ndim == 3 and len(shape) == 2:
        return F.reshape(x, shape + (1,))
    if ndim == 3 and len(shape) == 1:
        return F.reshape(x, (1,) + shape + (1,))
    return F.reshape(x, (1,) * (ndim - len(shape)) + shape)


def atleast_1d(*xs: Any) -> Any:
    """Each argument with at least one axis (a scalar becomes shape (1,))."""
    out = [_at_least(x, 1) for x in xs] if _traced(*xs) else [np.atleast_1d(x) for x in xs]
    return out[0] if len(out) == 1 else out


def atleast_2d(*xs: Any) -> Any:
    """Each argument with at least two axes (shape (n,) becomes (1, n))."""
    out = [_at_least(x, 2) for x in xs] if _traced(*xs) else [np.atleast_2d(x) for x in xs]
    return out[0] if len(out) == 1 else out


def atleast_3d(*xs: Any) -> Any:
    """Each argument with at least three axes ((n,) becomes (1, n, 1), (m, n) becomes (m, n, 1))."""
    out = [_at_least(x, 3) for x in xs] if _traced(*xs) else [np.atleast_3d(x) for x in xs]
    return out[0] if len(out) == 1 else out


def _arrays(arrays: Any, what: str) -> list[Any]:
    if isinstance(arrays, Value) or not isinstance(arrays, (list, tuple)) or not arrays:
        raise InputError(f"{what}: give a non-empty list or tuple of arrays, got {type(arrays).__name__}")
    return list(arrays)


def hstack(arrays: Sequence[Any]) -> Any:
    """Arrays joined along their second axis (the first, for 1-D arrays)."""
    xs = [_at_least(x, 1) for x in _arrays(arrays, "hstack")]
    return F.concatenate(xs, axis=0 if len(_shape(xs[0])) == 1 else 1)


def vstack(arrays: Sequence[Any]) -> Any:
    """Arrays joined along a first axis, 1-D arrays as rows."""
    return F.concatenate([_at_least(x, 2) for x in _arrays(arrays, "vstack")], axis=0)


def column_stack(arrays: Sequence[Any]) -> Any:
    """1-D arrays as the columns of a 2-D one (2-D arrays joined along their second axis)."""
    xs = [F.reshape(x, _shape(x) + (1,)) if len(_shape(x)) < 2 else x for x in _arrays(arrays, "column_stack")]
    return F.concatenate([F.reshape(x, (1, 1)) if len(_shape(x)) == 1 else x for x in xs], axis=1)


def dstack(arrays: Sequence[Any]) -> Any:
    """Arrays joined along a third axis."""
    return F.concatenate([_at_least(x, 3) for x in _arrays(arrays, "dstack")], axis=2)


def _piece(x: Any, axis: int, start: int, stop: int) -> Any:
    return x[(slice(None),) * axis + (slice(start, stop),)]


def array_split(x: Any, indices_or_sections: Any, axis: int = 0) -> list[Any]:
    """``x`` cut along ``axis``: into that many near-equal pieces, or at those indices."""
    if not _traced(x):
        return np.array_split(x, indices_or_sections, axis)
    (axis,) = normalize_axes(axis, x.ndim, "array_split")
    n = x.shape[axis]
    if isinstance(indices_or_sections, (int, np.integer)) and not isinstance(indices_or_sections, bool):
        sections = int(indices_or_sections)
        if sections <= 0:
            raise InputError(f"split: the number of sections must be positive, got {sections}")
        size, extra = divmod(n, sections)
        bounds = np.cumsum([0] + [size + 1] * extra + [size] * (sections - extra)).tolist()
    else:
        bounds = [0] + [min(max(int(i) + (n if int(i) < 0 else 0), 0), n) for i in indices_or_sections] + [n]
    return [_piece(x, axis, a, max(a, b)) for a, b in zip(bounds, bounds[1:])]


def split(x: Any, indices_or_sections: Any, axis: int = 0) -> list[Any]:
    """``x`` cut along ``axis`` into equal pieces (an error if they cannot be equal) or at indices."""
    if _traced(x) and isinstance(indices_or_sections, (int, np.integer)):
        (a,) = normalize_axes(axis, x.ndim, "split")
        if indices_or_sections <= 0 or x.shape[a] % int(indices_or_sections):
            raise ShapeError(f"split: axis {a} of length {x.shape[a]} does not divide into "
                             f"{indices_or_sections} equal pieces; use array_split for unequal ones")
    return array_split(x, indices_or_sections, axis) if _traced(x) else np.split(x, indices_or_sections, axis)


def hsplit(x: Any, indices_or_sections: Any) -> list[Any]:
    """``split`` along the second axis (the first, for 1-D arrays)."""
    return split(x, indices_or_sections, axis=1 if len(_shape(x)) > 1 else 0)


def vsplit(x: Any, indices_or_sections: Any) -> list[Any]:
    """``split`` along the first axis."""
    return split(x, indices_or_sections, axis=0)


def flip(x: Any, axis: Any = None) -> Any:
    """``x`` with the order of its entries along ``axis`` (every axis by default) reversed."""
    if not _traced(x):
        return np.flip(x, axis)
    axes = normalize_axes(axis, x.ndim, "flip")
    return x[tuple(slice(None, None, -1) if a in axes else slice(None) for a in range(x.ndim))]


def fliplr(x: Any) -> Any:
    """``flip`` along the second axis."""
    return flip(x, 1)


def flipud(x: Any) -> Any:
    """``flip`` along the first axis."""
    return flip(x, 0)


def roll(x: Any, shift: Any, axis: Any = None) -> Any:
    """``x`` with its entries shifted along ``axis`` by ``shift``, those past the end coming back first."""
    if not _traced(x):
        return np.roll(x, shift, axis)
    if axis is None:
        return F.reshape(roll(ravel(x), shift, 0), x.shape)
    shifts = as_ints(shift, "roll: shift") if isinstance(shift, (tuple, list)) else (int(shift),)
    axes = _axes_in_order(axis, x.ndim, "roll")
    if len(shifts) == 1:
        shifts *= len(axes)
    if len(shifts) != len(axes):
        raise InputError(f"roll: {len(shifts)} shifts for {len(axes)} axes; give one shift, or one per axis")
    for s, a in zip(shifts, axes):
        n = x.shape[a]
        s = s % n if n else 0
        if s:
            x = F.concatenate([_piece(x, a, n - s, n), _piece(x, a, 0, n - s)], axis=a)
    return x


def tile(x: Any, reps: Any) -> Any:
    """``x`` repeated ``reps`` times along each axis, as whole blocks."""
    if not _traced(x):
        return np.tile(x, reps)
    reps = as_ints(reps, "tile: reps") if isinstance(reps, (tuple, list)) else (int(reps),)
    if any(r < 0 for r in reps):
        raise InputError(f"tile: reps must not be negative, got {reps!r}; 0 gives an empty axis")
    ndim = max(x.ndim, len(reps))
    shape = (1,) * (ndim - x.ndim) + x.shape
    reps = (1,) * (ndim - len(reps)) + tuple(reps)
    spread = F.reshape(x, tuple(d for n in shape for d in (1, n)))
    wide = F.broadcast_to(spread, tuple(d for r, n in zip(reps, shape) for d in (r, n)))
    return F.reshape(wide, tuple(r * n for r, n in zip(reps, shape)))


def repeat(x: Any, repeats: Any, axis: int | None = None) -> Any:
    """Each entry of ``x`` repeated ``repeats`` times along ``axis`` (of ``ravel(x)`` by default); ``repeats``
    may give one count per entry."""
    if not _traced(x):
        return np.repeat(x, repeats, axis)
    if axis is None:
        x, axis = ravel(x), 0
    (axis,) = normalize_axes(axis, x.ndim, "repeat")
    n = x.shape[axis]
    counts = np.asarray(repeats)
    if counts.dtype.kind not in "iu" or np.any(counts < 0) or counts.ndim > 1 or counts.size not in (1, n):
        raise InputError(f"repeat: repeats must be a non-negative int or {n} of them (one per entry along axis "
                         f"{axis}), got {repeats!r}")
    if counts.size == 1:
        r = int(counts.reshape(()))
        spread = F.reshape(x, x.shape[:axis + 1] + (1,) + x.shape[axis + 1:])
        wide = F.broadcast_to(spread, x.shape[:axis + 1] + (r,) + x.shape[axis + 1:])
        return F.reshape(wide, x.shape[:axis] + (n * r,) + x.shape[axis + 1:])
    return apply("take", x, constant(x.builder, np.repeat(np.arange(n), counts)), axis=axis)


def _triangle(x: Any, k: int, lower: bool, what: str) -> Any:
    if not _traced(x):
        return np.tril(x, k) if lower else np.triu(x, k)
    if x.ndim < 2:
        raise ShapeError(f"{what}: needs an array of at least 2 axes, got shape {x.shape}")
    m, n = x.shape[-2:]
    mask = np.tri(m, n, k, dtype=bool) if lower else ~np.tri(m, n, k - 1, dtype=bool)
    return F.where(mask, x, 0.0)


def tril(x: Any, k: int = 0) -> Any:
    """``x`` with the entries above its ``k``-th diagonal zero (of the last two axes)."""
    return _triangle(x, k, True, "tril")


def triu(x: Any, k: int = 0) -> Any:
    """``x`` with the entries below its ``k``-th diagonal zero (of the last two axes)."""
    return _triangle(x, k, False, "triu")


def eye(n: int, m: int | None = None, k: int = 0, dtype: Any = float) -> np.ndarray:
    """The identity matrix (ones on the ``k``-th diagonal): a constant, as NumPy makes it."""
    return np.eye(n, m, k, dtype=dtype)


def diagonal(x: Any, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Any:
    """The entries ``x[..., i, i + offset]`` of the two axes ``axis1``, ``axis2`` (moved last), as NumPy."""
    if not _traced(x):
        return np.diagonal(x, offset, axis1, axis2)
    if x.ndim < 2:
        raise ShapeError(f"diagonal: needs an array of at least 2 axes, got shape {x.shape}")
    moved = moveaxis(x, (axis1, axis2), (-2, -1))
    m, n = moved.shape[-2:]
    rows = np.arange(max(0, -offset), min(m, n - offset)) if -m < offset < n else np.arange(0)
    flat = F.reshape(moved, moved.shape[:-2] + (m * n,))
    return apply("take", flat, constant(x.builder, rows * n + rows + offset), axis=flat.ndim - 1)


def diag(v: Any, k: int = 0) -> Any:
    """A 1-D ``v`` as the ``k``-th diagonal of a square matrix, or the ``k``-th diagonal of a 2-D ``v``."""
    if not _traced(v):
        return np.diag(v, k)
    if v.ndim == 2:
        return diagonal(v, k)
    if v.ndim != 1:
        raise ShapeError(f"diag: needs a 1-D or 2-D array, got shape {v.shape}; for more axes use diagonal")
    size = v.shape[0] + abs(k)
    zeros = np.zeros(abs(k), dtype=v.dtype)
    row = F.concatenate([zeros, v] if k > 0 else [v, zeros], axis=0) if k else v
    return F.where(np.eye(size, k=k, dtype=bool), F.broadcast_to(row, (size, size)), 0.0)


def trace(x: Any, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Any:
    """The sum of the diagonal ``diagonal(x, offset, axis1, axis2)``."""
    if not _traced(x):
        return np.trace(x, offset, axis1, axis2)
    return F.sum(diagonal(x, offset, axis1, axis2), axis=-1)


def _per_axis_pairs(given: Any, ndim: int, name: str, dtype: Any) -> np.ndarray:
    """NumPy's pad forms (one number, one (before, after) pair, or one pair per axis) as an (ndim, 2) array."""
    try:
        return np.broadcast_to(np.asarray(given, dtype=dtype), (ndim, 2))
    except (ValueError, TypeError):
        raise InputError(f"pad: {name}={given!r} is not one number, one (before, after) pair or one pair per "
                         f"axis of a {ndim}-D array") from None


def pad(x: Any, pad_width: Any, mode: str = "constant", constant_values: Any = 0.0) -> Any:
    """``x`` with ``pad_width`` entries of ``constant_values`` before and after along each axis (NumPy's
    forms for both: one number, one (before, after) pair, or one pair per axis)."""
    if not _traced(x):
        return np.pad(x, pad_width, mode=mode, constant_values=constant_values)
    if mode != "constant":
        raise InputError(f"pad: only mode='constant' is supported, got mode={mode!r}; build other modes from "
                         "slices and concatenate")
    widths = _per_axis_pairs(pad_width, x.ndim, "pad_width", np.int64)
    if np.any(widths < 0):
        raise InputError(f"pad: pad_width must not be negative, got {pad_width!r}")
    fills = _per_axis_pairs(constant_values, x.ndim, "constant_values", x.dtype)
    for axis, (before, after) in enumerate(widths.tolist()):
        parts = []
        for count, fill in zip((before, after), fills[axis]):
            shape = x.shape[:axis] + (count,) + x.shape[axis + 1:]
            parts.append(np.full(shape, fill, dtype=x.dtype))
        if before or after:
            x = F.concatenate([p for p in (parts[0], x, parts[1]) if _shape(p)[axis]], axis=axis)
    return x
