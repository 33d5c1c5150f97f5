"""Decompositions of one matrix: ``eigh`` and ``eigvalsh`` (the symmetric eigenproblem), ``svd`` and
``svdvals``, as ``np.linalg`` has them.

Primitives: ``eigvalsh`` and ``eigh_vectors`` of a symmetric matrix (its lower triangle read, as NumPy
reads it), ``svdvals``, ``svd_u`` and ``svd_vt`` of a tall matrix (a wide one is transposed first), and
``inverse_gaps``, the matrix of ``1 / (w[j] - w[i])`` their derivatives are made of. Their C forms are
routines of the C runtime (``csrc/gradgen_routines.h``), in double precision: Jacobi rotations (nothing to
link) or, in a kernel that links the BLAS, LAPACK's; the Python backend calls LAPACK through NumPy, in
double precision too.

Vectors are unique up to sign only; both backends make each column unique the same way: the first of
its entries at least ``1/(2 sqrt(n))`` in magnitude is positive (eigenvectors; for the SVD, the columns
of ``u`` of the tall matrix, the rows of ``vt`` following). Where two eigenvalues (singular values) are
equal (to rounding), the vectors are not unique at all: the backends may give different bases of that
space, and the derivative of anything that reads the vectors raises ``InputError`` there, as does the
second derivative of the values (the first derivative of the values exists everywhere). The
derivatives, written with these primitives so they can be differentiated again, with
``F = inverse_gaps(w)`` (``inverse_gaps(s**2)`` for the SVD):

- ``w = eigvalsh(a)``: ``dw = diag(v.T da v)``; ``dv = v (F * (v.T da v))``, ``da`` the symmetric
  matrix a change of the lower triangle stands for, and back.
- tall ``a = u diag(s) vt``: ``ds = diag(u.T da v)``, ``du = u (F * (ds_ s + s ds_.T)) + (1 - u u.T) da v
  / s``, ``dv = v (F * (s ds_ + ds_.T s))`` with ``ds_ = u.T da v``; their transposes for the gradients.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Callable, NamedTuple

import numpy as np

from gradgen.dsl.value import Value
from gradgen.errors import InputError, ShapeError
from gradgen.ir.graph import FLOAT_DTYPES, Node
from gradgen.ops import functions as F
from gradgen.ops.core import apply, constant
from gradgen.ops.registry import Op, define
from gradgen.ops.solvers import _float_matrix, singular
from gradgen.ops.stacks import over_stacks


# --- shape rules ----------------------------------------------------------------------------------------
def _float_2d(name: str, a: Node) -> tuple[int, int]:
    if len(a.shape) != 2 or a.dtype not in FLOAT_DTYPES:
        raise ShapeError(f"{name}: expected a 2-D matrix of floats, got shape {a.shape} ({a.dtype})")
    return a.shape


def _eigen_infer(name: str, result: str) -> Any:
    def infer(inputs: Sequence[Node], attrs: dict) -> tuple[tuple[int, ...], str]:
        (a,) = inputs
        n, m = _float_2d(name, a)
        if n != m:
            raise ShapeError(f"{name}: the matrix must be square, got shape {a.shape}")
        return ((n,) if result == "values" else (n, n)), a.dtype
    return infer


def _svd_infer(result: str) -> Any:
    def infer(inputs: Sequence[Node], attrs: dict) -> tuple[tuple[int, ...], str]:
        (a,) = inputs
        p, q = _float_2d("svd", a)
        if p < q:
            raise ShapeError(f"svd: the primitives take a tall matrix (rows >= columns), got shape {a.shape}; "
                             "gg.linalg.svd transposes a wide one")
        return {"values": (q,), "u": (p, q), "vt": (q, q)}[result], a.dtype
    return infer


def _gaps_infer(inputs: Sequence[Node], attrs: dict) -> tuple[tuple[int, ...], str]:
    (w,) = inputs
    if len(w.shape) != 1 or w.dtype not in FLOAT_DTYPES:
        raise ShapeError(f"inverse_gaps: expected a vector of floats, got shape {w.shape} ({w.dtype})")
    return (w.shape[0], w.shape[0]), w.dtype


def _matrix_sizes(shapes: Sequence[tuple[int, ...]], out: tuple[int, ...]) -> tuple[int, ...]:
    """The routine's sizes: the rows and the columns of the (tall) matrix."""
    return shapes[0]


