"""Hand-written pure Python: plain floats and ``math``, for the scalar workloads and the chain."""

from __future__ import annotations

from functools import partial

import numpy as np

from bench.systems import NotApplicable, Prepared, System, unpack_named
from bench.workloads import Inputs, Workload


def prepare(workload: Workload, inputs: Inputs) -> Prepared:
    """Arrays become lists, as a pure-Python user would hold them."""
    if workload.python_by_hand is None:
        raise NotApplicable("array workload: NumPy by hand is the hand-written baseline")
    args = [value.tolist() if isinstance(value, np.ndarray) else value for value in inputs.values()]
    return Prepared(partial(workload.python_by_hand, *args), unpack_named)


SYSTEMS = (System("python by hand", "peer", prepare),)
