"""Reverse-mode differentiation: one right-to-left sweep adds the adjoint nodes.

The result is a single graph computing the value and the gradients, so
forward and backward share nodes (CSE) and are emitted as one kernel. Each
op's VJP is called with DSL values and builds ordinary nodes.

Zero cotangents from ``where``: the branch not taken gets exactly 0, but the
forward values on that branch may be inf or NaN (``where(x > 0, log(x), 0)``),
and 0 * inf is NaN. So once a cotangent descends from a ``where`` branch,
each contribution that reads forward values is guarded by
``where(g == 0, 0, contribution)``: a zero cotangent stays zero.
"""

from __future__ import annotations

from collections.abc import Sequence

from gradgen.dsl.value import Value
from gradgen.errors import GraphError, InputError
from gradgen.ir.builder import GraphBuilder
from gradgen.ir.graph import FLOAT_DTYPES, TUPLE, Graph, Node
from gradgen.ops import functions as F
from gradgen.ops.loops import saving_attrs
from gradgen.ops.registry import OPS, emit
from gradgen.ops.shape import add_n
from gradgen.passes.rebuild import replay
from gradgen.passes.simplify import filled, simplify_rewriter


def _describe(node: Node) -> str:
    """A node as notes name it: its name, else its op (``(exp)``)."""
    return node.name if node.name else f"({node.op})"


def float_inputs(graph: Graph) -> list[str]:
    """Names of the inputs that can be differentiated (float dtypes)."""
    return [graph.nodes[i].params["name"] for i in graph.inputs if graph.nodes[i].dtype in FLOAT_DTYPES]


def resolve_wrt(graph: Graph, wrt: str | Sequence[str] | None) -> list[str]:
    """Validate ``wrt`` against the graph's inputs; default: every float input."""
    if wrt is None:
        return float_inputs(graph)
    names = [wrt] if isinstance(wrt, str) else list(wrt)
    inputs = graph.input_names
    for n in names:
        if n not in inputs:
            raise InputError(f"wrt: {n!r} is not an input; inputs are {list(inputs)}")
        if graph.input_node(n).dtype not in FLOAT_DTYPES:
            raise InputError(f"wrt: {n!r} is an {graph.input_node(n).dtype} input and cannot be differentiated")
    if len(set(names)) != len(names):
        raise InputError(f"wrt: repeated names in {names}")
    return names


def differentiate(graph: Graph, wrt: str | Sequence[str] | None = None, *, every_node: bool = False,
                  simplify: bool = True, guarded: bool = False, aux: int = 0) -> Graph:
    """The joint graph whose outputs are the value and dJ/d(input) for each ``wrt`` input.

    With ``every_node``, it also outputs dJ/d(node) for every float node the
    output depends on (named ``dJ_d<name>``), for backprop tables. ``guarded``:
    the output's own cotangent may be an exact zero that must stay one (the
    body of a loop's reverse sweep), so every contribution is guarded. ``aux``:
    the number of outputs after the first that are not differentiated (``has_aux``),
    output again after the gradients.
    """
    if len(graph.outputs) != 1 + aux:
        raise GraphError(f"gradients need one scalar output; the function returns {len(graph.outputs)} values"
                         + (" (return (loss, aux) and pass has_aux=True to keep the others)" if not aux else ""))
    out_id = graph.outputs[0]
    out_node = graph.nodes[out_id]
    if out_node.shape != () or out_node.dtype not in FLOAT_DTYPES:
        raise GraphError(f"gradients need a scalar float output; {graph.output_names[0]!r} has shape "
                         f"{out_node.shape} and dtype {out_node.dtype} (reduce it, e.g. with gg.sum or gg.mean)")
    wrt_names = resolve_wrt(graph, wrt)
    out_name = graph.output_names[0]

    # Only nodes that depend on a differentiated input need a cotangent.
    sources = set(graph.inputs) if every_node else {graph.input_node(n).id for n in wrt_names}
    needed = [False] * len(graph.nodes)
    for node in graph.nodes:
        needed[node.id] = node.dtype in FLOAT_DTYPES + (TUPLE,) and (
            node.id in sources or any(needed[i] for i in node.inputs))

    def save_carries(builder: GraphBuilder, node: Node, mapping: list[int]) -> int | None:
        """A loop to differentiate through also stacks what its reverse sweep reads."""
        if OPS[node.op].kind != "loop" or not needed[node.id]:
            return None
        return emit(builder, node.op, [mapping[i] for i in node.inputs], **saving_attrs(node))

    builder = GraphBuilder(simplify_rewriter if simplify else None)
    new_id = replay(graph, builder, save_carries)
    first_backward = len(builder.nodes)  # notes go on backward nodes only

    def note(node_id: int, text: str) -> None:
        if node_id >= first_backward:
            builder.set_note(node_id, text)

    def value(old: int) -> Value:
        return Value(builder, new_id[old])

    contributions: dict[int, list[Value]] = {out_id: [Value(builder, filled(builder, 1.0, (), out_node.dtype))]}
    guarded_ids: set[int] = {out_id} if guarded else set()
    grads: dict[int, Value] = {}
    for node in reversed(graph.nodes):
        parts = contributions.pop(node.id, None)
        if not parts:
            continue
        op = OPS[node.op]
        label = _describe(node)
        if op.kind == "loop":  # one cotangent (or None) per result of the loop, from its loop_output nodes
            by_result: dict[int, list[Value]] = {}
            for part in parts:
                by_result.setdefault(part.index, []).append(part.value)
            g = [add_n(by_result[k]) if k in by_result else None for k in range(len(node.params["body"].outputs))]
        else:
            g = add_n(parts)
            if node.name and g.id >= first_backward:
                builder.set_name(g.id, f"d{out_name}_d{node.name}")
            note(g.id, f"d{out_name}/d{label}")
            grads[node.id] = g
        if op.leaf or not any(needed[i] for i in node.inputs):
            continue
        if op.vjp is None:
            raise GraphError(f"op {node.op!r} (node {label}) has no gradient rule")
        extra = {"wanted": tuple(needed[i] for i in node.inputs), "guarded": node.id in guarded_ids} \
            if op.kind == "loop" else {}
        results = op.vjp(g, value(node.id), *[value(i) for i in node.inputs], **node.params, **extra)
        guard = node.id in guarded_ids and op.reads_forward and op.elementwise
        for i, part in zip(node.inputs, results):
            if part is None or not needed[i]:
                continue
            if guard:
                part = F.where(g == 0.0, 0.0, part)
            if isinstance(part, Value):
                note(part.id, f"d{out_name}/d{_describe(graph.nodes[i])} through {label}")
            contributions.setdefault(i, []).append(part)
            if op.selects or node.id in guarded_ids:
                guarded_ids.add(i)

    outputs = [new_id[out_id]]
    names = [out_name]
    for n in wrt_names:
        node = graph.input_node(n)
        grad = grads.get(node.id)
        outputs.append(grad.id if grad is not None else filled(builder, 0.0, node.shape, node.dtype))
        names.append(f"d{out_name}_d{n}")
    for node_id, name in zip(graph.outputs[1:], graph.output_names[1:]):
        outputs.append(new_id[node_id])
        names.append(name)
    if every_node:
        for node_id, grad in grads.items():
            if graph.nodes[node_id].op != "input" and node_id != out_id:
                outputs.append(grad.id)
                names.append(f"d{out_name}_d{graph.nodes[node_id].label()}")
    return builder.finish(tuple(outputs), tuple(names))
