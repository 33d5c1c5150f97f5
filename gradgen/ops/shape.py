"""Leaves (inputs, constants) and shape primitives: broadcasting, reshaping, indexing."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from gradgen.dsl.value import Value
from gradgen.errors import GraphError, InputError, ShapeError
from gradgen.ir.graph import ConstArray, Node
from gradgen.ops import functions as F
from gradgen.ops.core import (
    apply,
    as_ints,
    broadcast_to,
    builder_of,
    cast,
    constant,
    normalize_axes,
    result_dtype,
    zeros_like,
)
from gradgen.ops.registry import Op, define


def _no_eval(*args: Any, **kwargs: Any) -> Any:
    raise GraphError("an input node has no value of its own; pass one when calling the kernel")


def _const_value(value: Any) -> Any:
    return value.array if isinstance(value, ConstArray) else value


def _fixed(inputs: Sequence[Node], attrs: dict) -> tuple[tuple[int, ...], str]:
    raise GraphError("input and const nodes are created by the builder, not inferred")


define(Op("input", _fixed, _no_eval, None, "{name}", "{name}", kind="leaf", reads_forward=False, np_aliases=True,
          doc="An argument of the traced function."))
define(Op("const", _fixed, lambda value: np.asarray(_const_value(value)), None,
          lambda args, attrs: repr(_const_value(attrs["value"])),
          lambda args, attrs: repr(_const_value(attrs["value"])), kind="leaf", reads_forward=False, np_aliases=True,
          doc="A constant (inlined when scalar, bound by name when an array)."))


# --- broadcast_to and its adjoint, sum_to ---------------------------------------------
def _broadcast_infer(inputs: Sequence[Node], attrs: dict) -> tuple[tuple[int, ...], str]:
    shape, own = attrs["shape"], inputs[0].shape
    if len(own) > len(shape) or any(n not in (1, m) for n, m in zip(own[::-1], shape[::-1])):
        raise ShapeError(f"cannot broadcast shape {own} to {shape}")
    return shape, inputs[0].dtype


def sum_to(g: Any, shape: tuple[int, ...]) -> Any:
    """Sum ``g`` over the axes that broadcasting ``shape`` to ``g.shape`` added."""
    lead = len(g.shape) - len(shape)
    axes = tuple(range(lead)) + tuple(lead + i for i, n in enumerate(shape) if n == 1 and g.shape[lead + i] != 1)
    if axes:
        g = F.sum(g, axis=axes)
    return reshape(g, shape)


def _broadcast_index(node: Node, source: Node) -> tuple[tuple[int, int, int] | None, ...]:
    """``source``'s axes are the view's last ones; those of length 1 stay at index 0."""
    lead = len(node.shape) - len(source.shape)
    return tuple(None if n == 1 else (lead + j, 1, 0) for j, n in enumerate(source.shape))


define(Op("broadcast_to", _broadcast_infer, lambda x, shape: np.broadcast_to(x, shape),
          lambda g, out, x, shape: (sum_to(g, x.shape),),
          None, "np.broadcast_to({0}, {shape})",
          jvp=lambda t, out, x, shape: broadcast_to(t[0], shape), kind="view", reads_forward=False,
          index_map=_broadcast_index, np_aliases=True, to_shape=True,
          doc="Repeat x along new or length-1 axes (NumPy broadcasting)."))


# --- reshape and transpose -------------------------------------------------------------
def _reshape_infer(inputs: Sequence[Node], attrs: dict) -> tuple[tuple[int, ...], str]:
    shape = attrs["shape"]
    if math.prod(shape) != inputs[0].size:
        raise ShapeError(f"cannot reshape an array of shape {inputs[0].shape} (size {inputs[0].size}) "
                         f"into shape {shape}")
    return shape, inputs[0].dtype


def _reshape_index(node: Node, source: Node) -> tuple[tuple[int, int, int] | None, ...] | None:
    """A reshape that only adds or drops axes of length 1 keeps the other axes in order; any other is
    no map of axes."""
    if [n for n in node.shape if n != 1] != [n for n in source.shape if n != 1]:
        return None
    long = iter([d for d, n in enumerate(node.shape) if n != 1])
    return tuple(None if n == 1 else (next(long), 1, 0) for n in source.shape)


define(Op("reshape", _reshape_infer, lambda x, shape: np.reshape(x, shape),
          lambda g, out, x, shape: (reshape(g, x.shape),), None, "np.reshape({0}, {shape})",
          jvp=lambda t, out, x, shape: reshape(t[0], shape), kind="view", reads_forward=False,
          index_map=_reshape_index, keeps_offsets=True, np_aliases=True, to_shape=True,
          doc="Same elements, another shape (C order)."))


def reshape(x: Any, shape: Any) -> Any:
    """``x`` with a new shape; one entry may be -1 (inferred), as in NumPy."""
    if not isinstance(x, Value):
        return np.reshape(x, shape)
    shape = as_ints(shape, "reshape: the new shape")
    if shape.count(-1) > 1:
        raise ShapeError(f"reshape: only one dimension may be -1, got {shape}")
    if -1 in shape:
        known = math.prod(s for s in shape if s != -1)
        if known == 0 or x.size % known:
            raise ShapeError(f"cannot reshape an array of shape {x.shape} (size {x.size}) into shape {shape}")
        shape = tuple(x.size // known if s == -1 else s for s in shape)
    if shape == x.shape:
        return x
    return apply("reshape", x, shape=shape)


def _transpose_infer(inputs: Sequence[Node], attrs: dict) -> tuple[tuple[int, ...], str]:
    return tuple(inputs[0].shape[a] for a in attrs["axes"]), inputs[0].dtype


def _transpose_index(node: Node, source: Node) -> tuple[tuple[int, int, int] | None, ...]:
    """Axis ``axes[d]`` of ``source`` is the view's axis ``d``."""
    axes = node.params["axes"]
    return tuple((axes.index(a), 1, 0) for a in range(len(source.shape)))


