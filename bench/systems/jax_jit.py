"""JAX: ``jax.jit(jax.value_and_grad(f, argnums=...))`` in float64, results waited for."""

from __future__ import annotations

from typing import Any

import numpy as np

from bench.systems import Ops, Prepared, System, unpack_pairs
from bench.workloads import Inputs, Workload


def _ops(jax: Any) -> Ops:
    jnp = jax.numpy
    return Ops(
        "JAX",
        exp=jnp.exp,
        log=jnp.log,
        sin=jnp.sin,
        tanh=jnp.tanh,
        sigmoid=jax.nn.sigmoid,
        relu=jax.nn.relu,
        sum=jnp.sum,
        mean=jnp.mean,
        log_softmax=jax.nn.log_softmax,
        take_along_axis=jnp.take_along_axis,
        fori_loop=jax.lax.fori_loop,
        scan=jax.lax.scan,
    )


def prepare(workload: Workload, inputs: Inputs) -> Prepared:
    """Inputs go to the device once; each step blocks until its results are ready."""
    import jax

    jax.config.update("jax_enable_x64", True)
    names = list(inputs)
    argnums = tuple(names.index(name) for name in workload.wrt)
    value_and_grad = jax.jit(jax.value_and_grad(workload.define(_ops(jax)), argnums=argnums))
    args = [jax.numpy.asarray(value) for value in inputs.values()]

    def step() -> Any:
        return jax.block_until_ready(value_and_grad(*args))

    return Prepared(step, unpack_pairs(workload.wrt, np.asarray))


SYSTEMS = (System("jax", "peer", prepare, requires="jax"),)
