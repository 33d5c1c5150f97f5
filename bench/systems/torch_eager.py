"""PyTorch eager autograd: a forward pass, then ``torch.autograd.grad`` for the parameters."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from bench import env
from bench.systems import Ops, Prepared, System, unpack_pairs
from bench.workloads import Inputs, Workload


def _reduction(reduce: Callable[..., Any]) -> Callable[..., Any]:
    """NumPy's ``axis``/``keepdims`` spelled as PyTorch's ``dim``/``keepdim``."""

    def apply(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
        return reduce(x) if axis is None else reduce(x, dim=axis, keepdim=keepdims)

    return apply


def _ops(torch: Any) -> Ops:
    return Ops(
        "PyTorch",
        exp=torch.exp,
        log=torch.log,
        sin=torch.sin,
        tanh=torch.tanh,
        sigmoid=torch.sigmoid,
        relu=torch.relu,
        sum=_reduction(torch.sum),
        mean=_reduction(torch.mean),
        log_softmax=lambda x, axis=-1: torch.log_softmax(x, dim=axis),
        take_along_axis=lambda x, indices, axis: torch.take_along_dim(x, indices, dim=axis),
    )


def _tensor(torch: Any, value: Any) -> Any:
    """Arrays are shared with NumPy; floats become float64 scalars."""
    if isinstance(value, np.ndarray):
        return torch.from_numpy(value)
    return torch.tensor(value, dtype=torch.float64)


def prepare(workload: Workload, inputs: Inputs) -> Prepared:
    """Parameters are leaf tensors that require grad; the graph is rebuilt on every step, as in eager use."""
    import torch

    if env.thread_limit():
        torch.set_num_threads(env.thread_limit())
    tensors = {name: _tensor(torch, value) for name, value in inputs.items()}
    params = [tensors[name].requires_grad_(True) for name in workload.wrt]
    loss_fn = workload.define(_ops(torch))
    args = list(tensors.values())

    def step() -> Any:
        loss = loss_fn(*args)
        return loss, torch.autograd.grad(loss, params)

    return Prepared(step, unpack_pairs(workload.wrt, lambda t: t.detach().numpy()))


SYSTEMS = (System("pytorch", "peer", prepare, requires="torch"),)
