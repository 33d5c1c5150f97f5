"""Derivatives of a function as values of the trace they are taken in: the bodies of ``gg.jvp``,
``gg.vjp``, ``gg.hvp``, ``gg.jacobian`` and ``gg.hessian`` kernels.

Each traces the function into a graph of its own (``nested.Subtrace``), runs the pipeline's passes on
it (stabilize, then reverse mode ``differentiate`` and/or forward mode ``linearize``) and inlines the
result. A Jacobian or Hessian loops over the basis vectors of its inputs (or outputs) with ``gg.scan``:
the values that do not depend on the direction (the function's value, its gradient) are computed once
before the loop, and the loop's body holds only the tangent (or cotangent) sweep, so the C backend
emits one loop over directions instead of one kernel per direction.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from gradgen.dsl.loops import scan
from gradgen.dsl.nested import Subtrace, inline, reaching
from gradgen.dsl.value import Value
from gradgen.errors import GraphError
from gradgen.ir.graph import FLOAT_DTYPES, Graph
from gradgen.ops import functions as F
from gradgen.ops.core import constant, zeros_like
from gradgen.passes.forward import linearize, push_tangents
from gradgen.passes.pipeline import prepare


def _scalar_output(sub: Subtrace) -> Value:
    out = sub.output()
    if out.shape != () or out.node.dtype not in FLOAT_DTYPES:
        raise GraphError(f"{sub.what}: the function must return a scalar float (a loss), got shape {out.shape} "
                         f"and dtype {out.node.dtype}; reduce it (gg.sum, gg.mean), or use gg.jacobian")
    return out


def _float_output(sub: Subtrace) -> Value:
    out = sub.output()
    if out.node.dtype not in FLOAT_DTYPES:
        raise GraphError(f"{sub.what}: the function returns a {out.node.dtype} value, which has no derivative")
    return out


def _tangent_names(lin: Graph, count: int) -> list[str]:
    """The names of the tangent inputs ``linearize`` added (the last ``count`` inputs)."""
    return [lin.nodes[i].params["name"] for i in lin.inputs[len(lin.inputs) - count:]]


def _pieces(vector: Value, shapes: Sequence[tuple[int, ...]], dtypes: Sequence[str]) -> list[Value]:
    """``vector`` cut into consecutive pieces of ``shapes``, each in its dtype."""
    pieces, start = [], 0
    for shape, dtype in zip(shapes, dtypes):
        size = math.prod(shape)
        pieces.append(F.cast(F.reshape(vector[start:start + size], shape), dtype))
        start += size
    return pieces


def _joined(values: Sequence[Value], dtype: str) -> Value:
    """The values flattened, in ``dtype``, and joined into one vector."""
    flat = [F.cast(F.reshape(v, (-1,)), dtype) for v in values]
    return flat[0] if len(flat) == 1 else F.concatenate(flat)


def _over_basis(n: int, dtype: str, step: Callable[[Value], Value]) -> Value:
    """``stack([step(e) for e in the rows of eye(n)])``, as one loop."""
    _, ys = scan(lambda carry, e: (carry, step(e)), (), np.eye(n, dtype=dtype))
    return ys


#: Up to this many directions, a Jacobian or a Hessian takes the basis vectors one after another as
#: constants: their zero entries are no tangents at all, so each direction computes only what it moves
#: (a column of a Jacobian costs what its nonzero entries need). Beyond, one loop over the directions.
UNROLLED_DIRECTIONS = 16


def _along_basis(graph: Graph, sub: Subtrace, sources: Sequence[str], shapes: Sequence[tuple[int, ...]],
                 dtype: str, result: Callable[[Callable[[int], Value], int], Value],
                 join: Callable[[list[Value]], Value] = F.stack) -> tuple[dict[int, Value], Value]:
    """``graph`` inlined once, then its tangents pushed along each basis vector of the ``sources``
    inputs (a constant, so its zeros drop out), each direction ``k``'s ``result(tangent, k)`` joined
    (stacked, by default)."""
    values = inline(graph, sub.outer, sub.bound)
    mapping = [values[i].id for i in range(len(graph.nodes))]
    ids = [next(i for i in graph.inputs if graph.nodes[i].params["name"] == name) for name in sources]
    n = sum(math.prod(s) for s in shapes)
    rows = []
    for k in range(n):
        tangent_of: dict[int, Any] = {}
        start = 0
        for node_id, shape in zip(ids, shapes):
            size = math.prod(shape)
            if start <= k < start + size:
                row = np.eye(n, dtype=graph.nodes[node_id].dtype)[k, start:start + size]
                tangent_of[node_id] = constant(sub.outer, row.reshape(shape))
            start += size
        push_tangents(graph, sub.outer, mapping, tangent_of)
        rows.append(result(lambda node_id, t=tangent_of: t[node_id] if node_id in t else zeros_like(values[node_id]),
                           k))
    if not rows:  # an input of size 0: no directions, a stack of none
        return values, F.stack([result(lambda node_id: zeros_like(values[node_id]), 0)])[0:0]
    return values, join(rows)


def _dtype(values: Sequence[Value]) -> str:
    return "float32" if all(v.node.dtype == "float32" for v in values) else "float64"


# --- the transforms ---------------------------------------------------------------------------------------
def jvp_at(fn: Callable, names: Sequence[str], primals: Sequence[Value], tangents: dict[str, Value],
           what: str = "gg.jvp") -> tuple[Value, Value]:
    """``(fn(primals), its directional derivative along tangents)``, by forward mode."""
    sub = Subtrace(fn, names, primals, what)
    wrt = list(tangents)
    lin = linearize(prepare(sub.finish([_float_output(sub)]), gradient=False), wrt)
    bound = {**sub.bound, **dict(zip(_tangent_names(lin, len(wrt)), tangents.values()))}
    values = inline(lin, sub.outer, bound)
    return values[lin.outputs[0]], values[lin.outputs[1]]


def gradient_at(fn: Callable, names: Sequence[str], primals: Sequence[Any], wrt: Sequence[str],
                what: str = "gg.grad") -> tuple[Value, list[Value]]:
    """``(fn(primals), [d fn / d w for w in wrt])`` for a scalar ``fn``, by reverse mode, in the trace."""
    sub = Subtrace(fn, names, primals, what)
    graph = prepare(sub.finish([_scalar_output(sub)]), gradient=True, wrt=list(wrt))
    values = inline(graph, sub.outer, sub.bound)
    return values[graph.outputs[0]], [values[i] for i in graph.outputs[1:]]


def _vjp_graph(sub: Subtrace, wrt: Sequence[str]) -> tuple[Graph, str]:
    """The graph of ``(<out, cotangent>, its gradient wrt ``wrt``, out)`` and its cotangent input's name."""
    out = _float_output(sub)
    cotangent = sub.input("cotangent", out.shape, out.node.dtype)
    graph = sub.finish([F.sum(out * cotangent), out])
    name = graph.nodes[cotangent.id].params["name"]
    return prepare(graph, gradient=True, wrt=list(wrt), aux=1), name


