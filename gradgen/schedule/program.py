"""The program: the loop-nest IR between a graph and its C text.

A Program is what the schedule decided, written down as frozen dataclasses
that know no C syntax and name no variable: loops with their extents and
attributes, element statements (a node's op applied to loaded operands),
loads and stores at affine indices, accumulations, matrix products, index
checks, and the buffers they touch. The C printer turns it into text, one
method per statement kind; ``format_program`` prints it for people, as
``format_graph`` prints a graph, and ``check_program`` verifies its
invariants (the tests run it after every schedule).

Values are named by the graph node they hold (``Local``), arrays by a buffer
id, loop variables by a ``Var`` id; the printer's namer turns all three into
identifiers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple, Union

from gradgen.ir.graph import ConstArray, Graph


class Var(NamedTuple):
    """A loop variable. ``role`` tells the namer what it counts (elements by depth, tiles, repeats, parts).
    (Var and Local are NamedTuples: programs hash them millions of times.)"""

    id: int
    role: str = "i"
    depth: int = 0


class Local(NamedTuple):
    """A value held in a local variable: node ``node``'s value or element (role ""), or a value made for it
    (role "j": an index read from it)."""

    node: int
    role: str = ""


Symbol = Union[Var, Local]


def _symbol_key(symbol: Symbol) -> tuple:
    return (0, *symbol) if isinstance(symbol, Var) else (1, *symbol)


class Index(NamedTuple):
    """A flat element index: ``offset + sum(coefficient * symbol)``, symbols being loop variables or index
    values read at run time (``Local``). ``+`` and ``*`` are index arithmetic, not a tuple's."""

    offset: int = 0
    terms: tuple[tuple[Symbol, int], ...] = ()

    @staticmethod
    def of(symbol: Symbol, coefficient: int = 1) -> Index:
        return Index(0, ((symbol, coefficient),)) if coefficient else Index()

    def __add__(self, other: Index | int) -> Index:  # type: ignore[override]
        if isinstance(other, int):
            return Index(self.offset + other, self.terms) if other else self
        if not other.terms:
            return Index(self.offset + other.offset, self.terms)
        if not self.terms:
            return Index(self.offset + other.offset, other.terms)
        merged: dict[Symbol, int] = dict(self.terms)
        for symbol, k in other.terms:
            merged[symbol] = merged.get(symbol, 0) + k
        terms = tuple(sorted(((s, k) for s, k in merged.items() if k), key=lambda t: _symbol_key(t[0])))
        return Index(self.offset + other.offset, terms)

    def __mul__(self, k: int) -> Index:  # type: ignore[override]
        if k == 1:
            return self
        return Index(self.offset * k, tuple((s, c * k) for s, c in self.terms if c * k))

    __rmul__ = __mul__

    def coefficient(self, symbol: Symbol) -> int:
        return dict(self.terms).get(symbol, 0)

    def substitute(self, symbol: Symbol, value: Index) -> Index:
        """This index with ``symbol`` replaced by ``value``."""
        k = self.coefficient(symbol)
        if not k:
            return self
        rest = Index(self.offset, tuple((s, c) for s, c in self.terms if s != symbol))
        return rest + value * k


# --- expressions ----------------------------------------------------------------------------------------
class Literal(NamedTuple):
    value: Any
    dtype: str


class Ref(NamedTuple):
    """The value of a local."""

    local: Local


class Load(NamedTuple):
    """Element ``index`` of buffer ``buffer``."""

    buffer: int
    index: Index


Atom = Union[Literal, Ref, Load]


class Apply(NamedTuple):
    """Op ``op`` of the registry on atoms (its C spelling comes from the registry)."""

    op: str
    args: tuple[Atom, ...]
    attrs: tuple[tuple[str, Any], ...]
    dtype: str


Expr = Union[Atom, Apply]


# --- statements -----------------------------------------------------------------------------------------
class Let(NamedTuple):
    """``target = value``: a local defined once in its scope."""

    target: Local
    value: Expr
    dtype: str
    note: str = ""


class Init(NamedTuple):
    """A running value starting at the identity of ``how`` ("sum": 0, "max": -inf)."""

    target: Local
    how: str
    dtype: str
    note: str = ""


