"""Running the suite: set-up under a time limit, the check, then timing round by round.

Each workload size is measured in one worker process (``bench.worker``): every
system is set up there in turn, each set-up limited to ``timeout`` seconds (a
worker that overruns is killed and a new one restores the systems set up so
far), and the systems that passed the check are then timed in rounds, each
round calling every system once in a rotated order, so that slow drifts of a
shared machine spread over all of them. Then each system that passed is set up
once more in a fresh process of its own with empty build caches, which gives its
time to first gradient (its build time, beside the per-call time).
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from bench import timing
from bench.systems import System
from bench.workloads import Workload

ROOT = Path(__file__).resolve().parent.parent
Outcome = dict[str, Any]


@dataclass(frozen=True)
class Settings:
    """How long and how often to measure."""

    timeout: float
    """Seconds allowed for one system's set-up (and for a first-gradient probe)."""
    rounds: int
    target: float
    """Seconds one timed batch should take at least."""


class WorkerGone(Exception):
    """The worker process ran out of time ("timeout") or died ("FAILED")."""

    def __init__(self, status: str, detail: str):
        super().__init__(detail)
        self.outcome: Outcome = {"status": status, "detail": detail}


class Worker:
    """A ``bench.worker`` process in its own session, so that it can be killed with its compilers."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            start_new_session=True,
        )

    def request(self, timeout: float | None = None, **message: Any) -> dict[str, Any]:
        """Send one request and wait for its answer, at most ``timeout`` seconds."""
        self.process.stdin.write(json.dumps(message) + "\n")
        self.process.stdin.flush()
        ready, _, _ = select.select([self.process.stdout], [], [], timeout)
        if not ready:
            self.kill()
            raise WorkerGone("timeout", f"set-up > {timeout:g} s")
        line = self.process.stdout.readline()
        if not line:
            self.kill()
            raise WorkerGone("FAILED", f"worker died (exit code {self.process.returncode})")
        return json.loads(line)

    def kill(self) -> None:
        """End the worker and everything it started."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def close(self) -> None:
        """Let the worker finish on end of input; kill it if it does not."""
        self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.kill()


