"""The on-disk build cache: where it lives, who may write it, what in it is gradgen's, locking, clearing.

Layout under :func:`cache_dir` (every name below is gradgen's own)::

    CACHEDIR.TAG          the marker that says the directory is a gradgen cache
    entries/<module>/     a published build: <module>.c, the extension, manifest.json
    failed/<module>.c     the source of the last failed build of <module>
    locks/<module>.lock   one flock(2) file per module, so only one process builds it
    tmp/<module>.<random> private directories where builds happen before publishing
    toolchains/           compiler probe verdicts (see toolchain.py)

Loading a shared library from a directory is running code from it, so the
directory must belong to the user and be closed to everyone else, and so must
every directory above it (owned by the user or root, and not writable by group
or others unless sticky, as ssh checks ``~/.ssh``). Nothing inside it is
reached through a symbolic link. Only what gradgen made is ever removed: a
directory is cleared only if it carries gradgen's marker, and then only of the
names above.
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import stat
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

from ..errors import CompileError

SUBDIRS = ("entries", "failed", "locks", "tmp", "toolchains")

#: The file that marks a directory as a gradgen cache: a Cache Directory Tagging
#: tag (so backup tools skip the cache) whose comment says it is gradgen's.
MARKER = "CACHEDIR.TAG"
MARKER_TEXT = (
    "Signature: 8a477f597d28d172789f06886806bc55\n"
    "# This file is a cache directory tag created by gradgen.\n"
    "# gradgen.clear_cache() removes only what gradgen stored in this directory.\n"
)

_MODULE = r"_gg_\w+_[0-9a-f]{32}"
_RANDOM = r"\w{8}"  # what tempfile adds to a prefix
# The names gradgen gives inside each subdirectory; write_atomic's temporary files are ".<name>.<random>".
_NAMES = {
    "entries": re.compile(_MODULE, re.ASCII),
    "failed": re.compile(_MODULE + r"\.c", re.ASCII),
    "locks": re.compile(_MODULE + r"\.lock", re.ASCII),
    "tmp": re.compile(_MODULE + r"\." + _RANDOM, re.ASCII),
    "toolchains": re.compile(r"(\.)?[0-9a-f]{32}\.json(?(1)\." + _RANDOM + ")", re.ASCII),
}
_MARKER_TEMPORARY = re.compile(r"\.CACHEDIR\.TAG\." + _RANDOM, re.ASCII)

_FIX = "fix that, or set GRADGEN_CACHE_DIR to a new directory of your own"

# Configured directory -> private temporary directory used instead, for this process.
_fallbacks: dict[str, Path] = {}

# Lock files this process has open. A child forked while one is held closes its
# copies: they share the lock with the parent and would keep it held.
_held: set[int] = set()
_held_guard = threading.Lock()


class CacheError(CompileError):
    """The build cache directory cannot be used, written or cleared; the message names it and says what to do.

    A :class:`CompileError`, so that ``backend="auto"`` falls back to Python on it as on any failed build.
    """


def module_name(hint: str, key: str) -> str:
    """The extension module name for cache ``key``: a Python identifier that gradgen's cache recognises."""
    identifier = re.sub(r"\W+", "_", hint, flags=re.ASCII).strip("_")[:40] or "kernel"
    return f"_gg_{identifier}_{key[:32]}"


def configured_dir() -> str:
    """The cache directory asked for (``GRADGEN_CACHE_DIR`` or the default), as an absolute path; nothing checked."""
    configured = os.environ.get("GRADGEN_CACHE_DIR")
    if configured:
        return os.path.abspath(os.path.expanduser(configured))
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(os.path.abspath(base), "gradgen")


def cache_dir() -> Path:
    """Return the build cache directory, creating it (mode 0700) and marking it as gradgen's if needed.

    ``GRADGEN_CACHE_DIR`` is read on every call; the default is
    ``$XDG_CACHE_HOME/gradgen`` or ``~/.cache/gradgen``. A directory that
    cannot be used is not: one that another user owns or that group or others
    may write, one inside a directory that is not safe the same way, one with a
    symbolic link for a subdirectory, one without gradgen's marker that holds
    files gradgen did not create, one that cannot be created. A
    ``UserWarning`` names it and the problem, and the process builds in a
    private temporary directory instead. Raises :class:`CacheError` only when
    not even that can be made.
    """
    return resolve(fallback=True)