def vjp_at(fn: Callable, names: Sequence[str], primals: Sequence[Value], wrt: Sequence[str], cotangent: Value,
           what: str = "gg.vjp") -> tuple[Value, list[Value]]:
    """``(fn(primals), [cotangent . d fn / d w for w in wrt])``, by reverse mode."""
    sub = Subtrace(fn, names, primals, what)
    graph, name = _vjp_graph(sub, wrt)
    values = inline(graph, sub.outer, {**sub.bound, name: cotangent})
    return values[graph.outputs[-1]], [values[i] for i in graph.outputs[1:-1]]


def _hvp_graph(sub: Subtrace, wrt: Sequence[str]) -> Graph:
    """Forward over reverse: outputs ``J, grads..., J_dot, (H v) pieces...``, tangent inputs for ``wrt``."""
    gradient = prepare(sub.finish([_scalar_output(sub)]), gradient=True, wrt=list(wrt))
    return linearize(gradient, list(wrt))


def hvp_at(fn: Callable, names: Sequence[str], primals: Sequence[Value], tangents: dict[str, Value],
           what: str = "gg.hvp") -> tuple[Value, list[Value], list[Value]]:
    """``(J, gradients, H v)`` for the ``tangents`` v, without forming H."""
    sub = Subtrace(fn, names, primals, what)
    wrt = list(tangents)
    lin = _hvp_graph(sub, wrt)
    values = inline(lin, sub.outer, {**sub.bound, **dict(zip(_tangent_names(lin, len(wrt)), tangents.values()))})
    k = len(wrt)
    outs = [values[i] for i in lin.outputs]
    return outs[0], outs[1:1 + k], outs[2 + k:2 + 2 * k]


def _split_loop(graph: Graph, sub: Subtrace, directions: Sequence[str], shapes: Sequence[tuple[int, ...]],
                dtype: str, result: Callable[[dict[int, Value]], Value]) -> tuple[dict[int, Value], Value]:
    """``graph``'s nodes that do not depend on the ``directions`` inputs, inlined once; the others inlined
    into a loop over the basis vectors of the directions (their total size), each step's ``result`` stacked."""
    ids = [next(i for i in graph.inputs if graph.nodes[i].params["name"] == d) for d in directions]
    varying = reaching(graph, ids)
    outside = inline(graph, sub.outer, sub.bound, only={n.id for n in graph.nodes} - varying)

    def step(e: Value) -> Value:
        dtypes = [graph.nodes[i].dtype for i in ids]
        bound = {**sub.bound, **dict(zip(directions, _pieces(e, shapes, dtypes)))}
        return result(inline(graph, e.builder, bound, known=outside))

    return outside, _over_basis(sum(math.prod(s) for s in shapes), dtype, step)


