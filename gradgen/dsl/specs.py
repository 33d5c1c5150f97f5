"""Input specs: what each argument of a traced function is (shape and dtype)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from gradgen.errors import InputError

_DTYPES = {"float64": "float64", "float32": "float32", "int64": "int64"}


@dataclass(frozen=True)
class Array:
    """An array argument of fixed ``shape`` and ``dtype`` (float64, float32 or int64).

    int64 arrays are never differentiated; they serve as indices.
    """

    shape: tuple[int, ...]
    dtype: str = "float64"

    def __init__(self, shape: Sequence[int] | int = (), dtype: Any = "float64"):
        given = shape
        try:
            shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
        except TypeError:
            shape = (given,)
        if any(isinstance(n, (bool, np.bool_)) or not isinstance(n, (int, np.integer)) or n < 0 for n in shape):
            raise InputError(f"Array spec: shape must be non-negative ints (not bools), got {given!r}")
        try:
            name = np.dtype(dtype).name
        except TypeError:
            name = str(dtype)
        if name not in _DTYPES:
            raise InputError(f"Array spec: dtype must be float64, float32 or int64, got {dtype!r}")
        size = math.prod(int(n) for n in shape)
        if size * np.dtype(name).itemsize > np.iinfo(np.intp).max:
            raise InputError(f"Array spec: shape {tuple(int(n) for n in shape)} has {size:,} elements of "
                             f"{np.dtype(name).itemsize} bytes, more than one array can address "
                             f"({np.iinfo(np.intp).max:,} bytes); use a smaller shape")
        object.__setattr__(self, "shape", tuple(int(n) for n in shape))
        object.__setattr__(self, "dtype", name)

    def __repr__(self) -> str:
        return f"gg.Array({self.shape}, dtype={self.dtype!r})" if self.shape else f"gg.Scalar({self.dtype!r})"


def Scalar(dtype: Any = "float64") -> Array:  # noqa: N802 - reads like the class it makes
    """A scalar argument (float64 unless said otherwise)."""
    return Array((), dtype)




def spec_of(value: Any, name: str) -> Array:
    """The spec that describes a concrete argument (used when the first call fixes shapes)."""
    if isinstance(value, Array):
        return value
    if isinstance(value, bool):
        raise InputError(f"argument {name!r}: expected a number, got a bool")
    if isinstance(value, (float, int)):
        return Scalar()
    array = np.asarray(value) if not isinstance(value, np.ndarray) else value
    kind = array.dtype.kind
    if kind == "c":
        raise InputError(f"argument {name!r}: complex values are not supported (got dtype {array.dtype})")
    if kind == "f":
        return Array(array.shape, "float32" if array.dtype == np.float32 else "float64")
    if kind in "iu":
        return Array(array.shape, "int64") if array.ndim else Scalar()
    if kind == "b":
        return Array(array.shape, "float64")
    if kind == "O" and isinstance(value, (list, tuple)):
        raise InputError(f"argument {name!r}: expected numbers, but NumPy reads this {type(value).__name__} as "
                         "objects (entries that are not numbers, ragged rows, or integers beyond int64 such as "
                         "2**64)")
    raise InputError(f"argument {name!r}: expected a number or a numeric array, got "
                     f"{type(value).__name__}" + (f" of dtype {array.dtype}" if kind != "O" else ""))


def as_spec(value: Any, name: str) -> Array:
    """A spec given by the user: a gg.Array/gg.Scalar, or a shape tuple as shorthand."""
    if isinstance(value, Array):
        return value
    if isinstance(value, tuple) and all(isinstance(n, (int, np.integer)) for n in value):
        return Array(value)
    raise InputError(f"spec for {name!r}: expected gg.Scalar() or gg.Array(shape, dtype), got {value!r}")
