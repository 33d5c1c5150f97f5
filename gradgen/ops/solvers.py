"""Dense linear algebra on square matrices: ``solve``, ``solve_triangular``, ``cholesky``, ``det`` and
``slogdet`` as primitives on one matrix, ``inv`` as ``solve(a, eye)``; stacks of matrices one by one
(``stacks``).

Each primitive's C form is a routine of the C runtime (``csrc/gradgen_runtime.h``, named by the op's
``routine`` field) working in double precision on copies of its operands: LU with partial pivoting,
Cholesky, forward and back substitution, O(n^3) loops for the small and middle-sized matrices a gradient
kernel meets. Their derivatives are the standard ones, written with the same primitives (so they can be
differentiated again):

- ``x = solve(a, b)``: ``db = solve(a.T, g)``, ``da = -db x.T``.
- ``x = solve_triangular(a, b, lower)``: the same with the transposed triangle, ``da`` kept to the triangle
  ``a`` is read from.
- ``l = cholesky(a)`` reads the lower triangle of ``a`` only (as NumPy does), so its gradient lies there:
  with ``phi(m)`` the lower triangle of ``m`` with its diagonal halved and ``s = l^-T phi(l.T g) l^-1``,
  ``da = phi(s + s.T)``. For a symmetric perturbation this is the gradient JAX and autograd give.
- ``det(a)``: ``da = g det(a) inv(a).T``; ``log|det(a)|``: ``da = g inv(a).T``; the sign has gradient 0.

A singular matrix (a zero pivot) or one that is not positive definite (Cholesky) raises ``InputError``
on both backends, where NumPy raises ``LinAlgError``; ``det`` and ``slogdet`` of a singular matrix are 0
and (0, -inf), as NumPy gives, but their gradients need ``inv(a)`` and raise there.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from gradgen.dsl.value import Value
from gradgen.errors import InputError, ShapeError
from gradgen.ir.graph import FLOAT_DTYPES, Node
from gradgen.ops import functions as F
from gradgen.ops.core import apply, builder_of, cast, constant, result_dtype
from gradgen.ops.registry import Op, define
from gradgen.ops.stacks import over_stacks


# --- shape rules ----------------------------------------------------------------------------------------
def _square(name: str, a: Node | np.ndarray) -> int:
    shape = a.shape
    if len(shape) != 2 or shape[0] != shape[1]:
        raise ShapeError(f"{name}: the matrix must be square, got shape {shape}")
    return shape[0]


def _solve_infer(name: str) -> Any:
    def infer(inputs: Sequence[Node], attrs: dict) -> tuple[tuple[int, ...], str]:
        a, b = inputs
        n = _square(name, a)
        if a.dtype != b.dtype or a.dtype not in FLOAT_DTYPES:
            raise ShapeError(f"{name}: the matrix and the right-hand side must be floats of one dtype, got "
                             f"{a.dtype} and {b.dtype}")
        if b.shape[:1] != (n,) or len(b.shape) > 2:
            raise ShapeError(f"{name}: the right-hand side must have shape ({n},) or ({n}, k) for a matrix of "
                             f"shape {a.shape}, got {b.shape}")
        return b.shape, b.dtype
    return infer


def _matrix_infer(name: str, result: str) -> Any:
    def infer(inputs: Sequence[Node], attrs: dict) -> tuple[tuple[int, ...], str]:
        (a,) = inputs
        _square(name, a)
        if a.dtype not in FLOAT_DTYPES:
            raise ShapeError(f"{name}: the matrix must hold floats, got {a.dtype}")
        return (a.shape if result == "matrix" else ()), a.dtype
    return infer


# --- NumPy evaluation (the reference and the Python backend) ------------------------------------------
#: What each op that can fail needs instead, for its error message.
_NEEDS = {"cholesky": "a symmetric positive definite matrix (check it, or add a multiple of eye to it)",
          "solve_triangular": "a triangle without zeros on its diagonal",
          "solve": "an invertible matrix (for a least-squares answer, solve the normal equations)",
          "inv": "an invertible matrix (to solve a x = b, gg.linalg.solve is faster and more accurate)",
          "inverse_gaps": "distinct eigenvalues (singular values) for the derivative of eigh's eigenvectors or "
                          "svd's singular vectors, which are not unique otherwise, and for the second derivative "
                          "of the values (their first derivative exists)"}


def singular(name: str, what: str) -> InputError:
    """The error for op ``name`` given a matrix that is ``what`` ("singular"), on either backend."""
    return InputError(f"{name}: the matrix is {what}; {name} needs {_NEEDS[name]}")


def solve_array(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``np.linalg.solve`` raising ``InputError`` for a singular matrix."""
    try:
        return np.linalg.solve(a, b)
    except np.linalg.LinAlgError:
        raise singular("solve", "singular") from None


