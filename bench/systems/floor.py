"""The floors: what no system can beat, measured beside the systems.

Scalar workloads: a bare cffi call of a C function taking the same arguments.
Batched workloads: one pass over the largest input (its ``.sum()``).
The chain: a hand-written C forward/backward loop called through cffi.
"""

from __future__ import annotations

from functools import partial

import numpy as np

from bench import cbuild
from bench.systems import Prepared, System, unpack_named
from bench.workloads import Inputs, Workload

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


def _bare_call(workload: Workload, inputs: Inputs) -> Prepared:
    arity = len(inputs)
    parameters = ", ".join(f"double a{i}" for i in range(arity))
    cdef = f"double bare_call({parameters});"
    module = cbuild.load_cffi(f"bare{arity}", cdef, f"double bare_call({parameters}) {{ return a0; }}")
    return Prepared(partial(module.lib.bare_call, *inputs.values()), None, note=f"bare cffi call, {arity} doubles")


def _one_pass(workload: Workload, inputs: Inputs) -> Prepared:
    data = {name: value for name, value in inputs.items() if name not in workload.wrt}
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


def prepare(workload: Workload, inputs: Inputs) -> Prepared:
    """The floor that fits the workload's kind."""
    floors = {"scalar": _bare_call, "batched": _one_pass, "chain": _chain_loop}
    return floors[workload.kind](workload, inputs)


SYSTEMS = (System("floor", "floor", prepare, requires="cffi"),)
