"""trace(): run a Python function on symbolic inputs and record the graph it builds."""

from __future__ import annotations

import functools
import inspect
import sys
from collections.abc import Collection, Mapping
from types import FrameType
from typing import Any, Callable

from gradgen.dsl.specs import Array
from gradgen.dsl.trees import build, spec_tree
from gradgen.dsl.value import Value
from gradgen.errors import GraphError, InputError
from gradgen.ir.builder import GraphBuilder
from gradgen.ir.graph import Graph
from gradgen.ops.core import constant


def unwrapped(fn: Callable) -> Callable:
    """The function a ``functools.partial`` (however nested) calls; ``fn`` itself otherwise."""
    while isinstance(fn, functools.partial):
        fn = fn.func
    return fn


def function_name(fn: Callable) -> str:
    """``fn``'s name, a partial's function's for a partial."""
    return getattr(unwrapped(fn), "__name__", "fn")


def _parameters(fn: Callable) -> list[inspect.Parameter]:
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        raise InputError(f"cannot read the parameters of {fn!r}; pass a plain Python function") from None
    for p in params:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            raise InputError(f"{function_name(fn)}: *args and **kwargs cannot be traced; name every input")
    return params


def parameter_names(fn: Callable, given: Collection[str] = ()) -> list[str]:
    """The names of ``fn``'s parameters that become the graph's inputs: those without a default, and those
    with one that are ``given`` a spec (the others are constants, their defaults, folded at trace time)."""
    return [p.name for p in _parameters(fn) if p.default is p.empty or p.name in given]


def folded_parameters(fn: Callable, given: Collection[str] = ()) -> list[str]:
    """The parameters of ``fn`` that keep their Python defaults as constants (no spec ``given``)."""
    return [p.name for p in _parameters(fn) if p.default is not p.empty and p.name not in given]


def _call(fn: Callable, values: dict[str, Any]) -> Any:
    """``fn`` called with ``values`` for its inputs and its defaults for the rest; keyword-only parameters
    by keyword."""
    params = _parameters(fn)
    chosen = {p.name: values[p.name] if p.name in values else p.default for p in params}
    return fn(*[chosen[p.name] for p in params if p.kind is not p.KEYWORD_ONLY],
              **{p.name: chosen[p.name] for p in params if p.kind is p.KEYWORD_ONLY})


def resolve_specs(fn: Callable, specs: Mapping[str, Any] | None, spec_kwargs: Mapping[str, Any]) -> dict[str, Array]:
    """Merge ``specs`` and keyword specs into one spec per input (scalar by default), or a structure of
    specs for a structured parameter (``dsl/trees.py``); a parameter with a default and no spec is no
    input (see ``parameter_names``)."""
    given = dict(specs or {})
    for key, value in spec_kwargs.items():
        if key in given:
            raise InputError(f"spec for {key!r} given twice (in specs= and as a keyword)")
        given[key] = value
    every = [p.name for p in _parameters(fn)]
    unknown = [k for k in given if k not in every]
    if unknown:
        raise InputError(f"spec for unknown argument(s) {unknown}; {function_name(fn)} takes {every}")
    return {n: spec_tree(given[n], n) if n in given else Array(()) for n in parameter_names(fn, given)}


class TracingBuilder(GraphBuilder):
    """A builder that, on the first node the traced function adds, finds that
    function's frame on the stack, so its local variable names can be read
    once it returns (a finished frame keeps its locals). A loop's body is
    traced by one with a ``parent`` (see GraphBuilder)."""

    def __init__(self, code: Any, parent: GraphBuilder | None = None, *, open: bool = False):
        super().__init__(parent=parent, open=open)
        self._code = code
        self.frame: FrameType | None = None

    def add(self, *args: Any, **kwargs: Any) -> int:
        if self._code is not None and self.frame is None:
            frame = sys._getframe(1)
            while frame is not None and frame.f_code is not self._code:
                frame = frame.f_back
            if frame is not None:
                self.frame = frame
                self._code = None
        return super().add(*args, **kwargs)

    def local_names(self) -> dict[int, str]:
        """Node id -> local variable name, for the Values left in the traced frame."""
        if self.frame is None:
            return {}
        found: dict[int, str] = {}
        for local, value in self.frame.f_locals.items():
            if isinstance(value, Value) and value.builder is self and not local.startswith("_"):
                found.setdefault(value.id, local)
        self.frame = None
        return found