class Store(NamedTuple):
    """``buffer[index] = value``."""

    buffer: int
    index: Index
    value: Expr
    note: str = ""


class Accumulate(NamedTuple):
    """``target = target + value`` ("sum") or ``max(target, value)`` ("max")."""

    target: Ref | Load
    how: str
    value: Expr
    dtype: str
    note: str = ""


@dataclass(frozen=True)
class Fill:
    """Elements ``start`` to ``start + count`` of ``buffer`` (all from ``start`` when count is None) set to
    ``value``; ``how`` names the running reduction ("sum", "max") the buffer then takes, if any."""

    buffer: int
    value: Literal
    start: int = 0
    count: int | None = None
    how: str | None = None
    note: str = ""


@dataclass(frozen=True)
class IndexValue:
    """``target = source`` as an index into an axis of length ``bound``: out of range (below -bound or from
    bound on) the kernel returns ``argument`` (the 1-based position of the input holding it); negative
    values count from the end."""

    target: Local
    source: Expr
    bound: int
    argument: int


@dataclass(frozen=True)
class Matrix:
    """A 2-D operand of a matrix product: ``buffer[offset + r * row_stride + c * col_stride]``."""

    buffer: int
    offset: int
    row_stride: int
    col_stride: int


@dataclass(frozen=True)
class Gemm:
    """``out (m x n) = a (m x k) @ b (k x n)`` by the BLAS (out is C-contiguous)."""

    out: int
    a: Matrix
    b: Matrix
    m: int
    n: int
    k: int
    dtype: str


@dataclass(frozen=True)
class Routine:
    """``status = routine(sizes..., buffers...)``: a linear-algebra routine of the C runtime on whole
    buffers (double precision, row-major copies of the operands, then the result). A nonzero status means
    the matrix of node ``node`` is singular (or not positive definite): the kernel returns ``status``, a
    negative code the runtime turns into an error (0: the routine cannot fail, no check)."""

    routine: str
    sizes: tuple[int, ...]
    buffers: tuple[int, ...]
    node: int
    status: int
    op: str
    """The op it computes (its failure's message, in a body too, whose node ids are the body's own)."""


@dataclass(frozen=True)
class Loop:
    """``for var in range(start, extent, step)``.

    ``inits`` run just before the loop, in the enclosing scope (running values it accumulates).
    ``within``: the loop covers one tile of the loop over ``within`` (from its value to the tile's end).
    ``simd``: the iterations are independent but for these running sums (None: not vectorizable).
    ``ranges``: shared among threads, each running the elements ``begin`` to ``end`` of one range (empty:
    one thread), reading from outside the loop the locals and buffers of ``shared``.
    ``locals`` are tile buffers declared in its body.
    ``members``: the nodes it computes (for the comment above it); ``note``: what else to say there.
    """

    var: Var
    extent: int
    body: tuple[Stmt, ...]
    inits: tuple[Init | Fill, ...] = ()
    step: int = 1
    within: Var | None = None
    simd: tuple[Local, ...] | None = None
    ranges: tuple[tuple[int, int], ...] = ()
    shared: tuple[Local | int, ...] = ()
    locals: tuple[int, ...] = ()
    members: tuple[int, ...] = ()
    note: str = ""

    @property
    def parts(self) -> int:
        """How many threads run the loop."""
        return max(1, len(self.ranges))


@dataclass(frozen=True)
class Call:
    """Run part ``part`` of a program split into several functions."""

    part: int


class Row(NamedTuple):
    """The elements of ``buffer`` from element ``at`` on, passed by pointer: one row of a stacked array
    (a step's slice of a scanned array, or where a step's y goes)."""

    buffer: int
    at: Index


def pointee(a: Atom | int | Row) -> int | None:
    """The buffer an argument of a body points into (None for a scalar passed by value)."""
    if isinstance(a, int):
        return a
    return a.buffer if isinstance(a, Row) else None


