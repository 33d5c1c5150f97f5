"""Functions written in the DSL from primitives: their graphs are the primitives', so their gradients,
C and SymPy forms come from those (a primitive is added only where stability or speed needs one)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from gradgen.dsl.value import Value
from gradgen.errors import InputError
from gradgen.ops import functions as F


def square(x: Any) -> Any:
    """x * x."""
    return x * x


def reciprocal(x: Any) -> Any:
    """1 / x (inf at 0)."""
    return 1.0 / x


def deg2rad(x: Any) -> Any:
    """Degrees to radians."""
    return x * (math.pi / 180.0)


def rad2deg(x: Any) -> Any:
    """Radians to degrees."""
    return x * (180.0 / math.pi)


def logaddexp2(a: Any, b: Any) -> Any:
    """log2(2 ** a + 2 ** b) without overflow (``logaddexp`` in base 2)."""
    return F.logaddexp(a * math.log(2.0), b * math.log(2.0)) * (1.0 / math.log(2.0))


def sinc(x: Any) -> Any:
    """sin(pi x) / (pi x), and 1 at 0 (NumPy's normalized sinc); its gradient at 0 is 0."""
    if not isinstance(x, Value):
        return np.sinc(x)
    at_zero = x == 0.0
    safe = F.where(at_zero, 1.0, x) * math.pi  # the other branch's value, never 0 / 0
    return F.where(at_zero, 1.0, F.sin(safe) / safe)


def clip(x: Any, lower: Any = None, upper: Any = None) -> Any:
    """x limited to [lower, upper] (either may be None), as ``minimum(maximum(x, lower), upper)``: the
    gradient is 1 inside, 0 outside, and split evenly with the bound where x equals it."""
    if lower is None and upper is None:
        raise InputError("clip: give lower, upper or both (np.clip(x, a_min, a_max)); with neither, "
                         "there is nothing to clip to")
    if lower is not None:
        x = F.maximum(x, lower)
    return x if upper is None else F.minimum(x, upper)


def round(x: Any, decimals: int = 0) -> Any:  # noqa: A001 - NumPy's name
    """x rounded to ``decimals`` decimals, ties to even, as ``np.round`` (``rint(x * 10**d) / 10**d``);
    its gradient is 0."""
    if not isinstance(decimals, (int, np.integer)) or isinstance(decimals, bool):
        raise InputError(f"round: decimals must be an int, got {decimals!r}")
    if not decimals:
        return F.rint(x)
    scale = 10.0 ** int(decimals)
    return F.rint(x * scale) / scale if decimals > 0 else F.rint(x / (1.0 / scale)) * (1.0 / scale)
