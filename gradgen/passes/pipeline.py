"""The pass pipeline from a traced graph to the graph a code generator emits."""

from __future__ import annotations

from collections.abc import Sequence

from gradgen.ir.check import check_graph
from gradgen.ir.graph import Graph
from gradgen.passes.autodiff import differentiate
from gradgen.passes.dce import eliminate_dead_code
from gradgen.passes.narrow import narrow_products
from gradgen.passes.numerics import stabilize
from gradgen.passes.rebuild import inside_loops


def prepare(graph: Graph, *, gradient: bool, wrt: str | Sequence[str] | None = None,
            check: bool = False, aux: int = 0) -> Graph:
    """Stabilize, differentiate (if ``gradient``), narrow sliced products and prune ``graph``.

    Both stabilize and differentiate build through the simplifying rewriter,
    so the result is folded and CSE'd without a separate simplify pass.
    Stabilizing and pruning reach into the bodies of loops too (pruning also drops the ys of a loop
    nobody reads).

    With ``check``, the IR checker runs after every pass (the tests use it). ``aux``: outputs after the
    first that are not differentiated (``has_aux``).
    """
    passes = [inside_loops(stabilize)]
    if gradient:
        passes.append(lambda g: differentiate(g, wrt, aux=aux))
    passes += [inside_loops(narrow_products), eliminate_dead_code]
    for run in passes:
        graph = run(graph)
        if check:
            check_graph(graph)
    return graph
