"""Derivative kernels beyond the gradient: ``gg.jvp``, ``gg.vjp``, ``gg.jacobian``, ``gg.hessian``, ``gg.hvp``.

Each is a compiled kernel like ``value_and_grad``: the same ``wrt``, ``backend`` and specs (or none, and
each new signature of arguments compiles once), its ``source``, ``graph``, ``program`` and ``unchecked``,
on both backends. Inside, one ``Kernel`` per signature compiles a function made for it: the user's
arguments, then the directions it takes (a tangent ``x_dot`` per differentiated input, or the
``cotangent``), its body the derivative built in the trace (``dsl/transforms.py``).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from gradgen.dsl.specs import Array
from gradgen.dsl.trace import folded_parameters, function_name, parameter_names, resolve_specs, trace
from gradgen.dsl.transforms import hessian_at, hvp_at, jacobian_at, jvp_at, vjp_at
from gradgen.dsl.value import Value
from gradgen.errors import GradgenError, InputError
from gradgen.ir.graph import FLOAT_DTYPES, Graph
from gradgen.runtime import args as checks
from gradgen.runtime.kernel import Kernel

KINDS = ("jvp", "vjp", "jacobian", "hessian", "hvp")
JACOBIAN_MODES = ("auto", "forward", "reverse")


def _fresh(name: str, taken: set[str]) -> str:
    unique, k = name, 2
    while unique in taken:
        unique, k = f"{name}_{k}", k + 1
    taken.add(unique)
    return unique


def _made(name: str, parameters: Sequence[str], body: Callable[..., Any]) -> Callable[..., Any]:
    """A function of ``parameters`` (by position) calling ``body``, named ``name``, to trace."""
    def made(*values: Any) -> Any:
        return body(*values)

    made.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter(p, inspect.Parameter.POSITIONAL_OR_KEYWORD) for p in parameters])
    made.__name__ = made.__qualname__ = name
    return made


#: A compiled signature: its kernel, the inputs it differentiates, its specs.
Entry = tuple[Kernel, list[str], tuple[Array, ...]]


def _read_from_compiled(name: str) -> property:
    """A property reading ``name`` of the first compiled signature's kernel (compiling one if none is)."""
    return property(lambda self: getattr(self._compiled(), name),
                    doc=f"``{name}`` of the kernel of the first signature (see ``Kernel.{name}``).")


def _named(value: Any, label: str) -> Any:
    """``value`` named ``label`` in the generated code, unless it is an input (or a number)."""
    if isinstance(value, Value) and value.node.op != "input":
        value.builder.set_name(value.id, label, explicit=True)
    return value


