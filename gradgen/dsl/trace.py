"""trace(): run a Python function on symbolic inputs and record the graph it builds."""

from __future__ import annotations

import inspect
import sys
from collections.abc import Mapping
from types import FrameType
from typing import Any, Callable

from gradgen.dsl.specs import Array, as_spec
from gradgen.dsl.value import Value
from gradgen.errors import GraphError, InputError
from gradgen.ir.builder import GraphBuilder
from gradgen.ir.graph import Graph
from gradgen.ops.core import constant


def parameter_names(fn: Callable) -> list[str]:
    """The names of ``fn``'s parameters, which become the graph's input names."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        raise InputError(f"cannot read the parameters of {fn!r}; pass a plain Python function") from None
    names = []
    for p in params:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            raise InputError(f"{fn.__name__}: *args and **kwargs cannot be traced; name every input")
        names.append(p.name)
    return names


def _call(fn: Callable, names: list[str], args: list[Value]) -> Any:
    """``fn`` called with one value per parameter, keyword-only parameters by keyword."""
    keyword_only = {p.name for p in inspect.signature(fn).parameters.values() if p.kind is p.KEYWORD_ONLY}
    return fn(*[a for n, a in zip(names, args) if n not in keyword_only],
              **{n: a for n, a in zip(names, args) if n in keyword_only})


def resolve_specs(fn: Callable, specs: Mapping[str, Any] | None, spec_kwargs: Mapping[str, Any]) -> dict[str, Array]:
    """Merge ``specs`` and keyword specs into one spec per parameter (scalar by default)."""
    names = parameter_names(fn)
    given = dict(specs or {})
    for key, value in spec_kwargs.items():
        if key in given:
            raise InputError(f"spec for {key!r} given twice (in specs= and as a keyword)")
        given[key] = value
    unknown = [k for k in given if k not in names]
    if unknown:
        raise InputError(f"spec for unknown argument(s) {unknown}; {getattr(fn, '__name__', 'fn')} "
                         f"takes {names}")
    return {n: as_spec(given[n], n) if n in given else Array(()) for n in names}


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
    scalar. Intermediate nodes are named after the local variables they were
    bound to when ``fn`` returned; ``gg.name(v, "c")`` names one explicitly.
    The function may return one value or a tuple of values.
    """
    if isinstance(fn, Graph):
        return fn
    resolved = resolve_specs(fn, specs, spec_kwargs)
    builder = TracingBuilder(getattr(fn, "__code__", None))
    args = []
    for name, spec in resolved.items():
        args.append(Value(builder, builder.input(name, spec.shape, spec.dtype)))
    result = _call(fn, list(resolved), args)
    for node_id, local in builder.local_names().items():
        if builder.nodes[node_id].op != "input":
            builder.set_name(node_id, local)
    results = result if isinstance(result, tuple) else (result,)
    if not results:
        raise GraphError(f"{getattr(fn, '__name__', 'fn')} returned an empty tuple; return a value")
    outputs = []
    for r in results:
        if isinstance(r, Value) and r.builder is not builder:
            raise GraphError("the function returned a value from another trace")
        if isinstance(r, (list, tuple)) and any(isinstance(v, Value) for v in r):
            raise GraphError(f"{getattr(fn, '__name__', 'fn')} returned a {type(r).__name__} holding gradgen values; "
                             "return one value or a flat tuple of values (gg.stack joins values into one array)")
        try:
            outputs.append(constant(builder, r).id)
        except InputError:
            raise GraphError(f"{getattr(fn, '__name__', 'fn')} returned {r!r}; return a gradgen value or a "
                             "number") from None
    output_names = _output_names(builder, outputs)
    return builder.finish(tuple(outputs), tuple(output_names))


def _output_names(builder: GraphBuilder, outputs: list[int]) -> list[str]:
    names = []
    for k, node_id in enumerate(outputs):
        node = builder.nodes[node_id]
        given = builder.names.get(node_id)
        name = given if node.op != "input" and given else ("J" if len(outputs) == 1 else f"out{k}")
        if node.op != "input" and given is None:
            builder.set_name(node_id, name)
        names.append(name)
    return names
