"""Invariants every scheduled program must satisfy; the tests run this after every schedule.

Checked: every local is defined once in its scope before it is read; every
loop variable in an index belongs to an enclosing loop; every index stays
inside its buffer for all values of its loop variables (and of the index
values read at run time, which the kernel checks); nothing writes an input or
a constant; every output is written; workspace buffers lie inside the
workspace, and two that share memory are never live at once; every
statement that prints as one line of C carries a note saying what it does.
"""

from __future__ import annotations

from gradgen.errors import GraphError
from gradgen.schedule.program import (
    Accumulate,
    Buffer,
    Call,
    Fill,
    Gemm,
    Index,
    IndexValue,
    Init,
    Let,
    Load,
    Local,
    Loop,
    Program,
    Ref,
    Routine,
    RunBody,
    Stmt,
    Store,
    Var,
    buffers_used,
    pointee,
    reads,
)


class ProgramError(GraphError):
    """A program breaks an invariant of the schedule (a bug in gradgen, never the user's doing)."""


class _Checker:
    def __init__(self, program: Program):
        self.program = program
        self.buffers = {b.id: b for b in program.buffers}
        self.bounds: dict[Var | Local, tuple[int, int]] = {}
        self.tiles: dict[Var, tuple[Var, int]] = {}  # a loop over one tile -> (the tile loop's variable, tile size)
        self.tile_starts: set[Var] = set()
        self.steps: dict[Var, int] = {}

    def fail(self, what: str) -> None:
        raise ProgramError(f"program invariant broken: {what}")

    def index(self, buffer_id: int, index: Index, where: str) -> None:
        buffer = self.buffers.get(buffer_id)
        if buffer is None:
            self.fail(f"{where} uses buffer {buffer_id}, which the program does not have")
        low = high = index.offset
        terms = dict(index.terms)
        for symbol, k in index.terms:
            if symbol not in self.bounds:
                self.fail(f"{where} indexes {buffer_id} with {symbol}, which no enclosing loop or check defines")
            lo, hi = self.bounds[symbol]
            tile = self.tiles.get(symbol)
            if tile is not None and terms.get(tile[0]) == -k:  # element minus tile start: within one tile
                lo, hi = 0, tile[1] - 1
            elif symbol in self.tile_starts and any(self.tiles.get(v, (None,))[0] == symbol and c == -k
                                                    for v, c in terms.items()):
                continue
            low, high = low + min(k * lo, k * hi), high + max(k * lo, k * hi)
        if low < 0 or high >= buffer.size:
            self.fail(f"{where}: index {low}..{high} leaves buffer {buffer_id} of {buffer.size} elements")

    def atom(self, a: object, scope: set[Local], where: str) -> None:
        if isinstance(a, Ref) and a.local not in scope:
            self.fail(f"{where} reads {a.local} before it is defined in scope")
        if isinstance(a, Load):
            self.index(a.buffer, a.index, where)

    def write(self, buffer_id: int, where: str) -> None:
        buffer = self.buffers.get(buffer_id)
        if buffer is not None and buffer.kind in ("input", "const"):
            self.fail(f"{where} writes the {buffer.kind} buffer {buffer_id}")

    def define(self, local: Local, scope: set[Local], mine: set[Local], where: str) -> None:
        if local in mine:
            self.fail(f"{where} defines {local} twice in one scope")
        mine.add(local)
        scope.add(local)

    def block(self, statements: tuple[Stmt, ...], scope: set[Local], mine: set[Local]) -> None:
        checked: list[Local] = []  # index values defined in this scope: out of it, they are gone
        try:
            self._statements(statements, scope, mine, checked)
        finally:
            for local in checked:
                self.bounds.pop(local, None)

    def _statements(self, statements: tuple[Stmt, ...], scope: set[Local], mine: set[Local],
                    checked: list[Local]) -> None:
        for s in statements:
            where = type(s).__name__
            if isinstance(s, Loop):
                self.block(s.inits, scope, mine)
                if s.extent <= 0:  # never runs (an axis of length 0)
                    continue
                if s.within is not None:
                    if s.within not in self.bounds:
                        self.fail(f"a loop covers a tile of {s.within}, which no enclosing loop defines")
                    self.tiles[s.var] = (s.within, self.steps[s.within])
                if s.step != 1:
                    self.tile_starts.add(s.var)
                    self.steps[s.var] = s.step
                self.bounds[s.var] = (0, s.extent - 1)
                self.block(s.body, set(scope), set())
                del self.bounds[s.var]
                self.tiles.pop(s.var, None)
                continue
            for a in reads(s):
                self.atom(a, scope, where)
            if isinstance(s, (Let, Init, Store, Accumulate, Fill)) and not s.note:
                self.fail(f"a {where} without a note: {s}")
            if isinstance(s, (Let, Init)):
                self.define(s.target, scope, mine, where)
            elif isinstance(s, IndexValue):
                self.define(s.target, scope, mine, where)
                self.bounds[s.target] = (0, s.bound - 1)
                checked.append(s.target)
            elif isinstance(s, (Store, Fill)):
                self.write(s.buffer, where)
                if isinstance(s, Store):
                    self.index(s.buffer, s.index, where)
            elif isinstance(s, Accumulate) and isinstance(s.target, Load):
                self.write(s.target.buffer, where)
            elif isinstance(s, Gemm):
                self.write(s.out, where)
            elif isinstance(s, Routine):
                for b in s.buffers:
                    self.write(b, where)
            elif isinstance(s, Call) and not 0 <= s.part < len(self.program.parts):
                self.fail(f"a call of part {s.part}, which does not exist")
            elif isinstance(s, RunBody):
                self.run_body(s)

    def run_body(self, s: RunBody) -> None:
        """A step of a loop: the body exists, and every buffer it is given holds what the body takes."""
        if not 0 <= s.body < len(self.program.bodies):
            self.fail(f"a loop runs body {s.body}, which does not exist")
        body = self.program.bodies[s.body]
        expected = [body.graph.nodes[i] for i in body.inputs] + [body.graph.nodes[body.graph.outputs[k]]
                                                                  for k in range(len(body.outputs))]
        given = list(s.arguments) + list(s.results)
        if len(given) != len(expected) or len(s.statuses) != len(body.inputs):
            self.fail(f"body {s.body} takes {len(expected)} arguments and results, the loop gives {len(given)}")
        for k, (value, node) in enumerate(zip(given, expected)):
            scalar = node.shape == () and k < len(s.arguments)
            buffer = pointee(value)
            if scalar == (buffer is not None) or (not scalar and self.buffers[buffer].size < node.size):
                self.fail(f"body {s.body}: argument {k} does not hold its {node.shape} {node.dtype} value")
        for b in s.results:
            self.write(pointee(b), "RunBody")
        if s.work is not None and self.buffers[s.work].size < body.work_size:
            self.fail(f"body {s.body} needs {body.work_size} doubles of workspace, the loop gives "
                      f"{self.buffers[s.work].size}")

    def workspace(self) -> None:
        p = self.program
        statements = list(p.body) + [s for part in p.parts for s in part]
        live: dict[int, list[int]] = {}
        for position, s in enumerate(statements):
            for b in buffers_used((s,)):
                live.setdefault(b, [position, position])[1] = position
        work: list[Buffer] = [b for b in p.buffers if b.kind in ("work", "slots") and b.id in live]
        for b in work:
            if b.offset < 0 or b.offset + b.size > p.work_size:
                self.fail(f"buffer {b.id} at {b.offset}..{b.offset + b.size} leaves the workspace of {p.work_size}")
        for a in work:
            for b in work:
                if a.id < b.id and a.offset < b.offset + b.size and b.offset < a.offset + a.size:
                    (a0, a1), (b0, b1) = live[a.id], live[b.id]
                    if a0 <= b1 and b0 <= a1:
                        self.fail(f"buffers {a.id} and {b.id} share workspace while both are live")

    def run(self) -> None:
        p = self.program
        scope = {Local(i) for i in p.inputs if p.graph.nodes[i].shape == ()}
        self.block(p.body, scope, set())
        for part in p.parts:
            self.block(part, set(scope), set())
        written = set()
        for s in p.body + tuple(x for part in p.parts for x in part):
            written |= buffers_used((s,))
        for b in p.outputs:
            if b not in written:
                self.fail(f"output buffer {b} is never written")
        self.workspace()


def check_program(program: Program) -> Program:
    """Raise ProgramError if ``program`` breaks an invariant (see the module docstring); return it otherwise."""
    _Checker(program).run()
    return program