def resolve(*, fallback: bool) -> Path:
    """The cache directory for a build; like :func:`cache_dir`, except that without ``fallback``
    a directory the system refuses to create or write raises :class:`CacheError` instead.

    A directory that is not safe always gives way to a private one: building
    there is never what the user wants.
    """
    configured = configured_dir()
    if configured in _fallbacks:
        return _fallbacks[configured]
    root = Path(os.path.realpath(configured))
    problem = _problem_with(root)
    if problem is None:
        return root
    if problem.refused_by_system and not fallback:
        raise CacheError(f"cannot use the gradgen cache directory {configured}: {problem.reason}; {_FIX}")
    return _fall_back(configured, problem.reason)


def current_dir() -> Path | None:
    """The cache directory this process uses now, or None while the configured one has a problem; never warns.

    For the compiler probe, which must not choose between a private directory and an error: the build does.
    """
    configured = configured_dir()
    if configured in _fallbacks:
        return _fallbacks[configured]
    root = Path(os.path.realpath(configured))
    return root if _problem_with(root) is None else None


def replace_unwritable(root: Path, error: OSError, *, fallback: bool) -> Path:
    """The private directory to build in now that writing ``root`` failed with ``error``.

    Raises :class:`CacheError` naming the directory and the error when falling
    back is not allowed, or when ``root`` already is this process's private directory.
    """
    configured = configured_dir()
    reason = f"writing {error.filename or root} failed ({error.strerror or error})"
    if not fallback or root in _fallbacks.values():
        fix = "free space or make it writable, or set GRADGEN_CACHE_DIR to a writable directory of your own"
        raise CacheError(f"cannot write the gradgen cache directory {root}: {reason}; {fix}")
    return _fall_back(configured, reason)


def clear_cache() -> None:
    """Remove everything gradgen has stored in the cache directory, and nothing else.

    Only a directory that carries gradgen's marker is cleared, and in it only
    the files and directories gradgen names; anyone else's files stay, and so
    do the lock and the staging directory of a build in progress. A directory
    without the marker that holds files gradgen did not create, or one that is
    not safe to use, raises :class:`CacheError` and is left as it is. Meant
    for when no other process is building; kernels already loaded in this
    process keep working.
    """
    configured = configured_dir()
    root = _fallbacks.get(configured) or Path(os.path.realpath(configured))
    if not os.path.lexists(root):
        return
    problem = None if configured in _fallbacks else _problem_with(root)
    if problem is not None:
        raise CacheError(f"gradgen will not clear {configured}: {problem.reason}; nothing was removed ({_FIX})")
    try:
        _clear(root)
    except OSError as error:
        raise CacheError(f"cannot clear the gradgen cache directory {root}: {error}; make it writable") from None


def subdir(root: Path, name: str) -> Path:
    """The subdirectory ``name`` (one of :data:`SUBDIRS`) of cache ``root``, created private if missing.

    Raises :class:`CacheError` if it is a symbolic link or is not private; OSError if it cannot be created.
    """
    path = root / name
    try:
        path.mkdir(mode=0o700)
    except FileExistsError:
        pass
    problem = _unsafe_directory(path, os.lstat(path))
    if problem is not None:
        raise CacheError(f"cannot use the gradgen cache directory {root}: {problem}; {_FIX}")
    return path


@contextmanager
def key_lock(root: Path, module: str, timeout: float) -> Iterator[None]:
    """Hold an exclusive lock for building ``module``, waiting at most ``timeout`` seconds for other processes.

    Raises :class:`CacheError` when the lock is still held after ``timeout``;
    OSError when the lock file cannot be opened.
    """
    import fcntl  # POSIX only; imported here so that merely importing gradgen.build works everywhere

    path = subdir(root, "locks") / f"{module}.lock"
    with _held_guard:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        _held.add(fd)
    try:
        deadline, pause = time.monotonic() + timeout, 0.01
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise CacheError(
                        f"another process has been building {module} for over {timeout:g} s (it holds the lock "
                        f"{path}); wait for it or stop it, or set GRADGEN_BUILD_TIMEOUT to wait longer"
                    ) from None
                time.sleep(pause)
                pause = min(pause * 2, 0.25)
        yield
    finally:
        with _held_guard:
            _held.discard(fd)
            os.close(fd)  # closing releases the lock


