"""What a build killed midway (SIGKILL) leaves in the cache is swept by a later build."""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from adversarial_helpers import ADD1_CDEF, ADD1_SOURCE, REPO, kernel

from gradgen.build import build_module

# A child that builds add1 but stops inside the compiler step, after saying so in the file "compiling".
_STOPS_MID_BUILD = f"""
import sys, time
from pathlib import Path
from gradgen.build import build_module, builder
def stuck(*args):
    Path(sys.argv[1], "compiling").touch()
    time.sleep(300)
builder._compile = stuck
build_module({ADD1_SOURCE!r}, {ADD1_CDEF!r})
"""


def _kill_mid_build(tmp_path: Path) -> Path:
    """SIGKILL a process in the middle of a build; return the staging directory it left in tmp/."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, (str(REPO), os.environ.get("PYTHONPATH"))))}
    child = subprocess.Popen([sys.executable, "-c", _STOPS_MID_BUILD, str(tmp_path)], env=env)
    try:
        deadline = time.monotonic() + 120  # bounds a child that fails to start; it normally takes well under 1 s
        while not (tmp_path / "compiling").exists() and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert (tmp_path / "compiling").exists(), "the child did not reach the compiler"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    (staging,) = (tmp_path / "cache" / "tmp").iterdir()
    return staging


def _age(path: Path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_a_killed_build_leaves_a_staging_directory_that_the_next_build_sweeps(
    cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    staging = _kill_mid_build(tmp_path)
    monkeypatch.setenv("GRADGEN_BUILD_TIMEOUT", "60")
    build_module(*kernel(1))
    assert staging.is_dir()  # younger than a build may take: it could be a build still running
    _age(staging, 120)
    build_module(*kernel(2))
    assert not staging.exists()
    assert list((cache / "tmp").iterdir()) == []


def test_the_staging_directory_of_its_own_module_is_swept_by_the_build_that_replaces_it(
    cache: Path, tmp_path: Path
) -> None:
    staging = _kill_mid_build(tmp_path)
    _age(staging, 3600)
    assert build_module(ADD1_SOURCE, ADD1_CDEF).built
    assert list((cache / "tmp").iterdir()) == []


def test_an_old_staging_directory_whose_lock_is_held_is_kept(cache: Path, tmp_path: Path) -> None:
    staging = _kill_mid_build(tmp_path)
    _age(staging, 3600)
    foreign = cache / "tmp" / "thesis.tex"
    foreign.write_text("mine")
    _age(foreign, 3600)
    module = staging.name.rsplit(".", 1)[0]
    fd = os.open(cache / "locks" / f"{module}.lock", os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # as a process still building that module would
        build_module(*kernel(1))
    finally:
        os.close(fd)
    assert staging.is_dir() and foreign.is_file()
    build_module(*kernel(2))
    assert not staging.exists() and foreign.is_file()


def test_a_killed_probe_record_write_is_swept(cache: Path) -> None:
    build_module(*kernel(1))
    (cache / "toolchains").mkdir(mode=0o700, exist_ok=True)  # this process probed its compiler before, elsewhere
    leftover = cache / "toolchains" / f".{'0' * 32}.json.abcd1234"
    leftover.write_text("{")
    young = cache / "toolchains" / f".{'1' * 32}.json.abcd1234"
    young.write_text("{")
    _age(leftover, 3600)
    build_module(*kernel(2))
    assert not leftover.exists() and young.exists()
