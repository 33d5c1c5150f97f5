"""Hand-written NumPy gradients, as a careful user writes them (the reference, timed as a peer)."""

from __future__ import annotations

from functools import partial

import numpy as np

from bench.systems import Prepared, System, unpack_named
from bench.workloads import Inputs, Workload


def prepare(workload: Workload, inputs: Inputs) -> Prepared:
    """Scalars become NumPy float64, so a scalar workload measures NumPy's scalar arithmetic."""
    args = [value if isinstance(value, np.ndarray) else np.float64(value) for value in inputs.values()]
    return Prepared(partial(workload.numpy_by_hand, *args), unpack_named)


SYSTEMS = (System("numpy by hand", "peer", prepare),)
