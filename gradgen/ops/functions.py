"""The public DSL functions (``gg.exp``, ``gg.where``, ...) gathered in one namespace.

Each works on symbolic Values (adding nodes to the traced graph) and on plain
numbers and arrays (computing the result with NumPy).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gradgen.dsl.value import Value
from gradgen.errors import InputError
from gradgen.ops.core import (
    apply,
    broadcast_shapes,
    broadcast_to,
    builder_of,
    cast,
    constant,
    elementwise,
    result_dtype,
)


def where(condition: Any, if_true: Any, if_false: Any) -> Any:
    """``if_true`` where ``condition`` holds, else ``if_false`` (NumPy broadcasting).

    The gradient goes to the branch taken; the other gets exactly 0, even
    where its value is inf or NaN.
    """
    builder = builder_of([condition, if_true, if_false])
    if builder is None:
        return np.where(condition, if_true, if_false)
    mask = cast(constant(builder, condition), "bool")
    dtype = result_dtype([if_true, if_false])
    a, b = (cast(constant(builder, x, dtype if not isinstance(x, Value) else None), dtype)
            for x in (if_true, if_false))
    shape = broadcast_shapes("where", mask.shape, a.shape, b.shape)
    return apply("where", broadcast_to(mask, shape), broadcast_to(a, shape), broadcast_to(b, shape))


def stop_gradient(x: Any) -> Any:
    """``x`` itself, but no gradient flows back through it."""
    return apply("stop_gradient", x) if isinstance(x, Value) else x


def name(value: Any, label: str) -> Any:
    """Give a traced value a name (used in printed graphs and generated code).

    An explicit name wins over the variable name gradgen recovers.
    """
    if isinstance(value, Value):
        if not isinstance(label, str) or not label:
            raise InputError(f"gg.name: the name must be a non-empty string, got {label!r}")
        if "\0" in label:
            raise InputError(f"gg.name: the name {label!r} holds a NUL character, which no source file may; "
                             "leave it out")
        value.builder.set_name(value.id, label, explicit=True)
    return value


def add_tangents(a: Any, b: Any) -> Any:
    """Sum of two tangents where None means zero."""
    if a is None:
        return b
    if b is None:
        return a
    return a + b


from gradgen.ops import loops  # noqa: E402, F401 - registers scan and loop_output
from gradgen.ops.arrays import (  # noqa: E402
    array_split,
    atleast_1d,
    atleast_2d,
    atleast_3d,
    column_stack,
    diag,
    diagonal,
    dstack,
    expand_dims,
    eye,
    flip,
    fliplr,
    flipud,
    hsplit,
    hstack,
    moveaxis,
    pad,
    ravel,
    repeat,
    roll,
    split,
    squeeze,
    swapaxes,
    tile,
    trace,
    tril,
    triu,
    vsplit,
    vstack,
)
from gradgen.ops.composites import clip, deg2rad, logaddexp2, rad2deg, reciprocal, round, sinc, square  # noqa: E402
from gradgen.ops.contractions import dot, einsum, tensordot  # noqa: E402
from gradgen.ops.cumulative import argmax, argmin, cumprod, cumsum, prod  # noqa: E402
from gradgen.ops.decompositions import eigh, eigvalsh, svd, svdvals  # noqa: E402
from gradgen.ops.elementwise import (  # noqa: E402
    abs,
    add,
    cos,
    divide,
    equal,
    exp,
    expm1,
    greater,
    greater_equal,
    less,
    less_equal,
    log,
    log1p,
    logical_and,
    logical_not,
    logical_or,
    maximum,
    minimum,
    multiply,
    negative,
    not_equal,
    power,
    relu,
    sigmoid,
    sign,
    sin,
    softplus,
    sqrt,
    subtract,
    tanh,
)
from gradgen.ops.linalg import matmul  # noqa: E402
from gradgen.ops.ordering import argsort, sort  # noqa: E402
from gradgen.ops.reduce import log_softmax, logsumexp, max, mean, min, softmax, sum  # noqa: E402
from gradgen.ops.rounding import ceil, floor, floor_divide, fmod, mod, rint, trunc  # noqa: E402
from gradgen.ops.shape import (  # noqa: E402
    concatenate,
    getitem,
    reshape,
    stack,
    take_along_axis,
    transpose,
)
from gradgen.ops.solvers import cholesky, det, inv, slogdet, solve  # noqa: E402
from gradgen.ops.statistics import inner, kron, norm, outer, std, var, vdot  # noqa: E402
from gradgen.ops.transcendental import (  # noqa: E402
    arccos,
    arccosh,
    arcsin,
    arcsinh,
    arctan,
    arctan2,
    arctanh,
    cosh,
    erf,
    exp2,
    hypot,
    log2,
    log10,
    logaddexp,
    sinh,
    tan,
)

__all__ = [
    "abs", "add", "add_tangents", "broadcast_to", "cast", "concatenate", "cos", "divide", "equal",
    "exp", "expm1", "getitem", "greater", "greater_equal", "less", "less_equal", "log", "log1p",
    "log_softmax", "logical_and", "logical_not", "logical_or", "logsumexp", "matmul", "max", "maximum",
    "mean", "min", "minimum", "multiply", "name", "negative", "not_equal", "power", "relu", "reshape",
    "sigmoid", "sign", "sin", "softmax", "softplus", "sqrt", "stack", "stop_gradient", "subtract", "sum",
    "take_along_axis", "tanh", "transpose", "where", "elementwise",
    "tan", "sinh", "cosh", "arcsin", "arccos", "arctan", "arctan2", "arcsinh", "arccosh", "arctanh", "erf",
    "exp2", "hypot", "log2", "log10", "logaddexp", "logaddexp2", "ceil", "floor", "fmod", "mod", "rint", "trunc",
    "floor_divide", "round", "clip", "deg2rad", "rad2deg", "reciprocal", "sinc", "square",
    "array_split", "atleast_1d", "atleast_2d", "atleast_3d", "column_stack", "diag", "diagonal", "dstack",
    "expand_dims", "eye", "flip", "fliplr", "flipud", "hsplit", "hstack", "moveaxis", "pad", "ravel", "repeat",
    "roll", "split", "squeeze", "swapaxes", "tile", "tril", "triu", "vsplit", "vstack", "inner", "kron",
    "norm", "outer", "std", "var", "vdot", "sort", "argsort",
    "dot", "einsum", "tensordot", "argmax", "argmin", "cumprod", "cumsum",
    "prod",
]

#: NumPy ufuncs a Value answers to (``np.exp(v)`` means ``gg.exp(v)``).
UFUNCS = {
    "add": add, "subtract": subtract, "multiply": multiply, "divide": divide, "true_divide": divide,
    "power": power, "negative": negative, "exp": exp, "log": log, "log1p": log1p, "expm1": expm1,
    "sqrt": sqrt, "sin": sin, "cos": cos, "tanh": tanh, "absolute": abs, "sign": sign,
    "maximum": maximum, "minimum": minimum, "less": less, "less_equal": less_equal, "greater": greater,
    "greater_equal": greater_equal, "equal": equal, "not_equal": not_equal, "matmul": matmul,
    "logical_and": logical_and, "logical_or": logical_or, "logical_not": logical_not,
    "tan": tan, "sinh": sinh, "cosh": cosh, "arcsin": arcsin, "arccos": arccos, "arctan": arctan,
    "arctan2": arctan2, "arcsinh": arcsinh, "arccosh": arccosh, "arctanh": arctanh, "exp2": exp2,
    "hypot": hypot, "log2": log2, "log10": log10, "logaddexp": logaddexp, "logaddexp2": logaddexp2,
    "floor": floor, "ceil": ceil, "trunc": trunc, "rint": rint, "remainder": mod, "mod": mod,
    "floor_divide": floor_divide,
    "fmod": fmod, "square": square, "reciprocal": reciprocal, "deg2rad": deg2rad, "radians": deg2rad,
    "rad2deg": rad2deg, "degrees": rad2deg,
}

#: NumPy functions a Value answers to (``np.sum(v)`` means ``gg.sum(v)``).
ARRAY_FUNCTIONS = {
    "sum": sum, "mean": mean, "max": max, "amax": max, "min": min, "amin": min, "where": where,
    "reshape": reshape, "transpose": transpose, "concatenate": concatenate, "stack": stack,
    "take_along_axis": take_along_axis, "matmul": matmul, "dot": dot, "broadcast_to": broadcast_to,
    "einsum": einsum, "tensordot": tensordot, "cumsum": cumsum, "cumprod": cumprod, "prod": prod,
    "argmax": argmax, "argmin": argmin,
    "clip": clip, "round": round, "around": round, "sinc": sinc, "fix": trunc,
    "array_split": array_split, "atleast_1d": atleast_1d, "atleast_2d": atleast_2d, "atleast_3d": atleast_3d,
    "column_stack": column_stack, "diag": diag, "diagonal": diagonal, "dstack": dstack, "expand_dims": expand_dims,
    "flip": flip, "fliplr": fliplr, "flipud": flipud, "hsplit": hsplit, "hstack": hstack, "moveaxis": moveaxis,
    "pad": pad, "ravel": ravel, "repeat": repeat, "roll": roll, "split": split, "squeeze": squeeze,
    "swapaxes": swapaxes, "tile": tile, "trace": trace, "tril": tril, "triu": triu, "vsplit": vsplit,
    "vstack": vstack, "inner": inner, "kron": kron, "norm": norm, "outer": outer, "std": std, "var": var,
    "vdot": vdot, "shape": lambda x: x.shape, "ndim": lambda x: x.ndim, "size": lambda x: x.size,
    "sort": sort, "argsort": argsort, "solve": solve, "inv": inv, "det": det, "slogdet": slogdet, "cholesky": cholesky,
    "eigh": eigh, "eigvalsh": eigvalsh, "svd": svd, "svdvals": svdvals,
}
