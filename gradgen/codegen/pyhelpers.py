"""The names generated Python kernels call, in two namespaces.

Scalar kernels run on plain floats with ``math`` (fast); array kernels,
and the NumPy fallback of scalar kernels, use NumPy.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from gradgen.ops import functions  # noqa: F401 - defines every op, for their NumPy helpers
from gradgen.ops.registry import OPS
from gradgen.ops.transcendental import LN2


def _maximum(a: float, b: float) -> float:
    """max with NumPy's NaN propagation (Python's max drops a NaN in second place)."""
    return a if a > b or a != a else b


def _minimum(a: float, b: float) -> float:
    return a if a < b or a != a else b


def _sign(x: float) -> float:
    return 1.0 if x > 0.0 else -1.0 if x < 0.0 else x * 0.0


def _integral(round_: Any) -> Any:
    """A rounding function of ``math`` (which returns an int) as NumPy's: a float, signed like ``x``
    (np.ceil(-0.5) is -0.0)."""
    return lambda x: math.copysign(float(round_(x)), x)


def _logaddexp(a: float, b: float) -> float:
    """np.logaddexp on floats: a + log(2) at a tie (infinities too), NaN for NaN."""
    if a == b:
        return a + LN2
    d = a - b
    return a + math.log1p(math.exp(-d)) if d > 0.0 else b + math.log1p(math.exp(d)) if d <= 0.0 else d


SCALAR_FAST: dict[str, Any] = {
    "exp": math.exp, "log": math.log, "log1p": math.log1p, "expm1": math.expm1, "sqrt": math.sqrt,
    "sin": math.sin, "cos": math.cos, "tanh": math.tanh, "pow": math.pow,
    "maximum": _maximum, "minimum": _minimum, "sign": _sign, "inf": math.inf, "nan": math.nan,
    "tan": math.tan, "sinh": math.sinh, "cosh": math.cosh, "asin": math.asin, "acos": math.acos,
    "atan": math.atan, "atan2": math.atan2, "asinh": math.asinh, "acosh": math.acosh, "atanh": math.atanh,
    "erf": math.erf, "hypot": math.hypot, "log2": math.log2, "log10": math.log10, "exp2": lambda x: 2.0**x,
    "logaddexp": _logaddexp, "floor": _integral(math.floor), "ceil": _integral(math.ceil),
    "trunc": _integral(math.trunc), "rint": _integral(round), "mod": lambda a, b: a % b, "fmod": math.fmod,
    "floordiv": lambda a, b: a // b,
    # What math raises where IEEE gives inf or nan, under a name no user's variable can take
    # (generated names never start with an underscore), so a local called ValueError cannot shadow it.
    "_MATH_ERRORS": (ArithmeticError, ValueError),
}

#: The array namespace: NumPy and the ops' own helpers (``Op.np_helper``).
ARRAY: dict[str, Any] = {"np": np, "inf": math.inf, "nan": math.nan,
                         **dict(op.np_helper for op in OPS.values() if op.np_helper)}

#: Names a generated variable must never take (they would shadow the helpers).
RESERVED = set(SCALAR_FAST) | set(ARRAY) | {"abs", "max", "min", "float", "int", "bool", "self", "args",
                                            "kwargs", "math", "range"}
