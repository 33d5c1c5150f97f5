"""Re-rolling: the steps of a Python loop that unrolled into a traced graph, made one ``scan`` node again.

A plain Python ``for`` loop in a traced function adds the same nodes once per
step, so the traced graph is periodic: from some node on, every node matches
the node ``period`` places earlier (same op, attrs, shape and dtype), and each
of its inputs either advances with it (the same input ``period`` places later)
or stays (a value from before the loop: a parameter, a constant). The only
attrs that may change are a ``slice``'s, by a fixed step per period on one
axis (``w[k]``, ``X[k, :]``, ``obs[2 * k]``), and a constant's, whose value
may change from step to step (``0.01 * k``). Such a run of steps becomes a
``scan``:

- an input that advances and lies in the period before is a carry (its
  initial value is the node before the loop);
- a ``slice`` that advances reads one row of an array scanned as ``xs``;
- so does a constant that changes: its values, one row a step, are a
  constant array scanned as ``xs`` (the first step, whose constant no earlier
  step shares, stays before the loop);
- an input that stays is captured;
- a step's value read after the loop is a y (stacked), or, for the last
  step's carry, the loop's final carry.

The C backend compiles the graph re-rolled (``stages``), so its C size and
build time stop growing with the number of steps; the graph users see
(``kernel.graph``, the teaching views) is the unrolled one, and the Python
backend runs it as it is. Differentiating the re-rolled graph goes through
the loop's own VJP: one forward and one reverse loop.
"""

from __future__ import annotations

from collections import Counter
from typing import NamedTuple

import numpy as np

from gradgen.dsl.value import Value
from gradgen.ir.builder import GraphBuilder
from gradgen.ir.graph import ConstArray, Graph, Node
from gradgen.ops.core import apply, constant
from gradgen.ops.loops import part
from gradgen.ops.registry import OPS, emit
from gradgen.passes.dce import eliminate_dead_code
from gradgen.passes.rebuild import copy_node
from gradgen.passes.simplify import simplify_rewriter

#: Fewest steps worth a loop, and fewest nodes: shorter runs stay unrolled, fused and inlined.
MIN_STEPS = 16
MIN_NODES = 400
#: How many of the most common gaps between equal nodes are tried as the period.
CANDIDATES = 4
#: How many places a step may begin at are tried.
PHASES = 128


class Run(NamedTuple):
    """Nodes ``start .. start + period * steps - 1`` of a graph: ``steps`` repeats of one period."""

    start: int
    period: int
    steps: int


def _slice_step(a: Node, b: Node) -> tuple[int, int] | None:
    """(axis, delta) when ``b`` slices like ``a`` but ``delta`` further along one axis, reading one element
    per step (any delta, backwards too) or one block of ``delta`` (axis 0); else None."""
    if a.op != "slice" or b.op != "slice" or a.inputs != b.inputs:
        return None
    moved = [(axis, sa, sb) for axis, (sa, sb) in enumerate(zip(a.params["slices"], b.params["slices"])) if sa != sb]
    if len(moved) != 1:
        return None
    axis, (start, stop, step), (start2, stop2, step2) = moved[0]
    delta = start2 - start
    if step != 1 or step2 != 1 or stop2 - start2 != stop - start or delta == 0:
        return None
    extent = stop - start
    return (axis, delta) if extent == 1 or (extent == delta and axis == 0) else None


def _stepped_constant(a: Node, b: Node) -> bool:
    """Whether ``a`` and ``b`` are constants of one shape and dtype but not one value: a number that
    changes from step to step (``0.01 * k``, ``dt[k]`` of a Python list), which the loop reads as data."""
    return a.op == b.op == "const" and (a.shape, a.dtype) == (b.shape, b.dtype) and a.attrs != b.attrs


def _same_step(graph: Graph, i: int, period: int, start: int) -> bool:
    """Whether node ``i + period`` repeats node ``i`` (``start``: the first node of the run)."""
    a, b = graph.nodes[i], graph.nodes[i + period]
    if (a.op, a.shape, a.dtype, len(a.inputs)) != (b.op, b.shape, b.dtype, len(b.inputs)) or a.op == "input":
        return False
    if a.attrs != b.attrs and _slice_step(a, b) is None and not _stepped_constant(a, b):
        return False
    return all(j2 == j + period and j >= i - (i - start) % period - period or (j2 == j and j < start)
               for j, j2 in zip(a.inputs, b.inputs))


