"""The measurement environment: thread limits, and what to record about the machine and packages."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path

THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS")
LIMIT_VARIABLE = "BENCH_THREADS"
XLA_ONE_THREAD = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
PACKAGES = (
    "gradgen-compiler",
    "numpy",
    "cffi",
    "sympy",
    "jax",
    "jaxlib",
    "torch",
    "numba",
    "autograd",
    "casadi",
    "micrograd",
)


def limit_threads(threads: int) -> None:
    """Limit the thread pools of NumPy's BLAS, PyTorch and XLA in processes started from now on.

    ``threads`` 0 leaves the environment as it is. Must run before those libraries are imported.
    """
    if threads <= 0:
        return
    os.environ[LIMIT_VARIABLE] = str(threads)
    for variable in THREAD_VARIABLES:
        os.environ[variable] = str(threads)
    if threads == 1:
        os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {XLA_ONE_THREAD}".strip()


def thread_limit() -> int | None:
    """The limit set by ``limit_threads``, for libraries configured by a call (PyTorch)."""
    value = os.environ.get(LIMIT_VARIABLE)
    return int(value) if value else None


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _compiler() -> str:
    compiler = os.environ.get("CC", "cc")
    try:
        output = subprocess.run([compiler, "--version"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return "none"
    return output.splitlines()[0] if output else "unknown"


def _version(package: str) -> str | None:
    """The installed version; gradgen run from its checkout reports its own, with the commit."""
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        pass
    if package != "gradgen-compiler":
        return None
    try:
        import gradgen
    except Exception:  # a broken checkout still gets benchmarked; its rows say why
        return None
    return f"{getattr(gradgen, '__version__', '?')} ({_commit()})"


def _commit() -> str:
    """The checkout's commit, marked when the work tree has changes."""
    root = Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True)
        status = subprocess.run(["git", "status", "--porcelain"], cwd=root, capture_output=True, text=True)
    except OSError:
        return "no git"
    return commit.stdout.strip() + ("+changes" if status.stdout.strip() else "")


def describe() -> dict[str, object]:
    """Machine, threads and package versions (None for a package that is not installed)."""
    versions = {package: _version(package) for package in PACKAGES}
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "compiler": _compiler(),
        "threads": {variable: os.environ.get(variable) for variable in (*THREAD_VARIABLES, "XLA_FLAGS")},
        "packages": versions,
    }