# --- NumPy evaluation (the reference and the Python backend) ------------------------------------------
def column_signs(v: np.ndarray) -> np.ndarray:
    """Per column of ``v`` (of each matrix, for a stack), the sign (+1 or -1) that makes the first entry at
    least ``1/(2 sqrt(n))`` in magnitude positive: the rule of the C routines (``gg_fix_sign``)."""
    if v.shape[-2] == 0:
        return np.ones(v.shape[:-2] + v.shape[-1:])
    big = np.abs(v) >= 0.5 / np.sqrt(float(v.shape[-2]))
    first = np.take_along_axis(v, np.argmax(big, axis=-2)[..., None, :], axis=-2)[..., 0, :]
    return np.where(big.any(axis=-2) & (first < 0), -1.0, 1.0)


def _in_double(numpy: Any, symmetric: bool = False) -> Any:
    """``numpy(a)`` (an array or a tuple of them) in double precision, as the C routines work, cast back;
    NaN for a matrix that is not finite (where LAPACK may raise), only the lower triangle counting for a
    ``symmetric`` one."""
    def evaluate(a: np.ndarray) -> Any:
        a64 = np.asarray(a, dtype=np.float64)
        if symmetric:
            a64 = np.tril(a64) + np.tril(a64, -1).T
        finite = bool(np.isfinite(a64).all())
        results = numpy(a64 if finite else np.zeros_like(a64))
        cast = lambda x: np.asarray(x if finite else np.full_like(x, np.nan), dtype=a.dtype)  # noqa: E731
        return tuple(map(cast, results)) if isinstance(results, tuple) else cast(results)
    return evaluate


def signed_eigh(a: np.ndarray, UPLO: str = "L") -> tuple[np.ndarray, np.ndarray]:  # noqa: N803 - NumPy's name
    """``np.linalg.eigh(a, UPLO)`` with each eigenvector's sign fixed."""
    w, v = np.linalg.eigh(a, UPLO)
    return w, v * column_signs(v)[..., None, :]


