"""Kernel: a compiled function with argument checks, per-shape variants and its source.

A Kernel keeps one Variant per signature (the shapes and dtypes of its
arguments). Each variant's checked entry is generated Python that inlines
the cheap checks and calls the kernel function, so a well-typed call costs
little more than the kernel itself.
"""

from __future__ import annotations

import copyreg
import os
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from gradgen import stages
from gradgen.build import build_module, find_compiler, require_compiler
from gradgen.build.blas import find_blas, has_libmvec
from gradgen.codegen.cabi import packed_entry
from gradgen.codegen.pyhelpers import ARRAY, SCALAR_FAST
from gradgen.codegen.python import PythonKernelSource, is_scalar_graph
from gradgen.dsl import trees
from gradgen.dsl.specs import Array
from gradgen.dsl.trace import folded_parameters, function_name, parameter_names, resolve_specs
from gradgen.dsl.transforms import gradient_at
from gradgen.dsl.value import Value
from gradgen.errors import CompileError, GradgenError, InputError
from gradgen.ir.graph import FLOAT_DTYPES, Graph
from gradgen.runtime import args as checks
from gradgen.runtime.cglue import glue_body, glue_namespace, glue_source
from gradgen.runtime.gcpause import gc_paused
from gradgen.runtime.pyload import load_source
from gradgen.schedule import Program

BACKENDS = ("auto", "python", "c")


@dataclass
class Variant:
    """One compiled signature of a kernel."""

    specs: tuple[Array, ...]
    graph: Graph
    source: str
    backend: str
    function: Callable[..., Any]
    entry: Callable[..., Any]
    stage: stages.Prepared
    program: Program | None = None

    @property
    def c_graph(self) -> Graph:
        """The graph C is (or would be) printed from: the compiled graph of a C variant; for a Python
        variant the re-rolled prepared graph, made when first asked for."""
        return self.graph if self.backend == "c" else self.stage.for_c


#: All-scalar graphs up to this size run faster as plain Python than through a
#: cffi call (measured: about 0.4 us against 0.7 us for the seed graphs), so
#: backend="auto" keeps them in Python.
SMALL_SCALAR_GRAPH = 64

#: Flags for C kernels: the loop vectorizer at -O2 (gcc 12's -O3 was seen to miscompile an
#: outer-loop reduction for AVX2, so not -O3); -fno-trapping-math lets selects
#: (x >= 0 ? a : b) vectorize and changes no result, since gradgen never enables traps.
VECTORIZING_FLAGS = ("-O2", "-ftree-vectorize", "-fvect-cost-model=dynamic", "-fopenmp-simd", "-fno-trapping-math")

_warned: set[str] = set()


def _warn_once(message: str) -> None:
    if message not in _warned:
        _warned.add(message)
        warnings.warn(message, RuntimeWarning, stacklevel=4)


def _requested_backend(requested: str) -> str:
    """``requested`` with GRADGEN_BACKEND applied to "auto"; validated."""
    if requested not in BACKENDS:
        raise InputError(f"backend must be one of {BACKENDS}, got {requested!r}")
    if requested == "auto":
        override = os.environ.get("GRADGEN_BACKEND", "").strip().lower()
        if override:
            if override not in ("python", "c"):
                raise InputError(f"GRADGEN_BACKEND must be 'python' or 'c', got {override!r}")
            return override
    return requested


