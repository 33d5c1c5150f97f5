"""Where each array lives in the workspace: a block per buffer, reused once nothing reads it any more.

Lifetimes are measured in top-level statements (a loop nest is one): a
buffer is live from the first statement that touches it to the last, and
its block returns to the free list after that, for a later buffer that fits.
"""

from __future__ import annotations

import dataclasses

from gradgen.schedule.program import Program, buffers_used


def plan_workspace(program: Program) -> Program:
    """``program`` with an offset for every workspace buffer and its workspace size (in doubles)."""
    first: dict[int, int] = {}
    last: dict[int, int] = {}
    statements = list(program.body) + [s for part in program.parts for s in part]
    for position, statement in enumerate(statements):
        for b in buffers_used((statement,)):
            first.setdefault(b, position)
            last[b] = position
    work = [b for b in program.buffers if b.kind in ("work", "slots") and b.id in first]
    free: list[tuple[int, int]] = []  # (offset, size) of dead blocks
    live: list[tuple[int, int, int]] = []  # (last use, offset, size)
    offsets: dict[int, int] = {}
    top = 0
    for b in sorted(work, key=lambda b: (first[b.id], b.id)):
        start = first[b.id]
        for entry in [e for e in live if e[0] < start]:
            live.remove(entry)
            free.append((entry[1], entry[2]))
        fits = [block for block in free if block[1] >= b.size]
        if fits and b.kind == "work":
            block = min(fits, key=lambda blk: blk[1])
            free.remove(block)
            offset = block[0]
            if block[1] > b.size:
                free.append((offset + b.size, block[1] - b.size))
        else:
            offset, top = top, top + b.size
        offsets[b.id] = offset
        live.append((last[b.id], offset, b.size))
    buffers = tuple(dataclasses.replace(b, offset=offsets[b.id]) if b.id in offsets else b
                    for b in program.buffers)
    return dataclasses.replace(program, buffers=buffers, work_size=top)
