"""Time to first gradient, run by the suite in a fresh process with empty build caches.

``python -m bench.first_gradient SYSTEM WORKLOAD SIZE`` prints one JSON line,
the answer of ``bench.worker.set_up``: its ``setup_s`` is the time from nothing
to the first checked gradient (trace, differentiate, generate, build, first
call), after importing the system's package (``import_s``).
"""

from __future__ import annotations

import json
import sys

from bench.systems import SYSTEMS
from bench.worker import protocol_stdout, set_up
from bench.workloads import WORKLOADS


def main(system_name: str, workload_name: str, size: int) -> None:
    """Set the system up once and print the answer."""
    answers = protocol_stdout()
    answer, _ = set_up(SYSTEMS[system_name], WORKLOADS[workload_name], size)
    answers.write(json.dumps(answer) + "\n")
    answers.flush()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
