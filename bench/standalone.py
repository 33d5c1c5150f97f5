"""What the standalone benchmark scripts (second_order, decompositions, data_parallel, train_digits)
share: their command line (integer options with defaults, and --out), how they time (interleaved rounds,
medians) and how they report (print the table, write it to --out)."""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Callable, Hashable, Mapping
from pathlib import Path
from typing import Any

from bench.timing import autorange, time_batch


def options(doc: str, argv: list[str] | None, **defaults: int) -> argparse.Namespace:
    """``--name N`` for each default, and ``--out PATH``, parsed from ``argv``."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    for name, value in defaults.items():
        parser.add_argument(f"--{name}", type=int, default=value)
    parser.add_argument("--out", default="", help="also write the table to this Markdown file")
    return parser.parse_args(argv)


def publish(lines: list[str], out: str) -> None:
    """Print the report and, with ``out``, write it there."""
    text = "\n".join(lines) + "\n"
    print(text)
    if out:
        Path(out).write_text(text)


def interleaved_medians(steps: Mapping[Hashable, Callable[[], Any]], rounds: int) -> dict[Hashable, float]:
    """Seconds per call of each step: batches auto-ranged to 50 ms, every step once in every round (so
    drift in the machine's speed falls on all alike), the median over the rounds."""
    numbers = {key: autorange(step, 0.05) for key, step in steps.items()}
    seconds: dict[Hashable, list[float]] = {key: [] for key in steps}
    for _ in range(rounds):
        for key, number in numbers.items():
            seconds[key].append(time_batch(steps[key], number))
    return {key: statistics.median(values) for key, values in seconds.items()}
