"""clear_cache removes only what gradgen made, in a directory gradgen marked as its cache."""

from __future__ import annotations

import fcntl
import os
import warnings
from pathlib import Path

import pytest
from adversarial_helpers import ADD1_CDEF, ADD1_SOURCE, kernel, run_python

from gradgen.build import build_module, cache_dir, clear_cache
from gradgen.build.cache import MARKER, MARKER_TEXT, SUBDIRS, CacheError
from gradgen.errors import CompileError, GradgenError


def _files(directory: Path) -> list[str]:
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*"))


@pytest.mark.parametrize("subdirectory", SUBDIRS)
def test_a_directory_gradgen_did_not_mark_is_not_emptied(cache: Path, subdirectory: str) -> None:
    (cache / subdirectory).mkdir(parents=True)
    (cache / subdirectory / "thesis.tex").write_text("\\chapter{Years of work}")
    with pytest.raises(CacheError) as caught:
        clear_cache()
    message = str(caught.value)
    assert isinstance(caught.value, GradgenError)
    assert str(cache) in message and f"{subdirectory}/thesis.tex" in message and "nothing was removed" in message
    assert "GRADGEN_CACHE_DIR" in message
    assert _files(cache) == [subdirectory, f"{subdirectory}/thesis.tex"]


def test_a_directory_gradgen_did_not_mark_is_not_built_in_either(cache: Path) -> None:
    (cache / "tmp").mkdir(parents=True)
    (cache / "tmp" / "thesis.tex").write_text("mine")
    with pytest.warns(UserWarning, match="not a gradgen cache") as caught:
        module = build_module(ADD1_SOURCE, ADD1_CDEF)
    assert str(cache) in str(caught[0].message)
    assert not Path(module.source_path).is_relative_to(cache)
    assert _files(cache) == ["tmp", "tmp/thesis.tex"]
    clear_cache()  # clears this process's private directory, and nothing of the user's
    assert _files(cache) == ["tmp", "tmp/thesis.tex"] and not Path(module.source_path).exists()


def test_gradgen_marks_the_directory_it_creates_and_an_empty_one_it_adopts(cache: Path, tmp_path: Path) -> None:
    assert cache_dir() == cache and (cache / MARKER).read_text() == MARKER_TEXT
    empty = tmp_path / "empty"
    empty.mkdir(mode=0o700)
    os.environ["GRADGEN_CACHE_DIR"] = str(empty)  # the fixture's monkeypatch restores it
    assert cache_dir() == empty and (empty / MARKER).read_text() == MARKER_TEXT


def test_in_a_marked_cache_only_gradgen_names_are_removed(cache: Path) -> None:
    module = build_module(ADD1_SOURCE, ADD1_CDEF)
    with pytest.raises(CompileError):
        build_module("syntax error", "int f(void);")
    entry = Path(module.source_path).parent
    planted = [
        "notes.txt",
        "tmp/thesis.tex",
        "tmp/_gg_kernel_0123456789abcdef0123456789abcdef",  # a gradgen-like name, but no staging suffix
        "entries/photos/cat.jpg",
        "failed/mine.c",
        "locks/mine.lock",
        "toolchains/settings.json",
    ]
    for name in planted:
        (cache / name).parent.mkdir(exist_ok=True)
        (cache / name).write_text("not gradgen's")
    twin = cache / "entries" / (entry.name[:-1] + ("0" if entry.name[-1] != "0" else "1"))
    twin.mkdir()
    (twin / "manifest.json").write_text("{}")
    (twin / "diary.txt").write_text("an entry-like directory holding a file gradgen never writes")
    clear_cache()
    expected = {MARKER, "entries", "entries/photos", "tmp", "failed", "locks", "toolchains"}
    expected |= set(planted) | {f"entries/{twin.name}", f"entries/{twin.name}/manifest.json"}
    expected |= {f"entries/{twin.name}/diary.txt"}
    assert set(_files(cache)) == expected
    assert module.lib.add1(1.0) == 2.0


def test_a_cache_made_before_the_marker_existed_is_adopted_and_cleared(cache: Path) -> None:
    module = build_module(ADD1_SOURCE, ADD1_CDEF)
    (cache / MARKER).unlink()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert cache_dir() == cache
    assert (cache / MARKER).read_text() == MARKER_TEXT
    clear_cache()
    assert _files(cache) == [MARKER] and not Path(module.source_path).exists()


def test_a_build_in_progress_keeps_its_lock_and_staging_directory(cache: Path) -> None:
    build_module(*kernel(1))
    module = "_gg_kernel_" + "ab" * 16
    staging = cache / "tmp" / f"{module}.x1y2z3w4"
    staging.mkdir(parents=True)
    lock = cache / "locks" / f"{module}.lock"
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        clear_cache()
        assert staging.is_dir() and lock.is_file()
    finally:
        os.close(fd)
    clear_cache()
    assert _files(cache) == [MARKER]


def test_a_forked_child_leaves_the_private_directory_of_its_parent(cache: Path) -> None:
    # The private directory is removed at exit, by the process that made it only.
    code = f"""
import os, sys, warnings
from pathlib import Path
warnings.simplefilter("ignore")
os.makedirs({str(cache)!r}, mode=0o777)
os.chmod({str(cache)!r}, 0o777)  # refused: the process builds in a private directory
from gradgen.build import build_module
module = build_module({ADD1_SOURCE!r}, {ADD1_CDEF!r})
private = Path(module.source_path).parents[2]
pid = os.fork()
if pid == 0:
    sys.exit(0)  # a normal exit: the child runs the atexit handlers it inherited
os.waitpid(pid, 0)
print(private.is_dir(), module.lib.add1(1.0), private)
"""
    run = run_python(code)
    assert run.returncode == 0, run.stderr
    still_there, value, private = run.stdout.split()
    assert (still_there, value) == ("True", "2.0")
    assert not Path(private).exists()  # the parent removed it when it exited


def test_a_marker_written_meanwhile_by_another_process_is_not_taken_for_a_foreign_file(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two processes adopting one empty directory: the other one's marker appears between this one's two looks.
    import gradgen.build.cache as cache_module

    cache.mkdir(mode=0o700)
    looks: list[Path] = []

    def is_marked(root: Path) -> bool:
        looks.append(root)
        if len(looks) == 1:
            cache_module.write_atomic(root / MARKER, MARKER_TEXT.encode())  # the other process, just after the look
            return False
        return (root / MARKER).read_text() == MARKER_TEXT

    monkeypatch.setattr(cache_module, "_is_marked", is_marked)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert cache_dir() == cache
    assert len(looks) >= 2


def test_a_build_does_not_remove_foreign_files_where_it_publishes(cache: Path, tmp_path: Path) -> None:
    module = Path(build_module(*kernel(1)).source_path).stem  # the same key in another cache names the same entry
    os.environ["GRADGEN_CACHE_DIR"] = str(tmp_path / "other")  # the fixture's monkeypatch restores it
    cache_dir()
    (tmp_path / "other" / "entries" / module).mkdir(parents=True)
    planted = tmp_path / "other" / "entries" / module / "thesis.tex"
    planted.write_text("mine")
    with pytest.raises(CacheError) as caught:
        build_module(*kernel(1))
    assert str(planted.parent) in str(caught.value) and "did not create" in str(caught.value)
    assert planted.read_text() == "mine"
    assert list((tmp_path / "other" / "tmp").iterdir()) == []
