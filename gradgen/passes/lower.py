"""Lowering for C: sigmoid and softplus (the ops with an ``exp_form``) written out from one shared
exp(-|z|); the results of one matrix decomposition from one routine (their ``packed`` op).

A loss such as binary cross-entropy needs sigmoid(z), sigmoid(-z),
softplus(z) and softplus(-z) for the same z. Written out as

    e = exp(-|z|)
    softplus(z) = log1p(e) + relu(z)
    sigmoid(z)  = 1 / (1 + e)  if z >= 0  else  e / (1 + e)

(the very formulas of the C runtime header, so results are unchanged) they
share one exp and one log1p through CSE instead of calling six
transcendental functions. Runs after differentiation, so gradients are
those of the primitives.
"""

from __future__ import annotations

from gradgen.dsl.value import Value
from gradgen.ir.builder import GraphBuilder
from gradgen.ir.graph import Graph, Node
from gradgen.ops import functions as F
from gradgen.ops.core import apply
from gradgen.ops.decompositions import packed_part
from gradgen.ops.registry import OPS
from gradgen.passes.dce import eliminate_dead_code
from gradgen.passes.rebuild import inside_loops, replay
from gradgen.passes.simplify import simplify_rewriter


def lower_for_c(graph: Graph) -> Graph:
    """``graph`` (and the bodies of its loops) with the ops that have an ``exp_form`` written out where two
    or more of them read the same z (or -z), so that they share work (a lone one stays a single call), and
    the results of one decomposition cut from one routine's where several are read."""
    return inside_loops(lambda g: _share_decompositions(_share_exp(g)))(graph)


def _share_decompositions(graph: Graph) -> Graph:
    """Each eigendecomposition (SVD) primitive of a matrix of which the graph reads several results as
    a part of the one packed op that computes them all (``ops/decompositions.py``)."""
    read: dict[tuple[str, int], set[str]] = {}
    for node in graph.nodes:
        if OPS[node.op].packed:
            read.setdefault((OPS[node.op].packed, node.inputs[0]), set()).add(node.op)
    if all(len(ops) < 2 for ops in read.values()):
        return graph

    def expand(builder: GraphBuilder, node: Node, mapping: list[int]) -> int | None:
        packed = OPS[node.op].packed
        if not packed or len(read[(packed, node.inputs[0])]) < 2:
            return None
        whole = apply(packed, Value(builder, mapping[node.inputs[0]]))  # one node, by hash-consing
        return packed_part(node.op, whole, graph.nodes[node.inputs[0]].shape).id

    builder = GraphBuilder(simplify_rewriter)
    mapping = replay(graph, builder, expand)
    return eliminate_dead_code(builder.finish(tuple(mapping[i] for i in graph.outputs), graph.output_names))


def _share_exp(graph: Graph) -> Graph:

    def base(node: Node) -> int:
        arg = graph.nodes[node.inputs[0]]
        return arg.inputs[0] if arg.op == "negative" else arg.id

    uses: dict[int, int] = {}
    for node in graph.nodes:
        if OPS[node.op].exp_form is not None:
            uses[base(node)] = uses.get(base(node), 0) + 1
    if max(uses.values(), default=0) < 2:
        return graph

    def expand(builder: GraphBuilder, node: Node, mapping: list[int]) -> int | None:
        written_out = OPS[node.op].exp_form
        if written_out is None or uses[base(node)] < 2:
            return None
        z = Value(builder, mapping[node.inputs[0]])
        return written_out(z, F.exp(-F.abs(z))).id

    builder = GraphBuilder(simplify_rewriter)
    mapping = replay(graph, builder, expand)
    return eliminate_dead_code(builder.finish(tuple(mapping[i] for i in graph.outputs), graph.output_names))
