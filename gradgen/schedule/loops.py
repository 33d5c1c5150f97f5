"""Loop attributes, decided on the program: flat loops, tiles, vectorization and threads.

- **collapse**: a nest whose every index reads its two innermost loops as one
  flat position (elementwise work on whole arrays) becomes one flat loop;
- **tiles**: a loop over rows whose body has short inner loops (a product
  with a narrow matrix: ``X @ w`` and ``X.T @ g`` per row) runs in tiles of
  ``ROW_TILE`` rows, each step of its body a loop over the tile, so the
  elementwise work vectorizes across rows while the tile's rows of X are still
  in cache; row values that cross steps wait in small tile arrays;
- **simd**: an innermost element loop whose iterations are independent (but
  for running sums) is marked for the compiler to vectorize;
- **parts**: a long top-level loop whose running values can be combined
  (sums, maxima, short column sums) is shared by threads.
"""

from __future__ import annotations

import dataclasses

from gradgen.schedule.program import (
    Accumulate,
    Buffer,
    Fill,
    Index,
    IndexValue,
    Init,
    Let,
    Load,
    Local,
    Loop,
    Program,
    Ref,
    Stmt,
    Store,
    Var,
    buffers_used,
    reads,
    rewrite,
    walk,
)

#: Inner loops at most this long (the columns of a narrow matrix) make their row loop run in tiles of
#: ROW_TILE rows (of 32 to 1024, 32 and 64 measured best).
ROW_PRODUCT_MAX_COLUMNS = 16
ROW_TILE = 64
#: A loop over at least this many elements per thread is shared among threads: starting and joining a
#: thread costs about 50 µs here, this many elements of logistic regression 0.5 ms.
PART_MIN_ELEMENTS = 65536
#: At most this many parts (GG_MAX_PARTS in the runtime header: threads a call may start).
MAX_PARTS = 64
#: Loops with longer bodies are split in pieces of this many statements (see ``_split_body``).
MAX_BODY = 256
#: Running sums of long loops are taken in blocks of this many elements (see ``_blocked_sums``).
SUM_BLOCK = 1024
#: Running arrays (column sums) at most this long may be combined from parts.
MAX_PART_SUMS = 64


def _indices(statements: tuple[Stmt, ...]) -> list[Index]:
    found: list[Index] = []

    def note(index: Index) -> Index:
        found.append(index)
        return index

    for s in statements:
        rewrite(s, index=note)
    return found


# --- collapse ---------------------------------------------------------------------------------------------
def _collapse(loop: Loop) -> Loop:
    body = tuple(_collapse(s) if isinstance(s, Loop) else s for s in loop.body)
    loop = dataclasses.replace(loop, body=body)
    if len(body) != 1 or not isinstance(body[0], Loop) or body[0].inits or body[0].locals:
        return loop
    inner = body[0]
    if any(isinstance(s, Loop) for s in inner.body) or inner.var.role != "i" or loop.var.role != "i":
        return loop
    outer_var, inner_var = loop.var, inner.var
    if any(ix.coefficient(outer_var) != inner.extent * ix.coefficient(inner_var) for ix in _indices(inner.body)):
        return loop

    def flat(ix: Index) -> Index:  # outer * extent + inner is one position of the merged loop
        return Index(ix.offset, tuple((outer_var if sym == inner_var else sym, k) for sym, k in ix.terms
                                      if sym != outer_var))

    merged = tuple(rewrite(s, index=flat) for s in inner.body)
    return dataclasses.replace(loop, extent=loop.extent * inner.extent, body=merged)


# --- tiles ------------------------------------------------------------------------------------------------
def _defines(statement: Stmt) -> list[Local]:
    if isinstance(statement, (Let, IndexValue, Init)):
        return [statement.target]
    if isinstance(statement, Loop):
        return [s.target for s in statement.inits if isinstance(s, Init)]
    return []


