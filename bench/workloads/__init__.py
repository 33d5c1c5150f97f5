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
    """What the graph is made of, which decides the floor and which systems can express it:

    - "scalar": the seeds' small graphs of scalars;
    - "batched": a loss over arrays of data (reductions, broadcasting, slices);
    - "chain": a loop of scalar steps unrolled into a deep graph (chain, rk4); an array
      input is only a sequence of scalars, so systems of scalars (SymPy, micrograd, CasADi SX) can hold it;
    - "array chain": a loop of small-array steps unrolled into a deep graph (vchain);
    - "loop": a loop written as one node (``gg.fori_loop`` or ``gg.scan``; ``lax.fori_loop`` and
      ``lax.scan`` in JAX).
    """
    sizes: tuple[int, ...]
    quick_sizes: tuple[int, ...]
    wrt: tuple[str, ...]
    make: Callable[[int], Inputs]
    define: Callable[[Any], Callable[..., Any]]
    """``define(gg)`` returns the loss, a plain function of the inputs using ``gg``'s ops."""
    numpy_by_hand: Callable[..., Result]
    python_by_hand: Callable[..., Result] | None = None
    """Plain floats, lists and ``math``, for the workloads a pure-Python user would write as loops."""
    size_label: str = "N"

    @property
    def scalar_ops(self) -> bool:
        """Whether the loss uses only scalar arithmetic and functions, as systems of scalars need."""
        return self.kind in ("scalar", "chain")

    def describe(self, size: int) -> str:
        """A heading for one size of this workload, e.g. ``logreg, N = 1,000``."""
        if self.kind == "scalar":
            return self.name
        return f"{self.name}, {self.size_label} = {size:,}"


def _collect() -> dict[str, Workload]:
    from bench.workloads import chain, elementwise, linear, logreg, lstm, mlp, relu2, rk4, shifted, vchain

    modules = (linear, relu2, logreg, elementwise, mlp, chain, vchain, rk4, shifted, lstm)
    found = {module.WORKLOAD.name: module.WORKLOAD for module in modules}
    found[rk4.LOOP_WORKLOAD.name] = rk4.LOOP_WORKLOAD
    return found


WORKLOADS: dict[str, Workload] = _collect()
