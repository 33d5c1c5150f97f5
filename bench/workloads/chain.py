"""A long scalar chain, one parameter per step: h0 = x, h(i+1) = h(i) + w(i)*sin(h(i)), J = h(n)^2.

Gradient wrt every w(i). The graph has about 3n nodes, which is where tracing,
differentiating and building break down for some systems.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from bench.workloads import Inputs, Result, Workload


def make(size: int) -> Inputs:
    """w(i) of scale 1/sqrt(n), so that h and the gradient stay of order one for any n."""
    rng = np.random.default_rng(7)
    return {"x": 2.0, "w": rng.standard_normal(size) / np.sqrt(size)}


def define(gg: Any) -> Callable[..., Any]:
    """The loss in gradgen's DSL: the loop unrolls into the graph."""

    def chain(x, w):
        h = x
        for i in range(len(w)):
            h = h + w[i] * gg.sin(h)
        return h**2

    return chain


def _forward(x: float, w: list[float]) -> list[float]:
    """h(0) .. h(n); a sequential loop in any system."""
    hs = [x]
    for wi in w:
        hs.append(hs[-1] + wi * math.sin(hs[-1]))
    return hs


def numpy_by_hand(x: float, w: np.ndarray) -> Result:
    """Forward loop on floats, then the backward sweep vectorised as a reversed cumulative product.

    dJ/dh(i+1) = 2 h(n) * prod_{k > i} (1 + w(k) cos h(k)), and dJ/dw(i) = dJ/dh(i+1) * sin h(i).
    """
    hs = _forward(float(x), w.tolist())
    h = np.array(hs[:-1])
    factors = 1 + w * np.cos(h)
    suffix = np.append(np.cumprod(factors[:0:-1])[::-1], 1.0)
    return hs[-1] ** 2, {"w": 2 * hs[-1] * suffix * np.sin(h)}


def python_by_hand(x: float, w: list[float]) -> Result:
    """Forward loop keeping h(i), backward loop carrying dJ/dh."""
    hs = _forward(x, w)
    g = 2 * hs[-1]
    gw = [0.0] * len(w)
    for i in range(len(w) - 1, -1, -1):
        gw[i] = g * math.sin(hs[i])
        g *= 1 + w[i] * math.cos(hs[i])
    return hs[-1] ** 2, {"w": gw}


WORKLOAD = Workload(
    name="chain",
    kind="chain",
    sizes=(100, 1_000, 10_000),
    quick_sizes=(100, 1_000),
    wrt=("w",),
    make=make,
    define=define,
    numpy_by_hand=numpy_by_hand,
    python_by_hand=python_by_hand,
    size_label="n",
)