define(Op("transpose", _transpose_infer, lambda x, axes: np.transpose(x, axes),
          lambda g, out, x, axes: (transpose(g, tuple(int(i) for i in np.argsort(axes))),),
          None, "np.transpose({0}, {axes})",
          jvp=lambda t, out, x, axes: transpose(t[0], axes), kind="view", reads_forward=False,
          index_map=_transpose_index, np_aliases=True,
          doc="Permute the axes (reverse them by default)."))


def transpose(x: Any, axes: Sequence[int] | None = None) -> Any:
    """``x`` with its axes permuted (reversed when ``axes`` is None), as ``np.transpose``."""
    if not isinstance(x, Value):
        return np.transpose(x, axes)
    axes = tuple(reversed(range(x.ndim))) if axes is None else tuple(
        a % max(x.ndim, 1) for a in as_ints(axes, "transpose: axes"))
    if sorted(axes) != list(range(x.ndim)):
        raise ShapeError(f"transpose: {axes} is not a permutation of the axes of shape {x.shape}")
    if axes == tuple(range(x.ndim)):
        return x
    return apply("transpose", x, axes=axes)


# --- basic slicing and its adjoint --------------------------------------------------------
def _slice_infer(inputs: Sequence[Node], attrs: dict) -> tuple[tuple[int, ...], str]:
    x = inputs[0]
    if len(attrs["slices"]) != len(x.shape):
        raise ShapeError(f"slice: {len(attrs['slices'])} slices for shape {x.shape}")
    return tuple(len(range(*s)) for s in attrs["slices"]), x.dtype


def _slice_text(slices: Sequence[tuple[int, int, int]]) -> str:
    parts = []
    for start, stop, step in slices:
        stop_text = "" if step < 0 and stop < 0 else str(stop)
        parts.append(f"{start}:{stop_text}" + (f":{step}" if step != 1 else ""))
    return "[" + ", ".join(parts) + "]"