@dataclass(frozen=True)
class RunBody:
    """One step of a loop node: ``status = body_<body>(arguments..., results..., work)``, the body being
    the program ``Program.bodies[body]``. Arguments are atoms (scalars, passed by value), buffer ids or
    rows of buffers (arrays, by pointer); ``results`` are buffer ids or rows, ``work`` a buffer id. A
    nonzero status is the body's argument k holding an index out of range: the kernel then returns
    ``statuses[k - 1]``, or ``computed`` for an index the body computes."""

    body: int
    arguments: tuple[Atom | int | Row, ...]
    results: tuple[int | Row, ...]
    work: int | None
    statuses: tuple[int, ...]
    computed: int


Stmt = Union[Let, Init, Store, Accumulate, Fill, IndexValue, Gemm, Routine, Loop, Call, RunBody]


# --- the program ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Buffer:
    """An array the program reads or writes.

    ``kind``: "input" (argument ``position``), "output" (result ``position``; a scalar result when
    ``scalar``), "const" (``data``), "work" (``size`` elements at ``offset`` in the workspace), "tile"
    (a local array of a tile loop) or "slots" (the workspace's scalar slots of a split program).
    """

    id: int
    kind: str
    size: int
    dtype: str
    node: int | None = None
    position: int = -1
    offset: int = 0
    scalar: bool = False
    data: ConstArray | None = None
    role: str = ""
    """A buffer made for a node besides its own value's (``spill``: the node's elements kept for a later
    piece of a split loop); the namer names it after the node and the role."""


@dataclass(frozen=True)
class Program:
    """A whole kernel: inputs (node ids, scalars passed by value), outputs (buffer ids, in order), the
    buffers, the statements, and the workspace size in doubles. A split program has ``parts``, each a
    function of its own that the body calls. ``bodies`` are the programs of the bodies of its loop
    nodes, each a function of its own that ``RunBody`` statements call once per step."""

    graph: Graph
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    buffers: tuple[Buffer, ...]
    body: tuple[Stmt, ...]
    work_size: int = 0
    parts: tuple[tuple[Stmt, ...], ...] = ()
    bodies: tuple[Program, ...] = ()
    notes: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def buffer_of(self, node: int) -> Buffer | None:
        for b in self.buffers:
            if b.node == node and b.kind != "tile":
                return b
        return None

    def __str__(self) -> str:
        return format_program(self)

    def __repr__(self) -> str:
        return (f"<gradgen.Program: {statement_count(self)} statements, {len(self.buffers)} buffers, "
                f"work {self.work_size}>")


def walk(statements: tuple[Stmt, ...]) -> Iterator[Stmt]:
    """Every statement, loops' inits and bodies included, in order."""
    stack = list(reversed(statements))
    while stack:
        s = stack.pop()
        yield s
        if isinstance(s, Loop):
            stack.extend(reversed(s.inits + s.body))


def routines(program: Program) -> Iterator[Routine]:
    """The linear-algebra routines the program calls, those of its loops' bodies too."""
    for s in walk(program.body + tuple(x for part in program.parts for x in part)):
        if isinstance(s, Routine):
            yield s
        elif isinstance(s, RunBody):
            yield from routines(program.bodies[s.body])


def statement_count(program: Program) -> int:
    """Statements in the program (what its printed size is proportional to)."""
    return sum(1 for _ in walk(program.body + tuple(s for p in program.parts for s in p)))


def atoms(expr: Expr) -> tuple[Atom, ...]:
    return expr.args if isinstance(expr, Apply) else (expr,)


def reads(stmt: Stmt) -> Iterator[Atom]:
    """The atoms one statement reads (not those of statements nested in it)."""
    if isinstance(stmt, (Let, Store)):
        yield from atoms(stmt.value)
    elif isinstance(stmt, Accumulate):
        yield stmt.target
        yield from atoms(stmt.value)
    elif isinstance(stmt, IndexValue):
        yield from atoms(stmt.source)
    elif isinstance(stmt, RunBody):
        yield from (a for a in stmt.arguments if pointee(a) is None)


