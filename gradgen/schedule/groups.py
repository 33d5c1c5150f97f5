"""Which nodes share a loop: decided once, on the dependency graph, depth by depth.

At each depth (the top level first, then inside each loop) every node gets a
*level*: statements at this depth take even levels, loops odd ones, and a
node goes to the earliest level its inputs allow. Reading an element the
same loop is computing keeps a node at that loop's level; reading a value
that is complete only after a loop (a sum, or any element read at another
index, as a shifted slice is) puts it after that loop. Nodes at one odd
level with the same extent share one loop, and the same rule, one depth
down, orders what runs inside it. Then each node whose consumers all run
later moves down to the latest loop of its extent that still precedes them,
so that it is computed where it is used instead of stored in between.

So a whole chain of elementwise work of one shape is one loop however long
it is, a (32, 1) row statistic joins the loop over the rows of a (32, 3)
array, and shifted slices of one array are read in the same pass.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from gradgen.ir.graph import Graph
from gradgen.schedule.nests import Plan, fusable


@dataclass
class LoopPlan:
    """A loop at ``depth`` over ``extent``: ``items`` are its body in order (node ids of statements at
    depth + 1, and inner loops); ``members`` every node updated anywhere inside it."""

    depth: int
    extent: int
    members: list[int]
    items: list[int | LoopPlan] = field(default_factory=list)
    member_set: set[int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.member_set = set(self.members)


Item = "int | LoopPlan"


def _same_loop_read(graph: Graph, plans: dict[int, Plan], reader: Plan, base: Plan, read: object, depth: int) -> bool:
    """Whether ``reader`` may share the loop at ``depth`` with the ``base`` it reads (it reads base's
    element as base computes it, inside that loop)."""
    return (reader.update_depth > depth and base.value_depth is not None and base.value_depth > depth
            and fusable(graph, plans, reader, read))


def _levels(graph: Graph, plans: dict[int, Plan], members: list[int], depth: int) -> dict[int, int]:
    inside = set(members)
    level: dict[int, int] = {}
    readers: dict[int, list[tuple[int, object]]] = {n: [] for n in members}
    for n in members:  # ids are topological
        plan = plans[n]
        deeper = plan.update_depth > depth
        lowest = 1 if deeper else 0
        for read in plan.reads:
            b = read.access.base
            if b not in inside:
                continue
            readers[b].append((n, read))
            base = plans[b]
            if base.update_depth > depth:
                need = level[b] if _same_loop_read(graph, plans, plan, base, read, depth) else \
                    level[b] + (2 if deeper else 1)
            else:
                need = level[b] + (1 if deeper else 0)
            lowest = max(lowest, need)
        if (lowest % 2 == 1) != deeper:
            lowest += 1
        level[n] = lowest
    # Sink each node to the latest loop of its extent (a statement: the latest statements) before all
    # that read it.
    loops = Counter((level[n], plans[n].space[depth]) for n in members if plans[n].update_depth > depth)
    statements = Counter(level[n] for n in members if plans[n].update_depth <= depth)
    for n in reversed(members):
        plan = plans[n]
        if not readers[n]:
            continue
        if plan.update_depth <= depth:
            bound = min(level[c] - (1 if plans[c].update_depth > depth else 0) for c, _ in readers[n])
            bound -= bound % 2
            if bound > level[n] and statements[bound]:
                statements[level[n]] -= 1
                statements[bound] += 1
                level[n] = bound
            continue
        bound = min(level[c] if _same_loop_read(graph, plans, plans[c], plan, read, depth)
                    else level[c] - (2 if plans[c].update_depth > depth else 1) for c, read in readers[n])
        bound -= 1 - bound % 2  # an odd level: a loop
        extent = plan.space[depth]
        if bound > level[n] and loops[(bound, extent)]:
            loops[(level[n], extent)] -= 1
            loops[(bound, extent)] += 1
            level[n] = bound
    return level


def _block(graph: Graph, plans: dict[int, Plan], members: list[int], depth: int) -> list[int | LoopPlan]:
    """The body at ``depth``: statements in order and loops, for ``members`` (all sharing the enclosing loops)."""
    level = _levels(graph, plans, members, depth)
    by_level: dict[int, list[int]] = {}
    for n in members:
        by_level.setdefault(level[n], []).append(n)
    items: list[int | LoopPlan] = []
    for lvl in sorted(by_level):
        nodes = by_level[lvl]
        if lvl % 2 == 0:
            items.extend(nodes)
            continue
        groups: dict[int, list[int]] = {}
        for n in nodes:
            groups.setdefault(plans[n].space[depth], []).append(n)
        for extent, group in groups.items():
            loop = LoopPlan(depth, extent, group)
            loop.items = _block(graph, plans, group, depth + 1)
            items.append(loop)
    return items


def plan_loops(graph: Graph, plans: dict[int, Plan]) -> list[int | LoopPlan]:
    """The top level of the program: statements and loop nests, in an order that respects every dependency."""
    return _block(graph, plans, sorted(plans), 0)


def loop_paths(items: list[int | LoopPlan]) -> dict[int, tuple[LoopPlan, ...]]:
    """For each node, the loops it is updated in, outermost first."""
    paths: dict[int, tuple[LoopPlan, ...]] = {}
    stack: list[tuple[list[int | LoopPlan], tuple[LoopPlan, ...]]] = [(items, ())]
    while stack:
        body, path = stack.pop()
        for item in body:
            if isinstance(item, LoopPlan):
                stack.append((item.items, path + (item,)))
            else:
                paths[item] = path
    return paths