def solve_triangular_array(a: np.ndarray, b: np.ndarray, lower: bool) -> np.ndarray:
    """``a x = b`` with only the lower (or upper) triangle of ``a`` read: substitution, row by row, as the
    C runtime does it; ``InputError`` for a zero on the diagonal."""
    if (np.diagonal(a) == 0).any():
        raise singular("solve_triangular", "singular (a zero on its diagonal)")
    n = a.shape[0]
    x = np.array(b, dtype=np.result_type(a, b))
    for i in range(n) if lower else range(n - 1, -1, -1):
        solved = slice(0, i) if lower else slice(i + 1, n)
        x[i] = (b[i] - a[i, solved] @ x[solved]) / a[i, i]
    return x


def cholesky_array(a: np.ndarray) -> np.ndarray:
    """``np.linalg.cholesky`` (the lower triangle of ``a`` is read) raising ``InputError``."""
    if np.isnan(np.tril(a)).any():  # NumPy's LAPACK call may not notice; NaN in, NaN out
        return np.tril(np.full_like(a, np.nan))
    try:
        return np.linalg.cholesky(a)
    except np.linalg.LinAlgError:
        raise singular("cholesky", "not positive definite") from None


def det_sign_array(a: np.ndarray) -> np.ndarray:
    """The sign of ``det(a)``, as ``np.linalg.slogdet``'s, but NaN where the determinant is (NumPy says 1)."""
    sign, log_abs = np.linalg.slogdet(a)
    return np.asarray(sign if log_abs == log_abs else log_abs, dtype=a.dtype)


# --- derivatives ------------------------------------------------------------------------------------------
def _times_row(column: Any, x: Any) -> Any:
    """``column x.T`` for a right-hand side ``x`` that is a vector or a matrix."""
    return F.outer(column, x) if x.ndim == 1 else column @ F.transpose(x)


def _solve_vjp(g: Any, x: Any, a: Any, b: Any) -> tuple[Any, Any]:
    db = solve(F.transpose(a), g)
    return -_times_row(db, x), db


def _solve_jvp(t: Sequence[Any], x: Any, a: Any, b: Any) -> Any:
    change = F.add_tangents(t[1], None if t[0] is None else -(t[0] @ x))
    return solve(a, change)


def _triangle(x: Any, lower: bool) -> Any:
    return F.tril(x) if lower else F.triu(x)


def _solve_triangular_vjp(g: Any, x: Any, a: Any, b: Any, lower: bool) -> tuple[Any, Any]:
    db = solve_triangular(F.transpose(a), g, lower=not lower)
    return -_triangle(_times_row(db, x), lower), db


def _solve_triangular_jvp(t: Sequence[Any], x: Any, a: Any, b: Any, lower: bool) -> Any:
    change = F.add_tangents(t[1], None if t[0] is None else -(_triangle(t[0], lower) @ x))
    return solve_triangular(a, change, lower=lower)


def _phi(m: Any) -> Any:
    """The lower triangle of ``m`` with its diagonal halved."""
    return F.tril(m) - 0.5 * F.diag(F.diagonal(m))


