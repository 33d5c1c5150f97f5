"""``python -m bench``: options, the run, and where the results go."""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shlex
import sys
from pathlib import Path

from bench import env

RESULTS = Path(__file__).resolve().parent / "results"


def _names(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


def _sizes(text: str) -> list[int]:
    return [int(size.replace("_", "")) for size in _names(text)]


def _write(path: Path, text: str) -> None:
    """Write whole or not at all: a ``.tmp`` beside the file, then a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".tmp")
    partial.write_text(text + "\n")
    os.replace(partial, path)


def parse(argv: list[str] | None) -> argparse.Namespace:
    """The command line; quick mode changes the defaults of sizes, rounds, batch time and time limit."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--systems", type=_names, help="comma-separated rows to run (default: all)")
    parser.add_argument("--workloads", type=_names, help="comma-separated workloads (default: all)")
    parser.add_argument("--sizes", type=_sizes, help="comma-separated sizes for the array and chain workloads")
    parser.add_argument("--quick", action="store_true", help="smaller sizes, fewer rounds: about 10 minutes")
    parser.add_argument("--timeout", type=float, help="seconds allowed per set-up (default 60, quick 15)")
    parser.add_argument("--rounds", type=int, help="timed rounds per workload size (default 11, quick 5)")
    parser.add_argument("--threads", type=int, default=1, help="threads per library; 0 leaves them unlimited")
    parser.add_argument("--out", type=Path, help="results JSON (default bench/results/<date>.json; .md beside)")
    parser.add_argument("--list", action="store_true", help="list the systems and workloads and exit")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the suite; exit status 1 when any system FAILED its check."""
    args = parse(argv)
    env.limit_threads(args.threads)  # before NumPy is imported, so that workers inherit it
    from bench import report, suite
    from bench.systems import SYSTEMS
    from bench.workloads import WORKLOADS

    if args.list:
        print("systems:", ", ".join(SYSTEMS))
        print("workloads:", ", ".join(WORKLOADS))
        return 0
    unknown = sorted(set(args.systems or ()) - set(SYSTEMS)) + sorted(set(args.workloads or ()) - set(WORKLOADS))
    if unknown:
        raise SystemExit(f"unknown systems or workloads: {', '.join(unknown)} (see --list)")
    systems = [system for name, system in SYSTEMS.items() if args.systems is None or name in args.systems]
    settings = suite.Settings(
        timeout=args.timeout or (15.0 if args.quick else 60.0),
        rounds=args.rounds or (5 if args.quick else 11),
        target=0.02 if args.quick else 0.2,
    )
    cells = []
    for name in args.workloads or WORKLOADS:
        workload = WORKLOADS[name]
        sizes = workload.quick_sizes if args.quick else workload.sizes
        if args.sizes and workload.kind != "scalar":
            sizes = tuple(args.sizes)
        cells += suite.run_workload(workload, sizes, systems, settings)

    now = datetime.datetime.now()
    results = {
        "date": now.strftime("%Y-%m-%d %H:%M"),
        "command": shlex.join(["python", "-m", "bench", *(sys.argv[1:] if argv is None else argv)]),
        "mode": "quick" if args.quick else "full",
        "settings": vars(settings),
        "environment": env.describe(),
        "cells": cells,
    }
    out = args.out or RESULTS / f"{now:%Y-%m-%d}.json"
    text = report.markdown(results)
    _write(out, json.dumps(results, indent=1))
    _write(out.with_suffix(".md"), text)
    print(text)
    print(f"results: {out} and {out.with_suffix('.md')}", file=sys.stderr)
    failed = report.failures(results)
    for failure in failed:
        print(f"FAILED: {failure}", file=sys.stderr)
    return 1 if failed else 0
