"""The benchmark's adapters agree with its hand-written references (tiny sizes, nothing timed).

gradgen's adapters must agree for every workload; the C backend may instead be
reported unavailable, but only when gradgen has no working C backend at all.
Peer adapters are checked where the peer is installed (CI does not install
them). The references themselves are checked against finite differences.
"""

from __future__ import annotations

import numpy as np
import pytest

from bench import check, report, suite
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
    "rk4loop": 5,
    "shifted": 30,
    "lstm": 8,
}
SYMBOLIC_TINY = {"rk4": 1}
"""Smaller sizes for SymPy, whose expressions of RK4 grow exponentially with the steps (2 take minutes)."""
PEERS = [name for name, system in SYSTEMS.items() if system.role == "peer" and system.requires]
RUNS_ON = {
    "numba by hand": {"chain", "vchain", "rk4", "rk4loop", "shifted", "lstm"},
    "torch.compile": {"vchain", "rk4", "shifted", "elementwise", "logreg", "mlp"},
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


def _central_difference(workload, inputs, name: str, index: tuple[int, ...]) -> float:
    """dJ/d(inputs[name][index]) by central differences of the reference's value."""
    base = np.asarray(inputs[name], dtype=np.float64)
    step = 1e-6 * max(1.0, abs(base[index]))
    values = []
    for sign in (1, -1):
        moved = base.copy()
        moved[index] += sign * step
        values.append(workload.numpy_by_hand(**{**inputs, name: moved if moved.shape else float(moved)})[0])
    return (values[0] - values[1]) / (2 * step)


@pytest.mark.parametrize("workload", WORKLOADS.values(), ids=list(WORKLOADS))
def test_reference_gradient_matches_central_differences(workload):
    inputs = workload.make(TINY[workload.name])
    _, grads = workload.numpy_by_hand(**inputs)
    rng = np.random.default_rng(0)
    for name in workload.wrt:
        for index in _entries(np.asarray(inputs[name]), rng):
            estimate = _central_difference(workload, inputs, name, index)
            assert np.asarray(grads[name])[index] == pytest.approx(estimate, rel=1e-5, abs=1e-8), (name, index)


DEEP = ["vchain", "rk4", "rk4loop", "shifted", "lstm"]


@pytest.mark.parametrize("name", DEEP)
def test_deep_reference_matches_central_differences_at_its_first_benchmark_size(name):
    """Many steps: the adjoint carried back through every step, at gradients of order one (rk4's are tiny at TINY)."""
    workload = WORKLOADS[name]
    inputs = workload.make(workload.quick_sizes[0])
    _, grads = workload.numpy_by_hand(**inputs)
    rng = np.random.default_rng(1)
    for wrt in workload.wrt:
        shape = np.shape(inputs[wrt])
        first, last = (tuple(int(i) for i in np.unravel_index(k, shape)) for k in (0, np.size(inputs[wrt]) - 1))
        entries = [first, last, *_entries(np.asarray(inputs[wrt]), rng, 2)]
        for index in dict.fromkeys(entries) if np.ndim(inputs[wrt]) else [()]:
            estimate = _central_difference(workload, inputs, wrt, index)
            # abs: the rounding of central differences, about 1e-16 |J| / step (J ~ 1, step 1e-6)
            assert np.asarray(grads[wrt])[index] == pytest.approx(estimate, rel=1e-6, abs=1e-10), (wrt, index)


def _gradgen_python(workload, inputs):
    import gradgen as gg

    specs = {
        name: gg.Array(value.shape, dtype=str(value.dtype)) if isinstance(value, np.ndarray) else gg.Scalar()
        for name, value in inputs.items()
    }
    return gg.value_and_grad(workload.define(gg), wrt=list(workload.wrt), backend="python", specs=specs)


@pytest.mark.parametrize("name", DEEP)
def test_deep_reference_matches_the_dsl_through_gradgens_python_backend(name):
    workload = WORKLOADS[name]
    inputs = workload.make(workload.quick_sizes[0])
    value, grads = _gradgen_python(workload, inputs)(*inputs.values())
    want_value, want_grads = workload.numpy_by_hand(**inputs)
    assert float(value) == pytest.approx(want_value, rel=1e-12)
    for wrt in workload.wrt:
        np.testing.assert_allclose(grads[wrt], want_grads[wrt], rtol=1e-10, atol=0, err_msg=wrt)


@pytest.mark.parametrize("name", ["vchain", "rk4"])
def test_python_by_hand_matches_numpy_by_hand(name):
    workload = WORKLOADS[name]
    inputs = workload.make(workload.quick_sizes[0])
    as_lists = {key: value.tolist() if isinstance(value, np.ndarray) else value for key, value in inputs.items()}
    value, grads = workload.python_by_hand(**as_lists)
    want_value, want_grads = workload.numpy_by_hand(**inputs)
    assert value == pytest.approx(want_value, rel=1e-13)
    for wrt in workload.wrt:
        np.testing.assert_allclose(grads[wrt], want_grads[wrt], rtol=1e-12, atol=0, err_msg=wrt)


@pytest.mark.parametrize("size", WORKLOADS["vchain"].sizes)
def test_vchain_gradient_is_of_order_one_for_every_weight(size):
    """As its docstring says: dJ/dw(k) between about 1 and 4 for every k, whatever n."""
    _, grads = WORKLOADS["vchain"].numpy_by_hand(**WORKLOADS["vchain"].make(size))
    assert 1.0 < grads["w"].min() and grads["w"].max() < 4.0


@pytest.mark.parametrize("workload", WORKLOADS.values(), ids=list(WORKLOADS))
@pytest.mark.parametrize("system", ["python by hand", "numpy by hand", "floor"])
def test_hand_written_systems_agree(workload, system):
    answer, _ = set_up(SYSTEMS[system], workload, TINY[workload.name])
    missing = system == "python by hand" or (system == "floor" and workload.name in WITHOUT_FLOOR)
    assert answer["status"] == "ok" or (missing and answer["status"] == "n/a" and answer["detail"]), answer


WITHOUT_FLOOR = {"lstm"}
"""Workloads without a hand-written C floor (numba by hand is their hand-written reference)."""


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


def test_rk4_torch_form_matches_the_reference_in_eager_pytorch():
    """The tensor form torch.compile runs, at the suite's first size, without the minutes of compiling it."""
    torch = pytest.importorskip("torch")
    from bench.systems.torch_eager import _tensor
    from bench.workloads import rk4

    workload = WORKLOADS["rk4"]
    inputs = workload.make(workload.quick_sizes[0])
    args = [_tensor(torch, value) for value in inputs.values()]
    assert all(arg.ndim == 0 for name, arg in zip(inputs, args) if name in workload.wrt)
    argnums = tuple(list(inputs).index(name) for name in workload.wrt)
    grads, value = torch.func.grad_and_value(rk4.define_torch(torch), argnums=argnums)(*args)
    want_value, want_grads = workload.numpy_by_hand(**inputs)
    assert float(value) == pytest.approx(want_value, rel=1e-12)
    for name, grad in zip(workload.wrt, grads):
        assert float(grad) == pytest.approx(want_grads[name], rel=1e-10), name


def test_micrograd_says_a_graph_too_deep_for_its_recursive_backward_is_not_applicable():
    pytest.importorskip("micrograd")
    answer, _ = set_up(SYSTEMS["micrograd"], WORKLOADS["rk4"], 1_000)
    assert answer["status"] == "n/a" and "recursion limit" in answer["detail"], answer


def test_suite_measures_the_first_gradient_of_every_system_that_passed_at_every_size():
    """Fresh processes, one per system and size: the passing systems get a build time, shown beside the median."""
    names = ["floor", "gradgen-python", "gradgen-python unchecked", "python by hand", "numpy by hand"]
    settings = suite.Settings(timeout=120.0, rounds=1, target=0.001)
    cells = suite.run_workload(WORKLOADS["shifted"], (30, 60), [SYSTEMS[name] for name in names], settings)
    assert [cell["size"] for cell in cells] == [30, 60]
    for cell in cells:
        assert cell["systems"]["python by hand"]["status"] == "n/a"
        assert set(cell["first_gradient"]) == {"floor", "gradgen-python", "numpy by hand"}, cell["first_gradient"]
        for outcome in cell["first_gradient"].values():
            assert outcome["status"] == "ok" and outcome["setup_s"] > 0, outcome
        table = report.cell_table(cell)
        assert "| system | median | first gradient |" in table[2]
        first = report.seconds(cell["first_gradient"]["numpy by hand"]["setup_s"])
        median = report.seconds(cell["systems"]["numpy by hand"]["median"])
        assert any(line.startswith(f"| numpy by hand | {median} | {first} |") for line in table), table
    summary = report.first_gradient_tables(cells)
    assert summary[0].startswith("### shifted: time to first gradient")
    assert summary[2] == "| system | N = 30 | N = 60 |"
    rows = [line.split(" | ")[0] for line in summary[4:] if line]
    assert rows == ["| floor", "| gradgen-python", "| numpy by hand"]  # never probed, python by hand has no row


def test_check_reports_wrong_gradients_and_nan():
    want = (2.0, {"w": np.array([1.0, -2.0]), "b": 3.0})
    assert check.mismatch((2.0, {"w": np.array([1.0, -2.0]), "b": 3.0}), want, ("w", "b")) is None
    assert "gradient of w" in check.mismatch((2.0, {"w": np.array([1.0, -2.1]), "b": 3.0}), want, ("w", "b"))
    assert "value" in check.mismatch((float("nan"), want[1]), want, ("w", "b"))
    assert "shape" in check.mismatch((2.0, {"w": np.array([1.0]), "b": 3.0}), want, ("w", "b"))
    assert "expected" in check.mismatch((2.0, {"w": want[1]["w"]}), want, ("w", "b"))
