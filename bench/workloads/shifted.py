"""The Rosenbrock sum over N values, an elementwise loss of shifted slices: gradient wrt x.

J = sum over i < N-1 of 100 (x(i+1) - x(i)^2)^2 + (1 - x(i))^2

Each term reads two neighbours, so the gradient of x(i) collects from two terms:
the graph is shallow but its two slices, x[1:] and x[:-1], overlap by all but one value.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from bench.workloads import Inputs, Result, Workload


def make(size: int) -> Inputs:
    """N values drawn from [-2, 2]."""
    rng = np.random.default_rng(10)
    return {"x": rng.uniform(-2.0, 2.0, size)}


def define(gg: Any) -> Callable[..., Any]:
    """The loss in gradgen's DSL."""

    def shifted(x):
        return gg.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)

    return shifted


def numpy_by_hand(x: np.ndarray) -> Result:
    """The two residuals once, each term's derivative scattered to its two neighbours."""
    head = x[:-1]
    r = x[1:] - head * head
    q = 1.0 - head
    grad = np.zeros_like(x)
    grad[1:] = 200.0 * r
    grad[:-1] -= 400.0 * r * head + 2.0 * q
    return float(np.sum(100.0 * r * r + q * q)), {"x": grad}


WORKLOAD = Workload(
    name="shifted",
    kind="batched",
    sizes=(1_000, 1_000_000),
    quick_sizes=(1_000,),
    wrt=("x",),
    make=make,
    define=define,
    numpy_by_hand=numpy_by_hand,
)
