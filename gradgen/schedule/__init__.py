"""The schedule stage: a lowered graph becomes a Program, a loop-nest IR that knows no C syntax.

``schedule(graph)`` decides, once and over the whole graph, which nodes share
a loop nest (``groups``), what is stored or computed again (``materialize``),
how structural ops loop (``structural``), where each array lives in the
workspace (``memory``), which loops run in parallel parts or in tiles, and
which repeated statements become loops again (``loops``, ``roll``); the C
printer then only prints.
"""

from __future__ import annotations

from gradgen.ir.graph import Graph
from gradgen.schedule.check import check_program
from gradgen.schedule.groups import plan_loops
from gradgen.schedule.loops import finish_loops
from gradgen.schedule.materialize import decide
from gradgen.schedule.memory import plan_workspace
from gradgen.schedule.nests import plan_nodes
from gradgen.schedule.program import Program, format_program
from gradgen.schedule.roll import large, shrink
from gradgen.schedule.statements import build_program

__all__ = ["Program", "check_program", "format_program", "schedule"]

#: Run the program checker after every schedule (the tests turn it on).
CHECK = False


def schedule(graph: Graph, *, threads: int = 1, blas: bool = False, standalone: bool = False) -> Program:
    """The program that computes ``graph``: its loops, buffers and statements.

    ``blas``: big matrix products may call the BLAS. ``threads``: long loops may be shared by that many
    threads (never in ``standalone`` programs, which must build with a C99 compiler alone).
    """
    plans = plan_nodes(graph, blas=blas)
    items = plan_loops(graph, plans)
    decisions = decide(graph, plans, items)
    program = build_program(graph, plans, items, decisions, slots=large(len(items)))
    program = plan_workspace(finish_loops(shrink(program), threads=1 if standalone else threads))
    return check_program(program) if CHECK else program
