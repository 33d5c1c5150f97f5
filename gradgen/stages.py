"""The one pipeline, as printable stages: traced -> prepared -> lowered -> program -> source.

Both the runtime's ``Kernel`` and ``export_c`` go through these functions,
so one function gives one program and one C source whichever way it is
built (threads and vectorization pragmas aside, which standalone source
leaves out). Each stage's result prints: a graph with ``print(graph)``, a
program with ``print(program)``, a source as text.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from gradgen.codegen.c import print_c
from gradgen.codegen.cabi import CKernelSource
from gradgen.codegen.python import PythonKernelSource, generate_python
from gradgen.dsl.specs import Array
from gradgen.dsl.trace import function_name, trace, trace_with_aux
from gradgen.ir.graph import Graph
from gradgen.passes.autodiff import resolve_wrt
from gradgen.passes.expand import expand_custom_ops
from gradgen.passes.lower import lower_for_c
from gradgen.passes.pipeline import prepare
from gradgen.passes.reroll import reroll
from gradgen.passes.sink import sink_sums
from gradgen.schedule import Program, schedule


@dataclass(frozen=True)
class Prepared:
    """The first two stages: the traced graph, and (``prepared``) the graph after stabilizing,
    differentiating (unless ``mode`` is "forward"), pruning and expanding ``gg.custom_op`` nodes;
    ``grad_keys`` are the inputs differentiated. ``for_c`` is the prepared graph C is printed from:
    the same, unless the traced graph has long runs of repeated steps (an unrolled Python loop), which
    it has re-rolled into loop nodes first (``passes/reroll.py``), or sums over the steps of a loop's
    results, which it computes inside the loop (``passes/sink.py``). Each is made when first asked for:
    a C kernel of an unrolled loop never differentiates the unrolled graph, a Python kernel never
    re-rolls it."""

    traced: Graph
    mode: str
    grad_keys: tuple[str, ...]
    aux: Any = None
    """With ``has_aux``, the template of the aux results (``trace_with_aux``); the traced graph's outputs
    after the first are their leaves."""

    def _prepare(self, graph: Graph) -> Graph:
        gradient = self.mode != "forward"
        return expand_custom_ops(prepare(graph, gradient=gradient, wrt=list(self.grad_keys) if gradient else None,
                                         aux=len(graph.outputs) - 1 if self.aux is not None else 0))

    @cached_property
    def prepared(self) -> Graph:
        return self._prepare(self.traced)

    @cached_property
    def rolled(self) -> Graph:
        """The traced graph with its long runs of repeated steps as loop nodes (itself when it has none)."""
        return reroll(self.traced)

    @cached_property
    def for_c(self) -> Graph:
        fused = sink_sums(self.rolled)
        return self.prepared if fused is self.traced else self._prepare(fused)


@dataclass(frozen=True)
class CStages:
    """The C stages: the lowered graph, its program, and the C source printed from it."""

    lowered: Graph
    program: Program
    source: CKernelSource


def prepared(fn_or_graph: Callable | Graph, specs: Mapping[str, Array] | None, mode: str,
             wrt: str | Sequence[str] | None = None, has_aux: bool = False) -> Prepared:
    """Trace (a Graph is taken as traced) and prepare for ``mode`` ("forward", "value_and_grad", "grad");
    with ``has_aux``, the function returns (loss, aux) and only the loss is differentiated."""
    aux = None
    if isinstance(fn_or_graph, Graph):
        traced = fn_or_graph
    elif has_aux:
        traced, aux = trace_with_aux(fn_or_graph, dict(specs or {}))
    else:
        traced = trace(fn_or_graph, dict(specs or {}))
    keys = tuple(resolve_wrt(traced, wrt)) if mode != "forward" else ()
    return Prepared(traced, mode, keys, aux)


def to_program(graph: Graph, *, threads: int = 1, blas: bool = False, standalone: bool = False) -> Program:
    """The loop-nest program of a prepared graph, lowered for C first."""
    return schedule(lower_for_c(graph), threads=threads, blas=blas, standalone=standalone)


def to_c(graph: Graph, *, function_name: str, title: str, standalone: bool = False, threads: int = 1,
         blas_prefix: str | None = None) -> CStages:
    """Lower, schedule and print a prepared graph as C. ``standalone`` source needs only a C99 compiler and
    libm: no threads, no BLAS, no pragmas."""
    lowered = lower_for_c(graph)
    blas_prefix = None if standalone else blas_prefix
    program = schedule(lowered, threads=1 if standalone else threads, blas=blas_prefix is not None,
                       standalone=standalone)
    source = print_c(program, function_name=function_name, title=title, standalone=standalone,
                     blas_prefix=blas_prefix)
    return CStages(lowered, program, source)


def to_python(graph: Graph, *, function_name: str, mode: str, grad_keys: Sequence[str], title: str,
              aux: Any = None) -> tuple[PythonKernelSource, PythonKernelSource | None]:
    """A prepared graph as Python source, and for plain-float kernels its NumPy twin (the IEEE fallback)."""
    generated = generate_python(graph, function_name=function_name, mode=mode, grad_keys=grad_keys, title=title,
                                aux=aux)
    twin = generate_python(graph, function_name=function_name, mode=mode, grad_keys=grad_keys, title=title,
                           numpy=True, aux=aux) if generated.scalar else None
    return generated, twin


def kernel_names(target: Any, mode: str) -> tuple[str, str]:
    """(the function's name as an identifier, the kernel's name for ``mode``)."""
    fn_name = "graph" if isinstance(target, Graph) else function_name(target)
    fn_name = fn_name if fn_name.isidentifier() and fn_name != "<lambda>" else "kernel_fn"
    suffix = {"forward": "", "value_and_grad": "_value_and_grad", "grad": "_grad"}[mode]
    return fn_name, fn_name + suffix


def title(fn_name: str, mode: str, grad_keys: Sequence[str]) -> str:
    """The first line of a kernel's documentation."""
    if mode == "forward":
        return f"{fn_name}: generated by gradgen (forward only)."
    return f"{fn_name}: value and gradient with respect to {', '.join(grad_keys)}; generated by gradgen."
