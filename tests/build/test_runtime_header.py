"""csrc/gradgen_runtime.h: strict C99, and NumPy's answers at the edges (±1000, NaN, inf)."""

from __future__ import annotations

import math
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from gradgen.build import build_module, find_compiler, runtime_include_dir

UNARY = ("sigmoid", "softplus", "relu", "sign")
BINARY = ("maximum", "minimum")
CDEF = "\n".join(
    [f"double gg_{f}(double); float gg_{f}f(float);" for f in UNARY]
    + [f"double gg_{f}(double, double); float gg_{f}f(float, float);" for f in BINARY]
)


def _reference(name: str, *args: float) -> float:
    x = np.float64(args[0])
    with np.errstate(all="ignore"):
        return float(
            {
                "sigmoid": lambda: 1.0 / (1.0 + np.exp(-x)),
                "softplus": lambda: np.logaddexp(0.0, x),
                "relu": lambda: np.maximum(x, 0.0),
                "sign": lambda: np.sign(x),
                "maximum": lambda: np.maximum(x, args[1]),
                "minimum": lambda: np.minimum(x, args[1]),
            }[name]()
        )


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The helpers, built once for this module's tests."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GRADGEN_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
        return build_module('#include "gradgen_runtime.h"\n', CDEF, name_hint="runtime").lib


def test_the_header_compiles_with_strict_warnings(tmp_path: Path, cache: Path) -> None:
    toolchain = find_compiler()
    assert toolchain is not None
    calls = [f"gg_{f}(x) + (double)gg_{f}f((float)x)" for f in UNARY]
    calls += [f"gg_{f}(x, 1.0) + (double)gg_{f}f((float)x, 1.0f)" for f in BINARY]
    (tmp_path / "use.c").write_text(
        f'#include "gradgen_runtime.h"\ndouble use(double x);\ndouble use(double x) {{ return {" + ".join(calls)}; }}\n'
    )
    strict = ["-std=c99", "-pedantic", "-Wall", "-Wextra", "-Werror", "-Wconversion", "-Wdouble-promotion"]
    run = subprocess.run(
        [toolchain.path, *strict, f"-I{runtime_include_dir()}", "-c", "use.c", "-o", "use.o"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr


def _agrees(got: float, expected: float, rel: float) -> bool:
    if math.isnan(expected):
        return math.isnan(got)
    return got == pytest.approx(expected, rel=rel, abs=0.0)


@pytest.mark.parametrize("name", UNARY)
@pytest.mark.parametrize("x", [-1000.0, -30.0, -1.5, -0.0, 0.0, 0.25, 30.0, 1000.0, -math.inf, math.inf, math.nan])
def test_unary_helpers_match_numpy(runtime: Any, name: str, x: float) -> None:
    expected = _reference(name, x)
    assert _agrees(getattr(runtime, f"gg_{name}")(x), expected, rel=1e-15)
    assert _agrees(getattr(runtime, f"gg_{name}f")(x), expected, rel=1e-6)


@pytest.mark.parametrize("name", BINARY)
@pytest.mark.parametrize("a, b", [(1.0, 2.0), (2.0, 1.0), (math.nan, 1.0), (1.0, math.nan), (-math.inf, 0.0)])
def test_maximum_and_minimum_propagate_nan_like_numpy(runtime: Any, name: str, a: float, b: float) -> None:
    expected = _reference(name, a, b)
    assert _agrees(getattr(runtime, f"gg_{name}")(a, b), expected, rel=0.0)
    assert _agrees(getattr(runtime, f"gg_{name}f")(a, b), expected, rel=0.0)
