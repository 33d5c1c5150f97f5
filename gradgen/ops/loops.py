"""Loops as one node: ``scan`` runs a body graph once per step, ``loop_output`` reads one of its results.

A ``scan`` node's inputs are the initial carries, the arrays scanned along
axis 0 (``xs``) and the values of enclosing graphs the body reads
(captured), in this order; its ``body`` is a Graph whose inputs are one
carry, one slice of each ``xs`` and the captured values, and whose outputs
are the next carry and this step's ``y`` values. The node's value is the
tuple (final carries..., stacked ys...); it has the dtype ``TUPLE`` and
only ``loop_output`` nodes read it, each one result.

Reverse mode: the VJP is a second ``scan`` running the other way whose body
applies one step's VJP, accumulating the cotangents of the captured values
in its carry. What it needs of the forward step, the forward loop stacks as
extra ys, as the loop's ``checkpoint`` attr says: "residuals" (the default)
saves every value of the step the VJP reads, "carry" only the carry each
step starts from, and the reverse body computes the step again from it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from gradgen.dsl.value import Value
from gradgen.errors import InputError, ShapeError
from gradgen.ir.graph import FLOAT_DTYPES, TUPLE, Graph, Node, Shape
from gradgen.ops.core import apply, zeros_like
from gradgen.ops.registry import OPS, Op, define

#: What a loop's forward sweep saves for its reverse sweep (see ``saving_attrs``).
CHECKPOINTS = ("residuals", "carry")


def result_types(body: Graph, carries: int, length: int) -> list[tuple[Shape, str]]:
    """Shape and dtype of each result of a loop: the carries, then each y stacked over ``length`` steps."""
    types = []
    for k, node_id in enumerate(body.outputs):
        node = body.nodes[node_id]
        types.append((node.shape, node.dtype) if k < carries else ((length,) + node.shape, node.dtype))
    return types


def _scan_infer(inputs: Sequence[Node], attrs: dict) -> tuple[Shape, str]:
    body, carries, xs, length = attrs["body"], attrs["carries"], attrs["xs"], attrs["length"]
    if attrs["checkpoint"] not in CHECKPOINTS:
        raise InputError(f"scan: checkpoint must be one of {CHECKPOINTS}, got {attrs['checkpoint']!r}")
    params = [body.nodes[i] for i in body.inputs]
    if len(params) != len(inputs):
        raise ShapeError(f"scan: the body takes {len(params)} inputs, the loop gives {len(inputs)}")
    for k, (given, param) in enumerate(zip(inputs, params)):
        shape = given.shape[1:] if carries <= k < carries + xs else given.shape
        if carries <= k < carries + xs and given.shape[:1] != (length,):
            raise ShapeError(f"scan: xs entry {param.params['name']!r} has shape {given.shape}; the loop "
                             f"runs {length} steps, so its axis 0 must have length {length}")
        if (shape, given.dtype) != (param.shape, param.dtype):
            raise ShapeError(f"scan: input {param.params['name']!r} is {shape} {given.dtype} but the body "
                             f"takes {param.shape} {param.dtype}")
    return (), TUPLE


def run_scan(*values: Any, body: Graph, carries: int, xs: int, length: int, reverse: bool,
             checkpoint: str) -> tuple:
    """The loop, evaluated with NumPy: (final carries..., stacked ys...)."""
    from gradgen.runtime.interpret import evaluate

    names = body.input_names
    carry = [np.asarray(v) for v in values[:carries]]
    scanned, captured = values[carries:carries + xs], list(values[carries + xs:])
    types = result_types(body, carries, length)
    ys = [np.empty(shape, dtype) for shape, dtype in types[carries:]]
    for t in (range(length - 1, -1, -1) if reverse else range(length)):
        step = evaluate(body, dict(zip(names, carry + [np.asarray(x)[t] for x in scanned] + captured)))
        results = [step[i] for i in body.outputs]
        carry = results[:carries]
        for y, value in zip(ys, results[carries:]):
            y[t] = value
    return tuple(carry) + tuple(ys)


def _output_infer(inputs: Sequence[Node], attrs: dict) -> tuple[Shape, str]:
    (loop,) = inputs
    params = loop.params
    types = result_types(params["body"], params["carries"], params["length"])
    if not 0 <= attrs["index"] < len(types):
        raise ShapeError(f"loop_output: the loop has {len(types)} results, not {attrs['index'] + 1}")
    return types[attrs["index"]]


def _scan_vjp(cotangents: list[Value | None], out: Value, *inputs: Value, body: Graph, carries: int, xs: int,
              length: int, reverse: bool, checkpoint: str, wanted: Sequence[bool] | None = None,
              guarded: bool = False) -> list[Value | None]:
    """Cotangents of the inputs of a loop whose forward node ``out`` also stacks what its reverse sweep
    reads (``saving_attrs``); only of
    the scanned and captured inputs that are ``wanted`` (autodiff says which need one): the cotangent of a
    captured array is a carry of the reverse loop, added to at every step. Only carries that reach a
    result with a cotangent carry one (a zero pushed back through ``sqrt`` at 0 would be NaN).
    ``guarded``: the cotangents descend from a ``where`` (see autodiff), so zero cotangents must stay
    zero in the reverse body, as they must when the body itself selects."""
    from gradgen.passes.loop_grad import step_vjp_body
    from gradgen.passes.residuals import ReverseLayout, reading_saved

    wanted = [True] * len(inputs) if wanted is None else list(wanted)
    with_ct = [k for k, ct in enumerate(cotangents[carries:len(body.outputs)]) if ct is not None
               and body.nodes[body.outputs[carries + k]].dtype in FLOAT_DTYPES]
    float_carries = _live_carries(body, carries, [k for k in range(carries) if cotangents[k] is not None
                                                  and inputs[k].node.dtype in FLOAT_DTYPES], with_ct)
    captured = inputs[carries + xs:]
    float_captured = [k for k, z in enumerate(captured) if z.node.dtype in FLOAT_DTYPES and wanted[carries + xs + k]]
    float_xs = [k for k in range(xs) if inputs[carries + k].node.dtype in FLOAT_DTYPES and wanted[carries + k]]
    guard = guarded or any(OPS[n.op].selects for n in body.nodes)
    back_body = step_vjp_body(body, carries, xs, float_carries, float_captured, with_ct, float_xs, guard)
    first_state = len(float_carries) + len(float_captured)
    layout = ReverseLayout(carries, xs, len(captured), first_state, first_state + carries + xs + len(with_ct))
    forward = out.node.params["body"]
    back_body, read = reading_saved(back_body, forward, len(body.outputs), layout)
    saved = [part(out, k) for k in read]
    for k, value in zip(read, saved):  # named for the generated code: saved_h holds h before each step
        out.builder.set_name(value.id, forward.output_names[k])
    init = [cotangents[k] if cotangents[k] is not None else zeros_like(part(out, k)) for k in float_carries]
    init += [zeros_like(captured[k]) for k in float_captured]
    scanned = saved + list(inputs[carries:carries + xs]) + [cotangents[carries + k] for k in with_ct]
    back = apply("scan", *init, *scanned, *captured, body=back_body, carries=len(init), xs=len(scanned),
                 length=length, reverse=not reverse, checkpoint=checkpoint)
    results: list[Value | None] = [None] * len(inputs)
    for j, k in enumerate(float_carries):
        results[k] = part(back, j)
    for j, k in enumerate(float_captured):
        results[carries + xs + k] = part(back, len(float_carries) + j)
    for j, k in enumerate(float_xs):
        results[carries + k] = part(back, len(init) + j)
    return results


def _live_carries(body: Graph, carries: int, seeded: list[int], ys: list[int]) -> list[int]:
    """The float carries whose cotangent can be nonzero: those with a cotangent of their own (``seeded``)
    and, step after step, every float carry a live carry or a y with a cotangent depends on."""
    reads: list[set[int]] = []  # the body inputs each node depends on
    position = {node_id: k for k, node_id in enumerate(body.inputs)}
    for node in body.nodes:
        reads.append({position[node.id]} if node.id in position else set().union(*(reads[i] for i in node.inputs)))
    floats = {k for k in range(carries) if body.nodes[body.inputs[k]].dtype in FLOAT_DTYPES}
    live = set(seeded)
    for y in ys:
        live |= reads[body.outputs[carries + y]] & floats
    while True:
        more = set().union(*(reads[body.outputs[k]] for k in live)) & floats
        if more <= live:
            return sorted(live)
        live |= more


def _scan_jvp(tangents: list[Value | None], out: Value, *inputs: Value, body: Graph, carries: int, xs: int,
              length: int, reverse: bool, checkpoint: str) -> list[Value | None]:
    """The tangent of each result of the loop (None where it is zero): a loop carrying the tangents of
    the float carries beside them, its body pushing tangents through each op's JVP."""
    from gradgen.passes.loop_grad import step_jvp_body

    float_carries = [k for k in range(carries) if inputs[k].node.dtype in FLOAT_DTYPES]
    moving_xs = [k for k in range(xs) if tangents[carries + k] is not None]
    moving_captured = [k for k in range(len(inputs) - carries - xs) if tangents[carries + xs + k] is not None]
    twin = step_jvp_body(body, carries, xs, float_carries, moving_xs, moving_captured)
    init = list(inputs[:carries]) + [tangents[k] if tangents[k] is not None else zeros_like(inputs[k])
                                     for k in float_carries]
    scanned = list(inputs[carries:carries + xs]) + [tangents[carries + k] for k in moving_xs]
    captured = list(inputs[carries + xs:]) + [tangents[carries + xs + k] for k in moving_captured]
    loop = apply("scan", *init, *scanned, *captured, body=twin, carries=len(init), xs=len(scanned), length=length,
                 reverse=reverse, checkpoint=checkpoint)
    ys = len(body.outputs) - carries
    float_ys = [k for k in range(ys) if body.nodes[body.outputs[carries + k]].dtype in FLOAT_DTYPES]
    results: list[Value | None] = [None] * len(body.outputs)
    for j, k in enumerate(float_carries):
        results[k] = part(loop, carries + j)
    for j, k in enumerate(float_ys):
        results[carries + k] = part(loop, len(init) + ys + j)
    return results


