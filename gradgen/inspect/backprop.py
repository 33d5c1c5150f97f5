"""backprop_table: every node's value (left to right) and dJ/dnode (right to left), and with ``tangents``
each node's tangent too (forward mode, left to right, beside the adjoints)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from gradgen.dsl.value import Value
from gradgen.errors import InputError
from gradgen.inspect.values import format_number, format_table, html_table, trace_at
from gradgen.ir.builder import GraphBuilder
from gradgen.ir.graph import FLOAT_DTYPES, TUPLE, Graph
from gradgen.ir.printer import format_node
from gradgen.ops.core import constant
from gradgen.ops.registry import OPS
from gradgen.passes.autodiff import differentiate
from gradgen.passes.forward import push_tangents
from gradgen.passes.rebuild import replay
from gradgen.runtime.interpret import evaluate


@dataclass(frozen=True)
class BackpropRow:
    """One node: its name, op, forward value, dJ/d(node) (None where there is none) and, when the table
    was asked for tangents, the node's tangent along them (None where there is none)."""

    name: str
    op: str
    expression: str
    value: Any
    grad: Any
    tangent: Any = None


@dataclass(frozen=True)
class BackpropTable:
    """Rows in forward order; ``table["c"]`` finds a row by name; ``print`` shows it."""

    output: str
    rows: tuple[BackpropRow, ...]
    direction: str = ""
    """The tangents the table pushed (``w=1, b=0``), or "" for a table of adjoints only."""

    def __getitem__(self, name: str) -> BackpropRow:
        for row in self.rows:
            if row.name == name:
                return row
        raise KeyError(f"no node named {name!r}; nodes: {[r.name for r in self.rows]}")

    def __iter__(self):
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    def _table(self) -> tuple[list[str], list[list[str]]]:
        body = [[r.name, r.expression, format_number(r.value),
                 "(not differentiable)" if r.grad is None else format_number(r.grad)] for r in self.rows]
        header = ["node", "computes", "value", f"d{self.output}/dnode"]
        if self.direction:
            for line, r in zip(body, self.rows):
                line.insert(3, "0" if r.tangent is None else format_number(r.tangent))
            header.insert(3, f"tangent ({self.direction})")
        return header, body

    def __str__(self) -> str:
        return format_table(*self._table())

    def _repr_html_(self) -> str:
        """The table as HTML, for Jupyter."""
        return html_table(*self._table(), caption="values left to right, gradients right to left")

    __repr__ = __str__


def backprop_table(fn: Callable | Graph, *, tangents: Mapping[str, Any] | None = None,
                   **values: Any) -> BackpropTable:
    """The worked backprop of ``fn`` at ``values``: one row per node in forward order
    (inputs and output included; constants appear inside the rows that use them). With ``tangents``
    (``{"w": 1.0}``: a direction for some inputs, the others still), each row also shows the node's
    tangent along it, pushed left to right by each op's JVP: forward mode beside reverse mode, and
    the tangent of the output equals the sum of dJ/dinput times the direction."""
    graph, arrays = trace_at(fn, values)
    pushed = _tangents(graph, arrays, tangents) if tangents is not None else {}
    joint = differentiate(graph, every_node=True, simplify=False)
    computed = evaluate(joint, arrays)
    out_name = graph.output_names[0]
    by_name = {name: computed[i] for name, i in zip(joint.output_names, joint.outputs)}
    forward = evaluate(graph, arrays)
    # Nodes made of constants alone (a broadcast 1.0) are part of the rows that use them.
    varies = [False] * len(graph.nodes)
    rows = []
    for node in graph.nodes:
        varies[node.id] = node.op == "input" or any(varies[i] for i in node.inputs)
        if not varies[node.id]:
            continue
        if node.dtype == TUPLE:  # a loop is one row per result: its loop_output nodes
            continue
        label = node.label()
        if node.id == graph.outputs[0]:
            grad: Any = 1.0
        elif node.dtype in FLOAT_DTYPES:
            grad = by_name.get(f"d{out_name}_d{label}")
        else:
            grad = None
        if OPS[node.op].kind == "part":  # a loop's result: the loop's first line, and which result
            loop = format_node(graph, graph.nodes[node.inputs[0]]).split("\n")[0]
            expression = loop.split(" = ", 1)[1].split(" : ")[0] + f"[{node.params['index']}]"
        else:
            expression = format_node(graph, node).split(" = ", 1)[1].split(" : ")[0]
        tangent = pushed.get(node.id)
        rows.append(BackpropRow(label, node.op, expression, _plain(forward[node.id]),
                                None if grad is None else _plain(grad), None if tangent is None else _plain(tangent)))
    direction = ", ".join(f"{k}={format_number(np.asarray(v).item() if np.ndim(v) == 0 else v)}"
                          for k, v in (tangents or {}).items())
    return BackpropTable(out_name, tuple(rows), direction)


def _tangents(graph: Graph, arrays: Mapping[str, Any], tangents: Mapping[str, Any]) -> dict[int, Any]:
    """Each node's tangent along ``tangents`` (by input name), for the nodes a tangent reaches."""
    unknown = [k for k in tangents if k not in graph.input_names]
    if unknown:
        raise InputError(f"backprop_table: tangents for {unknown}, which are not inputs; inputs are "
                         f"{list(graph.input_names)}")
    builder = GraphBuilder()
    mapping = replay(graph, builder)
    tangent_of: dict[int, Any] = {}
    for name, direction in tangents.items():
        node = graph.input_node(name)
        if node.dtype not in FLOAT_DTYPES:
            raise InputError(f"backprop_table: {name!r} is an {node.dtype} input and has no tangent")
        direction = np.asarray(direction, dtype=node.dtype)
        if direction.shape != node.shape:
            raise InputError(f"backprop_table: the tangent of {name!r} has shape {direction.shape}; {name!r} has "
                             f"shape {node.shape}")
        tangent_of[node.id] = constant(builder, direction)
    push_tangents(graph, builder, mapping, tangent_of)
    found = {i: t for i, t in tangent_of.items() if isinstance(t, Value)}
    ids = list(found)
    result = builder.finish(tuple(found[i].id for i in ids), tuple(f"t{k}" for k in range(len(ids))))
    computed = evaluate(result, arrays)
    return {i: computed[result.outputs[k]] for k, i in enumerate(ids)}


def _plain(value: Any) -> Any:
    return value.item() if getattr(value, "ndim", None) == 0 else value
