"""From the plans and the loop tree to the program's statements and buffers.

Each node becomes the statements its plan says: an element (``Let``) where
its loop computes it, stored when the decisions say so; a reduction as a
running value started before its loop (``Init``, or ``Fill`` for an
accumulator array) and updated inside (``Accumulate``); a structural op as
the loops ``structural`` lowers it to. An operand is read from the local
its loop already holds when that local is the same element, and otherwise
from memory through its index map.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from gradgen.ir.graph import ConstArray, Graph, Node
from gradgen.ops.registry import OPS
from gradgen.schedule.access import (
    Access,
    canonical,
    element_vars,
    flat,
    identity_index,
    is_prefix,
    resolve,
    strides,
)
from gradgen.schedule.groups import LoopPlan
from gradgen.schedule.loopnode import lower_loop
from gradgen.schedule.materialize import Decisions, Recompute
from gradgen.schedule.nests import Plan
from gradgen.schedule.program import (
    Accumulate,
    Apply,
    Atom,
    Buffer,
    Expr,
    Fill,
    Index,
    Init,
    Let,
    Literal,
    Load,
    Local,
    Loop,
    Program,
    Ref,
    Stmt,
    Store,
    Var,
)
from gradgen.schedule.structural import loop_nest, lower_structural

Scope = set[int]


def first_writer(node: Node, plan: Plan) -> int | None:
    """The part of a scatter that touches each element it writes before any other part does, when there is
    one: every part writes a contiguous block in the loop's own order (element = loop position + offset),
    so the part with the largest offset gets to each element first. It stores instead of adding, and
    only the elements it never writes need zeros first."""
    if not plan.scatter:
        return None
    strides_of_space = strides(plan.space)
    walk_in_order = tuple((v, s) for v, s in zip(element_vars(len(plan.space)), strides_of_space))
    offsets = []
    for target in plan.scatter:
        index = flat(node.shape, target)
        if index.terms != walk_in_order:
            return None
        offsets.append(index.offset)
    return offsets.index(max(offsets))


def _start_note(node: Node, how: str) -> str:
    """The note on the start of a running value: what it computes, and where it starts."""
    return f"{node.note or node.op}, from {'0' if how == 'sum' else '-inf'}"


def _identity(how: str, dtype: str) -> Literal:
    return Literal(0 if how == "sum" else float("-inf"), dtype)


class StatementBuilder:
    """Builds one Program; also the ``Reader`` that structural lowering reads operands through."""

    def __init__(self, graph: Graph, plans: dict[int, Plan], decisions: Decisions, slots: bool = False):
        self.graph = graph
        self.plans = plans
        self.decisions = decisions
        self.buffers: list[Buffer] = []
        self.buffer_of: dict[int, int] = {}
        self._held = {n for n, plan in plans.items() if plan.copies}
        self._memo: dict[int, Access] = {}  # scalar reads, resolved once
        self.first_writer: dict[int, int] = {}
        self.top: Scope = set()
        for position, node_id in enumerate(graph.inputs):
            node = graph.nodes[node_id]
            if node.shape == ():
                self.top.add(node_id)
            else:
                self._new_buffer("input", node, position=position)
        self.outputs = []
        for k, node_id in enumerate(graph.outputs):
            node = graph.nodes[node_id]
            self.outputs.append(self._new_buffer("output", node, position=k, scalar=node.shape == (),
                                                 register=False))
        for node_id, k in decisions.in_output.items():
            self.buffer_of[node_id] = self.outputs[k]
        # In a large program every top-level scalar lives in a slot of one array (see ``roll``).
        self.slots = Buffer(len(self.buffers), "slots", 0, "float64") if slots else None
        if self.slots is not None:
            self.buffers.append(self.slots)
        self.slot_of: dict[int, int] = {}
        self.bodies: list[Program] = []  # the programs of loop nodes' bodies, in the order they are lowered
        self.parts_of: dict[int, dict[int, int]] = {}  # loop node -> result index -> its loop_output node
        self._roles: set[tuple[int, str]] = set()  # (node, role) of the scratch buffers made so far
        for node in graph.nodes:
            if OPS[node.op].kind == "part":
                self.parts_of.setdefault(node.inputs[0], {})[node.params["index"]] = node.id

    # --- buffers ----------------------------------------------------------------------------------------
    def _new_buffer(self, kind: str, node: Node, register: bool = True, **fields: object) -> int:
        buffer = Buffer(len(self.buffers), kind, max(node.size, 1), node.dtype, node.id, **fields)
        self.buffers.append(buffer)
        if register:
            self.buffer_of[node.id] = buffer.id
        return buffer.id

    def buffer(self, node_id: int) -> int:
        """The buffer holding ``node_id``'s value, made on first use (workspace, or constant data)."""
        if node_id not in self.buffer_of:
            node = self.graph.nodes[node_id]
            value = node.params.get("value") if node.op == "const" else None
            if isinstance(value, ConstArray):
                self._new_buffer("const", node, data=value)
            else:
                self._new_buffer("work", node)
        return self.buffer_of[node_id]

    def scratch(self, node_id: int, role: str, size: int, dtype: str) -> int:
        """A new workspace buffer of ``size`` elements made for node ``node_id`` (named after it and ``role``)."""
        unique, k = role, 2
        while (node_id, unique) in self._roles:
            unique, k = f"{role}{k}", k + 1
        self._roles.add((node_id, unique))
        buffer = Buffer(len(self.buffers), "work", max(size, 1), dtype, node_id, role=unique)
        self.buffers.append(buffer)
        return buffer.id

    def held(self) -> set[int]:
        return self._held

    def argument(self, node_id: int) -> int:
        """The status a kernel returns when the index ``node_id`` is out of range: the 1-based position of the
        input it comes from, through views and gathers of it; one past the last input when it is computed
        otherwise (``cast(y, "int64")``)."""
        base = node_id
        while True:
            base = resolve(self.graph, base, identity_index(self.graph.nodes[base].shape), self._held).base
            node = self.graph.nodes[base]
            if not OPS[node.op].gathers:
                break
            base = node.inputs[0]
        inputs = self.graph.inputs
        return inputs.index(base) + 1 if base in inputs else len(inputs) + 1

    # --- operands ----------------------------------------------------------------------------------------
    def operand(self, access: Access, scope: Scope) -> Atom:
        """The element ``access`` points to, from a local in ``scope`` when that local holds it, else memory."""
        slot = self.slot_of.get(access.base)
        if slot is not None:
            return Load(self.slots.id, Index(slot))
        node = self.graph.nodes[access.base]
        if node.op == "const" and not isinstance(node.attrs[0][1], ConstArray):  # attrs: (("value", v),)
            return Literal(node.attrs[0][1], node.dtype)
        if access.base in scope and not access.flat:
            depth = len(canonical(node.shape))
            if is_prefix(node.shape, access.index, element_vars(depth)):
                return Ref(Local(access.base))
        if access.base not in self.buffer_of and not (node.op == "const" or access.base in self.decisions.stored
                                                      or self._in_memory(access.base)):
            raise AssertionError(f"node {node.label()} is read from memory but never stored")
        return Load(self.buffer(access.base), access.offset(self.graph))

    def _in_memory(self, node_id: int) -> bool:
        plan = self.plans.get(node_id)
        return plan is not None and plan.where == "statement" and (plan.gemm or OPS[self.graph.nodes[node_id].op]
                                                                    .kind in ("structural", "part"))

    def read(self, node_id: int, index: tuple[Index, ...]) -> Atom:
        """Element ``index`` of ``node_id``, for structural loops (top-level scalars are in scope)."""
        return self.operand(resolve(self.graph, node_id, index, self._held, self._memo), self.top)

    def _value(self, plan: Plan, scope: Scope) -> Expr:
        """A node's element (or, for a reduction, the element it adds) from its reads."""
        node = self.graph.nodes[plan.node]
        args = tuple(self.operand(r.access, scope) for r in plan.reads)
        if plan.product:
            return Apply("multiply", args, (), node.dtype)
        if plan.how is not None or plan.copies:
            return args[0]
        return Apply(node.op, args, node.attrs, node.dtype)

    # --- statements ----------------------------------------------------------------------------------------
    def _store(self, node: Node) -> Store:
        buffer = self.buffers[self.buffer(node.id)]
        note = f"the result {self.graph.output_names[buffer.position]}" if buffer.kind == "output" else \
            "kept for a later loop"
        return Store(buffer.id, flat(node.shape, identity_index(node.shape)), Ref(Local(node.id)), note)

    def _node(self, node_id: int, scope: Scope) -> list[Stmt]:
        plan = self.plans[node_id]
        node = self.graph.nodes[node_id]
        note = node.note or node.op
        kind = OPS[node.op].kind
        if plan.where == "statement" and (plan.gemm or kind == "structural"):
            return lower_structural(self, node)
        if kind == "loop":
            return lower_loop(self, node, _schedule_body)
        if kind == "part":  # its buffer is written by its loop
            return []
        reduces_here = plan.how is not None and plan.value_depth is not None and plan.value_depth < plan.update_depth
        if not reduces_here and plan.value_depth is not None:  # an element, or a reduction of one element
            if self.slots is not None and scope is self.top:
                return [Store(self.slots.id, Index(self._slot(node_id)), self._value(plan, scope), note)]
            scope.add(node_id)
            out: list[Stmt] = [Let(Local(node_id), self._value(plan, scope), node.dtype, note)]
            if node_id in self.decisions.stored:
                out.append(self._store(node))
            return out
        if plan.scatter:
            first = self.first_writer.get(node_id)
            out = []
            for k in sorted(range(len(plan.reads)), key=lambda k: k != first):
                at, value = flat(node.shape, plan.scatter[k]), self.operand(plan.reads[k].access, scope)
                out.append(Store(self.buffer(node_id), at, value, note) if k == first else
                           Accumulate(Load(self.buffer(node_id), at), "sum", value, node.dtype, note))
            return out
        if plan.value_depth is None:
            target: Ref | Load = Load(self.buffer(node_id), flat(node.shape, plan.result_index))
        else:
            target = Ref(Local(node_id))
        return [Accumulate(target, plan.how, self._value(plan, scope), node.dtype, note)]

    def _fills(self, plan: Plan, identity: Literal) -> list[Fill]:
        """The start of an accumulator array: all of it, or for a scatter whose parts write in the order of
        the loop only the elements its first writer does not store (see ``first_writer``)."""
        node = self.graph.nodes[plan.node]
        first = first_writer(node, plan)
        note = _start_note(node, plan.how)
        if first is None:
            return [Fill(self.buffer(plan.node), identity, how=plan.how, note=note)]
        self.first_writer[plan.node] = first
        start = flat(node.shape, plan.scatter[first]).offset
        end = start + int(np.prod(plan.space))
        note += ", where its first part does not write"
        return [Fill(self.buffer(plan.node), identity, a, b - a, plan.how, note)
                for a, b in ((0, start), (end, node.size)) if b > a]

    def _loop(self, loop: LoopPlan, scope: Scope) -> list[Stmt]:
        depth = loop.depth
        inits: list[Init | Fill] = []
        finished: list[int] = []
        for n in loop.members:
            plan = self.plans[n]
            if plan.how is None:
                continue
            if plan.value_depth == depth and plan.update_depth > depth:
                dtype = self.graph.nodes[n].dtype  # float32 values are summed in float64
                inits.append(Init(Local(n), plan.how, "float64" if plan.how == "sum" and dtype == "float32" else dtype,
                                  _start_note(self.graph.nodes[n], plan.how)))
                finished.append(n)
            elif plan.value_depth is None and depth == 0:
                inits += self._fills(plan, _identity(plan.how, self.graph.nodes[n].dtype))
        inner = set(scope)
        body = self.block(loop.items, inner)
        out: list[Stmt] = [Loop(Var(depth, "i", depth), loop.extent, tuple(body), tuple(inits),
                                members=tuple(loop.members) if depth == 0 else ())]
        for n in finished:
            scope.add(n)
            if n in self.decisions.stored:
                out.append(self._store(self.graph.nodes[n]))
            if self.slots is not None and scope is self.top:
                out.append(Store(self.slots.id, Index(self._slot(n)), Ref(Local(n)), "kept in its slot"))
        return out

    def _slot(self, node_id: int) -> int:
        self.slot_of[node_id] = len(self.slot_of)
        return self.slot_of[node_id]

    def block(self, items: list[int | LoopPlan | Recompute], scope: Scope) -> list[Stmt]:
        out: list[Stmt] = []
        for item in items:
            if isinstance(item, LoopPlan):
                out += self._loop(item, scope)
            elif isinstance(item, Recompute):
                plan = self.plans[item.node]
                node = self.graph.nodes[item.node]
                scope.add(item.node)
                out.append(Let(Local(item.node), self._value(plan, scope), node.dtype,
                               f"{node.note or node.op} (computed again here)"))
            else:
                out += self._node(item, scope)
        return out

    def _copy_output(self, k: int) -> list[Stmt]:
        node = self.graph.nodes[self.graph.outputs[k]]
        out = self.outputs[k]

        def write(index: tuple[Index, ...]) -> list[Stmt]:
            value = self.operand(resolve(self.graph, node.id, index, self._held), self.top)
            return [Store(out, flat(node.shape, index), value, f"the result {self.graph.output_names[k]}")]

        return loop_nest(node.shape, write, node=node.id, note=f"copied to the output {self.graph.output_names[k]}")

    def program(self, items: list[int | LoopPlan]) -> Program:
        body = self.block(items, self.top)
        for k in self.decisions.copied_outputs:
            body += self._copy_output(k)
        if self.slots is not None:
            self.buffers[self.slots.id] = dataclasses.replace(self.slots, size=max(len(self.slot_of), 1))
        return Program(self.graph, tuple(self.graph.inputs), tuple(self.outputs), tuple(self.buffers), tuple(body),
                       bodies=tuple(self.bodies))


def _schedule_body(body: Graph) -> Program:
    """A loop's body as a program of its own (one thread: the steps of a loop run in order)."""
    from gradgen.schedule import schedule

    return schedule(body)


def build_program(graph: Graph, plans: dict[int, Plan], items: list[int | LoopPlan], decisions: Decisions,
                  slots: bool = False) -> Program:
    """The program for ``graph`` as planned; with ``slots``, top-level scalars live in the slots array."""
    return StatementBuilder(graph, plans, decisions, slots).program(items)

