"""backprop_steps: the chain rule node by node, right to left, as the seeds' lecture walks it.

For every node, from the output back to the inputs: dJ/d(node), then for each
of its inputs the local derivative d(node)/d(input) and the product that
adds to dJ/d(input). It also counts operations: one forward pass plus one
backward sweep (about n + p steps) against nudging each of the p inputs in
turn (about n * p), the lecture's point, for any graph.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from gradgen.dsl.value import Value
from gradgen.inspect.backprop import backprop_table
from gradgen.inspect.values import format_number, trace_at
from gradgen.ir.builder import GraphBuilder
from gradgen.ir.graph import FLOAT_DTYPES, Graph, Node
from gradgen.ops.registry import OPS, emit
from gradgen.passes.autodiff import differentiate, float_inputs
from gradgen.passes.unroll import unroll_loops
from gradgen.runtime.interpret import evaluate


@dataclass(frozen=True)
class ChainStep:
    """One edge of the backward sweep: ``dJ/d(input) += dJ/d(node) * d(node)/d(input)``."""

    node: str
    input: str
    grad_node: Any
    local: Any  # d(node)/d(input), for elementwise ops; None where it is a matrix (matmul, sums)
    contribution: Any


@dataclass(frozen=True)
class BackpropSteps:
    """The backward sweep edge by edge (right to left) and the operation counts."""

    output: str
    steps: tuple[ChainStep, ...]
    forward_ops: int
    joint_ops: int
    parameters: int

    def __str__(self) -> str:
        lines = [f"Backprop of {self.output}, right to left (chain rule: dJ/dinput += dJ/dnode * dnode/dinput):"]
        for s in self.steps:
            local = "(a matrix: J^T g)" if s.local is None else format_number(s.local)
            lines.append(f"  d{self.output}/d{s.input} += d{self.output}/d{s.node} * d{s.node}/d{s.input}"
                         f" = {format_number(s.grad_node)} * {local} = {format_number(s.contribution)}")
        lines.append(
            f"Operations: forward {self.forward_ops}; forward and backward together {self.joint_ops} "
            f"(about n + p); nudging each of the {self.parameters} inputs instead needs "
            f"{self.parameters + 1} forward passes, {self.forward_ops * (self.parameters + 1)} operations "
            "(about n * p).")
        return "\n".join(lines)

    __repr__ = __str__


def _edge(node: Node, values: list[Any], grad: Any) -> tuple[list[Any], list[Any]]:
    """Local derivatives (elementwise ops) and VJP contributions of ``node``'s inputs, by
    building the op's own JVP and VJP rules on a small graph and evaluating it."""
    builder = GraphBuilder()
    ins = [Value(builder, builder.add("input", (), (("name", f"i{k}"),), np.shape(v), str(np.asarray(v).dtype)))
           for k, v in enumerate(values)]
    g = Value(builder, builder.add("input", (), (("name", "g"),), np.shape(grad), str(np.asarray(grad).dtype)))
    out = Value(builder, emit(builder, node.op, [v.id for v in ins], **node.params))
    op = OPS[node.op]
    parts = op.vjp(g, out, *ins, **node.params)
    outputs, slots = [], []
    for part in parts:
        slots.append(len(outputs) if part is not None else None)
        if part is not None:
            outputs.append(part.id)
    locals_: list[Any] = [None] * len(ins)
    local_ids = []
    if op.elementwise and op.jvp is not None:
        for k, value in enumerate(ins):
            if value.node.dtype not in FLOAT_DTYPES:
                continue
            one = Value(builder, builder.add("const", (), (("value", 1.0),), (), value.node.dtype))
            tangent = [None] * len(ins)
            tangent[k] = one if not value.shape else Value(builder, emit(builder, "broadcast_to", [one.id],
                                                                         shape=value.shape))
            t = op.jvp(tangent, out, *ins, **node.params)
            if t is not None:
                local_ids.append((k, len(outputs)))
                outputs.append(t.id)
    graph = builder.finish(tuple(outputs), tuple(f"o{k}" for k in range(len(outputs))))
    inputs = {f"i{k}": v for k, v in enumerate(values)}
    inputs["g"] = grad
    computed = evaluate(graph, inputs)
    results = [computed[i] for i in graph.outputs]
    for k, at in local_ids:
        locals_[k] = results[at]
    contributions = [None if slot is None else results[slot] for slot in slots]
    return locals_, contributions


def _numbered(graph: Graph) -> Graph:
    """``graph`` with repeated names numbered (``c``, ``c_2``, ...): the steps of a loop written out share
    their names, and the steps are told apart by name."""
    seen: set[str] = set()
    nodes = []
    for node in graph.nodes:
        name, k = node.name, 2
        while name is not None and name in seen:
            name, k = f"{node.name}_{k}", k + 1
        if name is not None:
            seen.add(name)
        nodes.append(node._replace(name=name))
    return Graph(tuple(nodes), graph.inputs, graph.outputs, graph.output_names)


def backprop_steps(fn: Callable | Graph, **values: Any) -> BackpropSteps:
    """The chain rule of ``fn`` at ``values``, edge by edge from the output back to the inputs
    (loops written out step by step, so each step's edges appear)."""
    graph, arrays = trace_at(fn, values)
    graph = _numbered(unroll_loops(graph))
    table = {row.name: row for row in backprop_table(graph, **values)}
    forward_values = evaluate(graph, arrays)
    steps = []
    for node in reversed(graph.nodes):
        if OPS[node.op].leaf or node.dtype not in FLOAT_DTYPES:
            continue
        row = table.get(node.label())
        if row is None or row.grad is None:
            continue
        locals_, contributions = _edge(node, [forward_values[i] for i in node.inputs], np.asarray(row.grad))
        for i, local, part in zip(node.inputs, locals_, contributions):
            source = graph.nodes[i]
            if part is None or source.op == "const" or source.dtype not in FLOAT_DTYPES:
                continue
            steps.append(ChainStep(node.label(), source.label(), row.grad, local, part))
    forward_ops = sum(1 for n in graph.nodes if not OPS[n.op].leaf)
    joint = differentiate(graph)
    joint_ops = sum(1 for n in joint.nodes if not OPS[n.op].leaf)
    return BackpropSteps(graph.output_names[0], tuple(steps), forward_ops, joint_ops, len(float_inputs(graph)))
