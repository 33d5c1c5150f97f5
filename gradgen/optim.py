"""gradgen.optim: SGD with momentum and Adam, their update fused with the gradient into one kernel.

``step = gg.optim.training_step(loss, gg.optim.Adam(lr=1e-3))`` compiles, from ``loss(params, *batch)``
(``params`` a dict of arrays, the batch any arrays), one kernel that computes the loss, its gradient with
respect to every parameter and the optimizer's update of the parameters and of its own state: one call
per step, no Python loop over parameters, the update's arithmetic fused into the loops of the backward
pass. ``state = step.init(params)`` makes the optimizer's state; ``params, state, loss = step(params,
state, *batch)`` takes one step (new arrays; the ones given are not changed).

The updates are PyTorch's: SGD ``v = momentum v + g (+ weight_decay p); p -= lr v`` (``nesterov``:
``p -= lr (g + momentum v)``) and Adam ``m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2;
p -= lr (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)``, with ``t`` the step count kept in the state.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from gradgen.dsl.specs import spec_of
from gradgen.dsl.transforms import gradient_at
from gradgen.errors import InputError
from gradgen.ops import functions as F
from gradgen.runtime.kernel import Kernel
from gradgen.runtime.kernel import compile as compile_kernel


@dataclass(frozen=True)
class SGD:
    """Stochastic gradient descent with momentum (``momentum=0``: plain steps)."""

    lr: float = 0.01
    momentum: float = 0.0
    nesterov: bool = False
    weight_decay: float = 0.0

    slots = ("velocity",)

    def update(self, p: Any, g: Any, state: dict[str, Any], t: Any) -> tuple[Any, dict[str, Any]]:
        g = g + self.weight_decay * p if self.weight_decay else g
        if not self.momentum:
            return p - self.lr * g, {"velocity": state["velocity"]}
        v = self.momentum * state["velocity"] + g
        direction = g + self.momentum * v if self.nesterov else v
        return p - self.lr * direction, {"velocity": v}


@dataclass(frozen=True)
class Adam:
    """Adam (Kingma and Ba), with PyTorch's defaults; ``weight_decay`` adds ``weight_decay * p`` to the
    gradient (L2, as torch.optim.Adam)."""

    lr: float = 1e-3
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    weight_decay: float = 0.0

    slots = ("m", "v")

    def update(self, p: Any, g: Any, state: dict[str, Any], t: Any) -> tuple[Any, dict[str, Any]]:
        g = g + self.weight_decay * p if self.weight_decay else g
        m = self.beta1 * state["m"] + (1.0 - self.beta1) * g
        v = self.beta2 * state["v"] + (1.0 - self.beta2) * g * g
        m_hat = m / (1.0 - self.beta1 ** t)
        v_hat = v / (1.0 - self.beta2 ** t)
        return p - self.lr * m_hat / (F.sqrt(v_hat) + self.eps), {"m": m, "v": v}


class TrainingStep:
    """The fused step of ``training_step`` (see the module docstring)."""

    def __init__(self, loss: Callable, optimizer: SGD | Adam, backend: str):
        if not isinstance(optimizer, (SGD, Adam)):
            raise InputError(f"gg.optim.training_step: optimizer must be gg.optim.SGD(...) or gg.optim.Adam(...), "
                             f"got {optimizer!r}")
        self.loss, self.optimizer, self.backend = loss, optimizer, backend
        parameters = list(inspect.signature(loss).parameters)
        if not parameters:
            raise InputError("gg.optim.training_step: the loss takes (params, *batch)")
        self.batch_names = parameters[1:]
        self._kernels: dict[tuple, tuple[Kernel, list[str]]] = {}

    def init(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """The optimizer's state for ``params``: zeros for each slot of each parameter, and the step count."""
        self._check(params)
        return {"t": 0, **{f"{slot}.{name}": np.zeros_like(np.asarray(value, dtype=float))
                           for name, value in params.items() for slot in self.optimizer.slots}}

    def _check(self, params: Any) -> None:
        if not isinstance(params, Mapping) or not params or not all(isinstance(k, str) for k in params):
            raise InputError("gg.optim: params must be a non-empty dict of arrays by name, e.g. {'W': W, 'b': b}")

    def _kernel(self, params: Mapping[str, Any], batch: tuple) -> tuple[Kernel, list[str]]:
        names = sorted(params)
        key = (tuple((n, np.shape(params[n])) for n in names), tuple((np.shape(b), np.asarray(b).dtype.name)
                                                                    for b in batch))
        found = self._kernels.get(key)
        if found is not None:
            return found
        slots = [f"{slot}.{n}" for n in names for slot in self.optimizer.slots]
        flat_names = [f"p_{k}" for k in range(len(names))] + [f"s_{k}" for k in range(len(slots))] + ["t"] + \
            [f"batch_{k}" for k in range(len(batch))]
        optimizer, loss, count = self.optimizer, self.loss, len(names)

        def step(*values: Any) -> tuple[Any, ...]:
            leaves, state_leaves = values[:count], values[count:count + len(slots)]
            t, data = values[count + len(slots)], values[count + len(slots) + 1:]
            state = dict(zip(slots, state_leaves))

            def of_leaves(*args: Any) -> Any:
                return loss(dict(zip(names, args[:count])), *args[count:])

            of_leaves.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
                [inspect.Parameter(n, inspect.Parameter.POSITIONAL_OR_KEYWORD) for n in names + self.batch_names])
            value, grads = gradient_at(of_leaves, names + self.batch_names, [*leaves, *data], names,
                                       what="gg.optim")
            new_params, new_state = [], []
            for name, p, g in zip(names, leaves, grads):
                moved, slots_of = optimizer.update(p, g, {s: state[f"{s}.{name}"] for s in optimizer.slots}, t)
                new_params.append(F.name(moved, f"new_{name}"))
                new_state += [slots_of[s] for s in optimizer.slots]
            return (value, *new_params, *new_state)

        step.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
            [inspect.Parameter(n, inspect.Parameter.POSITIONAL_OR_KEYWORD) for n in flat_names])
        step.__name__ = step.__qualname__ = f"{getattr(loss, '__name__', 'loss')}_step"
        specs = {f"p_{k}": spec_of(np.asarray(params[n], dtype=float), n) for k, n in enumerate(names)}
        specs.update({f"s_{k}": specs[f"p_{k // len(optimizer.slots)}"] for k in range(len(slots))})
        specs["t"] = spec_of(1.0, "t")
        specs.update({f"batch_{k}": spec_of(b, f"batch_{k}") for k, b in enumerate(batch)})
        kernel = compile_kernel(step, backend=self.backend, specs=specs)
        self._kernels[key] = (kernel, names)
        return kernel, names

    def __call__(self, params: Mapping[str, Any], state: Mapping[str, Any], *batch: Any
                 ) -> tuple[dict[str, Any], dict[str, Any], float]:
        self._check(params)
        if len(batch) != len(self.batch_names):
            raise InputError(f"gg.optim step: the loss takes {len(self.batch_names)} batch argument(s) "
                             f"({', '.join(self.batch_names)}), given {len(batch)}")
        kernel, names = self._kernel(params, batch)
        slots = [f"{slot}.{n}" for n in names for slot in self.optimizer.slots]
        missing = [s for s in ["t", *slots] if s not in state]
        if missing:
            raise InputError(f"gg.optim step: the state lacks {missing}; make it with step.init(params)")
        t = state["t"] + 1
        out = kernel(*[params[n] for n in names], *[state[s] for s in slots], float(t), *batch)
        value, new = out[0], out[1:]
        new_params = dict(zip(names, new[:len(names)]))
        new_state = {"t": t, **dict(zip(slots, new[len(names):]))}
        return new_params, new_state, float(value)

    @property
    def source(self) -> str:
        """The fused kernel's generated source (after the first step)."""
        if not self._kernels:
            raise InputError("gg.optim step: take a step first; the kernel compiles for the shapes it meets")
        return next(iter(self._kernels.values()))[0].source


def training_step(loss: Callable, optimizer: SGD | Adam, backend: str = "auto") -> TrainingStep:
    """One kernel computing ``loss(params, *batch)``, its gradient and ``optimizer``'s update (see the
    module docstring)."""
    return TrainingStep(loss, optimizer, backend)
