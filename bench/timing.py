"""Timing one prepared step: auto-ranged batches (as ``timeit`` does) and their summary.

The garbage collector stays on: systems that allocate many objects per call
pay for collecting them, as their users do.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from time import perf_counter
from typing import Any


def time_batch(step: Callable[[], Any], number: int) -> float:
    """Seconds per call over ``number`` consecutive calls."""
    start = perf_counter()
    for _ in range(number):
        step()
    return (perf_counter() - start) / number


def autorange(step: Callable[[], Any], target: float) -> int:
    """The smallest ``number`` in 1, 2, 5, 10, 20, 50, ... whose batch takes at least ``target`` seconds.

    Running it is also the warm-up.
    """
    base = 1
    while True:
        for number in (base, 2 * base, 5 * base):
            if time_batch(step, number) * number >= target:
                return number
        base *= 10


def summarize(seconds: list[float]) -> dict[str, float]:
    """Median, min and max of the per-call times of the rounds."""
    return {"median": statistics.median(seconds), "min": min(seconds), "max": max(seconds)}