def sweep_stale(root: Path, building: str, age: float) -> None:
    """Remove what builds killed midway left behind: staging directories in ``tmp/`` and temporary
    probe records in ``toolchains/`` older than ``age`` seconds, whose module's lock is free.

    The caller holds the lock of module ``building``, so its leftovers count as free. Best effort.
    """
    limit = time.time() - age
    for name in ("tmp", "toolchains"):
        directory = root / name
        try:
            items = os.listdir(directory)
        except OSError:
            continue
        for item in items:
            path = directory / item
            if name == "toolchains" and not item.startswith("."):
                continue  # a verdict, not a leftover
            try:
                if os.lstat(path).st_mtime > limit or not is_gradgen_item(name, path):
                    continue
                module = item.rsplit(".", 1)[0]
                if name == "tmp" and module != building and not _lock_is_free(root, module):
                    continue
                _remove(path)
            except OSError:
                continue


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see either the old file or the whole new one."""
    import tempfile

    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def read_nofollow(path: Path) -> bytes:
    """The bytes of ``path``, refusing (OSError) if it is a symbolic link."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as file:
        return file.read()


class _Problem(NamedTuple):
    reason: str
    refused_by_system: bool  # True: the OS refused to create or write it; False: gradgen refuses it


def _problem_with(root: Path) -> _Problem | None:
    """Why ``root`` (a real path) must not be used as the cache, or None; creates and marks it if missing or empty."""
    try:
        os.makedirs(root, mode=0o700, exist_ok=True)
        info = os.lstat(root)
    except OSError as error:
        return _Problem(f"it cannot be created ({error.strerror})", refused_by_system=True)
    try:
        reason = _unsafe_ancestor(root) or _unsafe_directory(root, info) or _unsafe_subdirectory(root)
        if reason is not None:
            return _Problem(reason, refused_by_system=False)
        if _is_marked(root):
            return None
        foreign = _foreign_item(root)
        if foreign is not None:
            reason = f"it is not a gradgen cache (it has no {MARKER}) and holds {foreign}, which gradgen did not create"
            return _Problem(reason, refused_by_system=False)
        write_atomic(root / MARKER, MARKER_TEXT.encode())
    except OSError as error:
        reason = f"{error.filename or root} cannot be read or written ({error.strerror})"
        return _Problem(reason, refused_by_system=True)
    return None


def _unsafe_ancestor(root: Path) -> str | None:
    """Why a directory above ``root`` lets someone else replace it, or None."""
    for parent in root.parents:
        info = os.lstat(parent)
        if info.st_uid not in (os.getuid(), 0):
            return f"{parent} above it is owned by uid {info.st_uid}, neither you (uid {os.getuid()}) nor root"
        if info.st_mode & 0o022 and not info.st_mode & stat.S_ISVTX:
            return f"{parent} above it is writable by group or others and not sticky (mode {_mode(info)})"
    return None


def _unsafe_directory(path: Path, info: os.stat_result) -> str | None:
    """Why ``path`` (with lstat ``info``) is no private directory of the user, or None."""
    if stat.S_ISLNK(info.st_mode):
        return f"{path} is a symbolic link (gradgen follows none inside its cache)"
    if not stat.S_ISDIR(info.st_mode):
        return f"{path} is not a directory"
    if info.st_uid != os.getuid():
        return f"{path} is owned by uid {info.st_uid}, not by you (uid {os.getuid()})"
    if info.st_mode & 0o022:
        return f"{path} is writable by group or others (mode {_mode(info)})"
    return None


def _unsafe_subdirectory(root: Path) -> str | None:
    for name in SUBDIRS:
        try:
            info = os.lstat(root / name)
        except FileNotFoundError:
            continue
        problem = _unsafe_directory(root / name, info)
        if problem is not None:
            return problem
    return None


def _mode(info: os.stat_result) -> str:
    return f"{stat.S_IMODE(info.st_mode):o}"


def _is_marked(root: Path) -> bool:
    try:
        return read_nofollow(root / MARKER) == MARKER_TEXT.encode()
    except OSError:
        return False


