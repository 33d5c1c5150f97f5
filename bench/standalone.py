"""What the standalone benchmark scripts (second_order, data_parallel, train_digits) share: their
command line (integer options with defaults, and --out) and how they report (print the table, write it
to --out)."""

from __future__ import annotations

import argparse
from pathlib import Path


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
