"""cache_dir: where the cache lives, and refusing a directory other people can write."""

from __future__ import annotations

import os
import stat
import warnings
from pathlib import Path

import pytest
from build_helpers import ADD1_CDEF, ADD1_SOURCE

from gradgen.build import build_module, cache_dir


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_configured_directory_is_created_private(cache: Path) -> None:
    assert cache_dir() == cache
    assert _mode(cache) == 0o700


def test_the_default_is_the_user_cache_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GRADGEN_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "gradgen"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir() == tmp_path / "home" / ".cache" / "gradgen"


def _assert_refused(cache: Path, problem: str) -> None:
    with pytest.warns(UserWarning, match=problem) as caught:
        fallback = cache_dir()
    assert str(cache) in str(caught[0].message)
    assert fallback != cache and _mode(fallback) == 0o700 and fallback.stat().st_uid == os.getuid()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # warned once; the same private directory from now on
        assert cache_dir() == fallback
        module = build_module(ADD1_SOURCE, ADD1_CDEF)
    assert Path(module.source_path).is_relative_to(fallback)
    assert list(cache.iterdir()) == []


def test_a_world_writable_directory_is_refused(cache: Path) -> None:
    cache.mkdir()
    cache.chmod(0o777)
    _assert_refused(cache, "writable by group or others")


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can give a directory to another user")
def test_a_directory_owned_by_someone_else_is_refused(cache: Path) -> None:
    cache.mkdir(mode=0o700)
    os.chown(cache, 65534, 65534)  # nobody
    _assert_refused(cache, "owned by uid 65534")
