"""Turn C source into a loaded cffi extension, through the on-disk cache.

The sequence is the one PyTensor's cmodule follows: look for a complete
entry and load it; otherwise lock the key, look again (another process may
have built it meanwhile), build in a private directory, load the result there
to be sure it imports, and publish it with one rename. A cache directory the
system will not let it write (read-only, full, not permitted) gives way to a
private temporary one when the caller allows it, else raises CacheError.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shlex
import shutil
import threading
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any, NamedTuple

from ..errors import CompileError
from .cache import (
    CacheError,
    configured_dir,
    key_lock,
    module_name,
    replace_unwritable,
    resolve,
    subdir,
    sweep_stale,
)
from .entry import Entry
from .headers import runtime_headers_digest, runtime_include_dir
from .toolchain import Toolchain, build_timeout, require_compiler, run_tool


class LoadedModule(NamedTuple):
    """A loaded extension and where it came from.

    ``ffi`` and ``lib`` are cffi's; ``key`` is the cache key; ``source_path`` the
    C source kept beside the extension; ``built`` says whether this call
    compiled it (False when it came from the disk cache or this process's memo).
    """

    ffi: Any
    lib: Any
    key: str
    source_path: str
    built: bool


# (configured cache directory, key) -> the module as loaded by this process, with built=False. A hit
# reads nothing from the disk, so it checks nothing there either.
_loaded: dict[tuple[str, str], LoadedModule] = {}
# Threads of one process take turns on a miss, so that the process loads each extension once.
# A child forked while a thread held it gets a new one (the thread does not exist in the child).
_miss_lock = threading.Lock()


def _new_miss_lock() -> None:
    global _miss_lock
    _miss_lock = threading.Lock()


if hasattr(os, "register_at_fork"):  # POSIX
    os.register_at_fork(after_in_child=_new_miss_lock)


def build_module(
    c_source: str,
    cdef: str,
    *,
    name_hint: str = "kernel",
    include_dirs: Sequence[str] = (),
    libraries: Sequence[str] = (),
    extra_compile_args: Sequence[str] = (),
    fallback: bool = False,
) -> LoadedModule:
    """Compile ``c_source`` as a cffi API-mode extension exposing the declarations in ``cdef``, and load it.

    The result is cached on disk under a key covering every input and the
    toolchain (see :meth:`Toolchain.fingerprint`), and memoised in this
    process. The runtime header directory is always on the include path.
    Relative ``include_dirs`` are taken from the current directory; other
    paths, say in ``extra_compile_args``, should be absolute. Raises
    :class:`CompileError` when there is no working compiler or the build
    fails; the error carries the compiler output and the kept source. A
    compiler run longer than ``GRADGEN_BUILD_TIMEOUT`` seconds is killed.

    When the system refuses to create or write the cache directory (read-only,
    full, not permitted), ``fallback=True`` builds in a private temporary cache
    for the rest of the process, with one warning; ``fallback=False`` raises
    :class:`CacheError` (a :class:`CompileError`) naming the directory and the
    error. Either way no half-written entry is left in the cache.
    """
    toolchain = require_compiler()
    timeout = build_timeout()
    options = _Options(
        tuple(os.path.abspath(d) for d in include_dirs),
        tuple(map(str, libraries)),
        tuple(map(str, extra_compile_args)),
    )
    parts = _key_parts(c_source, cdef, name_hint, options, toolchain)
    key = hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()
    configured = configured_dir()
    loaded = _loaded.get((configured, key))
    if loaded is not None:
        return loaded
    with _miss_lock:
        loaded = _loaded.get((configured, key))
        if loaded is not None:
            return loaded
        root = resolve(fallback=fallback)
        module = module_name(name_hint, key)
        while True:
            entry = Entry(root / "entries" / module, module)
            try:
                extension, built = _load_or_build(root, entry, c_source, cdef, options, toolchain, parts, timeout)
                break
            except OSError as error:  # the cache cannot be written: a private one, or CacheError
                root = replace_unwritable(root, error, fallback=fallback)
        loaded = LoadedModule(extension.ffi, extension.lib, key, str(entry.source), built=False)
        _loaded[(configured, key)] = loaded
    return loaded._replace(built=True) if built else loaded


def _load_or_build(
    root: Path,
    entry: Entry,
    c_source: str,
    cdef: str,
    options: _Options,
    toolchain: Toolchain,
    parts: dict[str, str],
    timeout: float,
) -> tuple[ModuleType, bool]:
    """The extension of ``entry`` and whether this call built it; OSError when the cache cannot be written."""
    extension = _import_complete(entry)
    if extension is not None:
        return extension, False
    with key_lock(root, entry.module, timeout):
        extension = _import_complete(entry)
        if extension is not None:
            return extension, False
        sweep_stale(root, entry.module, timeout)
        return _build(root, entry, c_source, cdef, options, toolchain, parts, timeout), True


class _Options(NamedTuple):
    include_dirs: tuple[str, ...]
    libraries: tuple[str, ...]
    extra_compile_args: tuple[str, ...]


def _key_parts(c_source: str, cdef: str, name_hint: str, options: _Options, toolchain: Toolchain) -> dict[str, str]:
    """The named inputs of the cache key; they are also written to each entry's manifest."""
    return {
        "source_sha256": hashlib.sha256(c_source.encode()).hexdigest(),
        "cdef_sha256": hashlib.sha256(cdef.encode()).hexdigest(),
        "name_hint": name_hint,
        "include_dirs": json.dumps(options.include_dirs),
        "libraries": json.dumps(options.libraries),
        "extra_compile_args": json.dumps(options.extra_compile_args),
        "runtime_headers_sha256": runtime_headers_digest(),
        "toolchain": toolchain.fingerprint(),
    }


def _import_complete(entry: Entry) -> ModuleType | None:
    """The entry's extension if the entry is complete and imports; None means (re)build it."""
    if not entry.is_complete():
        return None
    try:
        return _import_extension(entry)
    except ImportError:
        return None


def _import_extension(entry: Entry) -> ModuleType:
    from importlib.machinery import ExtensionFileLoader
    from importlib.util import module_from_spec, spec_from_loader

    loader = ExtensionFileLoader(entry.module, str(entry.library))
    extension = module_from_spec(spec_from_loader(entry.module, loader))
    loader.exec_module(extension)
    return extension


def _build(
    root: Path,
    entry: Entry,
    c_source: str,
    cdef: str,
    options: _Options,
    toolchain: Toolchain,
    parts: dict[str, str],
    timeout: float,
) -> ModuleType:
    """Build, check and publish ``entry``; return the extension, loaded from the private build directory."""
    import tempfile  # the modules imported in the build functions are not needed to load from the cache

    subdir(root, "entries")  # where publish() renames the finished entry to
    workspace = Path(tempfile.mkdtemp(prefix=f"{entry.module}.", dir=subdir(root, "tmp")))
    try:
        staged = Entry(workspace / entry.module, entry.module)
        staged.directory.mkdir()
        _emit_c(staged, c_source, cdef)
        _compile(root, staged, options, toolchain, timeout)
        try:  # load before publishing, so that no process ever finds an entry that cannot load
            extension = _import_extension(staged)
        except ImportError as error:
            kept = _keep_failed(root, staged)
            raise CompileError(
                f"the built extension {entry.module} does not load (is every function in the cdef defined?)",
                output=str(error),
                source_path=kept,
            ) from None
        staged.seal(parts)
        staged.publish(entry)
        return extension
    finally:
        shutil.rmtree(workspace, ignore_errors=True)


def _emit_c(staged: Entry, c_source: str, cdef: str) -> None:
    import cffi

    ffi = cffi.FFI()
    try:
        ffi.cdef(cdef)
    except (cffi.CDefError, cffi.FFIError) as error:
        message = f"cffi cannot parse the declarations (cdef) of {staged.module}"
        raise CompileError(message, output=str(error)) from None
    ffi.set_source(staged.module, c_source, compiler_verbose=False)
    ffi.emit_c_code(str(staged.source))


def _compile(root: Path, staged: Entry, options: _Options, toolchain: Toolchain, timeout: float) -> None:
    command = toolchain.command(
        staged.source.name,
        staged.library.name,
        include_dirs=(*options.include_dirs, runtime_include_dir()),
        libraries=options.libraries,
        extra_args=options.extra_compile_args,
    )
    what = f"the C compiler {toolchain.path} building {staged.module}"
    run = run_tool(command, cwd=staged.directory, timeout=timeout, what=what, limit="GRADGEN_BUILD_TIMEOUT")
    if run.returncode != 0 and os.statvfs(staged.directory).f_bavail == 0:
        # The compiler could not write its output to the full disk: the cache's trouble, not the source's.
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(staged.directory))
    if run.returncode != 0:
        raise CompileError(
            f"the C compiler failed on {staged.module} (exit status {run.returncode}); command: {shlex.join(command)}",
            output=run.stdout + run.stderr,
            source_path=_keep_failed(root, staged),
        )


def _keep_failed(root: Path, staged: Entry) -> str | None:
    """Move the staged C source to ``failed/`` for the user to inspect; return where it went.

    None when the cache cannot take it: the error still carries the compiler's output.
    """
    try:
        kept = subdir(root, "failed") / staged.source.name
        staged.source.replace(kept)
    except (OSError, CacheError):
        return None
    return str(kept)
