"""Expand the nodes of ``gg.custom_op`` ops into the function's own graph, once derivatives are taken.

A custom op keeps its node through differentiation, so that its own rules are used; the code generators
then see only gradgen's ops. Loop bodies are expanded too.
"""

from __future__ import annotations

from gradgen.dsl.nested import inline
from gradgen.dsl.value import Value
from gradgen.ir.builder import GraphBuilder
from gradgen.ir.graph import Graph, Node
from gradgen.ops.registry import OPS
from gradgen.passes.rebuild import inside_loops, replay
from gradgen.passes.simplify import simplify_rewriter


def _has_custom(graph: Graph) -> bool:
    return any(OPS[node.op].custom or (OPS[node.op].kind == "loop" and _has_custom(node.params["body"]))
               for node in graph.nodes)


def _expand_here(graph: Graph) -> Graph:
    from gradgen.ops.custom import CUSTOM

    if not any(OPS[node.op].custom for node in graph.nodes):
        return graph

    def expand(builder: GraphBuilder, node: Node, mapping: list[int]) -> int | None:
        if not OPS[node.op].custom:
            return None
        body = CUSTOM[node.op].graph([graph.nodes[i] for i in node.inputs])
        bound = {name: Value(builder, mapping[i]) for name, i in zip(body.input_names, node.inputs)}
        return inline(body, builder, bound)[body.outputs[0]].id

    builder = GraphBuilder(simplify_rewriter)
    mapping = replay(graph, builder, expand)
    return builder.finish(tuple(mapping[i] for i in graph.outputs), graph.output_names)


def expand_custom_ops(graph: Graph) -> Graph:
    """``graph`` with every custom op's node replaced by the nodes of its function (``graph`` itself when
    it has none)."""
    return inside_loops(_expand_here)(graph) if _has_custom(graph) else graph
