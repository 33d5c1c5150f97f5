"""The process that sets up and times systems for one workload size, driven by the suite.

It reads one JSON request per line on stdin and answers one JSON line each:

- ``{"op": "setup", "system", "workload", "size"}``: prepare, call once, check
  against the reference; answers ``status`` ("ok", "n/a", "unavailable" or
  "FAILED"), ``detail``, ``note``, ``import_s`` (the system's package) and
  ``setup_s`` (prepare plus first call);
- ``{"op": "autorange", "system", "target"}``: warm up; answers ``number``;
- ``{"op": "time", "system", "number"}``: answers ``seconds`` per call.

Running it in its own process lets the suite stop a set-up that runs past its
time limit, and survive a peer that crashes. Anything printed by the systems
goes to stderr, so that stdout carries only the answers.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import sys
import traceback
from functools import lru_cache
from time import perf_counter
from typing import Any, Optional, TextIO

from bench import check, timing
from bench.systems import SYSTEMS, NotApplicable, Prepared, System, Unavailable
from bench.workloads import WORKLOADS, Inputs, Result, Workload

SetUp = tuple[dict[str, Any], Optional[Prepared]]


@lru_cache(maxsize=1)
def problem(workload: Workload, size: int) -> tuple[Inputs, Result]:
    """The inputs of one size, shared by every system, and the reference computed on a copy of them."""
    return workload.make(size), workload.numpy_by_hand(**workload.make(size))


def _import(system: System) -> float:
    """Seconds to import the system's package (and its ``preload``), which set-up times leave out."""
    start = perf_counter()
    for module in (system.requires, *system.preload) if system.requires else system.preload:
        with contextlib.suppress(Exception):  # prepare reports a package that does not import
            importlib.import_module(module)
    return perf_counter() - start


def set_up(system: System, workload: Workload, size: int) -> SetUp:
    """Import the system, prepare it for one size of ``workload``, call it once and check the result.

    Returns the answer for the suite, whose ``setup_s`` leaves out the import (``import_s``),
    and the prepared step (None unless the status is "ok").
    """
    inputs, reference = problem(workload, size)
    import_s = _import(system)
    start = perf_counter()
    try:
        prepared = system.prepare(workload, dict(inputs))
        result = prepared.step()
    except NotApplicable as exc:
        return {"status": "n/a", "detail": str(exc)}, None
    except Unavailable as exc:
        return {"status": "unavailable", "detail": str(exc)}, None
    except Exception as exc:
        traceback.print_exc()
        return {"status": "FAILED", "detail": f"{type(exc).__name__}: {exc}"}, None
    times = {"setup_s": perf_counter() - start, "import_s": import_s}
    failure = None if prepared.unpack is None else check.mismatch(prepared.unpack(result), reference, workload.wrt)
    if failure:
        return {"status": "FAILED", "detail": failure, **times}, None
    return {"status": "ok", "detail": "", "note": prepared.note, **times}, prepared


def _answer(request: dict[str, Any], prepared: dict[str, Prepared]) -> dict[str, Any]:
    if request["op"] == "setup":
        answer, step = set_up(SYSTEMS[request["system"]], WORKLOADS[request["workload"]], request["size"])
        if step is not None:
            prepared[request["system"]] = step
        return answer
    step = prepared[request["system"]].step
    if request["op"] == "autorange":
        return {"number": timing.autorange(step, request["target"])}
    return {"seconds": timing.time_batch(step, request["number"])}


def protocol_stdout() -> TextIO:
    """A private copy of stdout for the answers; fd 1 itself is pointed at stderr."""
    answers = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    return answers


def serve() -> None:
    """Answer requests until stdin closes."""
    answers = protocol_stdout()
    prepared: dict[str, Prepared] = {}
    for line in sys.stdin:
        try:
            answer = _answer(json.loads(line), prepared)
        except Exception as exc:
            traceback.print_exc()
            answer = {"status": "FAILED", "detail": f"{type(exc).__name__}: {exc}"}
        answers.write(json.dumps(answer) + "\n")
        answers.flush()


if __name__ == "__main__":
    serve()
