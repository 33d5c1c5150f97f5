"""The op registry: every primitive is one ``Op`` holding all its facets.

An op's facets are its shape rule, its NumPy reference evaluation, its
vector-Jacobian product written with gradgen's own DSL functions (so the
backward pass is an ordinary graph), optionally its JVP, and its spellings
for the code generators. ``define`` registers one; the rest of gradgen reads
``OPS`` and never special-cases an op by name outside its definition.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Callable, Union

from gradgen.errors import GraphError
from gradgen.ir.builder import GraphBuilder
from gradgen.ir.graph import Node, Shape

#: A spelling is a format string over the argument names (``{0}``, ``{1}``)
#: and attrs (``{axis}``), or a function ``(args, attrs) -> str``.
Spelling = Union[str, Callable[[Sequence[str], dict], str], None]


#: The kinds of op the schedule tells apart (see ``Op.kind``).
KINDS = ("elementwise", "reduction", "view", "product", "structural", "leaf", "loop", "part")


@dataclass(frozen=True)
class Op:
    """Everything gradgen knows about one primitive.

    - ``infer(inputs, attrs) -> (shape, dtype)``: the shape rule; raises ShapeError.
    - ``evaluate(*arrays, **attrs)``: the NumPy reference semantics.
    - ``vjp(g, out, *inputs, **attrs)``: cotangents for each input (a DSL
      value or None for "no gradient"), built from DSL functions.
    - ``jvp(tangents, out, *inputs, **attrs)``: the tangent of the output
      (``tangents[i]`` is None for inputs with zero tangent).
    - ``py``: spelling in a scalar kernel (plain floats, names bound to ``math``).
    - ``np``: spelling in an array kernel (NumPy).
    - ``c``: spelling of one element in C (``{f}`` is ``f`` in float32
      kernels, for ``expf`` and friends); ops that are loops rather than
      expressions (matmul, reductions, indexing) are laid out by the schedule.
    - ``kind``: how the schedule treats it: "elementwise" (inputs and output
      share one shape; one element from the same element of each input),
      "reduction" (sum or max over axes), "view" (an index map onto its input,
      no computation: broadcast_to, reshape, transpose, slice,
      stop_gradient), "product" (matmul), "structural" (a loop of its own:
      scatters, gathers, concatenation), "leaf" (input, const), "loop" (a
      node running a body graph per step, its value the tuple of its results;
      its ``vjp`` takes one cotangent or None per result, and ``wanted``: which
      inputs need a cotangent) or "part" (one
      result of a loop).
    - ``cheap``: one element costs about as much as loading it, so a later
      loop may compute it again instead of reading it from memory.
    - ``sympy``: ``(sympy module, node, *argument expressions) -> expression``,
      for the SymPy bridge (None: no SymPy form).
    - ``reads_forward``: the VJP uses forward values, so a zero cotangent
      must stay zero even where those values are inf or NaN (see autodiff).
    - ``routine``: the function of the C runtime that computes it on whole arrays (dense linear
      algebra, sorting: ``status = routine(n, m, copies of the inputs..., result)``, in double
      precision, ``csrc/gradgen_routines.h``);
      ``failure``: what a nonzero status means ("singular"), for the error the kernel raises;
      ``routine_sizes``: ``(input shapes, output shape) -> sizes`` where the routine needs other sizes
      than ``n`` (the first input's rows) and ``m`` (the output's size over ``n``);
      ``lapack``: the routine calls LAPACK (of the BLAS's library) in a kernel that links it, its own
      loops in an exported one.
    - ``custom``: defined by a user with ``gg.custom_op`` (its rules are theirs; before code is generated
      its node becomes the function's own graph, so it has no spellings).
    - ``selects``: the VJP hands some inputs exact zeros (``where``), so
      the values upstream of those inputs may be inf or NaN where unused.
    - ``index_map(node, source)``: for a view, where each of its elements is in its input ``source``: one
      entry per axis of ``source``, ``(axis, step, start)`` (index ``start + step * i`` where the view is at
      ``i`` on ``axis``) or None (index 0); None for the whole map when the view is not one of axes (a
      reshape that does more than add or drop axes of length 1: it is read through flat offsets).
    - ``keeps_offsets``: a view whose element at each flat (C-order) offset is its input's at that offset
      (reshape, stop_gradient), so a flat read passes through it.
    - ``np_aliases``: the NumPy spelling may give back its input's memory (the input itself or a view of
      it), so a kernel copies an output made by it for the caller to own.
    - ``lowering``: the schedule's loop that computes a structural op without a ``routine`` (and a matrix
      product the BLAS computes): "unslice", "concatenate", "indexed" (an axis indexed by an index array:
      gathers and scatters) or "gemm".
    - ``accumulates``: it adds its input's elements into zeros where its slices or index values put them
      (several may land on one element) instead of storing them: scatters, and ``unslice_sum`` (whose
      ``slices`` hold one slicing per part).
    - ``along_axis``: its index array has the rank of the value, broadcast against it
      (``take_along_axis``), not axes of its own in place of the indexed one (``take``).
    - ``to_shape``: a view that only brings its input to the shape of its ``shape`` attr, elements in C
      order (broadcast_to repeats them, reshape lays them out again): the identity where the input has that
      shape already, and what the DSL puts between a value and an operand of another shape, so the passes
      look for a pattern (a constant, a sum broadcast back) through it.
    - ``exp_form(z, e)``: the op of ``z`` written out from ``e = exp(-|z|)``, the C runtime's own formula
      (sigmoid, softplus); where several such ops read one z (or -z), C kernels write them out to share e
      (``passes/lower.py``).
    - ``packed``: the op computing this result of a matrix decomposition together with the others
      (``eigh_packed``); where a kernel reads several results of one matrix, C computes them once
      (``passes/lower.py``, ``decompositions.packed_part``).
    - ``np_helper``: ``(name, function)``, a function of gradgen's own that the NumPy spelling calls by
      ``name`` (``linalg_solve``); array kernels bind it.
    """

    name: str
    infer: Callable[[Sequence[Node], dict], tuple[Shape, str]]
    evaluate: Callable[..., Any]
    vjp: Callable[..., Sequence[Any]] | None
    py: Spelling
    np: Spelling
    jvp: Callable[..., Any] | None = None
    c: Spelling = None
    kind: str = "structural"
    cheap: bool = False
    sympy: Callable[..., Any] | None = None
    reads_forward: bool = True
    selects: bool = False
    routine: str = ""
    failure: str = ""
    routine_sizes: Callable[[Sequence[Shape], Shape], tuple[int, ...]] | None = None
    lapack: bool = False
    custom: bool = False
    index_map: Callable[[Node, Node], tuple[tuple[int, int, int] | None, ...] | None] | None = None
    keeps_offsets: bool = False
    np_aliases: bool = False
    lowering: str = ""
    accumulates: bool = False
    along_axis: bool = False
    to_shape: bool = False
    exp_form: Callable[[Any, Any], Any] | None = None
    packed: str = ""
    np_helper: tuple[str, Callable[..., Any]] | None = None
    doc: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise GraphError(f"op {self.name!r}: kind must be one of {KINDS}, got {self.kind!r}")
        if (self.kind == "view") != (self.index_map is not None):
            raise GraphError(f"op {self.name!r}: a view (and only a view) has an index_map")

    @property
    def differentiable(self) -> bool:
        return self.vjp is not None

    @property
    def elementwise(self) -> bool:
        """Inputs and output share one shape, element by element."""
        return self.kind == "elementwise"

    @property
    def leaf(self) -> bool:
        """An input or a constant: a value the graph is given, not one it computes."""
        return self.kind == "leaf"

    @property
    def view(self) -> bool:
        """The op only maps indices onto its input."""
        return self.kind == "view"

    @property
    def gathers(self) -> bool:
        """Its elements are elements of its first input, picked by index values (take, take_along_axis)."""
        return self.lowering == "indexed" and not self.accumulates


OPS: dict[str, Op] = {}


def define(op: Op) -> Op:
    """Register ``op``; each name may be defined once."""
    if op.name in OPS:
        raise GraphError(f"op {op.name!r} is defined twice")
    OPS[op.name] = op
    return op


def builtin_ops() -> list[str]:
    """The names of gradgen's own ops (not those of ``gg.custom_op``), sorted."""
    return sorted(name for name, op in OPS.items() if not op.custom)


