"""Fitting a Lotka-Volterra model by RK4: T steps of a 2-state ODE, gradient wrt its parameters and start.

x' = a x - b x y (prey), y' = c x y - d y (predators), integrated from (x0, y0) by
T classical Runge-Kutta steps of fixed length DT; the loss is the squared misfit
of the prey to observations along the trajectory,
J = DT * sum over k = 1..T of (x(k) - obs(k))^2.
Gradient wrt a, b, c, d, x0 and y0. Everything is a scalar: the graph is a long
chain of about 60 T scalar nodes, which the reference differentiates as the
discrete adjoint of the RK4 steps.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np

from bench.workloads import Inputs, Result, Workload

DT = 0.01
"""The step length, whatever the number of steps (T steps cover T * DT time units)."""
TRUE = {"a": 1.0, "b": 0.6, "c": 0.8, "d": 1.2, "x0": 1.0, "y0": 0.5}
"""The model that made the observations."""
GUESS = {"a": 1.1, "b": 0.55, "c": 0.75, "d": 1.25, "x0": 1.05, "y0": 0.45}
"""The model being fitted, where the gradient is taken."""

Stages = tuple[tuple[float, float], ...]


def _field(a: float, b: float, c: float, d: float, x: float, y: float) -> tuple[float, float]:
    return a * x - b * x * y, c * x * y - d * y


def _step(a: float, b: float, c: float, d: float, x: float, y: float) -> tuple[float, float, Stages]:
    """One RK4 step: the next state and the four states its slopes were taken at."""
    k1x, k1y = _field(a, b, c, d, x, y)
    s2 = (x + DT / 2 * k1x, y + DT / 2 * k1y)
    k2x, k2y = _field(a, b, c, d, *s2)
    s3 = (x + DT / 2 * k2x, y + DT / 2 * k2y)
    k3x, k3y = _field(a, b, c, d, *s3)
    s4 = (x + DT * k3x, y + DT * k3y)
    k4x, k4y = _field(a, b, c, d, *s4)
    x_next = x + DT / 6 * (k1x + 2 * k2x + 2 * k3x + k4x)
    y_next = y + DT / 6 * (k1y + 2 * k2y + 2 * k3y + k4y)
    return x_next, y_next, ((x, y), s2, s3, s4)


def _trajectory(a: float, b: float, c: float, d: float, x0: float, y0: float, steps: int) -> list[float]:
    """x(1) .. x(T) of the model."""
    xs, x, y = [], x0, y0
    for _ in range(steps):
        x, y, _ = _step(a, b, c, d, x, y)
        xs.append(x)
    return xs


def make(size: int) -> Inputs:
    """The guess, and T observations of the true model's prey with a little fixed noise."""
    rng = np.random.default_rng(9)
    observed = np.array(_trajectory(*TRUE.values(), size)) + 0.01 * rng.standard_normal(size)
    return {**GUESS, "obs": observed}


def define(gg: Any) -> Callable[..., Any]:
    """The loss in gradgen's DSL (arithmetic only, the reference's own step): the loop unrolls into the graph."""

    def rk4(a, b, c, d, x0, y0, obs):
        x, y = x0, y0
        misfit = 0.0
        for k in range(len(obs)):
            x, y, _ = _step(a, b, c, d, x, y)
            misfit = misfit + (x - obs[k]) ** 2
        return DT * misfit

    return rk4


def define_torch(torch: Any) -> Callable[..., Any]:
    """The loss as PyTorch code, for ``torch.compile``: the same steps on 0-d float64 tensors.

    a, b, c, d, x0 and y0 come as 0-d tensors and obs as a 1-d tensor, so that the
    compiled graph takes them as inputs (Python floats would be baked in as
    constants); the steps are ``define``'s own arithmetic, the misfit a 0-d tensor
    from the start. Dynamo unrolls the loop: one graph of about 60 T scalar ops.
    """

    def rk4(a, b, c, d, x0, y0, obs):
        x, y = x0, y0
        misfit = torch.zeros_like(x0)
        for k in range(obs.shape[0]):
            x, y, _ = _step(a, b, c, d, x, y)
            misfit = misfit + (x - obs[k]) ** 2
        return DT * misfit

    return rk4


def define_loop(gg: Any) -> Callable[..., Any]:
    """The same loss with the loop as one node (``gg.fori_loop``): traced once, compiled as a loop."""

    def rk4(a, b, c, d, x0, y0, obs):
        def step(k, state):
            x, y, misfit = state
            x, y, _ = _step(a, b, c, d, x, y)
            return x, y, misfit + (x - obs[k]) ** 2

        _, _, misfit = gg.fori_loop(0, len(obs), step, (x0, y0, 0.0 * x0))
        return DT * misfit

    return rk4


