"""Numerics: rewrite formulas that overflow or lose precision into stable equivalents.

Applied to the forward graph before differentiation, so the backward pass
of the stable form is what gets generated:

- ``1 / (1 + exp(-z))``            -> ``sigmoid(z)``
- ``exp(z) / (1 + exp(z))``        -> ``sigmoid(z)``
- ``1 - sigmoid(z)``               -> ``sigmoid(-z)`` (so ``1 - 1 / (1 + exp(-z))`` is too)
- ``log(sigmoid(z))``              -> ``-softplus(-z)``
- ``log(1 - sigmoid(z))``          -> ``-softplus(z)``
- ``log(sum(exp(x)))``             -> ``logsumexp(x)``
- ``log(exp(x) / sum(exp(x)))``    -> ``x - logsumexp(x)`` (log_softmax; over any axes)
- ``log(exp(x))``                  -> ``x`` (so ``log(softmax(x))`` is ``log_softmax(x)``)
- ``log(1 + x)``                   -> ``log1p(x)``

Each matches one exact form (the same exp node on both sides of a division,
the same sum that a division broadcasts); near misses stay as written.
"""

from __future__ import annotations

from gradgen.dsl.value import Value
from gradgen.ir.builder import GraphBuilder
from gradgen.ir.graph import Graph, Shape
from gradgen.ops import functions as F
from gradgen.ops.registry import OPS
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
    return builder.nodes[_through_views(builder, node.inputs[1])].op == "stop_gradient"


def _through_views(builder: GraphBuilder, node_id: int) -> int:
    """The node under any views to a shape (``Op.to_shape``: broadcast_to, reshape)."""
    while OPS[builder.nodes[node_id].op].to_shape:
        node_id = builder.nodes[node_id].inputs[0]
    return node_id


def _log_softmax(builder: GraphBuilder, quotient: int) -> int | None:
    """``x - logsumexp(x)`` for ``exp(x) / sum(exp(x))`` (the sum broadcast back), else None."""
    numerator, denominator = builder.nodes[quotient].inputs
    total = builder.nodes[_through_views(builder, denominator)]
    if builder.nodes[numerator].op != "exp" or total.op != "sum" or total.inputs[0] != numerator:
        return None
    x = Value(builder, builder.nodes[numerator].inputs[0])
    return (x - F.broadcast_to(F.logsumexp(x, axis=total.params["axes"], keepdims=True), x.shape)).id


def _sigmoid(builder: GraphBuilder, op: str, inputs: tuple) -> int | None:
    """sigmoid for ``1 / (1 + exp(-z))`` and ``exp(z) / (1 + exp(z))``, sigmoid(-z) for ``1 - sigmoid(z)``."""
    nodes = builder.nodes
    if op == "subtract" and scalar_constant(builder, inputs[0]) == 1.0 and nodes[inputs[1]].op == "sigmoid":
        return F.sigmoid(-Value(builder, nodes[inputs[1]].inputs[0])).id
    if op != "divide":
        return None
    t = _match_one_plus(builder, inputs[1])
    if t is None or nodes[t].op != "exp":
        return None
    if scalar_constant(builder, inputs[0]) == 1.0 and nodes[nodes[t].inputs[0]].op == "negative":
        return F.sigmoid(Value(builder, nodes[nodes[t].inputs[0]].inputs[0])).id
    if inputs[0] == t:
        return F.sigmoid(Value(builder, nodes[t].inputs[0])).id
    return None


def numerics_rewriter(builder: GraphBuilder, op: str, inputs: tuple, attrs: tuple, shape: Shape,
                      dtype: str) -> int | None:
    """Answer with a stable equivalent of ``op(*inputs)``, or None."""
    nodes = builder.nodes
    if op in ("divide", "subtract"):
        return _sigmoid(builder, op, inputs)
    if op != "log":
        return None
    arg = nodes[inputs[0]]
    if arg.op == "exp":
        return arg.inputs[0]
    if arg.op == "divide":
        found = _log_softmax(builder, arg.id)
        if found is not None:
            return found
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
