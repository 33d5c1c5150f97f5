"""What the DSL supports, by family: the README's list is printed from here (``python -m gradgen.ops.catalog``)
and a test checks that every public DSL function is in exactly one family and that the README shows
this list as it is, so the two cannot drift apart."""

from __future__ import annotations

from gradgen.ops import functions as F

LINALG = ("norm", "solve", "inv", "det", "slogdet", "cholesky", "eigh", "eigvalsh", "svd", "svdvals")
"""The NumPy functions that live in ``np.linalg`` (and in ``gg.linalg``)."""

OPERATORS = "`+ - * / // ** % @`, unary `-` and `abs()`, comparisons `< <= > >= == !=` and `& | ~` on masks"
"""The Python operators a traced value answers to."""

FAMILIES: dict[str, tuple[str, ...]] = {
    "exponents and logarithms": ("exp", "exp2", "expm1", "log", "log2", "log10", "log1p", "logaddexp",
                                 "logaddexp2", "sqrt", "square", "reciprocal"),
    "trigonometric and hyperbolic": ("sin", "cos", "tan", "arcsin", "arccos", "arctan", "arctan2", "sinh",
                                     "cosh", "tanh", "arcsinh", "arccosh", "arctanh", "hypot", "deg2rad",
                                     "rad2deg", "sinc"),
    "activations and special functions": ("sigmoid", "relu", "softplus", "erf"),
    "piecewise (zero or split gradients)": ("abs", "sign", "maximum", "minimum", "clip", "where", "floor",
                                            "ceil", "trunc", "rint", "round", "mod", "fmod",
                                            "floor_divide"),
    "sorting (the gradient flows through the permutation)": ("sort", "argsort"),
    "reductions and statistics": ("sum", "mean", "prod", "max", "min", "argmax", "argmin", "var", "std",
                                  "cumsum", "cumprod", "logsumexp", "softmax", "log_softmax"),
    "shapes and indexing": ("reshape", "ravel", "squeeze", "expand_dims", "transpose", "swapaxes", "moveaxis",
                            "atleast_1d", "atleast_2d", "atleast_3d", "broadcast_to", "concatenate", "stack",
                            "hstack", "vstack", "column_stack", "dstack", "split", "array_split", "hsplit", "vsplit",
                            "flip", "fliplr", "flipud", "roll", "tile", "repeat", "pad", "take_along_axis"),
    "matrices (and `x.trace()`, `np.trace`: `gg.trace` traces a function)": ("eye", "diag", "diagonal", "tril",
                                                                              "triu"),
    "linear algebra (`norm` is `gg.linalg.norm` too)": ("matmul", "dot", "einsum", "tensordot", "outer",
                                                         "inner", "vdot", "kron", "norm"),
    "dense linear algebra (`gg.linalg`, as `np.linalg`)": ("linalg.solve", "linalg.solve_triangular", "linalg.inv",
                                                           "linalg.det", "linalg.slogdet", "linalg.cholesky",
                                                           "linalg.eigh", "linalg.eigvalsh", "linalg.svd",
                                                           "linalg.svdvals"),
    "loops": ("scan", "fori_loop"),
    "gradients and names": ("stop_gradient", "cast", "name"),
}
"""Each public DSL function (``gg.<name>``), under one family."""


def numpy_spellings() -> list[str]:
    """The NumPy names that, given a traced value, run the DSL function (``np.exp(x)`` is ``gg.exp(x)``)."""
    return sorted(f"linalg.{name}" if name in LINALG else name for name in set(F.UFUNCS) | set(F.ARRAY_FUNCTIONS))


def catalog_markdown() -> str:
    """The README's list of what the DSL supports."""
    lines = [f"- operators: {OPERATORS}; `.T`, `.reshape`, `.sum()` and friends, basic and integer-array "
             "indexing and slicing"]
    lines += [f"- {family}: " + " ".join(f"`{name}`" for name in names) for family, names in FAMILIES.items()]
    lines.append("- NumPy's own spellings, given a traced value: " + " ".join(f"`np.{n}`" for n in numpy_spellings()))
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(catalog_markdown(), end="")
