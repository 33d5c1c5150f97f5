"""CasADi: a Function returning the value and its gradient, and the same Function's C.

The scalar workloads and the scalar chains (chain, rk4) are SX graphs of
scalars built from the workload's own ``define``. The array workloads are MX
graphs of whole matrices (``mtimes``, elementwise ops, ``sum1``/``sum2``),
written out here in CasADi's terms because MX does not broadcast a bias row
over a batch; the loop workload rk4loop is one SX step repeated by
``mapaccum``, CasADi's loop construct. Their data are inputs of the Function, converted to ``DM`` once
at set-up; the mlp's integer labels become a one-hot matrix there.

The C variant generates the Function's C source, builds it with the system
compiler and loads it with ``casadi.external``; a failing build reads
"unavailable", a slow one runs into the suite's set-up time limit.
"""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from bench import cbuild
from bench.systems import Grads, NotApplicable, Ops, Prepared, System, Unavailable
from bench.workloads import Inputs, Workload, mlp, rk4


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


def _logreg(ca: Any, w: Any, b: Any, X: Any, y: Any) -> Any:
    """Mean binary cross-entropy of ``sigmoid(X w + b)``, as the workload defines it."""
    p = 1 / (1 + ca.exp(-(ca.mtimes(X, w) + b)))
    return -ca.sum1(y * ca.log(p) + (1 - y) * ca.log(1 - p)) / y.numel()


def _elementwise(ca: Any, a: Any, b: Any, c: Any, x: Any) -> Any:
    """``sum(tanh(a x + b) exp(-c x^2) + log(1 + exp(a x)))`` over the column ``x``."""
    return ca.sum1(ca.tanh(a * x + b) * ca.exp(-c * x**2) + ca.log(1 + ca.exp(a * x)))


def _row_max(ca: Any, z: Any) -> Any:
    """The largest entry of each row, as a column (MX has no row-wise max)."""
    largest = z[:, 0]
    for j in range(1, z.size2()):
        largest = ca.fmax(largest, z[:, j])
    return largest


def _across(ca: Any, column: Any, count: int) -> Any:
    """``column`` repeated ``count`` times side by side, as an outer product (``repmat`` unrolls in C)."""
    return ca.mtimes(column, ca.DM.ones(1, count))


def _mlp(ca: Any, W1: Any, b1: Any, W2: Any, b2: Any, X: Any, onehot: Any) -> Any:
    """Tanh hidden layer, then the mean cross-entropy of a row-wise log-softmax shifted by each row's max."""
    rows, classes = X.size1(), W2.size2()
    ones = ca.DM.ones(rows, 1)
    h = ca.tanh(ca.mtimes(X, W1) + ca.mtimes(ones, b1.T))
    logits = ca.mtimes(h, W2) + ca.mtimes(ones, b2.T)
    shifted = logits - _across(ca, _row_max(ca, logits), classes)
    logp = shifted - _across(ca, ca.log(ca.sum2(ca.exp(shifted))), classes)
    return -ca.sum1(ca.sum2(onehot * logp)) / rows


def _vchain(ca: Any, h0: Any, w: Any) -> Any:
    """``h = tanh(h * w[k])`` over the column ``h``, summing ``sum(h^2)`` after every step."""
    h, loss = h0, 0
    for k in range(w.numel()):
        h = ca.tanh(h * w[k])
        loss = loss + ca.sum1(h * h)
    return loss


def _shifted(ca: Any, x: Any) -> Any:
    """The Rosenbrock sum over the column ``x``, from its two overlapping slices."""
    head, tail = x[:-1], x[1:]
    return ca.sum1(100 * (tail - head**2) ** 2 + (1 - head) ** 2)


def _rk4loop(ca: Any, a: Any, b: Any, c: Any, d: Any, x0: Any, y0: Any, obs: Any) -> Any:
    """The RK4 fit as CasADi's loop construct: one step as an SX Function, run over the observations by
    ``mapaccum`` (the state and the running misfit accumulated, the parameters the same every step)."""
    state, observed, p = ca.SX.sym("state", 3), ca.SX.sym("observed"), ca.SX.sym("p", 4)
    x, y, _ = rk4._step(p[0], p[1], p[2], p[3], state[0], state[1])
    step = ca.Function("step", [state, observed, p], [ca.vertcat(x, y, state[2] + (x - observed) ** 2)])
    steps = obs.numel()
    states = step.mapaccum("steps", steps)(ca.vertcat(x0, y0, 0), obs.T, ca.vertcat(a, b, c, d))
    return rk4.DT * states[2, steps - 1]


