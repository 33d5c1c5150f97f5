"""A loop node as a C loop: its body scheduled once as a program of its own, run once per step.

The body is a function with the kernel's ABI (``Program.bodies``); the loop
around it keeps each carry in the buffer of its result (the carry a step
starts from) and hands the body row ``t`` of each scanned array and row
``t`` of each stacked y to write (pointers into the arrays, no copies; a
scanned value that is not an array of its own is copied row by row). So the C size and the compile time of a loop do
not depend on its length, however many steps it runs.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Protocol

from gradgen.ir.graph import Graph, Node, Shape
from gradgen.ops.loops import result_types
from gradgen.schedule.access import flat
from gradgen.schedule.program import Atom, Index, Load, Loop, Program, Row, RunBody, Stmt, Store, Var
from gradgen.schedule.structural import loop_nest

#: The variable of a loop node's steps (the namer calls it ``step``).
STEP = Var(0, "step", 0)


class LoopBuilder(Protocol):
    """What lowering a loop node needs from the statement builder."""

    graph: Graph
    bodies: list[Program]
    parts_of: dict[int, dict[int, int]]

    def read(self, node_id: int, index: tuple[Index, ...]) -> Atom: ...

    def buffer(self, node_id: int) -> int: ...

    def scratch(self, node_id: int, role: str, size: int, dtype: str) -> int: ...

    def argument(self, node_id: int) -> int: ...


def _copy(shape: Shape, target: int, value: Callable[[tuple[Index, ...]], Atom], note: str) -> list[Stmt]:
    """``target[flat(index)] = value(index)`` for every index of ``shape``; ``note`` says what it copies."""
    return loop_nest(shape, lambda index: [Store(target, flat(shape, index), value(index), note)])


def lower_loop(builder: LoopBuilder, node: Node, schedule_body: Callable[[Graph], Program]) -> list[Stmt]:
    """The statements of loop node ``node``: its carries set to their initial values, then the loop of its
    steps. Writes the buffers of its ``loop_output`` nodes (scratch buffers for results nobody reads).
    Its arguments are captured values, the steps' slices of the scanned arrays, and the carries."""
    params = node.params
    body, carries, xs, length = params["body"], params["carries"], params["xs"], params["length"]
    program = schedule_body(body)
    builder.bodies.append(program)
    parts = builder.parts_of.get(node.id, {})
    results = [builder.buffer(parts[k]) if k in parts else builder.scratch(node.id, f"result{k}", math.prod(shape),
                                                                           dtype)
               for k, (shape, dtype) in enumerate(result_types(body, carries, length))]
    inputs = node.inputs
    params_of = [body.nodes[i] for i in body.inputs]
    owner = [parts.get(k, inputs[k]) for k in range(carries)]  # carries' scratch named after their result
    out: list[Stmt] = []
    for k in range(carries):
        shape = params_of[k].shape
        out += _copy(shape, results[k], lambda index, k=k: builder.read(inputs[k], index),
                     f"the loop's carry {body.input_names[k]} starts as {builder.graph.nodes[inputs[k]].label()}")
    captured: list[Atom | int] = []
    for k in range(carries + xs, len(inputs)):
        shape, source = params_of[k].shape, inputs[k]
        if shape == ():
            captured.append(builder.read(source, ()))
        elif source in builder.graph.inputs:
            captured.append(builder.buffer(source))
        else:  # a value of the kernel: contiguous in a buffer of its own, written before the loop
            copy = builder.scratch(source, "copy", math.prod(shape), params_of[k].dtype)
            out += _copy(shape, copy, lambda index, source=source: builder.read(source, index),
                         f"{builder.graph.nodes[source].label()}, in one piece for the loop's body")
            captured.append(copy)
    outputs = [body.nodes[i] for i in body.outputs]
    other = [builder.scratch(owner[k], "next", math.prod(outputs[k].shape), outputs[k].dtype) for k in range(carries)]
    kernel_arrays = set(builder.graph.inputs) | {i for rows in builder.parts_of.values() for i in rows.values()}
    slices = [builder.scratch(inputs[k], "step", math.prod(params_of[k].shape), params_of[k].dtype)
              if params_of[k].shape and inputs[k] not in kernel_arrays else None for k in range(carries, carries + xs)]
    work = builder.scratch(node.id, "work", program.work_size, "float64") if program.work_size else None
    statuses = tuple(builder.argument(i) for i in inputs)

    def one_step(at: Index, source: list[int], target: list[int]) -> list[Stmt]:
        """Step ``at``: the carries read from ``source``, written to ``target``; its ys stored at row ``at``."""
        step: list[Stmt] = []
        arguments: list[Atom | int] = [Load(b, Index()) if params_of[k].shape == () else b
                                       for k, b in enumerate(source)]
        for j, k in enumerate(range(carries, carries + xs)):
            shape, scanned = params_of[k].shape, inputs[k]
            if not shape:
                arguments.append(builder.read(scanned, (at,)))
            elif slices[j] is None:  # an array of the kernel: its row, in place
                arguments.append(Row(builder.buffer(scanned), at * math.prod(shape)))
            else:
                step += _copy(shape, slices[j], lambda index, scanned=scanned: builder.read(scanned, (at,) + index),
                              f"this step's row of {body.input_names[k]}")
                arguments.append(slices[j])
        ys = [Row(results[k], at * math.prod(outputs[k].shape)) for k in range(carries, len(outputs))]
        step.append(RunBody(len(builder.bodies) - 1, tuple(arguments + captured), tuple(target + ys), work,
                            statuses, len(builder.graph.inputs) + 1))
        return step

    def position(k: Index) -> Index:  # step k of the loop, counted from the last in a reverse one
        return Index(length - 1) + k * -1 if params["reverse"] else k

    # Steps go in pairs, the carries moving from their results' buffers to the others and back, so that
    # no carry is ever copied: two calls of the body per round.
    current = results[:carries]
    pair = Index.of(STEP, 2)
    inside = one_step(position(pair), current, other) + one_step(position(pair + 1), other, current)
    note = (f"{length} steps of the loop's body{', from the last' if params['reverse'] else ''}, two a round, "
            f"carrying {', '.join(body.input_names[:carries]) or 'nothing'}")
    out.append(Loop(STEP, length // 2, tuple(inside), note=note))
    if length % 2:  # the last step, and its carries back where the results are read
        out += one_step(position(Index(length - 1)), current, other)
        for k in range(carries):
            shape = outputs[k].shape
            out += _copy(shape, current[k], lambda index, k=k, shape=shape: Load(other[k], flat(shape, index)),
                         f"the carry {body.input_names[k]} back where its result is read")
    return out
