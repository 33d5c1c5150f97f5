"""The floors: what no system can beat, measured beside the systems.

Scalar workloads: a bare cffi call of a C function taking the same arguments.
Batched workloads: one pass over the largest data input (its ``.sum()``; the
largest input of all when every input is differentiated).
The chain, vchain and rk4: the plain C a user would write, called through cffi:
a forward loop storing the trajectory, then a backward loop carrying the adjoint.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import numpy as np

from bench import cbuild
from bench.systems import NotApplicable, Prepared, System, unpack_named
from bench.workloads import Inputs, Workload, rk4

CHAIN_CDEF = "double chain_value_and_grad(double x, const double *w, long n, double *work, double *gw);"

CHAIN_SOURCE = """
#include <math.h>

/* h(i+1) = h(i) + w(i) sin h(i), J = h(n)^2. work holds h(0..n-1) then sin h(0..n-1). */
double chain_value_and_grad(double x, const double *w, long n, double *work, double *gw)
{
    double *h = work, *s = work + n;
    double hn = x;
    for (long i = 0; i < n; i++) {
        h[i] = hn;
        s[i] = sin(hn);
        hn += w[i] * s[i];
    }
    double g = 2.0 * hn;                     /* dJ/dh(n) */
    for (long i = n - 1; i >= 0; i--) {
        gw[i] = g * s[i];
        g *= 1.0 + w[i] * cos(h[i]);         /* dJ/dh(i) */
    }
    return hn * hn;
}
"""

VCHAIN_CDEF = (
    "double vchain_value_and_grad(const double *h0, long m, const double *w, long n, "
    "double *h, double *gh, double *gw);"
)

VCHAIN_SOURCE = """
#include <math.h>

/* h(k+1) = tanh(h(k) w(k)) on m entries, J = sum over k = 1..n of sum(h(k)^2).
   h holds h(0..n), m entries each; gh carries dJ/dh(k) backwards. */
double vchain_value_and_grad(const double *h0, long m, const double *w, long n, double *h, double *gh, double *gw)
{
    double J = 0.0;
    for (long i = 0; i < m; i++)
        h[i] = h0[i];
    for (long k = 0; k < n; k++) {
        const double *now = h + k * m;
        double *next = h + (k + 1) * m;
        for (long i = 0; i < m; i++) {
            next[i] = tanh(now[i] * w[k]);
            J += next[i] * next[i];
        }
    }
    for (long i = 0; i < m; i++)
        gh[i] = 0.0;                         /* dJ/dh(n) through later steps: none */
    for (long k = n - 1; k >= 0; k--) {
        const double *now = h + k * m, *next = h + (k + 1) * m;
        double total = 0.0;
        for (long i = 0; i < m; i++) {
            double gz = (gh[i] + 2.0 * next[i]) * (1.0 - next[i] * next[i]);   /* dJ/d(h(k) w(k)) */
            total += gz * now[i];
            gh[i] = gz * w[k];
        }
        gw[k] = total;
    }
    return J;
}
"""

RK4_CDEF = (
    "double rk4_value_and_grad(const double *p, double x0, double y0, const double *obs, long T, double dt, "
    "double *traj, double *grad);"
)

RK4_SOURCE = """
/* Lotka-Volterra, x' = a x - b x y, y' = c x y - d y, p = {a, b, c, d}, by T steps of RK4 of length dt;
   J = dt sum over k = 1..T of (x(k) - obs(k-1))^2. traj holds x(0..T) then y(0..T);
   grad receives dJ/d{a, b, c, d, x0, y0}. The backward loop recomputes each step's stages. */

static void field(const double *p, double x, double y, double *fx, double *fy)
{
    *fx = p[0] * x - p[1] * x * y;
    *fy = p[2] * x * y - p[3] * y;
}

/* The adjoint (vx, vy) of a slope taken at (x, y), pulled back into the state (*sx, *sy) and the parameters. */
static void field_adjoint(const double *p, double x, double y, double vx, double vy,
                          double *sx, double *sy, double *grad)
{
    *sx = vx * (p[0] - p[1] * y) + vy * p[2] * y;
    *sy = -vx * p[1] * x + vy * (p[2] * x - p[3]);
    grad[0] += vx * x;
    grad[1] -= vx * x * y;
    grad[2] += vy * x * y;
    grad[3] -= vy * y;
}

/* The four states of one step at which the slopes are taken. */
static void stages(const double *p, double x, double y, double dt, double *sx, double *sy)
{
    double kx, ky;
    sx[0] = x;
    sy[0] = y;
    field(p, x, y, &kx, &ky);
    sx[1] = x + dt / 2 * kx;
    sy[1] = y + dt / 2 * ky;
    field(p, sx[1], sy[1], &kx, &ky);
    sx[2] = x + dt / 2 * kx;
    sy[2] = y + dt / 2 * ky;
    field(p, sx[2], sy[2], &kx, &ky);
    sx[3] = x + dt * kx;
    sy[3] = y + dt * ky;
}

