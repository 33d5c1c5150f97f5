"""The cache directory and the path to it must be private, and nothing inside it is reached through a link."""

from __future__ import annotations

import json
import os
import shutil
import warnings
from pathlib import Path

import pytest
from adversarial_helpers import ADD1_CDEF, ADD1_SOURCE, kernel, run_python

from gradgen.build import build_module, cache_dir
from gradgen.build.cache import MARKER, SUBDIRS, CacheError


def _world_writable(path: Path) -> Path:
    path.mkdir()
    path.chmod(0o777)
    return path


def _assert_refused(cache: Path, problem: str) -> Path:
    """cache_dir warns about ``problem`` and gives a private directory instead; a build goes there."""
    with pytest.warns(UserWarning, match=problem) as caught:
        fallback = cache_dir()
    assert str(cache) in str(caught[0].message) and fallback != cache
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        module = build_module(ADD1_SOURCE, ADD1_CDEF)
    assert Path(module.source_path).is_relative_to(fallback)
    return fallback


@pytest.mark.parametrize("subdirectory", SUBDIRS)
def test_a_subdirectory_that_is_a_link_is_refused_and_not_followed(
    cache: Path, tmp_path: Path, subdirectory: str
) -> None:
    cache_dir()
    target = _world_writable(tmp_path / "anyone-can-write")
    (cache / subdirectory).symlink_to(target)
    _assert_refused(cache, "is a symbolic link")
    assert list(target.iterdir()) == []


def test_a_cache_inside_a_world_writable_directory_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    parent = _world_writable(tmp_path / "shared")
    cache = parent / "cache"
    monkeypatch.setenv("GRADGEN_CACHE_DIR", str(cache))
    _assert_refused(cache, f"{parent} above it is writable by group or others and not sticky")


def test_a_cache_deeper_inside_a_world_writable_directory_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    parent = _world_writable(tmp_path / "shared")
    (parent / "mine").mkdir(mode=0o700)
    cache = parent / "mine" / "cache"
    monkeypatch.setenv("GRADGEN_CACHE_DIR", str(cache))
    _assert_refused(cache, f"{parent} above it")


def test_a_cache_inside_a_sticky_world_writable_directory_is_accepted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    parent = _world_writable(tmp_path / "like-tmp")
    parent.chmod(0o1777)
    monkeypatch.setenv("GRADGEN_CACHE_DIR", str(parent / "cache"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert cache_dir() == parent / "cache"


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can give a directory to another user")
def test_a_cache_inside_a_directory_of_another_user_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    parent = tmp_path / "theirs"
    parent.mkdir(mode=0o755)
    os.chown(parent, 65534, 65534)  # nobody
    monkeypatch.setenv("GRADGEN_CACHE_DIR", str(parent / "cache"))
    _assert_refused(parent / "cache", "above it is owned by uid 65534")


def test_a_link_to_the_cache_is_resolved_and_checked_where_it_leads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = tmp_path / "real-cache"
    real.mkdir(mode=0o700)
    (tmp_path / "link").symlink_to(real)
    monkeypatch.setenv("GRADGEN_CACHE_DIR", str(tmp_path / "link"))
    assert cache_dir() == real and (real / MARKER).is_file()
    hidden = _world_writable(tmp_path / "shared") / "cache"
    hidden.mkdir(mode=0o700)
    (tmp_path / "link2").symlink_to(hidden)
    monkeypatch.setenv("GRADGEN_CACHE_DIR", str(tmp_path / "link2"))
    with pytest.warns(UserWarning, match="shared above it is writable"):
        cache_dir()


def test_an_entry_that_is_a_link_is_not_loaded_but_rebuilt(cache: Path, tmp_path: Path) -> None:
    # Built in a child: this process must not load the library it then plants elsewhere.
    code = f"from gradgen.build import build_module\nprint(build_module({ADD1_SOURCE!r}, {ADD1_CDEF!r}).source_path)"
    run = run_python(code)
    assert run.returncode == 0, run.stderr
    entry = Path(run.stdout.strip()).parent
    planted = tmp_path / "planted"
    shutil.move(entry, planted)  # a complete entry, manifest and all, now outside the cache
    entry.symlink_to(planted)
    module = build_module(ADD1_SOURCE, ADD1_CDEF)
    assert module.built and module.lib.add1(1.0) == 2.0
    assert not entry.is_symlink() and entry.is_dir()
    assert planted.is_dir() and len(list(planted.iterdir())) == 3  # the link was replaced, not followed


def test_a_lock_file_that_is_a_link_is_not_followed(cache: Path, tmp_path: Path) -> None:
    module = Path(build_module(*kernel(1)).source_path).stem
    os.environ["GRADGEN_CACHE_DIR"] = str(tmp_path / "other")  # the fixture's monkeypatch restores it
    cache_dir()
    (tmp_path / "other" / "locks").mkdir(mode=0o700)
    target = tmp_path / "not-a-lock"
    (tmp_path / "other" / "locks" / f"{module}.lock").symlink_to(target)
    with pytest.raises(CacheError, match=f"{module}.lock"):
        build_module(*kernel(1))
    assert not target.exists()


def test_a_probe_verdict_that_is_a_link_is_not_read(cache: Path, tmp_path: Path) -> None:
    probe = "import json; from gradgen.build import find_compiler; print(json.dumps(find_compiler().version))"
    run = run_python(probe)
    assert run.returncode == 0, run.stderr
    version = json.loads(run.stdout)
    (record,) = (cache / "toolchains").iterdir()
    planted = tmp_path / "planted.json"
    planted.write_text(json.dumps({**json.loads(record.read_text()), "version": "planted compiler 0.0"}))
    record.unlink()
    record.symlink_to(planted)
    run = run_python(probe)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout) == version
