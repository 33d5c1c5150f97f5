"""The on-disk build cache: where it lives, who may write it, locking, clearing.

Layout under :func:`cache_dir` (every name below is gradgen's own)::

    entries/<module>/   a published build: <module>.c, the extension, manifest.json
    failed/<module>.c   the source of the last failed build of <module>
    locks/<module>.lock one flock(2) file per module, so only one process builds it
    tmp/                private directories where builds happen before publishing
    toolchains/         compiler probe verdicts (see toolchain.py)

Loading a shared library from a directory is running code from it, so the
directory must belong to the user and be closed to everyone else.
"""

from __future__ import annotations

import atexit
import os
import shutil
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

SUBDIRS = ("entries", "failed", "locks", "tmp", "toolchains")

# Configured directory -> private temporary directory used instead, for this process.
_fallbacks: dict[str, Path] = {}


def cache_dir() -> Path:
    """Return the build cache directory, creating it (mode 0700) if needed.

    ``GRADGEN_CACHE_DIR`` is read on every call; the default is
    ``$XDG_CACHE_HOME/gradgen`` or ``~/.cache/gradgen``. A directory that
    another user owns or that group or others may write is not used: a
    ``UserWarning`` names it and the problem, and the process builds in a
    private temporary directory instead.
    """
    configured = _configured_dir()
    if configured in _fallbacks:
        return _fallbacks[configured]
    problem = _problem_with(configured)
    if problem is None:
        return Path(configured)
    import tempfile  # here and below: only builds and the fallback need it, not loading from the cache

    fallback = Path(tempfile.mkdtemp(prefix="gradgen-cache-"))
    atexit.register(shutil.rmtree, fallback, ignore_errors=True)
    _fallbacks[configured] = fallback
    warnings.warn(
        f"gradgen cache directory {configured} {problem}; using the private directory {fallback} "
        f"for this process instead (fix the directory or set GRADGEN_CACHE_DIR)",
        UserWarning,
        stacklevel=2,
    )
    return fallback


def clear_cache() -> None:
    """Remove everything gradgen has stored in the cache directory, and nothing else.

    Meant for when no other process is building; kernels already loaded in
    this process keep working.
    """
    root = cache_dir()
    for name in SUBDIRS:
        path = root / name
        if path.is_symlink():
            path.unlink()
        elif path.exists():
            shutil.rmtree(path)


def subdir(root: Path, name: str) -> Path:
    """The subdirectory ``name`` (one of :data:`SUBDIRS`) of cache ``root``, created private if missing."""
    path = root / name
    path.mkdir(mode=0o700, exist_ok=True)
    return path


@contextmanager
def key_lock(root: Path, module: str) -> Iterator[None]:
    """Hold an exclusive lock for building ``module``, blocking until other processes release it."""
    import fcntl  # POSIX only; imported here so that merely importing gradgen.build works everywhere

    fd = os.open(subdir(root, "locks") / f"{module}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see either the old file or the whole new one."""
    import tempfile

    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def _configured_dir() -> str:
    configured = os.environ.get("GRADGEN_CACHE_DIR")
    if configured:
        return os.path.abspath(os.path.expanduser(configured))
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(os.path.abspath(base), "gradgen")


def _problem_with(path: str) -> str | None:
    """Why ``path`` must not be used as the cache, or None if it is fine (creating it if missing)."""
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
        info = os.stat(path)
    except OSError as error:
        return f"cannot be used ({error.strerror})"
    if info.st_uid != os.getuid():
        return f"is owned by uid {info.st_uid}, not by you (uid {os.getuid()})"
    if info.st_mode & 0o022:
        return f"is writable by group or others (mode {info.st_mode & 0o777:o})"
    return None
