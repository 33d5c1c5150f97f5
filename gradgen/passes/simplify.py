"""Simplification: constant folding and algebraic identities, with CSE from hash-consing.

Every rule keeps results unchanged for finite inputs (``x * 0 -> 0`` is the
only one that differs at inf or NaN, and only in a gradient's zero terms).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gradgen.ir.builder import GraphBuilder
from gradgen.ir.graph import ConstArray, Graph, Shape
from gradgen.ops.registry import OPS, emit
from gradgen.passes.rebuild import rewrite

#: Folding is skipped when it would store a constant larger than this.
_FOLD_LIMIT = 64


def scalar_constant(builder: GraphBuilder, node_id: int) -> float | None:
    """The value of a scalar constant, seen through ``broadcast_to`` and ``cast``; else None."""
    node = builder.nodes[node_id]
    while node.op in ("broadcast_to", "cast", "reshape") and node.dtype != "bool":
        node = builder.nodes[node.inputs[0]]
    if node.op == "const" and not isinstance(node.params["value"], ConstArray):
        value = node.params["value"]
        return float(value) if not isinstance(value, bool) else None
    return None


def filled(builder: GraphBuilder, value: float, shape: Shape, dtype: str) -> int:
    """A node holding ``value`` everywhere in ``shape``: a scalar constant, broadcast."""
    const = builder.add("const", (), (("value", float(value)),), (), dtype)
    return const if shape == () else emit(builder, "broadcast_to", [const], shape=shape)


def _fold(builder: GraphBuilder, op: str, inputs: tuple, attrs: tuple, shape: Shape, dtype: str) -> int | None:
    nodes = [builder.nodes[i] for i in inputs]
    # broadcast_to stays: a scalar constant broadcast reads better than a stored array.
    if (op == "broadcast_to" or not nodes or any(n.op != "const" for n in nodes)
            or int(np.prod(shape, dtype=np.int64)) > _FOLD_LIMIT):
        return None
    args = [OPS["const"].evaluate(**n.params) for n in nodes]
    with np.errstate(all="ignore"):
        result = np.asarray(OPS[op].evaluate(*args, **dict(attrs))).astype(dtype)
    if result.ndim and result.size and dtype != "bool" and (result == result.flat[0]).all():
        return filled(builder, float(result.flat[0]), shape, dtype)
    value: Any = result.item() if result.ndim == 0 else ConstArray(result)
    if isinstance(value, float) and value == 0.0:
        value = 0.0
    return builder.add("const", (), (("value", value),), shape, dtype)


def simplify_rewriter(builder: GraphBuilder, op: str, inputs: tuple, attrs: tuple, shape: Shape,
                      dtype: str) -> int | None:
    """Answer with an equivalent, simpler node for ``op(*inputs)``, or None."""
    folded = _fold(builder, op, inputs, attrs, shape, dtype)
    if folded is not None:
        return folded
    consts = [scalar_constant(builder, i) for i in inputs]
    if op == "broadcast_to" and builder.nodes[inputs[0]].op == "broadcast_to":
        return emit(builder, "broadcast_to", [builder.nodes[inputs[0]].inputs[0]], **dict(attrs))
    if op in ("reshape", "broadcast_to") and builder.nodes[inputs[0]].shape == shape:
        return inputs[0]
    if op == "reshape" and builder.nodes[inputs[0]].op == "reshape":
        return emit(builder, "reshape", [builder.nodes[inputs[0]].inputs[0]], shape=shape)
    if op == "where" and inputs[1] == inputs[2]:
        return inputs[1]
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
    if OPS[op].elementwise and consts and all(c is not None for c in consts) and dtype != "bool":
        with np.errstate(all="ignore"):
            value = OPS[op].evaluate(*[np.asarray(c, dtype=dtype) for c in consts], **dict(attrs))
        return filled(builder, float(value), shape, dtype)
    if len(inputs) == 2 and dtype != "bool":
        a, b = consts
        x, y = inputs
        if op == "add":
            if a == 0.0:
                return y
            if b == 0.0:
                return x
        elif op == "subtract":
            if b == 0.0:
                return x
            if a == 0.0:
                return emit(builder, "negative", [y])
        elif op == "multiply":
            if a == 1.0:
                return y
            if b == 1.0:
                return x
            if a == 0.0 or b == 0.0:
                return filled(builder, 0.0, shape, dtype)
            if a == -1.0:
                return emit(builder, "negative", [y])
            if b == -1.0:
                return emit(builder, "negative", [x])
        elif op == "divide" and b == 1.0:
            return x
        elif op == "power":
            if b == 1.0:
                return x
            if b == 0.0:
                return filled(builder, 1.0, shape, dtype)
    return None


def simplify(graph: Graph) -> Graph:
    """Fold constants, apply identities and share common subexpressions."""
    return rewrite(graph, simplify_rewriter)
