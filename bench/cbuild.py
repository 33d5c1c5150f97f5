"""Building small C extensions for the floors and the CasADi peer, cached on disk.

Builds go into a per-user directory (``BENCH_CACHE_DIR``, by default in the
temporary directory), named by a hash of their source, built in a private
subdirectory and published with ``os.replace`` so a half-built file is never
loaded. The first-gradient probes point ``BENCH_CACHE_DIR`` at an empty
directory to measure a cold build.
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

CFLAGS = ("-O2", "-fPIC", "-shared")


def cache_dir() -> Path:
    """The build cache, created private to this user."""
    default = Path(tempfile.gettempdir()) / f"gradgen-bench-{os.getuid()}"
    path = Path(os.environ.get("BENCH_CACHE_DIR", default))
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def _key(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]


def _publish(built: Path, target: Path, workdir: Path) -> Path:
    os.replace(built, target)
    shutil.rmtree(workdir, ignore_errors=True)
    return target


def load_cffi(name: str, cdef: str, source: str) -> Any:
    """A cffi API-mode module (``.ffi``, ``.lib``) built from ``source`` (once per source)."""
    import cffi

    module = f"_bench_{name}_{_key(cdef, source, sys.version, cffi.__version__)}"
    target = cache_dir() / (module + importlib.machinery.EXTENSION_SUFFIXES[0])
    if not target.exists():
        workdir = Path(tempfile.mkdtemp(dir=cache_dir()))
        ffi = cffi.FFI()
        ffi.cdef(cdef)
        ffi.set_source(module, source, libraries=["m"], extra_compile_args=["-O2"])
        _publish(Path(ffi.compile(tmpdir=str(workdir))), target, workdir)
    spec = importlib.util.spec_from_file_location(module, target)
    extension = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(extension)
    return extension


def compile_shared(name: str, source: str) -> Path:
    """A shared library built from one C file with the system compiler (once per source).

    Raises ``subprocess.CalledProcessError`` with the compiler's output when the build fails.
    """
    compiler = os.environ.get("CC", "cc")
    target = cache_dir() / f"{name}_{_key(source, compiler, *CFLAGS)}.so"
    if not target.exists():
        workdir = Path(tempfile.mkdtemp(dir=cache_dir()))
        (workdir / f"{name}.c").write_text(source)
        command = [compiler, *CFLAGS, f"{name}.c", "-o", f"{name}.so", "-lm"]
        subprocess.run(command, cwd=workdir, check=True, capture_output=True, text=True)
        _publish(workdir / f"{name}.so", target, workdir)
    return target
