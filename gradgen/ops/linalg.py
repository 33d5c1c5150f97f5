"""Matrix products: ``matmul`` for vectors and matrices (the NumPy ``@`` rules up to 2-D; beyond, see
``contractions``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from gradgen.dsl.value import Value
from gradgen.errors import ShapeError
from gradgen.ir.graph import ConstArray, Node
from gradgen.ops.core import apply, builder_of, cast, constant, result_dtype
from gradgen.ops.registry import Op, define
from gradgen.ops.shape import reshape, transpose


def _matmul_infer(inputs: Sequence[Node], attrs: dict) -> tuple[tuple[int, ...], str]:
    a, b = inputs
    if a.dtype != b.dtype:
        raise ShapeError(f"matmul: dtypes differ ({a.dtype} and {b.dtype})")
    if not (1 <= len(a.shape) <= 2 and 1 <= len(b.shape) <= 2):
        raise ShapeError(f"matmul: operands must be 1-D or 2-D, got shapes {a.shape} and {b.shape}")
    inner_a = a.shape[-1]
    inner_b = b.shape[0]
    if inner_a != inner_b:
        raise ShapeError(f"matmul: shapes {a.shape} and {b.shape} do not fit "
                         f"(inner dimensions {inner_a} and {inner_b} differ)")
    return a.shape[:-1] + b.shape[1:], a.dtype


def _outer(column: Any, row: Any) -> Any:
    """The outer product of two vectors, as the product of a column and a row."""
    return reshape(column, (column.shape[0], 1)) @ reshape(row, (1, row.shape[0]))


def _matmul_vjp(g: Any, out: Any, a: Any, b: Any) -> tuple[Any, Any]:
    # Vector operands stay vectors: the gradient of X @ w for w is X.T @ g, a
    # matrix-vector product the C backend fuses into the loop over X's rows.
    if b.ndim == 2:
        da = g @ transpose(b)
    else:
        da = _outer(g, b) if a.ndim == 2 else g * b
    if a.ndim == 2:
        db = transpose(a) @ g
    else:
        db = _outer(a, g) if b.ndim == 2 else g * a
    return da, db


def _one_hot(t: Any) -> tuple[int, float] | None:
    """``(j, c)`` for a constant vector ``c e_j`` (a basis direction of a Jacobian or Hessian), else None."""
    value = t.node.params.get("value") if t.node.op == "const" and t.ndim == 1 else None
    if not isinstance(value, ConstArray):
        return None
    nonzero = np.flatnonzero(value.array)
    return (int(nonzero[0]), float(value.array[nonzero[0]])) if len(nonzero) == 1 else None


def _times_tangent(x: Any, t: Any, left: bool) -> Any:
    """``t @ x`` (``left``) or ``x @ t``; for a basis direction ``t = c e_j``, the slice of ``x`` it picks,
    its zeros structural (a derivative along e_j does not read the other entries, even inf ones)."""
    picked = _one_hot(t)
    if picked is None:
        return t @ x if left else x @ t
    j, c = picked
    index = (j,) if left or x.ndim == 1 else (slice(None), j)
    return x[index] if c == 1.0 else c * x[index]


def _matmul_jvp(t: Sequence[Any], out: Any, a: Any, b: Any) -> Any:
    terms = [_times_tangent(b, t[0], left=True) if t[0] is not None else None,
             _times_tangent(a, t[1], left=False) if t[1] is not None else None]
    return terms[0] if terms[1] is None else terms[1] if terms[0] is None else terms[0] + terms[1]


define(Op("matmul", _matmul_infer, np.matmul, _matmul_vjp, None, "{0} @ {1}", jvp=_matmul_jvp,
          kind="product", lowering="gemm",
          doc="Matrix product of 1-D or 2-D operands (vector-vector is the dot product)."))


def matmul(a: Any, b: Any) -> Any:
    """``a @ b``: a primitive for 1-D and 2-D operands; beyond, matrix products over the last two axes with
    the others broadcast, as NumPy (``contractions.batched_matmul``)."""
    builder = builder_of([a, b])
    if builder is None:
        return np.matmul(a, b)
    shapes = [x.shape if isinstance(x, Value) else np.shape(x) for x in (a, b)]
    if not all(shapes):
        raise ShapeError(f"matmul: operands must have at least one axis, got shapes {shapes[0]} and {shapes[1]}; "
                         "use * to multiply by a scalar")
    if max(map(len, shapes)) > 2:
        from gradgen.ops.contractions import batched_matmul  # written with matmul itself

        return batched_matmul(a, b)
    dtype = result_dtype([a, b])
    a, b = (cast(constant(builder, x, dtype if not isinstance(x, Value) else None), dtype) for x in (a, b))
    return apply("matmul", a, b)