def _candidate_periods(graph: Graph) -> list[int]:
    """Likely periods: for the kinds of node (op, shape, dtype) that repeat least often but still at least
    ``MIN_STEPS`` times (likely once a step), the most common gap between consecutive ones."""
    positions: dict[tuple, list[int]] = {}
    for node in graph.nodes:
        varies = node.op == "slice" or node.op == "const"  # its attrs may change from step to step
        positions.setdefault((node.op, node.shape, node.dtype, varies or node.attrs), []).append(node.id)
    rare = sorted((len(p), p) for p in positions.values() if len(p) >= MIN_STEPS)
    periods: list[int] = []
    for _, found in rare:
        gap = Counter(b - a for a, b in zip(found, found[1:])).most_common(1)[0][0]
        if gap not in periods:
            periods.append(gap)
        if len(periods) == CANDIDATES:
            break
    return periods


def find_runs(graph: Graph) -> list[Run]:
    """The runs of repeated steps (at least ``MIN_STEPS`` steps and ``MIN_NODES`` nodes, and more than
    data moved about), those covering the most nodes first."""
    runs: list[Run] = []
    n = len(graph.nodes)
    for period in _candidate_periods(graph):
        i = 0
        while i + period < n:
            if not _same_step(graph, i, period, i):
                i += 1
                continue
            start, steps = i, 1
            while start + (steps + 1) * period <= n and all(
                    _same_step(graph, k, period, start) for k in range(start + (steps - 1) * period,
                                                                       start + steps * period)):
                steps += 1
            computes = any(not OPS[graph.nodes[k].op].view for k in range(start, start + period))
            if steps >= MIN_STEPS and period * steps >= MIN_NODES and computes:
                runs.append(Run(start, period, steps))
            i = start + max(steps - 1, 1) * period
    return sorted(runs, key=lambda run: -run.period * run.steps)


def find_run(graph: Graph) -> Run | None:
    """The run of repeated steps covering the most nodes, if any (see ``find_runs``)."""
    runs = find_runs(graph)
    return runs[0] if runs else None


def _read_after(graph: Graph, run: Run) -> set[int]:
    """The run's nodes that nodes after the run, or the graph's outputs, read."""
    end = run.start + run.period * run.steps
    inside = range(run.start, end)
    read = {i for node in graph.nodes[end:] for i in node.inputs if i in inside}
    return read | {i for i in graph.outputs if i in inside}


class Roles(NamedTuple):
    """What each input of the first step of a run is to the loop."""

    carried: dict[int, int]  # offset in the step of a carried value -> the node before the loop it starts as
    scanned: dict[int, tuple[int, int]]  # offset of a slice that advances -> (axis, delta)
    captured: list[int]  # nodes before the loop that every step reads
    stepped: list[int]  # offsets of constants that change from step to step (see ``_stepped_constant``)


def _roles(graph: Graph, run: Run) -> Roles | None:
    """The roles of the run's inputs, or None when the run cannot be a loop (a carry that changes shape
    or dtype across its first step, a value both carried and captured, slices advancing unevenly)."""
    start, period, steps = run
    carried: dict[int, int] = {}
    scanned: dict[int, tuple[int, int]] = {}
    captured: list[int] = []
    stepped: list[int] = []
    for i in range(start, start + period):
        node, later = graph.nodes[i], graph.nodes[i + period]
        if node.op == "const":
            if len({graph.nodes[i + k * period].attrs for k in range(steps)}) > 1:
                stepped.append(i - start)
            continue
        if node.op == "slice" and node.attrs != later.attrs:
            scanned[i - start] = _slice_step(node, later)
            if any(_slice_step(graph.nodes[i + k * period], graph.nodes[i + (k + 1) * period]) != scanned[i - start]
                   for k in range(1, steps - 1)):
                return None
            continue
        for j, j2 in zip(node.inputs, later.inputs):
            if j >= start:
                continue
            if j2 == j + period:
                if j2 < start:  # a value two steps old at this phase: not a carry of one step
                    return None
                carried.setdefault(j + period - start, j)
            elif j not in captured:
                captured.append(j)
    for offset, init in carried.items():
        value, first = graph.nodes[start + offset], graph.nodes[init]
        if (value.shape, value.dtype) != (first.shape, first.dtype) or init in captured:
            return None
    return Roles(carried, scanned, captured, stepped)