def _as_slices(slices: Sequence[tuple[int, int, int]]) -> tuple[slice, ...]:
    return tuple(slice(start, None if step < 0 and stop < 0 else stop, step) for start, stop, step in slices)


def unslice_array(g: np.ndarray, shape: tuple[int, ...], slices: Sequence[tuple[int, int, int]]) -> np.ndarray:
    full = np.zeros(shape, dtype=np.asarray(g).dtype)
    full[_as_slices(slices)] = g
    return full


define(Op("slice", _slice_infer, lambda x, slices: np.array(np.asarray(x)[_as_slices(slices)]),
          lambda g, out, x, slices: (apply("unslice", g, shape=x.shape, slices=slices),),
          None, lambda args, attrs: args[0] + _slice_text(attrs["slices"]),
          jvp=lambda t, out, x, slices: apply("slice", t[0], slices=slices), kind="view", reads_forward=False,
          index_map=lambda node, source: tuple((d, step, start) for d, (start, _, step)
                                               in enumerate(node.params["slices"])),
          np_aliases=True,
          doc="x[start:stop:step, ...] on every axis."))
define(Op("unslice", lambda inputs, attrs: (attrs["shape"], inputs[0].dtype), unslice_array,
          lambda g, out, x, shape, slices: (apply("slice", g, slices=slices),),
          None, "unslice({0}, {shape}, {slices})",
          jvp=lambda t, out, x, shape, slices: apply("unslice", t[0], shape=shape, slices=slices),
          reads_forward=False, lowering="unslice", np_helper=("unslice", unslice_array),
          doc="Zeros of `shape` with x written into a slice: the adjoint of slice."))


def unslice_sum_array(shape: tuple[int, ...], slices: Sequence[Sequence[tuple[int, int, int]]],
                      parts: Sequence[np.ndarray]) -> np.ndarray:
    full = np.zeros(shape, dtype=np.result_type(*parts))
    for part_slices, part in zip(slices, parts):
        full[_as_slices(part_slices)] += part
    return full


def _unslice_sum_infer(inputs: Sequence[Node], attrs: dict) -> tuple[tuple[int, ...], str]:
    if len(inputs) != len(attrs["slices"]):
        raise GraphError(f"unslice_sum: {len(inputs)} parts for {len(attrs['slices'])} slices")
    return attrs["shape"], inputs[0].dtype


define(Op("unslice_sum", _unslice_sum_infer,
          lambda *parts, shape, slices: unslice_sum_array(shape, slices, parts),
          lambda g, out, *parts, shape, slices: tuple(apply("slice", g, slices=s) for s in slices),
          None, lambda args, attrs: f"unslice_sum({attrs['shape']}, {attrs['slices']}, ({', '.join(args)},))",
          jvp=lambda t, out, *parts, shape, slices: add_n(
              [apply("unslice", tp, shape=shape, slices=s) for tp, s in zip(t, slices) if tp is not None]),
          reads_forward=False, lowering="unslice", accumulates=True, np_helper=("unslice_sum", unslice_sum_array),
          doc="Zeros of `shape` with each part added into its slice: many unslices gathered in one."))


def add_n(parts: Sequence[Any]) -> Any:
    """The sum of ``parts`` (DSL values of one shape), as autodiff accumulates cotangents.

    Parts that each fill a slice of zeros (the gradients of ``x[i]`` for
    many ``i``) are gathered by one ``unslice_sum`` instead of being added
    as dense arrays, which would cost O(n) per part.
    """
    scattered = [p for p in parts if p.node.op == "unslice"]
    if len(scattered) > 1:
        gathered = apply("unslice_sum", *[Value(p.builder, p.node.inputs[0]) for p in scattered],
                         shape=scattered[0].shape, slices=tuple(p.node.params["slices"] for p in scattered))
        parts = [p for p in parts if p.node.op != "unslice"] + [gathered]
    total = parts[0]
    for part in parts[1:]:
        total = total + part
    return total


