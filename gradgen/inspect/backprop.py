"""backprop_table: every node's value (left to right) and dJ/dnode (right to left)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from gradgen.inspect.values import format_number, format_table, trace_at
from gradgen.ir.graph import FLOAT_DTYPES, TUPLE, Graph
from gradgen.ir.printer import format_node
from gradgen.ops.registry import OPS
from gradgen.passes.autodiff import differentiate
from gradgen.runtime.interpret import evaluate


@dataclass(frozen=True)
class BackpropRow:
    """One node: its name, op, forward value and dJ/d(node) (None where there is none)."""

    name: str
    op: str
    expression: str
    value: Any
    grad: Any


@dataclass(frozen=True)
class BackpropTable:
    """Rows in forward order; ``table["c"]`` finds a row by name; ``print`` shows it."""

    output: str
    rows: tuple[BackpropRow, ...]

    def __getitem__(self, name: str) -> BackpropRow:
        for row in self.rows:
            if row.name == name:
                return row
        raise KeyError(f"no node named {name!r}; nodes: {[r.name for r in self.rows]}")

    def __iter__(self):
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    def __str__(self) -> str:
        body = [[r.name, r.expression, format_number(r.value),
                 "(not differentiable)" if r.grad is None else format_number(r.grad)] for r in self.rows]
        return format_table(["node", "computes", "value", f"d{self.output}/dnode"], body)

    __repr__ = __str__


def backprop_table(fn: Callable | Graph, **values: Any) -> BackpropTable:
    """The worked backprop of ``fn`` at ``values``: one row per node in forward order
    (inputs and output included; constants appear inside the rows that use them)."""
    graph, arrays = trace_at(fn, values)
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
        rows.append(BackpropRow(label, node.op, expression, _plain(forward[node.id]),
                                None if grad is None else _plain(grad)))
    return BackpropTable(out_name, tuple(rows))


def _plain(value: Any) -> Any:
    return value.item() if getattr(value, "ndim", None) == 0 else value
