"""The seeds' first graph: c = w*x, a = c + b, d = a - y, J = d^2/2; gradient wrt w and b."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bench.workloads import Inputs, Result, Workload


def make(size: int) -> Inputs:
    """The seeds' values; a scalar graph has no size."""
    return {"w": 2.0, "b": 8.0, "x": -2.0, "y": 2.0}


def define(gg: Any) -> Callable[..., Any]:
    """The loss in gradgen's DSL (no op beyond arithmetic is needed)."""

    def linear(w, b, x, y):
        c = w * x
        a = c + b
        d = a - y
        return d**2 / 2

    return linear


def by_hand(w: float, b: float, x: float, y: float) -> Result:
    """Value and gradient by the chain rule; serves NumPy scalars and plain floats alike."""
    d = w * x + b - y
    return d * d / 2, {"w": d * x, "b": d}


WORKLOAD = Workload(
    name="linear",
    kind="scalar",
    sizes=(1,),
    quick_sizes=(1,),
    wrt=("w", "b"),
    make=make,
    define=define,
    numpy_by_hand=by_hand,
    python_by_hand=by_hand,
)
