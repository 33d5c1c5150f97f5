"""Structural ops as loops of their own: scatters, gathers, concatenation, BLAS products.

Each reads its operands element by element through their index maps (so a
transposed or sliced operand is never copied first) and writes its result
into a buffer; gathers and scatters check every index they read, returning
the position of the argument that holds a bad one. ``take`` and
``scatter_add`` share one builder, as do their ``_along_axis`` forms.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from gradgen.ir.graph import Graph, Node, Shape
from gradgen.ops.registry import OPS, failure_code
from gradgen.schedule.access import blas_layout, canonical, flat, identity_index
from gradgen.schedule.program import (
    Accumulate,
    Atom,
    Fill,
    Gemm,
    Index,
    IndexValue,
    Literal,
    Load,
    Local,
    Loop,
    Matrix,
    Routine,
    Stmt,
    Store,
    Var,
)


class Reader(Protocol):
    """What structural lowering needs from the statement builder."""

    graph: Graph

    def read(self, node_id: int, index: tuple[Index, ...]) -> Atom: ...

    def buffer(self, node_id: int) -> int: ...

    def argument(self, node_id: int) -> int: ...

    def held(self) -> set[int]: ...

    def scratch(self, node_id: int, role: str, size: int, dtype: str) -> int: ...


def loop_nest(shape: Shape, innermost: Callable[[tuple[Index, ...]], list[Stmt]],
              prologue: dict[int, Callable[[tuple[Index, ...]], list[Stmt]]] | None = None,
              node: int | None = None, note: str = "") -> list[Stmt]:
    """Loops over ``shape``'s axes longer than 1, ``innermost`` statements inside; ``prologue[d]`` runs
    at depth ``d`` (inside the loops over the first ``d`` long axes) before the loop at that depth."""
    extents = canonical(shape)
    full = identity_index(shape)

    def level(depth: int) -> list[Stmt]:
        first = (prologue or {}).get(depth, lambda index: [])(full)
        if depth == len(extents):
            return first + innermost(full)
        top = depth == 0 and node is not None
        return first + [Loop(Var(depth, "i", depth), extents[depth], tuple(level(depth + 1)),
                             members=(node,) if top else (), note=note if top else "")]

    return level(0)


def _zeros(reader: Reader, node: Node) -> Fill:
    return Fill(reader.buffer(node.id), Literal(0, node.dtype), note=f"{node.note or node.op}, added into from 0")


def _depth_of(shape: Shape, axes: int) -> int:
    """How many loops a nest over ``shape`` has opened once its first ``axes`` axes are fixed."""
    return len(canonical(shape[:axes]))


def _unslice(reader: Reader, node: Node) -> list[Stmt]:
    out = reader.buffer(node.id)
    statements: list[Stmt] = [_zeros(reader, node)]
    parts = node.inputs
    adds = OPS[node.op].accumulates  # unslice_sum: one slicing per part
    all_slices = node.params["slices"] if adds else (node.params["slices"],)
    for part, slices in zip(parts, all_slices):
        shape = reader.graph.nodes[part].shape

        def write(index: tuple[Index, ...], part: int = part, slices: tuple = slices) -> list[Stmt]:
            at = flat(node.shape, [i * step + start for i, (start, _, step) in zip(index, slices)])
            value = reader.read(part, index)
            if not adds:
                return [Store(out, at, value, node.note or node.op)]
            return [Accumulate(Load(out, at), "sum", value, node.dtype, node.note or node.op)]

        statements += loop_nest(shape, write, node=node.id, note=f"{node.op} into {slices}")
    return statements


def _concatenate(reader: Reader, node: Node) -> list[Stmt]:
    out = reader.buffer(node.id)
    axis = node.params["axis"]
    statements: list[Stmt] = []
    start = 0
    for part in node.inputs:
        shape = reader.graph.nodes[part].shape

        def write(index: tuple[Index, ...], part: int = part, start: int = start) -> list[Stmt]:
            at = flat(node.shape, [i + start if d == axis else i for d, i in enumerate(index)])
            return [Store(out, at, reader.read(part, index), node.note or node.op)]

        statements += loop_nest(shape, write, node=node.id,
                                note=f"concatenate: the part at {start} on axis {axis}")
        start += shape[axis]
    return statements


def _gather_or_scatter(reader: Reader, node: Node) -> list[Stmt]:
    """take / scatter_add (``axis`` indexed by a whole index array) and their ``_along_axis`` forms (indexed
    by an array of the same rank, broadcast): one loop over the small side, one checked index per element."""
    graph = reader.graph
    value, idx = (graph.nodes[i] for i in node.inputs)
    axis = node.params["axis"]
    gathers = OPS[node.op].gathers
    along = OPS[node.op].along_axis
    big = value.shape if gathers else node.shape  # the side indexed by the index values
    small = node.shape if gathers else value.shape  # the side looped over in order
    j = Local(node.id, "j")  # one per node: two gathers by one index array may share a scope
    n = big[axis]
    if along:
        def index_of(full: tuple[Index, ...]) -> tuple[Index, ...]:
            return tuple(Index() if m == 1 else full[d] for d, m in enumerate(idx.shape))

        def big_index(full: tuple[Index, ...]) -> list[Index]:
            return [Index.of(j) if d == axis else i for d, i in enumerate(full)]

        depth = len(canonical(small))
    else:
        width = len(idx.shape)

        def index_of(full: tuple[Index, ...]) -> tuple[Index, ...]:
            return full[axis:axis + width]

        def big_index(full: tuple[Index, ...]) -> list[Index]:
            return [*full[:axis], Index.of(j), *full[axis + width:]]

        depth = _depth_of(small, axis + width)
    check = {depth: lambda full: [IndexValue(j, reader.read(idx.id, index_of(full)), n, reader.argument(idx.id))]}
    out = reader.buffer(node.id)

    def move(full: tuple[Index, ...]) -> list[Stmt]:
        if gathers:
            return [Store(out, flat(node.shape, full), reader.read(value.id, tuple(big_index(full))),
                          node.note or node.op)]
        return [Accumulate(Load(out, flat(node.shape, big_index(full))), "sum", reader.read(value.id, full),
                           node.dtype, node.note or node.op)]

    statements = loop_nest(small, move, check, node=node.id, note=f"{node.op} along axis {axis}")
    return statements if gathers else [_zeros(reader, node), *statements]


def _gemm(reader: Reader, node: Node) -> list[Stmt]:
    a, b = (reader.graph.nodes[i] for i in node.inputs)
    operands = []
    for operand in (a, b):
        layout = blas_layout(reader.graph, operand.id, reader.held())
        assert layout is not None, "planned for the BLAS with an operand it cannot read"
        base, offset, rows, cols = layout
        operands.append(Matrix(reader.buffer(base), offset, rows, cols))
    return [Gemm(reader.buffer(node.id), operands[0], operands[1], a.shape[0], b.shape[1], a.shape[1], node.dtype)]


def _copy(reader: Reader, source: Node, into: int) -> list[Stmt]:
    """Loops copying ``source`` (read through its index map) into buffer ``into``, row-major."""
    note = f"{source.label()}, copied in double precision for the routine"
    return loop_nest(source.shape, lambda index: [Store(into, flat(source.shape, index),
                                                        reader.read(source.id, index), note)])


def _routine(reader: Reader, node: Node) -> list[Stmt]:
    """A routine of the C runtime on double-precision copies of the operands (the routines overwrite
    them), its result copied into the node's buffer unless the node is a double itself."""
    op = OPS[node.op]
    operands = [reader.graph.nodes[i] for i in node.inputs]
    n = operands[0].shape[0]
    statements: list[Stmt] = []
    copies = []
    for operand in operands:
        copies.append(reader.scratch(operand.id, "copy", operand.size, "float64"))
        statements += _copy(reader, operand, copies[-1])
    out = reader.buffer(node.id)
    result = out if node.dtype == "float64" else reader.scratch(node.id, "result", node.size, "float64")
    flags = tuple(int(value) for _, value in node.attrs)
    sizes = op.routine_sizes([x.shape for x in operands], node.shape) if op.routine_sizes else \
        (n, max(node.size // max(n, 1), 1))
    statements.append(Routine(op.routine, (*sizes, *flags),
                              (*copies, result), node.id, failure_code(node.op), node.op))
    if result != out:
        statements += loop_nest(node.shape, lambda index: [Store(out, flat(node.shape, index),
                                                                 Load(result, flat(node.shape, index)),
                                                                 f"the routine's result, as {node.dtype}")])
    return statements


#: The loops named by ``Op.lowering``.
LOWERINGS: dict[str, Callable[[Reader, Node], list[Stmt]]] = {
    "unslice": _unslice, "concatenate": _concatenate, "indexed": _gather_or_scatter, "gemm": _gemm,
}


def lower_structural(reader: Reader, node: Node) -> list[Stmt]:
    """The statements that compute structural ``node`` into its buffer."""
    if OPS[node.op].routine:
        return _routine(reader, node)
    return LOWERINGS[OPS[node.op].lowering](reader, node)
