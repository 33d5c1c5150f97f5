"""Sinking: a sum over the steps of a loop's stacked results, computed inside the loop as a running total.

``_, hs = gg.scan(step, h0, xs)`` followed by ``gg.sum((hs - obs) ** 2)``
stacks every step's ``h`` only to take one pass over them afterwards. Here
the pass over them moves into the loop: the loop gets one more carry, the
running total, and each step adds its own share,

    total = total + sum((h - obs_row) ** 2)

so nothing is stacked for the sum (dead-code elimination drops the stacked
``hs`` when nothing else reads it), and differentiating the loop keeps the
sum's cotangent inside the reverse loop too, instead of a stacked array of
cotangents scanned back in.

What sinks: a ``sum`` whose axes include axis 0 over elementwise nodes that
start from the loop's ys and are read by nothing else. What else they read
becomes part of the loop: an array stepping with the loop (same leading
length, computed before it) is scanned as one more ``xs``; a value
broadcast over the steps is captured; a constant is copied into the body.

The C backend compiles the graph sunk (``stages``); the Python backend's
NumPy runs the stacked form in one vectorized pass, and the views show the
graph as written.
"""

from __future__ import annotations

from typing import NamedTuple

from gradgen.dsl.value import Value
from gradgen.ir.builder import GraphBuilder
from gradgen.ir.graph import Graph, Node
from gradgen.ops.core import apply, broadcast_to, constant
from gradgen.ops.loops import part
from gradgen.ops.registry import OPS
from gradgen.passes.dce import eliminate_dead_code
from gradgen.passes.rebuild import copy_node, inside_loops
from gradgen.passes.simplify import simplify_rewriter


class Sink(NamedTuple):
    """One sum to move into a loop: the ``total`` (a sum node), the ``loop`` node, the loop's results it
    reads (``ys``: loop_output nodes), the elementwise nodes between them (``chain``), and what those
    read from outside the loop: arrays stepping with it (``aligned``) and values broadcast over its
    steps (``broadcast``: broadcast_to nodes). Ids of the graph, in graph order."""

    total: Node
    loop: Node
    ys: tuple[int, ...]
    chain: tuple[int, ...]
    aligned: tuple[int, ...]
    broadcast: tuple[int, ...]


def sink_sums(graph: Graph) -> Graph:
    """``graph`` with every sum over the steps of a loop's results computed inside that loop, in the
    bodies of loops too (``graph`` itself when it has no loop)."""
    if not any(OPS[node.op].kind == "loop" for node in graph.nodes):
        return graph
    return inside_loops(_sink_all)(graph)


def _sink_all(graph: Graph) -> Graph:
    for _ in range(sum(node.op == "sum" for node in graph.nodes)):
        found = _find(graph)
        if found is None:
            break
        graph = _sunk(graph, found)
    return graph


def _find(graph: Graph) -> Sink | None:
    """The first sum that can sink into a loop, or None."""
    users: list[set[int]] = [set() for _ in graph.nodes]
    for node in graph.nodes:
        for i in node.inputs:
            users[i].add(node.id)
    sums = [node for node in graph.nodes if node.op == "sum" and 0 in node.params["axes"]]
    for loop in graph.nodes:
        if OPS[loop.op].kind != "loop":
            continue
        reaches = _reaching(graph, loop)
        for total in sums:
            if reaches[total.inputs[0]]:
                found = _chain(graph, users, reaches, total, loop)
                if found is not None:
                    return found
    return None


def _reaching(graph: Graph, loop: Node) -> list[bool]:
    """For each node, whether it depends on a result of ``loop``."""
    reaches = [False] * len(graph.nodes)
    for node in graph.nodes[loop.id + 1:]:
        reaches[node.id] = any(reaches[i] or i == loop.id for i in node.inputs)
    return reaches


