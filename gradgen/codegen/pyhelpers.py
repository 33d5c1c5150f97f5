"""The names generated Python kernels call, in two namespaces.

Scalar kernels run on plain floats with ``math`` (fast); array kernels,
and the NumPy fallback of scalar kernels, use NumPy.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from gradgen.ops.shape import scatter_add_array, scatter_along_axis_array, unslice_array, unslice_sum_array


def _maximum(a: float, b: float) -> float:
    """max with NumPy's NaN propagation (Python's max drops a NaN in second place)."""
    return a if a > b or a != a else b


def _minimum(a: float, b: float) -> float:
    return a if a < b or a != a else b


def _sign(x: float) -> float:
    return 1.0 if x > 0.0 else -1.0 if x < 0.0 else x * 0.0


def _take_along_axis(x: np.ndarray, idx: np.ndarray, axis: int) -> np.ndarray:
    shape = tuple(m if i == axis else n for i, (n, m) in enumerate(zip(x.shape, idx.shape)))
    return np.take_along_axis(x, np.broadcast_to(idx, shape), axis)


SCALAR_FAST: dict[str, Any] = {
    "exp": math.exp, "log": math.log, "log1p": math.log1p, "expm1": math.expm1, "sqrt": math.sqrt,
    "sin": math.sin, "cos": math.cos, "tanh": math.tanh, "pow": math.pow,
    "maximum": _maximum, "minimum": _minimum, "sign": _sign, "inf": math.inf, "nan": math.nan,
    # What math raises where IEEE gives inf or nan, under a name no user's variable can take
    # (generated names never start with an underscore), so a local called ValueError cannot shadow it.
    "_MATH_ERRORS": (ArithmeticError, ValueError),
}

ARRAY: dict[str, Any] = {
    "np": np, "inf": math.inf, "nan": math.nan, "unslice": unslice_array, "scatter_add": scatter_add_array,
    "take_along_axis": _take_along_axis, "scatter_along_axis": scatter_along_axis_array,
    "unslice_sum": unslice_sum_array,
}

#: Names a generated variable must never take (they would shadow the helpers).
RESERVED = set(SCALAR_FAST) | set(ARRAY) | {"abs", "max", "min", "float", "int", "bool", "self", "args",
                                            "kwargs", "math", "range"}