def rewrite(stmt: Stmt, atom: Callable[[Atom], Atom] = lambda a: a,
            index: Callable[[Index], Index] = lambda i: i) -> Stmt:
    """``stmt`` (and what is nested in it) with every atom passed through ``atom`` and every index through
    ``index`` (indices inside loads first, then the load itself)."""

    def on_atom(a: Atom) -> Atom:
        return atom(Load(a.buffer, index(a.index)) if isinstance(a, Load) else a)

    def on_expr(e: Expr) -> Expr:
        if isinstance(e, Apply):
            return Apply(e.op, tuple(on_atom(a) for a in e.args), e.attrs, e.dtype)
        return on_atom(e)

    if isinstance(stmt, Let):
        return stmt._replace(value=on_expr(stmt.value))
    if isinstance(stmt, Store):
        return stmt._replace(index=index(stmt.index), value=on_expr(stmt.value))
    if isinstance(stmt, Accumulate):
        return stmt._replace(target=on_atom(stmt.target), value=on_expr(stmt.value))
    if isinstance(stmt, IndexValue):
        return replace(stmt, source=on_expr(stmt.source))
    if isinstance(stmt, RunBody):
        def on_argument(a: Atom | int | Row) -> Atom | int | Row:
            if isinstance(a, Row):
                return Row(a.buffer, index(a.at))
            return a if isinstance(a, int) else on_atom(a)

        return replace(stmt, arguments=tuple(on_argument(a) for a in stmt.arguments),
                       results=tuple(on_argument(b) for b in stmt.results))
    if isinstance(stmt, Loop):
        return replace(stmt, inits=tuple(rewrite(s, atom, index) for s in stmt.inits),
                       body=tuple(rewrite(s, atom, index) for s in stmt.body))
    return stmt


def buffers_used(statements: tuple[Stmt, ...]) -> set[int]:
    """The ids of every buffer the statements (and those nested in them) read or write."""
    used: set[int] = set()
    for s in walk(statements):
        used |= {a.buffer for a in reads(s) if isinstance(a, Load)}
        if isinstance(s, (Store, Fill)):
            used.add(s.buffer)
        elif isinstance(s, Gemm):
            used |= {s.out, s.a.buffer, s.b.buffer}
        elif isinstance(s, Routine):
            used |= set(s.buffers)
        elif isinstance(s, Loop):
            used |= set(s.locals)
        elif isinstance(s, RunBody):
            used |= {pointee(a) for a in s.arguments + s.results} - {None}
            used |= {s.work} if s.work is not None else set()
    return used


