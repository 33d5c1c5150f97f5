"""A compiler that hangs, or a build lock held forever, must end in CompileError, not hang gradgen."""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path

import pytest
from adversarial_helpers import ADD1_CDEF, ADD1_SOURCE, fake_cc, is_gone, kernel

from gradgen.build import build_module, find_compiler, require_compiler
from gradgen.build.cache import CacheError
from gradgen.errors import CompileError, InputError


def _hanging_cc(tmp_path: Path, when: str) -> Path:
    """A compiler that, for arguments matching the shell pattern ``when``, starts a child that sleeps and waits for it
    (as a compiler driver waits for cc1), writing the child's pid to ``sleeper.pid``; otherwise the real compiler."""
    pid_file = tmp_path / "sleeper.pid"
    return fake_cc(
        tmp_path,
        f'case "$*" in {when}) sleep 300 & echo $! > {pid_file}; wait; exit 1 ;; esac\nexec "$REAL_CC" "$@"',
    )


def _assert_sleeper_killed(tmp_path: Path) -> None:
    pid = int((tmp_path / "sleeper.pid").read_text())
    deadline = time.monotonic() + 10  # SIGKILL is delivered at once; this only bounds a scheduler's delay
    while not is_gone(pid) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert is_gone(pid), "the compiler's child was left running"


def test_a_compiler_hanging_on_the_probe_is_stopped(
    cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CC", str(_hanging_cc(tmp_path, "*--version*")))
    monkeypatch.setenv("GRADGEN_PROBE_TIMEOUT", "0.5")
    with pytest.raises(CompileError) as caught:
        require_compiler()
    message = str(caught.value)
    assert "--version" in message and "0.5 s" in message and "GRADGEN_PROBE_TIMEOUT" in message
    _assert_sleeper_killed(tmp_path)
    assert find_compiler() is None  # the verdict is kept: no second wait


def test_a_compiler_hanging_on_a_build_is_stopped(cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CC", str(_hanging_cc(tmp_path, "*_gg_*")))
    monkeypatch.setenv("GRADGEN_BUILD_TIMEOUT", "1")
    with pytest.raises(CompileError) as caught:
        build_module(ADD1_SOURCE, ADD1_CDEF)
    message = str(caught.value)
    assert "did not finish within 1 s" in message and "GRADGEN_BUILD_TIMEOUT" in message and "_gg_kernel_" in message
    _assert_sleeper_killed(tmp_path)
    assert list((cache / "entries").iterdir()) == [] and list((cache / "tmp").iterdir()) == []


def test_waiting_for_a_lock_another_process_never_releases_is_bounded(
    cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = Path(build_module(*kernel(1)).source_path).stem  # the same key in another cache names the same lock
    other = tmp_path / "other-cache"
    monkeypatch.setenv("GRADGEN_CACHE_DIR", str(other))
    (other / "locks").mkdir(parents=True, mode=0o700)
    fd = os.open(other / "locks" / f"{module}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # a separate open file: it excludes build_module's as another process's would
        monkeypatch.setenv("GRADGEN_BUILD_TIMEOUT", "0.3")
        with pytest.raises(CacheError) as caught:
            build_module(*kernel(1))
    finally:
        os.close(fd)
    message = str(caught.value)
    assert f"{module}.lock" in message and "GRADGEN_BUILD_TIMEOUT" in message
    assert build_module(*kernel(1)).lib.f(1.0) == 2.0  # and once it is free, the build goes on


@pytest.mark.parametrize("value", ["soon", "0", "-5", "inf", "nan"])
def test_a_bad_time_limit_is_an_input_error_naming_the_variable(
    cache: Path, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("GRADGEN_BUILD_TIMEOUT", value)
    with pytest.raises(InputError, match=f"GRADGEN_BUILD_TIMEOUT must be a positive number of seconds, got '{value}'"):
        build_module(ADD1_SOURCE, ADD1_CDEF)
