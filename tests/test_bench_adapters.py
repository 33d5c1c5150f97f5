"""The benchmark's adapters agree with its hand-written references (tiny sizes, nothing timed).

gradgen's adapters must agree for every workload; the C backend may instead be
reported unavailable, but only when gradgen has no working C backend at all.
Peer adapters are checked where the peer is installed (CI does not install
them). The references themselves are checked against finite differences.
"""

from __future__ import annotations

import numpy as np
import pytest

from bench import check
from bench.systems import SYSTEMS
from bench.worker import set_up
from bench.workloads import WORKLOADS

TINY = {
    "linear": 1,
    "relu2": 1,
    "logreg": 30,
    "elementwise": 30,
    "mlp": 3,
    "chain": 5,
    "vchain": 5,
    "rk4": 5,
    "shifted": 30,
}
SYMBOLIC_TINY = {"rk4": 1}
"""Smaller sizes for SymPy, whose expressions of RK4 grow exponentially with the steps (2 take minutes)."""
PEERS = [name for name, system in SYSTEMS.items() if system.role == "peer" and system.requires]
RUNS_ON = {
    "numba by hand": {"chain", "vchain", "rk4", "shifted"},
    "torch.compile": {"vchain", "shifted", "elementwise", "logreg", "mlp"},
}
"""Peers whose set of workloads is known: "ok" on these, "n/a" on the others."""


def _tiny(system: str, workload: str) -> int:
    """The size a system is checked at: TINY, or smaller where its set-up is exponential in the size."""
    return SYMBOLIC_TINY.get(workload, TINY[workload]) if system.startswith("sympy") else TINY[workload]


@pytest.fixture(autouse=True)
def private_caches(tmp_path, monkeypatch):
    monkeypatch.setenv("BENCH_CACHE_DIR", str(tmp_path / "bench"))
    monkeypatch.setenv("GRADGEN_CACHE_DIR", str(tmp_path / "gradgen"))
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "inductor"))


def _entries(value: np.ndarray, rng: np.random.Generator, count: int = 4) -> list[tuple[int, ...]]:
    indices = list(np.ndindex(value.shape))
    return [indices[i] for i in rng.choice(len(indices), size=min(count, len(indices)), replace=False)]


@pytest.mark.parametrize("workload", WORKLOADS.values(), ids=list(WORKLOADS))
def test_reference_gradient_matches_central_differences(workload):
    inputs = workload.make(TINY[workload.name])
    _, grads = workload.numpy_by_hand(**inputs)
    rng = np.random.default_rng(0)
    for name in workload.wrt:
        base = np.asarray(inputs[name], dtype=np.float64)
        for index in _entries(base, rng):
            step = 1e-6 * max(1.0, abs(base[index]))
            shifted = []
            for sign in (1, -1):
                moved = base.copy()
                moved[index] += sign * step
                value = moved if moved.shape else float(moved)
                shifted.append(workload.numpy_by_hand(**{**inputs, name: value})[0])
            estimate = (shifted[0] - shifted[1]) / (2 * step)
            assert np.asarray(grads[name])[index] == pytest.approx(estimate, rel=1e-5, abs=1e-8), (name, index)


@pytest.mark.parametrize("workload", WORKLOADS.values(), ids=list(WORKLOADS))
@pytest.mark.parametrize("system", ["python by hand", "numpy by hand", "floor"])
def test_hand_written_systems_agree(workload, system):
    answer, _ = set_up(SYSTEMS[system], workload, TINY[workload.name])
    assert answer["status"] == "ok" or (system == "python by hand" and answer["status"] == "n/a"), answer


def _c_backend_works() -> bool:
    import gradgen as gg

    try:
        gg.value_and_grad(lambda x: x * x, backend="c", specs={"x": gg.Scalar()})(3.0)
    except (gg.GradgenError, NotImplementedError):
        return False
    return True


@pytest.mark.parametrize("workload", WORKLOADS.values(), ids=list(WORKLOADS))
@pytest.mark.parametrize("system", [name for name, system in SYSTEMS.items() if system.role == "gradgen"])
def test_gradgen_adapters_agree(workload, system):
    answer, _ = set_up(SYSTEMS[system], workload, TINY[workload.name])
    if answer["status"] == "unavailable" and system.startswith("gradgen-c"):
        assert not _c_backend_works(), answer
    else:
        assert answer["status"] == "ok", answer


@pytest.mark.parametrize("workload", WORKLOADS.values(), ids=list(WORKLOADS))
@pytest.mark.parametrize("system", PEERS)
def test_peer_adapters_agree_or_say_why_not(workload, system):
    pytest.importorskip(SYSTEMS[system].requires)
    answer, _ = set_up(SYSTEMS[system], workload, _tiny(system, workload.name))
    assert answer["status"] in ("ok", "n/a"), answer
    assert answer["status"] == "ok" or answer["detail"], answer
    if system in RUNS_ON:
        assert answer["status"] == ("ok" if workload.name in RUNS_ON[system] else "n/a"), answer


def test_check_reports_wrong_gradients_and_nan():
    want = (2.0, {"w": np.array([1.0, -2.0]), "b": 3.0})
    assert check.mismatch((2.0, {"w": np.array([1.0, -2.0]), "b": 3.0}), want, ("w", "b")) is None
    assert "gradient of w" in check.mismatch((2.0, {"w": np.array([1.0, -2.1]), "b": 3.0}), want, ("w", "b"))
    assert "value" in check.mismatch((float("nan"), want[1]), want, ("w", "b"))
    assert "shape" in check.mismatch((2.0, {"w": np.array([1.0]), "b": 3.0}), want, ("w", "b"))
    assert "expected" in check.mismatch((2.0, {"w": want[1]["w"]}), want, ("w", "b"))
