"""How the public functions apply an op: to symbols (build a node) or to numbers (compute).

Every public function (``gg.exp``, ``+``, ``gg.sum``, ...) funnels through
``apply``: if any operand is a symbolic Value the op is added to that
Value's graph, otherwise its NumPy evaluation runs on the spot, so one
function body serves constants and symbols alike.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

from gradgen.dsl.value import Value
from gradgen.errors import GraphError, InputError, ShapeError
from gradgen.ir.builder import GraphBuilder
from gradgen.ir.graph import ConstArray
from gradgen.ops.registry import emit, get_op

_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def user_location() -> str:
    """``file:line: source`` of the innermost caller outside gradgen, for error messages."""
    frame = sys._getframe(1)
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(_PACKAGE_DIR + os.sep):
        frame = frame.f_back
    if frame is None:
        return ""
    import linecache

    line = linecache.getline(frame.f_code.co_filename, frame.f_lineno).strip()
    return f"{frame.f_code.co_filename}:{frame.f_lineno}" + (f": {line}" if line else "")


def builder_of(operands: Sequence[Any]) -> GraphBuilder | None:
    """The graph the symbolic operands belong to (None if all are concrete): the innermost one when
    some come from a loop's body and others from the graphs around it (those are captured)."""
    builder = None
    for x in operands:
        if not isinstance(x, Value) or x.builder is builder:
            continue
        inner = x.builder
        if builder is None or builder.encloses(inner) or (inner.open and not inner.encloses(builder)):
            builder = inner  # deeper than the graph found so far
        elif not (inner.encloses(builder) or builder.open):
            if inner.parent is not None:
                raise GraphError(f"{x!r} is a value of a loop's body, used outside the loop; return it from the "
                                 "body (in the carry or as a y) instead")
            raise GraphError(f"{x!r} belongs to another traced function; values cannot cross traces")
    return builder


def _dtype_name(dtype: np.dtype) -> str:
    if dtype.kind == "f":
        return "float32" if dtype == np.float32 else "float64"
    if dtype.kind in "iu":
        return "int64"
    if dtype.kind == "b":
        return "bool"
    raise InputError(f"constants of dtype {dtype} are not supported; use float, int or bool values")


def constant(builder: GraphBuilder, value: Any, dtype: str | None = None) -> Value:
    """A ``const`` node holding ``value`` (a number or an array)."""
    if isinstance(value, Value):
        if value.builder is builder:
            return value
        return Value(builder, builder.capture(value.builder, value.id, repr(value)))
    array = np.asarray(value)
    if array.dtype.kind == "c":
        raise InputError(f"complex constant {value!r} is not supported")
    if array.dtype.kind not in "fiub":
        raise InputError(f"cannot use {value!r} ({type(value).__name__}) as a number in a traced function")
    dtype = dtype or _dtype_name(array.dtype)
    if dtype == "int64" and array.dtype.kind == "u" and array.size and int(array.max()) >= 2**63:
        raise InputError(f"constant {value!r}: {int(array.max())} does not fit in int64")
    array = array.astype(dtype)
    if array.ndim == 0:
        return Value(builder, scalar_node(builder, array.item(), dtype))
    return Value(builder, builder.add("const", (), (("value", ConstArray(array)),), array.shape, dtype))


def scalar_node(builder: GraphBuilder, value: Any, dtype: str) -> int:
    """The node of the scalar constant ``value`` of ``dtype``.

    -0.0 is spelled ``negative(0.0)``: -0.0 == 0.0 and both hash alike, so a
    constant -0.0 would be merged into the hash-consed 0.0 and lose its sign
    (``1 / -0.0`` is -inf, ``1 / 0.0`` inf).
    """
    payload: Any = {"bool": bool, "int64": int}.get(dtype, float)(value)
    if isinstance(payload, float) and payload == 0.0 and math.copysign(1.0, payload) < 0.0:
        zero = builder.add("const", (), (("value", 0.0),), (), dtype)
        return builder.add("negative", (zero,), (), (), dtype)
    return builder.add("const", (), (("value", payload),), (), dtype)



#: The most bytes one array may take: NumPy's own limit (``np.empty`` refuses more).
MAX_BYTES = int(np.iinfo(np.intp).max)


_ITEMSIZE = {"float64": 8, "float32": 4, "int64": 8, "bool": 1, "tuple": 0}  # a loop node's tuple holds none


def size_error(shape: Sequence[int], dtype: str) -> str | None:
    """Why an array of ``shape`` and ``dtype`` cannot exist, or None if it can."""
    size = math.prod(shape)
    itemsize = _ITEMSIZE[dtype] if dtype in _ITEMSIZE else np.dtype(dtype).itemsize
    if size * itemsize <= MAX_BYTES:
        return None
    return (f"shape {tuple(shape)} has {size:,} elements of {itemsize} bytes, more than the "
            f"{MAX_BYTES:,} bytes one array can address")


def apply(name: str, *operands: Any, **attrs: Any) -> Any:
    """Apply op ``name`` to operands that need no broadcasting or promotion."""
    builder = builder_of(operands)
    if builder is None:
        return get_op(name).evaluate(*[np.asarray(x) for x in operands], **attrs)
    ids = [constant(builder, x).id for x in operands]
    try:
        node = builder.nodes[emit(builder, name, ids, **attrs)]
        too_big = size_error(node.shape, node.dtype)
        if too_big:
            raise ShapeError(f"{name}: the result's {too_big}")
        return Value(builder, node.id)
    except ShapeError as error:
        location = user_location()
        raise ShapeError(f"{error}" + (f"\n  at {location}" if location else "")) from None


