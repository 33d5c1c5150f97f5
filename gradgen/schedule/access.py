"""Views as index maps: how an element of one node is found in the node that holds it.

Views (ops of kind "view": broadcast_to, reshape, transpose, slice and
stop_gradient) compute nothing: their op's ``index_map`` maps their own
element index to an element of their input, which the schedule composes
down to the node that holds the value (a buffer in memory, or a value
computed in the same loop). A view is copied only when
its map cannot be composed further: a general reshape (one that does more
than add or drop axes of length 1) of a non-contiguous view.

Indices are full: one ``Index`` per axis of the node read, in terms of loop
variables. An axis of length 1 always has index 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from gradgen.ir.graph import Graph, Node, Shape
from gradgen.ops.registry import OPS
from gradgen.schedule.program import Index, Var


@lru_cache(maxsize=4096)
def canonical(shape: Shape) -> Shape:
    """``shape`` without its axes of length 1: the extents a loop nest over it runs."""
    return tuple(n for n in shape if n != 1)


@lru_cache(maxsize=4096)
def strides(shape: Shape) -> tuple[int, ...]:
    """C-order strides of ``shape``, in elements."""
    out, step = [], 1
    for n in reversed(shape):
        out.append(step)
        step *= n
    return tuple(reversed(out))


@lru_cache(maxsize=64)
def element_vars(depth: int) -> tuple[Var, ...]:
    """The loop variables of a nest ``depth`` deep (one per depth, shared by all nests)."""
    return tuple(Var(d, "i", d) for d in range(depth))


def identity_index(shape: Shape, variables: Sequence[Var] | None = None) -> tuple[Index, ...]:
    """The full index of an element of ``shape`` in a loop nest over its canonical shape."""
    if variables is None:
        return _identity_index(shape)
    return _index_over(shape, tuple(variables))


@lru_cache(maxsize=4096)
def _identity_index(shape: Shape) -> tuple[Index, ...]:
    return _index_over(shape, element_vars(len(canonical(shape))))


def _index_over(shape: Shape, variables: tuple[Var, ...]) -> tuple[Index, ...]:
    out, k = [], 0
    for n in shape:
        if n == 1:
            out.append(Index())
        else:
            out.append(Index.of(variables[k]))
            k += 1
    return tuple(out)


def flat(shape: Shape, index: Sequence[Index]) -> Index:
    """The flat (C-order) offset of a full index into an array of ``shape``."""
    total = Index()
    for i, s in zip(index, strides(shape)):
        total = total + i * s
    return total


def is_prefix(shape: Shape, index: Sequence[Index], variables: Sequence[Var]) -> bool:
    """Whether ``index`` (full, into ``shape``) is the element a loop nest with ``variables`` is at:
    the k-th axis longer than 1 indexed by exactly the k-th variable."""
    k = 0
    for n, i in zip(shape, index):
        if n == 1:
            continue
        if k >= len(variables) or i != Index.of(variables[k]):
            return False
        k += 1
    return True


@dataclass(frozen=True)
class Access:
    """Where an element is: node ``base`` at ``index`` (full, or one flat offset when ``flat``)."""

    base: int
    index: tuple[Index, ...]
    flat: bool = False

    def offset(self, graph: Graph) -> Index:
        """The flat offset into ``base``'s memory."""
        return self.index[0] if self.flat else flat(graph.nodes[self.base].shape, self.index)


def through(node: Node, source: Node, index: Sequence[Index]) -> tuple[Index, ...] | None:
    """The full index into ``source`` of element ``index`` of the view ``node``, by its op's ``index_map``;
    None when the view is no map of axes (a general reshape)."""
    axes = OPS[node.op].index_map(node, source)
    if axes is None:
        return None
    return tuple(Index() if a is None else index[a[0]] * a[1] + a[2] for a in axes)


def is_view(node: Node) -> bool:
    return OPS[node.op].view


def copied_views(graph: Graph) -> set[int]:
    """Views that must be copied into memory for a general reshape of them to be read: the
    non-contiguous view (broadcast, transpose, slice) directly under such a reshape chain."""
    out: set[int] = set()
    for node in graph.nodes:
        if not is_view(node) or OPS[node.op].index_map(node, graph.nodes[node.inputs[0]]) is not None:
            continue
        source = graph.nodes[node.inputs[0]]
        while is_view(source) and OPS[source.op].keeps_offsets:
            source = graph.nodes[source.inputs[0]]
        if is_view(source):
            out.add(source.id)
    return out


def resolve(graph: Graph, node_id: int, index: Sequence[Index], held: set[int] | frozenset = frozenset(),
            memo: dict[int, Access] | None = None) -> Access:
    """Follow views from ``node_id`` (read at full ``index``) down to the node that holds the element;
    views in ``held`` hold their own copy and end the walk. Reads of scalars (an empty index, the most
    common read of large graphs) are remembered in ``memo`` when one is given."""
    if memo is not None and not index:
        found = memo.get(node_id)
        if found is None:
            found = memo[node_id] = resolve(graph, node_id, (), held)
        return found
    index = tuple(index)
    flat_mode = False
    node = graph.nodes[node_id]
    while is_view(node) and node.id not in held:
        source = graph.nodes[node.inputs[0]]
        if not flat_mode:
            mapped = through(node, source, index)
            if mapped is None:
                index, flat_mode = (flat(node.shape, index),), True
            else:
                index = mapped
        elif not OPS[node.op].keeps_offsets:  # copied_views() keeps this from happening
            raise AssertionError(f"a general reshape reads the view {node.label()} that is not copied")
        node = source
    return Access(node.id, index, flat_mode)


def blas_layout(graph: Graph, node_id: int, held: set[int] | frozenset = frozenset()
                ) -> tuple[int, int, int, int] | None:
    """(base, offset, row stride, column stride) of a 2-D operand as the BLAS can read it (rows or columns
    contiguous, the leading dimension at least as long as they are), or None."""
    shape = graph.nodes[node_id].shape
    rows, cols = Var(0, "i", 0), Var(1, "i", 1)
    access = resolve(graph, node_id, (Index.of(rows), Index.of(cols)), held)
    offset = access.offset(graph)
    if {s for s, _ in offset.terms} - {rows, cols}:
        return None
    r, c = offset.coefficient(rows), offset.coefficient(cols)
    if not ((c == 1 and r >= shape[1]) or (r == 1 and c >= shape[0])):
        return None
    return access.base, offset.offset, r, c
