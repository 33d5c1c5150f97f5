"""SymPy: the loss as an expression, ``diff`` for each parameter, ``lambdify`` with and without CSE."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np

from bench.systems import NotApplicable, Ops, Prepared, System, unpack_pairs
from bench.workloads import Inputs, Workload


def _ops(sp: Any) -> Ops:
    return Ops(
        "SymPy",
        exp=sp.exp,
        log=sp.log,
        sin=sp.sin,
        tanh=sp.tanh,
        sigmoid=lambda z: 1 / (1 + sp.exp(-z)),
        relu=lambda z: sp.Max(0, z),
    )


def _symbols(sp: Any, name: str, value: Any) -> Any:
    """A scalar is one symbol; an array a list of symbols w_0, w_1, ..."""
    if isinstance(value, np.ndarray):
        return list(sp.symbols(f"{name}_0:{value.size}"))
    return sp.Symbol(name)


def _diff(sp: Any, expr: Any, wrt: Any) -> Any:
    return [sp.diff(expr, s) for s in wrt] if isinstance(wrt, list) else sp.diff(expr, wrt)


def _prepare(cse: bool) -> Callable[[Workload, Inputs], Prepared]:
    def prepare(workload: Workload, inputs: Inputs) -> Prepared:
        if not workload.scalar_ops:
            raise NotApplicable("expressions of scalar symbols; a loss over arrays is not expressed")
        import sympy as sp

        symbols = {name: _symbols(sp, name, value) for name, value in inputs.items()}
        expr = workload.define(_ops(sp))(*symbols.values())
        grads = [_diff(sp, expr, symbols[name]) for name in workload.wrt]
        function = sp.lambdify(list(symbols.values()), [expr, grads], cse=cse)
        return Prepared(partial(function, *inputs.values()), unpack_pairs(workload.wrt, np.asarray))

    return prepare


SYSTEMS = (
    System("sympy", "peer", _prepare(cse=False), requires="sympy"),
    System("sympy cse", "peer", _prepare(cse=True), requires="sympy"),
)