def _uses(statement: Stmt) -> set[Local]:
    """The locals a statement reads, as values or inside indices."""
    used: set[Local] = set()
    for s in walk((statement,)):
        used |= {a.local for a in reads(s) if isinstance(a, Ref)}
    used |= {sym for ix in _indices((statement,)) for sym, _ in ix.terms if isinstance(sym, Local)}
    return used


def _tile(loop: Loop, buffers: list[Buffer], dtypes: dict[int, str]) -> Loop:
    """``loop`` in tiles of ROW_TILE rows, each step of its body a loop over the tile."""
    steps: list[list[Stmt]] = []
    for s in loop.body:
        if isinstance(s, Loop) or not steps or isinstance(steps[-1][-1], Loop):
            steps.append([s])
        else:
            steps[-1].append(s)
    tile_var = Var(0, "r", 0)
    at = Index.of(loop.var) + Index.of(tile_var) * -1
    defined_in = {local: k for k, step in enumerate(steps) for s in step for local in _defines(s)}
    crossing: dict[Local, int] = {}
    for k, step in enumerate(steps):
        for s in step:
            for local in _uses(s):
                if local in defined_in and defined_in[local] < k and local not in crossing:
                    buffer = Buffer(len(buffers), "tile", ROW_TILE, dtypes[local.node], local.node)
                    buffers.append(buffer)
                    crossing[local] = buffer.id
    loops = []
    for k, step in enumerate(steps):
        used = set().union(*(_uses(s) for s in step))
        body: list[Stmt] = [Let(local, Load(b, at), dtypes[local.node], "from an earlier loop of the tile")
                            for local, b in crossing.items() if defined_in[local] < k and local in used]
        for s in step:
            body.append(s)
            body += [Store(crossing[local], at, Ref(local), "kept for a later loop of the tile")
                     for local in _defines(s) if local in crossing]
        loops.append(Loop(loop.var, loop.extent, tuple(body), within=tile_var))
    return Loop(tile_var, loop.extent, tuple(loops), loop.inits, step=ROW_TILE, locals=tuple(crossing.values()),
                members=loop.members, note=f"in tiles of {ROW_TILE} rows")


def _tiled(loop: Loop) -> bool:
    """Whether a row loop is worth tiles: short inner loops beside work on the rows themselves."""
    inner = [s for s in loop.body if isinstance(s, Loop)]
    return (loop.var.role == "i" and bool(inner) and len(inner) < len(loop.body)
            and all(s.extent <= ROW_PRODUCT_MAX_COLUMNS for s in inner)
            and not any(isinstance(s, (Loop, IndexValue)) for i in inner for s in walk(i.body))
            and not any(isinstance(s, IndexValue) for s in loop.body))


# --- long bodies -------------------------------------------------------------------------------------------
def _split_body(loop: Loop, buffers: list[Buffer], dtypes: dict[int, str]) -> list[Loop]:
    """A top-level loop whose body is longer than MAX_BODY statements, as several loops over the same
    elements, each of at most MAX_BODY statements; a value one piece computes and a later piece reads is
    kept in a small array over the loop's elements (``spill``). Compilers neither vectorize nor allocate
    registers well in one loop of thousands of statements (a 400-step recurrence over a 4-vector ran 13
    times slower than a 100-step one); pieces of a few hundred statements they handle."""
    if loop.var.role != "i" or len(loop.body) <= MAX_BODY or any(isinstance(s, Loop) for s in loop.body):
        return [loop]
    pieces = [list(loop.body[k:k + MAX_BODY]) for k in range(0, len(loop.body), MAX_BODY)]
    defined_in = {local: k for k, piece in enumerate(pieces) for s in piece for local in _defines(s)}
    read_later: list[set[Local]] = [set() for _ in pieces]  # what each piece reads from earlier ones
    for k, piece in enumerate(pieces):
        read_later[k] = {x for s in piece for x in _uses(s) if defined_in.get(x, k) < k}
    spills: dict[Local, int] = {}
    for local in sorted(set().union(*read_later)):
        spills[local] = len(buffers)
        buffers.append(Buffer(len(buffers), "work", loop.extent, dtypes[local.node], local.node, role="spill"))
    at = Index.of(loop.var)
    loops = []
    for k, piece in enumerate(pieces):
        body: list[Stmt] = [Let(x, Load(spills[x], at), dtypes[x.node], "from an earlier piece of the loop")
                            for x in sorted(read_later[k])]
        for s in piece:
            body.append(s)
            body += [Store(spills[x], at, Ref(x), "kept for a later piece of the loop")
                     for x in _defines(s) if x in spills]
        if k == 0:
            loops.append(dataclasses.replace(loop, body=tuple(body)))
        else:
            loops.append(Loop(loop.var, loop.extent, tuple(body), note=f"the loop above, continued ({k + 1} of "
                                                                        f"{len(pieces)})"))
    return loops