def _chain(graph: Graph, users: list[set[int]], reaches: list[bool], total: Node, loop: Node) -> Sink | None:
    """The sink of ``total`` into ``loop``, if every node between them is elementwise over the stacked
    shape and read only on the way to ``total``, and what else they read is broadcast or has that shape."""
    stacked = graph.nodes[total.inputs[0]].shape
    ys, chain, aligned, broadcast = set(), set(), set(), set()
    pending = [total.inputs[0]]
    while pending:
        i = pending.pop()
        node = graph.nodes[i]
        if i in ys | chain | aligned | broadcast:
            continue
        if not reaches[i]:  # from outside the loop
            source = graph.nodes[node.inputs[0]] if node.op == "broadcast_to" else None
            if source is not None and (len(source.shape) < len(stacked) or source.shape[:1] == (1,)):
                broadcast.add(i)
            elif node.shape == stacked:
                aligned.add(i)
            else:
                return None
        elif node.op == "loop_output" and node.inputs[0] == loop.id and node.shape == stacked \
                and node.params["index"] >= loop.params["carries"]:
            ys.add(i)
        elif OPS[node.op].elementwise and node.shape == stacked:
            chain.add(i)
            pending.extend(node.inputs)
        else:
            return None
    if any(users[i] - chain - {total.id} for i in chain):
        return None
    return Sink(total, loop, *(tuple(sorted(ids)) for ids in (ys, chain, aligned, broadcast)))


def _outside(graph: Graph, sink: Sink) -> list[Node]:
    """The nodes outside the loop that the sunk sum reads: the aligned arrays and the broadcast sources."""
    return [graph.nodes[i] for i in sink.aligned] + [graph.nodes[graph.nodes[i].inputs[0]] for i in sink.broadcast]


def _new_inputs(graph: Graph, sink: Sink) -> tuple[list[int], list[int]]:
    """What the loop must newly scan (aligned arrays it does not scan yet) and capture (broadcast sources,
    not constants, it does not capture yet): node ids, in the order of the new body's inputs."""
    carries, xs = sink.loop.params["carries"], sink.loop.params["xs"]
    scanning, capturing = sink.loop.inputs[carries:carries + xs], sink.loop.inputs[carries + xs:]
    sources = [graph.nodes[graph.nodes[i].inputs[0]] for i in sink.broadcast]
    scan = [i for i in sink.aligned if i not in scanning]
    capture = list(dict.fromkeys(n.id for n in sources if n.op != "const" and n.id not in capturing))
    return scan, capture


def _order(graph: Graph, sink: Sink) -> list[Node]:
    """The graph's nodes in an order where the loop comes after every value its sunk sum reads: those
    made after the loop (and what they are made of) move before it (none of them reads the loop)."""
    loop = sink.loop.id
    early: set[int] = set()
    pending = [node.id for node in _outside(graph, sink) if node.id > loop]
    while pending:
        i = pending.pop()
        if i not in early:
            early.add(i)
            pending.extend(j for j in graph.nodes[i].inputs if j > loop)
    moved = [graph.nodes[i] for i in sorted(early)]
    rest = [node for node in graph.nodes[loop:] if node.id not in early]
    order = list(graph.nodes[:loop]) + moved + rest
    # the inputs first, in their order: a body's input made where first read may come after the loop, and
    # the rebuilt graph's inputs are in the order they are made
    return [graph.nodes[i] for i in graph.inputs] + [node for node in order if node.op != "input"]


def _sunk(graph: Graph, sink: Sink) -> Graph:
    """``graph`` with ``sink``'s sum a carry of its loop: the loop rebuilt with one carry more."""
    total, loop = sink.total, sink.loop
    params = loop.params
    carries, xs = params["carries"], params["xs"]
    body = _body(graph, sink)
    builder = GraphBuilder(simplify_rewriter)
    mapping: dict[int, int] = {}
    for node in _order(graph, sink):
        if node.id == loop.id:
            outer = [Value(builder, mapping[i]) for i in loop.inputs]
            scan, capture = _new_inputs(graph, sink)
            scanned = [Value(builder, mapping[i]) for i in scan]
            captured = [Value(builder, mapping[i]) for i in capture]
            start = broadcast_to(constant(builder, 0.0, total.dtype), body.nodes[body.inputs[carries]].shape)
            new = apply("scan", *outer[:carries], start, *outer[carries:carries + xs], *scanned,
                        *outer[carries + xs:], *captured,
                        **{**params, "body": body, "carries": carries + 1, "xs": xs + len(scanned)})
            mapping[node.id] = new.id
        elif node.op == "loop_output" and node.inputs[0] == loop.id:
            index = node.params["index"]
            result = part(Value(builder, mapping[loop.id]), index + (index >= carries))
            mapping[node.id] = result.id
            if node.name:
                builder.set_name(result.id, node.name)
        elif node.id == total.id:
            result = part(Value(builder, mapping[loop.id]), carries)
            builder.set_name(result.id, body.input_names[carries])
            if result.shape != total.shape:
                result = apply("reshape", result, shape=total.shape)
            mapping[node.id] = result.id
        else:
            mapping[node.id] = copy_node(builder, node, [mapping[i] for i in node.inputs])
    return eliminate_dead_code(builder.finish(tuple(mapping[i] for i in graph.outputs), graph.output_names))


