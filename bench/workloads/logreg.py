"""Logistic regression with mean binary cross-entropy; X is (N, 8), gradient wrt w (8,) and b."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from bench.workloads import Inputs, Result, Workload

FEATURES = 8


def make(size: int) -> Inputs:
    """N rows of standard normal features, labels drawn from a true model, small start weights."""
    rng = np.random.default_rng(4)
    X = rng.standard_normal((size, FEATURES))
    y = (rng.random(size) < 1 / (1 + np.exp(-X @ rng.standard_normal(FEATURES)))).astype(np.float64)
    return {"w": 0.1 * rng.standard_normal(FEATURES), "b": 0.1, "X": X, "y": y}


def define(gg: Any) -> Callable[..., Any]:
    """The loss in gradgen's DSL, written the way the seeds write it."""

    def logreg(w, b, X, y):
        p = gg.sigmoid(X @ w + b)
        return -gg.mean(y * gg.log(p) + (1 - y) * gg.log(1 - p))

    return logreg


def numpy_by_hand(w: np.ndarray, b: float, X: np.ndarray, y: np.ndarray) -> Result:
    """The seeds' vectorised gradient, X.T @ (p - y) / N, with the loss from logits."""
    z = X @ w + b
    p = 1 / (1 + np.exp(-z))
    r = (p - y) / len(y)
    value = np.mean(np.logaddexp(0.0, z) - y * z)
    return float(value), {"w": X.T @ r, "b": float(r.sum())}


WORKLOAD = Workload(
    name="logreg",
    kind="batched",
    sizes=(1_000, 100_000, 1_000_000),
    quick_sizes=(1_000, 100_000),
    wrt=("w", "b"),
    make=make,
    define=define,
    numpy_by_hand=numpy_by_hand,
)
