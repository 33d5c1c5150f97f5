"""Unrolling: each loop node written out as its body once per step, for the views that show every step.

A SymPy expression has no loop, and the chain rule edge by edge
(``gg.backprop_steps``) is read step by step, so both see a graph with its
loops unrolled: step t's body reads the carry step t-1 left and slice t of
each scanned array, and the stacked ys are the steps' ys joined. A y scanned
by a later loop is handed over step by step, never stacked and sliced, so
the steps share their values through CSE. The backends keep loops as loops.
"""

from __future__ import annotations

from gradgen.dsl.value import Value
from gradgen.ir.builder import GraphBuilder
from gradgen.ir.graph import Graph, Node
from gradgen.ops.registry import OPS
from gradgen.ops.shape import stack
from gradgen.passes.dce import eliminate_dead_code
from gradgen.passes.rebuild import replay
from gradgen.passes.simplify import filled, simplify_rewriter


def has_loops(graph: Graph) -> bool:
    return any(OPS[node.op].kind == "loop" for node in graph.nodes)


class _Unroller:
    """Replays graphs into one builder, writing loops out step by step."""

    def __init__(self, builder: GraphBuilder):
        self.builder = builder
        self.results: dict[tuple[int, int], list[int]] = {}  # (graph, loop node) -> its results' ids
        self.steps: dict[int, list[int]] = {}  # id of a stacked y -> the ids of its steps' values

    def graph(self, graph: Graph, inputs: list[int] | None = None) -> list[int]:
        """Replay ``graph`` (its inputs bound to ``inputs`` when given); return old id -> new id."""
        bound = iter(inputs) if inputs is not None else None

        def expand(builder: GraphBuilder, node: Node, mapping: list[int]) -> int | None:
            kind = OPS[node.op].kind
            if node.op == "input" and bound is not None:
                return next(bound)
            if kind == "loop":
                results = self.loop(node, [mapping[i] for i in node.inputs])
                self.results[(id(graph), node.id)] = results
                return results[0] if results else filled(builder, 0.0, (), "float64")
            if kind == "part":
                return self.results[(id(graph), node.inputs[0])][node.params["index"]]
            return None

        return replay(graph, self.builder, expand)

    def loop(self, node: Node, inputs: list[int]) -> list[int]:
        """The results of one loop node, its body replayed once per step."""
        params = node.params
        body, carries, xs, length = params["body"], params["carries"], params["xs"], params["length"]
        carry = inputs[:carries]
        scanned, captured = inputs[carries:carries + xs], inputs[carries + xs:]
        ys: list[list[int]] = [[0] * length for _ in body.outputs[carries:]]
        for t in (range(length - 1, -1, -1) if params["reverse"] else range(length)):
            slices = [self.steps[x][t] if x in self.steps else (Value(self.builder, x)[t]).id for x in scanned]
            mapping = self.graph(body, carry + slices + captured)
            results = [mapping[i] for i in body.outputs]
            carry = results[:carries]
            for y, value in zip(ys, results[carries:]):
                y[t] = value
        stacked = []
        for k, steps in enumerate(ys):
            node_id = body.nodes[body.outputs[carries + k]]
            if length == 0:
                stacked.append(filled(self.builder, 0.0, (0,) + node_id.shape, node_id.dtype))
                continue
            joined = stack([Value(self.builder, s) for s in steps]).id
            self.steps[joined] = steps
            stacked.append(joined)
        return carry + stacked


def unroll_loops(graph: Graph) -> Graph:
    """``graph`` with every loop node written out step by step (a graph without loops is returned as is)."""
    if not has_loops(graph):
        return graph
    builder = GraphBuilder(simplify_rewriter)
    mapping = _Unroller(builder).graph(graph)
    return eliminate_dead_code(builder.finish(tuple(mapping[i] for i in graph.outputs), graph.output_names))