# --- integer-array indexing and their adjoints ---------------------------------------------
def _take_infer(inputs: Sequence[Node], attrs: dict) -> tuple[tuple[int, ...], str]:
    x, idx = inputs
    if idx.dtype != "int64":
        raise InputError(f"indices must be int64, got {idx.dtype}")
    axis = attrs["axis"]
    return x.shape[:axis] + idx.shape + x.shape[axis + 1:], x.dtype


def scatter_add_array(g: np.ndarray, idx: np.ndarray, shape: tuple[int, ...], axis: int) -> np.ndarray:
    idx = np.asarray(idx)  # an int64 scalar input arrives as a Python int
    full = np.zeros(shape, dtype=np.asarray(g).dtype)
    moved = np.moveaxis(full, axis, 0)
    g_moved = np.asarray(g).reshape(shape[:axis] + idx.shape + shape[axis + 1:])
    g_moved = np.moveaxis(g_moved.reshape(shape[:axis] + (idx.size,) + shape[axis + 1:]), axis, 0)
    np.add.at(moved, idx.reshape(-1), g_moved)
    return full


define(Op("take", _take_infer, lambda x, idx, axis: np.take(x, idx, axis=axis),
          lambda g, out, x, idx, axis: (apply("scatter_add", g, idx, shape=x.shape, axis=axis), None),
          None, "np.take({0}, {1}, axis={axis})",
          jvp=lambda t, out, x, idx, axis: apply("take", t[0], idx, axis=axis), reads_forward=False,
          lowering="indexed",
          doc="x[idx] along an axis, with an int64 index array (gathers)."))
define(Op("scatter_add", lambda inputs, attrs: (attrs["shape"], inputs[0].dtype), scatter_add_array,
          lambda g, out, x, idx, shape, axis: (apply("take", g, idx, axis=axis), None),
          None, "scatter_add({0}, {1}, {shape}, {axis})",
          jvp=lambda t, out, x, idx, shape, axis: apply("scatter_add", t[0], idx, shape=shape, axis=axis),
          reads_forward=False, lowering="indexed", accumulates=True, np_helper=("scatter_add", scatter_add_array),
          doc="Zeros of `shape` with x added at idx along an axis: the adjoint of take."))


def _along_infer(inputs: Sequence[Node], attrs: dict) -> tuple[tuple[int, ...], str]:
    x, idx = inputs
    if idx.dtype != "int64":
        raise InputError(f"take_along_axis: indices must be int64, got {idx.dtype}")
    if len(idx.shape) != len(x.shape):
        raise ShapeError(f"take_along_axis: indices of shape {idx.shape} must have as many dimensions "
                         f"as the array of shape {x.shape}")
    axis = attrs["axis"]
    for i, (n, m) in enumerate(zip(x.shape, idx.shape)):
        if i != axis and m not in (1, n):
            raise ShapeError(f"take_along_axis: indices of shape {idx.shape} do not fit the array of "
                             f"shape {x.shape} on axis {i}")
    return tuple(m if i == axis else n for i, (n, m) in enumerate(zip(x.shape, idx.shape))), x.dtype


def scatter_along_axis_array(g: np.ndarray, idx: np.ndarray, shape: tuple[int, ...], axis: int) -> np.ndarray:
    full = np.zeros(shape, dtype=np.asarray(g).dtype)
    g = np.asarray(g)
    grids = list(np.indices(g.shape, sparse=True))
    grids[axis] = np.broadcast_to(idx, g.shape)
    np.add.at(full, tuple(grids), g)
    return full


def take_along_axis_array(x: np.ndarray, idx: np.ndarray, axis: int) -> np.ndarray:
    shape = tuple(m if i == axis else n for i, (n, m) in enumerate(zip(x.shape, idx.shape)))
    return np.take_along_axis(x, np.broadcast_to(idx, shape), axis)