# --- simd -------------------------------------------------------------------------------------------------
def _one_index_per_buffer(body: tuple[Stmt, ...]) -> bool:
    """Whether every buffer the loop writes is read and written at one index only (so iterations touch
    different elements: no dependency between them through memory)."""
    written: dict[int, set[Index]] = {}
    for s in body:
        if isinstance(s, Store):
            written.setdefault(s.buffer, set()).add(s.index)
        elif isinstance(s, Accumulate) and isinstance(s.target, Load):
            written.setdefault(s.target.buffer, set()).add(s.target.index)
    for s in body:
        for a in reads(s):
            if isinstance(a, Load) and a.buffer in written:
                written[a.buffer].add(a.index)
    return all(len(indices) == 1 for indices in written.values())

def _simd(loop: Loop) -> Loop:
    body = tuple(_simd(s) if isinstance(s, Loop) else s for s in loop.body)
    loop = dataclasses.replace(loop, body=body)
    if loop.var.role != "i" or any(isinstance(s, (Loop, IndexValue)) for s in body):
        return loop
    defined = {t for s in body for t in _defines(s)}
    if not _one_index_per_buffer(body):
        return loop
    sums: list[Local] = []
    for s in body:
        if isinstance(s, Accumulate):
            if isinstance(s.target, Ref):
                if s.how != "sum" or s.target.local in defined:
                    return loop
                if s.target.local not in sums:
                    sums.append(s.target.local)
            elif not s.target.index.coefficient(loop.var):
                return loop
        elif isinstance(s, Store) and not s.index.coefficient(loop.var):
            return loop
    return dataclasses.replace(loop, simd=tuple(sums))


# --- blocked sums -----------------------------------------------------------------------------------------
def _blocked_sums(loop: Loop) -> Loop:
    """A long top-level loop with running sums, the sums taken block by block: each block of SUM_BLOCK
    elements (or each tile) sums into a partial of its own, added to the running total after the block.
    The rounding error of a sum of n terms then grows with n / SUM_BLOCK + SUM_BLOCK / lanes instead of
    with n, and the block's loop still vectorizes."""
    sums = [init for init in loop.inits if isinstance(init, Init) and init.how == "sum"]
    if not sums or (loop.step == 1 and loop.extent <= SUM_BLOCK) or loop.var.role not in ("i", "r"):
        return loop
    partial = {init.target: Local(init.target.node, "block") for init in sums}

    def rename(a: object) -> object:
        return Ref(partial[a.local]) if isinstance(a, Ref) and a.local in partial else a

    def renamed(statement: Stmt) -> Stmt:
        statement = rewrite(statement, rename)
        if isinstance(statement, Loop):
            body = tuple(renamed(x) for x in statement.body)
            simd = None if statement.simd is None else tuple(partial.get(t, t) for t in statement.simd)
            return dataclasses.replace(statement, body=body, simd=simd)
        return statement

    starts = tuple(Init(partial[init.target], "sum", init.dtype, "this block's sum, from 0") for init in sums)
    totals = tuple(Accumulate(Ref(init.target), "sum", Ref(partial[init.target]), init.dtype,
                              "the block's sum added to the whole") for init in sums)
    if loop.step != 1:  # a tiled loop: each tile is a block
        body = starts + tuple(renamed(x) for x in loop.body) + totals
        return dataclasses.replace(loop, body=body)
    block = Var(0, "r", 0)
    inner = renamed(dataclasses.replace(loop, inits=(), within=block, members=(), note=""))
    return dataclasses.replace(loop, var=block, step=SUM_BLOCK, body=starts + (inner,) + totals,
                               simd=None, note=loop.note or f"sums taken in blocks of {SUM_BLOCK}")