def configured_threads() -> int:
    """How many threads one C kernel may use for its long loops: ``GRADGEN_NUM_THREADS``, else
    ``OMP_NUM_THREADS`` (the usual limit of numerical libraries; of a list such as "4,2", the
    first; a value gradgen cannot read is OpenMP's business and ignored), else the CPUs this
    process may run on. Read when a kernel is generated; kernels for different counts are cached apart."""
    text = os.environ.get("GRADGEN_NUM_THREADS", "").strip()
    if text:
        if not text.isdigit() or int(text) < 1:
            raise InputError(f"GRADGEN_NUM_THREADS must be a whole number of threads, 1 or more; got {text!r}")
        return int(text)
    first = os.environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()
    if first.isdigit() and int(first) >= 1:
        return int(first)
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _entry_source(names: Sequence[str], specs: Sequence[Array], jit: bool, c_backend: bool,
                  wrt: frozenset[str] = frozenset(), body: Sequence[str] | None = None) -> str:
    """Source of the checked entry: bind, check cheaply, convert only when needed, call.

    Arguments live in locals a0, a1, ... (the user's names appear only in
    messages), so no parameter name can shadow what the entry itself uses.
    ``wrt`` names the arguments that are differentiated (integer arrays are refused there).

    Two functions: ``entry`` takes the arguments as positional parameters (no tuple to build or
    unpack) and, when they are all given by position and all pass the cheap checks, runs the call
    itself: ``body`` (the C glue's statements, inlined so that a checked call is one Python call, not
    two) or the Python kernel. Anything else (keywords, a missing or extra argument, a value to
    convert or refuse, another signature) goes to ``_checked`` with the arguments as given, which
    binds them, converts what needs converting and raises the errors the checks define (so the fast
    path changes no result and no error, only what a well-typed call costs).
    """
    n = len(names)
    params = ", ".join(f"a{k}" for k in range(n))
    tuple_of = f"({params}{',' if n == 1 else ''})"  # "()" for none
    lines = [
        "def _checked(self, args, kwargs):",
        f"    if kwargs or len(args) != {n}:",
        "        args = _bind(args, kwargs)",
    ]
    if n:
        lines.append(f"    {params}{',' if n == 1 else ''} = args")
    lines.append("    try:")
    fast = ["kwargs", "args"] + ([f"a{n - 1} is _MISSING"] if n else [])
    for k, (name, spec) in enumerate(zip(names, specs)):
        a = f"a{k}"
        contiguous = f" or not {a}.flags.c_contiguous" if c_backend else ""
        if spec.shape == () and spec.dtype == "int64":
            test = f"type({a}) is not int or not {checks.INT64_MIN} <= {a} <= {checks.INT64_MAX}"
            convert = f"_to_scalar({a}, {name!r}, 'int64', {jit})"
        elif spec.shape == ():  # a JIT kernel for float32 scalars takes NumPy float32s; Python floats are float64
            scalar_type = "_float32" if jit and spec.dtype == "float32" else "float"
            test = f"type({a}) is not {scalar_type}"
            convert = f"_to_scalar({a}, {name!r}, {spec.dtype!r}, {jit})"
        else:
            test = (f"type({a}) is not _ndarray or {a}.dtype is not _dtype_{k} "
                    f"or {a}.shape != {spec.shape!r}{contiguous}")
            convert = f"_to_array({a}, {name!r}, _spec_{k}, {jit}, {name in wrt})"
        lines += [f"        if {test}:", f"            {a} = {convert}"]
        fast.append(test)
    if not n:
        lines.append("        pass")
    lines += [
        "    except _OtherSignature:",
        "        return self._call_other_signature(args)",
    ]
    if c_backend:
        call = [f"return kernel({params})"]
    else:
        call = [
            "try:",
            f"    return kernel({params})",
            "except IndexError as error:  # NumPy's, from an index input: the C backend says the same",
            f"    raise _name_index_error(_graph, {tuple_of}, error) from None",
        ]
    lines += ["    " + line for line in call]
    lines += [
        "",
        "",
        f"def entry(self, {''.join(f'a{k}=_MISSING, ' for k in range(n))}/, *args, **kwargs):",
        f"    # a0, a1, ... are {', '.join(map(repr, names))}",
        "    if (" + "\n            or ".join(fast) + "):",
        f"        return _checked(self, _given({tuple_of}, args), kwargs)",
    ]
    lines += ["    " + line for line in (body if body is not None else call)]
    return "\n".join(lines) + "\n"


def _given(values: tuple[Any, ...], extra: tuple[Any, ...]) -> tuple[Any, ...]:
    """The positional arguments of a call of an entry: the parameters given (a prefix; the rest hold
    ``_MISSING``), then the extra ones."""
    return tuple(v for v in values if v is not _MISSING) + extra


_MISSING = object()  # an entry's parameter that the call did not give


class OwnClass(type):
    """The metaclass of the class each kernel gets to itself (see ``Kernel._own_class``): such a class
    pickles as ``Kernel``, so that whatever records a kernel's type (Dask does) can send it."""