MX_LOSSES: dict[str, Callable[..., Any]] = {
    "logreg": _logreg,
    "elementwise": _elementwise,
    "mlp": _mlp,
    "vchain": _vchain,
    "shifted": _shifted,
    "rk4loop": _rk4loop,
}
"""The array workloads' losses over MX matrices (CasADi module first, then the inputs), by workload name."""


def _one_hot(labels: np.ndarray) -> np.ndarray:
    """Integer class labels as rows of a float64 one-hot matrix."""
    return np.eye(mlp.CLASSES)[labels]


def _sx_function(workload: Workload, inputs: Inputs) -> Any:
    """Scalars are SX symbols; an array is a symbolic vector handed to the loss as a list of its entries."""
    import casadi as ca

    symbols = {name: ca.SX.sym(name, np.size(value)) for name, value in inputs.items()}
    args = [
        [symbol[i] for i in range(symbol.numel())] if isinstance(inputs[name], np.ndarray) else symbol
        for name, symbol in symbols.items()
    ]
    value = workload.define(_ops(ca))(*args)
    grads = [ca.gradient(value, symbols[name]) for name in workload.wrt]
    return ca.Function("value_and_grad", list(symbols.values()), [value, *grads])


def _mx_function(workload: Workload, arguments: dict[str, Any]) -> Any:
    """An MX Function of matrices shaped like ``arguments``, returning the loss and its gradients."""
    if workload.name not in MX_LOSSES:
        raise NotApplicable(f"no CasADi MX port of {workload.name} written")
    import casadi as ca

    symbols = {name: ca.MX.sym(name, *value.shape) for name, value in arguments.items()}
    value = MX_LOSSES[workload.name](ca, *symbols.values())
    grads = [ca.gradient(value, symbols[name]) for name in workload.wrt]
    return ca.Function("value_and_grad", list(symbols.values()), [value, *grads])


def _function(workload: Workload, inputs: Inputs) -> tuple[Any, list[Any]]:
    """The value-and-gradient Function and the arguments it is called with: MX for arrays, else SX."""
    if workload.scalar_ops:
        return _sx_function(workload, inputs), list(inputs.values())
    import casadi as ca

    arguments = {name: ca.DM(value) for name, value in inputs.items()}
    if workload.name == "mlp":
        arguments["y"] = ca.DM(_one_hot(inputs["y"]))
    return _mx_function(workload, arguments), list(arguments.values())


def _prepared(function: Any, args: list[Any], workload: Workload, inputs: Inputs, note: str) -> Prepared:
    shapes = [np.shape(inputs[name]) for name in workload.wrt]

    def unpack(result: Any) -> tuple[float, Grads]:
        value, *grads = result
        return float(value), {name: np.array(g).reshape(shape) for name, g, shape in zip(workload.wrt, grads, shapes)}

    return Prepared(partial(function, *args), unpack, note=note)


def _kind(workload: Workload) -> str:
    return "SX" if workload.scalar_ops else "MX"


def prepare_sx(workload: Workload, inputs: Inputs) -> Prepared:
    """The Function called from Python (CasADi's virtual machine evaluates the expression graph)."""
    function, args = _function(workload, inputs)
    return _prepared(function, args, workload, inputs, note=f"{_kind(workload)} Function")


def prepare_c(workload: Workload, inputs: Inputs) -> Prepared:
    """The Function's generated C, compiled and loaded with ``casadi.external``."""
    import casadi as ca

    function, args = _function(workload, inputs)
    generator = ca.CodeGenerator(f"{workload.name}.c", {"with_header": False})
    generator.add(function)
    with tempfile.TemporaryDirectory() as scratch:
        source = Path(generator.generate(f"{scratch}/")).read_text()
    try:
        library = cbuild.compile_shared(f"casadi_{workload.name}", source)
    except subprocess.CalledProcessError as exc:
        raise Unavailable(f"generated C did not build: {exc.stderr.strip()[:200]}") from exc
    external = ca.external("value_and_grad", str(library))
    return _prepared(external, args, workload, inputs, note=f"{_kind(workload)}, generated C, -O2")


SYSTEMS = (
    System("casadi", "peer", prepare_sx, requires="casadi"),
    System("casadi C", "peer", prepare_c, requires="casadi"),
)
