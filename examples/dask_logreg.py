"""Logistic regression on 10 million rows by L-BFGS, its gradient computed chunk by chunk on a Dask cluster.

The rows are generated on the workers, a chunk at a time, and stay there (no process ever holds them
all); each L-BFGS iteration sends the 9 parameters and the compiled kernel (as its graph) to each
worker once, runs the kernel on every chunk, and tree-reduces the values and gradients into the exact
mean loss and gradient (`gradgen.dask.value_and_grad`).

Run on a LocalCluster of 2 process workers, 1 thread each:
    python examples/dask_logreg.py
against an existing scheduler (its workers need gradgen installed):
    python examples/dask_logreg.py --scheduler tcp://scheduler-host:8786
smaller, for a quick look:
    python examples/dask_logreg.py --rows 1000000
"""

from __future__ import annotations

import argparse
import time

import dask.array as da
import numpy as np
import scipy.optimize
from distributed import Client, LocalCluster

import gradgen as gg
import gradgen.dask

FEATURES = 8
TRUE_W, TRUE_B = np.linspace(-1.0, 1.0, FEATURES), 0.25


def logistic(w, b, X, y):
    """The mean logistic loss of one batch of rows."""
    z = X @ w + b
    return gg.mean(gg.softplus(z) - y * z)


def rows_on_the_cluster(client: Client, rows: int, chunk: int) -> tuple[da.Array, da.Array]:
    """X (rows x 8) and labels y drawn from the true model, generated and kept on the workers."""
    rng = da.random.default_rng(0)
    X = rng.normal(size=(rows, FEATURES), chunks=(chunk, FEATURES))
    y = (rng.uniform(size=rows, chunks=chunk) < 1 / (1 + da.exp(-(X @ TRUE_W + TRUE_B)))).astype(float)
    X, y = client.persist([X, y])
    return X, y


class Progress:
    """A progress bar over L-BFGS iterations (tqdm; a line per iteration without it) showing the loss, the
    gradient's size and the time of the iteration (the values of the last point evaluated there, which
    is where the iteration ended)."""

    def __init__(self):
        self.started, self.iteration, self.seen = time.perf_counter(), 0, {}
        try:
            from tqdm import tqdm
        except ImportError:
            self.bar = None
        else:
            self.bar = tqdm(desc="L-BFGS", unit="iteration")

    def evaluated(self, theta: np.ndarray, value: float, grad: np.ndarray) -> None:
        self.seen = {theta.tobytes(): (value, grad)}

    def __call__(self, theta: np.ndarray) -> None:
        self.iteration += 1
        value, grad = self.seen.get(np.asarray(theta).tobytes(), (float("nan"), np.full(1, np.nan)))
        now = time.perf_counter()
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix(loss=f"{value:.8f}", grad=f"{np.linalg.norm(grad):.1e}",
                                 seconds=f"{now - self.started:.2f}")
        else:
            print(f"  iteration {self.iteration:2d}  loss {value:.8f}  |grad| {np.linalg.norm(grad):.2e}  "
                  f"{now - self.started:6.2f} s", flush=True)
        self.started = now

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def fit(client: Client, rows: int, chunk: int) -> scipy.optimize.OptimizeResult:
    X, y = rows_on_the_cluster(client, rows, chunk)
    print(f"{rows:,} rows in {X.npartitions} chunks of {chunk:,} on {len(client.scheduler_info()['workers'])} "
          "workers")
    gradient = gradgen.dask.value_and_grad(logistic, wrt=["w", "b"], reduction="mean")

    progress = Progress()

    def fun(theta: np.ndarray) -> tuple[float, np.ndarray]:
        value, grads = gradient(theta[:FEATURES], float(theta[FEATURES]), X, y)
        grad = np.append(grads["w"], grads["b"])
        progress.evaluated(theta, value, grad)
        return value, grad

    started = time.perf_counter()
    result = scipy.optimize.minimize(fun, np.zeros(FEATURES + 1), jac=True, method="L-BFGS-B",
                                     callback=progress, options={"gtol": 1e-8})
    progress.close()
    print(f"done in {time.perf_counter() - started:.1f} s, {result.nfev} gradients: w = "
          f"{np.round(result.x[:FEATURES], 3)}, b = {result.x[FEATURES]:.3f} (true b = {TRUE_B})")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--chunk", type=int, default=1_000_000)
    parser.add_argument("--scheduler", default="", help="the address of an existing Dask scheduler")
    parser.add_argument("--workers", type=int, default=2)
    options = parser.parse_args()
    if options.scheduler:
        with Client(options.scheduler) as client:
            fit(client, options.rows, options.chunk)
        return
    with LocalCluster(n_workers=options.workers, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        fit(client, options.rows, options.chunk)


if __name__ == "__main__":
    main()
