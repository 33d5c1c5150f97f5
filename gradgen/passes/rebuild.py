"""replay(): copy a graph node by node into a builder, which may rewrite as it goes.

Every pass that changes nodes is a replay through a builder with a
rewriter; the builder's hash-consing makes each of them a CSE pass too.
"""

from __future__ import annotations

from typing import Callable, Optional

from gradgen.ir.builder import GraphBuilder, Rewriter
from gradgen.ir.graph import Graph, Node
from gradgen.ops.registry import emit

#: Optionally replaces one node while replaying: (builder, node, old id -> new id) -> new id or None.
Expander = Callable[[GraphBuilder, Node, list[int]], Optional[int]]


def replay(graph: Graph, builder: GraphBuilder, expand: Expander | None = None) -> list[int]:
    """Add ``graph``'s nodes to ``builder``; return old id -> new id."""
    mapping: list[int] = []
    for node in graph.nodes:
        expanded = expand(builder, node, mapping) if expand is not None else None
        if expanded is not None:
            new = expanded
        elif node.op in ("input", "const"):
            new = builder.add(node.op, (), node.attrs, node.shape, node.dtype)
        else:
            new = emit(builder, node.op, [mapping[i] for i in node.inputs], **node.params)
        if node.name:
            builder.set_name(new, node.name)
        if node.note:
            builder.set_note(new, node.note)
        mapping.append(new)
    return mapping


def rewrite(graph: Graph, rewriter: Rewriter | None) -> Graph:
    """``graph`` replayed through ``rewriter``, keeping its inputs and outputs."""
    builder = GraphBuilder(rewriter)
    mapping = replay(graph, builder)
    return builder.finish(tuple(mapping[i] for i in graph.outputs), graph.output_names)