class DerivativeKernel:
    """A compiled derivative of a function (see the module docstring); call it with the function's
    arguments, plus ``tangents={name: direction}`` (jvp, hvp; missing names are zero) or ``cotangent=``
    (vjp)."""

    def __init__(self, kind: str, fn: Callable, *, wrt: str | Sequence[str] | None, backend: str,
                 specs: Mapping[str, Any] | None, spec_kwargs: Mapping[str, Any], mode: str = "auto",
                 with_gradient: bool = True):
        if isinstance(fn, Graph) or not callable(fn):
            raise InputError(f"gg.{kind} takes a Python function, got {type(fn).__name__}")
        if mode not in JACOBIAN_MODES:
            raise InputError(f"gg.jacobian: mode must be one of {JACOBIAN_MODES}, got {mode!r}")
        if not isinstance(with_gradient, bool):
            raise InputError(f"gg.{kind}: with_gradient must be True or False, got {with_gradient!r}")
        self.kind = kind
        self._with_gradient = with_gradient
        self._fn = fn
        self._name = function_name(fn)
        self._single = isinstance(wrt, str)  # a Hessian for one name is one array
        self._wrt_request = [wrt] if isinstance(wrt, str) else None if wrt is None else checks.names_in(wrt, "wrt")
        self._backend = backend
        self._mode = mode
        given = {*(specs or {}), *spec_kwargs}
        self.names = parameter_names(fn, given)
        self._folded = folded_parameters(fn, given)
        self._kernels: dict[tuple[Array, ...], Entry] = {}  # specs -> (kernel, wrt, specs)
        self._first: Entry | None = None
        self._jit = not (specs or spec_kwargs)  # with specs, their one signature takes (and checks) every call
        if specs or spec_kwargs:
            resolved = resolve_specs(fn, specs, spec_kwargs)
            structured = [n for n, spec in resolved.items() if not isinstance(spec, Array)]
            if structured:
                raise InputError(f"gg.{kind}: structured arguments ({', '.join(structured)}) are not supported yet; "
                                 "pass their arrays as separate arguments")
            self._compile(tuple(resolved[n] for n in self.names))

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled as its settings and inner kernels (each as its traced graphs), never machine code."""
        from gradgen.runtime.travel import derivative_state, unpickled_derivative

        return unpickled_derivative, (derivative_state(self),)

    # --- building ----------------------------------------------------------------------------------------
    def _wrt(self, specs: Sequence[Array]) -> list[str]:
        by_name = dict(zip(self.names, specs))
        if self._wrt_request is None:
            return [n for n in self.names if by_name[n].dtype in FLOAT_DTYPES]
        for n in self._wrt_request:
            if n not in by_name:
                raise InputError(f"wrt: {n!r} is not an input; inputs are {self.names}")
            if by_name[n].dtype not in FLOAT_DTYPES:
                raise InputError(f"wrt: {n!r} is an {by_name[n].dtype} input and cannot be differentiated")
        if len(set(self._wrt_request)) != len(self._wrt_request):
            raise InputError(f"wrt: repeated names in {self._wrt_request}")
        if not self._wrt_request:
            raise InputError(f"wrt: no input named; name at least one of {self.names}")
        return list(self._wrt_request)

    def _compile(self, specs: tuple[Array, ...]) -> Entry:
        wrt = self._wrt(specs)
        by_name = dict(zip(self.names, specs))
        taken = set(self.names)
        fn, names, kind = self._fn, list(self.names), self.kind
        extra: dict[str, Array] = {}
        if kind in ("jvp", "hvp"):
            extra = {_fresh(f"{w}_dot", taken): by_name[w] for w in wrt}
        elif kind == "vjp":
            graph = trace(fn, by_name)
            out = graph.nodes[graph.outputs[0]]
            extra = {_fresh("cotangent", taken): Array(out.shape, out.dtype)}
        n = len(names)

        def body(*values: Any) -> Any:
            return self._derivative(values[:n], values[n:], wrt)

        made = _made(f"{function_name(fn)}_{kind}", names + list(extra), body)
        kernel = Kernel(made, "forward", wrt=None, backend=self._backend, specs={**by_name, **extra}, spec_kwargs={})
        entry = (kernel, wrt, specs)
        self._kernels[specs] = entry
        if self._first is None:
            self._first = entry
        return entry

    def _derivative(self, primals: Sequence[Any], directions: Sequence[Any], wrt: list[str]) -> tuple[Any, ...]:
        """The derivative's flat results, as values of the trace ``primals`` belong to."""
        fn, names, kind = self._fn, self.names, self.kind
        if kind == "jvp":
            value, tangent = jvp_at(fn, names, primals, dict(zip(wrt, directions)))
            return value, _named(tangent, "tangent")
        if kind == "vjp":
            value, grads = vjp_at(fn, names, primals, wrt, directions[0])
            return (value, *[_named(g, f"vjp_{w}") for g, w in zip(grads, wrt)])
        if kind == "hvp":
            value, grads, products = hvp_at(fn, names, primals, dict(zip(wrt, directions)))
            products = [_named(p, f"Hv_{w}") for p, w in zip(products, wrt)]
            return (value, *grads, *products) if self._with_gradient else (value, *products)
        if kind == "jacobian":
            value, jacobians = jacobian_at(fn, names, primals, wrt, self._mode)
            return (value, *[_named(j, f"jacobian_{w}") for j, w in zip(jacobians, wrt)])
        value, grads, blocks = hessian_at(fn, names, primals, wrt)
        return (value, *grads, *[_named(blocks[i][j], f"d2J_d{a}_d{b}") for i, a in enumerate(wrt)
                                 for j, b in enumerate(wrt)])

    # --- calling -----------------------------------------------------------------------------------------
    def __call__(self, *args: Any, tangents: Mapping[str, Any] | None = None, cotangent: Any = None,
                 **kwargs: Any) -> Any:
        values = checks.bind(self.names, args, kwargs, self._folded)
        if any(isinstance(v, Value) for v in values):  # inside another trace: the derivative taken there
            specs = tuple(Array(v.shape, v.node.dtype) if isinstance(v, Value) else checks.spec_of(v, n)
                          for v, n in zip(values, self.names))
            wrt = self._wrt(specs)
            return self._shaped(self._derivative(values, self._directions(wrt, specs, tangents, cotangent), wrt),
                                wrt)
        if not self._jit and self._first is not None:  # the inner kernel checks and converts, as value_and_grad
            kernel, wrt, specs = self._first
            return self._shaped(kernel(*values, *self._directions(wrt, specs, tangents, cotangent)), wrt)
        request = self._wrt_request or ()
        specs = tuple(checks.call_spec(v, n, n in request) for v, n in zip(values, self.names))
        entry = self._kernels.get(specs)
        if entry is None:
            if self._fn is None:
                raise InputError(f"this gg.{self.kind} kernel was unpickled without its function (a lambda, a "
                                 "closure or a script's function does not travel), so it runs the signatures it "
                                 "had and cannot trace a new one; define the function in an importable module")
            entry = self._compile(specs)
        kernel, wrt, specs = entry
        return self._shaped(kernel(*values, *self._directions(wrt, specs, tangents, cotangent)), wrt)

    def _directions(self, wrt: list[str], specs: tuple[Array, ...], tangents: Mapping[str, Any] | None,
                    cotangent: Any) -> list[Any]:
        if self.kind in ("jvp", "hvp"):
            if cotangent is not None:
                raise InputError(f"a gg.{self.kind} kernel takes tangents=, not cotangent=")
            if tangents is not None and not isinstance(tangents, Mapping):
                raise InputError(f"tangents: expected a dict of directions by input name (e.g. tangents={{"
                                 f"{wrt[0]!r}: v}}), got a {type(tangents).__name__}")
            tangents = dict(tangents or {})
            unknown = [k for k in tangents if k not in wrt]
            if unknown:
                raise InputError(f"tangents: {unknown} are not differentiated inputs; they are {wrt} (wrt)")
            by_name = dict(zip(self.names, specs))
            return [tangents[w] if w in tangents else np.zeros(by_name[w].shape, by_name[w].dtype) for w in wrt]
        if tangents is not None:
            raise InputError(f"a gg.{self.kind} kernel takes no tangents=" +
                             (" (it takes cotangent=)" if self.kind == "vjp" else ""))
        if self.kind == "vjp":
            if cotangent is None:
                raise InputError("a gg.vjp kernel needs cotangent=: an array of the function's output shape")
            return [cotangent]
        if cotangent is not None:
            raise InputError(f"a gg.{self.kind} kernel takes no cotangent=")
        return []

    def _shaped(self, result: Any, wrt: list[str]) -> Any:
        """The inner kernel's flat outputs in the kind's form (see ``gg.jvp`` and the others)."""
        if self.kind == "jvp":
            return result
        k = len(wrt)
        if self.kind in ("vjp", "jacobian"):
            return result[0], dict(zip(wrt, result[1:]))
        if self.kind == "hvp" and not self._with_gradient:
            return result[0], dict(zip(wrt, result[1:]))
        grads = dict(zip(wrt, result[1:1 + k]))
        if self.kind == "hvp":
            return result[0], grads, dict(zip(wrt, result[1 + k:]))
        blocks = result[1 + k:]
        if self._single:
            return result[0], grads, blocks[0]
        return result[0], grads, {a: {b: blocks[i * k + j] for j, b in enumerate(wrt)} for i, a in enumerate(wrt)}

    # --- reading -----------------------------------------------------------------------------------------
    def _compiled(self) -> Kernel:
        if self._first is None:
            try:
                self._compile(tuple(Array(()) for _ in self.names))
            except GradgenError as error:
                raise GradgenError(f"this kernel has not been compiled yet and does not trace with scalar "
                                   f"arguments ({error}); call it once, or give specs") from None
        assert self._first is not None
        return self._first[0]

    def unchecked(self, *args: Any) -> Any:
        """The first signature's kernel without checks: the function's arguments, then the directions
        (each tangent of ``wrt``, in order, or the cotangent) positionally; returns what a call returns."""
        kernel = self._compiled()
        assert self._first is not None
        return self._shaped(kernel.unchecked(*args), self._first[1])

    backend = _read_from_compiled("backend")
    source = _read_from_compiled("source")
    graph = _read_from_compiled("graph")
    c_graph = _read_from_compiled("c_graph")
    program = _read_from_compiled("program")
    specs = _read_from_compiled("specs")

    def __repr__(self) -> str:
        state = f"backend={self.backend}, {len(self._kernels)} signature(s)" if self._first else "not compiled yet"
        return f"<gradgen.Kernel {self.kind} of {self._name} ({state})>"