def kernel_class() -> type:
    """``Kernel``: what a kernel's own class unpickles as."""
    return Kernel


copyreg.pickle(OwnClass, lambda cls: (kernel_class, ()))


class Kernel:
    """A compiled gradgen function: call it like the original, read its source.

    Returned by ``gg.compile``, ``gg.value_and_grad`` and ``gg.grad``.
    """

    def __init__(self, fn_or_graph: Callable | Graph, mode: str, *, wrt: str | Sequence[str] | None,
                 backend: str, specs: Mapping[str, Any] | None, spec_kwargs: Mapping[str, Any],
                 has_aux: bool = False):
        self.mode = mode
        if not isinstance(has_aux, bool):
            raise InputError(f"has_aux must be True or False, got {has_aux!r}")
        if has_aux and isinstance(fn_or_graph, Graph):
            raise InputError("has_aux=True needs a Python function returning (loss, aux), not a gg.Graph")
        self._has_aux = has_aux
        self._target = fn_or_graph
        self._kernel_names = stages.kernel_names(fn_or_graph, mode)  # the function's name, the kernel's
        self._display_name = "graph" if isinstance(fn_or_graph, Graph) else function_name(fn_or_graph)
        self._traceable = True  # False once unpickled without its function: no new signatures then
        self._wrt = wrt
        self._backend_request = backend
        _requested_backend(backend)  # fail early on a bad name
        self._variants: dict[tuple[Array, ...], Variant] = {}
        self._trees: dict[str, Any] = {}  # structured parameter -> its structure of specs (dsl/trees.py)
        self._params: list[str] = []  # with structured parameters: the function's parameters, as called
        self._first: Variant | None = None
        self._wrt_names = frozenset([wrt] if isinstance(wrt, str) else checks.names_in(wrt, "wrt"))
        if isinstance(fn_or_graph, Graph):
            self.names = list(fn_or_graph.input_names)
            self._folded: tuple[str, ...] = ()
            self._jit = False
            graph_specs = tuple(Array(fn_or_graph.nodes[i].shape, fn_or_graph.nodes[i].dtype)
                                for i in fn_or_graph.inputs)
            self._add_variant(graph_specs)
        elif callable(fn_or_graph):
            given = {*(specs or {}), *spec_kwargs}
            self.names = parameter_names(fn_or_graph, given)
            self._folded = tuple(folded_parameters(fn_or_graph, given))
            self._jit = specs is None and not spec_kwargs
            if not self._jit:
                resolved = resolve_specs(fn_or_graph, specs, spec_kwargs)
                self._add_variant(self._flat_specs(resolved))
        else:
            raise InputError(f"expected a Python function or a gg.Graph, got {type(fn_or_graph).__name__}")
        self._own_class()

    def _own_class(self) -> None:
        """Give the kernel a subclass of its own, so that its generated entry can be its __call__
        (special methods are looked up on the type)."""
        self.__class__ = OwnClass("Kernel", (Kernel,), {"__module__": Kernel.__module__})
        if self._trees:
            type(self).__call__ = Kernel._call_with_structures
        elif self._first is not None:
            type(self).__call__ = self._first.entry

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled as its traced graphs, names and settings, never machine code (``runtime/travel.py``)."""
        from gradgen.runtime.travel import kernel_state, unpickled_kernel

        return unpickled_kernel, (kernel_state(self),)

    @property
    def _target_name(self) -> str:
        return self._display_name

    def _flat_specs(self, resolved: dict[str, Any]) -> tuple[Array, ...]:
        """One spec per graph input; a structured parameter is one input per leaf, named by its path
        (``params.W``), and ``wrt`` naming it differentiates its float leaves."""
        self._trees = {n: spec for n, spec in resolved.items() if not isinstance(spec, Array)}
        if not self._trees:
            return tuple(resolved[n] for n in self.names)
        self._params = list(self.names)
        flat = [leaf for n in self._params for leaf in trees.leaves(resolved[n], n)]
        self.names = [path for path, _ in flat]
        wrt = [self._wrt] if isinstance(self._wrt, str) else self._wrt
        if wrt is not None:
            floats = {path for path, spec in flat if spec.dtype in FLOAT_DTYPES}
            expanded = []
            for n in wrt:
                expanded += [path for path, _ in trees.leaves(resolved[n], n) if path in floats] \
                    if n in self._trees else [n]
            self._wrt = expanded
            self._wrt_names = frozenset(self._wrt)
        return tuple(spec for _, spec in flat)

    def _trace_specs(self, specs: tuple[Array, ...]) -> dict[str, Any]:
        """The specs the function is traced with: ``specs`` of the graph's inputs, structured again."""
        by_path = dict(zip(self.names, specs))
        if not self._trees:
            return by_path
        return {n: trees.build(self._trees[n], n, lambda path, _: by_path[path]) if n in self._trees
                else by_path[n] for n in self._params}

    def _call_with_structures(self, /, *args: Any, **kwargs: Any) -> Any:
        """A call of a kernel with structured parameters: their leaves passed on, the gradients of their
        leaves given back in their structures."""
        assert self._first is not None
        values = checks.bind(self._params, args, kwargs, self._folded)
        return self._regrouped(self._first.entry(self, *self._leaves_of(values)))

    def _leaves_of(self, values: Any) -> list[Any]:
        """The graph's inputs for the parameters' ``values``: a structured parameter's leaves, in order."""
        return [leaf for n, value in zip(self._params, values)
                for leaf in (trees.flatten(value, self._trees[n], n) if n in self._trees else [value])]

    def _regrouped(self, result: Any) -> Any:
        """A flat kernel's result with the gradients of structured parameters in their structures."""
        if self.mode == "forward":
            return result
        if self.mode == "grad":
            return (self._grouped(result[0]), result[1]) if self._has_aux else self._grouped(result)
        return result[0], self._grouped(result[1])

    def _grouped(self, grads: dict[str, Any]) -> dict[str, Any]:
        out = {}
        for n in self._params:
            part = trees.regroup(grads, self._trees[n], n) if n in self._trees else grads.get(n)
            if part is not None:
                out[n] = part
        return out

    # --- building ----------------------------------------------------------------------
    def _add_variant(self, specs: tuple[Array, ...], stage: stages.Prepared | None = None) -> Variant:
        with gc_paused():
            return self._build_variant(specs, stage)

    def _build_variant(self, specs: tuple[Array, ...], stage: stages.Prepared | None = None) -> Variant:
        """Compile one signature; ``stage``: its traced graph, when it comes with the kernel (unpickled)."""
        if stage is None:
            stage = stages.prepared(self._target, self._trace_specs(specs), self.mode, self._wrt, self._has_aux)
        grad_keys = list(stage.grad_keys)
        fn_name, kernel_name = self._kernel_names
        title = stages.title(fn_name, self.mode, grad_keys)
        variant = None
        if self._use_c(stage):
            try:
                variant = self._load_c(stage, specs, f"gg_{fn_name}_{self.mode}", kernel_name, grad_keys, title)
            except CompileError as error:
                if _requested_backend(self._backend_request) == "c":
                    raise
                _warn_once(f"gradgen: the C backend failed ({str(error).splitlines()[0]}); "
                           "using the Python backend")
        if variant is None:
            graph = stage.prepared
            generated, fallback = stages.to_python(graph, function_name=kernel_name, mode=self.mode,
                                                   grad_keys=grad_keys, title=title, aux=stage.aux)
            variant = self._load(generated, specs, graph, fallback, stage)
        self._variants[specs] = variant
        if self._first is None:
            self._first = variant
            # The hot-loop entry, without a wrapper call; GRADGEN_CHECK_UNCHECKED=1 checks it like a call.
            checking = os.environ.get("GRADGEN_CHECK_UNCHECKED", "").strip() == "1"
            flat = (lambda *args: variant.entry(self, *args)) if checking else variant.function
            # Structured parameters are taken and given back in their structures, as by a checked call.
            self.unchecked = (lambda *args: self._regrouped(flat(*self._leaves_of(args)))) if self._trees else flat
        return variant

    def _use_c(self, stage: stages.Prepared) -> bool:
        """Whether this graph goes to C: asked for, or "auto" with a working compiler (and a graph that is
        not a small one of scalars; a re-rolled one never is)."""
        requested = _requested_backend(self._backend_request)
        if requested == "python":
            return False
        if requested == "c":
            require_compiler()
            return True
        if stage.rolled is stage.traced and is_scalar_graph(stage.prepared) and \
                len(stage.prepared.nodes) <= SMALL_SCALAR_GRAPH:
            return False
        if find_compiler() is None:
            _warn_once("gradgen: no working C compiler (install gcc or set CC); using the Python backend")
            return False
        return True

    def _load_c(self, stage: stages.Prepared, specs: tuple[Array, ...], symbol: str, kernel_name: str,
                grad_keys: Sequence[str], title: str) -> Variant:
        blas = find_blas()
        c = stages.to_c(stage.for_c, function_name=symbol, title=title, blas_prefix=blas.prefix if blas else None,
                        threads=configured_threads())
        c_source = c.source
        # gcc spends super-linear time on very long straight-line code, so the split kernels
        # of large graphs that loop rolling could not shorten build at -O1, several times faster.
        flags: tuple[str, ...] = ("-O1",) if c_source.long else VECTORIZING_FLAGS
        includes: tuple[str, ...] = ()
        libraries: tuple[str, ...] = ()
        if not c_source.long and has_libmvec():
            flags += ("-DGG_USE_LIBMVEC",)
            libraries += ("mvec",)
        if c_source.uses_threads:
            libraries += ("pthread",)
        if c_source.uses_blas and blas is not None:
            flags += blas.compile_args()
            includes, libraries = (blas.include_dir,), (*libraries, blas.library)
        packed, packed_cdef = packed_entry(c_source)
        module = build_module(c_source.text + "\n" + packed, c_source.cdef + "\n" + packed_cdef,
                              name_hint=kernel_name, include_dirs=includes, libraries=libraries,
                              extra_compile_args=flags, fallback=_requested_backend(self._backend_request) != "c")
        glue = glue_source(c_source, function_name=kernel_name, mode=self.mode, grad_keys=grad_keys,
                           names=self.names, title=title, aux=stage.aux)
        body = glue_body(c_source, mode=self.mode, grad_keys=grad_keys, names=self.names, aux=stage.aux)
        namespace = self._entry_namespace(specs)
        namespace.update(glue_namespace(module.ffi, module.lib, c_source, self.names))
        load_source(glue, namespace, kernel_name)
        function = namespace[kernel_name]
        namespace["kernel"] = function
        load_source(_entry_source(self.names, specs, self._jit, True, self._wrt_names, body), namespace, "entry")
        return Variant(specs, c.lowered, c_source.text, "c", function, namespace["entry"], stage, c.program)

    def _entry_namespace(self, specs: tuple[Array, ...]) -> dict[str, Any]:
        namespace: dict[str, Any] = {
            "_bind": lambda a, k: checks.bind(self.names, a, k, self._folded), "_to_scalar": checks.to_scalar,
            "_to_array": checks.to_array, "_OtherSignature": checks.OtherSignature, "_ndarray": np.ndarray,
            "_float32": np.float32, "_MISSING": _MISSING, "_given": _given,
        }
        for k, spec in enumerate(specs):
            namespace[f"_dtype_{k}"] = np.dtype(spec.dtype)
            namespace[f"_spec_{k}"] = spec
        return namespace

    def _load(self, generated: PythonKernelSource, specs: tuple[Array, ...], graph: Graph,
              fallback: PythonKernelSource | None, stage: stages.Prepared) -> Variant:
        namespace = self._entry_namespace(specs)
        namespace.update(SCALAR_FAST if generated.scalar else ARRAY)
        namespace.update(generated.constants)
        if fallback is not None:  # the NumPy twin a plain-float kernel calls where math raises
            twin = load_source(fallback.text, {**ARRAY, **fallback.constants}, f"{fallback.function_name} numpy")
            namespace["_ieee_fallback"] = twin[fallback.function_name]
        load_source(generated.text, namespace, generated.function_name)
        function = namespace[generated.function_name]
        namespace.update(kernel=function, _graph=graph, _name_index_error=checks.index_error)
        load_source(_entry_source(self.names, specs, self._jit, False, self._wrt_names), namespace, "entry")
        return Variant(specs, graph, generated.text, "python", function, namespace["entry"], stage)

    # --- calling -------------------------------------------------------------------------
    def __call__(self, /, *args: Any, **kwargs: Any) -> Any:
        # Only reached before the first variant exists (JIT kernels).
        return self._call_other_signature(checks.bind(self.names, args, kwargs, self._folded) if kwargs
                                          else list(args))

    def _call_other_signature(self, args: Sequence[Any]) -> Any:
        values = checks.bind(self.names, tuple(args), {}, self._folded)
        if any(isinstance(v, Value) for v in values):
            return self.traced_call(values)
        specs = tuple(checks.call_spec(v, n, n in self._wrt_names) for v, n in zip(values, self.names))
        variant = self._variants.get(specs)
        if variant is None:
            if not self._jit:
                raise InputError("arguments do not match the kernel's specs")
            if not self._traceable:
                known = ", ".join(str(tuple(s.shape for s in k)) for k in self._variants)
                raise InputError(f"this kernel was unpickled without its function (it could not be pickled: a "
                                 f"lambda or a local function?), so it runs the signatures it had, shapes {known}, "
                                 "and cannot trace a new one; define the function at module level, or call the "
                                 "kernel with the signatures you need before pickling it")
            variant = self._add_variant(specs)
            if len(self._variants) == 1:
                type(self).__call__ = variant.entry
        return variant.entry(self, *values)

    def traced_call(self, values: Sequence[Any]) -> Any:
        """The kernel called inside another traced function (``values`` holds traced values): its graph
        inlined there, a gradient taken in the enclosing trace (so a gradient can be part of a loss, and
        be differentiated again), with what a call returns."""
        if isinstance(self._target, Graph) or self._has_aux or self._trees:
            raise InputError("a kernel called inside a traced function must be made from a plain function "
                             "of arrays, without has_aux or structured arguments")
        if self.mode == "forward":
            return self._target(*values)
        wrt = self._wrt if self._wrt is not None else [
            n for n, v in zip(self.names, values) if (v.node.dtype if isinstance(v, Value)
                                                      else np.asarray(v).dtype.name) in FLOAT_DTYPES]
        value, grads = gradient_at(self._target, self.names, values, list(wrt), what=f"gg.{self.mode}")
        grads = dict(zip(wrt, grads))
        return grads if self.mode == "grad" else (value, grads)

    def unchecked(self, *args: Any) -> Any:
        """Call the kernel skipping every check, for hot loops; returns what a checked call returns.

        Unsafe by design. The precondition, which nothing checks: exactly the kernel's positional
        arguments, in order; each scalar a Python float (an int for an int64 scalar); each array a
        C-contiguous NumPy array of exactly its spec's shape and dtype (for the C backend, memory is read
        as laid out: a short array or another dtype reads memory it does not own, or garbage). Set
        ``GRADGEN_CHECK_UNCHECKED=1`` (read when the kernel first compiles) to check these calls as
        ordinary ones while testing. A structured parameter is given as its structure (its keys and
        lengths are still matched) and its gradients come back in it. A kernel that has not compiled a
        signature yet (a JIT kernel before its first call) raises: which signature to run is what the
        checks decide.
        """
        if self._first is None:
            raise InputError("kernel.unchecked: this kernel has not compiled any signature yet; call it once "
                             "(checked), or give specs when creating it, before calling unchecked")
        return self._first.function(*args)

    # --- reading -------------------------------------------------------------------------
    def _compiled(self) -> Variant:
        """The first compiled variant; a JIT kernel not called yet compiles for scalar arguments,
        the default spec, so ``source`` and ``graph`` of scalar functions are there at once."""
        if self._first is None:
            try:
                variant = self._add_variant(tuple(Array(()) for _ in self.names))
            except GradgenError as error:
                raise GradgenError(
                    f"this kernel has not been compiled yet and does not trace with scalar arguments ({error}); "
                    "call it once, or give specs (e.g. gg.value_and_grad(f, x=gg.Array((3,))))") from None
            type(self).__call__ = variant.entry
        assert self._first is not None
        return self._first

    @property
    def backend(self) -> str:
        """"python" or "c": the backend of the compiled kernel."""
        return self._compiled().backend

    @property
    def source(self) -> str:
        """The generated source that runs: Python, or C for the C backend."""
        return self._compiled().source

    @property
    def graph(self) -> Graph:
        """The compiled graph (after differentiation and simplification)."""
        return self._compiled().graph

    @property
    def c_graph(self) -> Graph:
        """The graph C is printed from: ``graph``, except that long runs of repeated steps (a Python loop
        unrolled into the graph) are loop nodes again."""
        return self._compiled().c_graph

    @property
    def program(self) -> Program:
        """The loop-nest program of ``c_graph`` (``print(kernel.program)`` shows it): what the C backend
        prints, and for a Python-backend kernel what C would be printed from."""
        variant = self._compiled()
        if variant.program is None:
            variant.program = stages.to_program(variant.c_graph)
        return variant.program

    @property
    def specs(self) -> dict[str, Array]:
        """The argument specs of the compiled kernel."""
        return dict(zip(self.names, self._compiled().specs))

    def _repr_html_(self) -> str:
        """For Jupyter: what the kernel is, and its generated source (coloured when Pygments is installed)."""
        return source_html(repr(self), self.source, "c" if self.backend == "c" else "python")

    def __repr__(self) -> str:
        if self._first is None:
            return f"<gradgen.Kernel {self.mode} of {self._target_name} (not compiled yet)>"
        return (f"<gradgen.Kernel {self.mode} of {self._target_name}, "
                f"backend={self.backend}, {len(self._variants)} signature(s)>")