def _body(graph: Graph, sink: Sink) -> Graph:
    """The loop's body with a running total: one more carry (after the others), the aligned arrays'
    rows as more xs, the broadcast values as more captured inputs; the step adds its share to the total."""
    total, loop = sink.total, sink.loop
    params = loop.params
    old, carries, xs = params["body"], params["carries"], params["xs"]
    row = graph.nodes[total.inputs[0]].shape[1:]
    axes = tuple(a - 1 for a in total.params["axes"] if a)
    keep = total.params["keepdims"]
    share_shape = tuple(1 if a in axes else n for a, n in enumerate(row) if keep or a not in axes)
    body = GraphBuilder(simplify_rewriter)
    params_of: dict[int, int] = {}  # the old body's inputs -> the new body's

    def take(ids: tuple[int, ...]) -> None:
        for i in ids:
            node = old.nodes[i]
            params_of[i] = body.input(node.params["name"], node.shape, node.dtype)

    scan, capture = _new_inputs(graph, sink)
    take(old.inputs[:carries])
    running = body.input(total.name or "total", share_shape, total.dtype)
    take(old.inputs[carries:carries + xs])
    xs_params = old.inputs[carries:carries + xs]
    rows = {outer: params_of[i] for outer, i in zip(loop.inputs[carries:carries + xs], xs_params)}
    for i in scan:
        node = graph.nodes[i]
        rows[i] = body.input(f"{node.name}_row" if node.name else "row", row, node.dtype)
    take(old.inputs[carries + xs:])
    whole = {outer: params_of[i] for outer, i in zip(loop.inputs[carries + xs:], old.inputs[carries + xs:])}
    for i in capture:
        node = graph.nodes[i]
        whole[i] = body.input(node.name or "captured", node.shape, node.dtype)
    inside: dict[int, int] = {i: rows[i] for i in sink.aligned}  # the graph's nodes -> their row in one step
    for i in sink.broadcast:
        source = graph.nodes[graph.nodes[i].inputs[0]]
        value = Value(body, copy_node(body, source, []) if source.op == "const" else whole[source.id])
        if len(source.shape) == len(row) + 1:
            value = apply("reshape", value, shape=source.shape[1:])
        inside[i] = broadcast_to(value, row).id
    mapping: dict[int, int] = {}
    for node in old.nodes:
        mapping[node.id] = params_of[node.id] if node.op == "input" else \
            copy_node(body, node, [mapping[j] for j in node.inputs])
    for i in sink.ys:
        inside[i] = mapping[old.outputs[graph.nodes[i].params["index"]]]
    for i in sink.chain:
        node = graph.nodes[i]
        inside[i] = copy_node(body, node, [inside[j] for j in node.inputs])
    share = Value(body, inside[total.inputs[0]])
    if axes:
        share = apply("sum", share, axes=axes, keepdims=keep)
    step_total = apply("add", Value(body, running), share)
    outputs = [mapping[i] for i in old.outputs]
    names = list(old.output_names)
    name = body.nodes[running].params["name"]
    return body.finish(tuple(outputs[:carries] + [step_total.id] + outputs[carries:]),
                       tuple(names[:carries] + [name] + names[carries:]))
