"""gradgen.dask on a real cluster: a LocalCluster of 2 process workers (1 thread each), started here.

The data-parallel value and gradient equal the single-process kernel's on the concatenated data (sum
and mean losses, ragged last chunks); a worker killed during a computation is retried by Dask and the
result is still exact; workers without a C compiler run the Python kernel and give the same numbers.
"""

from __future__ import annotations

import os
from pathlib import Path

import dask.array as da  # test dependencies (the "dask" extra); the package does not need them
import distributed
import numpy as np
import pytest

import gradgen as gg
import gradgen.dask as ggd
from tests.travelling import logreg

ROOT = Path(__file__).resolve().parent.parent


def squared_error(w, X, y):
    return gg.sum((X @ w - y) ** 2)


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  env={"PYTHONPATH": str(ROOT)}) as cluster, distributed.Client(cluster) as c:
        yield c


def _data(rows: int = 1_003):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(rows, 4))
    return rng.normal(size=4), X, X @ np.array([1.0, -2.0, 0.5, 0.0]) + rng.normal(size=rows) * 0.1


def _close(got: tuple, expected: tuple) -> None:
    assert got[0] == pytest.approx(expected[0], rel=1e-12)
    for key in expected[1]:
        np.testing.assert_allclose(got[1][key], expected[1][key], rtol=1e-12, atol=1e-15)


def test_sum_and_mean_losses_over_ragged_chunks_equal_the_single_process_kernel(client):
    w, X, y = _data()
    Xd, yd = da.from_array(X, chunks=(300, -1)), da.from_array(y, chunks=300)  # 300, 300, 300, 103 rows
    total = ggd.value_and_grad(squared_error, wrt="w", reduction="sum")
    _close(total(w, Xd, yd), gg.value_and_grad(squared_error, wrt="w")(w, X, y))
    labels = (y > 0) * 1.0
    mean = ggd.value_and_grad(logreg, wrt=["w", "b"], reduction="mean")
    _close(mean(w, 0.1, Xd, da.from_array(labels, chunks=300)), gg.value_and_grad(logreg, wrt=["w", "b"])(
        w, 0.1, X, labels))


def _kill_once(block: np.ndarray, marker: str) -> np.ndarray:
    """The first time, on a worker: the worker's process dies in the middle of the computation."""
    try:
        distributed.get_worker()
    except ValueError:  # not on a worker (Dask probing the function): nothing to kill
        return block
    if not os.path.exists(marker):
        Path(marker).write_text("killed")
        os._exit(1)
    return block


def test_a_worker_killed_during_a_computation_is_retried_and_the_result_is_exact(client, tmp_path):
    w, X, y = _data()
    Xd = da.from_array(X, chunks=(250, -1)).map_blocks(_kill_once, str(tmp_path / "killed"),
                                                                 meta=np.empty((0, 4)))
    got = ggd.value_and_grad(squared_error, wrt="w")(w, Xd, da.from_array(y, chunks=250))
    assert (tmp_path / "killed").exists()
    _close(got, gg.value_and_grad(squared_error, wrt="w")(w, X, y))


def test_workers_without_a_compiler_run_python_with_the_same_numbers(tmp_path):
    empty_bin = tmp_path / "bin"
    empty_bin.mkdir()
    env = {"PYTHONPATH": str(ROOT), "PATH": str(empty_bin), "GRADGEN_CACHE_DIR": str(tmp_path / "cache")}
    w, X, y = _data(500)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  env=env) as cluster, distributed.Client(cluster) as c:
        got = ggd.value_and_grad(squared_error, wrt="w")(w, da.from_array(X, chunks=(200, -1)),
                                                         da.from_array(y, chunks=200))
        backends = c.run(lambda: __import__("gradgen.build", fromlist=["find_compiler"]).find_compiler() is None)
    assert set(backends.values()) == {True}
    _close(got, gg.value_and_grad(squared_error, wrt="w")(w, X, y))


def test_a_sweep_runs_one_kernel_for_many_parameter_sets(client):
    w, X, y = _data(200)
    kernel = gg.value_and_grad(squared_error, wrt="w", w=gg.Array((4,)), X=gg.Array((200, 4)), y=gg.Array((200,)))
    sets = [{"w": w * k} for k in range(5)]
    results = ggd.map(kernel, sets, X=X, y=y)
    for parameters, got in zip(sets, results):
        _close(got, kernel(parameters["w"], X, y))


def test_losses_that_are_not_sums_over_rows_are_refused(client):
    w, X, y = _data(100)
    Xd, yd = da.from_array(X, chunks=(50, -1)), da.from_array(y, chunks=50)

    def penalized(w, X, y):
        return gg.sum((X @ w - y) ** 2) + gg.sum(w ** 2)

    with pytest.raises(gg.GraphError, match="the loss is not the sum of per-row terms"):
        ggd.value_and_grad(penalized, wrt="w", reduction="sum")(w, Xd, yd)
    # a mean plus a penalty is exact by the mean reduction: the chunks' weights add up to one
    mean_penalized = lambda w, X, y: gg.mean((X @ w - y) ** 2) + gg.sum(w ** 2)  # noqa: E731
    _close(ggd.value_and_grad(mean_penalized, wrt="w", reduction="mean")(w, Xd, yd),
           gg.value_and_grad(mean_penalized, wrt="w")(w, X, y))
    with pytest.raises(gg.GraphError, match="try reduction='mean'"):
        ggd.value_and_grad(lambda w, X, y: gg.mean((X @ w - y) ** 2), wrt="w", reduction="sum")(w, Xd, yd)
    with pytest.raises(gg.InputError, match="chunk the data arguments alike"):
        ggd.value_and_grad(squared_error, wrt="w")(w, Xd, da.from_array(y, chunks=40))
    with pytest.raises(gg.InputError, match="no argument is a dask array"):
        ggd.value_and_grad(squared_error, wrt="w")(w, X, y)
    with pytest.raises(gg.InputError, match="reduction must be one of"):
        ggd.value_and_grad(squared_error, reduction="max")


def test_the_example_fits_logistic_regression_on_rows_kept_on_the_workers(client, capsys):
    import importlib.util

    spec = importlib.util.spec_from_file_location("dask_logreg", ROOT / "examples" / "dask_logreg.py")
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    result = example.fit(client, rows=40_000, chunk=9_000)  # ragged: 4 chunks of 9,000 and one of 4,000
    assert result.success
    np.testing.assert_allclose(result.x[:example.FEATURES], example.TRUE_W, atol=0.06)
    shown = capsys.readouterr()
    assert "L-BFGS" in shown.err or "iteration  1" in shown.out  # tqdm's bar, or a line per iteration
