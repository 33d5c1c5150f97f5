"""Helpers of the build-layer tests: a tiny kernel, and running it in a fresh Python process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import gradgen.build

REPO = Path(gradgen.build.__file__).resolve().parents[2]

ADD1_SOURCE = "double add1(double x) { return x + 1.0; }\n"
ADD1_CDEF = "double add1(double x);"

# A child process builds add1 and prints what happened as JSON on its last line. The
# gradgen package is timed apart from gradgen.build: its import is the core's business.
BUILD_ADD1 = f"""
import json, time
start = time.perf_counter()
import gradgen
package = time.perf_counter()
from gradgen.build import build_module
imported = time.perf_counter()
module = build_module({ADD1_SOURCE!r}, {ADD1_CDEF!r})
done = time.perf_counter()
print(json.dumps({{"built": module.built, "value": module.lib.add1(41.0), "key": module.key,
                  "package_s": package - start, "import_s": imported - package, "load_s": done - imported}}))
"""


def child_env(**env: str) -> dict[str, str]:
    """This process's environment plus ``env``, with this checkout's gradgen importable."""
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path, **env}


def python_command(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def run_python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a new interpreter, with ``env`` added to the environment."""
    return subprocess.run(python_command(code), env=child_env(**env), capture_output=True, text=True, timeout=120)


def last_json(stdout: str) -> dict:
    """The JSON object a child printed last."""
    return json.loads(stdout.strip().splitlines()[-1])


def run_json(code: str, **env: str) -> dict:
    """Run ``code`` in a new interpreter and return the JSON it printed last; fail on a non-zero exit."""
    run = run_python(code, **env)
    assert run.returncode == 0, run.stderr
    return last_json(run.stdout)
