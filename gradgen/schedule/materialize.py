"""Store or recompute: decided once for the whole program, with a bound.

A value computed in one loop and read in another must be in memory, unless
it is cheap (an op marked ``cheap``: arithmetic, comparisons, selects) and
what it reads is available there: inputs, scalars, values already stored,
or at most ``RECOMPUTE_CHAIN`` cheap values computed again with it. Then the
reading loop computes it again: a few operations instead of a store and a
load. Each node is computed at most once per loop that reads it, so
generated work stays within a small constant of the graph's own.

Outputs are written where the caller wants them: a node whose value is an
output (or whose reshape is) is stored straight into that output.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gradgen.ir.graph import Graph
from gradgen.ops.registry import OPS
from gradgen.schedule.access import identity_index, resolve
from gradgen.schedule.groups import LoopPlan, loop_paths
from gradgen.schedule.nests import Plan, fusable

#: At most this many cheap nodes are computed again to have one value in another loop.
RECOMPUTE_CHAIN = 4


@dataclass(frozen=True)
class Recompute:
    """A cheap node computed again inside a loop that reads it (its value is not stored for that loop)."""

    node: int


@dataclass
class Decisions:
    """``stored``: nodes whose value is written to memory; ``in_output``: node -> the output it is written
    into directly; ``copied_outputs``: outputs copied at the end."""

    stored: set[int] = field(default_factory=set)
    in_output: dict[int, int] = field(default_factory=dict)
    copied_outputs: list[int] = field(default_factory=list)


def _shares(path: tuple[LoopPlan, ...], other: tuple[LoopPlan, ...], depth: int) -> bool:
    return len(path) >= depth and len(other) >= depth and all(a is b for a, b in zip(path[:depth], other[:depth]))


def _output_bases(graph: Graph, plans: dict[int, Plan]) -> dict[int, int]:
    """Output k -> the node computed straight into it (through reshapes), for outputs that have one."""
    taken: dict[int, int] = {}
    for k, node_id in enumerate(graph.outputs):
        node = graph.nodes[node_id]
        while OPS[node.op].keeps_offsets and node.id not in plans:
            node = graph.nodes[node.inputs[0]]
        plan = plans.get(node.id)
        if (plan is not None and node.id not in taken and (plan.where == "nest" or plan.gemm or OPS[node.op].kind ==
                                                              "structural") and node.shape != ()):
            taken[node.id] = k
    return taken


def decide(graph: Graph, plans: dict[int, Plan], items: list[int | LoopPlan]) -> Decisions:
    """Which values are stored (and where), and where cheap ones are recomputed (inserted into ``items``)."""
    decisions = Decisions(in_output=_output_bases(graph, plans))
    placed = set(decisions.in_output.values())
    decisions.copied_outputs = [k for k in range(len(graph.outputs)) if k not in placed]
    paths = loop_paths(items)
    held = {n for n, plan in plans.items() if plan.copies}
    copy_reads: set[int] = set()
    for k in decisions.copied_outputs:
        node = graph.nodes[graph.outputs[k]]
        copy_reads.add(resolve(graph, node.id, identity_index(node.shape), held).base)
    inserted: dict[tuple[int, int], bool] = {}
    for b in sorted(plans):
        base = plans[b]
        if base.where != "nest":
            continue
        if base.value_depth is None or b in decisions.in_output or (b in copy_reads and base.value_depth > 0):
            decisions.stored.add(b)
            continue
        depth = base.value_depth
        cross: list[Plan] = []
        for c in base.consumers:
            reader = plans[c]
            for read in reader.reads:
                if read.access.base != b:
                    continue
                if not (fusable(graph, plans, reader, read) and _shares(paths[c], paths[b], depth)):
                    cross.append(reader)
        if not cross:
            continue
        chain = _chain(graph, plans, decisions, base)
        # Recomputing replaces the store only when every read of ``b`` by those readers is at their own
        # element: one reversed or transposed read (``c[::-1] * c``) needs ``b`` in memory all the same.
        if chain is not None and all(reader.where == "nest" and all(
                fusable(graph, plans, reader, r) for r in reader.reads if r.access.base == b) for reader in cross):
            for reader in cross:
                loop = paths[reader.node][depth - 1]
                for n in chain:  # inputs first, each before this reader (moved up if a later reader had it)
                    _place_before(loop, reader.node, Recompute(n), (id(loop), n) in inserted)
                    inserted[(id(loop), n)] = True
        else:
            decisions.stored.add(b)
    return decisions


def _chain(graph: Graph, plans: dict[int, Plan], decisions: Decisions, base: Plan) -> list[int] | None:
    """The cheap values a loop computes again to have ``base``'s element, inputs first: base, and those it
    reads that are not available anywhere (not inputs, scalars or stored), at most RECOMPUTE_CHAIN of
    them; None if that is not possible."""
    order: list[int] = []

    def visit(plan: Plan) -> bool:
        node = graph.nodes[plan.node]
        if (not OPS[node.op].cheap or plan.how is not None or plan.product or plan.copies
                or plan.node in graph.outputs or plan.where != "nest"):
            return False
        for read in plan.reads:
            source = plans.get(read.access.base)
            if (source is None or source.where == "statement" or read.access.base in decisions.stored
                    or source.value_depth == 0 or read.access.base in order):
                continue
            if not fusable(graph, plans, plan, read) or not visit(source):
                return False
        order.append(plan.node)
        return len(order) <= RECOMPUTE_CHAIN

    return order if visit(base) else None


def _place_before(loop: LoopPlan, node: int, item: Recompute, present: bool) -> None:
    """Put ``item`` in ``loop``'s body before the statement or inner loop that updates ``node``: inserted
    just there, or, if it is ``present`` but later, moved there."""
    def updates(existing: object) -> bool:
        return existing == node or (isinstance(existing, LoopPlan) and node in existing.member_set)

    at = next((k for k, existing in enumerate(loop.items) if updates(existing)), None)
    if at is None:
        raise AssertionError(f"node {node} is not in the loop it was planned in")
    if present:
        where = loop.items.index(item)
        if where < at:
            return
        del loop.items[where]
    loop.items.insert(at, item)
