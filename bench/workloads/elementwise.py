"""An elementwise-heavy loss over N values with three parameters: gradient wrt a, b, c.

L = sum(tanh(a*x + b) * exp(-c*x^2) + log(1 + exp(a*x)))
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from bench.workloads import Inputs, Result, Workload


def make(size: int) -> Inputs:
    """N values spread over [-3, 3] and fixed parameters."""
    rng = np.random.default_rng(5)
    return {"a": 0.7, "b": -0.3, "c": 0.5, "x": rng.uniform(-3.0, 3.0, size)}


def define(gg: Any) -> Callable[..., Any]:
    """The loss in gradgen's DSL."""

    def elementwise(a, b, c, x):
        return gg.sum(gg.tanh(a * x + b) * gg.exp(-c * x**2) + gg.log(1 + gg.exp(a * x)))

    return elementwise


def numpy_by_hand(a: float, b: float, c: float, x: np.ndarray) -> Result:
    """Each derivative written out, sharing tanh, the Gaussian and the logistic."""
    t = np.tanh(a * x + b)
    e = np.exp(-c * x * x)
    value = np.sum(t * e + np.logaddexp(0.0, a * x))
    dt = (1 - t * t) * e
    logistic = 1 / (1 + np.exp(-a * x))
    grads = {"a": float(np.dot(dt + logistic, x)), "b": float(dt.sum()), "c": float(-np.dot(t * e, x * x))}
    return float(value), grads


WORKLOAD = Workload(
    name="elementwise",
    kind="batched",
    sizes=(10_000, 1_000_000),
    quick_sizes=(10_000,),
    wrt=("a", "b", "c"),
    make=make,
    define=define,
    numpy_by_hand=numpy_by_hand,
)
