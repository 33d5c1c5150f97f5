"""How each node is computed: in a loop nest (and over which space), as one statement, or by a loop of its own.

Every node that computes something gets a ``Plan``:

- a **nest** node is computed element by element inside loops over its
  *space*: an elementwise op over its shape, a reduction over its input's
  shape (accumulating), a matrix product over its rows, columns and inner
  dimension in the order that follows its operands' memory. Its value lives
  at some depth of the nest (an element at full depth, a row sum one level
  up, a total at depth 0) or, for reductions over leading axes (column sums),
  in an accumulator array complete only after the whole nest;
- a **statement** runs once, outside any loop: scalar arithmetic, and the
  structural ops (scatters, gathers, concatenation, big matrix products by
  the BLAS), which are lowered to loops of their own by ``structural``.

Axes of length 1 never make loops, so a (32, 1) row statistic lives at depth
1 of the nest over (32, 3).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gradgen.ir.graph import Graph, Node, Shape
from gradgen.ops.registry import OPS
from gradgen.schedule.access import (
    Access,
    blas_layout,
    canonical,
    copied_views,
    element_vars,
    identity_index,
    is_prefix,
    resolve,
)
from gradgen.schedule.program import Index

#: Products with at least this many multiply-adds go to the BLAS when there is one.
BLAS_MIN_WORK = 32768


@dataclass(frozen=True)
class Read:
    """One operand of a node's element: ``access`` says where it is."""

    operand: int
    access: Access


@dataclass
class Plan:
    """How one node is computed.

    ``where`` is "nest" or "statement". For nests: ``space`` (loop extents by depth), ``value_depth``
    (the depth at which the value is complete; None for an accumulator array complete after the nest),
    ``how`` ("sum" or "max" for reductions), ``product`` (the element is reads[0] * reads[1] before
    accumulating), and for accumulator arrays ``result_index``: the full index of the element updated.
    A scatter (``unslice``, ``unslice_sum`` of parts of one shape) adds each of its reads into its
    accumulator array at its own index: ``scatter`` holds those indices, one per read.
    """

    node: int
    where: str
    reads: list[Read]
    space: Shape = ()
    value_depth: int | None = None
    how: str | None = None
    product: bool = False
    result_index: tuple[Index, ...] = ()
    scatter: tuple[tuple[Index, ...], ...] = ()
    gemm: bool = False
    copies: bool = False
    consumers: list[int] = field(default_factory=list)
    update_depth: int = field(init=False)
    """How many loops the node's element is computed inside (the length of its space)."""

    def __post_init__(self) -> None:
        self.update_depth = len(self.space)


def _layout(graph: Graph, access: Access, dims: list[Index]) -> list[int]:
    """The memory strides an operand's axes have where its element is held (for loop order)."""
    offset = access.offset(graph)
    return [abs(sum(offset.coefficient(s) * k for s, k in d.terms)) for d in dims]


def _product_plan(graph: Graph, node: Node, held: set[int], blas: bool) -> Plan:
    """A matrix product as a nest over its row, inner and column axes, ordered so that its operands
    are read in memory order; a big product of two matrices is one BLAS statement instead."""
    a, b = (graph.nodes[i] for i in node.inputs)
    m = a.shape[0] if len(a.shape) == 2 else 1
    k = a.shape[-1]
    n = b.shape[1] if len(b.shape) == 2 else 1
    if (blas and len(a.shape) == len(b.shape) == 2 and m > 1 and n > 1 and k > 1 and m * n * k >= BLAS_MIN_WORK
            and all(blas_layout(graph, i, held) is not None for i in node.inputs)):
        return Plan(node.id, "statement", [Read(i, resolve(graph, i, identity_index(graph.nodes[i].shape), held))
                                           for i in node.inputs], gemm=True)
    extents = {"m": m, "k": k, "n": n}
    # Probe each operand's layout with one variable per axis.
    probe = {name: Index.of(v) for name, v in zip("mkn", element_vars(3))}
    a_dims = ["m", "k"] if len(a.shape) == 2 else ["k"]
    b_dims = ["k", "n"] if len(b.shape) == 2 else ["k"]

    def probed(dims: list[str], shape: Shape) -> list[Index]:
        return [probe[d] if size != 1 else Index() for d, size in zip(dims, shape)]

    a_strides = dict(zip(a_dims, _layout(graph, resolve(graph, a.id, probed(a_dims, a.shape), held),
                                         probed(a_dims, a.shape))))
    b_strides = dict(zip(b_dims, _layout(graph, resolve(graph, b.id, probed(b_dims, b.shape), held),
                                         probed(b_dims, b.shape))))
    a_rows_first = a_strides.get("k", 0) <= a_strides.get("m", 0) or m == 1
    b_rows_first = b_strides.get("n", 0) <= b_strides.get("k", 0) or n == 1
    if a_rows_first and b_rows_first:
        order = ["m", "k", "n"]
    elif b_rows_first:
        order = ["k", "m", "n"]
    else:
        order = ["m", "n", "k"]  # dot products of rows of a and columns of b
    order = [d for d in order if extents[d] != 1]
    variables = dict(zip(order, element_vars(len(order))))

    def index(dims: list[str], shape: Shape) -> list[Index]:
        return [Index.of(variables[d]) if d in variables and size != 1 else Index() for d, size in zip(dims, shape)]

    reads = [Read(a.id, resolve(graph, a.id, index(a_dims, a.shape), held)),
             Read(b.id, resolve(graph, b.id, index(b_dims, b.shape), held))]
    space = tuple(extents[d] for d in order)
    out_dims = (["m"] if len(a.shape) == 2 else []) + (["n"] if len(b.shape) == 2 else [])
    result = tuple(index(out_dims, node.shape))
    if "k" not in variables:  # an outer product: no sum
        return Plan(node.id, "nest", reads, space, value_depth=len(space), product=True)
    trailing = order[-1] == "k"
    return Plan(node.id, "nest", reads, space, value_depth=len(space) - 1 if trailing else None, how="sum",
                product=True, result_index=() if trailing else result)


