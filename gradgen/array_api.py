"""The array-API namespace of traced values: ``x.__array_namespace__()``.

Code written against the Python array API standard (``xp = x.__array_namespace__()``, then ``xp.exp``,
``xp.sum``, ``xp.matmul``, ``xp.concat``, ``xp.permute_dims``, ...) traces unchanged: each name is the
gradgen function of that meaning, under the standard's spelling where it differs from NumPy's
(``acos`` for ``arccos``, ``pow`` for ``power``, ``concat`` for ``concatenate``). A name the standard has
and gradgen does not is an ``AttributeError`` naming it, as a namespace's missing attribute is.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from gradgen.errors import InputError
from gradgen.ops import decompositions, solvers
from gradgen.ops import functions as F
from gradgen.ops.core import cast

#: The standard's names that differ from NumPy's, and the gradgen function each is.
RENAMED = {
    "acos": F.arccos, "acosh": F.arccosh, "asin": F.arcsin, "asinh": F.arcsinh, "atan": F.arctan,
    "atan2": F.arctan2, "atanh": F.arctanh, "pow": F.power, "concat": F.concatenate,
    "permute_dims": F.transpose, "bitwise_invert": F.logical_not, "absolute": F.abs,
}

#: The standard's names gradgen has under the same name.
SAME = ("abs", "add", "argmax", "argmin", "broadcast_to", "ceil", "clip", "cos", "cosh", "cumulative_sum",
        "divide", "equal", "exp", "expm1", "expand_dims", "floor", "floor_divide", "greater", "greater_equal",
        "hypot", "less", "less_equal", "log", "log1p", "log2", "log10", "logaddexp", "logical_and",
        "logical_not", "logical_or", "matmul", "max", "maximum", "mean", "min", "minimum", "moveaxis",
        "multiply", "negative", "not_equal", "prod", "remainder", "reshape", "roll", "sign", "sin", "sinh",
        "sort", "argsort", "sqrt", "square", "squeeze", "stack", "std", "subtract", "sum", "tan", "tanh",
        "tensordot", "tile", "trunc", "var", "vecdot", "where", "round", "tril", "triu", "flip", "repeat",
        "reciprocal")


def _vecdot(x1: Any, x2: Any, axis: int = -1) -> Any:
    """The standard's ``vecdot``: the sum of products along ``axis`` (real values)."""
    return F.sum(x1 * x2, axis=axis)


def _cumulative_sum(x: Any, axis: int | None = None, dtype: Any = None, include_initial: bool = False) -> Any:
    if include_initial:
        raise InputError("cumulative_sum: include_initial=True is not supported; concatenate a zero in front")
    total = F.cumsum(x, axis=0 if axis is None else axis)
    return total if dtype is None else cast(total, dtype)


def _astype(x: Any, dtype: Any, copy: bool = True) -> Any:
    return cast(x, dtype)


def _namespace() -> SimpleNamespace:
    extra = {"vecdot": _vecdot, "cumulative_sum": _cumulative_sum, "remainder": F.mod}
    names: dict[str, Any] = {}
    for name in SAME:
        names[name] = extra.get(name) or getattr(F, name)
    names.update(RENAMED)
    names["astype"] = _astype
    names["linalg"] = SimpleNamespace(solve=solvers.solve, inv=solvers.inv, det=solvers.det,
                                      slogdet=solvers.slogdet, cholesky=solvers.cholesky,
                                      eigh=decompositions.eigh, eigvalsh=decompositions.eigvalsh,
                                      svd=lambda x, full_matrices=True: decompositions.svd(x, full_matrices),
                                      svdvals=decompositions.svdvals,
                                      matmul=F.matmul, tensordot=F.tensordot, vecdot=_vecdot,
                                      matrix_transpose=lambda x: F.swapaxes(x, -1, -2))
    names.update(e=2.718281828459045, pi=3.141592653589793, inf=float("inf"), nan=float("nan"),
                 float32="float32", float64="float64", int64="int64", bool="bool")
    names["__array_api_version__"] = "2023.12"
    return SimpleNamespace(**names)


NAMESPACE = _namespace()
"""The namespace every traced value answers ``__array_namespace__`` with."""
