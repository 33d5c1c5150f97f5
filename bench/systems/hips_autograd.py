"""HIPS autograd: ``autograd.value_and_grad`` over the tuple of parameters."""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np

from bench.systems import NotApplicable, Ops, Prepared, System, unpack_pairs
from bench.workloads import Inputs, Workload


def _take_along_last_axis(x: Any, indices: np.ndarray, axis: int) -> Any:
    """autograd has no VJP for ``take_along_axis``; rows by fancy indexing do the same in 2-D."""
    if x.ndim != 2 or axis not in (1, -1):
        raise NotApplicable("autograd: take_along_axis only along the last axis of a matrix here")
    return x[np.arange(x.shape[0])[:, None], indices]


def _ops() -> Ops:
    import autograd.numpy as anp

    def log_softmax(x: Any, axis: int = -1) -> Any:
        shifted = x - anp.max(x, axis=axis, keepdims=True)
        return shifted - anp.log(anp.sum(anp.exp(shifted), axis=axis, keepdims=True))

    return Ops(
        "autograd",
        exp=anp.exp,
        log=anp.log,
        sin=anp.sin,
        tanh=anp.tanh,
        sigmoid=lambda z: 1 / (1 + anp.exp(-z)),
        relu=lambda z: anp.maximum(z, 0.0),
        sum=anp.sum,
        mean=anp.mean,
        log_softmax=log_softmax,
        take_along_axis=_take_along_last_axis,
    )


def prepare(workload: Workload, inputs: Inputs) -> Prepared:
    """The loss becomes a function of the parameter tuple; the other inputs stay fixed."""
    from autograd import value_and_grad

    loss_fn = workload.define(_ops())
    args = list(inputs.values())
    positions = [list(inputs).index(name) for name in workload.wrt]

    def loss_of(params: tuple[Any, ...]) -> Any:
        full = list(args)
        for position, param in zip(positions, params):
            full[position] = param
        return loss_fn(*full)

    params = tuple(args[position] for position in positions)
    return Prepared(partial(value_and_grad(loss_of), params), unpack_pairs(workload.wrt, np.asarray))


SYSTEMS = (System("autograd", "peer", prepare, requires="autograd"),)