def trace(fn: Callable, specs: Mapping[str, Any] | None = None, **spec_kwargs: Any) -> Graph:
    """Trace ``fn`` with symbolic inputs into a Graph.

    ``specs={"x": gg.Array((3,))}`` (or ``x=gg.Array((3,))``) gives an
    argument's shape and dtype; an argument without a spec is a float64
    scalar; an argument with a Python default and no spec is no input: its
    default is a constant of the graph. Intermediate nodes are named after the
    local variables they were bound to when ``fn`` returned; ``gg.name(v,
    "c")`` names one explicitly. The function may return one value or a tuple
    of values; a ``functools.partial`` traces as the function it calls.
    """
    if isinstance(fn, Graph):
        return fn
    return _trace(fn, resolve_specs(fn, specs, spec_kwargs), has_aux=False)[0]


def trace_with_aux(fn: Callable, specs: Mapping[str, Any] | None = None) -> tuple[Graph, Any]:
    """Trace ``fn`` returning ``(loss, aux)``: the graph's outputs are the loss, then the leaves of ``aux``
    (a value, or tuples, lists and dicts of them, nested); also the template of ``aux``: its structure
    with each leaf replaced by the leaf's index (see ``render_aux``)."""
    return _trace(fn, resolve_specs(fn, specs, {}), has_aux=True)


def _aux_template(aux: Any, leaves: list[Any]) -> Any:
    """``aux`` with each leaf (appended to ``leaves``) replaced by its index."""
    if isinstance(aux, dict):
        for key in aux:
            if not isinstance(key, (str, int)) or isinstance(key, bool):
                raise GraphError(f"has_aux: the keys of an aux dict must be strings or ints, got {key!r}")
        return {key: _aux_template(value, leaves) for key, value in aux.items()}
    if type(aux) in (tuple, list):
        return type(aux)(_aux_template(value, leaves) for value in aux)
    leaves.append(aux)
    return len(leaves) - 1


def _trace(fn: Callable, resolved: dict[str, Array], has_aux: bool) -> tuple[Graph, Any]:
    builder = TracingBuilder(getattr(unwrapped(fn), "__code__", None))
    def leaf(path: str, spec: Array) -> Value:
        return Value(builder, builder.input(path, spec.shape, spec.dtype))

    inputs = {name: build(spec, name, leaf) for name, spec in resolved.items()}
    result = _call(fn, inputs)
    for node_id, local in builder.local_names().items():
        if builder.nodes[node_id].op != "input":
            builder.set_name(node_id, local)
    template = None
    if has_aux:
        if not isinstance(result, tuple) or len(result) != 2:
            raise GraphError(f"{function_name(fn)}: with has_aux=True the function returns (loss, aux), got "
                             f"{type(result).__name__}" + (f" of {len(result)}" if isinstance(result, tuple) else ""))
        leaves: list[Any] = []
        template = _aux_template(result[1], leaves)
        result = (result[0], *leaves)
    results = result if isinstance(result, tuple) else (result,)
    if not results:
        raise GraphError(f"{function_name(fn)} returned an empty tuple; return a value")
    outputs = []
    for r in results:
        if isinstance(r, Value) and r.builder is not builder:
            raise GraphError("the function returned a value from another trace")
        if isinstance(r, (list, tuple)) and any(isinstance(v, Value) for v in r):
            raise GraphError(f"{function_name(fn)} returned a {type(r).__name__} holding gradgen values; "
                             "return one value or a flat tuple of values (gg.stack joins values into one array)")
        try:
            outputs.append(constant(builder, r).id)
        except InputError:
            raise GraphError(f"{function_name(fn)} returned {r!r}; return a gradgen value or a "
                             "number") from None
    output_names = _output_names(builder, outputs, aux=has_aux)
    return builder.finish(tuple(outputs), tuple(output_names)), template


def _output_names(builder: GraphBuilder, outputs: list[int], aux: bool = False) -> list[str]:
    names = []
    for k, node_id in enumerate(outputs):
        node = builder.nodes[node_id]
        given = builder.names.get(node_id)
        unnamed = ("J" if k == 0 else f"aux{k - 1}") if aux else ("J" if len(outputs) == 1 else f"out{k}")
        name = given if node.op != "input" and given else unnamed
        if node.op != "input" and given is None:
            builder.set_name(node_id, name)
        names.append(name)
    return names