def reroll(graph: Graph) -> Graph:
    """``graph`` with each long run of repeated steps written as one ``scan`` node (the graph itself when
    it has none)."""
    if len(graph.nodes) < MIN_NODES:
        return graph
    for _ in range(8):  # a few loops one after another
        phased = (_best_phase(graph, run) for run in find_runs(graph))
        found = next((f for f in phased if f is not None), None)
        if found is None:
            return graph
        graph = _as_loop(*_with_first_step(graph, *found))
    return graph


def _best_phase(graph: Graph, run: Run) -> tuple[Run, Roles] | None:
    """Where a step begins is where the fewest values cross from one to the next: the run started at
    each of its first nodes (one step fewer), with the fewest carries."""
    best: tuple[Run, Roles] | None = None
    for shift in range(min(run.period, PHASES)):
        shifted = Run(run.start + shift, run.period, run.steps - (1 if shift else 0))
        roles = _roles(graph, shifted)
        if roles is not None and (best is None or len(roles.carried) < len(best[1].carried)):
            best = (shifted, roles)
    return best


def _with_first_step(graph: Graph, run: Run, roles: Roles) -> tuple[Graph, Run, Roles]:
    """The graph, run and roles with the steps before the run that read their carries from values of
    before the loop taken into the run (the loop's first step, which the run's own detection cannot
    match, its inputs not advancing with the rest's): constants, and what only the captured values are
    made of, move before that step first."""
    while True:
        earlier = _step_before(graph, run, roles)
        if earlier is None:
            return graph, run, roles
        graph, run, roles = earlier


def _step_before(graph: Graph, run: Run, roles: Roles) -> tuple[Graph, Run, Roles] | None:
    """The graph (its nodes before the run reordered), run and roles one step longer at the front, or
    None when the nodes before the run are no such step."""
    start, period, steps = run
    if roles.stepped:  # the step before has its own constant, which is no captured one: it stays as it is
        return None
    making_captured: set[int] = set()  # the captured values and constants, and what they are made of
    pending = list(roles.captured) + [i for i in range(start) if graph.nodes[i].op == "const"]
    while pending:
        i = pending.pop()
        if i not in making_captured:
            making_captured.add(i)
            pending.extend(graph.nodes[i].inputs)
    step = [i for i in range(start - 1, -1, -1) if i not in making_captured][:period][::-1]
    if len(step) < period:
        return None
    first = step[0]
    order = [i for i in range(first, start) if i in making_captured] + step
    graph = _reordered(graph, first, order) if order != list(range(first, start)) else graph
    first = start - period
    roles = _roles(graph, run)
    if roles is None:
        return None
    carried: dict[int, int] = {}
    for i in range(first, start):
        a, b = graph.nodes[i], graph.nodes[i + period]
        if (a.op, a.shape, a.dtype, len(a.inputs)) != (b.op, b.shape, b.dtype, len(b.inputs)) or a.op == "input":
            return None
        if (i - first in roles.scanned) != (a.attrs != b.attrs) or \
                (a.attrs != b.attrs and _slice_step(a, b) != roles.scanned[i - first]):
            return None
        for j, j2 in zip(a.inputs, b.inputs):
            if j2 >= start:  # within a step
                ok = j == j2 - period
            elif j2 >= first:  # the value a step carries to the next: ``a`` reads where it starts
                ok = j < first and j2 not in roles.captured and carried.setdefault(j2 - first, j) == j
            else:  # captured
                ok = j == j2
            if not ok:
                return None
    if set(carried) != set(roles.carried) or len(set(carried.values())) < len(carried):
        return None  # two carries starting from one value: the first step could not tell them apart
    for offset, init in carried.items():
        value, begin = graph.nodes[first + offset], graph.nodes[init]
        if (value.shape, value.dtype) != (begin.shape, begin.dtype) or init in roles.captured:
            return None
    return graph, Run(first, period, steps + 1), Roles(carried, roles.scanned, roles.captured, [])


