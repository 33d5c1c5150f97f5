"""The systems under test: one adapter module each, collected here as table rows.

An adapter turns a workload and its inputs into a ``Prepared`` step: a callable
that computes (value, gradients) once, as that system's user would call it,
and a function that turns its native result into floats and NumPy arrays for
checking (outside the timed call). An adapter that cannot express a workload
raises ``NotApplicable``; one that is installed but cannot run here (no C
backend, a build failing) raises ``Unavailable``. Peers are imported inside
the adapters, so listing the systems never imports them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from bench.workloads import Inputs, Workload

Grads = dict[str, np.ndarray]


class NotApplicable(Exception):
    """The system cannot express this workload; the message says why."""


class Unavailable(Exception):
    """The system cannot run on this machine right now; the message says why."""


@dataclass(frozen=True)
class Prepared:
    """A workload set up for one system."""

    step: Callable[[], Any]
    """The timed call: one value and gradient, result left in the system's own types."""
    unpack: Callable[[Any], tuple[float, Grads]] | None
    """The step's result as (value, {name: array}) for the check; None for a floor that computes none."""
    note: str = ""
    """What exactly is timed, where the system's name does not say it (shown in the table)."""


@dataclass(frozen=True)
class System:
    """One row of the results table."""

    name: str
    role: str
    """"floor", "gradgen" or "peer"; ratios are taken to the floor and to the fastest peer."""
    prepare: Callable[[Workload, Inputs], Prepared]
    requires: str | None = None
    """The module that must be importable, else the row reads "not installed"."""
    first_gradient: bool = True
    """Measure time to first gradient (False for a second view of the same set-up)."""
    preload: tuple[str, ...] = ()
    """Further modules imported with ``requires`` before set-up is timed (set-up times leave out imports)."""


class Ops:
    """A peer's stand-in for the ``gg`` namespace: named ops, and NotApplicable for any other."""

    def __init__(self, system: str, **ops: Callable[..., Any]):
        self._system = system
        self.__dict__.update(ops)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):  # protocol lookups (copy, pickle) must see a plain missing attribute
            raise AttributeError(name)
        raise NotApplicable(f"{self._system} has no {name}")


def unpack_named(result: tuple[Any, dict[str, Any]]) -> tuple[float, Grads]:
    """An ``unpack`` for results shaped (value, {name: gradient})."""
    value, grads = result
    return float(value), {name: np.asarray(g, dtype=np.float64) for name, g in grads.items()}


def unpack_pairs(wrt: tuple[str, ...], to_numpy: Callable[[Any], Any]) -> Callable[[Any], tuple[float, Grads]]:
    """An ``unpack`` for results shaped (value, gradients in ``wrt`` order)."""

    def unpack(result: Any) -> tuple[float, Grads]:
        value, grads = result
        return float(to_numpy(value)), {name: np.asarray(to_numpy(g)) for name, g in zip(wrt, grads)}

    return unpack


def _collect() -> dict[str, System]:
    from bench.systems import (
        casadi_sx,
        floor,
        gradgen_kernel,
        hips_autograd,
        jax_jit,
        micrograd_value,
        numba_hand,
        numpy_hand,
        python_hand,
        sympy_lambdify,
        torch_compiled,
        torch_eager,
    )

    modules = (
        floor,
        gradgen_kernel,
        python_hand,
        numpy_hand,
        numba_hand,
        jax_jit,
        torch_eager,
        torch_compiled,
        hips_autograd,
        casadi_sx,
        sympy_lambdify,
        micrograd_value,
    )
    return {system.name: system for module in modules for system in module.SYSTEMS}


SYSTEMS: dict[str, System] = _collect()