def failure_code(name: str) -> int:
    """The status a C kernel returns when op ``name``'s routine fails: negative (positive statuses are bad
    indices), one per op that can fail, in name order; 0 for an op that cannot fail."""
    failing = sorted(n for n, op in OPS.items() if op.failure)
    return -1 - failing.index(name) if name in failing else 0


def failed_op(status: int) -> str:
    """The op whose routine returned the negative ``status`` (``failure_code``'s inverse)."""
    return sorted(n for n, op in OPS.items() if op.failure)[-1 - status]


def get_op(name: str) -> Op:
    """The Op called ``name``, or GraphError naming the unknown op."""
    try:
        return OPS[name]
    except KeyError:
        raise GraphError(f"unknown op {name!r}; known ops: {', '.join(sorted(OPS))}") from None


def infer(name: str, inputs: Sequence[Node], attrs: dict) -> tuple[Shape, str]:
    """Shape and dtype of ``name(*inputs; attrs)``."""
    return get_op(name).infer(inputs, attrs)


def emit(builder: GraphBuilder, name: str, inputs: Sequence[int], **attrs: Any) -> int:
    """Add ``name(*inputs; attrs)`` to ``builder`` and return the node id.

    The shape rule runs first, so a bad shape fails here, at trace time. The
    builder's rewriter (simplification, numerics) may answer with an
    existing node instead; otherwise the node is hash-consed.
    """
    inputs = tuple(inputs)
    in_nodes = [builder.nodes[i] for i in inputs]
    shape, dtype = infer(name, in_nodes, attrs)
    frozen = tuple(sorted(attrs.items()))
    if builder.rewriter is not None:
        replacement = builder.rewriter(builder, name, inputs, frozen, shape, dtype)
        if replacement is not None:
            return replacement
    return builder.add(name, inputs, frozen, shape, dtype)


def spell(spelling: Spelling, args: Sequence[str], attrs: dict) -> str:
    """Render a spelling for argument expressions ``args``."""
    if spelling is None:
        raise GraphError("op has no spelling for this backend")
    if callable(spelling):
        return spelling(args, attrs)
    return spelling.format(*args, **attrs)