def _kernel(kind: str, fn: Callable, wrt: Any, backend: str, specs: Mapping[str, Any] | None,
            spec_kwargs: Mapping[str, Any], mode: str = "auto", with_gradient: bool = True) -> DerivativeKernel:
    return DerivativeKernel(kind, fn, wrt=wrt, backend=backend, specs=specs, spec_kwargs=spec_kwargs, mode=mode,
                            with_gradient=with_gradient)


def jvp(fn: Callable, wrt: str | Sequence[str] | None = None, backend: str = "auto",
        specs: Mapping[str, Any] | None = None, **spec_kwargs: Any) -> DerivativeKernel:
    """Compile the Jacobian-vector product of ``fn`` (forward mode): the kernel takes ``fn``'s arguments and
    ``tangents={name: direction}`` (inputs of ``wrt``, default every float input; missing ones are zero) and
    returns ``(value, tangent)``, the directional derivative of the output, of the output's shape."""
    return _kernel("jvp", fn, wrt, backend, specs, spec_kwargs)


def vjp(fn: Callable, wrt: str | Sequence[str] | None = None, backend: str = "auto",
        specs: Mapping[str, Any] | None = None, **spec_kwargs: Any) -> DerivativeKernel:
    """Compile the vector-Jacobian product of ``fn`` (reverse mode): the kernel takes ``fn``'s arguments and
    ``cotangent=`` (of the output's shape) and returns ``(value, {name: cotangent . d out / d name})``."""
    return _kernel("vjp", fn, wrt, backend, specs, spec_kwargs)


