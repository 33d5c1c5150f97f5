"""Shared test settings: every test gets a private build cache, and every program the schedule makes
is checked against its invariants."""

from __future__ import annotations

import pytest

import gradgen.schedule

gradgen.schedule.CHECK = True


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRADGEN_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "gradgen-cache"))