define(Op("take_along_axis", _along_infer, take_along_axis_array,
          lambda g, out, x, idx, axis: (apply("scatter_along_axis", g, idx, shape=x.shape, axis=axis), None),
          None, "take_along_axis({0}, {1}, {axis})",
          jvp=lambda t, out, x, idx, axis: apply("take_along_axis", t[0], idx, axis=axis),
          reads_forward=False, lowering="indexed", along_axis=True,
          np_helper=("take_along_axis", take_along_axis_array),
          doc="np.take_along_axis: pick one entry per row (class labels)."))
define(Op("scatter_along_axis", lambda inputs, attrs: (attrs["shape"], inputs[0].dtype), scatter_along_axis_array,
          lambda g, out, x, idx, shape, axis: (apply("take_along_axis", g, idx, axis=axis), None),
          None, "scatter_along_axis({0}, {1}, {shape}, {axis})",
          jvp=lambda t, out, x, idx, shape, axis: apply("scatter_along_axis", t[0], idx, shape=shape, axis=axis),
          reads_forward=False, lowering="indexed", accumulates=True, along_axis=True,
          np_helper=("scatter_along_axis", scatter_along_axis_array),
          doc="Zeros of `shape` with x added along an axis at idx: the adjoint of take_along_axis."))


def take_along_axis(x: Any, indices: Any, axis: int) -> Any:
    """``np.take_along_axis(x, indices, axis)`` with an int64 index array."""
    if builder_of([x, indices]) is None:
        return np.take_along_axis(np.asarray(x), np.asarray(indices), axis)
    builder = builder_of([x, indices])
    x = constant(builder, x)
    idx = constant(builder, indices)
    if idx.node.dtype != "int64":
        raise InputError(f"take_along_axis: indices must be integers, got {idx.node.dtype}")
    (axis,) = normalize_axes(axis, x.ndim, "take_along_axis")
    return apply("take_along_axis", x, idx, axis=axis)


# --- concatenate ---------------------------------------------------------------------------
def _concat_infer(inputs: Sequence[Node], attrs: dict) -> tuple[tuple[int, ...], str]:
    axis = attrs["axis"]
    first = inputs[0]
    for other in inputs[1:]:
        if (len(other.shape) != len(first.shape) or other.dtype != first.dtype
                or any(a != b for i, (a, b) in enumerate(zip(other.shape, first.shape)) if i != axis)):
            raise ShapeError(f"concatenate: shapes {first.shape} and {other.shape} differ off axis {axis}")
    total = sum(n.shape[axis] for n in inputs)
    return first.shape[:axis] + (total,) + first.shape[axis + 1:], first.dtype


def _concat_vjp(g: Any, out: Any, *inputs: Any, axis: int) -> tuple[Any, ...]:
    grads = []
    start = 0
    for x in inputs:
        stop = start + x.shape[axis]
        slices = tuple((start, stop, 1) if i == axis else (0, n, 1) for i, n in enumerate(g.shape))
        grads.append(apply("slice", g, slices=slices))
        start = stop
    return tuple(grads)


def _concat_jvp(t: Sequence[Any], out: Any, *inputs: Any, axis: int) -> Any:
    parts = [tp if tp is not None else zeros_like(x) for tp, x in zip(t, inputs)]
    return apply("concatenate", *parts, axis=axis)


define(Op("concatenate", _concat_infer, lambda *xs, axis: np.concatenate(xs, axis=axis), _concat_vjp,
          None, lambda args, attrs: f"np.concatenate(({', '.join(args)},), axis={attrs['axis']})",
          jvp=_concat_jvp, reads_forward=False, lowering="concatenate", doc="Join arrays along an existing axis."))


