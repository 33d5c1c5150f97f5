"""Invariants every graph must satisfy; tests run this after every pass."""

from __future__ import annotations

from gradgen.errors import GraphError
from gradgen.ir.graph import DTYPES, TUPLE, Graph


def check_graph(graph: Graph) -> Graph:
    """Raise GraphError if ``graph`` breaks an IR invariant; return it otherwise.

    Checked: ids equal positions, inputs refer to earlier nodes (so the order
    is topological), every op is registered and its shape rule reproduces the
    stored shape and dtype, input names are unique, outputs exist; the bodies
    of loops are graphs that pass the same checks, and only loop nodes have
    the dtype of a tuple.
    """
    from gradgen.ops.registry import OPS, infer

    names: set[str] = set()
    for index, node in enumerate(graph.nodes):
        where = f"node {index} ({node.op})"
        if node.id != index:
            raise GraphError(f"{where}: id {node.id} does not match its position")
        if node.op not in OPS:
            raise GraphError(f"{where}: unknown op {node.op!r}")
        if node.dtype not in DTYPES and not (node.dtype == TUPLE and OPS[node.op].kind == "loop"):
            raise GraphError(f"{where}: unknown dtype {node.dtype!r}")
        for key, value in node.attrs:
            if isinstance(value, Graph):  # a loop's body
                try:
                    check_graph(value)
                except GraphError as error:
                    raise GraphError(f"{where}, in its {key}: {error}") from None
        if OPS[node.op].kind == "part" and graph.nodes[node.inputs[0]].dtype != TUPLE:
            raise GraphError(f"{where}: reads {graph.nodes[node.inputs[0]].label()}, which is not a loop")
        for i in node.inputs:
            if not 0 <= i < index:
                raise GraphError(f"{where}: input {i} is not an earlier node")
        if node.op == "input":
            name = node.params["name"]
            if name in names:
                raise GraphError(f"{where}: duplicate input name {name!r}")
            names.add(name)
            continue
        if node.op == "const":
            value = OPS["const"].evaluate(**node.params)
            if value.shape != node.shape:
                raise GraphError(f"{where}: constant of shape {value.shape} stored as {node.shape}")
            continue
        shape, dtype = infer(node.op, [graph.nodes[i] for i in node.inputs], node.params)
        if (shape, dtype) != (node.shape, node.dtype):
            raise GraphError(f"{where}: stored type {node.shape} {node.dtype} but the shape rule "
                             f"gives {shape} {dtype}")
    if tuple(i for i, n in enumerate(graph.nodes) if n.op == "input") != graph.inputs:
        raise GraphError("graph.inputs does not list the input nodes in order")
    if len(graph.outputs) != len(graph.output_names):
        raise GraphError("outputs and output_names differ in length")
    for i in graph.outputs:
        if not 0 <= i < len(graph.nodes):
            raise GraphError(f"output {i} is not a node")
    return graph
