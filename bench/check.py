"""Correctness before timing: a system's value and gradient against the NumPy reference."""

from __future__ import annotations

import numpy as np

from bench.systems import Grads
from bench.workloads import Result

RTOL = 1e-9
"""Relative to the largest magnitude of the reference quantity (the value, or one gradient array)."""


def _relative_error(got: np.ndarray, want: np.ndarray) -> float:
    scale = float(np.max(np.abs(want))) if want.size else 0.0
    error = float(np.max(np.abs(got - want))) if want.size else 0.0
    return error / scale if scale > 0 else error


def mismatch(got: tuple[float, Grads], want: Result, wrt: tuple[str, ...]) -> str | None:
    """What differs, in words, or None when value and every gradient agree to ``RTOL``.

    NaN anywhere counts as a mismatch.
    """
    value, grads = got
    error = _relative_error(np.asarray(value), np.asarray(want[0]))
    if not error <= RTOL:
        return f"value {value!r} differs from the reference {want[0]!r} (relative error {error:.2g})"
    if set(grads) != set(wrt):
        return f"gradients for {sorted(grads)}, expected {sorted(wrt)}"
    for name in wrt:
        got_grad, want_grad = np.asarray(grads[name]), np.asarray(want[1][name])
        if got_grad.shape != want_grad.shape:
            return f"gradient of {name} has shape {got_grad.shape}, expected {want_grad.shape}"
        error = _relative_error(got_grad, want_grad)
        if not error <= RTOL:
            return f"gradient of {name} differs from the reference (relative error {error:.2g})"
    return None