def jacobian(fn: Callable, wrt: str | Sequence[str] | None = None, mode: str = "auto", backend: str = "auto",
             specs: Mapping[str, Any] | None = None, **spec_kwargs: Any) -> DerivativeKernel:
    """Compile the Jacobian of ``fn``: ``(value, {name: J})``, ``J.shape == out.shape + input.shape``.
    ``mode="forward"`` pushes one tangent per input entry, ``"reverse"`` pulls one cotangent per output
    entry, each as one loop over directions; ``"auto"`` takes forward when the inputs are no bigger."""
    return _kernel("jacobian", fn, wrt, backend, specs, spec_kwargs, mode)


def hessian(fn: Callable, wrt: str | Sequence[str] | None = None, backend: str = "auto",
            specs: Mapping[str, Any] | None = None, **spec_kwargs: Any) -> DerivativeKernel:
    """Compile the Hessian of a scalar ``fn``: ``(value, grads, H)``, ``H[a][b]`` of shape
    ``a.shape + b.shape`` (one array when ``wrt`` is one name): forward-over-reverse products along each
    basis vector, one loop after one gradient."""
    return _kernel("hessian", fn, wrt, backend, specs, spec_kwargs)


def hvp(fn: Callable, wrt: str | Sequence[str] | None = None, backend: str = "auto",
        specs: Mapping[str, Any] | None = None, with_gradient: bool = True, **spec_kwargs: Any) -> DerivativeKernel:
    """Compile the Hessian-vector product of a scalar ``fn`` (forward over reverse, never forming H): the
    kernel takes ``fn``'s arguments and ``tangents={name: v}`` and returns ``(value, grads, {name: (H v)})``;
    ``with_gradient=False`` returns ``(value, {name: (H v)})`` and skips the work only the gradient needs
    (a Newton-CG solve asks for many products at one point, whose gradient it has)."""
    return _kernel("hvp", fn, wrt, backend, specs, spec_kwargs, with_gradient=with_gradient)