def _foreign_item(root: Path) -> Path | None:
    """Something in unmarked ``root`` that gradgen did not create, or None (an empty or gradgen-made directory)."""
    for item in sorted(os.listdir(root)):
        path = root / item
        if _MARKER_TEMPORARY.fullmatch(item) or (item == MARKER and _is_marked(root)):
            continue  # the marker, or one being written by another thread or process adopting the directory
        if item not in SUBDIRS:
            return path
        for inner in sorted(os.listdir(path)):
            if not is_gradgen_item(item, path / inner):
                return path / inner
    return None


def is_gradgen_item(subdirectory: str, path: Path) -> bool:
    """Whether ``path`` in cache subdirectory ``subdirectory`` is named and made as gradgen makes it."""
    if not _NAMES[subdirectory].fullmatch(path.name):
        return False
    info = os.lstat(path)
    if subdirectory == "tmp":
        return stat.S_ISDIR(info.st_mode)
    if subdirectory == "entries":
        if not stat.S_ISDIR(info.st_mode):
            return False
        with os.scandir(path) as files:
            return all(_is_entry_file(path.name, file) for file in files)
    return stat.S_ISREG(info.st_mode)


def _is_entry_file(module: str, file: os.DirEntry[str]) -> bool:
    """Whether ``file`` is one of the three files of a published entry of ``module``."""
    name = file.name
    gradgen_name = name in (f"{module}.c", "manifest.json") or (name.startswith(f"{module}.") and name.endswith(".so"))
    return gradgen_name and file.is_file(follow_symlinks=False)


def _lock_is_free(root: Path, module: str) -> bool:
    """Whether no process holds the build lock of ``module`` now."""
    import fcntl

    try:
        fd = os.open(root / "locks" / f"{module}.lock", os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    finally:
        os.close(fd)


def _clear(root: Path) -> None:
    for name in SUBDIRS:
        directory = root / name
        try:
            if not stat.S_ISDIR(os.lstat(directory).st_mode):
                continue  # a link or a file, not gradgen's: left alone
        except FileNotFoundError:
            continue
        for item in os.listdir(directory):
            path = directory / item
            if not is_gradgen_item(name, path):
                continue
            if name in ("locks", "tmp") and not _lock_is_free(root, item.rsplit(".", 1)[0]):
                continue  # a build in progress
            _remove(path)
        try:
            os.rmdir(directory)
        except OSError:
            pass  # something that is not gradgen's is still in it
    for item in os.listdir(root):
        if _MARKER_TEMPORARY.fullmatch(item):
            os.unlink(root / item)


def _remove(path: Path) -> None:
    if stat.S_ISDIR(os.lstat(path).st_mode):
        shutil.rmtree(path)
    else:
        os.unlink(path)


def _fall_back(configured: str, reason: str) -> Path:
    """Make, mark and remember a private temporary cache for ``configured``, and say why once."""
    import tempfile  # here and below: only builds and the fallback need it, not loading from the cache

    try:
        fallback = Path(tempfile.mkdtemp(prefix="gradgen-cache-"))
        write_atomic(fallback / MARKER, MARKER_TEXT.encode())
    except OSError as error:
        raise CacheError(
            f"cannot use the gradgen cache directory {configured} ({reason}), nor make a private one in "
            f"{tempfile.gettempdir()} ({error}); free space there or set TMPDIR or GRADGEN_CACHE_DIR"
        ) from None
    atexit.register(_remove_private, fallback, os.getpid())
    _fallbacks[configured] = fallback
    warnings.warn(
        f"gradgen cannot use the cache directory {configured}: {reason}; using the private directory "
        f"{fallback} for this process instead ({_FIX})",
        UserWarning,
        stacklevel=4,
    )
    return fallback


def _remove_private(directory: Path, owner: int) -> None:
    """At exit, remove the private cache of the process that made it (not of a forked child, which shares it)."""
    if os.getpid() == owner:
        shutil.rmtree(directory, ignore_errors=True)


def _close_held_locks() -> None:
    global _held_guard
    for fd in _held:
        try:
            os.close(fd)
        except OSError:
            pass
    _held.clear()
    _held_guard = threading.Lock()


def _hold_guard() -> None:
    _held_guard.acquire()


def _release_guard() -> None:
    _held_guard.release()


if hasattr(os, "register_at_fork"):  # POSIX
    os.register_at_fork(before=_hold_guard, after_in_parent=_release_guard, after_in_child=_close_held_locks)
