"""A function traced inside another trace, into a graph of its own, transformed by a pass, and inlined.

This is how one derivative is taken inside the graph of another: ``fn`` is traced on inputs shaped like
the given values (its closures over the enclosing trace become inputs too, as in a loop's body), the
resulting graph goes through the pipeline's passes (stabilizing, then differentiating in reverse or
forward mode), and the nodes of the result are copied into the enclosing graph with its inputs bound
to the values they stand for. The enclosing graph then holds ordinary nodes, fused, CSE'd and
differentiated again like any others.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

from gradgen.dsl.trace import TracingBuilder, _call, _output_names, unwrapped
from gradgen.dsl.value import Value
from gradgen.errors import GraphError, InputError
from gradgen.ir.builder import GraphBuilder
from gradgen.ir.graph import Graph
from gradgen.ops.core import builder_of, constant
from gradgen.passes.rebuild import copy_node


class Subtrace:
    """``fn`` traced on inputs named after its parameters and shaped like ``primals``, inside the trace the
    primals belong to. ``bound`` maps each input's name to the value of the enclosing trace it stands
    for (the primals, then the captured closures once ``finish`` has run)."""

    def __init__(self, fn: Callable, names: Sequence[str], primals: Sequence[Any], what: str):
        outer = builder_of(primals)
        if outer is None:
            raise InputError(f"{what}: no argument is a traced value")
        self.outer = outer
        self.what = what
        self.builder = TracingBuilder(getattr(unwrapped(fn), "__code__", None), parent=outer)
        self.bound: dict[str, Value] = {}
        values = [constant(outer, value) for value in primals]
        self.inputs = [self.input(name, v.shape, v.node.dtype, v) for name, v in zip(names, values)]
        self.result = _call(fn, dict(zip(names, self.inputs)))

    def input(self, name: str, shape: tuple[int, ...], dtype: str, value: Value | None = None) -> Value:
        """A new input of the subtrace, standing for ``value`` (None: bound when inlined)."""
        node_id = self.builder.input(name, shape, dtype)
        if value is not None:
            self.bound[self.builder.nodes[node_id].params["name"]] = value
        return Value(self.builder, node_id)

    def output(self) -> Value:
        """The one value ``fn`` returned, as a value of the subtrace."""
        result = self.result
        if isinstance(result, (tuple, list, dict)):
            raise GraphError(f"{self.what}: the function must return one value (an array or a number), got a "
                             f"{type(result).__name__}; derivatives of several outputs: gg.stack them into one")
        try:
            return constant(self.builder, result)
        except InputError:
            raise GraphError(f"{self.what}: the function returned {result!r}; return a gradgen value") from None

    def finish(self, outputs: Sequence[Value]) -> Graph:
        """The subtrace's graph with ``outputs``; its nodes named after ``fn``'s locals."""
        builder = self.builder
        for node_id, local in builder.local_names().items():
            if builder.nodes[node_id].op != "input":
                builder.set_name(node_id, local)
        ids = [v.id for v in outputs]
        graph = builder.finish(tuple(ids), tuple(_output_names(builder, ids)))
        for sub_id, enclosing, node_id in builder.captured_inputs():
            self.bound[builder.nodes[sub_id].params["name"]] = Value(enclosing, node_id)
        return graph


def inline(graph: Graph, builder: GraphBuilder, bound: Mapping[str, Value], known: Mapping[int, Value] | None = None,
           only: Collection[int] | None = None) -> dict[int, Value]:
    """Copy ``graph``'s nodes into ``builder``: each input as the value ``bound`` to its name, a node in
    ``known`` as that value (computed before, maybe in an enclosing graph), and, with ``only``, just those
    nodes. Returns node of ``graph`` -> its value in ``builder``."""
    values: dict[int, Value] = dict(known or {})
    for node in graph.nodes:
        if node.id in values or (only is not None and node.id not in only):
            continue
        if node.op == "input":
            values[node.id] = constant(builder, bound[node.params["name"]])
        else:
            inputs = [constant(builder, values[i]).id for i in node.inputs]
            values[node.id] = Value(builder, copy_node(builder, node, inputs))
    return values


def reaching(graph: Graph, sources: Collection[int]) -> set[int]:
    """The nodes of ``graph`` that depend on one of ``sources`` (the sources included)."""
    found = set(sources)
    for node in graph.nodes:
        if found.intersection(node.inputs):
            found.add(node.id)
    return found
