"""Random programs against JAX: every derivative kernel, on both backends.

The property tests' random programs (``tests/test_properties.py``) go through gradgen's ``jvp``,
``vjp``, ``jacobian`` (forward and reverse), ``hessian`` and ``hvp`` and through JAX's ``jvp``, ``vjp``,
``jacfwd``, ``jacrev`` and ``hessian`` (x64). The JAX side runs the programs' own NumPy reference
with ``jax.numpy`` in place of NumPy (each rule's function rebound), so it shares nothing with
gradgen's DSL or its derivative rules. Guarded branches (``where(a > 0, log(a) * c, b)``) are left out:
there JAX's derivative is NaN by design where gradgen's is exactly 0, which ``test_properties`` checks
against central differences.
"""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import jax.scipy.special
import numpy as np
from hypothesis import given, settings

import gradgen as gg
from tests import test_properties as props
from tests.test_properties import FAMILIES, N_INPUTS, RULES, Program, _assert_close, _usable, programs

jax.config.update("jax_enable_x64", True)
NAMES = [f"x{k}" for k in range(N_INPUTS)]
UNGUARDED = tuple(family for family in FAMILIES if family != "guarded")


def _rebound_globals() -> dict[str, Any]:
    """The property module's globals with ``np`` as ``jax.numpy``, its own functions rebound to them."""
    scope = dict(vars(props), np=jnp)
    for name, value in list(scope.items()):
        if isinstance(value, types.FunctionType) and value.__module__ == props.__name__:
            scope[name] = types.FunctionType(value.__code__, scope, name, value.__defaults__, value.__closure__)
    return scope


SCOPE = _rebound_globals()


def in_jax(fn: Callable) -> Callable:
    """A rule's NumPy reference with JAX's arrays: NumPy's functions by name, the module's own with
    ``np`` rebound, ``np.vectorize(math.erf)`` as JAX's erf."""
    if isinstance(fn, np.vectorize):
        return jax.scipy.special.erf
    if isinstance(fn, np.ufunc) or getattr(fn, "__module__", "").startswith("numpy"):
        return getattr(jnp, fn.__name__)
    return types.FunctionType(fn.__code__, SCOPE, fn.__name__, fn.__defaults__, fn.__closure__)


def _jax_values(program: Program, inputs: tuple) -> list:
    values = list(inputs)
    for step in program.steps:
        values.append(jnp.asarray(in_jax(RULES[step.op].ref)(*[values[i] for i in step.args], **step.params),
                                  dtype=jnp.float64))
    return values[N_INPUTS:]


def flat_jax(program: Program) -> Callable:
    """Every step's value, raveled and joined: a vector function of the three inputs."""
    return lambda *inputs: jnp.concatenate([jnp.ravel(v) for v in _jax_values(program, inputs)])


def flat_gradgen(program: Program) -> Callable:
    def flat(x0, x1, x2):
        return gg.concatenate([gg.reshape(v, (-1,)) for v in program.gradgen_values(x0, x1, x2)[N_INPUTS:]])

    return flat


def loss_jax(program: Program, weights: list[np.ndarray]) -> Callable:
    return lambda *inputs: sum(jnp.sum(v * w) for v, w in zip(_jax_values(program, inputs), weights))


def check_against_jax(program: Program, backend: str) -> None:
    inputs, weights = program.draw()
    _usable(program, inputs)
    rng = np.random.default_rng(program.seed + 2)
    tangents = {n: rng.normal(size=x.shape) for n, x in zip(NAMES, inputs)}
    specs = program.specs

    # jvp and vjp of the vector of every step's value
    out, pushed = jax.jvp(flat_jax(program), tuple(inputs), tuple(tangents[n] for n in NAMES))
    value, tangent = gg.jvp(flat_gradgen(program), backend=backend, specs=specs)(*inputs, tangents=tangents)
    _assert_close(value, out, 1e-10, "the value by the jvp kernel")
    _assert_close(tangent, pushed, 1e-9, "jvp")
    cotangent = rng.normal(size=np.shape(out))
    _, pull = jax.vjp(flat_jax(program), *inputs)
    _, pulled = gg.vjp(flat_gradgen(program), backend=backend, specs=specs)(*inputs, cotangent=cotangent)
    for n, want in zip(NAMES, pull(cotangent)):
        _assert_close(pulled[n], want, 1e-9, f"vjp for {n}")

    # the Jacobian, both ways
    expected = jax.jacfwd(flat_jax(program), argnums=(0, 1, 2))(*inputs)
    for mode in ("forward", "reverse"):
        _, jac = gg.jacobian(flat_gradgen(program), mode=mode, backend=backend, specs=specs)(*inputs)
        for n, want in zip(NAMES, expected):
            _assert_close(jac[n], want, 1e-9, f"{mode} Jacobian for {n}")

    # second order, of the weighted sum J
    loss = program.loss_fn(weights)
    hessian = jax.hessian(loss_jax(program, weights), argnums=(0, 1, 2))(*inputs)
    _, _, H = gg.hessian(loss, backend=backend, specs=specs)(*inputs)
    for a, row in zip(NAMES, hessian):
        for b, want in zip(NAMES, row):
            _assert_close(H[a][b], want, 1e-8, f"H[{a}][{b}]")
    gradient = lambda *x: jax.grad(loss_jax(program, weights), argnums=(0, 1, 2))(*x)  # noqa: E731
    _, products = jax.jvp(gradient, tuple(inputs), tuple(tangents[n] for n in NAMES))
    _, _, hv = gg.hvp(loss, backend=backend, specs=specs)(*inputs, tangents=tangents)
    for n, want in zip(NAMES, products):
        _assert_close(hv[n], want, 1e-8, f"hvp for {n}")


@settings(max_examples=30, deadline=None)
@given(programs(families=UNGUARDED))
def test_random_programs_agree_with_jax(program):
    check_against_jax(program, "python")


@settings(max_examples=4, deadline=None)
@given(programs(families=UNGUARDED))
def test_random_programs_agree_with_jax_in_c(program):
    check_against_jax(program, "c")
