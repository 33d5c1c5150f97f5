"""The bodies of a loop's derivatives: one step's VJP (for the reverse sweep) and its JVP.

The reverse sweep's body computes one step's VJP from the carry that step started from.

Given a forward body ``(c, x, z) -> (c', y)`` (carries, one slice of each
scanned array, captured values), the reverse body takes

- carries: the cotangent of each float carry ``ct_c`` and an accumulator
  ``acc_z`` for each float captured value;
- scanned: the saved carry ``c`` of the step, its ``x`` and the cotangent
  ``ct_y`` of each y that has one;
- captured: the same ``z``;

and returns ``(dJ/dc, acc_z + dJ/dz)`` as its next carries and ``dJ/dx`` for
each float x as its y. The step's forward values are computed again from
``c`` inside this body (what ``checkpoint="carry"`` runs); by default
``passes/residuals.py`` then makes it read the values the forward loop saved
instead. The VJP itself is ``differentiate`` applied to
``sum(c' * ct_c) + sum(y * ct_y)``, whose gradient with respect to
``(c, x, z)`` is exactly the step's VJP.
"""

from __future__ import annotations

from collections.abc import Sequence

from gradgen.dsl.value import Value
from gradgen.ir.builder import GraphBuilder
from gradgen.ir.graph import FLOAT_DTYPES, Graph, Node
from gradgen.ops import functions as F
from gradgen.ops.core import constant
from gradgen.passes.dce import eliminate_dead_code
from gradgen.passes.forward import push_tangents
from gradgen.passes.rebuild import replay
from gradgen.passes.simplify import filled, simplify_rewriter


def _inputs_to(mapped: list[int]):
    """A replay expander sending the body's k-th input node to ``mapped[k]``."""
    order: dict[int, int] = {}

    def expand(builder: GraphBuilder, node: Node, mapping: list[int]) -> int | None:
        if node.op != "input":
            return None
        order.setdefault(node.id, len(order))
        return mapped[order[node.id]]

    return expand


def step_vjp_body(body: Graph, carries: int, xs: int, float_carries: Sequence[int], float_captured: Sequence[int],
                  with_cotangent: Sequence[int], float_xs: Sequence[int], guard: bool = False) -> Graph:
    """The reverse body described in the module docstring, for the carries ``float_carries``, the captured
    values ``float_captured`` and the scanned ``float_xs`` (``with_cotangent``: the ys that have one);
    with ``guard``, a zero cotangent stays zero through every op that reads forward values."""
    from gradgen.passes.autodiff import differentiate

    params = [body.nodes[i] for i in body.inputs]
    names = [p.params["name"] for p in params]
    captured = params[carries + xs:]
    builder = GraphBuilder(simplify_rewriter)

    def add_input(name: str, node: Node) -> int:
        return builder.input(name, node.shape, node.dtype)

    ct_carry = [add_input(f"ct_{names[k]}", params[k]) for k in float_carries]
    accumulators = [add_input(f"acc_{captured[k].params['name']}", captured[k]) for k in float_captured]
    state = [add_input(names[k], params[k]) for k in range(carries)]
    slices = [add_input(names[carries + k], params[carries + k]) for k in range(xs)]
    ys = [body.nodes[body.outputs[carries + k]] for k in with_cotangent]
    ct_ys = [add_input(f"ct_{body.output_names[carries + k]}", y) for k, y in zip(with_cotangent, ys)]
    closed = [add_input(p.params["name"], p) for p in captured]
    mapping = replay(body, builder, _inputs_to(state + slices + closed))

    terms = [F.sum(Value(builder, mapping[body.outputs[k]]) * Value(builder, ct))
             for k, ct in zip(float_carries, ct_carry)]
    terms += [F.sum(Value(builder, mapping[body.outputs[carries + k]]) * Value(builder, ct))
              for k, ct in zip(with_cotangent, ct_ys)]
    total = terms[0] if terms else constant(builder, 0.0)
    for term in terms[1:]:
        total = total + term
    objective = builder.finish((total.id,), ("J",))

    wrt = ([builder.nodes[state[k]].params["name"] for k in float_carries]
           + [builder.nodes[slices[k]].params["name"] for k in float_xs]
           + [builder.nodes[closed[k]].params["name"] for k in float_captured])
    step = differentiate(objective, wrt, guarded=guard)
    grads = dict(zip(wrt, step.outputs[1:]))

    final = GraphBuilder(simplify_rewriter)
    again = replay(step, final)
    by_name = {step.nodes[i].params["name"]: again[i] for i in step.inputs}

    def grad(name: str) -> Value:
        return Value(final, again[grads[name]])

    outputs = [grad(n).id for n in wrt[:len(float_carries)]]
    for k, acc in zip(float_captured, accumulators):
        name = builder.nodes[closed[k]].params["name"]
        outputs.append((Value(final, by_name[builder.nodes[acc].params["name"]]) + grad(name)).id)
    outputs += [grad(builder.nodes[slices[k]].params["name"]).id for k in float_xs]
    output_names = ([f"d_{names[k]}" for k in float_carries]
                    + [f"acc_{captured[k].params['name']}" for k in float_captured]
                    + [f"d_{names[carries + k]}" for k in float_xs])
    # Loops in the body keep every y: the forward body's copies of them must stay the same loops, so
    # that passes/residuals.py finds which of their values the forward loop saves.
    return eliminate_dead_code(final.finish(tuple(outputs), tuple(output_names)), prune_loops=False)


