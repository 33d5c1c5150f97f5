"""Argument checks for kernels: binding, scalar and array conversion, clear errors.

The generated entry of a kernel inlines the cheap checks (``type(x) is
float``, dtype and shape of an ndarray) and calls these functions only when
an argument needs converting or is wrong.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from gradgen.dsl.specs import Array
from gradgen.errors import InputError


class OtherSignature(Exception):
    """Raised by a check when an argument is valid but of another shape (JIT kernels retrace)."""


def bind(names: Sequence[str], args: tuple, kwargs: dict) -> list[Any]:
    """Positional and keyword arguments as one list in parameter order."""
    if len(args) > len(names):
        raise InputError(f"expected {len(names)} argument(s) ({', '.join(names)}), got {len(args)} positional")
    values: list[Any] = list(args) + [_MISSING] * (len(names) - len(args))
    for key, value in kwargs.items():
        if key not in names:
            raise InputError(f"unknown argument {key!r}; the arguments are {', '.join(names)}")
        index = names.index(key)
        if values[index] is not _MISSING:
            raise InputError(f"argument {key!r} given twice (by position and by keyword)")
        values[index] = value
    missing = [n for n, v in zip(names, values) if v is _MISSING]
    if missing:
        raise InputError(f"missing argument(s) {', '.join(map(repr, missing))}; expected "
                         f"{len(names)}: {', '.join(names)}")
    return values


_MISSING = object()


def _kind_error(name: str, value: Any, expected: str) -> InputError:
    what = type(value).__name__
    if isinstance(value, np.ndarray):
        what = f"an array of dtype {value.dtype}"
    return InputError(f"argument {name!r}: expected {expected}, got {what}")


def to_scalar(value: Any, name: str, dtype: str, jit: bool) -> Any:
    """``value`` as a Python float (or int), or InputError/OtherSignature."""
    if isinstance(value, (bool, np.bool_)):
        raise InputError(f"argument {name!r}: expected a number, got a bool")
    if isinstance(value, (float, int, np.floating, np.integer)):
        return int(value) if dtype == "int64" else float(value)
    if isinstance(value, (complex, np.complexfloating)):
        raise InputError(f"argument {name!r}: complex values are not supported")
    if isinstance(value, (np.ndarray, list, tuple)):
        array = np.asarray(value)
        if array.shape == ():
            return to_scalar(array.item(), name, dtype, jit)
        if jit and array.dtype.kind in "fiu":
            raise OtherSignature
        raise InputError(f"argument {name!r}: expected a scalar, got an array of shape {array.shape}")
    raise _kind_error(name, value, "a number")


def to_array(value: Any, name: str, spec: Array, jit: bool) -> np.ndarray:
    """``value`` as an ndarray of the spec's dtype and shape, or InputError/OtherSignature."""
    if isinstance(value, (str, bytes)) or value is None:
        raise _kind_error(name, value, f"an array of shape {spec.shape}")
    try:
        array = np.asarray(value)
    except (ValueError, TypeError):
        raise InputError(f"argument {name!r}: cannot be read as an array (ragged nested lists?)") from None
    kind = array.dtype.kind
    if kind == "c":
        raise InputError(f"argument {name!r}: complex values are not supported (got dtype {array.dtype})")
    if kind not in "fiub" or (kind == "b" and spec.dtype == "int64"):
        raise _kind_error(name, value, f"a numeric array of shape {spec.shape}")
    if spec.dtype == "int64" and kind == "f":
        raise InputError(f"argument {name!r}: expected integer indices (int64), got dtype {array.dtype}")
    if array.shape != spec.shape:
        if jit:
            raise OtherSignature
        raise InputError(f"argument {name!r}: expected shape {spec.shape}, got {array.shape}")
    return np.ascontiguousarray(array, dtype=spec.dtype)
