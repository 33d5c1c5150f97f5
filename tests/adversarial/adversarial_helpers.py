"""Helpers of the adversarial tests: small kernels, fake compilers, child interpreters (the build-cache
tests), and specs read off example values (the loop tests)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

import gradgen as gg
import gradgen.build

REPO = Path(gradgen.build.__file__).resolve().parents[2]
REAL_CC = shutil.which("cc") or shutil.which("gcc") or "cc"

ADD1_SOURCE = "double add1(double x) { return x + 1.0; }\n"
ADD1_CDEF = "double add1(double x);"


def kernel(n: int) -> tuple[str, str]:
    """The source and cdef of a tiny kernel ``f(x) = x + n``, a different cache entry for each ``n``."""
    return f"double f(double x) {{ return x + {n}.0; }}\n", "double f(double x);"


def fake_cc(directory: Path, body: str) -> Path:
    """A shell script standing for the C compiler: ``body``, with $REAL_CC the real compiler."""
    script = directory / "fake-cc"
    script.write_text(f"#!/bin/sh\nREAL_CC={REAL_CC}\n{body}\n")
    script.chmod(0o755)
    return script


def run_python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a new interpreter that imports this checkout's gradgen, with ``env`` added."""
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    return subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "PYTHONPATH": path, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def is_gone(pid: int) -> bool:
    """Whether process ``pid`` has ended (a zombie waiting for its parent counts as ended)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True


def specs_of(values: dict) -> dict:
    """A spec per example value: its shape, and float32, int64 or float64 as its dtype says."""
    specs = {}
    for name, value in values.items():
        dtype = np.asarray(value).dtype
        specs[name] = gg.Array(np.shape(value), "float32" if dtype == np.float32 else "int64" if dtype.kind == "i"
                               else "float64")
    return specs
