"""A child forked while a thread of its parent is building must build on its own, not hang."""

from __future__ import annotations

import json
import os
import select
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from adversarial_helpers import ADD1_CDEF, ADD1_SOURCE, kernel

from gradgen.build import build_module, builder

# Far longer than a build takes; reached only by a child that hangs, which is then killed.
CHILD_LIMIT_S = 60


@pytest.fixture
def thread_mid_build(cache: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[threading.Event]:
    """A thread of this process building add1, held inside the compiler step until the event is set."""
    compiling, release = threading.Event(), threading.Event()
    compile_for_real = builder._compile
    parent = os.getpid()

    def slow_compile(*args: Any) -> None:
        if os.getpid() == parent and threading.current_thread() is thread:
            compiling.set()
            release.wait()
        compile_for_real(*args)

    monkeypatch.setattr(builder, "_compile", slow_compile)
    results: list[object] = []
    thread = threading.Thread(target=lambda: results.append(build_module(ADD1_SOURCE, ADD1_CDEF)))
    thread.start()
    assert compiling.wait(CHILD_LIMIT_S), "the thread never reached the compiler"
    yield release
    release.set()
    thread.join()
    assert len(results) == 1, "the parent's own build failed"


def _in_child(source: str, cdef: str, function: str, before_waiting: Any = None) -> dict[str, Any]:
    """Fork; the child builds ``source`` and reports the result of calling ``function`` on 41.0 through a pipe.

    ``before_waiting`` runs in the parent once the child started. A child that has not answered
    within CHILD_LIMIT_S is killed and the test fails.
    """
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never return into pytest
        status = 1
        try:
            os.close(read_end)
            module = build_module(source, cdef)
            report = {"value": getattr(module.lib, function)(41.0), "built": module.built}
            os.write(write_end, json.dumps(report).encode())
            status = 0
        finally:
            os._exit(status)
    os.close(write_end)
    try:
        if before_waiting is not None:
            before_waiting()
        ready, _, _ = select.select([read_end], [], [], CHILD_LIMIT_S)
        if not ready:
            os.kill(pid, signal.SIGKILL)
            pytest.fail(f"the forked child did not build within {CHILD_LIMIT_S} s: it hangs")
        answer = os.read(read_end, 4096)
    finally:
        os.close(read_end)
        _, status = os.waitpid(pid, 0)
    assert status == 0 and answer, "the forked child failed to build"
    return json.loads(answer)


def test_a_child_forked_mid_build_builds_its_own_kernel(thread_mid_build: threading.Event) -> None:
    report = _in_child(*kernel(1), "f")
    assert report == {"value": 42.0, "built": True}


def test_a_child_forked_mid_build_builds_the_same_kernel_once_the_parent_is_done(
    thread_mid_build: threading.Event,
) -> None:
    # The child must not keep the parent's lock of that kernel through its inherited copy of the lock file.
    report = _in_child(ADD1_SOURCE, ADD1_CDEF, "add1", before_waiting=thread_mid_build.set)
    assert report["value"] == 42.0
