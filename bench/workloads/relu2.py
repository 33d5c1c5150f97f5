"""The seeds' two-layer ReLU net: J = (relu(w2*relu(w1*x + b1) + b2) - y)^2 / 2."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from bench.workloads import Inputs, Result, Workload


def make(size: int) -> Inputs:
    """The seeds' values; a scalar graph has no size."""
    return {"w1": 2.0, "b1": 0.0, "w2": 3.0, "b2": 1.0, "x": 1.0, "y": 5.0}


def define(gg: Any) -> Callable[..., Any]:
    """The loss in gradgen's DSL."""

    def relu2(w1, b1, w2, b2, x, y):
        a1 = gg.relu(w1 * x + b1)
        a2 = gg.relu(w2 * a1 + b2)
        return (a2 - y) ** 2 / 2

    return relu2


def numpy_by_hand(w1: float, b1: float, w2: float, b2: float, x: float, y: float) -> Result:
    """Backprop by hand with NumPy's elementwise functions; relu'(0) = 0."""
    z1 = w1 * x + b1
    a1 = np.maximum(z1, 0.0)
    z2 = w2 * a1 + b2
    a2 = np.maximum(z2, 0.0)
    dz2 = (a2 - y) * np.greater(z2, 0.0)
    dz1 = dz2 * w2 * np.greater(z1, 0.0)
    grads = {"w1": dz1 * x, "b1": dz1, "w2": dz2 * a1, "b2": dz2}
    return (a2 - y) ** 2 / 2, grads


def python_by_hand(w1: float, b1: float, w2: float, b2: float, x: float, y: float) -> Result:
    """The same backprop with plain floats."""
    z1 = w1 * x + b1
    a1 = z1 if z1 > 0.0 else 0.0
    z2 = w2 * a1 + b2
    a2 = z2 if z2 > 0.0 else 0.0
    dz2 = a2 - y if z2 > 0.0 else 0.0
    dz1 = dz2 * w2 if z1 > 0.0 else 0.0
    return (a2 - y) ** 2 / 2, {"w1": dz1 * x, "b1": dz1, "w2": dz2 * a1, "b2": dz2}


WORKLOAD = Workload(
    name="relu2",
    kind="scalar",
    sizes=(1,),
    quick_sizes=(1,),
    wrt=("w1", "b1", "w2", "b2"),
    make=make,
    define=define,
    numpy_by_hand=numpy_by_hand,
    python_by_hand=python_by_hand,
)
