"""Large programs: scalars in slots, repeated statements rolled back into loops, and parts.

A graph built by a Python loop (a chain of layers, an unrolled recurrence, a
time-stepping integrator) reaches the schedule as thousands of top-level
statements that differ only in which values they read and write. Compilers
spend super-linear time on such code. So, above ``SLOTS_ABOVE`` top-level
statements:

1. every top-level scalar lives in a slot of one array (``slots``), so that
   the statements of one step differ from the next only in numbers: the
   slots and array elements they touch;
2. each run of at least ``MIN_REPEATS`` blocks of statements that are the
   same but for those numbers, each advancing by a fixed step from one block
   to the next, becomes a loop (the numbers are data, compared as numbers:
   nothing is parsed back from text);
3. what remains is split into parts of ``CHUNK`` statements, one function
   each, as compilers also take super-linear time on one huge function.
"""

from __future__ import annotations

import dataclasses

from gradgen.schedule.program import (
    Accumulate,
    Apply,
    Call,
    Index,
    IndexValue,
    Load,
    Loop,
    Program,
    Ref,
    Stmt,
    Store,
    Var,
    rewrite,
)

SLOTS_ABOVE = 2000


def large(top_level_items: int) -> bool:
    """Whether a program of this many top-level statements keeps its scalars in slots and is rolled."""
    return top_level_items > SLOTS_ABOVE
CHUNK = 400
MIN_REPEATS = 4
MAX_PERIOD = 4096
#: How many earlier repeats of a statement are tried as the start of the next block.
CANDIDATES = 64

Unit = list[Stmt]


def _units(program: Program) -> list[Unit]:
    """The top level as units: each statement, a loop with the stores of its running values into slots."""
    units: list[Unit] = []
    for statement in program.body:
        if units and isinstance(units[-1][-1], IndexValue):  # an index check and the statement reading it
            units[-1].append(statement)
        elif (isinstance(statement, Store) and isinstance(statement.value, Ref) and units
                and isinstance(units[-1][0], Loop)):
            units[-1].append(statement)
        else:
            units.append([statement])
    return units


def _atom_key(a: object, numbers: list[int]) -> object:
    if isinstance(a, Load):
        numbers.append(a.index.offset)
        return ("load", a.buffer, a.index.terms)
    return a


def _template(statement: Stmt) -> tuple[object, tuple[int, ...]]:
    """(the statement with its numbers blanked, the numbers), or (a key matching nothing, ())."""
    numbers: list[int] = []
    if isinstance(statement, Store):
        head: tuple = ("store", statement.buffer, statement.index.terms)
        numbers.append(statement.index.offset)
    elif isinstance(statement, Accumulate) and isinstance(statement.target, Load):
        head = ("add", statement.how, _atom_key(statement.target, numbers), statement.dtype)
    else:
        return ("unique", id(statement)), ()
    value = statement.value
    if isinstance(value, Apply):
        body: object = (value.op, value.attrs, value.dtype, tuple(_atom_key(a, numbers) for a in value.args))
    else:
        body = _atom_key(value, numbers)
    return (head, body), tuple(numbers)


def _roll_run(block: list[Stmt], numbers: list[tuple[int, ...]], steps: list[tuple[int, ...]], repeats: int,
              var: Var) -> Loop:
    body = []
    for statement, start, step in zip(block, numbers, steps):
        values = iter(zip(start, step))

        def advance(index: Index, values: object = values) -> Index:
            first, delta = next(values)
            return Index(first, ((var, delta),) if delta else ())

        body.append(rewrite(statement, index=advance))
    return Loop(var, repeats, tuple(body), note=f"{len(block)} statement(s) repeated {repeats} times, "
                                               "the values they touch advancing each round")


def roll(units: list[Unit]) -> list[Unit]:
    """``units`` with every run of repeated single statements written as a loop."""
    keys: dict[object, int] = {}
    ids, numbers = [], []
    for unit in units:
        key, nums = _template(unit[0]) if len(unit) == 1 else (("unique", id(unit)), ())
        ids.append(keys.setdefault(key, len(keys)))
        numbers.append(nums)
    occurrences: dict[int, list[int]] = {}
    rank = []
    for position, key in enumerate(ids):
        rank.append(len(occurrences.setdefault(key, [])))
        occurrences[key].append(position)
    out: list[Unit] = []
    i, n = 0, len(units)
    var = Var(0, "m", 0)
    while i < n:
        best: tuple[int, int, list[tuple[int, ...]]] | None = None
        for j in occurrences[ids[i]][rank[i] + 1:rank[i] + 1 + CANDIDATES]:
            period = j - i
            if period > MAX_PERIOD or i + MIN_REPEATS * period > n:
                break
            if ids[i:i + period] != ids[j:j + period]:
                continue
            steps = [tuple(b - a for a, b in zip(numbers[i + t], numbers[j + t])) for t in range(period)]
            repeats = 2
            if best is not None and period % best[0] == 0:
                # A run of period p repeats with period k * p over the same stretch: start past it.
                repeats = max(2, best[0] * best[1] // period)
            while i + (repeats + 1) * period <= n and ids[i:i + period] == ids[i + repeats * period:
                                                                                i + (repeats + 1) * period] \
                    and all(tuple(b - a for a, b in zip(numbers[i + (repeats - 1) * period + t],
                                                        numbers[i + repeats * period + t])) == steps[t]
                            for t in range(period)):
                repeats += 1
            if repeats >= MIN_REPEATS and (best is None or repeats * period > best[0] * best[1]):
                best = (period, repeats, steps)
        if best is None:
            out.append(units[i])
            i += 1
            continue
        period, repeats, steps = best
        block = [units[i + t][0] for t in range(period)]
        out.append([_roll_run(block, numbers[i:i + period], steps, repeats, var)])
        i += period * repeats
    return out


def shrink(program: Program) -> Program:
    """A program with slots (more than ``SLOTS_ABOVE`` top-level statements planned: see ``large``) with
    its repeated statements rolled and what is left split into parts; a smaller one as it is."""
    if not any(b.kind == "slots" for b in program.buffers):
        return program
    units = roll(_units(program))
    if sum(len(u) for u in units) <= CHUNK:
        return dataclasses.replace(program, body=tuple(s for u in units for s in u))
    parts: list[list[Stmt]] = [[]]
    for unit in units:
        if len(parts[-1]) >= CHUNK:
            parts.append([])
        parts[-1].extend(unit)
    return dataclasses.replace(program, body=tuple(Call(k) for k in range(len(parts))),
                               parts=tuple(tuple(p) for p in parts))
