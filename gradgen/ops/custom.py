"""``gg.custom_op``: a differentiable function with derivative rules the user writes, as one op.

The function itself is written in the DSL (it computes the value, also on plain arrays); its
vector-Jacobian product and its Jacobian-vector product are written in the DSL too, with the signatures
of the registry's own rules (``vjp(g, out, *inputs) -> one cotangent per input``, ``jvp(tangents, out,
*inputs) -> the output's tangent``, None standing for zero). Calling it in a traced function adds one
node of its own op, so reverse mode uses ``vjp`` and forward mode (``gg.jvp``, ``gg.hvp``, Jacobians,
Hessians) uses ``jvp``; before code is generated the node is replaced by the function's own graph
(``passes/expand.py``), so both backends compile it like any other code.

    def log1pexp(x):
        return gg.log1p(gg.exp(x))

    softplus = gg.custom_op(log1pexp,
                            vjp=lambda g, out, x: (g * gg.sigmoid(x),),
                            jvp=lambda t, out, x: t[0] * gg.sigmoid(x))
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from gradgen.dsl.specs import Array
from gradgen.dsl.trace import function_name, trace
from gradgen.dsl.value import Value
from gradgen.errors import GraphError, InputError
from gradgen.ir.graph import Graph, Node
from gradgen.ops.core import apply, builder_of, constant
from gradgen.ops.registry import OPS, Op, define
from gradgen.passes.pipeline import prepare

#: Each custom op by its op name, for the pass that expands its nodes.
CUSTOM: dict[str, CustomOp] = {}


class CustomOp:
    """A function with its own derivative rules; call it like the function (see the module docstring)."""

    def __init__(self, fn: Callable, vjp: Callable | None, jvp: Callable | None, name: str | None):
        if not callable(fn) or (vjp is not None and not callable(vjp)) or (jvp is not None and not callable(jvp)):
            raise InputError("gg.custom_op(fn, vjp=..., jvp=...): fn and the rules must be functions")
        if vjp is None and jvp is None:
            raise InputError("gg.custom_op: give vjp= (reverse mode), jvp= (forward mode) or both")
        self.fn = fn
        self.parameters = [p.name for p in inspect.signature(fn).parameters.values()]
        self._graphs: dict[tuple[tuple[tuple[int, ...], str], ...], Graph] = {}
        if name is not None and (not isinstance(name, str) or not name.isidentifier()):
            raise InputError(f"gg.custom_op: name must be an identifier, got {name!r}")
        label = name or (function_name(fn) if function_name(fn).isidentifier() else "fn")
        self.label = label
        unique, k = f"custom_{label}", 2
        while unique in OPS:
            unique, k = f"custom_{label}_{k}", k + 1
        self.op = unique
        CUSTOM[unique] = self
        define(Op(unique, self._infer, self._evaluate, self._checked_vjp(vjp) if vjp else None, None, None,
                  jvp=jvp, kind="structural", custom=True,
                  doc=f"{label}, with the derivative rules given to gg.custom_op."))

    def graph(self, inputs: Sequence[Node | Value]) -> Graph:
        """The function's prepared graph for inputs of these shapes and dtypes (traced once per signature)."""
        key = tuple((tuple(x.shape), x.node.dtype if isinstance(x, Value) else x.dtype) for x in inputs)
        found = self._graphs.get(key)
        if found is None:
            specs = {name: Array(shape, dtype) for name, (shape, dtype) in zip(self.parameters, key)}
            found = prepare(trace(self.fn, specs), gradient=False)
            if len(found.outputs) != 1:
                raise GraphError(f"gg.custom_op {self.op}: the function must return one value")
            out = found.nodes[found.outputs[0]]
            if out.op != "input" and out.name == found.output_names[0]:  # the trace's name for a result
                nodes = list(found.nodes)
                nodes[out.id] = out._replace(name=self.label)
                found = dataclasses.replace(found, nodes=tuple(nodes), output_names=(self.label,))
            self._graphs[key] = found
        return found

    def _infer(self, inputs: Sequence[Node], attrs: dict) -> tuple[tuple[int, ...], str]:
        out = self.graph(inputs)
        node = out.nodes[out.outputs[0]]
        return node.shape, node.dtype

    def _evaluate(self, *arrays: np.ndarray) -> Any:
        return self.fn(*arrays)

    def _checked_vjp(self, vjp: Callable) -> Callable:
        def checked(g: Any, out: Any, *inputs: Any) -> tuple[Any, ...]:
            parts = vjp(g, out, *inputs)
            parts = tuple(parts) if isinstance(parts, (tuple, list)) else (parts,)
            if len(parts) != len(inputs):
                raise GraphError(f"gg.custom_op {self.op}: vjp returned {len(parts)} cotangents for "
                                 f"{len(inputs)} inputs; return one per input (None for no gradient)")
            for name, x, part in zip(self.parameters, inputs, parts):
                if part is not None and np.shape(part) != x.shape:
                    raise GraphError(f"gg.custom_op {self.op}: vjp returned shape {np.shape(part)} for input "
                                     f"{name!r} of shape {x.shape}; a cotangent has its input's shape")
            return parts
        return checked

    def __call__(self, *args: Any) -> Any:
        if len(args) != len(self.parameters):
            raise InputError(f"{self.op}: expected {len(self.parameters)} arguments ({', '.join(self.parameters)}), "
                             f"got {len(args)}")
        builder = builder_of(args)
        if builder is None:
            return self.fn(*args)
        return apply(self.op, *[constant(builder, a) for a in args])

    def __repr__(self) -> str:
        return f"<gradgen custom op {self.op}>"


def custom_op(fn: Callable, *, vjp: Callable | None = None, jvp: Callable | None = None,
              name: str | None = None) -> CustomOp:
    """``fn`` with the derivative rules ``vjp`` (reverse mode) and ``jvp`` (forward mode), written with
    gradgen's DSL, as one op of its own (see the module docstring)."""
    return CustomOp(fn, vjp, jvp, name)
