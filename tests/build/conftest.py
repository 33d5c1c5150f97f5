"""The fixture every build-layer test uses: a private cache directory."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh cache directory, set as GRADGEN_CACHE_DIR for this test and the processes it starts."""
    directory = tmp_path / "cache"
    monkeypatch.setenv("GRADGEN_CACHE_DIR", str(directory))
    return directory