def _cholesky_vjp(g: Any, l: Any, a: Any) -> tuple[Any]:  # noqa: E741 - the factor's usual name
    lt = F.transpose(l)
    p = _phi(lt @ F.tril(g))  # the upper entries of l are zeros, not outputs: their cotangent is dropped
    y = F.transpose(solve_triangular(lt, F.transpose(p), lower=False))  # p l^-1
    s = solve_triangular(lt, y, lower=False)  # l^-T p l^-1
    return (_phi(s + F.transpose(s)),)


def _cholesky_jvp(t: Sequence[Any], l: Any, a: Any) -> Any:  # noqa: E741
    read = F.tril(t[0]) + F.transpose(F.tril(t[0], -1))  # the symmetric matrix the lower triangle stands for
    z = solve_triangular(l, read, lower=True)  # l^-1 da
    m = F.transpose(solve_triangular(l, F.transpose(z), lower=True))  # l^-1 da l^-T
    return l @ _phi(m)


def _inverse_transpose(a: Any) -> Any:
    return solve(F.transpose(a), constant(a.builder, np.eye(a.shape[0]), a.node.dtype))


def _trace_of_solve(a: Any, t: Any) -> Any:
    return F.trace(solve(a, t))


define(Op("solve", _solve_infer("solve"), solve_array, _solve_vjp, None, "linalg_solve({0}, {1})", jvp=_solve_jvp,
          routine="gg_solve", failure="singular", np_helper=("linalg_solve", solve_array),
          doc="x with a x = b for a square matrix a (LU with partial pivoting); b a vector or a matrix."))
define(Op("solve_triangular", _solve_infer("solve_triangular"), solve_triangular_array, _solve_triangular_vjp,
          None, "linalg_solve_triangular({0}, {1}, {lower})", jvp=_solve_triangular_jvp, routine="gg_solve_triangular",
          failure="singular (a zero on its diagonal)",
          np_helper=("linalg_solve_triangular", solve_triangular_array),
          doc="x with a x = b, a's lower (or upper) triangle read, by substitution."))
define(Op("cholesky", _matrix_infer("cholesky", "matrix"), cholesky_array, _cholesky_vjp, None, "linalg_cholesky({0})",
          jvp=_cholesky_jvp, routine="gg_cholesky", failure="not positive definite",
          np_helper=("linalg_cholesky", cholesky_array),
          doc="The lower-triangular l with l l.T = a, from a's lower triangle."))
define(Op("det", _matrix_infer("det", "scalar"), lambda a: np.asarray(np.linalg.det(a), a.dtype),
          lambda g, out, a: (g * out * _inverse_transpose(a),), None, "np.linalg.det({0})",
          jvp=lambda t, out, a: out * _trace_of_solve(a, t[0]), routine="gg_det",
          doc="The determinant (by LU; 0 for a singular matrix)."))
define(Op("logabsdet", _matrix_infer("slogdet", "scalar"), lambda a: np.asarray(np.linalg.slogdet(a)[1], a.dtype),
          lambda g, out, a: (g * _inverse_transpose(a),), None, "np.linalg.slogdet({0})[1]",
          jvp=lambda t, out, a: _trace_of_solve(a, t[0]), routine="gg_logabsdet",
          doc="log |det a| (-inf for a singular matrix), slogdet's second part."))
define(Op("det_sign", _matrix_infer("slogdet", "scalar"), det_sign_array,
          lambda g, out, a: (None,), None, "linalg_det_sign({0})", jvp=lambda t, out, a: None,
          routine="gg_det_sign", np_helper=("linalg_det_sign", det_sign_array),
          doc="The sign of det a (1, -1, or 0 if singular), slogdet's first part; "
              "its gradient is 0 (NaN for a NaN matrix, where NumPy says 1)."))