# --- parts ------------------------------------------------------------------------------------------------
def _parts(loop: Loop, threads: int, buffers: dict[int, Buffer]) -> int:
    """How many threads share a top-level loop: one unless it is long and its running values combine."""
    if threads <= 1 or loop.var.role not in ("i", "r"):
        return 1
    if any(isinstance(s, IndexValue) for s in walk(loop.body)):
        return 1
    for init in loop.inits:
        if isinstance(init, Fill) and buffers[init.buffer].size > MAX_PART_SUMS:
            return 1
    filled = {init.buffer for init in loop.inits if isinstance(init, Fill)}
    accumulated = {init.target for init in loop.inits if isinstance(init, Init)}
    for s in walk(loop.body):
        if isinstance(s, Accumulate) and isinstance(s.target, Load) and s.target.buffer not in filled:
            return 1
        if isinstance(s, Accumulate) and isinstance(s.target, Ref) and s.target.local not in accumulated \
                and not any(s.target.local in _defines(x) for x in walk(loop.body)):
            return 1
    return max(1, min(threads, MAX_PARTS, loop.extent // PART_MIN_ELEMENTS))


def _shared(loop: Loop, parts: int, buffers: list[Buffer]) -> Loop:
    """``loop`` run by ``parts`` threads: its elements in as many ranges of whole steps, as even as they
    go, and what it reads from outside itself, handed to each thread (locals, then arrays other than
    constants, tiles and the running arrays the parts keep for themselves)."""
    chunk = -(-loop.extent // parts // loop.step) * loop.step
    bounds = [min(n * chunk, loop.extent) for n in range(parts)] + [loop.extent]
    defined = {t.target for t in loop.inits if isinstance(t, Init)}
    defined |= {x.target for x in walk(loop.body) if isinstance(x, (Let, Init, IndexValue))}
    free = {a.local: None for x in walk(loop.body) for a in reads(x) if isinstance(a, Ref) and a.local not in defined}
    running = {init.buffer for init in loop.inits if isinstance(init, Fill)}
    kinds = {b.id: b.kind for b in buffers}
    arrays = [b for b in sorted(buffers_used(loop.body)) if kinds[b] not in ("const", "tile") and b not in running]
    return dataclasses.replace(loop, ranges=tuple((bounds[n], bounds[n + 1]) for n in range(parts)),
                               shared=(*free, *arrays))


def _finish(statements: tuple[Stmt, ...], threads: int, buffers: list[Buffer], dtypes: dict[int, str]
            ) -> tuple[Stmt, ...]:
    out: list[Stmt] = []
    for statement in statements:
        if not isinstance(statement, Loop):
            out.append(statement)
            continue
        for s in _split_body(_collapse(statement), buffers, dtypes):
            if _tiled(s):
                s = _tile(s, buffers, dtypes)
            s = _blocked_sums(_simd(s))
            parts = _parts(s, threads, {b.id: b for b in buffers}) if threads > 1 else 1
            out.append(_shared(s, parts, buffers) if parts > 1 else s)
    return tuple(out)


def finish_loops(program: Program, *, threads: int = 1) -> Program:
    """``program`` with its nests collapsed, row loops tiled, inner loops marked for SIMD and long loops
    shared by up to ``threads`` threads (not in a program split into parts)."""
    buffers = list(program.buffers)
    dtypes = {n.id: n.dtype for n in program.graph.nodes}
    body = _finish(program.body, threads if not program.parts else 1, buffers, dtypes)
    parts = tuple(_finish(part, 1, buffers, dtypes) for part in program.parts)
    return dataclasses.replace(program, body=body, parts=parts, buffers=tuple(buffers))
