"""Kernels travel: every kind pickles as graphs and settings, unpickles to the same numbers, in this
process and in a fresh one (loading a warm cache without compiling, or falling back to Python without
a compiler), once per process."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import gradgen as gg
from tests.travelling import logreg, residual, structured

ROOT = Path(__file__).resolve().parent.parent


SPECS = {"w": gg.Array((3,)), "b": gg.Scalar(), "X": gg.Array((6, 3)), "y": gg.Array((6,))}


def _data():
    rng = np.random.default_rng(0)
    return rng.normal(size=3), 0.2, rng.normal(size=(6, 3)), (rng.uniform(size=6) > 0.5) * 1.0


KERNELS = {
    "compile": lambda backend: gg.compile(logreg, backend=backend, specs=SPECS),
    "value_and_grad": lambda backend: gg.value_and_grad(logreg, wrt=["w", "b"], backend=backend, specs=SPECS),
    "grad": lambda backend: gg.grad(logreg, wrt="w", backend=backend, specs=SPECS),
    "has_aux": lambda backend: gg.value_and_grad(lambda w, b, X, y: (logreg(w, b, X, y), {"z": X @ w}), wrt="w",
                                                 backend=backend, has_aux=True, specs=SPECS),
    "hessian": lambda backend: gg.hessian(logreg, wrt="w", backend=backend, specs=SPECS),
    "hvp": lambda backend: gg.hvp(logreg, wrt="w", backend=backend, specs=SPECS),
    "jvp": lambda backend: gg.jvp(residual, backend=backend, p=gg.Array((2,)), t=gg.Array((5,))),
    "vjp": lambda backend: gg.vjp(residual, wrt="p", backend=backend, p=gg.Array((2,)), t=gg.Array((5,))),
    "jacobian": lambda backend: gg.jacobian(residual, wrt="p", backend=backend, p=gg.Array((2,)),
                                            t=gg.Array((5,))),
}


def _call(kind, kernel):
    if kind in ("jvp", "vjp", "jacobian"):
        p, t = np.array([2.0, 0.5]), np.linspace(0, 1, 5)
        extra = {"jvp": {"tangents": {"p": np.array([1.0, -1.0])}}, "vjp": {"cotangent": np.ones(5)}}.get(kind, {})
        return kernel(p, t, **extra)
    extra = {"tangents": {"w": np.array([1.0, 0.0, -1.0])}} if kind == "hvp" else {}
    return kernel(*_data(), **extra)


def _same(a, b):
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for key in a:
            _same(a[key], b[key])
    elif isinstance(a, tuple):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            _same(x, y)
    else:
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("backend", ["python", "c"])
@pytest.mark.parametrize("kind", sorted(KERNELS))
def test_every_kind_of_kernel_pickles_and_gives_the_same_numbers(kind, backend):
    kernel = KERNELS[kind](backend)
    expected = _call(kind, kernel)
    blob = pickle.dumps(kernel)
    assert b"ELF" not in blob  # no machine code travels
    again = pickle.loads(blob)
    assert again.backend == kernel.backend and again.source == kernel.source
    _same(_call(kind, again), expected)
    assert pickle.loads(blob) is again  # sent twice to one process: built once


def test_structured_parameters_and_new_signatures_travel_with_the_function():
    kernel = gg.value_and_grad(structured, wrt="params", backend="python",
                               specs={"params": {"W": gg.Array((3, 2)), "b": gg.Array((2,))}, "X": gg.Array((4, 3))})
    params = {"W": np.ones((3, 2)), "b": np.zeros(2)}
    again = pickle.loads(pickle.dumps(kernel))
    _same(again(params, np.ones((4, 3))), kernel(params, np.ones((4, 3))))
    jit = gg.value_and_grad(logreg, wrt="w", backend="python")
    jit(*_data())
    moved = pickle.loads(pickle.dumps(jit))
    value, grads = moved(np.zeros(2), 0.0, np.ones((4, 2)), np.ones(4))  # a signature it had not compiled
    assert value == pytest.approx(np.log(2.0)) and grads["w"].shape == (2,)


def test_a_lambdas_kernel_runs_the_signatures_it_had():
    kernel = gg.value_and_grad(lambda x: gg.sum(x ** 2), backend="python")
    kernel(np.ones(3))
    moved = pickle.loads(pickle.dumps(kernel))
    assert moved(np.array([1.0, 2.0, 3.0]))[0] == 14.0
    with pytest.raises(gg.InputError, match="unpickled without its function"):
        moved(np.ones(4))


WORKER = textwrap.dedent("""
    import json, pickle, sys
    events = []
    sys.addaudithook(lambda event, args: events.append(str(args[1]) if event == "subprocess.Popen" else "")
                     if event == "subprocess.Popen" else None)
    import numpy as np
    with open(sys.argv[1], "rb") as handle:
        kernels = pickle.load(handle)
    from tests.test_pickling import _call
    results = {kind: repr(_call(kind, kernel)) for kind, kernel in kernels.items()}
    print(json.dumps({"results": results, "backends": {k: v.backend for k, v in kernels.items()},
                      "compiles": [e for e in events if "'-o'" in e]}))
""")


def _worker(tmp_path: Path, env_update: dict[str, str]) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("GRADGEN_BACKEND", "PYTHONPATH", "CC")}
    env.update({"PYTHONPATH": str(ROOT), **env_update})
    done = subprocess.run([sys.executable, "-W", "always", "-c", WORKER, str(tmp_path / "kernels.pickle")],
                          capture_output=True, text=True, env=env, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    return {**json.loads(done.stdout.strip().splitlines()[-1]), "stderr": done.stderr}


def test_a_fresh_process_loads_from_a_warm_cache_without_compiling_or_falls_back_without_a_compiler(
        tmp_path, monkeypatch):
    monkeypatch.setenv("GRADGEN_CACHE_DIR", str(tmp_path / "cache"))
    kernels = {kind: KERNELS[kind]("auto") for kind in ("value_and_grad", "hvp", "jacobian")}
    expected = {kind: repr(_call(kind, kernel)) for kind, kernel in kernels.items()}
    assert {k.backend for k in kernels.values()} == {"c"}
    (tmp_path / "kernels.pickle").write_bytes(pickle.dumps(kernels))
    warm = _worker(tmp_path, {"GRADGEN_CACHE_DIR": str(tmp_path / "cache")})
    # no kernel is compiled (the one compiler run allowed is the toolchain's probe of a cache it has not seen)
    assert [c for c in warm["compiles"] if "probe.so" not in c] == [] and set(warm["backends"].values()) == {"c"}
    assert warm["results"] == expected
    empty_bin = tmp_path / "bin"
    empty_bin.mkdir()
    cold = _worker(tmp_path, {"GRADGEN_CACHE_DIR": str(tmp_path / "other-cache"), "PATH": str(empty_bin)})
    assert set(cold["backends"].values()) == {"python"}
    assert cold["stderr"].count("no working C compiler") == 1
    for kind, text in cold["results"].items():  # the same numbers from the Python backend, to rounding
        assert text.replace(" ", "")[:12] == expected[kind].replace(" ", "")[:12], kind
