"""A 784-256-10 MLP with a tanh hidden layer and softmax cross-entropy over a batch.

Gradient wrt both weight matrices and both biases; the labels are int64.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from bench.workloads import Inputs, Result, Workload

INPUTS, HIDDEN, CLASSES = 784, 256, 10


def make(size: int) -> Inputs:
    """A batch of ``size`` pixel rows in [0, 1), labels, and scaled normal weights."""
    rng = np.random.default_rng(6)
    return {
        "W1": rng.standard_normal((INPUTS, HIDDEN)) / np.sqrt(INPUTS),
        "b1": np.zeros(HIDDEN),
        "W2": rng.standard_normal((HIDDEN, CLASSES)) / np.sqrt(HIDDEN),
        "b2": np.zeros(CLASSES),
        "X": rng.random((size, INPUTS)),
        "y": rng.integers(0, CLASSES, size),
    }


def define(gg: Any) -> Callable[..., Any]:
    """The loss in gradgen's DSL."""

    def mlp(W1, b1, W2, b2, X, y):
        h = gg.tanh(X @ W1 + b1)
        logp = gg.log_softmax(h @ W2 + b2, axis=1)
        return -gg.mean(gg.take_along_axis(logp, y[:, None], axis=1))

    return mlp


def numpy_by_hand(
    W1: np.ndarray, b1: np.ndarray, W2: np.ndarray, b2: np.ndarray, X: np.ndarray, y: np.ndarray
) -> Result:
    """Backprop by hand: softmax minus one-hot, then through tanh and both products."""
    h = np.tanh(X @ W1 + b1)
    logits = h @ W2 + b2
    shifted = logits - logits.max(axis=1, keepdims=True)
    logp = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    rows = np.arange(len(y))
    value = -logp[rows, y].mean()
    dlogits = np.exp(logp)
    dlogits[rows, y] -= 1
    dlogits /= len(y)
    dz = (dlogits @ W2.T) * (1 - h * h)
    grads = {"W1": X.T @ dz, "b1": dz.sum(axis=0), "W2": h.T @ dlogits, "b2": dlogits.sum(axis=0)}
    return float(value), grads


WORKLOAD = Workload(
    name="mlp",
    kind="batched",
    sizes=(256,),
    quick_sizes=(256,),
    wrt=("W1", "b1", "W2", "b2"),
    make=make,
    define=define,
    numpy_by_hand=numpy_by_hand,
    size_label="batch",
)