def source_html(title: str, source: str, language: str) -> str:
    """``source`` as an HTML block under ``title``: highlighted by Pygments if it is installed, else plain."""
    import html

    try:
        from pygments import highlight
        from pygments.formatters import HtmlFormatter
        from pygments.lexers import get_lexer_by_name
    except ImportError:
        body = f"<pre>{html.escape(source)}</pre>"
    else:
        body = highlight(source, get_lexer_by_name(language), HtmlFormatter(noclasses=True))
    return f"<details open><summary><code>{html.escape(title)}</code></summary>{body}</details>"


def compile(fn_or_graph: Callable | Graph, backend: str = "auto", specs: Mapping[str, Any] | None = None,
            **spec_kwargs: Any) -> Kernel:  # noqa: A001 - the public name
    """Compile ``fn`` (forward only). Specs as in ``gg.trace``; without any, the first
    call's arguments fix them (each new shape signature compiles once)."""
    return Kernel(fn_or_graph, "forward", wrt=None, backend=backend, specs=specs, spec_kwargs=spec_kwargs)


def value_and_grad(fn_or_graph: Callable | Graph, wrt: str | Sequence[str] | None = None,
                   backend: str = "auto", specs: Mapping[str, Any] | None = None, has_aux: bool = False,
                   **spec_kwargs: Any) -> Kernel:
    """Compile ``fn`` into a kernel returning ``(value, {input name: gradient})``.

    ``wrt`` names the inputs to differentiate (default: every float input);
    ``fn`` must return a scalar. With ``has_aux``, ``fn`` returns ``(loss, aux)``
    (aux a value, or tuples, lists and dicts of values) and the kernel
    ``((value, aux), {input name: gradient})``: aux computed in the same call,
    not differentiated.

    Integers follow one rule, whatever the kernel was called with before:
    integer scalars (Python or NumPy) are numbers, converted to float64,
    unless a spec says ``gg.Scalar("int64")``; an integer array given for an
    argument in ``wrt`` raises InputError (gradients need floats, as in
    JAX); without specs, any other integer array is an int64 index input,
    never differentiated (with specs, the spec's dtype decides).
    """
    return Kernel(fn_or_graph, "value_and_grad", wrt=wrt, backend=backend, specs=specs, spec_kwargs=spec_kwargs,
                  has_aux=has_aux)


def grad(fn_or_graph: Callable | Graph, wrt: str | Sequence[str] | None = None, backend: str = "auto",
         specs: Mapping[str, Any] | None = None, has_aux: bool = False, **spec_kwargs: Any) -> Kernel:
    """Like ``value_and_grad`` but the kernel returns only the gradient dict (with ``has_aux``,
    ``({input name: gradient}, aux)``)."""
    return Kernel(fn_or_graph, "grad", wrt=wrt, backend=backend, specs=specs, spec_kwargs=spec_kwargs,
                  has_aux=has_aux)

