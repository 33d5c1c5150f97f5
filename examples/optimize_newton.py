"""Second-order optimization with compiled derivatives: Newton-CG and least squares through scipy.optimize.

1. A logistic regression (2,000 rows, 10 features, parameters a dict {"w", "b"}) fitted by SciPy's
   Newton-CG, its gradient from one value-and-gradient kernel and its Hessian-vector products from a
   `gg.hvp` kernel (forward over reverse: H is never formed), beside L-BFGS-B with the gradient alone.
2. A sum of two decaying exponentials fitted to noisy samples by `scipy.optimize.least_squares`, its
   residuals and their Jacobian from one `gg.jacobian` kernel.

Run: python examples/optimize_newton.py
"""

from __future__ import annotations

import time

import numpy as np

import gradgen as gg
from gradgen import optimize


def logistic(params, X, y):
    """The mean logistic loss of the labels y in {0, 1}, with a small ridge penalty."""
    z = X @ params["w"] + params["b"]
    return gg.mean(gg.softplus(z) - y * z) + 1e-4 * gg.sum(params["w"] ** 2)


def two_decays(p, t, y):
    """The residuals of y against a1 exp(-k1 t) + a2 exp(-k2 t)."""
    return p["a"][0] * gg.exp(-p["k"][0] * t) + p["a"][1] * gg.exp(-p["k"][1] * t) - y


def fit_logistic(rows: int = 2_000, features: int = 10) -> dict[str, dict]:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(rows, features))
    true_w = rng.normal(size=features)
    y = (rng.uniform(size=rows) < 1 / (1 + np.exp(-(X @ true_w - 0.5)))).astype(float)
    start = {"w": np.zeros(features), "b": 0.0}
    results = {}
    for method, options in (("Newton-CG", {"xtol": 1e-10}), ("L-BFGS-B", {"gtol": 1e-10})):
        began = time.perf_counter()
        result = optimize.minimize(logistic, start, args=(X, y), method=method, options=options)
        results[method] = {"result": result, "seconds": time.perf_counter() - began}
        products = f", {result.nhev} Hessian-vector products" if method == "Newton-CG" else ""
        print(f"{method:10s} loss {result.fun:.10f} in {result.nit:3d} iterations, {result.nfev:3d} gradients"
              f"{products}; "
              f"{results[method]['seconds']:.2f} s, building its kernels included")
    print("  w - true w:", np.round(results["Newton-CG"]["result"].x["w"] - true_w, 2))
    return results


def fit_decays(samples: int = 500) -> dict:
    rng = np.random.default_rng(1)
    t = np.linspace(0.0, 5.0, samples)
    y = 3.0 * np.exp(-2.0 * t) + 1.0 * np.exp(-0.3 * t) + rng.normal(size=samples) * 0.005
    result = optimize.least_squares(two_decays, {"a": np.array([1.0, 1.0]), "k": np.array([1.0, 0.1])},
                                    args=(t, y))
    print(f"least squares: a = {np.round(result.x['a'], 3)}, k = {np.round(result.x['k'], 3)} "
          f"(true a = [3, 1], k = [2, 0.3]); cost {result.cost:.3e} after {result.nfev} evaluations")
    return result


if __name__ == "__main__":
    fit_logistic()
    fit_decays()
