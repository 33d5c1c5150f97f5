"""A read-only or full cache directory: a private cache with one warning, or CacheError; never a raw OSError."""

from __future__ import annotations

import errno
import json
import os
import warnings
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
from adversarial_helpers import ADD1_CDEF, ADD1_SOURCE, fake_cc, kernel, run_python
from conftest import ReadOnlyCache

import gradgen as gg
from gradgen.build import build_module, clear_cache, find_compiler
from gradgen.build.cache import CacheError
from gradgen.build.entry import Entry
from gradgen.errors import CompileError


def _fill(path: Path) -> None:
    """Write zeros to ``path`` until the file system is full."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError as error:
        assert error.errno == errno.ENOSPC
    finally:
        os.close(fd)


def _assert_only_complete_entries(cache: Path, entries: list[str]) -> None:
    """The cache holds just ``entries`` (names of complete entries) and no staging directory."""
    assert sorted(p.name for p in (cache / "entries").iterdir()) == entries
    assert all(Entry(cache / "entries" / name, name).is_complete() for name in entries)
    assert list((cache / "tmp").iterdir()) == []


def test_a_read_only_cache_raises_cache_error_without_fallback(read_only_cache: ReadOnlyCache) -> None:
    cache = read_only_cache.directory
    build_module(ADD1_SOURCE, ADD1_CDEF)
    read_only_cache.make_read_only()
    with pytest.raises(CacheError) as caught:
        build_module(*kernel(1))
    assert isinstance(caught.value, CompileError)
    message = str(caught.value)
    assert str(cache) in message and ("Read-only file system" in message or "Permission denied" in message)
    assert "GRADGEN_CACHE_DIR" in message


def test_a_read_only_cache_falls_back_to_a_private_one_with_one_warning(read_only_cache: ReadOnlyCache) -> None:
    cache = read_only_cache.directory
    build_module(ADD1_SOURCE, ADD1_CDEF)
    read_only_cache.make_read_only()
    with pytest.warns(UserWarning, match="using the private directory") as caught:
        first = build_module(*kernel(1), fallback=True)
    assert len(caught) == 1 and str(cache) in str(caught[0].message)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        second = build_module(*kernel(2), fallback=True)
    assert (first.lib.f(1.0), second.lib.f(1.0)) == (2.0, 3.0)
    assert not Path(first.source_path).is_relative_to(cache)
    assert Path(second.source_path).parents[2] == Path(first.source_path).parents[2]


def test_a_read_only_cache_still_serves_what_it_holds(read_only_cache: ReadOnlyCache, tmp_path: Path) -> None:
    build_module(ADD1_SOURCE, ADD1_CDEF)
    read_only_cache.make_read_only()
    code = (
        "import json, warnings\nwarnings.simplefilter('error')\nfrom gradgen.build import build_module\n"
        f"m = build_module({ADD1_SOURCE!r}, {ADD1_CDEF!r})\nprint(json.dumps([m.built, m.lib.add1(1.0)]))\n"
    )
    run = run_python(code)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout) == [False, 2.0]


def test_a_new_compiler_is_probed_on_a_read_only_cache(
    read_only_cache: ReadOnlyCache, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    build_module(ADD1_SOURCE, ADD1_CDEF)
    read_only_cache.make_read_only()
    monkeypatch.setenv("CC", str(fake_cc(tmp_path, 'exec "$REAL_CC" "$@"')))
    assert find_compiler() is not None  # its verdict cannot be kept, which costs only a later probe


def test_clearing_a_read_only_cache_raises_cache_error(read_only_cache: ReadOnlyCache) -> None:
    module = build_module(ADD1_SOURCE, ADD1_CDEF)
    read_only_cache.make_read_only()
    with pytest.raises(CacheError, match="cannot clear") as caught:
        clear_cache()
    assert str(read_only_cache.directory) in str(caught.value)
    assert Path(module.source_path).is_file()


def test_the_runtime_raises_for_backend_c_and_builds_privately_for_auto(read_only_cache: ReadOnlyCache) -> None:
    build_module(ADD1_SOURCE, ADD1_CDEF)
    read_only_cache.make_read_only()
    x = np.array([0.5, 1.0, 2.0])
    with pytest.raises(CompileError) as caught:
        gg.value_and_grad(lambda x: gg.sum(gg.exp(x)), backend="c", x=gg.Array((3,)))
    assert str(read_only_cache.directory) in str(caught.value)
    with pytest.warns(UserWarning, match="private directory") as caught_warnings:
        auto = gg.value_and_grad(lambda x: gg.sum(gg.exp(x) * 2.0), x=gg.Array((3,)))
    assert len(caught_warnings) == 1 and auto.backend == "c"
    value, grads = auto(x)
    assert value == pytest.approx(2 * np.exp(x).sum()) and grads["x"] == pytest.approx(2 * np.exp(x))


@pytest.fixture
def small_disk(tmpfs: Callable[[str], Path], monkeypatch: pytest.MonkeyPatch) -> Path:
    """A cache on a 1 MiB file system holding one entry (add1); the file ``filler`` beside the cache may fill it."""
    cache = tmpfs("1m") / "cache"
    monkeypatch.setenv("GRADGEN_CACHE_DIR", str(cache))
    build_module(ADD1_SOURCE, ADD1_CDEF)  # the cache is marked and the compiler probed before the disk fills
    return cache


def _names(cache: Path) -> list[str]:
    return sorted(p.name for p in (cache / "entries").iterdir())


def test_a_full_disk_while_writing_the_source(small_disk: Path) -> None:
    before = _names(small_disk)
    _fill(small_disk.parent / "filler")
    with pytest.raises(CacheError) as caught:
        build_module(*kernel(1))
    assert str(small_disk) in str(caught.value) and "No space left on device" in str(caught.value)
    _assert_only_complete_entries(small_disk, before)
    with pytest.warns(UserWarning, match="No space left on device"):
        module = build_module(*kernel(1), fallback=True)
    assert module.lib.f(1.0) == 2.0 and not Path(module.source_path).is_relative_to(small_disk)


def test_a_full_disk_while_sealing_the_entry(small_disk: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The compiler succeeds, then the disk is full: the manifest that seals the entry cannot be written.
    filler = small_disk.parent / "filler"
    body = f'"$REAL_CC" "$@" || exit $?\ncase "$*" in *_gg_*) head -c 100000000 /dev/zero > {filler} ;; esac\nexit 0'
    monkeypatch.setenv("CC", str(fake_cc(tmp_path, body)))
    before = _names(small_disk)
    with pytest.raises(CacheError) as caught:
        build_module(*kernel(1))
    assert str(small_disk) in str(caught.value) and "No space left on device" in str(caught.value)
    assert filler.stat().st_size > 0
    _assert_only_complete_entries(small_disk, before)
    filler.unlink()
    monkeypatch.delenv("CC")
    assert build_module(*kernel(1)).lib.f(1.0) == 2.0  # once there is room again, the cache works


def test_a_full_disk_while_compiling(small_disk: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The disk fills before the compiler writes the extension: the compiler fails, and that is the cache's trouble.
    filler = small_disk.parent / "filler"
    body = f'case "$*" in *_gg_*) head -c 100000000 /dev/zero > {filler} ;; esac\nexec "$REAL_CC" "$@"'
    monkeypatch.setenv("CC", str(fake_cc(tmp_path, body)))
    before = _names(small_disk)
    with pytest.raises(CacheError) as caught:
        build_module(*kernel(1))
    assert str(small_disk) in str(caught.value) and "No space left on device" in str(caught.value)
    _assert_only_complete_entries(small_disk, before)
    with pytest.warns(UserWarning, match="No space left on device"):
        module = build_module(*kernel(1), fallback=True)
    assert module.lib.f(1.0) == 2.0 and not Path(module.source_path).is_relative_to(small_disk)