# --- the public functions ---------------------------------------------------------------------------------
def _float_matrix(*operands: Any) -> list[Any]:
    """The operands as values of one float dtype (integers become float64), complex refused."""
    builder = builder_of(operands)
    dtype = result_dtype(operands)
    return [cast(constant(builder, x, dtype if not isinstance(x, Value) else None), dtype) for x in operands]


def _right_side_axes(b: Any) -> int:
    """The axes of one right-hand side: a 1-D ``b`` is a vector, else its last two axes are a matrix of
    columns (NumPy 2's rule), the axes before them a stack."""
    return 1 if np.ndim(b) == 1 else 2


def solve(a: Any, b: Any) -> Any:
    """``x`` with ``a @ x == b``, as ``np.linalg.solve`` (``b`` a vector or a matrix of columns; stacks of
    them broadcast)."""
    if builder_of([a, b]) is None:
        return solve_array(np.asarray(a), np.asarray(b))
    stacked = over_stacks("solve", solve, [a, b], [2, _right_side_axes(b)])
    return stacked if stacked is not None else apply("solve", *_float_matrix(a, b))


def solve_triangular(a: Any, b: Any, lower: bool = False) -> Any:
    """``x`` with ``a @ x == b`` reading only ``a``'s lower triangle (``lower=True``) or upper one, as
    ``scipy.linalg.solve_triangular`` (whose default, too, is upper)."""
    if not isinstance(lower, (bool, np.bool_)):
        raise InputError(f"solve_triangular: lower must be True or False, got {lower!r}")
    if builder_of([a, b]) is None:
        return solve_triangular_array(np.asarray(a), np.asarray(b), bool(lower))
    stacked = over_stacks("solve_triangular", lambda a, b: solve_triangular(a, b, lower), [a, b],
                          [2, _right_side_axes(b)])
    return stacked if stacked is not None else apply("solve_triangular", *_float_matrix(a, b), lower=bool(lower))


def _unary(op: str, a: Any, numpy: Any) -> Any:
    if not isinstance(a, Value):
        return numpy(np.asarray(a))
    stacked = over_stacks(op, lambda m: apply(op, *_float_matrix(m)), [a], [2])
    return stacked if stacked is not None else apply(op, *_float_matrix(a))


def cholesky(a: Any) -> Any:
    """The lower-triangular ``l`` with ``l @ l.T == a``, from ``a``'s lower triangle (``np.linalg.cholesky``)."""
    return _unary("cholesky", a, cholesky_array)


def det(a: Any) -> Any:
    """The determinant of a square matrix, as ``np.linalg.det``."""
    return _unary("det", a, np.linalg.det)


class SlogdetResult(NamedTuple):
    """``slogdet``'s answer, as NumPy's: ``det(a) == sign * exp(logabsdet)``."""

    sign: Any
    logabsdet: Any


def slogdet(a: Any) -> SlogdetResult:
    """The sign and the log of the absolute value of the determinant, as ``np.linalg.slogdet``."""
    if not isinstance(a, Value):
        return SlogdetResult(*np.linalg.slogdet(np.asarray(a)))
    stacked = over_stacks("slogdet", slogdet, [a], [2])
    if stacked is not None:
        return SlogdetResult(*stacked)
    (matrix,) = _float_matrix(a)
    return SlogdetResult(apply("det_sign", matrix), apply("logabsdet", matrix))


def inv(a: Any) -> Any:
    """The inverse of a square matrix, as ``np.linalg.inv`` (``solve(a, eye)``)."""
    if not isinstance(a, Value):
        try:
            return np.linalg.inv(np.asarray(a))
        except np.linalg.LinAlgError:
            raise singular("inv", "singular") from None
    stacked = over_stacks("inv", inv, [a], [2])
    if stacked is not None:
        return stacked
    (matrix,) = _float_matrix(a)
    n = _square("inv", matrix)
    return solve(matrix, constant(matrix.builder, np.eye(n), matrix.node.dtype))
