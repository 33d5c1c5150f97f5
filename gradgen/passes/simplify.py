"""Simplification: constant folding and algebraic identities, with CSE from hash-consing.

Every rule gives the same result as the expression it replaces for every
IEEE input, inf, NaN and the sign of zero included: ``x * 0`` stays (inf * 0
is NaN, -3 * 0 is -0.0), ``x + 0.0`` stays (-0.0 + 0.0 is 0.0) while
``x + -0.0`` and ``x - 0.0`` become ``x``, and a constant -0.0 keeps its sign.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from gradgen.ir.builder import GraphBuilder
from gradgen.ir.graph import ConstArray, Graph, Shape
from gradgen.ops.core import scalar_node
from gradgen.ops.registry import OPS, emit
from gradgen.passes.rebuild import rewrite

#: Folding is skipped when it would store a constant larger than this.
_FOLD_LIMIT = 64


def _underlying(builder: GraphBuilder, node_id: int) -> tuple[Any, list[str]]:
    """The node under views to a shape (``Op.to_shape``: broadcast_to, reshape) and casts, and the dtypes cast
    to, outermost first."""
    node = builder.nodes[node_id]
    casts = []
    while OPS[node.op].to_shape or node.op == "cast":
        if node.op == "cast":
            casts.append(node.dtype)
        node = builder.nodes[node.inputs[0]]
    return node, casts


def scalar_constant(builder: GraphBuilder, node_id: int) -> float | None:
    """The value of a float or int scalar constant (-0.0 included), seen through ``broadcast_to``,
    ``reshape`` and ``cast``; else None."""
    node, casts = _underlying(builder, node_id)
    sign = 1.0
    if node.op == "negative" and builder.nodes[node.inputs[0]].op == "const":  # how -0.0 is spelled
        sign, node = -1.0, builder.nodes[node.inputs[0]]
    if node.op != "const" or isinstance(node.params["value"], (ConstArray, bool)) or "bool" in casts:
        return None
    value = np.asarray(sign * node.params["value"], dtype=node.dtype)
    for dtype in reversed(casts):
        value = value.astype(dtype)
    return float(value)


def constant_mask(builder: GraphBuilder, node_id: int) -> bool | None:
    """The value of a scalar constant mask, seen through ``broadcast_to`` and ``reshape``; else None."""
    node, casts = _underlying(builder, node_id)
    if casts or node.op != "const" or not isinstance(node.params["value"], bool):
        return None
    return node.params["value"]


def filled(builder: GraphBuilder, value: Any, shape: Shape, dtype: str) -> int:
    """A node holding ``value`` everywhere in ``shape``: a scalar constant, broadcast."""
    const = scalar_node(builder, value, dtype)
    return const if shape == () else emit(builder, "broadcast_to", [const], shape=shape)


def _uniform(array: np.ndarray) -> bool:
    """True when every element of ``array`` is the first one, bit for bit up to NaN payloads."""
    first = array.flat[0]
    if array.dtype.kind == "f":
        same = (array == first) & (np.signbit(array) == np.signbit(first)) if first == first else np.isnan(array)
        return bool(same.all())
    return bool((array == first).all())


def _fold(builder: GraphBuilder, op: str, inputs: tuple, attrs: tuple, shape: Shape, dtype: str) -> int | None:
    nodes = [builder.nodes[i] for i in inputs]
    # broadcast_to stays: a scalar constant broadcast reads better than a stored array.
    if (op == "broadcast_to" or OPS[op].kind in ("loop", "part") or not nodes or any(n.op != "const" for n in nodes)
            or int(np.prod(shape, dtype=np.int64)) > _FOLD_LIMIT):
        return None
    args = [OPS["const"].evaluate(**n.params) for n in nodes]
    with np.errstate(all="ignore"):
        result = np.asarray(OPS[op].evaluate(*args, **dict(attrs))).astype(dtype)
    if result.ndim == 0 or (result.size and _uniform(result)):
        return filled(builder, result.flat[0].item(), shape, dtype)
    return builder.add("const", (), (("value", ConstArray(result)),), shape, dtype)


def _is_zero(value: float | None, sign: float) -> bool:
    """True when ``value`` is the zero of that sign (+0.0 for 1.0, -0.0 for -1.0)."""
    return value == 0.0 and math.copysign(1.0, value) == sign


def simplify_rewriter(builder: GraphBuilder, op: str, inputs: tuple, attrs: tuple, shape: Shape,
                      dtype: str) -> int | None:
    """Answer with an equivalent, simpler node for ``op(*inputs)``, or None."""
    folded = _fold(builder, op, inputs, attrs, shape, dtype)
    if folded is not None:
        return folded
    consts = [scalar_constant(builder, i) for i in inputs]
    if op == "broadcast_to" and builder.nodes[inputs[0]].op == "broadcast_to":
        return emit(builder, "broadcast_to", [builder.nodes[inputs[0]].inputs[0]], **dict(attrs))
    if OPS[op].to_shape and builder.nodes[inputs[0]].shape == shape:
        return inputs[0]
    if op == "reshape" and builder.nodes[inputs[0]].op == "reshape":
        return emit(builder, "reshape", [builder.nodes[inputs[0]].inputs[0]], shape=shape)
    if op == "where" and inputs[1] == inputs[2]:
        return inputs[1]
    if op == "where" and constant_mask(builder, inputs[0]) is not None:
        return inputs[1] if constant_mask(builder, inputs[0]) else inputs[2]
    if op == "negative" and builder.nodes[inputs[0]].op == "negative":
        return builder.nodes[inputs[0]].inputs[0]
    if op == "negative" and builder.nodes[inputs[0]].op == "multiply":  # -(c * x) = (-c) * x, exactly
        product = builder.nodes[inputs[0]]
        for k, factor in enumerate(product.inputs):
            c = scalar_constant(builder, factor)
            if c is not None:
                return emit(builder, "multiply", [filled(builder, -c, shape, dtype), product.inputs[1 - k]])
    if op in ("add", "subtract") and builder.nodes[inputs[1]].op == "negative":  # x + -y = x - y, exactly
        return emit(builder, "subtract" if op == "add" else "add", [inputs[0], builder.nodes[inputs[1]].inputs[0]])
    if op == "add" and builder.nodes[inputs[0]].op == "negative":  # -x + y = y - x, exactly
        return emit(builder, "subtract", [inputs[1], builder.nodes[inputs[0]].inputs[0]])
    if op == "abs" and builder.nodes[inputs[0]].op == "negative":  # |-x| = |x|
        return emit(builder, "abs", [builder.nodes[inputs[0]].inputs[0]])
    if OPS[op].elementwise and consts and all(c is not None for c in consts):
        with np.errstate(all="ignore"):
            value = OPS[op].evaluate(*[np.asarray(c, dtype=builder.nodes[i].dtype) for c, i in zip(consts, inputs)],
                                     **dict(attrs))
        return filled(builder, np.asarray(value).astype(dtype).item(), shape, dtype)
    if len(inputs) == 2 and dtype != "bool":
        return _identity(builder, op, inputs, consts, shape, dtype)
    return None


def _identity(builder: GraphBuilder, op: str, inputs: tuple, consts: list, shape: Shape, dtype: str) -> int | None:
    """Binary identities that hold for every IEEE value of the other operand."""
    a, b = consts
    x, y = inputs
    if op == "add":
        if _is_zero(a, -1.0):  # -0.0 + y = y; 0.0 + y is 0.0 for y = -0.0, so it stays
            return y
        if _is_zero(b, -1.0):
            return x
    elif op == "subtract":
        if _is_zero(b, 1.0):  # x - 0.0 = x + -0.0 = x
            return x
        if _is_zero(a, -1.0):  # -0.0 - y = -y
            return emit(builder, "negative", [y])
    elif op == "multiply":  # x * 0 stays: inf * 0 is NaN and -3 * 0 is -0.0
        if a == 1.0:
            return y
        if b == 1.0:
            return x
        if a == -1.0:
            return emit(builder, "negative", [y])
        if b == -1.0:
            return emit(builder, "negative", [x])
    elif op == "divide" and b == 1.0:
        return x
    elif op == "power":
        if b == 1.0:
            return x
        if b == 0.0:  # x ** ±0 is 1 for every x, NaN included (IEEE pow, NumPy and C alike)
            return filled(builder, 1.0, shape, dtype)
    return None


def simplify(graph: Graph) -> Graph:
    """Fold constants, apply identities and share common subexpressions."""
    return rewrite(graph, simplify_rewriter)
