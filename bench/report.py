"""The results as Markdown tables of medians, first-gradient (build) times and ratios, and their failures."""

from __future__ import annotations

from typing import Any

from bench.systems import SYSTEMS
from bench.workloads import WORKLOADS

Results = dict[str, Any]
DETAIL_WIDTH = 90
"""Characters of an explanation shown in a table cell."""


def seconds(value: float) -> str:
    """A duration with three significant digits in a readable unit."""
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if value >= scale:
            return f"{value / scale:.3g} {unit}"
    return f"{value * 1e9:.3g} ns"


def _status(outcome: dict[str, Any]) -> str:
    """Why there is no time, on one line of a table (the JSON keeps the whole message)."""
    status, detail = outcome["status"], outcome.get("detail", "").strip()
    detail = detail.splitlines()[0].replace("|", "\\|") if detail else ""
    if len(detail) > DETAIL_WIDTH:
        detail = detail[: DETAIL_WIDTH - 1] + "…"
    if status == "timeout":
        return detail
    if status == "FAILED":
        return f"**FAILED**: {detail}"
    return f"{status}: {detail}" if detail else status


def _ratio(value: float, base: float | None) -> str:
    return f"{value / base:.2f}" if base else ""


def _best(outcomes: dict[str, dict[str, Any]], role: str) -> float | None:
    medians = [o["median"] for name, o in outcomes.items() if "median" in o and SYSTEMS[name].role == role]
    return min(medians) if medians else None


def _by_hand(outcomes: dict[str, dict[str, Any]]) -> float | None:
    """The hand-written baseline: pure Python where it applies, else NumPy."""
    for name in ("python by hand", "numpy by hand"):
        if "median" in outcomes.get(name, {}):
            return outcomes[name]["median"]
    return None


def _first_gradient(cell: dict[str, Any], name: str) -> str:
    """The system's time to first gradient in this cell, why there is none, or blank where it was not probed."""
    outcome = cell.get("first_gradient", {}).get(name)
    if outcome is None:
        return ""
    return seconds(outcome["setup_s"]) if outcome["status"] == "ok" else _status(outcome)


def cell_table(cell: dict[str, Any]) -> list[str]:
    """One workload size: a row per system, medians, first gradient and ratios, or why there is no time."""
    outcomes = cell["systems"]
    floor, best_peer, by_hand = _best(outcomes, "floor"), _best(outcomes, "peer"), _by_hand(outcomes)
    lines = [
        f"### {WORKLOADS[cell['workload']].describe(cell['size'])}",
        "",
        "| system | median | first gradient | min – max | × floor | × best peer | × by hand | set-up |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, outcome in outcomes.items():
        label = f"{name} ({outcome['note']})" if outcome.get("note") else name
        if "median" not in outcome:
            lines.append(f"| {label} | {_status(outcome)} | {_first_gradient(cell, name)} | | | | | |")
            continue
        median = outcome["median"]
        cells = [
            seconds(median),
            _first_gradient(cell, name),
            f"{seconds(outcome['min'])} – {seconds(outcome['max'])}",
            _ratio(median, floor),
            _ratio(median, best_peer),
            _ratio(median, by_hand),
            seconds(outcome["setup_s"]),
        ]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return [*lines, ""]


def first_gradient_tables(cells: list[dict[str, Any]]) -> list[str]:
    """For each workload measured at several sizes, the time to first gradient with a column per size.

    A system not probed at a size (its set-up did not pass) shows why, from the timing.
    """
    lines: list[str] = []
    for workload in dict.fromkeys(cell["workload"] for cell in cells):
        sized = [cell for cell in cells if cell["workload"] == workload and cell.get("first_gradient")]
        if len(sized) < 2:
            continue
        names = [name for name in SYSTEMS if any(name in cell["first_gradient"] for cell in sized)]
        label = WORKLOADS[workload].size_label
        header = " | ".join(f"{label} = {cell['size']:,}" for cell in sized)
        lines += [
            f"### {workload}: time to first gradient (fresh process, empty caches; trace, differentiate, generate, "
            "build, first call; imports excluded)",
            "",
            f"| system | {header} |",
            "|---|" + "---:|" * len(sized),
        ]
        for name in names:
            row = [
                _first_gradient(cell, name) or _status(cell["systems"].get(name, {"status": "not measured"}))
                for cell in sized
            ]
            lines.append(f"| {name} | " + " | ".join(row) + " |")
        lines.append("")
    return lines


def markdown(results: Results) -> str:
    """The whole report: when, where, with what, then a table per workload size."""
    environment, settings = results["environment"], results["settings"]
    threads = environment["threads"].get("OMP_NUM_THREADS") or "not limited"
    versions = ", ".join(f"{name} {version}" for name, version in environment["packages"].items() if version)
    lines = [
        f"## Benchmarks, {results['date']}",
        "",
        f"- machine: {environment['cpu']}, {environment['cores']} cores, {environment['platform']}; "
        f"Python {environment['python']}; {environment['compiler']}",
        f"- threads per library: {threads}",
        f"- packages: {versions}",
        f"- mode: {results['mode']}: {settings['rounds']} rounds of batches of at least "
        f"{seconds(settings['target'])}, systems interleaved; set-up limit {settings['timeout']:g} s",
        f"- command: `{results['command']}`",
        "",
        "Medians per value-and-gradient call, with min and max over the rounds; ratios to the floor, "
        "to the fastest peer (gradgen rows are not peers) and to the hand-written baseline (pure Python "
        "where it applies, else NumPy); first gradient is the build time: from nothing to the first checked "
        "gradient (trace, differentiate, generate, build, first call; imports excluded) in a fresh process "
        "with empty build caches; set-up is preparing plus the first call, imports excluded, "
        "in the timing process (whose caches may be warm).",
        "",
    ]
    for cell in results["cells"]:
        lines += cell_table(cell)
    lines += first_gradient_tables(results["cells"])
    return "\n".join(lines)


def failures(results: Results) -> list[str]:
    """Every FAILED outcome, as 'workload size system: detail'."""
    found = []
    for cell in results["cells"]:
        for section in ("systems", "first_gradient"):
            for name, outcome in cell.get(section, {}).items():
                if outcome["status"] == "FAILED":
                    found.append(f"{cell['workload']} {cell['size']} {name}: {outcome['detail']}")
    return found
