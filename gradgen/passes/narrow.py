"""Narrowing: a slice that is the only reader of a matrix product slices the product's operands instead,
so only the entries kept are computed (``(A @ B)[rows, cols]`` is ``A[rows] @ B[:, cols]``, entry for
entry the same sums); through elementwise ops in between that only the slice reads, too. The
symmetric Hessian asks for this: the column along direction ``k`` is needed from entry ``k`` down only.
"""

from __future__ import annotations

from gradgen.ir.builder import GraphBuilder
from gradgen.ir.graph import Graph, Node
from gradgen.ops.registry import OPS, emit
from gradgen.passes.rebuild import replay


def _readers(graph: Graph) -> list[int]:
    """How many nodes (and outputs) read each node."""
    count = [0] * len(graph.nodes)
    for node in graph.nodes:
        for i in node.inputs:
            count[i] += 1
    for i in graph.outputs:
        count[i] += 1
    return count


def _full(n: int) -> tuple[int, int, int]:
    return (0, n, 1)


def narrow_products(graph: Graph) -> Graph:
    """``graph`` with each product read only by a slice (directly, or through elementwise ops read only
    by it) computed sliced; the wide nodes are left unread, for dead-code elimination to drop."""
    readers = _readers(graph)

    def narrowed(builder: GraphBuilder, mapping: list[int], old: int, slices: tuple) -> int:
        """Node ``old`` of ``graph``, sliced by ``slices``, in ``builder``."""
        node = graph.nodes[old]
        if readers[old] == 1 and node.op == "matmul" and node.shape:
            return _sliced_product(builder, graph, mapping, node, slices)
        if readers[old] == 1 and OPS[node.op].elementwise and all(
                graph.nodes[i].shape in (node.shape, ()) for i in node.inputs):
            inputs = [narrowed(builder, mapping, i, slices) if graph.nodes[i].shape == node.shape else mapping[i]
                      for i in node.inputs]
            return emit(builder, node.op, inputs, **node.params)
        return emit(builder, "slice", [mapping[old]], slices=slices)

    def expand(builder: GraphBuilder, node: Node, mapping: list[int]) -> int | None:
        if node.op != "slice" or readers[node.inputs[0]] != 1:
            return None
        return narrowed(builder, mapping, node.inputs[0], node.params["slices"])

    builder = GraphBuilder()
    mapping = replay(graph, builder, expand)
    return builder.finish(tuple(mapping[i] for i in graph.outputs), graph.output_names)


def _sliced_product(builder: GraphBuilder, graph: Graph, mapping: list[int], product: Node, slices: tuple) -> int:
    """``product[slices]`` as the product of its sliced operands."""
    a, b = (graph.nodes[i] for i in product.inputs)
    if len(a.shape) == 2 and len(b.shape) == 1:
        a_slices, b_slices = (slices[0], _full(a.shape[1])), None
    elif len(a.shape) == 2 and len(b.shape) == 2:
        a_slices, b_slices = (slices[0], _full(a.shape[1])), (_full(b.shape[0]), slices[1])
    else:  # a vector times a matrix (a product of two vectors is a scalar, not narrowed)
        a_slices, b_slices = None, (_full(b.shape[0]), slices[0])
    left, right = mapping[product.inputs[0]], mapping[product.inputs[1]]
    if a_slices is not None and a_slices != tuple(_full(n) for n in a.shape):
        left = emit(builder, "slice", [left], slices=a_slices)
    if b_slices is not None and b_slices != tuple(_full(n) for n in b.shape):
        right = emit(builder, "slice", [right], slices=b_slices)
    return emit(builder, "matmul", [left, right])
