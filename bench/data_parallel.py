"""Data-parallel gradients on a Dask LocalCluster against one process: logistic regression's value and
gradient over 10^7 x 8 rows.

    python -m bench.data_parallel [--rows 10000000] [--rounds 7] [--out bench/results/<date>-data-parallel.md]

The single-process row is the C kernel on the whole array in memory, one thread. The cluster rows run
``gradgen.dask.value_and_grad`` on 2 process workers of 1 thread each, the rows generated on the workers
and kept there (chunks of 10^6 rows). The overhead row is the same call over a tiny dataset (2 chunks of
100 rows): the cost of the task graph, of sending the parameters and kernel, and of the reduction.
Medians of interleaved rounds.
"""

from __future__ import annotations

import statistics
import time

import numpy as np

from bench import standalone
from bench.env import describe

FEATURES = 8


def logistic(w, b, X, y):
    import gradgen as gg

    z = X @ w + b
    return gg.mean(gg.softplus(z) - y * z)


def main(argv: list[str] | None = None) -> None:
    import dask.array as da
    from distributed import Client, LocalCluster

    import gradgen as gg
    import gradgen.dask

    options = standalone.options(__doc__, argv, rows=10_000_000, rounds=7)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(options.rows, FEATURES))
    y = (rng.uniform(size=options.rows) < 0.5) * 1.0
    w, b = rng.normal(size=FEATURES) * 0.1, 0.1
    single = gg.value_and_grad(logistic, wrt=["w", "b"], backend="c", w=gg.Array((FEATURES,)), b=gg.Scalar(),
                               X=gg.Array(X.shape), y=gg.Array(y.shape))
    expected = single(w, b, X, y)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                      env={"GRADGEN_NUM_THREADS": "1"}) as cluster, Client(cluster) as client:
        chunk = 1_000_000
        Xd, yd = client.persist([da.from_array(X, chunks=(chunk, FEATURES)), da.from_array(y, chunks=chunk)])
        tiny = client.persist([da.from_array(np.ones((200, FEATURES)), chunks=(100, FEATURES)),
                               da.from_array(np.ones(200), chunks=100)])
        gradient = gradgen.dask.value_and_grad(logistic, wrt=["w", "b"], reduction="mean")
        got = gradient(w, b, Xd, yd)
        assert abs(got[0] - expected[0]) <= 1e-12 * abs(expected[0])
        assert np.allclose(got[1]["w"], expected[1]["w"], rtol=1e-12, atol=1e-15)
        gradient(w, b, *tiny)
        steps = {"one process, 1 thread (C kernel)": lambda: single.unchecked(w, b, X, y),
                 "Dask LocalCluster, 2 workers x 1 thread": lambda: gradient(w, b, Xd, yd),
                 "Dask overhead (2 chunks of 100 rows)": lambda: gradient(w, b, *tiny)}
        seconds: dict[str, list[float]] = {name: [] for name in steps}
        for _ in range(options.rounds):
            for name, step in steps.items():
                started = time.perf_counter()
                step()
                seconds[name].append(time.perf_counter() - started)
    medians = {name: statistics.median(values) for name, values in seconds.items()}
    base = medians["one process, 1 thread (C kernel)"]
    env = describe()
    lines = [f"Data-parallel value and gradient of logistic regression, {options.rows:,} x {FEATURES} rows, "
             f"{time.strftime('%Y-%m-%d')}, {env.get('cpu', '')} ({env.get('cores')} cores); medians of "
             f"{options.rounds} interleaved rounds.", "", "| how | per call | speed-up |", "|---|---|---|"]
    for name, value in medians.items():
        ratio = f"{base / value:.2f}x" if "overhead" not in name else ""
        lines.append(f"| {name} | {value * 1e3:,.1f} ms | {ratio} |")
    standalone.publish(lines, options.out)


if __name__ == "__main__":
    main()
