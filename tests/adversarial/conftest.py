"""Fixtures of the adversarial build-cache tests: a private cache, and small file systems to break it with."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Callable, NamedTuple

import pytest


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh cache directory, set as GRADGEN_CACHE_DIR for this test and the processes it starts."""
    directory = tmp_path / "cache"
    monkeypatch.setenv("GRADGEN_CACHE_DIR", str(directory))
    return directory


def _mount(*args: str) -> bool:
    return subprocess.run(["mount", *args], capture_output=True).returncode == 0


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Callable[[str], Path]]:
    """Mount a tmpfs of the given size (e.g. "256k") under tmp_path; skip where this process cannot mount."""
    mounted: list[Path] = []

    def mount(size: str) -> Path:
        point = tmp_path / f"tmpfs{len(mounted)}"
        point.mkdir(mode=0o700)
        if os.geteuid() != 0 or not _mount("-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(point)):
            pytest.skip("mounting a small tmpfs needs root (with CAP_SYS_ADMIN)")
        mounted.append(point)
        return point

    yield mount
    for point in reversed(mounted):
        subprocess.run(["umount", "-l", str(point)], capture_output=True)


class ReadOnlyCache(NamedTuple):
    """A cache directory (set as GRADGEN_CACHE_DIR) and the function that makes it read-only."""

    directory: Path
    make_read_only: Callable[[], None]


@pytest.fixture
def read_only_cache(
    tmp_path: Path, tmpfs: Callable[[str], Path], monkeypatch: pytest.MonkeyPatch
) -> Iterator[ReadOnlyCache]:
    """A cache that can be made read-only: a tmpfs remounted read-only for root (whom chmod does not stop), else
    a directory chmodded read-only."""
    if os.geteuid() == 0:
        directory = tmpfs("1m")

        def make_read_only() -> None:
            if not _mount("-o", "remount,ro", str(directory)):
                pytest.skip("remounting a tmpfs read-only failed")

    else:
        directory = tmp_path / "cache"
        directory.mkdir(mode=0o700)

        def make_read_only() -> None:
            for path in [*directory.rglob("*"), directory]:
                if path.is_dir() and not path.is_symlink():
                    path.chmod(0o500)

    monkeypatch.setenv("GRADGEN_CACHE_DIR", str(directory))
    yield ReadOnlyCache(directory, make_read_only)
    if os.geteuid() != 0:
        for path in [directory, *directory.rglob("*")]:
            if path.is_dir() and not path.is_symlink():
                path.chmod(0o700)