def jacobian_at(fn: Callable, names: Sequence[str], primals: Sequence[Value], wrt: Sequence[str], mode: str,
                what: str = "gg.jacobian") -> tuple[Value, list[Value]]:
    """``(fn(primals), [d fn / d w for w in wrt])``, each of shape ``out.shape + w.shape``; ``mode`` "forward"
    loops over the inputs' directions, "reverse" over the output's, "auto" over the fewer."""
    sub = Subtrace(fn, names, primals, what)
    out = _float_output(sub)
    inputs = [sub.inputs[list(names).index(w)] for w in wrt]
    shapes = [v.shape for v in inputs]
    if mode == "auto":
        mode = "forward" if sum(math.prod(s) for s in shapes) <= out.node.size else "reverse"
    dtype = _dtype([out, *inputs])
    if mode == "forward":
        if sum(math.prod(s) for s in shapes) <= UNROLLED_DIRECTIONS:
            graph = prepare(sub.finish([out]), gradient=False)
            outside, ys = _along_basis(graph, sub, wrt, shapes, dtype, lambda tangent, k: tangent(graph.outputs[0]))
            value = outside[graph.outputs[0]]
        else:
            lin = linearize(prepare(sub.finish([out]), gradient=False), list(wrt))
            outside, ys = _split_loop(lin, sub, _tangent_names(lin, len(wrt)), shapes, dtype,
                                      lambda v: v[lin.outputs[1]])
            value = outside[lin.outputs[0]]
        jacobians, start = [], 0  # ys[k] = d out / d (direction k)
        for shape in shapes:
            size = math.prod(shape)
            block = F.moveaxis(ys[start:start + size], 0, -1)
            jacobians.append(F.reshape(block, out.shape + shape))
            start += size
        return value, jacobians
    graph, name = _vjp_graph(sub, wrt)
    outside, ys = _split_loop(graph, sub, [name], [out.shape], dtype,
                              lambda v: _joined([v[i] for i in graph.outputs[1:-1]], dtype))
    pieces = []  # ys[k] = the gradient of output entry k
    for block, shape in zip(_pieces_of_rows(ys, shapes), shapes):
        pieces.append(F.reshape(block, out.shape + shape))
    return outside[graph.outputs[-1]], pieces


def _pieces_of_rows(matrix: Value, shapes: Sequence[tuple[int, ...]]) -> list[Value]:
    """The column blocks of ``matrix`` holding each of ``shapes``, flattened."""
    blocks, start = [], 0
    for shape in shapes:
        size = math.prod(shape)
        blocks.append(matrix[:, start:start + size])
        start += size
    return blocks


def _lower_triangle_index(n: int) -> np.ndarray:
    """Where entry (i, j) of a symmetric n x n matrix lies in its lower triangle packed column by column
    (column j holding rows j to n - 1)."""
    starts = np.concatenate([[0], np.cumsum(np.arange(n, 0, -1))])[:n]
    i, j = np.maximum.outer(np.arange(n), np.arange(n)), np.minimum.outer(np.arange(n), np.arange(n))
    return starts[j] + i - j


def hessian_at(fn: Callable, names: Sequence[str], primals: Sequence[Value], wrt: Sequence[str],
               what: str = "gg.hessian") -> tuple[Value, list[Value], list[list[Value]]]:
    """``(J, gradients, H)``, ``H[a][b]`` of shape ``a.shape + b.shape``: Hessian-vector products along each
    basis vector, in one loop after one gradient."""
    sub = Subtrace(fn, names, primals, what)
    inputs = [sub.inputs[list(names).index(w)] for w in wrt]
    shapes = [v.shape for v in inputs]
    k = len(wrt)
    n = sum(math.prod(s) for s in shapes)
    if 0 < n <= UNROLLED_DIRECTIONS:
        # Symmetry: along direction j only the entries from j down are computed (the products narrowed to
        # them), the column packed below the others, and H read back from the packed lower triangle.
        graph = prepare(sub.finish([_scalar_output(sub)]), gradient=True, wrt=list(wrt))
        outside, packed = _along_basis(graph, sub, wrt, shapes, _dtype(inputs),
                                       lambda tangent, j: _joined([tangent(i) for i in graph.outputs[1:1 + k]],
                                                                  _dtype(inputs))[j:], F.concatenate)
        full = packed[_lower_triangle_index(n)]
        outputs = graph.outputs
    else:
        lin = _hvp_graph(sub, wrt)
        outside, ys = _split_loop(lin, sub, _tangent_names(lin, k), shapes, _dtype(inputs),
                                  lambda v: _joined([v[i] for i in lin.outputs[2 + k:2 + 2 * k]], _dtype(inputs)))
        full = F.transpose(ys)  # ys[j] = H e_j, the j-th column
        outputs = lin.outputs
    blocks = []
    for a, shape_a in enumerate(shapes):
        start = sum(math.prod(s) for s in shapes[:a])
        row = []
        for b, shape_b in enumerate(shapes):
            column = sum(math.prod(s) for s in shapes[:b])
            piece = full[start:start + math.prod(shape_a), column:column + math.prod(shape_b)]
            row.append(F.reshape(piece, shape_a + shape_b))
        blocks.append(row)
    return outside[outputs[0]], [outside[i] for i in outputs[1:1 + k]], blocks