# --- printing -----------------------------------------------------------------------------------------
class _Formatter:
    def __init__(self, program: Program):
        self.program = program
        self.graph = program.graph
        self.buffers = {b.id: b for b in program.buffers}

    def local(self, local: Local) -> str:
        label = self.graph.nodes[local.node].label() if local.node >= 0 else f"v{-local.node}"
        return label + (f".{local.role}" if local.role else "")

    def argument(self, a: Atom | int | Row) -> str:
        """An argument of a body: a buffer, a row of one (``saved_h[3*step0:]``) or a scalar."""
        if isinstance(a, Row):
            return f"{self.buffer(a.buffer)}[{self.index(a.at)}:]"
        return self.buffer(a) if isinstance(a, int) else self.atom(a)

    def buffer(self, buffer_id: int) -> str:
        b = self.buffers[buffer_id]
        if b.kind == "slots":
            return "slots"
        if b.kind == "output":
            return f"out:{self.graph.output_names[b.position]}"
        base = self.graph.nodes[b.node].label() if b.node is not None else f"buffer{b.id}"
        return base + (".tile" if b.kind == "tile" else f".{b.role}" if b.role else "")

    def symbol(self, s: Symbol) -> str:
        return self.local(s) if isinstance(s, Local) else f"{s.role}{s.id}"

    def index(self, index: Index) -> str:
        text = ""
        for s, k in index.terms:
            term = self.symbol(s) if abs(k) == 1 else f"{abs(k)}*{self.symbol(s)}"
            text += (" - " if k < 0 else " + ") + term if text else ("-" if k < 0 else "") + term
        if index.offset or not text:
            text += (" - " if index.offset < 0 else " + ") + str(abs(index.offset)) if text else str(index.offset)
        return text

    def atom(self, a: Atom) -> str:
        if isinstance(a, Literal):
            return repr(a.value)
        if isinstance(a, Ref):
            return self.local(a.local)
        return f"{self.buffer(a.buffer)}[{self.index(a.index)}]"

    def expr(self, e: Expr) -> str:
        if isinstance(e, Apply):
            attrs = "".join(f"; {k}={v}" for k, v in e.attrs)
            return f"{e.op}({', '.join(self.atom(a) for a in e.args)}{attrs})"
        return self.atom(e)

    def lines(self, statements: tuple[Stmt, ...], depth: int) -> Iterator[str]:
        pad = "  " * depth
        for s in statements:
            if isinstance(s, Loop):
                yield from self.lines(s.inits, depth)
                attrs = [f"step {s.step}"] if s.step != 1 else []
                attrs += [f"tile of {self.symbol(s.within)}"] if s.within else []
                attrs += ["simd" + (f"(+ {', '.join(map(self.local, s.simd))})" if s.simd else "")] \
                    if s.simd is not None else []
                attrs += [f"parts {', '.join(f'{a}:{b}' for a, b in s.ranges)}"] if s.ranges else []
                shared = (self.local(x) if isinstance(x, Local) else self.buffer(x) for x in s.shared)
                attrs += [f"reading {', '.join(shared)}"] if s.shared else []
                attrs += [f"tile buffers {', '.join(self.buffer(b) for b in s.locals)}"] if s.locals else []
                yield f"{pad}loop {self.symbol(s.var)} < {s.extent}" + (f" [{', '.join(attrs)}]" if attrs else "") + ":"
                yield from self.lines(s.body, depth + 1)
            elif isinstance(s, Let):
                yield f"{pad}{self.local(s.target)} = {self.expr(s.value)}"
            elif isinstance(s, Init):
                yield f"{pad}{self.local(s.target)} = {'0' if s.how == 'sum' else '-inf'}  (running {s.how})"
            elif isinstance(s, Store):
                yield f"{pad}{self.buffer(s.buffer)}[{self.index(s.index)}] = {self.expr(s.value)}"
            elif isinstance(s, Accumulate):
                op = "+=" if s.how == "sum" else "max="
                yield f"{pad}{self.atom(s.target)} {op} {self.expr(s.value)}"
            elif isinstance(s, Fill):
                stop = "" if s.count is None else s.start + s.count
                yield f"{pad}{self.buffer(s.buffer)}[{s.start or ''}:{stop}] = {s.value.value!r}"
            elif isinstance(s, IndexValue):
                yield (f"{pad}{self.local(s.target)} = index {self.expr(s.source)} into {s.bound} "
                       f"(else fail with argument {s.argument})")
            elif isinstance(s, Gemm):
                yield (f"{pad}{self.buffer(s.out)} = gemm({self.buffer(s.a.buffer)}, {self.buffer(s.b.buffer)}; "
                       f"{s.m} x {s.k} @ {s.k} x {s.n})")
            elif isinstance(s, Routine):
                buffers = ", ".join(self.buffer(b) for b in s.buffers)
                check = f" (else fail with {s.status})" if s.status else ""
                yield f"{pad}{s.routine}({', '.join(map(str, s.sizes))}; {buffers}){check}"
            elif isinstance(s, Call):
                yield f"{pad}call part {s.part}"
            elif isinstance(s, RunBody):
                args = ", ".join(self.argument(a) for a in s.arguments)
                results = ", ".join(self.argument(b) for b in s.results)
                yield f"{pad}{results} = body {s.body}({args})"

    def text(self) -> str:
        p = self.program
        head = [f"program: {len(p.inputs)} inputs, {len(p.outputs)} outputs, work {p.work_size} doubles"]
        for b in p.buffers:
            where = {"input": f"input {b.position}", "output": f"output {b.position}", "const": "constant",
                     "work": f"work [{b.offset}:{b.offset + b.size}]", "tile": "tile", "slots": "scalar slots"}[b.kind]
            head.append(f"  buffer {self.buffer(b.id)}: {where}, {b.size} x {b.dtype}")
        body = list(self.lines(p.body, 1))
        for k, part in enumerate(p.parts):
            body.append(f"  part {k}:")
            body.extend(self.lines(part, 2))
        for k, program in enumerate(p.bodies):
            body.append(f"  body {k}, a " + "\n    ".join(_Formatter(program).text().split("\n")))
        return "\n".join(head + body)


def format_program(program: Program) -> str:
    """The program as indented text: its buffers, then its statements, loops indented."""
    return _Formatter(program).text()
