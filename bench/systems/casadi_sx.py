"""CasADi: an SX Function returning the value and its gradient, and the same Function's C.

The C variant generates the Function's C source, builds it with the system
compiler and loads it with ``casadi.external``; a failing build reads
"unavailable", a slow one runs into the suite's set-up time limit.
"""

from __future__ import annotations

import subprocess
import tempfile
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from bench import cbuild
from bench.systems import Grads, NotApplicable, Ops, Prepared, System, Unavailable
from bench.workloads import Inputs, Workload


def _ops(ca: Any) -> Ops:
    return Ops(
        "CasADi",
        exp=ca.exp,
        log=ca.log,
        sin=ca.sin,
        tanh=ca.tanh,
        sigmoid=lambda z: 1 / (1 + ca.exp(-z)),
        relu=lambda z: ca.fmax(z, 0),
    )


def _function(workload: Workload, inputs: Inputs) -> Any:
    """Scalars are SX symbols; an array is a symbolic vector handed to the loss as a list of its entries."""
    if workload.kind == "batched":
        raise NotApplicable("SX graphs of scalars; batched data would need a Function.map port (not written)")
    import casadi as ca

    symbols = {name: ca.SX.sym(name, np.size(value)) for name, value in inputs.items()}
    args = [
        [symbol[i] for i in range(symbol.numel())] if isinstance(inputs[name], np.ndarray) else symbol
        for name, symbol in symbols.items()
    ]
    value = workload.define(_ops(ca))(*args)
    grads = [ca.gradient(value, symbols[name]) for name in workload.wrt]
    return ca.Function("value_and_grad", list(symbols.values()), [value, *grads])


def _prepared(function: Any, workload: Workload, inputs: Inputs, note: str) -> Prepared:
    shapes = [np.shape(inputs[name]) for name in workload.wrt]

    def unpack(result: Any) -> tuple[float, Grads]:
        value, *grads = result
        return float(value), {name: np.array(g).reshape(shape) for name, g, shape in zip(workload.wrt, grads, shapes)}

    args = list(inputs.values())
    return Prepared(partial(function, *args), unpack, note=note)


def prepare_sx(workload: Workload, inputs: Inputs) -> Prepared:
    """The SX Function called from Python (its virtual machine evaluates the expression graph)."""
    return _prepared(_function(workload, inputs), workload, inputs, note="SX Function")


def prepare_c(workload: Workload, inputs: Inputs) -> Prepared:
    """The Function's generated C, compiled and loaded with ``casadi.external``."""
    import casadi as ca

    function = _function(workload, inputs)
    generator = ca.CodeGenerator(f"{workload.name}.c", {"with_header": False})
    generator.add(function)
    with tempfile.TemporaryDirectory() as scratch:
        source = Path(generator.generate(f"{scratch}/")).read_text()
    try:
        library = cbuild.compile_shared(f"casadi_{workload.name}", source)
    except subprocess.CalledProcessError as exc:
        raise Unavailable(f"generated C did not build: {exc.stderr.strip()[:200]}") from exc
    return _prepared(ca.external("value_and_grad", str(library)), workload, inputs, note="generated C, -O2")


SYSTEMS = (
    System("casadi", "peer", prepare_sx, requires="casadi"),
    System("casadi C", "peer", prepare_c, requires="casadi"),
)