def step_jvp_body(body: Graph, carries: int, xs: int, float_carries: Sequence[int], moving_xs: Sequence[int],
                  moving_captured: Sequence[int]) -> Graph:
    """The body of a loop's forward-mode twin: inputs ``(c, ċ), (x, ẋ), (z, ż)`` (a tangent for each float
    carry, each x in ``moving_xs`` and each captured value in ``moving_captured``), outputs ``(c', ċ')`` as
    its carries and ``(y, ẏ)`` (a tangent for each float y) as its ys; tangents pushed node by node with
    each op's JVP."""
    params = [body.nodes[i] for i in body.inputs]
    captured = len(params) - carries - xs
    builder = GraphBuilder(simplify_rewriter)

    def add_input(name: str, node: Node) -> int:
        return builder.input(name, node.shape, node.dtype)

    groups = [(range(carries), float_carries), (range(carries, carries + xs), [carries + k for k in moving_xs]),
              (range(carries + xs, carries + xs + captured), [carries + xs + k for k in moving_captured])]
    primal: list[int] = []
    tangent_of: dict[int, Value] = {}
    for positions, moving in groups:
        primal += [add_input(params[k].params["name"], params[k]) for k in positions]
        for k in moving:
            tangent_of[body.inputs[k]] = Value(builder, add_input(f"{params[k].params['name']}_dot", params[k]))
    mapping = replay(body, builder, _inputs_to(primal))
    push_tangents(body, builder, mapping, tangent_of)

    def tangent(node_id: int) -> int:
        found = tangent_of.get(node_id)
        node = body.nodes[node_id]
        return found.id if found is not None else filled(builder, 0.0, node.shape, node.dtype)

    carry_out, y_out = body.outputs[:carries], body.outputs[carries:]
    float_ys = [i for i in y_out if body.nodes[i].dtype in FLOAT_DTYPES]
    outputs = ([mapping[i] for i in carry_out] + [tangent(carry_out[k]) for k in float_carries]
               + [mapping[i] for i in y_out] + [tangent(i) for i in float_ys])
    names = (list(body.output_names[:carries]) + [f"{body.output_names[k]}_dot" for k in float_carries]
             + list(body.output_names[carries:])
             + [f"{body.output_names[carries + y_out.index(i)]}_dot" for i in float_ys])
    return eliminate_dead_code(builder.finish(tuple(outputs), tuple(names)))
