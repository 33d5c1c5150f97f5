"""Gradients through eigendecompositions and SVDs, in one interleaved run: gradgen's C kernels (LAPACK of
the OpenBLAS they link) and the same kernels built as exported C computes them (the runtime's Jacobi
rotations, nothing to link) beside JAX (jit, x64), and NumPy's forward decomposition alone as the floor.
Every gradient is checked against JAX's before anything is timed.

    python -m bench.decompositions [--rounds 7] [--out bench/results/<date>-decompositions.md]

The functions read the vectors only through sign-free quantities (squares, projectors), so every
system computes the same numbers whatever signs its LAPACK picks.
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

SIZES = {"eigh": (10, 50, 200), "svd": ((20, 10), (100, 50), (300, 150))}


def spectral(a: Any, weights: np.ndarray, np: Any = np, linalg: Any = None) -> Any:
    """Eigenvalues and (squared) eigenvectors of the symmetric matrix a, weighted."""
    w, v = (linalg or np.linalg).eigh(a)
    return np.sum(w * weights[0]) + np.sum(v * v * weights)


def singular(m: Any, weights: np.ndarray, np: Any = np, linalg: Any = None) -> Any:
    """Singular values cubed and the projector onto the left singular vectors, weighted."""
    u, s, vt = (linalg or np.linalg).svd(m, full_matrices=False)
    return np.sum(s ** 3) + np.sum((u @ u.T) * weights)


def _cases() -> list[tuple[str, Callable, np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(0)
    cases = []
    for n in SIZES["eigh"]:
        m = rng.normal(size=(n, n))
        cases.append((f"eigh {n}x{n}", spectral, m + m.T, rng.normal(size=(n, n))))
    for p, q in SIZES["svd"]:
        cases.append((f"svd {p}x{q}", singular, rng.normal(size=(p, q)), rng.normal(size=(p, p))))
    return cases


def gradgen_systems(cases: list) -> dict[str, dict[str, tuple[Callable[[], Any], np.ndarray, float]]]:
    import gradgen as gg
    import gradgen.runtime.kernel as kernels

    made: dict[str, dict[str, tuple[Callable[[], Any], np.ndarray, float]]] = {}
    for system, blas in (("gradgen-c", kernels.find_blas), ("gradgen-c, Jacobi (as exported)", lambda: None)):
        kernels.find_blas, found = blas, kernels.find_blas  # without the BLAS: the routines of exported C
        made[system] = {}
        for name, fn, x, weights in cases:
            def loss(x, fn=fn, weights=weights):
                return fn(x, weights, np=gg, linalg=gg.linalg)

            start = time.perf_counter()
            kernel = gg.value_and_grad(loss, backend="c", x=gg.Array(x.shape))
            grad = kernel(x)[1]["x"]
            made[system][name] = ((lambda kernel=kernel, x=x: kernel.unchecked(x)), grad,
                                  time.perf_counter() - start)
        kernels.find_blas = found
    return made


def jax_systems(cases: list) -> dict[str, dict[str, tuple[Callable[[], Any], np.ndarray, float]]]:
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    made = {}
    for name, fn, x, weights in cases:
        symmetric = (lambda a: jnp.tril(a) + jnp.tril(a, -1).T) if fn is spectral else (lambda a: a)
        step = jax.jit(jax.value_and_grad(lambda a, fn=fn, weights=weights, symmetric=symmetric: fn(
            symmetric(a), weights, np=jnp)))
        start = time.perf_counter()
        grad = np.asarray(jax.block_until_ready(step(x))[1])
        made[name] = ((lambda step=step, x=x: jax.block_until_ready(step(x))), grad, time.perf_counter() - start)
    return {"jax": made}


def numpy_floor(cases: list) -> dict[str, dict[str, tuple[Callable[[], Any], None, float]]]:
    decompose = {spectral: np.linalg.eigh, singular: lambda m: np.linalg.svd(m, full_matrices=False)}
    return {"numpy decomposition alone": {name: ((lambda f=decompose[fn], x=x: f(x)), None, 0.0)
                                          for name, fn, x, _ in cases}}


def main(argv: list[str] | None = None) -> None:
    options = standalone.options(__doc__, argv, rounds=7)
    limit_threads(1)  # the kernels' BLAS and XLA, loaded from here on: one thread each, as the table says
    os.environ.setdefault("GRADGEN_NUM_THREADS", "1")
    os.environ.setdefault("GRADGEN_CACHE_DIR", tempfile.mkdtemp(prefix="gg-decompositions-"))
    cases = _cases()
    systems = {**gradgen_systems(cases), **jax_systems(cases), **numpy_floor(cases)}
    for system, rows in systems.items():
        for task, (_, got, _) in rows.items():
            if got is None:
                continue
            want = systems["jax"][task][1]
            error = np.max(np.abs(got - want)) / max(np.max(np.abs(want)), 1e-300)
            assert error < 1e-8, f"{system} {task}: relative error {error:.2e} against JAX"
    medians = standalone.interleaved_medians({(s, t): step for s, rows in systems.items()
                                              for t, (step, _, _) in rows.items()}, options.rounds)
    env = describe()
    lines = [f"Gradients through decompositions, {time.strftime('%Y-%m-%d')}, {env.get('cpu', '')}: value and "
             "gradient of sum(w c) + sum(v**2 C) through eigh, and of sum(s**3) + sum((u u.T) C) through svd; "
             f"medians of {options.rounds} interleaved rounds, one thread; first call from an empty cache "
             "(build included). The NumPy row is the forward decomposition alone.", "",
             "| task | system | per call | / numpy's decomposition | first call |", "|---|---|---|---|---|"]
    for task in systems["jax"]:
        floor = medians[("numpy decomposition alone", task)]
        for system in systems:
            built = systems[system][task][2]
            lines.append(f"| {task} | {system} | {medians[(system, task)] * 1e6:,.1f} us | "
                         f"{medians[(system, task)] / floor:.2f}x | {f'{built:.2f} s' if built else ''} |")
    standalone.publish(lines, options.out)


if __name__ == "__main__":
    main()
