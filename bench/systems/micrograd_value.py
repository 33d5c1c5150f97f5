"""micrograd (Karpathy's ``Value``): the graph of scalars is rebuilt and swept on every call.

Its ``backward`` orders the graph by a recursive walk, one Python frame per
level, so a graph deeper than Python's recursion limit (rk4 at T = 1,000) reads
"n/a" rather than FAILED: nothing was computed wrong, it cannot be computed.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

from bench.systems import NotApplicable, Ops, Prepared, System, unpack_pairs
from bench.workloads import Inputs, Workload


def prepare(workload: Workload, inputs: Inputs) -> Prepared:
    """Each input becomes a ``Value`` (an array a list of them); ops it lacks read "n/a"."""
    if not workload.scalar_ops:
        raise NotApplicable("micrograd holds scalars, with no matrix product or reductions")
    from micrograd.engine import Value

    loss_fn = workload.define(Ops("micrograd", relu=lambda v: v.relu()))
    data = list(inputs.values())
    positions = [list(inputs).index(name) for name in workload.wrt]

    def to_values(value: Any) -> Any:
        return [Value(v) for v in value.tolist()] if isinstance(value, np.ndarray) else Value(value)

    def grad_of(value: Any) -> Any:
        return [v.grad for v in value] if isinstance(value, list) else value.grad

    def step() -> tuple[float, list[Any]]:
        values = [to_values(value) for value in data]
        loss = loss_fn(*values)
        try:
            loss.backward()
        except RecursionError as exc:
            limit = sys.getrecursionlimit()
            raise NotApplicable(f"graph deeper than Python's recursion limit ({limit}) for backward's walk") from exc
        return loss.data, [grad_of(values[position]) for position in positions]

    return Prepared(step, unpack_pairs(workload.wrt, np.asarray))


SYSTEMS = (System("micrograd", "peer", prepare, requires="micrograd"),)
