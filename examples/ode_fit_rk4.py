"""Fit the parameters of an ODE by gradient descent through an RK4 integrator written with gg.scan.

The Lotka-Volterra model x' = a x - b x y, y' = c x y - d y is integrated by
1,000 classical Runge-Kutta steps from (x0, y0); the loss is the squared misfit
of the prey x to noisy observations. The integrator is one `gg.scan` over the
observations, so the step is traced once, and the C kernel is a loop calling the
step (and, for the gradient, a second loop running the adjoint of the step
backwards): its size and build time do not depend on the number of steps.

Run: python examples/ode_fit_rk4.py
"""

from __future__ import annotations

import time

import numpy as np

import gradgen as gg

DT = 0.01
STEPS = 1_000
TRUE = np.array([1.0, 0.6, 0.8, 1.2])  # a, b, c, d


def misfit(p, x0, y0, obs):
    """DT times the sum of squared differences between the integrated prey and ``obs``."""
    a, b, c, d = p[0], p[1], p[2], p[3]

    def field(x, y):
        return a * x - b * x * y, c * x * y - d * y

    def rk4_step(state, observed):
        x, y = state
        k1x, k1y = field(x, y)
        k2x, k2y = field(x + DT / 2 * k1x, y + DT / 2 * k1y)
        k3x, k3y = field(x + DT / 2 * k2x, y + DT / 2 * k2y)
        k4x, k4y = field(x + DT * k3x, y + DT * k3y)
        x = x + DT / 6 * (k1x + 2 * k2x + 2 * k3x + k4x)
        y = y + DT / 6 * (k1y + 2 * k2y + 2 * k3y + k4y)
        return (x, y), (x - observed) ** 2

    _, squared = gg.scan(rk4_step, (x0, y0), obs)
    return DT * gg.sum(squared)


def observations(rng: np.random.Generator) -> np.ndarray:
    """The true model's prey at every step, with a little noise."""
    return _trajectory(TRUE, 1.0, 0.5) + 0.01 * rng.standard_normal(STEPS)


def _trajectory(p: np.ndarray, x0: float, y0: float) -> np.ndarray:
    """The prey along the RK4 trajectory, by a plain NumPy loop (the reference)."""
    a, b, c, d = p
    x, y, out = x0, y0, np.empty(STEPS)
    for k in range(STEPS):
        f = lambda x, y: (a * x - b * x * y, c * x * y - d * y)  # noqa: E731
        k1 = f(x, y)
        k2 = f(x + DT / 2 * k1[0], y + DT / 2 * k1[1])
        k3 = f(x + DT / 2 * k2[0], y + DT / 2 * k2[1])
        k4 = f(x + DT * k3[0], y + DT * k3[1])
        x, y = (x + DT / 6 * (k1[0] + 2 * k2[0] + 2 * k3[0] + k4[0]),
                y + DT / 6 * (k1[1] + 2 * k2[1] + 2 * k3[1] + k4[1]))
        out[k] = x
    return out


def main() -> None:
    obs = observations(np.random.default_rng(0))
    start = time.perf_counter()
    fit = gg.value_and_grad(misfit, wrt=["p"], p=gg.Array((4,)), x0=gg.Scalar(), y0=gg.Scalar(),
                            obs=gg.Array((STEPS,)))
    print(f"kernel ({fit.backend}) built in {time.perf_counter() - start:.2f} s: "
          f"{len(fit.source.splitlines())} lines of source for {STEPS:,} steps")
    p = np.array([1.2, 0.5, 0.7, 1.4])
    check = gg.check_grad(misfit, wrt=["p"], p=p, x0=1.0, y0=0.5, obs=obs)
    print(f"gradient against central differences: max relative error {check.max_rel_error:.1e}")
    start = time.perf_counter()
    value, grads = fit(p, 1.0, 0.5, obs)
    rate, calls = 1e-3, 1
    for iteration in range(1, 2001):  # gradient descent with a step that grows, and halves when it overshoots
        trial = p - rate * grads["p"]
        trial_value, trial_grads = fit(trial, 1.0, 0.5, obs)
        calls += 1
        if trial_value < value:
            p, value, grads, rate = trial, trial_value, trial_grads, rate * 1.2
        else:
            rate /= 2
        if iteration % 500 == 0:
            print(f"iteration {iteration:4d}: misfit {value:.6f}, a, b, c, d = {np.round(p, 4)}")
    print(f"{calls:,} gradients of {STEPS:,} RK4 steps in {time.perf_counter() - start:.2f} s")
    print(f"fitted a, b, c, d = {np.round(p, 3)}; true {TRUE}")


if __name__ == "__main__":
    main()
