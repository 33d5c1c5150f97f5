"""Text form of a graph: one line per node, in topological order."""

from __future__ import annotations

from gradgen.ir.graph import TUPLE, Graph, Node


def _format_attr(value: object) -> str:
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _operand(node: Node) -> str:
    """How a node appears as an operand: scalar constants by value, others by label."""
    if node.op == "const" and node.shape == ():
        return _format_attr(node.params["value"])
    return node.label()


def _inline(graph: Graph, node: Node) -> str:
    """Operands as printed: constants (and broadcast constants) by value."""
    if node.op == "broadcast_to" and graph.nodes[node.inputs[0]].op == "const" and not node.name:
        return _operand(graph.nodes[node.inputs[0]])
    return _operand(node)


def format_node(graph: Graph, node: Node) -> str:
    """``name = op(in1, in2; attr=value) : shape dtype``; a loop's body follows, indented."""
    args = [_inline(graph, graph.nodes[i]) for i in node.inputs]
    args += [f"{k}={_format_attr(v)}" for k, v in node.attrs
             if not (node.op == "input" and k == "name") and not isinstance(v, Graph)]
    shape = "scalar" if node.shape == () else str(node.shape)
    line = f"{node.label()} = {node.op}({', '.join(args)}) : {shape} {node.dtype}"
    if node.dtype == TUPLE:
        line += " of " + ", ".join(node.params["body"].output_names)
    for key, value in node.attrs:
        if isinstance(value, Graph):
            header = f"    {key}({', '.join(value.input_names)}):"
            line += "\n" + header + "".join("\n        " + text for text in format_graph(value).split("\n")
                                            if not text.endswith("= input() : " + text.split(" : ")[-1]))
    return line


def format_graph(graph: Graph) -> str:
    """The whole graph as text, ending with its outputs."""
    lines = [format_node(graph, node) for node in graph.nodes]
    outs = ", ".join(f"{name}={graph.nodes[i].label()}" for name, i in zip(graph.output_names, graph.outputs))
    lines.append(f"return {outs}")
    return "\n".join(lines)
