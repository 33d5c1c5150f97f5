"""replay(): copy a graph node by node into a builder, which may rewrite as it goes.

Every pass that changes nodes is a replay through a builder with a
rewriter; the builder's hash-consing makes each of them a CSE pass too.
"""

from __future__ import annotations

from typing import Callable, Optional

from gradgen.ir.builder import GraphBuilder, Rewriter
from gradgen.ir.graph import Graph, Node
from gradgen.ops.registry import emit, get_op

#: Optionally replaces one node while replaying: (builder, node, old id -> new id) -> new id or None.
Expander = Callable[[GraphBuilder, Node, list[int]], Optional[int]]


def copy_node(builder: GraphBuilder, node: Node, inputs: list[int]) -> int:
    """``node`` added to ``builder`` on the nodes ``inputs`` (through its rewriter), with its name and note."""
    if get_op(node.op).leaf:
        new = builder.add(node.op, (), node.attrs, node.shape, node.dtype)
    else:
        new = emit(builder, node.op, inputs, **node.params)
    if node.name:
        builder.set_name(new, node.name)
    if node.note:
        builder.set_note(new, node.note)
    return new


def replay(graph: Graph, builder: GraphBuilder, expand: Expander | None = None) -> list[int]:
    """Add ``graph``'s nodes to ``builder``; return old id -> new id."""
    mapping: list[int] = []
    for node in graph.nodes:
        expanded = expand(builder, node, mapping) if expand is not None else None
        if expanded is not None:
            if node.name:
                builder.set_name(expanded, node.name)
            if node.note:
                builder.set_note(expanded, node.note)
            mapping.append(expanded)
        else:
            mapping.append(copy_node(builder, node, [mapping[i] for i in node.inputs]))
    return mapping


def rewrite(graph: Graph, rewriter: Rewriter | None) -> Graph:
    """``graph`` replayed through ``rewriter``, keeping its inputs and outputs."""
    builder = GraphBuilder(rewriter)
    mapping = replay(graph, builder)
    return builder.finish(tuple(mapping[i] for i in graph.outputs), graph.output_names)


def inside_loops(run: Callable[[Graph], Graph]) -> Callable[[Graph], Graph]:
    """The pass ``run`` applied to the body of every loop (inner loops first), then to the graph itself:
    how stabilizing and dead-code elimination reach into loops. ``run`` must keep a body's inputs and
    outputs."""

    def apply(graph: Graph) -> Graph:
        if not any(isinstance(value, Graph) for node in graph.nodes for _, value in node.attrs):
            return run(graph)

        def expand(builder: GraphBuilder, node: Node, mapping: list[int]) -> int | None:
            bodies = {key: apply(value) for key, value in node.attrs if isinstance(value, Graph)}
            if not bodies:
                return None
            return emit(builder, node.op, [mapping[i] for i in node.inputs], **{**node.params, **bodies})

        builder = GraphBuilder()
        mapping = replay(graph, builder, expand)
        return run(builder.finish(tuple(mapping[i] for i in graph.outputs), graph.output_names))

    return apply