def _reordered(graph: Graph, first: int, order: list[int]) -> Graph:
    """``graph`` with its nodes ``first ..`` up to the last of ``order`` in the order ``order`` (a
    topological one): the nodes after keep their ids."""
    sequence = list(range(first)) + order + list(range(first + len(order), len(graph.nodes)))
    new_id = {old: new for new, old in enumerate(sequence)}
    nodes = tuple(graph.nodes[old]._replace(id=new, inputs=tuple(new_id[j] for j in graph.nodes[old].inputs))
                  for new, old in enumerate(sequence))
    return Graph(nodes, tuple(new_id[i] for i in graph.inputs), tuple(new_id[i] for i in graph.outputs),
                 graph.output_names)


def _as_loop(graph: Graph, run: Run, roles: Roles) -> Graph:
    """``graph`` with ``run`` replaced by a ``scan`` over its first step."""
    start, period, steps = run
    end, last = start + period * steps, start + period * (steps - 1)
    carried, scanned, _, stepped = roles
    read = _read_after(graph, run)
    ys = sorted({(i - start) % period for i in read if not (i >= last and i - last in carried)})
    order = sorted(carried)
    step, captured = _step_body(graph, run, roles, ys)

    builder = GraphBuilder(simplify_rewriter)
    mapping: dict[int, int] = {}
    for node in graph.nodes[:start]:
        mapping[node.id] = copy_node(builder, node, [mapping[j] for j in node.inputs])
    outer = {i: Value(builder, m) for i, m in mapping.items()}
    xs = [_rows(outer[graph.nodes[start + o].inputs[0]], graph.nodes[start + o], axis, delta, steps)
          for o, (axis, delta) in scanned.items()]
    xs += [constant(builder, np.stack([_value(graph.nodes[start + o + k * period]) for k in range(steps)]),
                    graph.nodes[start + o].dtype) for o in stepped]
    loop = apply("scan", *[outer[carried[o]] for o in order], *xs, *[outer[j] for j in captured], body=step,
                 carries=len(order), xs=len(xs), length=steps, reverse=False, checkpoint="residuals")
    finals = {o: part(loop, k) for k, o in enumerate(order)}
    stacked = {o: part(loop, len(order) + k) for k, o in enumerate(ys)}
    rows: dict[int, tuple[int, int]] = {}  # a row of a stacked y (shape (1, ...)) -> (its offset, its step)

    def read_back(i: int) -> int:
        """A value of the run read after it: the final carry, or its row of a y, made where first read."""
        if i not in mapping:
            o, k = (i - start) % period, (i - start) // period
            if k == steps - 1 and o in finals and o not in stacked:
                mapping[i] = finals[o].id
            else:
                shape = graph.nodes[i].shape
                row = apply("slice", stacked[o], slices=((k, k + 1, 1),) + tuple((0, n, 1) for n in shape))
                rows[row.id] = (o, k)
                mapping[i] = apply("reshape", row, shape=shape).id
        return mapping[i]

    for node in graph.nodes[end:]:
        inputs = [read_back(j) if start <= j < end else mapping[j] for j in node.inputs]
        if node.op == "concatenate" and node.params["axis"] == 0:  # gg.stack of each step's value
            inputs = _restacked(inputs, rows, {o: y.id for o, y in stacked.items()}, steps)
        if node.op == "concatenate" and len(inputs) == 1:
            mapping[node.id] = inputs[0]
            continue
        mapping[node.id] = copy_node(builder, node, inputs)
        source = builder.nodes[inputs[0]].inputs[0] if node.op == "reshape" and builder.nodes[inputs[0]].inputs \
            else None
        if source in rows and node.shape[:1] == (1,):
            rows[mapping[node.id]] = rows[source]  # a row again
    return eliminate_dead_code(builder.finish(tuple(read_back(i) if start <= i < end else mapping[i]
                                                    for i in graph.outputs), graph.output_names))


