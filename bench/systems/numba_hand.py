"""Hand-written value-and-gradient loops compiled by ``numba.njit``, for the workloads written as loops.

The loops are the ones a user would write for the C floors (forward loop storing
the trajectory, backward loop carrying the adjoint), in Python over NumPy arrays.
Each set-up wraps them in a fresh ``numba.njit`` (no on-disk cache), so the JIT
compile is part of set-up and of the time to first gradient. Workspace arrays
are allocated once at set-up, as the floors' are.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from bench.systems import NotApplicable, Prepared, System, unpack_named
from bench.workloads import Inputs, Workload, lstm, rk4

Step = Callable[[], tuple[float, dict[str, Any]]]


def chain_loop(x: float, w: np.ndarray, h: np.ndarray, gw: np.ndarray) -> float:
    """h(i+1) = h(i) + w(i) sin h(i), J = h(n)^2; h receives h(0..n-1)."""
    hn = x
    for i in range(w.size):
        h[i] = hn
        hn += w[i] * np.sin(hn)
    g = 2.0 * hn
    for i in range(w.size - 1, -1, -1):
        gw[i] = g * np.sin(h[i])
        g *= 1.0 + w[i] * np.cos(h[i])
    return hn * hn


def vchain_loop(h0: np.ndarray, w: np.ndarray, h: np.ndarray, gh: np.ndarray, gw: np.ndarray) -> float:
    """h(k+1) = tanh(h(k) w(k)), J = sum over k of sum(h(k+1)^2); h is (n+1, m), gh carries dJ/dh."""
    m, value = h0.size, 0.0
    h[0, :] = h0
    for k in range(w.size):
        for i in range(m):
            h[k + 1, i] = np.tanh(h[k, i] * w[k])
            value += h[k + 1, i] * h[k + 1, i]
    gh[:] = 0.0
    for k in range(w.size - 1, -1, -1):
        total = 0.0
        for i in range(m):
            gz = (gh[i] + 2.0 * h[k + 1, i]) * (1.0 - h[k + 1, i] * h[k + 1, i])
            total += gz * h[k, i]
            gh[i] = gz * w[k]
        gw[k] = total
    return value


def rk4_loop(p: np.ndarray, x0: float, y0: float, obs: np.ndarray, dt: float, traj: np.ndarray, grad: np.ndarray):
    """Lotka-Volterra by RK4 steps, the misfit of the prey, and its discrete adjoint.

    p = (a, b, c, d); traj is (T+1, 2); grad receives dJ/d(a, b, c, d, x0, y0). The
    backward loop recomputes each step's stage states from the stored trajectory.
    """
    a, b, c, d = p[0], p[1], p[2], p[3]
    weight = np.array([1.0 / 6, 1.0 / 3, 1.0 / 3, 1.0 / 6])
    feed = np.array([dt / 2, dt / 2, dt])  # stage i + 1 is taken at x(k) + feed[i] * slope i
    sx, sy, vx, vy = np.empty(4), np.empty(4), np.empty(4), np.empty(4)
    traj[0, 0], traj[0, 1] = x0, y0
    misfit = 0.0
    for k in range(obs.size):
        x, y = traj[k, 0], traj[k, 1]
        ux = uy = 0.0
        kx = ky = 0.0
        for i in range(4):
            px = x if i == 0 else x + feed[i - 1] * kx
            py = y if i == 0 else y + feed[i - 1] * ky
            kx, ky = a * px - b * px * py, c * px * py - d * py
            ux += weight[i] * kx
            uy += weight[i] * ky
        traj[k + 1, 0], traj[k + 1, 1] = x + dt * ux, y + dt * uy
        r = traj[k + 1, 0] - obs[k]
        misfit += r * r
    grad[:] = 0.0
    lx = ly = 0.0  # dJ/d(x(k+1), y(k+1))
    for k in range(obs.size - 1, -1, -1):
        lx += 2.0 * dt * (traj[k + 1, 0] - obs[k])
        x, y = traj[k, 0], traj[k, 1]
        kx = ky = 0.0
        for i in range(4):
            sx[i] = x if i == 0 else x + feed[i - 1] * kx
            sy[i] = y if i == 0 else y + feed[i - 1] * ky
            kx, ky = a * sx[i] - b * sx[i] * sy[i], c * sx[i] * sy[i] - d * sy[i]
            vx[i], vy[i] = dt * weight[i] * lx, dt * weight[i] * ly
        for i in range(3, -1, -1):
            px, py = sx[i], sy[i]
            ax = vx[i] * (a - b * py) + vy[i] * c * py
            ay = -vx[i] * b * px + vy[i] * (c * px - d)
            grad[0] += vx[i] * px
            grad[1] -= vx[i] * px * py
            grad[2] += vy[i] * px * py
            grad[3] -= vy[i] * py
            lx += ax
            ly += ay
            if i > 0:
                vx[i - 1] += feed[i - 1] * ax
                vy[i - 1] += feed[i - 1] * ay
    grad[4], grad[5] = lx, ly
    return dt * misfit


def shifted_loop(x: np.ndarray, g: np.ndarray) -> float:
    """The Rosenbrock sum and its gradient in one pass over neighbouring pairs."""
    value = 0.0
    g[:] = 0.0
    for i in range(x.size - 1):
        r = x[i + 1] - x[i] * x[i]
        q = 1.0 - x[i]
        value += 100.0 * r * r + q * q
        g[i] -= 400.0 * r * x[i] + 2.0 * q
        g[i + 1] += 200.0 * r
    return value


def _chain(jit: Callable, inputs: Inputs) -> Step:
    loop, x, w = jit(chain_loop), float(inputs["x"]), inputs["w"]
    h, gw = np.empty(w.size), np.empty(w.size)
    return lambda: (loop(x, w, h, gw), {"w": gw})


def _vchain(jit: Callable, inputs: Inputs) -> Step:
    loop, h0, w = jit(vchain_loop), inputs["h0"], inputs["w"]
    h, gh, gw = np.empty((w.size + 1, h0.size)), np.empty(h0.size), np.empty(w.size)
    return lambda: (loop(h0, w, h, gh, gw), {"w": gw})


def _rk4(jit: Callable, inputs: Inputs) -> Step:
    loop, obs = jit(rk4_loop), inputs["obs"]
    p = np.array([inputs[name] for name in "abcd"])
    x0, y0 = float(inputs["x0"]), float(inputs["y0"])
    traj, grad = np.empty((obs.size + 1, 2)), np.empty(6)
    wrt = rk4.WORKLOAD.wrt
    return lambda: (loop(p, x0, y0, obs, rk4.DT, traj, grad), dict(zip(wrt, grad)))


def _shifted(jit: Callable, inputs: Inputs) -> Step:
    loop, x = jit(shifted_loop), inputs["x"]
    g = np.empty(x.size)
    return lambda: (loop(x, g), {"x": g})


def _lstm(jit: Callable, inputs: Inputs) -> Step:
    loop, arrays = jit(lstm.lstm_adjoint), list(inputs.values())
    grad_main, grad_extra, saved = lstm.workspace(inputs)
    return lambda: (loop(*arrays, grad_main, grad_extra, saved), {"main_params": grad_main, "extra_params": grad_extra})


LOOPS: dict[str, Callable[[Callable, Inputs], Step]] = {
    "chain": _chain,
    "vchain": _vchain,
    "rk4": _rk4,
    "rk4loop": _rk4,
    "shifted": _shifted,
    "lstm": _lstm,
}
"""Each workload's step, given ``numba.njit`` and the inputs, by workload name."""


def prepare(workload: Workload, inputs: Inputs) -> Prepared:
    """The workload's loop, jitted now; its first call (in the set-up) compiles it."""
    if workload.name not in LOOPS:
        raise NotApplicable(f"no numba loop written for {workload.name}")
    import numba

    step = LOOPS[workload.name](numba.njit, inputs)
    return Prepared(step, unpack_named, note="njit loops written by hand")


SYSTEMS = (System("numba by hand", "peer", prepare, requires="numba"),)
