"""What a loop's forward sweep saves for its reverse sweep (``checkpoint="residuals"``, the default).

The reverse body of a loop (see ``loop_grad``) starts from the carry the
step began with and computes the step's forward values again before its
VJP reads them. Its *primal* nodes are those computed from the step's
carry, x and captured values alone; the *frontier* is the primal nodes a
cotangent computation reads. Saving the frontier per step instead of only
the carry turns the reverse body's recomputation into loads:

- the forward body is extended with the frontier values as extra ys
  (``saved_<name>``), computed beside the values it has anyway (the
  builder's hash-consing shares them);
- the reverse body reads them as scanned inputs, and what it no longer
  needs to recompute is dead code.

Not saved: constants, the step's x and captured values (the reverse loop
reads them anyway), values of captured values alone (the same every step),
and views that do not shrink their operand (a broadcast, a reshape): their
operand is saved instead. The saved carry (``saved_<carry>``) is a residual like any other.
Frontier values are matched between the two bodies by structure, so a
value the forward body does not save is computed again from what it does.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from functools import lru_cache
from typing import NamedTuple

from gradgen.errors import GraphError
from gradgen.ir.builder import GraphBuilder
from gradgen.ir.graph import FLOAT_DTYPES, Graph
from gradgen.ops.registry import OPS
from gradgen.passes.dce import eliminate_dead_code


def _keys(graph: Graph, roles: dict[int, Hashable], table: dict) -> list[int | None]:
    """A structural key per node (equal keys: the same value), None for nodes that depend on an input
    without a role (a cotangent). ``roles``: input node id -> its role (the body input it stands for)."""
    keys: list[int | None] = []
    for node in graph.nodes:
        if node.op == "input":
            role = roles.get(node.id)
            keys.append(None if role is None else table.setdefault(("input", role), len(table)))
        elif any(keys[i] is None for i in node.inputs):
            keys.append(None)
        else:
            keys.append(table.setdefault((node.op, node.attrs, node.dtype, tuple(keys[i] for i in node.inputs)),
                                         len(table)))
    return keys


def _varying(graph: Graph, step_inputs: set[int]) -> list[bool]:
    """Per node: does it depend on one of ``step_inputs`` (a carry or x: a value that changes per step)?"""
    varies: list[bool] = []
    for node in graph.nodes:
        varies.append(node.id in step_inputs or any(varies[i] for i in node.inputs))
    return varies


def _frontier(graph: Graph, keys: list[int | None]) -> list[int]:
    """Primal nodes read by a node that is not primal, or by an output."""
    read = {i for node in graph.nodes if keys[node.id] is None for i in node.inputs}
    read |= set(graph.outputs)
    return [i for i in sorted(read) if keys[i] is not None]


def _to_save(graph: Graph, frontier: Sequence[int], varies: list[bool], saved: dict[int, int] | None) -> list[int]:
    """The nodes of ``graph`` to read from the forward sweep instead of computing them: frontier nodes that
    change per step, a view's operand for an enlarging view, and (when ``saved`` is given: key -> the
    forward result that holds it) only values the forward sweep saved, the operands of those it did not."""
    chosen: list[int] = []
    seen: set[int] = set()

    def visit(i: int) -> None:
        if i in seen:
            return
        seen.add(i)
        node = graph.nodes[i]
        if not varies[i] or node.op == "const":
            return
        if saved is not None and i in saved:
            chosen.append(i)
            return
        enlarging = OPS[node.op].view and node.size >= max(graph.nodes[j].size for j in node.inputs)
        if node.op == "input" or enlarging or saved is not None:
            for j in node.inputs:
                visit(j)
            return
        chosen.append(i)

    for i in frontier:
        visit(i)
    return chosen


class ReverseLayout(NamedTuple):
    """Where a reverse body's inputs are: ``first_state`` (the step's carries, then its xs) and
    ``first_closed`` (the captured values); the counts are the forward body's."""

    carries: int
    xs: int
    captured: int
    first_state: int
    first_closed: int

    def roles(self, back: Graph) -> dict[int, int]:
        """The reverse body's step inputs -> the position of the forward body input they stand for."""
        ids = back.inputs
        roles = {ids[self.first_state + k]: k for k in range(self.carries + self.xs)}
        roles.update({ids[self.first_closed + k]: self.carries + self.xs + k for k in range(self.captured)})
        return roles

    def step_inputs(self, back: Graph) -> set[int]:
        """The reverse body's inputs that change per step: the step's carries and xs."""
        return set(back.inputs[self.first_state:self.first_state + self.carries + self.xs])


