"""gradgen itself: ``gg.value_and_grad`` with each backend, called checked and unchecked."""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np

from bench.systems import Prepared, System, Unavailable, unpack_named
from bench.workloads import Inputs, Workload


def _spec(gg: Any, value: Any) -> Any:
    """A Python float is a scalar; an array keeps its shape and dtype."""
    if isinstance(value, np.ndarray):
        return gg.Array(value.shape, dtype=str(value.dtype))
    return gg.Scalar()


def _kernel(workload: Workload, inputs: Inputs, backend: str) -> Any:
    """Trace, differentiate, generate and (for C) build; gradgen's own errors mean 'unavailable'."""
    try:
        import gradgen as gg
    except Exception as exc:  # the library is young: any import failure is reported, not raised
        raise Unavailable(f"gradgen does not import ({type(exc).__name__}: {exc})") from exc
    specs = {name: _spec(gg, value) for name, value in inputs.items()}
    try:
        kernel = gg.value_and_grad(workload.define(gg), wrt=list(workload.wrt), backend=backend, specs=specs)
    except (gg.GradgenError, NotImplementedError) as exc:
        first_line = str(exc).splitlines()[0] if str(exc) else ""
        raise Unavailable(f"{type(exc).__name__}: {first_line}") from exc
    if kernel.backend != backend:
        raise Unavailable(f"asked for backend {backend!r}, got {kernel.backend!r}")
    return kernel


def _prepare(backend: str, unchecked: bool, threads: int | None = None) -> Callable[[Workload, Inputs], Prepared]:
    """``threads``: how many threads the C kernel's long loops may use (GRADGEN_NUM_THREADS while it
    is generated); None leaves the suite's limit, one thread per library by default."""

    def prepare(workload: Workload, inputs: Inputs) -> Prepared:
        saved = os.environ.get("GRADGEN_NUM_THREADS")
        if threads is not None:
            os.environ["GRADGEN_NUM_THREADS"] = str(threads)
        try:
            kernel = _kernel(workload, inputs, backend)
        finally:
            if saved is None:
                os.environ.pop("GRADGEN_NUM_THREADS", None)
            else:
                os.environ["GRADGEN_NUM_THREADS"] = saved
        call = kernel.unchecked if unchecked else kernel
        return Prepared(partial(call, *inputs.values()), unpack_named)

    return prepare


SYSTEMS = (
    System("gradgen-python", "gradgen", _prepare("python", unchecked=False), requires="gradgen"),
    System(
        "gradgen-python unchecked",
        "gradgen",
        _prepare("python", unchecked=True),
        requires="gradgen",
        first_gradient=False,
    ),
    System("gradgen-c", "gradgen", _prepare("c", unchecked=False), requires="gradgen"),
    System(
        "gradgen-c unchecked",
        "gradgen",
        _prepare("c", unchecked=True),
        requires="gradgen",
        first_gradient=False,
    ),
    System(
        "gradgen-c 2 threads",
        "gradgen",
        _prepare("c", unchecked=False, threads=2),
        requires="gradgen",
        first_gradient=False,
    ),
)
