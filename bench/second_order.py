"""Derivatives beyond the gradient, in one interleaved run: Hessian-vector products and dense Hessians of
logistic regression, and the Jacobian of a residual vector, gradgen's C kernels beside JAX (jit, x64)
and CasADi. Every result is checked against the others before anything is timed.

    python -m bench.second_order [--rounds 7] [--rows 100000] [--out bench/results/<date>-second-order.md]

Reports per-call medians (and the first call from an empty cache: build included) and ratios to one
value-and-gradient call of the same kernel backend.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from bench import standalone
from bench.env import describe, limit_threads


def _logreg_data(rows: int, features: int = 8) -> dict[str, Any]:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(rows, features))
    w = rng.normal(size=features) * 0.3
    y = (rng.uniform(size=rows) < 1 / (1 + np.exp(-X @ w))).astype(float)
    return {"w": w * 0.5, "b": 0.1, "X": X, "y": y, "v": rng.normal(size=features)}


def _residual_data(rows: int = 10_000) -> dict[str, Any]:
    rng = np.random.default_rng(1)
    t = np.linspace(0.0, 4.0, rows)
    p = np.array([1.0, 0.5, 0.8, 1.5, -0.3, 2.5, 0.2, 0.1, 0.6, 3.0])
    return {"p": p + rng.normal(size=10) * 0.05, "t": t, "y": _model_np(p, t) + rng.normal(size=rows) * 0.01}


def _model_np(p: Any, t: Any, np: Any = np) -> Any:
    return sum(p[2 * k] * np.exp(-p[2 * k + 1] * t) for k in range(5))


def gradgen_systems(d: dict[str, Any], r: dict[str, Any]) -> dict[str, tuple[Callable[[], Any], Any, float]]:
    import gradgen as gg

    def logreg(w, b, X, y):
        z = X @ w + b
        return gg.mean(gg.softplus(z) - y * z)

    def residual(p, t, y):
        return sum(p[2 * k] * gg.exp(-p[2 * k + 1] * t) for k in range(5)) - y

    specs = {"w": gg.Array(d["w"].shape), "b": gg.Scalar(), "X": gg.Array(d["X"].shape), "y": gg.Array(d["y"].shape)}
    made: dict[str, tuple[Callable[[], Any], Any]] = {}
    start = time.perf_counter()
    vg = gg.value_and_grad(logreg, wrt="w", backend="c", specs=specs)
    first = vg(d["w"], d["b"], d["X"], d["y"])
    made["value_and_grad"] = (lambda: vg.unchecked(d["w"], d["b"], d["X"], d["y"]), first[1]["w"],
                              time.perf_counter() - start)
    start = time.perf_counter()
    hvp = gg.hvp(logreg, wrt="w", backend="c", specs=specs)
    first = hvp(d["w"], d["b"], d["X"], d["y"], tangents={"w": d["v"]})
    made["hvp"] = (lambda: hvp.unchecked(d["w"], d["b"], d["X"], d["y"], d["v"]), first[2]["w"],
                   time.perf_counter() - start)
    start = time.perf_counter()
    only = gg.hvp(logreg, wrt="w", backend="c", specs=specs, with_gradient=False)
    first = only(d["w"], d["b"], d["X"], d["y"], tangents={"w": d["v"]})
    made["hvp, products only"] = (lambda: only.unchecked(d["w"], d["b"], d["X"], d["y"], d["v"]), first[1]["w"],
                                  time.perf_counter() - start)
    start = time.perf_counter()
    hess = gg.hessian(logreg, wrt="w", backend="c", specs=specs)
    first = hess(d["w"], d["b"], d["X"], d["y"])
    made["hessian"] = (lambda: hess.unchecked(d["w"], d["b"], d["X"], d["y"]), first[2], time.perf_counter() - start)
    from bench.workloads import mlp

    m = d["mlp"]
    names = ("W1", "b1", "W2", "b2")
    mspecs = {k: gg.Array(np.shape(v), "int64" if k == "y" else "float64") for k, v in m.items()}
    margs = [m[k] for k in (*names, "X", "y")]
    tangents = {k: d["mlp_v"][k] for k in names}
    start = time.perf_counter()
    mvg = gg.value_and_grad(mlp.define(gg), wrt=list(names), backend="c", specs=mspecs)
    first = mvg(*margs)
    made["mlp value_and_grad"] = (lambda: mvg.unchecked(*margs), first[1]["W1"], time.perf_counter() - start)
    start = time.perf_counter()
    mhvp = gg.hvp(mlp.define(gg), wrt=list(names), backend="c", specs=mspecs)
    first = mhvp(*margs, tangents=tangents)
    made["mlp hvp"] = (lambda: mhvp.unchecked(*margs, *[tangents[k] for k in names]), first[2]["W1"],
                       time.perf_counter() - start)
    start = time.perf_counter()
    monly = gg.hvp(mlp.define(gg), wrt=list(names), backend="c", specs=mspecs, with_gradient=False)
    first = monly(*margs, tangents=tangents)
    made["mlp hvp, products only"] = (lambda: monly.unchecked(*margs, *[tangents[k] for k in names]),
                                      first[1]["W1"], time.perf_counter() - start)
    start = time.perf_counter()
    jac = gg.jacobian(residual, wrt="p", mode="forward", backend="c", p=gg.Array((10,)), t=gg.Array(r["t"].shape),
                      y=gg.Array(r["y"].shape))
    first = jac(r["p"], r["t"], r["y"])
    made["jacobian"] = (lambda: jac.unchecked(r["p"], r["t"], r["y"]), first[1]["p"], time.perf_counter() - start)
    return made


def jax_systems(d: dict[str, Any], r: dict[str, Any]) -> dict[str, tuple[Callable[[], Any], Any, float]]:
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    def logreg(w, b, X, y):
        z = X @ w + b
        return jnp.mean(jnp.logaddexp(0.0, z) - y * z)

    def residual(p, t, y):
        return _model_np(p, t, np=jnp) - y

    args = (d["w"], d["b"], d["X"], d["y"])
    made = {}
    from bench.workloads import mlp

    m, v = d["mlp"], d["mlp_v"]
    from bench.systems.jax_jit import _ops

    loss = mlp.define(_ops(jax))
    # Data and directions are arguments, as they are to gradgen's kernels: closed over, they would be
    # constants, and XLA would fold X @ V1 while compiling.
    inputs = (tuple(m[k] for k in ("W1", "b1", "W2", "b2")), m["X"], m["y"], tuple(v[k] for k in ("W1", "b1", "W2",
                                                                                                "b2")))

    def products(p: tuple, X: Any, y: Any, t: tuple) -> Any:
        return jax.jvp(lambda *q: jax.grad(loss, argnums=(0, 1, 2, 3))(*q, X, y), p, t)

    for name, fn in (("mlp value_and_grad", jax.jit(lambda p, X, y, t: jax.value_and_grad(
                         loss, argnums=(0, 1, 2, 3))(*p, X, y))),
                     ("mlp hvp", jax.jit(products)),
                     ("mlp hvp, products only", jax.jit(lambda p, X, y, t: products(p, X, y, t)[1]))):
        start = time.perf_counter()
        result = jax.block_until_ready(fn(*inputs))
        built = time.perf_counter() - start
        got = result[1][0] if name in ("mlp value_and_grad", "mlp hvp") else result[0]
        made[name] = ((lambda fn=fn: jax.block_until_ready(fn(*inputs))), np.asarray(got), built)
    for name, fn, call in (
            ("value_and_grad", jax.jit(jax.value_and_grad(logreg)), lambda f: f(*args)),
            ("hvp", jax.jit(lambda w, b, X, y, v: jax.jvp(lambda w: jax.grad(logreg)(w, b, X, y), (w,), (v,))),
             lambda f: f(*args, d["v"])),
            ("hvp, products only", jax.jit(lambda w, b, X, y, v: jax.jvp(lambda w: jax.grad(logreg)(w, b, X, y),
                                                                         (w,), (v,))[1]),
             lambda f: f(*args, d["v"])),
            ("hessian", jax.jit(jax.hessian(logreg)), lambda f: f(*args)),
            ("jacobian", jax.jit(jax.jacfwd(residual)), lambda f: f(r["p"], r["t"], r["y"]))):
        start = time.perf_counter()
        result = jax.block_until_ready(call(fn))
        built = time.perf_counter() - start
        got = result[1] if name in ("value_and_grad", "hvp") else result
        made[name] = ((lambda fn=fn, call=call: jax.block_until_ready(call(fn))), np.asarray(got), built)
    return made


def casadi_systems(d: dict[str, Any], r: dict[str, Any]) -> dict[str, tuple[Callable[[], Any], Any, float]]:
    import casadi as ca

    w = ca.MX.sym("w", d["w"].size)
    X, y = ca.DM(d["X"]), ca.DM(d["y"])
    z = ca.mtimes(X, w) + d["b"]
    loss = ca.sum1(ca.log1p(ca.exp(-ca.fabs(z))) + ca.fmax(z, 0) - y * z) / d["y"].size
    made = {}
    for name, outputs in (("value_and_grad", [loss, ca.gradient(loss, w)]), ("hessian", [ca.hessian(loss, w)[0]])):
        start = time.perf_counter()
        fn = ca.Function(name, [w], outputs)
        result = fn(d["w"])
        built = time.perf_counter() - start
        got = np.asarray(result[1] if name == "value_and_grad" else result).reshape(-1 if name != "hessian" else
                                                                                   (d["w"].size, d["w"].size))
        made[name] = ((lambda fn=fn: fn(d["w"])), got.ravel() if name == "value_and_grad" else got, built)
    p = ca.MX.sym("p", 10)
    residual = _model_np([p[k] for k in range(10)], ca.DM(r["t"]), np=ca) - ca.DM(r["y"])
    start = time.perf_counter()
    jac_fn = ca.Function("jacobian", [p], [ca.jacobian(residual, p)])
    got = np.asarray(ca.densify(jac_fn(r["p"])))
    made["jacobian"] = ((lambda: jac_fn(r["p"])), got, time.perf_counter() - start)
    return made


def main(argv: list[str] | None = None) -> None:
    options = standalone.options(__doc__, argv, rounds=7, rows=100_000)
    limit_threads(1)  # the kernels' BLAS and XLA, loaded from here on: one thread each, as the table says
    os.environ.setdefault("GRADGEN_NUM_THREADS", "1")
    os.environ.setdefault("GRADGEN_CACHE_DIR", tempfile.mkdtemp(prefix="gg-second-order-"))  # builds from empty
    d, r = _logreg_data(options.rows), _residual_data()
    from bench.workloads import mlp

    d["mlp"] = mlp.make(256)
    rng = np.random.default_rng(3)
    d["mlp_v"] = {k: rng.normal(size=np.shape(d["mlp"][k])) for k in ("W1", "b1", "W2", "b2")}
    systems: dict[str, dict[str, tuple[Callable[[], Any], Any, float]]] = {"gradgen-c": gradgen_systems(d, r)}
    for name, make in (("jax", jax_systems), ("casadi", casadi_systems)):
        try:
            systems[name] = make(d, r)
        except ImportError:
            print(f"{name}: not installed, skipped")
    reference = systems["gradgen-c"]
    for system, rows in systems.items():
        for task, (_, got, _) in rows.items():
            want = reference[task][1]
            error = np.max(np.abs(np.asarray(got, float) - want)) / max(np.max(np.abs(want)), 1e-300)
            assert error < 1e-8, f"{system} {task}: relative error {error:.2e} against gradgen"
    medians = standalone.interleaved_medians({(s, t): step for s, rows in systems.items()
                                              for t, (step, _, _) in rows.items()}, options.rounds)
    env = describe()
    lines = [f"Second-order derivatives, {time.strftime('%Y-%m-%d')}, {env.get('cpu', '')}; logistic regression "
             f"{options.rows} x 8 (hvp, dense Hessian wrt w), residual Jacobian 10,000 x 10 (forward mode), "
             f"the suite's MLP 784-256-10 at batch 256 (hvp wrt all four arrays); "
             f"medians of {options.rounds} interleaved rounds, one thread; first call from an empty cache. "
             "An hvp row computes what gradgen's hvp kernel returns (value or gradient and the products, "
             "JAX's jvp of grad as it comes); 'products only' drops the gradient (with_gradient=False; for "
             "JAX, XLA drops it).", "",
             "| task | system | per call | / its value_and_grad | first call |", "|---|---|---|---|---|"]
    for task in ("value_and_grad", "hvp", "hvp, products only", "hessian", "jacobian", "mlp value_and_grad",
                 "mlp hvp", "mlp hvp, products only"):
        for system in systems:
            if (system, task) not in medians:
                continue
            base = medians.get((system, "mlp value_and_grad" if task.startswith("mlp") else "value_and_grad"))
            ratio = f"{medians[(system, task)] / base:.2f}x" if base and task != "jacobian" else ""
            lines.append(f"| {task} | {system} | {medians[(system, task)] * 1e6:,.1f} us | {ratio} | "
                         f"{systems[system][task][2]:.2f} s |")
    standalone.publish(lines, options.out)


if __name__ == "__main__":
    main()
