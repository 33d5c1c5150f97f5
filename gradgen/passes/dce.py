"""Dead-code elimination: keep the inputs and what the outputs depend on."""

from __future__ import annotations

from gradgen.ir.builder import GraphBuilder
from gradgen.ir.graph import Graph


def eliminate_dead_code(graph: Graph) -> Graph:
    """Drop nodes no output depends on (inputs always stay: they are the signature)."""
    live = [False] * len(graph.nodes)
    for i in graph.outputs:
        live[i] = True
    for node in reversed(graph.nodes):
        if live[node.id]:
            for i in node.inputs:
                live[i] = True
    builder = GraphBuilder()
    mapping: dict[int, int] = {}
    for node in graph.nodes:
        if live[node.id] or node.op == "input":
            new = builder.add(node.op, tuple(mapping[i] for i in node.inputs), node.attrs, node.shape, node.dtype)
            if node.name:
                builder.set_name(new, node.name)
            if node.note:
                builder.set_note(new, node.note)
            mapping[node.id] = new
    return builder.finish(tuple(mapping[i] for i in graph.outputs), graph.output_names)
