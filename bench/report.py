"""The results as JSON and as Markdown tables of medians, ratios and first-gradient times."""

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


def cell_table(cell: dict[str, Any]) -> list[str]:
    """One workload size: a row per system, medians and ratios, or why there is no time."""
    outcomes = cell["systems"]
    floor, best_peer, by_hand = _best(outcomes, "floor"), _best(outcomes, "peer"), _by_hand(outcomes)
    lines = [
        f"### {WORKLOADS[cell['workload']].describe(cell['size'])}",
        "",
        "| system | median | min – max | × floor | × best peer | × by hand | set-up |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, outcome in outcomes.items():
        label = f"{name} ({outcome['note']})" if outcome.get("note") else name
        if "median" not in outcome:
            lines.append(f"| {label} | {_status(outcome)} | | | | | |")
            continue
        median = outcome["median"]
        cells = [
            seconds(median),
            f"{seconds(outcome['min'])} – {seconds(outcome['max'])}",
            _ratio(median, floor),
            _ratio(median, best_peer),
            _ratio(median, by_hand),
            seconds(outcome["setup_s"]),
        ]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return [*lines, ""]


def first_gradient_table(cells: list[dict[str, Any]]) -> list[str]:
    """The chain's time from nothing to the first checked gradient, a column per size."""
    chains = [cell for cell in cells if "first_gradient" in cell]
    if not chains:
        return []
    names = [name for name in SYSTEMS if any(name in cell["first_gradient"] for cell in chains)]
    header = " | ".join(f"n = {cell['size']:,}" for cell in chains)
    lines = [
        "### chain: time to first gradient (fresh process, empty caches; trace, differentiate, generate, "
        "build, first call; imports excluded)",
        "",
        f"| system | {header} |",
        "|---|" + "---:|" * len(chains),
    ]
    for name in names:
        row = []
        for cell in chains:
            outcome = cell["first_gradient"].get(name, {"status": "not measured"})
            row.append(seconds(outcome["setup_s"]) if outcome["status"] == "ok" else _status(outcome))
        lines.append(f"| {name} | " + " | ".join(row) + " |")
    return [*lines, ""]


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
        "where it applies, else NumPy); set-up is preparing plus the first call, imports excluded, "
        "in the timing process.",
        "",
    ]
    for cell in results["cells"]:
        lines += cell_table(cell)
    lines += first_gradient_table(results["cells"])
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
