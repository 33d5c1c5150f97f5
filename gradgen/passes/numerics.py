"""Numerics: rewrite formulas that overflow or lose precision into stable equivalents.

Applied to the forward graph before differentiation, so the backward pass
of the stable form is what gets generated:

- ``1 / (1 + exp(-z))``            -> ``sigmoid(z)``
- ``log(sigmoid(z))``              -> ``-softplus(-z)``
- ``log(1 - sigmoid(z))``          -> ``-softplus(z)``
- ``log(sum(exp(x)))``             -> ``logsumexp(x)``
- ``log(1 + x)``                   -> ``log1p(x)``
"""

from __future__ import annotations

from gradgen.dsl.value import Value
from gradgen.ir.builder import GraphBuilder
from gradgen.ir.graph import Graph, Shape
from gradgen.ops import functions as F
from gradgen.passes.rebuild import rewrite
from gradgen.passes.simplify import scalar_constant, simplify_rewriter


def _match_one_plus(builder: GraphBuilder, node_id: int) -> int | None:
    """If the node is ``1 + t`` or ``t + 1``, return t's id."""
    node = builder.nodes[node_id]
    if node.op != "add":
        return None
    a, b = node.inputs
    if scalar_constant(builder, a) == 1.0:
        return b
    if scalar_constant(builder, b) == 1.0:
        return a
    return None


def _shifted(builder: GraphBuilder, node_id: int) -> bool:
    """True for ``x - stop_gradient(peak)``: an exp argument logsumexp already made safe."""
    node = builder.nodes[node_id]
    if node.op != "subtract":
        return False
    peak = builder.nodes[node.inputs[1]]
    while peak.op in ("broadcast_to", "reshape"):
        peak = builder.nodes[peak.inputs[0]]
    return peak.op == "stop_gradient"


def numerics_rewriter(builder: GraphBuilder, op: str, inputs: tuple, attrs: tuple, shape: Shape,
                      dtype: str) -> int | None:
    """Answer with a stable equivalent of ``op(*inputs)``, or None."""
    nodes = builder.nodes
    if op == "divide" and scalar_constant(builder, inputs[0]) == 1.0:
        t = _match_one_plus(builder, inputs[1])
        if t is not None and nodes[t].op == "exp" and nodes[nodes[t].inputs[0]].op == "negative":
            z = nodes[nodes[t].inputs[0]].inputs[0]
            return F.sigmoid(Value(builder, z)).id
    if op != "log":
        return None
    arg = nodes[inputs[0]]
    if arg.op == "sigmoid":
        return (-F.softplus(-Value(builder, arg.inputs[0]))).id
    if arg.op == "subtract" and scalar_constant(builder, arg.inputs[0]) == 1.0 \
            and nodes[arg.inputs[1]].op == "sigmoid":
        return (-F.softplus(Value(builder, nodes[arg.inputs[1]].inputs[0]))).id
    if arg.op == "sum" and nodes[arg.inputs[0]].op == "exp" and not _shifted(builder, nodes[arg.inputs[0]].inputs[0]):
        params = arg.params
        x = Value(builder, nodes[arg.inputs[0]].inputs[0])
        return F.logsumexp(x, axis=params["axes"], keepdims=params["keepdims"]).id
    t = _match_one_plus(builder, inputs[0])
    if t is not None:
        return F.log1p(Value(builder, t)).id
    return None


def _stable_then_simple(builder: GraphBuilder, op: str, inputs: tuple, attrs: tuple, shape: Shape,
                        dtype: str) -> int | None:
    found = numerics_rewriter(builder, op, inputs, attrs, shape, dtype)
    return found if found is not None else simplify_rewriter(builder, op, inputs, attrs, shape, dtype)


def stabilize(graph: Graph) -> Graph:
    """Rewrite unstable patterns (and simplify) so values and gradients stay finite."""
    return rewrite(graph, _stable_then_simple)
