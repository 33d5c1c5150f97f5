"""One published build: a directory holding the kept C source, the extension and a manifest.

The manifest is written last and records the extension's size and SHA-256, so
an entry damaged after publishing (a truncated copy, a full disk, a stray
edit) is recognised and rebuilt rather than loaded. No file of a published
entry is read through a symbolic link.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import sysconfig
from pathlib import Path
from typing import NamedTuple

from .cache import CacheError, is_gradgen_item, read_nofollow

_MANIFEST = "manifest.json"
_FORMAT = 1


class Entry(NamedTuple):
    """The files of extension ``module`` inside ``directory`` (a staging or a published one)."""

    directory: Path
    module: str

    @property
    def source(self) -> Path:
        """The C source the extension was built from."""
        return self.directory / f"{self.module}.c"

    @property
    def library(self) -> Path:
        """The built extension."""
        return self.directory / (self.module + sysconfig.get_config_var("EXT_SUFFIX"))

    def seal(self, key_parts: dict[str, str]) -> None:
        """Write the manifest for the library now in place; the entry is complete once this returns."""
        data = self.library.read_bytes()
        manifest = {
            "format": _FORMAT,
            "module": self.module,
            "size": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
            "key_parts": key_parts,
        }
        (self.directory / _MANIFEST).write_text(json.dumps(manifest, indent=1))

    def is_complete(self) -> bool:
        """True if the manifest is present and the library matches it byte for byte, none of them a link."""
        try:
            if not stat.S_ISDIR(os.lstat(self.directory).st_mode):
                return False
            manifest = json.loads(read_nofollow(self.directory / _MANIFEST))
            data = read_nofollow(self.library)
        except (OSError, ValueError):
            return False
        return (
            isinstance(manifest, dict)
            and manifest.get("format") == _FORMAT
            and manifest.get("module") == self.module
            and manifest.get("size") == len(data)
            and manifest.get("sha256") == hashlib.sha256(data).hexdigest()
        )

    def publish(self, destination: Entry) -> None:
        """Move this complete entry to ``destination`` in one rename, so no reader sees it half-written.

        The caller holds the module's lock and has found ``destination``
        missing or unusable; an unusable one is moved out of the way first, into
        this entry's parent directory, which the caller removes. Raises
        :class:`CacheError` rather than remove a ``destination`` holding files
        gradgen does not write there.
        """
        try:
            os.replace(self.directory, destination.directory)
        except OSError:
            target = destination.directory
            if not os.path.lexists(target):
                raise
            if not (target.is_symlink() or is_gradgen_item("entries", target)):  # a link goes, not what it points at
                raise CacheError(
                    f"{target} holds files gradgen did not create; move them elsewhere so that gradgen can "
                    f"publish {self.module} there"
                ) from None
            os.replace(target, self.directory.parent / "replaced")
            os.replace(self.directory, target)