def _reduction_plan(graph: Graph, node: Node, held: set[int]) -> Plan:
    x = graph.nodes[node.inputs[0]]
    reads = [Read(x.id, resolve(graph, x.id, identity_index(x.shape), held))]
    space = canonical(x.shape)
    how = "sum" if node.op == "sum" else "max"
    if not space:
        return Plan(node.id, "statement", reads, value_depth=0, how=how)
    axes = node.params["axes"]
    long_axes = [d for d, extent in enumerate(x.shape) if extent != 1]
    kept = [d not in axes for d in long_axes]
    depth = kept.index(False) if False in kept else len(kept)
    if all(not k for k in kept[depth:]):  # reduced axes trail: the value lives at that depth
        return Plan(node.id, "nest", reads, space, value_depth=depth, how=how)
    variables = element_vars(len(space))
    by_axis = {d: Index.of(v) for d, v in zip(long_axes, variables)}
    full = [by_axis.get(d, Index()) for d in range(len(x.shape))]
    result = tuple(f for d, f in enumerate(full) if node.params["keepdims"] or d not in axes)
    if node.params["keepdims"]:
        result = tuple(Index() if d in axes else f for d, f in enumerate(full))
    return Plan(node.id, "nest", reads, space, value_depth=None, how=how, result_index=result)


def _scatter_plan(graph: Graph, node: Node, held: set[int]) -> Plan | None:
    """Parts of one shape added into slices of zeros (the gradient of ``x[1:]`` and ``x[:-1]``): a nest
    over that shape, each part added where its slice puts it, in the loop that computes the parts."""
    parts = [graph.nodes[i] for i in node.inputs]
    shape = parts[0].shape
    if not canonical(shape) or any(p.shape != shape for p in parts):
        return None
    all_slices = node.params["slices"] if OPS[node.op].accumulates else (node.params["slices"],)
    index = identity_index(shape)
    targets = tuple(tuple(i * step + start for i, (start, _, step) in zip(index, slices)) for slices in all_slices)
    reads = [Read(p.id, resolve(graph, p.id, index, held)) for p in parts]
    return Plan(node.id, "nest", reads, canonical(shape), value_depth=None, how="sum", scatter=targets)


def plan_nodes(graph: Graph, *, blas: bool) -> dict[int, Plan]:
    """A Plan for every node that computes something (not inputs, constants or views, unless a view
    must be copied)."""
    held = copied_views(graph)
    memo: dict[int, Access] = {}
    plans: dict[int, Plan] = {}
    for node in graph.nodes:
        op = OPS[node.op]
        if op.kind == "leaf" or (op.view and node.id not in held):
            continue
        if op.view:  # copied: an element is the element its map points to
            read = resolve(graph, node.id, identity_index(node.shape), held - {node.id})
            plan = Plan(node.id, "nest", [Read(node.inputs[0], read)], canonical(node.shape),
                        value_depth=len(canonical(node.shape)), copies=True)
        elif op.kind == "elementwise":
            index = identity_index(node.shape)
            plan = Plan(node.id, "nest", [Read(i, resolve(graph, i, index, held, memo)) for i in node.inputs],
                        canonical(node.shape), value_depth=len(canonical(node.shape)))
        elif op.kind == "reduction":
            plan = _reduction_plan(graph, node, held)
        elif op.kind == "product":
            plan = _product_plan(graph, node, held, blas)
        elif op.lowering == "unslice" and (scatter := _scatter_plan(graph, node, held)) is not None:
            plan = scatter
        else:  # structural: a loop of its own, reading its inputs whole
            plan = Plan(node.id, "statement", [Read(i, resolve(graph, i, identity_index(graph.nodes[i].shape), held,
                                                                memo)) for i in node.inputs])
        if plan.where == "nest" and not plan.space:
            plan.where = "statement"
        plans[node.id] = plan
    for plan in plans.values():
        for read in plan.reads:
            if read.access.base in plans:
                plans[read.access.base].consumers.append(plan.node)
    return plans


def fusable(graph: Graph, plans: dict[int, Plan], reader: Plan, read: Read) -> bool:
    """Whether ``reader`` finds ``read``'s element as a value of its own loops: the base is computed in a
    nest whose value lives in loops ``reader`` shares, at exactly the element ``reader`` is at."""
    base = plans.get(read.access.base)
    if base is None or base.where != "nest" or base.value_depth is None or read.access.flat:
        return False
    depth = base.value_depth
    shape = graph.nodes[base.node].shape
    if canonical(shape) != reader.space[:depth] or depth > reader.update_depth:
        return False
    return is_prefix(shape, read.access.index, element_vars(depth))