def run_isolated(argv: list[str], timeout: float, env: dict[str, str]) -> dict[str, Any]:
    """Run ``python -m ...argv`` in a new session; its one JSON line, or a timeout or death outcome."""
    process = subprocess.Popen(
        [sys.executable, "-m", *argv],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        return {"status": "timeout", "detail": f"first gradient > {timeout:g} s"}
    if process.returncode != 0 or not output.strip():
        return {"status": "FAILED", "detail": f"probe exited with code {process.returncode}"}
    return json.loads(output.splitlines()[-1])


def installed(system: System) -> bool:
    """Whether the system's package can be found, without importing it."""
    return system.requires is None or find_spec(system.requires) is not None


EMPTY_CACHES = {
    "BENCH_CACHE_DIR": "bench",
    "GRADGEN_CACHE_DIR": "gradgen",
    "TORCHINDUCTOR_CACHE_DIR": "torchinductor",
}
"""The build caches a first-gradient probe starts empty: variable -> its folder in the probe's temporary directory."""


def first_gradients(workload: Workload, size: int, systems: list[System], settings: Settings) -> dict[str, Outcome]:
    """Each system's time from nothing to its first checked gradient, in fresh processes and caches.

    Systems with ``first_gradient`` False are left out.
    """
    outcomes: dict[str, Outcome] = {}
    for system in systems:
        if not system.first_gradient:
            continue
        with tempfile.TemporaryDirectory() as caches:
            env = {**os.environ, **{variable: f"{caches}/{folder}" for variable, folder in EMPTY_CACHES.items()}}
            argv = ["bench.first_gradient", system.name, workload.name, str(size)]
            outcomes[system.name] = run_isolated(argv, settings.timeout, env)
    return outcomes


def _set_up(worker: Worker, system: System, workload: Workload, size: int, settings: Settings) -> Outcome:
    message = {"op": "setup", "system": system.name, "workload": workload.name, "size": size}
    return worker.request(timeout=settings.timeout, **message)


def _set_up_all(
    systems: list[System], workload: Workload, size: int, settings: Settings, known: dict[str, Outcome]
) -> tuple[Worker, dict[str, Outcome]]:
    """Set up every system in one worker; returns the worker holding the ready ones and every outcome."""
    worker = Worker()
    outcomes: dict[str, Outcome] = {}
    for system in systems:
        if not installed(system):
            outcomes[system.name] = {"status": "not installed", "detail": ""}
        elif system.name in known:
            outcomes[system.name] = dict(known[system.name])
        else:
            try:
                outcomes[system.name] = _set_up(worker, system, workload, size, settings)
            except WorkerGone as gone:
                outcomes[system.name] = gone.outcome
                worker = _restored(systems, outcomes, workload, size, settings)
    return worker, outcomes


def _restored(
    systems: list[System], outcomes: dict[str, Outcome], workload: Workload, size: int, settings: Settings
) -> Worker:
    """A new worker with the systems that were ready in the lost one set up again.

    A system that fails to set up again is marked and the restoring starts over without it.
    """
    while True:
        worker = Worker()
        ready = [system for system in systems if outcomes.get(system.name, {}).get("status") == "ok"]
        try:
            for system in ready:
                outcomes[system.name] = _set_up(worker, system, workload, size, settings)
            return worker
        except WorkerGone as gone:
            outcomes[system.name] = {**gone.outcome, "detail": f"set up again: {gone}"}


def _time_rounds(worker: Worker, names: list[str], settings: Settings, outcomes: dict[str, Outcome]) -> None:
    """Warm up and size each batch, then time every system once per round in rotated order."""
    times: dict[str, list[float]] = {name: [] for name in names}
    for name in names:
        outcomes[name]["number"] = worker.request(op="autorange", system=name, target=settings.target)["number"]
    for round_index in range(settings.rounds):
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            answer = worker.request(op="time", system=name, number=outcomes[name]["number"])
            if "seconds" not in answer:
                raise WorkerGone("FAILED", f"timing {name}: {answer.get('detail')}")
            times[name].append(answer["seconds"])
    for name in names:
        outcomes[name].update(times=times[name], **timing.summarize(times[name]))


def measure(
    workload: Workload, size: int, systems: list[System], settings: Settings, known: dict[str, Outcome]
) -> dict[str, Outcome]:
    """Outcomes of every system on one workload size; ``known`` gives outcomes not to measure again."""
    worker, outcomes = _set_up_all(systems, workload, size, settings, known)
    ready = [name for name, outcome in outcomes.items() if outcome["status"] == "ok"]
    try:
        if ready:
            _time_rounds(worker, ready, settings, outcomes)
    except WorkerGone as gone:
        for name in ready:
            if "median" not in outcomes[name]:
                outcomes[name].update(status="FAILED", detail=f"while timing: {gone}")
    finally:
        worker.close()
    return outcomes


def run_workload(workload: Workload, sizes: tuple[int, ...], systems: list[System], settings: Settings) -> list[dict]:
    """Every size of one workload, smallest first; a set-up that ran out of time is not tried at larger sizes.

    After the timing, the first gradient is measured for each system whose set-up passed there:
    the others (n/a, unavailable, not installed, out of time, FAILED) would only say the same again.
    """
    cells = []
    timed_out: dict[str, Outcome] = {}
    for size in sorted(sizes):
        cell: dict[str, Any] = {"workload": workload.name, "kind": workload.kind, "size": size}
        print(f"-- {workload.describe(size)}", file=sys.stderr, flush=True)
        cell["systems"] = measure(workload, size, systems, settings, known=timed_out)
        passed = [system for system in systems if cell["systems"][system.name]["status"] == "ok"]
        cell["first_gradient"] = first_gradients(workload, size, passed, settings)
        for section in ("systems", "first_gradient"):
            _carry_timeouts(cell[section], workload.describe(size), timed_out)
        cells.append(cell)
    return cells


def _carry_timeouts(outcomes: dict[str, Outcome], where: str, timed_out: dict[str, Outcome]) -> None:
    for name, outcome in outcomes.items():
        if outcome["status"] == "timeout" and name not in timed_out:
            timed_out[name] = {"status": "timeout", "detail": f"{outcome['detail']} ({where})"}
