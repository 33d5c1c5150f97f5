"""Forward-mode differentiation: one left-to-right sweep adds the tangent nodes.

Each op's JVP rule is called with DSL values and builds ordinary nodes, so the
result is a single graph computing values and tangents side by side, fused,
CSE'd and compiled like a gradient. A loop's JVP is a loop carrying tangents
beside its carries (``ops/loops.py``); a tangent that is zero (None, or a
constant of zeros, as most entries of a basis direction are) is None all along
and costs nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gradgen.dsl.value import Value
from gradgen.errors import GraphError
from gradgen.ir.builder import GraphBuilder
from gradgen.ir.graph import FLOAT_DTYPES, TUPLE, ConstArray, Graph
from gradgen.ops.registry import OPS
from gradgen.passes.autodiff import resolve_wrt
from gradgen.passes.dce import eliminate_dead_code
from gradgen.passes.rebuild import replay
from gradgen.passes.simplify import filled, scalar_constant, simplify_rewriter


def push_tangents(graph: Graph, builder: GraphBuilder, mapping: Sequence[int], tangent_of: dict[int, Any]) -> None:
    """Extend ``tangent_of`` (node of ``graph`` -> its tangent, a value of ``builder``; a list for a loop)
    from the tangents of its inputs to every node they reach, with each op's JVP. ``mapping`` gives each
    node's value in ``builder`` (``graph`` replayed into it)."""
    for node in graph.nodes:
        op = OPS[node.op]
        if op.leaf or node.dtype not in FLOAT_DTYPES + (TUPLE,):
            continue  # integers and masks have no tangent (a float counter cast to an index stops here)
        pushed = [tangent_of.get(i) for i in node.inputs]
        if all(t is None for t in pushed):
            continue
        if op.jvp is None:
            raise GraphError(f"op {node.op!r} (node {node.label()}) has no forward-mode rule")
        tangent = op.jvp(pushed, Value(builder, mapping[node.id]), *[Value(builder, mapping[i]) for i in node.inputs],
                         **node.params)
        if tangent is not None and not _zero(builder, tangent):
            tangent_of[node.id] = tangent


def _zero(builder: GraphBuilder, tangent: Any) -> bool:
    """Whether ``tangent`` is a constant of zeros (as a one-hot direction's entries are): then it is no
    tangent at all, so the ops downstream neither compute nor multiply by it."""
    if not isinstance(tangent, Value):
        return False
    node = builder.nodes[tangent.id]
    if node.op == "const" and isinstance(node.params["value"], ConstArray):
        return not node.params["value"].array.any()
    return scalar_constant(builder, tangent.id) == 0.0


def tangent_name(name: str) -> str:
    """The name of the tangent of the input or output ``name`` (``x`` -> ``x_dot``)."""
    return f"{name}_dot"


def linearize(graph: Graph, wrt: str | Sequence[str] | None = None) -> Graph:
    """The joint graph of values and tangents: its inputs are ``graph``'s, then a tangent input for each
    ``wrt`` input (``x_dot``, of ``x``'s shape); its outputs are ``graph``'s, then the tangent of each
    (zeros for an output no tangent reaches, and for integer or boolean outputs none)."""
    names = resolve_wrt(graph, wrt)
    builder = GraphBuilder(simplify_rewriter)
    mapping = replay(graph, builder)
    tangent_of: dict[int, Any] = {}
    for name in names:
        node = graph.input_node(name)
        tangent_of[node.id] = Value(builder, builder.input(tangent_name(name), node.shape, node.dtype))
    push_tangents(graph, builder, mapping, tangent_of)
    outputs = [mapping[i] for i in graph.outputs]
    output_names = list(graph.output_names)
    for node_id, name in zip(graph.outputs, graph.output_names):
        node = graph.nodes[node_id]
        if node.dtype not in FLOAT_DTYPES:
            continue
        found = tangent_of.get(node_id)
        outputs.append(found.id if isinstance(found, Value) else filled(builder, 0.0, node.shape, node.dtype))
        output_names.append(tangent_name(name))
    return eliminate_dead_code(builder.finish(tuple(outputs), tuple(output_names)))
