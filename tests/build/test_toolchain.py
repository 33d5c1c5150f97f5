"""find_compiler: honouring CC, the fingerprint, and probing a compiler only once."""

from __future__ import annotations

import os
import shutil
import sysconfig
from pathlib import Path

import _cffi_backend
import pytest
from build_helpers import run_json

from gradgen.build import CODEGEN_VERSION, find_compiler
from gradgen.build.toolchain import DEFAULT_FLAGS


def test_finds_a_compiler_and_fingerprints_everything_that_shapes_the_binary(cache: Path) -> None:
    toolchain = find_compiler()
    assert toolchain is not None and os.path.isabs(toolchain.path) and toolchain.version
    assert toolchain.flags == DEFAULT_FLAGS and "-ffast-math" not in toolchain.flags
    fingerprint = toolchain.fingerprint()
    for part in (
        toolchain.path,
        toolchain.version,
        "-ffp-contract=off",
        CODEGEN_VERSION,
        sysconfig.get_config_var("EXT_SUFFIX"),
        _cffi_backend.__version__,
    ):
        assert part in fingerprint
    assert find_compiler() is toolchain


def test_cc_is_honoured_with_its_extra_words(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CC", f"{shutil.which('cc') or shutil.which('gcc')} -DGRADGEN_TEST=1")
    toolchain = find_compiler()
    assert toolchain is not None
    assert toolchain.flags == ("-DGRADGEN_TEST=1", *DEFAULT_FLAGS)
    assert "-DGRADGEN_TEST=1" in toolchain.fingerprint()


def test_a_fresh_process_reuses_the_probe_verdict_without_running_the_compiler(cache: Path, tmp_path: Path) -> None:
    log = tmp_path / "calls.log"
    wrapper = tmp_path / "logging-cc"
    wrapper.write_text(f'#!/bin/sh\necho "$@" >> {log}\nexec {shutil.which("cc") or shutil.which("gcc")} "$@"\n')
    wrapper.chmod(0o755)
    probe = "import json; from gradgen.build import find_compiler; print(json.dumps(find_compiler().version))"
    first = run_json(probe, CC=str(wrapper))
    calls = log.read_text()
    assert "--version" in calls and "probe.c" in calls
    assert run_json(probe, CC=str(wrapper)) == first
    assert log.read_text() == calls
