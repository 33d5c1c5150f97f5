"""The runtime header ships with the package, and pyproject.toml lists every package."""

from __future__ import annotations

from pathlib import Path

import pytest
from build_helpers import REPO

from gradgen.build import runtime_include_dir

tomllib = pytest.importorskip("tomllib")


def test_the_runtime_header_is_found() -> None:
    assert (Path(runtime_include_dir()) / "gradgen_runtime.h").is_file()


def test_every_package_is_listed_and_csrc_ships_as_package_data() -> None:
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    on_disk = {
        ".".join(path.parent.relative_to(REPO).parts)
        for path in (REPO / "gradgen").rglob("*.py")
        if "__pycache__" not in path.parts
    }
    assert on_disk <= set(config["packages"]), "add the missing packages to pyproject.toml"
    assert config["package-dir"]["gradgen.csrc"] == "csrc" and "gradgen.csrc" in config["packages"]
    assert config["package-data"]["gradgen.csrc"] == ["*.h"]