def _some_arrays(arrays: Any, what: str) -> list[Any]:
    """``arrays`` as a list of one array or more, or ShapeError/InputError saying what was expected."""
    try:
        arrays = list(arrays)
    except TypeError:
        raise InputError(f"{what}: expected a sequence of arrays, got {arrays!r}") from None
    if not arrays:
        raise ShapeError(f"{what}: needs at least one array, got none")
    return arrays


def concatenate(arrays: Sequence[Any], axis: int = 0) -> Any:
    """Join arrays along an existing axis, as ``np.concatenate``."""
    arrays = _some_arrays(arrays, "concatenate")
    builder = builder_of(arrays)
    if builder is None:
        return np.concatenate([np.asarray(a) for a in arrays], axis=axis)
    dtype = result_dtype(arrays)
    values = [cast(constant(builder, a, dtype), dtype) for a in arrays]
    if not values or values[0].ndim == 0:
        raise ShapeError("concatenate needs arrays of at least one dimension")
    (axis,) = normalize_axes(axis, values[0].ndim, "concatenate")
    if len(values) == 1:
        return values[0]
    return apply("concatenate", *values, axis=axis)


def stack(arrays: Sequence[Any], axis: int = 0) -> Any:
    """Join arrays along a new axis, as ``np.stack``."""
    arrays = _some_arrays(arrays, "stack")
    builder = builder_of(arrays)
    if builder is None:
        return np.stack([np.asarray(a) for a in arrays], axis=axis)
    shapes = {np.shape(a) if not isinstance(a, Value) else a.shape for a in arrays}
    if len(shapes) != 1:
        raise ShapeError(f"stack: all arrays must have one shape, got {sorted(shapes)}")
    (shape,) = shapes
    (axis,) = normalize_axes(axis, len(shape) + 1, "stack")
    expanded = [reshape(constant(builder, a), shape[:axis] + (1,) + shape[axis:]) for a in arrays]
    return concatenate(expanded, axis=axis)


# --- NumPy basic indexing ---------------------------------------------------------------------
def _take_array(x: Value, index: Any, axis: int = 0) -> Value:
    """``x[idx]`` (or ``x[:, idx]``: along ``axis``) for an int64 index array (a constant one is checked
    against the axis now)."""
    if x.ndim == 0:
        raise ShapeError(f"cannot index the scalar {x!r} with an array")
    if not isinstance(index, Value):
        values = np.asarray(index)
        if values.dtype.kind in "iu" and values.size:
            n = x.shape[axis]
            for value in (int(values.min()), int(values.max())):
                if not -n <= value < n:
                    raise ShapeError(f"index {value} is out of bounds for axis {axis} of size {n} (indexing {x!r})")
    idx = constant(builder_of([x, index]), index)
    if idx.node.dtype != "int64":
        raise InputError(f"indexing {x!r} needs int64 indices, got {idx.node.dtype}"
                         " (boolean masks are not supported: use gg.where)")
    return apply("take", x, idx, axis=axis)


def _is_index_array(item: Any) -> bool:
    return isinstance(item, (np.ndarray, list)) or (isinstance(item, Value) and bool(item.ndim))


def _array_along_one_axis(x: Value, index: tuple) -> Value | None:
    """``x[:, idx]``, ``x[..., idx]``: one index array, every other item a whole axis, as a take along the
    array's axis; None for other indices."""
    arrays = [k for k, item in enumerate(index) if _is_index_array(item)]
    rest = [item for k, item in enumerate(index) if k not in arrays]
    whole = all(item is Ellipsis or (isinstance(item, slice) and item == slice(None)) for item in rest)
    ellipses = sum(1 for item in rest if item is Ellipsis)  # identity: `in` would compare symbols with ==
    if len(arrays) != 1 or not whole or ellipses > 1 or len(index) - ellipses > x.ndim:
        return None
    at = arrays[0]
    after_ellipsis = any(item is Ellipsis for item in index[:at])
    return _take_array(x, index[at], x.ndim - (len(index) - at) if after_ellipsis else at)