def signed_svd(a: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The reduced SVD of tall ``a``, each left vector's sign fixed and its right vector following."""
    u, s, vt = np.linalg.svd(a, full_matrices=False)
    signs = column_signs(u)
    return u * signs[..., None, :], s, vt * signs[..., :, None]


_EIGH, _SVD = _in_double(signed_eigh, symmetric=True), _in_double(signed_svd)

#: The evaluations, each decomposition once; array kernels call them as ``linalg_<op>`` (see ``_linalg``).
ARRAYS = {"eigvalsh": _in_double(np.linalg.eigvalsh, symmetric=True), "eigh_vectors": lambda a: _EIGH(a)[1],
          "svdvals": _in_double(lambda a: np.linalg.svd(a, compute_uv=False)), "svd_u": lambda a: _SVD(a)[0],
          "svd_vt": lambda a: _SVD(a)[2]}


def _linalg(op: str) -> tuple[str, Callable[..., Any]]:
    """``op``'s NumPy helper: its evaluation, called ``linalg_<op>`` in array kernels."""
    return f"linalg_{op}", ARRAYS[op]


def inverse_gaps_array(w: np.ndarray) -> np.ndarray:
    """``1 / (w[j] - w[i])``, 0 on the diagonal; ``InputError`` where two of the ``w`` are equal to rounding
    (closer than ``16 n eps`` times the largest magnitude, as the C routine ``gg_inverse_gaps`` decides)."""
    w64 = np.asarray(w, dtype=np.float64)
    gaps = w64[None, :] - w64[:, None]
    off_diagonal = ~np.eye(len(w), dtype=bool)
    tolerance = 16.0 * float(len(w)) * float(np.finfo(np.float64).eps) * float(np.max(np.abs(w64), initial=0.0))
    if (np.abs(gaps[off_diagonal]) <= tolerance).any():
        raise singular("inverse_gaps", DEGENERATE)
    with np.errstate(divide="ignore"):
        return np.where(off_diagonal, 1.0 / np.where(off_diagonal, gaps, 1.0), 0.0).astype(w.dtype)


DEGENERATE = ("degenerate (two of its eigenvalues or singular values are equal to rounding, or a tall one's "
              "singular value is 0)")


# --- derivatives ------------------------------------------------------------------------------------------
def _read(t: Any) -> Any:
    """The symmetric matrix the lower triangle of ``t`` stands for (a tangent of what ``eigh`` reads)."""
    return F.tril(t) + F.transpose(F.tril(t, -1))


def _fold(s: Any) -> Any:
    """The gradient ``s`` of the symmetric matrix, as one of the lower triangle it was read from."""
    return F.tril(s + F.transpose(s)) - F.diag(F.diagonal(s))


def _eigvalsh_vjp(g: Any, w: Any, a: Any) -> tuple[Any]:
    v = apply("eigh_vectors", a)
    return (_fold((v * g) @ F.transpose(v)),)


def _eigvalsh_jvp(t: Sequence[Any], w: Any, a: Any) -> Any:
    v = apply("eigh_vectors", a)
    return F.sum(v * (_read(t[0]) @ v), axis=0)


def _eigh_vectors_vjp(g: Any, v: Any, a: Any) -> tuple[Any]:
    f = apply("inverse_gaps", apply("eigvalsh", a))
    return (_fold(v @ (f * (F.transpose(v) @ g)) @ F.transpose(v)),)


def _eigh_vectors_jvp(t: Sequence[Any], v: Any, a: Any) -> Any:
    f = apply("inverse_gaps", apply("eigvalsh", a))
    return v @ (f * (F.transpose(v) @ _read(t[0]) @ v))


def _inverse_gaps_vjp(g: Any, f: Any, w: Any) -> tuple[Any]:
    turned = g * f * f  # d f[i, j] = -f[i, j]**2 (dw[j] - dw[i])
    return (F.sum(turned, axis=1) - F.sum(turned, axis=0),)


def _inverse_gaps_jvp(t: Sequence[Any], f: Any, w: Any) -> Any:
    n = w.shape[0]
    return -(f * f) * (F.reshape(t[0], (1, n)) - F.reshape(t[0], (n, 1)))


def _svd_parts(a: Any) -> tuple[Any, Any, Any, Any]:
    """``u``, ``s``, ``vt`` of tall ``a`` and ``F = inverse_gaps(s**2)``."""
    s = apply("svdvals", a)
    return apply("svd_u", a), s, apply("svd_vt", a), apply("inverse_gaps", s * s)


def _over_s(x: Any, s: Any) -> Any:
    """``x / s`` (by columns), raising where a singular value is 0 (the first row of the gaps from 0)."""
    zero = constant(s.builder, np.zeros(1), s.node.dtype)
    reciprocal = apply("inverse_gaps", F.concatenate([zero, s]))[0, 1:]
    return x * reciprocal


def _beyond_u(u: Any, x: Any) -> Any:
    """``(1 - u u.T) x``: the part of ``x`` outside the span of ``u``'s columns."""
    return x - u @ (F.transpose(u) @ x)


def _svdvals_vjp(g: Any, s: Any, a: Any) -> tuple[Any]:
    return ((apply("svd_u", a) * g) @ apply("svd_vt", a),)


def _svdvals_jvp(t: Sequence[Any], s: Any, a: Any) -> Any:
    return F.sum(apply("svd_u", a) * (t[0] @ F.transpose(apply("svd_vt", a))), axis=0)


def _svd_u_vjp(g: Any, u: Any, a: Any) -> tuple[Any]:
    _, s, vt, f = _svd_parts(a)
    j = f * (F.transpose(u) @ g)
    grad = (u @ ((j + F.transpose(j)) * s)) @ vt
    if a.shape[0] > a.shape[1]:
        grad = grad + _over_s(_beyond_u(u, g), s) @ vt
    return (grad,)


def _svd_u_jvp(t: Sequence[Any], u: Any, a: Any) -> Any:
    _, s, vt, f = _svd_parts(a)
    da_v = t[0] @ F.transpose(vt)
    ds = F.transpose(u) @ da_v
    n = s.shape[0]
    du = u @ (f * (ds * F.reshape(s, (1, n)) + F.reshape(s, (n, 1)) * F.transpose(ds)))
    if a.shape[0] > a.shape[1]:
        du = du + _over_s(_beyond_u(u, da_v), s)
    return du


def _svd_vt_vjp(g: Any, vt: Any, a: Any) -> tuple[Any]:
    u, s, _, f = _svd_parts(a)
    k = f * (vt @ F.transpose(g))
    n = s.shape[0]
    return ((u * F.reshape(s, (1, n))) @ (k + F.transpose(k)) @ vt,)


def _svd_vt_jvp(t: Sequence[Any], vt: Any, a: Any) -> Any:
    u, s, _, f = _svd_parts(a)
    ds = F.transpose(u) @ t[0] @ F.transpose(vt)
    n = s.shape[0]
    turn = F.reshape(s, (n, 1)) * ds + F.transpose(ds) * F.reshape(s, (1, n))  # symmetric
    return -(f * turn) @ vt  # (v (f * turn)).T, f being antisymmetric


define(Op("eigvalsh", _eigen_infer("eigvalsh", "values"), ARRAYS["eigvalsh"], _eigvalsh_vjp, None,
          "linalg_eigvalsh({0})", jvp=_eigvalsh_jvp, routine="gg_eigvalsh", lapack=True, packed="eigh_packed",
          np_helper=_linalg("eigvalsh"),
          doc="The eigenvalues, ascending, of the symmetric matrix a's lower triangle stands for."))
define(Op("eigh_vectors", _eigen_infer("eigh", "vectors"), ARRAYS["eigh_vectors"], _eigh_vectors_vjp, None,
          "linalg_eigh_vectors({0})", jvp=_eigh_vectors_jvp, routine="gg_eigh_vectors", lapack=True,
          packed="eigh_packed", np_helper=_linalg("eigh_vectors"),
          doc="Its eigenvectors, as columns in the eigenvalues' order, each with its sign fixed."))
define(Op("svdvals", _svd_infer("values"), ARRAYS["svdvals"], _svdvals_vjp, None, "linalg_svdvals({0})",
          jvp=_svdvals_jvp, routine="gg_svdvals", lapack=True, packed="svd_packed", np_helper=_linalg("svdvals"),
          routine_sizes=_matrix_sizes, doc="The singular values, descending, of a tall matrix."))
define(Op("svd_u", _svd_infer("u"), ARRAYS["svd_u"], _svd_u_vjp, None, "linalg_svd_u({0})", jvp=_svd_u_jvp,
          routine="gg_svd_u", lapack=True, routine_sizes=_matrix_sizes, packed="svd_packed", np_helper=_linalg("svd_u"),
          doc="The left singular vectors (columns) of a tall matrix, each with its sign fixed."))
define(Op("svd_vt", _svd_infer("vt"), ARRAYS["svd_vt"], _svd_vt_vjp, None, "linalg_svd_vt({0})",
          jvp=_svd_vt_jvp, routine="gg_svd_vt", lapack=True, routine_sizes=_matrix_sizes, packed="svd_packed",
          np_helper=_linalg("svd_vt"),
          doc="The right singular vectors (rows) of a tall matrix, signs following the left ones."))
define(Op("inverse_gaps", _gaps_infer, inverse_gaps_array, _inverse_gaps_vjp, None, "linalg_inverse_gaps({0})",
          jvp=_inverse_gaps_jvp, routine="gg_inverse_gaps", failure=DEGENERATE,
          np_helper=("linalg_inverse_gaps", inverse_gaps_array),
          doc="1 / (w[j] - w[i]), 0 on the diagonal: how eigenvectors turn; fails where two w are equal."))


# --- one routine for several results (each primitive's ``packed`` op) -----------------------------------
def packed_part(op: str, packed: Any, shape: tuple[int, ...]) -> Any:
    """The result of primitive ``op`` of a matrix of ``shape``, cut from its packed op's result: the
    eigenvalues, then the eigenvectors; ``u``, then ``s``, then ``vt``."""
    rows = shape[0]
    return {"eigvalsh": lambda: packed[0], "eigh_vectors": lambda: packed[1:], "svd_u": lambda: packed[:rows],
            "svdvals": lambda: packed[rows], "svd_vt": lambda: packed[rows + 1:]}[op]()


def _packed_infer(kind: str) -> Any:
    def infer(inputs: Sequence[Node], attrs: dict) -> tuple[tuple[int, ...], str]:
        (a,) = inputs
        p, q = _float_2d(kind, a)
        return ((p + 1, q) if kind == "eigh" else (p + 1 + q, q)), a.dtype
    return infer


_PARTS = {"eigh": (("eigvalsh", _eigvalsh_vjp, _eigvalsh_jvp), ("eigh_vectors", _eigh_vectors_vjp, _eigh_vectors_jvp)),
          "svd": (("svd_u", _svd_u_vjp, _svd_u_jvp), ("svdvals", _svdvals_vjp, _svdvals_jvp),
                  ("svd_vt", _svd_vt_vjp, _svd_vt_jvp))}
"""Each packed op's primitives, with their rules: its own rules are theirs, piece by piece."""


def _packed_array(decompose: Any) -> Any:
    """The packed op's evaluation: its parts from one decomposition, rows one below the other."""
    return lambda a: np.concatenate([x[None] if x.ndim == 1 else x for x in decompose(a)])


def _packed_vjp(kind: str) -> Any:
    def vjp(g: Any, out: Any, a: Any) -> tuple[Any]:
        pieces = [rule(packed_part(op, g, a.shape), packed_part(op, out, a.shape), a)[0]
                  for op, rule, _ in _PARTS[kind]]
        return (sum(pieces[1:], pieces[0]),)
    return vjp


def _packed_jvp(kind: str) -> Any:
    def jvp(t: Sequence[Any], out: Any, a: Any) -> Any:
        parts = [rule(t, packed_part(op, out, a.shape), a) for op, _, rule in _PARTS[kind]]
        return F.concatenate([F.reshape(x, (1, x.shape[0])) if x.ndim == 1 else x for x in parts])
    return jvp


ARRAYS.update(eigh_packed=_packed_array(_EIGH), svd_packed=_packed_array(_SVD))
define(Op("eigh_packed", _packed_infer("eigh"), ARRAYS["eigh_packed"], _packed_vjp("eigh"), None,
          "linalg_eigh_packed({0})", jvp=_packed_jvp("eigh"), routine="gg_eigh_packed", lapack=True,
          np_helper=_linalg("eigh_packed"),
          doc="The eigenvalues (row 0) and eigenvectors (the rows below) at once, as the C lowering shares them."))
define(Op("svd_packed", _packed_infer("svd"), ARRAYS["svd_packed"], _packed_vjp("svd"), None,
          "linalg_svd_packed({0})", jvp=_packed_jvp("svd"), routine="gg_svd_packed", lapack=True,
          np_helper=_linalg("svd_packed"),
          routine_sizes=_matrix_sizes, doc="u, then s (one row), then vt of a tall matrix at once, as the C "
                                           "lowering shares them."))


# --- the public functions ---------------------------------------------------------------------------------
class EighResult(NamedTuple):
    """``eigh``'s answer, as NumPy's: ``a @ eigenvectors == eigenvectors * eigenvalues``."""

    eigenvalues: Any
    eigenvectors: Any


class SVDResult(NamedTuple):
    """``svd``'s answer, as NumPy's: ``a == (U * S) @ Vh``."""

    U: Any
    S: Any
    Vh: Any


def _symmetric_input(a: Any, UPLO: str, name: str) -> Any:  # noqa: N803 - NumPy's name
    if not isinstance(UPLO, str) or UPLO.upper() not in ("L", "U"):
        raise InputError(f"{name}: UPLO must be 'L' or 'U', got {UPLO!r}")
    (matrix,) = _float_matrix(a)
    rows, columns = _float_2d(name, matrix.node)
    if rows != columns:
        raise ShapeError(f"{name}: the matrix must be square, got shape {matrix.shape}")
    return matrix if UPLO.upper() == "L" else F.transpose(matrix)  # the upper triangle is the transpose's lower


def eigvalsh(a: Any, UPLO: str = "L") -> Any:  # noqa: N803
    """The eigenvalues, ascending, of a symmetric matrix (its lower triangle read, or the upper one), as
    ``np.linalg.eigvalsh``."""
    if not isinstance(a, Value):
        return np.linalg.eigvalsh(a, UPLO)
    stacked = over_stacks("eigvalsh", lambda m: eigvalsh(m, UPLO), [a], [2])
    return stacked if stacked is not None else apply("eigvalsh", _symmetric_input(a, UPLO, "eigvalsh"))


def eigh(a: Any, UPLO: str = "L") -> EighResult:  # noqa: N803
    """Eigenvalues (ascending) and eigenvectors (columns) of a symmetric matrix, as ``np.linalg.eigh``;
    each vector's sign fixed (its first entry of magnitude at least ``1/(2 sqrt(n))`` positive)."""
    if not isinstance(a, Value):
        return EighResult(*signed_eigh(np.asarray(a), UPLO))
    stacked = over_stacks("eigh", lambda m: tuple(eigh(m, UPLO)), [a], [2])
    if stacked is not None:
        return EighResult(*stacked)
    matrix = _symmetric_input(a, UPLO, "eigh")
    return EighResult(apply("eigvalsh", matrix), apply("eigh_vectors", matrix))


def svdvals(a: Any) -> Any:
    """The singular values of a matrix, descending, as ``np.linalg.svdvals``."""
    if not isinstance(a, Value):
        return np.linalg.svd(a, compute_uv=False)
    stacked = over_stacks("svdvals", svdvals, [a], [2])
    if stacked is not None:
        return stacked
    (matrix,) = _float_matrix(a)
    tall = matrix if matrix.shape[0] >= matrix.shape[1] else F.transpose(matrix)
    return apply("svdvals", tall)


def svd(a: Any, full_matrices: bool = True, compute_uv: bool = True, hermitian: bool = False) -> Any:
    """``U, S, Vh`` with ``a == (U * S) @ Vh``, as ``np.linalg.svd``: ``S`` descending, the singular
    vectors with their signs fixed. ``compute_uv=False`` gives ``S`` alone; ``full_matrices=True`` only
    for a square matrix (the extra columns of a full ``U`` or rows of ``Vh`` are any basis of the rest,
    nothing a derivative can follow)."""
    if not isinstance(a, Value):
        a = np.asarray(a)
        if hermitian or not compute_uv or a.ndim < 2 or (full_matrices and a.shape[-2] != a.shape[-1]):
            return np.linalg.svd(a, full_matrices=full_matrices, compute_uv=compute_uv, hermitian=hermitian)
        if a.shape[-2] >= a.shape[-1]:
            return SVDResult(*signed_svd(a))
        u, s, vt = signed_svd(np.swapaxes(a, -1, -2))  # a.T = u s vt, so a = vt.T s u.T
        return SVDResult(np.swapaxes(vt, -1, -2), s, np.swapaxes(u, -1, -2))
    if hermitian:
        raise InputError("svd: hermitian=True is not supported; for a symmetric matrix, gg.linalg.eigh gives "
                         "the eigenvalues, whose magnitudes are the singular values")
    if not compute_uv:
        return svdvals(a)
    stacked = over_stacks("svd", lambda m: tuple(svd(m, full_matrices)), [a], [2])
    if stacked is not None:
        return SVDResult(*stacked)
    (matrix,) = _float_matrix(a)
    p, q = _float_2d("svd", matrix.node)
    if full_matrices and p != q:
        raise InputError(f"svd: full_matrices=True on a {p} x {q} matrix asks for {abs(p - q)} singular vectors "
                         "that are any basis of the rest, which nothing can differentiate; pass "
                         "full_matrices=False (U then has min(rows, columns) columns)")
    if p >= q:
        return SVDResult(apply("svd_u", matrix), apply("svdvals", matrix), apply("svd_vt", matrix))
    tall = F.transpose(matrix)  # a.T = u s vt, so a = vt.T s u.T
    return SVDResult(F.transpose(apply("svd_vt", tall)), apply("svdvals", tall), F.transpose(apply("svd_u", tall)))