@lru_cache(maxsize=256)
def saving_body(body: Graph, carries: int, xs: int) -> Graph:
    """``body`` extended with the values its reverse sweep reads as extra ys: the carry each step starts
    from (``saved_<carry>``) and the frontier of the reverse body that takes every cotangent. Loops
    inside ``body`` save theirs too, as differentiating the body makes them."""
    from gradgen.ops.loops import saving_attrs
    from gradgen.passes.loop_grad import step_vjp_body

    is_float = [body.nodes[i].dtype in FLOAT_DTYPES for i in body.inputs]
    captured = len(body.inputs) - carries - xs
    float_carries = [k for k in range(carries) if is_float[k]]
    float_xs = [k for k in range(xs) if is_float[carries + k]]
    float_captured = [k for k in range(captured) if is_float[carries + xs + k]]
    ys = [k for k in range(len(body.outputs) - carries) if body.nodes[body.outputs[carries + k]].dtype in FLOAT_DTYPES]
    back = step_vjp_body(body, carries, xs, float_carries, float_captured, ys, float_xs)
    first_state = len(float_carries) + len(float_captured)
    layout = ReverseLayout(carries, xs, captured, first_state, first_state + carries + xs + len(ys))
    roles = layout.roles(back)
    keys = _keys(back, roles, {})
    chosen = _to_save(back, _frontier(back, keys), _varying(back, layout.step_inputs(back)), None)

    builder = GraphBuilder()
    mapping: dict[int, int] = {}
    for node in body.nodes:  # the forward body, its loops saving what their reverse sweeps read
        attrs = tuple(sorted(saving_attrs(node).items())) if OPS[node.op].kind == "loop" else node.attrs
        mapping[node.id] = builder.add(node.op, tuple(mapping[i] for i in node.inputs), attrs, node.shape, node.dtype)
        if node.name:
            builder.set_name(mapping[node.id], node.name)
    again = {back_id: mapping[body.inputs[k]] for back_id, k in roles.items()}
    for node in back.nodes:  # the values to save, computed from the forward body's inputs
        if node.id not in again and keys[node.id] is not None:
            again[node.id] = builder.add(node.op, tuple(again[i] for i in node.inputs), node.attrs, node.shape,
                                         node.dtype)
    outputs = [mapping[i] for i in body.outputs + body.inputs[:carries]] + [again[i] for i in chosen]
    names = [f"saved_{n}" for n in body.input_names[:carries]]
    for i in chosen:
        name, k = f"saved_{_describe(builder, again[i])}", 2
        while name in names:
            name, k = f"saved_{_describe(builder, again[i])}_{k}", k + 1
        names.append(name)
    return eliminate_dead_code(builder.finish(tuple(outputs), body.output_names + tuple(names)), prune_loops=False)


def _describe(builder: GraphBuilder, node_id: int) -> str:
    """A name for a saved value: its own (a user's variable), else its op and the nearest name it is
    computed from (``subtract_h``: 1 - h * h)."""
    if node_id in builder.names:
        return builder.names[node_id]
    todo, seen = [node_id], {node_id}
    while todo:
        for i in builder.nodes[todo.pop(0)].inputs:
            if i in builder.names:
                return f"{builder.nodes[node_id].op}_{builder.names[i]}"
            if i not in seen:
                seen.add(i)
                todo.append(i)
    return builder.nodes[node_id].op


def reading_saved(back: Graph, forward: Graph, results: int, layout: ReverseLayout) -> tuple[Graph, list[int]]:
    """The reverse body ``back`` made to read, instead of computing, the values the extended forward body
    ``forward`` saves (its results from ``results`` on). Returns the new body, whose inputs are those of
    ``back`` with the step's carries replaced by one input per saved value it reads, and the forward
    results it reads, in the order of those inputs."""
    table: dict = {}
    forward_keys = _keys(forward, {i: k for k, i in enumerate(forward.inputs)}, table)
    saved_at = {forward_keys[forward.outputs[k]]: k for k in range(len(forward.outputs) - 1, results - 1, -1)}
    keys = _keys(back, layout.roles(back), table)
    saved = {i: saved_at[keys[i]] for i in range(len(back.nodes)) if keys[i] in saved_at}
    chosen = _to_save(back, _frontier(back, keys), _varying(back, layout.step_inputs(back)), saved)
    replaced = set(chosen)

    live = [False] * len(back.nodes)  # what the outputs need once the chosen values are read
    for i in back.outputs:
        live[i] = True
    for node in reversed(back.nodes):
        if live[node.id] and node.id not in replaced:
            for i in node.inputs:
                live[i] = True
    builder = GraphBuilder()
    mapping: dict[int, int] = {}

    def copy_inputs(ids: Sequence[int]) -> None:
        for i in ids:
            node = back.nodes[i]
            mapping[i] = builder.input(node.params["name"], node.shape, node.dtype)

    copy_inputs(back.inputs[:layout.first_state])
    for i in chosen:
        mapping[i] = builder.input(forward.output_names[saved[i]], back.nodes[i].shape, back.nodes[i].dtype)
    copy_inputs(back.inputs[layout.first_state + layout.carries:])
    for node in back.nodes:
        if node.id in mapping or not live[node.id]:
            continue
        if node.op == "input":
            raise GraphError(f"internal: the reverse body reads carry {node.params['name']!r}, which its forward "
                             "loop does not save")
        mapping[node.id] = builder.add(node.op, tuple(mapping[i] for i in node.inputs), node.attrs, node.shape,
                                       node.dtype)
        if node.name:
            builder.set_name(mapping[node.id], node.name)
        if node.note:
            builder.set_note(mapping[node.id], node.note)
    graph = builder.finish(tuple(mapping[i] for i in back.outputs), back.output_names)
    return eliminate_dead_code(graph), [saved[i] for i in chosen]
