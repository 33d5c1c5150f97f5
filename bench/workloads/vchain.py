"""A vector recurrence, one parameter per step: h(0) = h0 (4 values), h(k+1) = tanh(h(k) * w(k)).

J = sum over k = 1..n of sum(h(k)^2), the whole trajectory's energy; gradient wrt every w(k).

The loss sums over the trajectory rather than taking the last state alone, so that
dJ/dw(k) is of order one for every k and every n: tanh contracts
(dh(k+1)/dh(k) = w(k) (1 - h(k+1)^2), about 0.4 here), so the last state forgets
the early steps and its gradient wrt w(0) would shrink geometrically with n.
Here each w(k) moves its own step's term, dJ/dw(k) = sum(2 h(k+1) (1 - h(k+1)^2) h(k))
plus the damped effect on the later terms, between about 1 and 4 for every k
(w(k) in [1.3, 1.7] keeps |h| near 0.86). The unrolled graph has about 5n nodes,
each a 4-vector.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from bench.workloads import Inputs, Result, Workload

H0 = (0.5, -0.3, 0.8, -1.0)
"""The initial state: mixed signs, which tanh keeps."""


def make(size: int) -> Inputs:
    """The fixed initial state and n weights drawn from [1.3, 1.7]."""
    rng = np.random.default_rng(8)
    return {"h0": np.array(H0), "w": 1.5 + 0.2 * rng.uniform(-1.0, 1.0, size)}


def define(gg: Any) -> Callable[..., Any]:
    """The loss in gradgen's DSL: the loop unrolls into the graph."""

    def vchain(h0, w):
        h = h0
        loss = 0.0
        for k in range(len(w)):
            h = gg.tanh(h * w[k])
            loss = loss + gg.sum(h * h)
        return loss

    return vchain


def numpy_by_hand(h0: np.ndarray, w: np.ndarray) -> Result:
    """Forward loop keeping h(0..n) as rows of one array, backward loop carrying dJ/dh(k) as a vector."""
    n = len(w)
    h = np.empty((n + 1, h0.size))
    h[0] = h0
    for k in range(n):
        h[k + 1] = np.tanh(h[k] * w[k])
    grad_h = np.zeros(h0.size)  # dJ/dh(k+1) through the later steps
    grad_w = np.empty(n)
    for k in range(n - 1, -1, -1):
        grad_z = (grad_h + 2.0 * h[k + 1]) * (1.0 - h[k + 1] ** 2)  # dJ/d(h(k) w(k))
        grad_w[k] = grad_z @ h[k]
        grad_h = grad_z * w[k]
    return float(np.sum(h[1:] ** 2)), {"w": grad_w}


def python_by_hand(h0: list[float], w: list[float]) -> Result:
    """The same two loops on lists of floats, one entry of h at a time."""
    hs = [list(h0)]
    value = 0.0
    for wk in w:
        hs.append([math.tanh(hi * wk) for hi in hs[-1]])
        value += sum(hi * hi for hi in hs[-1])
    grad_h = [0.0] * len(h0)
    grad_w = [0.0] * len(w)
    for k in range(len(w) - 1, -1, -1):
        total = 0.0
        for i, (before, after) in enumerate(zip(hs[k], hs[k + 1])):
            grad_z = (grad_h[i] + 2.0 * after) * (1.0 - after * after)
            total += grad_z * before
            grad_h[i] = grad_z * w[k]
        grad_w[k] = total
    return value, {"w": grad_w}


WORKLOAD = Workload(
    name="vchain",
    kind="array chain",
    sizes=(50, 100, 200, 400),
    quick_sizes=(50, 100),
    wrt=("w",),
    make=make,
    define=define,
    numpy_by_hand=numpy_by_hand,
    python_by_hand=python_by_hand,
    size_label="n",
)