def _check_index_item(x: Value, item: Any) -> None:
    """InputError for an index item basic indexing cannot take."""
    if isinstance(item, (bool, np.bool_)):
        raise InputError(f"indexing {x!r} with the bool {item!r}: NumPy reads a bool as a mask, which gradgen "
                         "does not support; use an int, or gg.where to select")
    if isinstance(item, Value) and (item.ndim or item.node.dtype != "int64"):
        hint = (" (integer scalars passed to a kernel are float64 numbers unless the spec says "
                "gg.Scalar('int64'))" if item.node.dtype != "int64" and not item.ndim else
                "; index with an int64 array alone, as x[idx]")
        raise InputError(f"indexing {x!r}: a symbolic index inside x[...] must be an int64 scalar, got "
                         f"{item!r}{hint}")
    if isinstance(item, (np.ndarray, list)):
        raise InputError(f"indexing {x!r}: an index array combines only with whole axes (x[idx], x[:, idx], "
                         "x[..., idx]); slice first and index after (x[1:][:, idx]), or use gg.take_along_axis")


def getitem(x: Value, index: Any) -> Value:
    """``x[index]``: NumPy basic indexing (ints, slices, None, ...) where an int64 scalar input may
    stand in for an int (``X[i, :]``), or an int64 index array with whole axes (``x[idx]``, ``X[:, idx]``)."""
    if _is_index_array(index):
        return _take_array(x, index)
    index = index if isinstance(index, tuple) else (index,)
    along = _array_along_one_axis(x, index)
    if along is not None:
        return along
    for item in index:
        _check_index_item(x, item)
    if sum(1 for i in index if i is Ellipsis) > 1:
        raise ShapeError("an index can only have one ellipsis (...)")
    used = sum(1 for i in index if i is not None and i is not Ellipsis)
    if used > x.ndim:
        raise ShapeError(f"too many indices for {x!r}: {used} for {x.ndim} dimension(s)")
    at = next((k for k, i in enumerate(index) if i is Ellipsis), None)  # `in` would compare symbols with ==
    if at is not None:
        index = index[:at] + (slice(None),) * (x.ndim - used) + index[at + 1:]
    else:
        index = index + (slice(None),) * (x.ndim - used)
    slices, final_shape, takes, axis = [], [], [], 0
    for item in index:
        if item is None:
            final_shape.append(1)
            continue
        n = x.shape[axis]
        if isinstance(item, Value):  # an int64 scalar input: taken along its axis once the slices are cut
            slices.append((0, n, 1))
            takes.append((axis, item))
        elif isinstance(item, slice):
            slices.append(_slice_bounds(x, item, n))
            final_shape.append(len(range(*slices[-1])))
        elif isinstance(item, (int, np.integer)):
            if not -n <= item < n:
                raise ShapeError(f"index {item} is out of bounds for axis {axis} of size {n}")
            i = int(item) % n
            slices.append((i, i + 1, 1))
        else:
            raise InputError(f"unsupported index {item!r}; use ints, slices, None, ... or an int64 array")
        axis += 1
    if any(s != (0, n, 1) for s, n in zip(slices, x.shape)):
        x = apply("slice", x, slices=tuple(slices))
    for axis, i in reversed(takes):  # the last axis first, so the earlier axes keep their numbers
        x = apply("take", x, i, axis=axis)
    return reshape(x, tuple(final_shape))


def _slice_bounds(x: Value, item: slice, n: int) -> tuple[int, int, int]:
    """``item.indices(n)``, with gradgen's errors for a zero step or bounds that are not ints."""
    try:
        return item.indices(n)
    except ValueError:
        raise ShapeError(f"indexing {x!r} with {item!r}: a slice step cannot be zero") from None
    except TypeError:
        raise InputError(f"indexing {x!r} with {item!r}: slice bounds and steps must be ints or None") from None
