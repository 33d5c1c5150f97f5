"""Loop rolling: turn runs of repeated statements back into C loops.

A graph built by a Python loop (a chain of layers, an unrolled recurrence)
reaches the C emitter as thousands of statements that differ only in their
array indices, which advance by a fixed step each round. Compilers spend
super-linear time on such code, so the emitter rolls those runs into
``for`` loops: the kernel compiles in a fraction of the time and runs the
same operations in the same order.
"""

from __future__ import annotations

import re

_INDEX = re.compile(r"\[(\d+)\]")
_COMMENT = re.compile(r"\s*/\*.*\*/\s*$")

#: Longest block of statements looked for, and fewest repeats worth a loop.
MAX_PERIOD = 24
MIN_REPEATS = 4


def _split(statement: list[str]) -> tuple[str, tuple[int, ...]]:
    """A one-line statement as (template with indices blanked, the indices); blocks never match."""
    if len(statement) != 1:
        return f"\0block{id(statement)}", ()
    code = _COMMENT.sub("", statement[0])
    return _INDEX.sub("[]", code), tuple(int(n) for n in _INDEX.findall(code))


def _step(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(y - x for x, y in zip(a, b))


def _render(template: str, start: tuple[int, ...], step: tuple[int, ...], var: str) -> str:
    parts = iter(zip(start, step))

    def index(_: re.Match) -> str:
        first, delta = next(parts)
        if delta == 0:
            return f"[{first}]"
        scale = "" if abs(delta) == 1 else f"{abs(delta)} * "
        if first == 0 and delta > 0:
            return f"[{scale}{var}]"
        return f"[{first} {'+' if delta > 0 else '-'} {scale}{var}]"

    return re.sub(r"\[\]", index, template)


def roll(statements: list[list[str]], var: str = "m") -> list[list[str]]:
    """``statements`` with every run of at least MIN_REPEATS repeated blocks written as a loop."""
    items = [_split(s) for s in statements]
    templates = [t for t, _ in items]
    numbers = [n for _, n in items]
    out: list[list[str]] = []
    i, n = 0, len(statements)
    while i < n:
        best: tuple[int, int, list[tuple[int, ...]]] | None = None
        for period in range(1, MAX_PERIOD + 1):
            if i + MIN_REPEATS * period > n:
                break
            if templates[i:i + period] != templates[i + period:i + 2 * period]:
                continue
            steps = [_step(numbers[i + j], numbers[i + period + j]) for j in range(period)]
            repeats = 2
            while i + (repeats + 1) * period <= n and all(
                    templates[i + repeats * period + j] == templates[i + j]
                    and _step(numbers[i + (repeats - 1) * period + j], numbers[i + repeats * period + j]) == steps[j]
                    for j in range(period)):
                repeats += 1
            if repeats >= MIN_REPEATS and (best is None or repeats * period > best[0] * best[1]):
                best = (period, repeats, steps)
        if best is None:
            out.append(statements[i])
            i += 1
            continue
        period, repeats, steps = best
        block = [f"/* {period} statement(s) repeated {repeats} times, indices advancing each round */",
                 f"for (long {var} = 0; {var} < {repeats}; ++{var}) {{"]
        block += ["    " + _render(templates[i + j], numbers[i + j], steps[j], var) for j in range(period)]
        block.append("}")
        out.append(block)
        i += period * repeats
    return out
