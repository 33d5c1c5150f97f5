"""Find a working C compiler and describe it by a fingerprint for the build cache.

A compiler is probed once: it must compile and link a tiny extension-like
program that includes ``Python.h``, which catches the usual trouble (no
compiler, missing Python headers, broken linker) before any real build. The
verdict is kept for the process, and on disk keyed by the compiler binary's
path, size and modification time (as ccache's ``compiler_check = mtime``
does), so a fresh process that only loads cached kernels starts no compiler
at all.

Every compiler run has a time limit (:func:`build_timeout`, :func:`probe_timeout`);
past it the compiler's whole process group is killed and :class:`CompileError`
says what timed out and how to allow more time.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shlex
import shutil
import sys
import sysconfig
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import CompileError, InputError
from ..version import __version__
from .cache import CacheError, current_dir, read_nofollow, subdir, write_atomic

if TYPE_CHECKING:
    import subprocess

# Bump when a change in gradgen alters the binary built from the same source
# (how the compiler is invoked, the cffi wrapper, the cache layout).
CODEGEN_VERSION = __version__

# -fno-strict-aliasing: a workspace buffer may be viewed through pointers of
#   different types; CPython builds its own extensions with it too.
# -ffp-contract=off: no fused multiply-add, so C rounds like the Python backend
#   (clang contracts by default).
# -fno-math-errno: libm calls need not set errno, which nothing reads; IEEE
#   results, NaN and inf are unchanged (unlike -ffast-math, which is excluded).
# No -march=native: ~/.cache is often on a home directory shared by several
#   machines, and a kernel built for a newer CPU would die there with SIGILL.
DEFAULT_FLAGS = ("-O2", "-std=c99", "-fno-strict-aliasing", "-ffp-contract=off", "-fno-math-errno")

_LINK_FLAGS = ("-bundle", "-undefined", "dynamic_lookup") if sys.platform == "darwin" else ("-shared",)

_PROBE_SOURCE = """\
#include <Python.h>
#include <math.h>
double gg_probe(double x) { return sqrt(x) + (double)PY_MAJOR_VERSION; }
"""

#: Seconds a build (and a wait for another process's build of the same module) may take, and a probe.
DEFAULT_BUILD_TIMEOUT = 600.0
DEFAULT_PROBE_TIMEOUT = 30.0

_FIX = "install a C compiler (e.g. `apt install gcc python3-dev`) or point the CC environment variable at one"


@dataclass(frozen=True)
class Toolchain:
    """A C compiler that is known to build Python extensions.

    ``flags`` are the arguments that follow the program on every command line:
    the words after the program in ``CC`` (so ``CC="ccache gcc"`` works), then
    gradgen's defaults.
    """

    path: str
    version: str
    flags: tuple[str, ...]

    def fingerprint(self) -> str:
        """Everything about the toolchain that affects a built binary, one ``name=value`` per line."""
        import _cffi_backend  # already loaded by any cffi extension; far cheaper than `import cffi`

        parts = {
            "compiler": self.path,
            "compiler_version": self.version,
            "flags": shlex.join(self.flags),
            "codegen": CODEGEN_VERSION,
            "python_abi": sysconfig.get_config_var("EXT_SUFFIX"),
            "cffi": _cffi_backend.__version__,
            "platform": f"{sys.platform}-{os.uname().machine}",
        }
        return "\n".join(f"{name}={value}" for name, value in parts.items())

    def command(
        self,
        source: str,
        output: str,
        *,
        include_dirs: tuple[str, ...] = (),
        libraries: tuple[str, ...] = (),
        extra_args: tuple[str, ...] = (),
    ) -> list[str]:
        """The command line that compiles ``source`` into the Python extension ``output``."""
        includes = [f"-I{d}" for d in (*include_dirs, *_python_include_dirs())]
        libs = [f"-l{lib}" for lib in (*libraries, "m")]
        head = [self.path, *self.flags, *extra_args, "-fPIC", *_LINK_FLAGS]
        return [*head, *includes, source, "-o", output, *libs]


# (CC, PATH) -> what was found for them in this process.
_memo: dict[tuple[str, str], Toolchain | CompileError] = {}


def find_compiler() -> Toolchain | None:
    """Return a working C compiler, or None when there is none.

    ``CC`` is honoured (its first word is the program); otherwise ``cc`` or
    ``gcc`` on ``PATH``. The answer is memoised per value of ``CC`` and ``PATH``.
    """
    try:
        return require_compiler()
    except CompileError:
        return None


def require_compiler() -> Toolchain:
    """Like :func:`find_compiler`, but raise a :class:`CompileError` that says what is wrong."""
    memo_key = (os.environ.get("CC", ""), os.environ.get("PATH", ""))
    if memo_key not in _memo:
        try:
            _memo[memo_key] = _locate_and_probe(*memo_key)
        except CompileError as error:
            _memo[memo_key] = error
    found = _memo[memo_key]
    if isinstance(found, CompileError):
        raise found.with_traceback(None)  # drop the previous raise's traceback instead of growing it
    return found


def build_timeout() -> float:
    """Seconds one compiler run of a build may take: ``GRADGEN_BUILD_TIMEOUT``, default 600.

    Also how long a build waits for another process building the same kernel,
    and the age past which a staging directory left in the cache is stale.
    """
    return _seconds("GRADGEN_BUILD_TIMEOUT", DEFAULT_BUILD_TIMEOUT)


def probe_timeout() -> float:
    """Seconds each compiler run of the probe may take: ``GRADGEN_PROBE_TIMEOUT``, default 30."""
    return _seconds("GRADGEN_PROBE_TIMEOUT", DEFAULT_PROBE_TIMEOUT)


def run_tool(
    command: Sequence[str], *, cwd: str | Path | None, timeout: float, what: str, limit: str
) -> subprocess.CompletedProcess[str]:
    """Run ``command`` in a process group of its own and return what it printed.

    Past ``timeout`` seconds, or if this process is interrupted, the whole
    group (the compiler driver and everything it started) is killed; a timeout
    raises :class:`CompileError` saying that ``what`` timed out and that the
    environment variable ``limit`` sets the limit. A program that cannot be
    started raises :class:`CompileError` too.
    """
    import subprocess

    try:
        process = subprocess.Popen(
            list(command),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
            start_new_session=True,
        )
    except OSError as error:
        raise CompileError(f"cannot run {what} ({error}); {_FIX}") from None
    with process:
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except BaseException as error:
            _kill_group(process)
            if isinstance(error, subprocess.TimeoutExpired):
                raise CompileError(
                    f"{what} did not finish within {timeout:g} s and was stopped; set {limit} to a larger "
                    f"number of seconds to allow more (command: {shlex.join(command)})"
                ) from None
            raise
    return subprocess.CompletedProcess(list(command), process.returncode, stdout, stderr)


def _kill_group(process: subprocess.Popen[str]) -> None:
    import signal

    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass  # it has exited, and so has everything it started


def _seconds(variable: str, default: float) -> float:
    text = os.environ.get(variable, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise InputError(f"{variable} must be a positive number of seconds, got {text!r}")
    return value


def _locate_and_probe(cc: str, search_path: str) -> Toolchain:
    if os.name != "posix":
        raise CompileError(f"gradgen builds C kernels only on POSIX systems, not on {sys.platform!r}")
    words = shlex.split(cc)
    for name in words[:1] or ["cc", "gcc"]:
        path = shutil.which(name, path=search_path)
        if path:
            return _probe(os.path.abspath(path), tuple(words[1:]))
    wanted = f"CC={cc!r}" if words else "cc or gcc on PATH"
    raise CompileError(f"no C compiler found (looked for {wanted}); {_FIX}")


def _probe(path: str, cc_args: tuple[str, ...]) -> Toolchain:
    """Check that the compiler builds an extension and read its version, reusing a verdict kept on disk."""
    program = shlex.join([path, *cc_args])
    unversioned = Toolchain(path, "", (*cc_args, *DEFAULT_FLAGS))
    try:
        identity = _identity(unversioned)
    except OSError as error:
        raise CompileError(f"C compiler {program} cannot be read ({error}); {_FIX}") from None
    root = current_dir()  # None: the cache is not usable yet, so the verdict is not kept
    record = root / "toolchains" / f"{_digest(identity)}.json" if root else None
    if record is not None:
        try:
            saved = json.loads(read_nofollow(record))
            if saved["identity"] == identity:
                return replace(unversioned, version=saved["version"])
        except (OSError, ValueError, KeyError, TypeError):
            pass  # no verdict yet, or an unreadable one: probe again

    import tempfile

    timeout = probe_timeout()
    run = run_tool([path, *cc_args, "--version"], cwd=None, timeout=timeout,
                   what=f"C compiler {program} --version", limit="GRADGEN_PROBE_TIMEOUT")
    lines = (run.stdout or run.stderr).strip().splitlines()
    if run.returncode != 0 or not lines:
        raise CompileError(f"C compiler {program} does not answer --version; {_FIX}", output=run.stderr)
    toolchain = replace(unversioned, version=lines[0])
    try:
        with tempfile.TemporaryDirectory(prefix="gradgen-probe-") as scratch:
            Path(scratch, "probe.c").write_text(_PROBE_SOURCE)
            run = run_tool(toolchain.command("probe.c", "probe.so"), cwd=scratch, timeout=timeout,
                           what=f"C compiler {program} building a test extension", limit="GRADGEN_PROBE_TIMEOUT")
    except OSError as error:
        raise CompileError(
            f"cannot write the compiler's test program in {tempfile.gettempdir()} ({error}); "
            "free space there or point TMPDIR at a writable directory"
        ) from None
    if run.returncode != 0:
        raise CompileError(
            f"C compiler {program} cannot build a Python extension (are the Python headers installed?); {_FIX}",
            output=run.stdout + run.stderr,
        )
    if record is not None:
        try:  # the verdict only saves a later process this probe
            subdir(root, "toolchains")
            write_atomic(record, json.dumps({"identity": identity, "version": toolchain.version}, indent=1).encode())
        except (OSError, CacheError):
            pass
    return toolchain


def _identity(toolchain: Toolchain) -> dict[str, object]:
    """What must stay the same for an earlier probe's verdict to hold."""
    real = os.path.realpath(toolchain.path)
    stat = os.stat(real)
    return {
        "path": toolchain.path,
        "realpath": real,
        "size": stat.st_size,
        "mtime_ns": stat.st_mtime_ns,
        "flags": list(toolchain.flags),
        "python_include": list(_python_include_dirs()),
        "codegen": CODEGEN_VERSION,
    }


def _digest(fields: dict[str, object]) -> str:
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:32]


def _python_include_dirs() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    return tuple(dict.fromkeys((paths["include"], paths["platinclude"])))