class ResultCotangent(NamedTuple):
    """The cotangent of one result of a loop, as ``loop_output``'s VJP hands it to the loop node
    (autodiff gathers them by result and calls the loop's VJP with one per result)."""

    index: int
    value: Value


def part(loop: Value, index: int) -> Value:
    """Result ``index`` of a loop node."""
    return apply("loop_output", loop, index=index)


def without_unread_ys(body: Graph, carries: int, read: set[int]) -> tuple[Graph, dict[int, int]]:
    """A loop's ``body`` without the ys no ``loop_output`` reads (``read``: the result indices that are
    read), and each kept result's new index. Carries stay: each step needs them."""
    kept = [k for k in range(len(body.outputs)) if k < carries or k in read]
    pruned = Graph(body.nodes, body.inputs, tuple(body.outputs[k] for k in kept),
                   tuple(body.output_names[k] for k in kept))
    return pruned, {k: j for j, k in enumerate(kept)}


def saving_attrs(node: Node) -> dict[str, Any]:
    """The attrs of ``node``'s loop made to also stack, as extra ys, what its reverse sweep reads: with
    ``checkpoint="carry"`` the carry each step starts from (the reverse body computes the step again
    from it), by default every value of the step that the reverse sweep's VJP reads (see
    passes/residuals.py)."""
    from gradgen.passes.residuals import saving_body

    params = node.params
    body, carries = params["body"], params["carries"]
    if params["checkpoint"] == "residuals":
        return {**params, "body": saving_body(body, carries, params["xs"])}
    extended = Graph(body.nodes, body.inputs, body.outputs + body.inputs[:carries],
                     body.output_names + tuple(f"saved_{n}" for n in body.input_names[:carries]))
    return {**params, "body": extended}


define(Op("scan", _scan_infer, run_scan, _scan_vjp, None, None, jvp=_scan_jvp, kind="loop",
          doc="A loop over a body graph: carries threaded through the steps, xs scanned along axis 0, "
              "ys stacked."))
define(Op("loop_output", _output_infer, lambda loop, index: loop[index],
          lambda g, out, loop, index: [ResultCotangent(index, g)], None, "{0}[{index}]",
          jvp=lambda t, out, loop, index: t[0][index] if t[0] is not None else None, kind="part",
          reads_forward=False, np_aliases=True, doc="One result of a loop node."))