def result_dtype(operands: Sequence[Any]) -> str:
    """The float dtype elementwise arithmetic on ``operands`` produces.

    float32 stays float32 unless a float64 array joins; Python numbers adapt
    to the symbolic operand; integers and masks become floats.
    """
    kinds = []
    for x in operands:
        if isinstance(x, Value):
            kinds.append(x.node.dtype)
        elif isinstance(x, np.ndarray) and x.dtype == np.float64 and x.ndim > 0:
            kinds.append("float64")
    return "float32" if kinds and all(k in ("float32", "int64", "bool") for k in kinds) and "float32" in kinds \
        else "float64"


def elementwise(name: str, *operands: Any, dtype: str | None = None, **attrs: Any) -> Any:
    """Apply an elementwise op with NumPy broadcasting and dtype promotion.

    Broadcasting is made explicit: operands of other shapes are wrapped in
    ``broadcast_to`` nodes, so every elementwise node sees equal shapes.
    ``dtype`` fixes the operand dtype (e.g. "bool" for logical ops).
    """
    builder = builder_of(operands)
    if builder is None:
        return get_op(name).evaluate(*[np.asarray(x) for x in operands], **attrs)
    dtype = dtype or result_dtype(operands)
    values = [cast(constant(builder, x, dtype if not isinstance(x, Value) else None), dtype)
              for x in operands]
    shape = broadcast_shapes(name, *[v.shape for v in values])
    values = [broadcast_to(v, shape) for v in values]
    return apply(name, *values, **attrs)


def broadcast_shapes(what: str, *shapes: tuple[int, ...]) -> tuple[int, ...]:
    """The shape NumPy broadcasts ``shapes`` to, or ShapeError naming ``what`` and the shapes.

    Worked out on the shapes alone: ``np.broadcast_shapes`` builds arrays and
    fails on shapes too large to exist, which gradgen reports on its own.
    """
    result: list[int] = []
    for dims in zip(*[(1,) * (max(map(len, shapes)) - len(s)) + tuple(s) for s in shapes]):
        sizes = {n for n in dims if n != 1}
        if len(sizes) > 1:
            location = user_location()
            raise ShapeError(f"{what}: operands of shapes {' and '.join(map(str, shapes))} do not broadcast "
                             "together" + (f"\n  at {location}" if location else ""))
        result.append(sizes.pop() if sizes else 1)
    too_big = size_error(result, "float64")
    if too_big:
        location = user_location()
        raise ShapeError(f"{what}: operands of shapes {' and '.join(map(str, shapes))} broadcast to a "
                         f"{too_big}" + (f"\n  at {location}" if location else ""))
    return tuple(result)


def cast(x: Any, dtype: Any) -> Any:
    """``x`` converted to ``dtype`` (float64, float32, int64 or bool)."""
    dtype = _dtype_name(np.dtype(dtype))
    if not isinstance(x, Value):
        return np.asarray(x).astype(dtype)
    if x.node.dtype == dtype:
        return x
    return apply("cast", x, dtype=dtype)


def as_ints(values: Any, what: str) -> tuple[int, ...]:
    """A shape or a list of axes (an int or a sequence of them) as a tuple of ints.

    Bools, floats and symbolic values are refused, as NumPy refuses them.
    """
    items = (values,) if isinstance(values, (int, np.integer)) else values
    try:
        if isinstance(items, Value):
            raise TypeError
        items = tuple(items)
    except TypeError:
        raise InputError(f"{what}: expected an int or a tuple of ints, got {values!r}") from None
    for item in items:
        if isinstance(item, (bool, np.bool_)) or not isinstance(item, (int, np.integer)):
            raise InputError(f"{what}: expected ints, got {item!r} in {values!r}")
    return tuple(int(item) for item in items)


def broadcast_to(x: Any, shape: Sequence[int]) -> Any:
    """``x`` broadcast to ``shape`` (NumPy rules)."""
    shape = as_ints(shape, "broadcast_to: the shape")
    if not isinstance(x, Value):
        return np.broadcast_to(x, shape)
    if x.shape == shape:
        return x
    return apply("broadcast_to", x, shape=shape)


def normalize_axes(axis: Any, ndim: int, what: str) -> tuple[int, ...]:
    """NumPy's ``axis`` argument (None, int or tuple) as sorted non-negative ints."""
    if axis is None:
        return tuple(range(ndim))
    out = []
    for a in as_ints(axis, f"{what}: axis"):
        if not -ndim <= a < ndim:
            raise ShapeError(f"{what}: axis {a} is out of range for an array of {ndim} dimension(s)")
        out.append(int(a) % ndim)
    if len(set(out)) != len(out):
        raise ShapeError(f"{what}: repeated axis in {axis!r}")
    return tuple(sorted(out))


def zeros_like(x: Value) -> Value:
    """A value of zeros with ``x``'s shape and dtype (a broadcast scalar, not a stored array)."""
    return broadcast_to(constant(x.builder, 0.0, x.node.dtype), x.shape)
