"""Find the C runtime header that generated kernels include (``csrc/gradgen_runtime.h``)."""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path

from ..errors import CompileError

RUNTIME_HEADER = "gradgen_runtime.h"

_PACKAGE = Path(__file__).resolve().parent.parent  # the gradgen package directory


def runtime_include_dir() -> str:
    """The directory holding ``gradgen_runtime.h``, to pass to the compiler with ``-I``.

    An installed gradgen ships it as the package data ``gradgen/csrc``; a
    source checkout or an editable install uses the repository's ``csrc/``.
    Raises :class:`CompileError` when neither has it (a broken installation).
    """
    for candidate in (_PACKAGE / "csrc", _PACKAGE.parent / "csrc"):
        if (candidate / RUNTIME_HEADER).is_file():
            return str(candidate)
    raise CompileError(
        f"{RUNTIME_HEADER} is missing from {_PACKAGE / 'csrc'} and from {_PACKAGE.parent / 'csrc'}; reinstall gradgen"
    )


@cache
def runtime_headers_digest() -> str:
    """SHA-256 over the runtime headers, so that editing them invalidates cached builds."""
    digest = hashlib.sha256()
    for header in sorted(Path(runtime_include_dir()).glob("*.h")):
        digest.update(header.name.encode() + b"\0" + header.read_bytes() + b"\0")
    return digest.hexdigest()
