"""Dead-code elimination: keep the inputs and what the outputs depend on.

A loop whose stacked results (ys) nobody reads stops computing them: the
forward loop of a gradient saves every value its reverse sweep could read,
and the ones the sweep does not read are dropped here.
"""

from __future__ import annotations

from gradgen.ir.builder import GraphBuilder
from gradgen.ir.graph import Graph
from gradgen.ops.loops import without_unread_ys
from gradgen.ops.registry import OPS


def eliminate_dead_code(graph: Graph, prune_loops: bool = True) -> Graph:
    """Drop nodes no output depends on (inputs always stay: they are the signature), and (with
    ``prune_loops``) the ys of a loop that no live ``loop_output`` reads."""
    live = [False] * len(graph.nodes)
    for i in graph.outputs:
        live[i] = True
    for node in reversed(graph.nodes):
        if live[node.id]:
            for i in node.inputs:
                live[i] = True
    read: dict[int, set[int]] = {}  # loop node -> the results its live loop_output nodes read
    for node in graph.nodes:
        if live[node.id] and OPS[node.op].kind == "part":
            read.setdefault(node.inputs[0], set()).add(node.params["index"])
    renumbered: dict[int, dict[int, int]] = {}  # loop node -> old result index -> new
    builder = GraphBuilder()
    mapping: dict[int, int] = {}
    for node in graph.nodes:
        if not (live[node.id] or node.op == "input"):
            continue
        attrs = node.attrs
        kind = OPS[node.op].kind
        if kind == "loop" and prune_loops:
            params = node.params
            body, renumbered[node.id] = without_unread_ys(params["body"], params["carries"], read.get(node.id, set()))
            attrs = tuple(sorted({**params, "body": eliminate_dead_code(body)}.items()))
        elif kind == "part" and node.inputs[0] in renumbered:
            attrs = (("index", renumbered[node.inputs[0]][node.params["index"]]),)
        new = builder.add(node.op, tuple(mapping[i] for i in node.inputs), attrs, node.shape, node.dtype)
        if node.name:
            builder.set_name(new, node.name)
        if node.note:
            builder.set_note(new, node.note)
        mapping[node.id] = new
    return builder.finish(tuple(mapping[i] for i in graph.outputs), graph.output_names)