def _step_body(graph: Graph, run: Run, roles: Roles, ys: list[int]) -> tuple[Graph, list[int]]:
    """The loop's body, the run's first step: inputs the carries, the scanned rows and the captured values
    (constants stay constants), outputs the next carries and the ``ys`` offsets; and the nodes it
    captures, in the order of its inputs."""
    start, period, steps = run
    end, last = start + period * steps, start + period * (steps - 1)
    carried, scanned, captured, stepped = roles
    captured = [j for j in captured if not _constant(graph, j)]

    def name_at(offset: int) -> str | None:
        """The user's name for the value at ``offset`` of a step: the locals name the last one, which may
        follow the run or end it."""
        for i in (end + offset, last + offset, carried.get(offset, -1)):
            if 0 <= i < len(graph.nodes) and graph.nodes[i].name:
                return graph.nodes[i].name
        return None

    body = GraphBuilder(simplify_rewriter)
    inside: dict[int, int] = {}
    order = sorted(carried)
    for o in order:
        node = graph.nodes[start + o]
        inside[carried[o]] = body.input(name_at(o) or f"carry{o}", node.shape, node.dtype)
    for o in scanned:
        node = graph.nodes[start + o]
        inside[start + o] = body.input(_row_name(graph, node), node.shape, node.dtype)
    for o in stepped:
        node = graph.nodes[start + o]
        inside[start + o] = body.input("constant", node.shape, node.dtype)
    for j in captured:
        node = graph.nodes[j]
        inside[j] = body.input(node.name or "captured", node.shape, node.dtype)
    for i in range(start, start + period):
        node = graph.nodes[i]
        for j in node.inputs:
            if j not in inside and _constant(graph, j):  # constants stay constants (a carry may start at one)
                constant = graph.nodes[j]
                source = [copy_node(body, graph.nodes[constant.inputs[0]], [])] if constant.inputs else []
                inside[j] = copy_node(body, constant, source)
        if i not in inside:
            inside[i] = emit(body, node.op, [inside[j] for j in node.inputs], **node.params)
        name = name_at(i - start)
        if name and body.nodes[inside[i]].op != "input":
            body.set_name(inside[i], name)
    outputs = [inside[start + o] for o in order + ys]
    names = [body.nodes[inside[carried[o]]].params["name"] for o in order] + [name_at(o) or f"y{o}" for o in ys]
    return eliminate_dead_code(body.finish(tuple(outputs), tuple(names))), captured


def _value(node: Node) -> np.ndarray:
    """The value of a ``const`` node."""
    value = node.params["value"]
    return value.array if isinstance(value, ConstArray) else np.asarray(value)


def _constant(graph: Graph, i: int) -> bool:
    """Whether node ``i`` is a constant or one broadcast."""
    node = graph.nodes[i]
    return node.op == "const" or node.op == "broadcast_to" and graph.nodes[node.inputs[0]].op == "const"


def _restacked(inputs: list[int], rows: dict[int, tuple[int, int]], stacked: dict[int, int], steps: int
               ) -> list[int]:
    """The operands of a concatenation along axis 0 with each stretch that is every row of one stacked y,
    in order, replaced by that y (how ``gg.stack`` of each step's value reads)."""
    out: list[int] = []
    k = 0
    while k < len(inputs):
        found = rows.get(inputs[k])
        if found is not None and found[1] == 0 and k + steps <= len(inputs) and \
                [rows.get(i) for i in inputs[k:k + steps]] == [(found[0], j) for j in range(steps)]:
            out.append(stacked[found[0]])
            k += steps
        else:
            out.append(inputs[k])
            k += 1
    return out


def _row_name(graph: Graph, node: Node) -> str:
    source = graph.nodes[node.inputs[0]]
    return f"{source.name}_row" if source.name else "row"


def _rows(array: Value, first: Node, axis: int, delta: int, steps: int) -> Value:
    """The array whose row k is what the advancing slice ``first`` reads at step k."""
    slices = list(first.params["slices"])
    begin, stop, _ = slices[axis]
    if stop - begin == 1:  # one element per step, ``delta`` apart
        last = begin + delta * (steps - 1)
        slices[axis] = (begin, last + 1 if delta > 0 else last - 1, delta)
        picked = apply("slice", array, slices=tuple(slices))
        order = (axis,) + tuple(a for a in range(len(first.shape)) if a != axis)
        moved = apply("transpose", picked, axes=order) if axis else picked
        return apply("reshape", moved, shape=(steps,) + first.shape)
    slices[0] = (begin, begin + delta * steps, 1)  # a block of ``delta`` rows per step
    return apply("reshape", apply("slice", array, slices=tuple(slices)), shape=(steps,) + first.shape)