double rk4_value_and_grad(const double *p, double x0, double y0, const double *obs, long T, double dt,
                          double *traj, double *grad)
{
    static const double weight[4] = {1.0 / 6, 1.0 / 3, 1.0 / 3, 1.0 / 6};
    double *xs = traj, *ys = traj + T + 1;
    double sx[4], sy[4], kx[4], ky[4], misfit = 0.0;
    xs[0] = x0;
    ys[0] = y0;
    for (long k = 0; k < T; k++) {
        stages(p, xs[k], ys[k], dt, sx, sy);
        double ux = 0.0, uy = 0.0;
        for (int i = 0; i < 4; i++) {
            field(p, sx[i], sy[i], &kx[i], &ky[i]);
            ux += weight[i] * kx[i];
            uy += weight[i] * ky[i];
        }
        xs[k + 1] = xs[k] + dt * ux;
        ys[k + 1] = ys[k] + dt * uy;
        double r = xs[k + 1] - obs[k];
        misfit += r * r;
    }
    for (int i = 0; i < 6; i++)
        grad[i] = 0.0;
    double lx = 0.0, ly = 0.0;               /* dJ/d(x(k+1), y(k+1)) */
    for (long k = T - 1; k >= 0; k--) {
        lx += 2.0 * dt * (xs[k + 1] - obs[k]);
        stages(p, xs[k], ys[k], dt, sx, sy);
        double vx[4], vy[4];                 /* dJ/d(slope i) */
        for (int i = 0; i < 4; i++) {
            vx[i] = dt * weight[i] * lx;
            vy[i] = dt * weight[i] * ly;
        }
        for (int i = 3; i >= 0; i--) {
            double ax, ay;
            field_adjoint(p, sx[i], sy[i], vx[i], vy[i], &ax, &ay, grad);
            lx += ax;
            ly += ay;
            if (i > 0) {                     /* stage i was taken at x(k) + feed * slope (i - 1) */
                double feed = i == 3 ? dt : dt / 2;
                vx[i - 1] += feed * ax;
                vy[i - 1] += feed * ay;
            }
        }
    }
    grad[4] = lx;
    grad[5] = ly;
    return dt * misfit;
}
"""


def _bare_call(workload: Workload, inputs: Inputs) -> Prepared:
    arity = len(inputs)
    parameters = ", ".join(f"double a{i}" for i in range(arity))
    cdef = f"double bare_call({parameters});"
    module = cbuild.load_cffi(f"bare{arity}", cdef, f"double bare_call({parameters}) {{ return a0; }}")
    return Prepared(partial(module.lib.bare_call, *inputs.values()), None, note=f"bare cffi call, {arity} doubles")


def _one_pass(workload: Workload, inputs: Inputs) -> Prepared:
    data = {name: value for name, value in inputs.items() if name not in workload.wrt} or inputs
    name = max(data, key=lambda n: np.size(data[n]))
    return Prepared(data[name].sum, None, note=f"one pass over the data: {name}.sum()")


def _chain_loop(workload: Workload, inputs: Inputs) -> Prepared:
    module = cbuild.load_cffi("chain", CHAIN_CDEF, CHAIN_SOURCE)
    x, w = float(inputs["x"]), np.ascontiguousarray(inputs["w"], dtype=np.float64)
    work, gw = np.empty(2 * w.size), np.empty(w.size)
    w_p, work_p, gw_p = (module.ffi.from_buffer("double[]", a) for a in (w, work, gw))

    def step() -> tuple[float, dict[str, np.ndarray]]:
        return module.lib.chain_value_and_grad(x, w_p, w.size, work_p, gw_p), {"w": gw}

    return Prepared(step, unpack_named, note="hand-written C loop via cffi")


def _vchain_loop(workload: Workload, inputs: Inputs) -> Prepared:
    module = cbuild.load_cffi("vchain", VCHAIN_CDEF, VCHAIN_SOURCE)
    h0, w = (np.ascontiguousarray(inputs[name], dtype=np.float64) for name in ("h0", "w"))
    h, gh, gw = np.empty((w.size + 1) * h0.size), np.empty(h0.size), np.empty(w.size)
    h0_p, w_p, h_p, gh_p, gw_p = (module.ffi.from_buffer("double[]", a) for a in (h0, w, h, gh, gw))

    def step() -> tuple[float, dict[str, np.ndarray]]:
        return module.lib.vchain_value_and_grad(h0_p, h0.size, w_p, w.size, h_p, gh_p, gw_p), {"w": gw}

    return Prepared(step, unpack_named, note="hand-written C loop via cffi")


def _rk4_loop(workload: Workload, inputs: Inputs) -> Prepared:
    module = cbuild.load_cffi("rk4", RK4_CDEF, RK4_SOURCE)
    p = np.array([inputs[name] for name in "abcd"], dtype=np.float64)
    obs = np.ascontiguousarray(inputs["obs"], dtype=np.float64)
    traj, grad = np.empty(2 * (obs.size + 1)), np.empty(6)
    p_p, obs_p, traj_p, grad_p = (module.ffi.from_buffer("double[]", a) for a in (p, obs, traj, grad))
    x0, y0 = float(inputs["x0"]), float(inputs["y0"])

    def step() -> tuple[float, dict[str, float]]:
        value = module.lib.rk4_value_and_grad(p_p, x0, y0, obs_p, obs.size, rk4.DT, traj_p, grad_p)
        return value, dict(zip(workload.wrt, grad))

    return Prepared(step, unpack_named, note="hand-written C loop via cffi")


HAND_LOOPS: dict[str, Callable[[Workload, Inputs], Prepared]] = {
    "chain": _chain_loop,
    "vchain": _vchain_loop,
    "rk4": _rk4_loop,
    "rk4loop": _rk4_loop,
}
"""The deep workloads' floors, by workload name."""


def prepare(workload: Workload, inputs: Inputs) -> Prepared:
    """The workload's hand-written C loop, else the floor that fits its kind."""
    if workload.name in HAND_LOOPS:
        return HAND_LOOPS[workload.name](workload, inputs)
    floors = {"scalar": _bare_call, "batched": _one_pass}
    if workload.kind not in floors:
        raise NotApplicable(f"no floor written for {workload.name}")
    return floors[workload.kind](workload, inputs)


SYSTEMS = (System("floor", "floor", prepare, requires="cffi"),)