def _pull_back(p: list[float], state: tuple[float, float], vx: float, vy: float, grad_p: list[float]):
    """A slope's adjoint (vx, vy) taken back through the field at ``state``.

    Returns the state's adjoint; adds the parameters' share to ``grad_p`` (a, b, c, d).
    """
    a, b, c, d = p
    x, y = state
    grad_p[0] += vx * x
    grad_p[1] -= vx * x * y
    grad_p[2] += vy * x * y
    grad_p[3] -= vy * y
    return vx * (a - b * y) + vy * c * y, -vx * b * x + vy * (c * x - d)


def _adjoint_step(p: list[float], stages: Stages, lx: float, ly: float, grad_p: list[float]) -> tuple[float, float]:
    """The adjoint of one RK4 step: dJ/d(x(k+1), y(k+1)) in, dJ/d(x(k), y(k)) out, stages last to first."""
    weights = (DT / 6, DT / 3, DT / 3, DT / 6)
    feeds = (DT / 2, DT / 2, DT)  # stage i + 1 is taken at x(k) + feeds[i] * slope i
    slope = [(w * lx, w * ly) for w in weights]  # dJ/d(slope i) from the update
    sx, sy = lx, ly
    for i in range(3, -1, -1):
        ax, ay = _pull_back(p, stages[i], *slope[i], grad_p)
        sx, sy = sx + ax, sy + ay
        if i > 0:
            slope[i - 1] = (slope[i - 1][0] + feeds[i - 1] * ax, slope[i - 1][1] + feeds[i - 1] * ay)
    return sx, sy


def python_by_hand(a: float, b: float, c: float, d: float, x0: float, y0: float, obs: list[float]) -> Result:
    """Forward loop keeping each step's stage states, then the discrete adjoint, step by step backwards."""
    x, y = x0, y0
    steps, value = [], 0.0
    for observed in obs:
        x, y, stages = _step(a, b, c, d, x, y)
        steps.append((stages, x - observed))
        value += (x - observed) ** 2
    p, grad_p = [a, b, c, d], [0.0] * 4
    lx = ly = 0.0  # dJ/d(x(k), y(k)), from the steps after k
    for stages, residual in reversed(steps):
        lx += 2 * DT * residual
        lx, ly = _adjoint_step(p, stages, lx, ly, grad_p)
    grads = dict(zip("abcd", grad_p))
    return DT * value, {**grads, "x0": lx, "y0": ly}


def numpy_by_hand(a: float, b: float, c: float, d: float, x0: float, y0: float, obs: np.ndarray) -> Result:
    """The same adjoint with the stage states and slope adjoints kept as (T, 4) arrays.

    The recurrences stay loops (each step needs the last); the parameters' gradients are
    then whole-array sums over every step and stage: dJ/da = sum(vx x), dJ/db = -sum(vx x y),
    dJ/dc = sum(vy x y), dJ/dd = -sum(vy y), with (vx, vy) the adjoint of each slope.
    """
    steps = len(obs)
    sx, sy = np.empty((steps, 4)), np.empty((steps, 4))
    xs = np.empty(steps)
    x, y = float(x0), float(y0)
    for k in range(steps):
        x, y, stages = _step(a, b, c, d, x, y)
        sx[k], sy[k] = zip(*stages)
        xs[k] = x
    residual = xs - obs
    vx, vy = np.empty((steps, 4)), np.empty((steps, 4))
    weights, feeds = (DT / 6, DT / 3, DT / 3, DT / 6), (DT / 2, DT / 2, DT)
    lx = ly = 0.0
    for k in range(steps - 1, -1, -1):
        lx += 2 * DT * residual[k]
        slope_x, slope_y = [w * lx for w in weights], [w * ly for w in weights]
        for i in range(3, -1, -1):
            px, py = sx[k, i], sy[k, i]
            vx[k, i], vy[k, i] = slope_x[i], slope_y[i]
            ax = slope_x[i] * (a - b * py) + slope_y[i] * c * py
            ay = -slope_x[i] * b * px + slope_y[i] * (c * px - d)
            lx, ly = lx + ax, ly + ay
            if i > 0:
                slope_x[i - 1] += feeds[i - 1] * ax
                slope_y[i - 1] += feeds[i - 1] * ay
    grads = {
        "a": float(np.sum(vx * sx)),
        "b": float(-np.sum(vx * sx * sy)),
        "c": float(np.sum(vy * sx * sy)),
        "d": float(-np.sum(vy * sy)),
        "x0": float(lx),
        "y0": float(ly),
    }
    return float(DT * np.dot(residual, residual)), grads


WORKLOAD = Workload(
    name="rk4",
    kind="chain",
    sizes=(100, 1_000),
    quick_sizes=(100,),
    wrt=("a", "b", "c", "d", "x0", "y0"),
    make=make,
    define=define,
    numpy_by_hand=numpy_by_hand,
    python_by_hand=python_by_hand,
    size_label="T",
)
LOOP_WORKLOAD = replace(WORKLOAD, name="rk4loop", kind="loop", sizes=(100, 1_000, 10_000), quick_sizes=(1_000,),
                        define=define_loop)
"""The same problem written with a loop node: gradgen's fori_loop, JAX's lax.fori_loop; peers without
a loop construct read n/a."""
