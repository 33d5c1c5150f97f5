"""The benchmark workloads: one module each, collected here by name.

A workload is float64 throughout. It gives, for a size, deterministic inputs in
the loss function's argument order; a NumPy value and gradient written by hand
(the reference every system is checked against); and the loss itself, written
once in gradgen's DSL against a namespace ``gg``, which is gradgen for gradgen
and a small stand-in of the same names for each peer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Inputs = dict[str, Any]
"""Input name -> Python float or NumPy array, in the loss function's argument order."""

Result = tuple[float, dict[str, Any]]
"""(value, gradients by input name), as returned by a hand-written value-and-gradient."""


@dataclass(frozen=True)
class Workload:
    """One benchmark problem, independent of the system that computes it."""

    name: str
    kind: str
    """"scalar" (the seeds' graphs), "batched" (arrays of data) or "chain" (the long scalar chain)."""
    sizes: tuple[int, ...]
    quick_sizes: tuple[int, ...]
    wrt: tuple[str, ...]
    make: Callable[[int], Inputs]
    define: Callable[[Any], Callable[..., Any]]
    """``define(gg)`` returns the loss, a plain function of the inputs using ``gg``'s ops."""
    numpy_by_hand: Callable[..., Result]
    python_by_hand: Callable[..., Result] | None = None
    """Plain floats and ``math``, for the scalar workloads."""
    size_label: str = "N"

    def describe(self, size: int) -> str:
        """A heading for one size of this workload, e.g. ``logreg, N = 1,000``."""
        if self.kind == "scalar":
            return self.name
        return f"{self.name}, {self.size_label} = {size:,}"


def _collect() -> dict[str, Workload]:
    from bench.workloads import chain, elementwise, linear, logreg, mlp, relu2

    modules = (linear, relu2, logreg, elementwise, mlp, chain)
    return {module.WORKLOAD.name: module.WORKLOAD for module in modules}


WORKLOADS: dict[str, Workload] = _collect()
