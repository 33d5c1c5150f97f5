"""Variance, standard deviation, norms and the vector products, written in the DSL from sums, products
and views. Where the textbook formula's gradient is 0 / 0 (the standard deviation of equal entries, the
2-norm of zeros) these take the subgradient 0 instead of NaN; ``np.linalg.norm(x)`` on a traced value is
``norm(x)``. On plain numbers and arrays each is NumPy's function."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from gradgen.dsl.value import Value
from gradgen.errors import InputError, ShapeError
from gradgen.ops import functions as F
from gradgen.ops.core import normalize_axes
from gradgen.ops.decompositions import svdvals


def var(x: Any, axis: Any = None, ddof: int = 0, keepdims: bool = False) -> Any:
    """The variance over ``axis``: sum((x - mean)²) / (n - ddof), as ``np.var`` (inf or NaN where n <= ddof)."""
    if not isinstance(x, Value):
        return np.var(x, axis=axis, ddof=ddof, keepdims=keepdims)
    count = math.prod(x.shape[a] for a in normalize_axes(axis, x.ndim, "var"))
    deviation = x - F.mean(x, axis=axis, keepdims=True)
    return F.sum(deviation * deviation, axis=axis, keepdims=keepdims) / float(max(count - ddof, 0))


def _safe_sqrt(s: Any) -> Any:
    """sqrt(s), with gradient 0 where s is 0 (sqrt'(0) is inf, which would meet a zero and give NaN)."""
    zero = s == 0.0
    return F.where(zero, 0.0, F.sqrt(F.where(zero, 1.0, s)))


def std(x: Any, axis: Any = None, ddof: int = 0, keepdims: bool = False) -> Any:
    """The standard deviation over ``axis``, as ``np.std``; its gradient is 0 where all entries are equal."""
    if not isinstance(x, Value):
        return np.std(x, axis=axis, ddof=ddof, keepdims=keepdims)
    return _safe_sqrt(var(x, axis=axis, ddof=ddof, keepdims=keepdims))


def _vector_norm(x: Any, order: Any, axis: tuple[int, ...], keepdims: bool) -> Any:
    if order is None or order == 2:
        return _safe_sqrt(F.sum(x * x, axis=axis, keepdims=keepdims))
    if order == np.inf:
        return F.max(F.abs(x), axis=axis, keepdims=keepdims)
    if order == -np.inf:
        return F.min(F.abs(x), axis=axis, keepdims=keepdims)
    if order == 0:
        return F.sum(F.cast(x != 0.0, x.node.dtype), axis=axis, keepdims=keepdims)
    if order == 1:
        return F.sum(F.abs(x), axis=axis, keepdims=keepdims)
    if isinstance(order, str):
        raise InputError(f"norm: ord={order!r} is a matrix norm; give two axes (or a 2-D array) for it")
    return F.sum(F.abs(x) ** float(order), axis=axis, keepdims=keepdims) ** (1.0 / float(order))


def _matrix_norm(x: Any, order: Any, axes: tuple[int, int], keepdims: bool) -> Any:
    rows, columns = axes
    if order is None or order == "fro":
        return _safe_sqrt(F.sum(x * x, axis=axes, keepdims=keepdims))
    if order in (1, -1, np.inf, -np.inf):
        summed, over = (rows, columns) if order in (1, -1) else (columns, rows)
        sums = F.sum(F.abs(x), axis=summed, keepdims=True)
        pick = F.max if order in (1, np.inf) else F.min
        result = pick(sums, axis=over, keepdims=True)
        return result if keepdims else F.reshape(result, tuple(n for a, n in enumerate(x.shape) if a not in axes))
    if order not in (2, -2, "nuc"):
        raise InputError(f"norm: ord={order!r} is no matrix norm; ord may be None, 'fro', 'nuc', 1, -1, 2, -2, "
                         "inf or -inf")
    values = svdvals(F.moveaxis(x, axes, (-2, -1)))  # of each matrix, in a stack of them
    result = F.sum(values, axis=-1) if order == "nuc" else values[..., 0] if order == 2 else values[..., -1]
    return F.expand_dims(result, tuple(sorted(axes))) if keepdims else result


def norm(x: Any, ord: Any = None, axis: Any = None, keepdims: bool = False) -> Any:  # noqa: A002 - NumPy's name
    """``np.linalg.norm``: a vector norm (ord None or 2, 1, inf, -inf, 0 or any p) over one axis or a whole
    1-D array, a matrix norm (None or 'fro', 'nuc', 1, -1, 2, -2, inf, -inf; the last three from the singular
    values, of a 2-D array only) over two axes or a whole 2-D array; with
    ``axis=None`` and ``ord=None``, the 2-norm of all the entries."""
    if not isinstance(x, Value):
        return np.linalg.norm(x, ord, axis, keepdims)
    if axis is None and ord is None:
        result = _safe_sqrt(F.sum(x * x))
        return F.reshape(result, (1,) * x.ndim) if keepdims else result
    if axis is None:
        if x.ndim not in (1, 2):
            raise ShapeError(f"norm: ord={ord!r} needs a 1-D or 2-D array or an axis, got shape {x.shape}")
        axis = tuple(range(x.ndim))
    axes = normalize_axes(axis, x.ndim, "norm")
    if len(axes) == 1:
        return _vector_norm(x, ord, axes, keepdims)
    if len(axes) == 2 and axes[0] != axes[1]:
        order = tuple(axis) if isinstance(axis, (tuple, list)) else axes
        return _matrix_norm(x, ord, tuple(a % x.ndim for a in order), keepdims)
    raise InputError(f"norm: axis must be one axis or two different ones, got {axis!r}")


def outer(a: Any, b: Any) -> Any:
    """The outer product of ``ravel(a)`` and ``ravel(b)``."""
    if not isinstance(a, Value) and not isinstance(b, Value):
        return np.outer(a, b)
    a, b = F.reshape(a, (-1, 1)), F.reshape(b, (1, -1))
    return a * b


def inner(a: Any, b: Any) -> Any:
    """The sum over the last axes of ``a`` and ``b`` of their products (scalars multiply)."""
    if not isinstance(a, Value) and not isinstance(b, Value):
        return np.inner(a, b)
    sa, sb = np.shape(a) if not isinstance(a, Value) else a.shape, np.shape(b) if not isinstance(b, Value) else b.shape
    if not sa or not sb:
        return a * b
    if sa[-1] != sb[-1]:
        raise ShapeError(f"inner: the last axes differ, {sa} and {sb}; they must have one length")
    left, right = F.reshape(a, (-1, sa[-1])), F.reshape(b, (-1, sb[-1]))
    return F.reshape(left @ F.transpose(right), sa[:-1] + sb[:-1])


def vdot(a: Any, b: Any) -> Any:
    """The dot product of ``ravel(a)`` and ``ravel(b)`` (real: no conjugate)."""
    if not isinstance(a, Value) and not isinstance(b, Value):
        return np.vdot(a, b)
    return F.sum(F.reshape(a, (-1,)) * F.reshape(b, (-1,)))


def kron(a: Any, b: Any) -> Any:
    """The Kronecker product: the blocks a[i, j] * b, as ``np.kron`` (for arrays of any number of axes)."""
    if not isinstance(a, Value) and not isinstance(b, Value):
        return np.kron(a, b)
    sa, sb = np.shape(a) if not isinstance(a, Value) else a.shape, np.shape(b) if not isinstance(b, Value) else b.shape
    ndim = max(len(sa), len(sb))
    sa, sb = (1,) * (ndim - len(sa)) + tuple(sa), (1,) * (ndim - len(sb)) + tuple(sb)
    left = F.reshape(a, tuple(d for n in sa for d in (n, 1)))
    right = F.reshape(b, tuple(d for n in sb for d in (1, n)))
    return F.reshape(left * right, tuple(m * n for m, n in zip(sa, sb)))
