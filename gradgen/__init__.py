"""gradgen: compile Python computations into fast, readable gradient functions.

    import gradgen as gg

    def loss(w, b, x, y):
        c = w * x
        a = c + b
        d = a - y
        J = d ** 2 / 2
        return J

    f = gg.value_and_grad(loss, wrt=["w", "b"])
    J, grads = f(2.0, 8.0, -2.0, 2.0)     # 2.0, {"w": -4.0, "b": 2.0}
    print(f.source)                        # the generated kernel
"""

from gradgen import (
    linalg,  # noqa: E402 - gg.linalg.norm, as np.linalg.norm
    optim,  # noqa: E402 - gg.optim.Adam, gg.optim.training_step
)
from gradgen.build import clear_cache
from gradgen.dsl.loops import fori_loop, scan
from gradgen.dsl.specs import Array, Scalar
from gradgen.dsl.trace import trace
from gradgen.dsl.value import Value
from gradgen.errors import CompileError, GradgenError, GraphError, InputError, ShapeError, TracingError
from gradgen.inspect import (
    BackpropSteps,
    BackpropTable,
    DotGraph,
    GradCheck,
    GraphvizError,
    backprop_steps,
    backprop_table,
    check_grad,
    to_dot,
)
from gradgen.inspect.export import export_c
from gradgen.ir.graph import Graph
from gradgen.ops.core import broadcast_to, cast
from gradgen.ops.custom import CustomOp, custom_op
from gradgen.ops.functions import (  # noqa: A004 - NumPy's names (abs, max, min, round, sum)
    abs,
    arccos,
    arccosh,
    arcsin,
    arcsinh,
    arctan,
    arctan2,
    arctanh,
    argmax,
    argmin,
    argsort,
    array_split,
    atleast_1d,
    atleast_2d,
    atleast_3d,
    ceil,
    clip,
    column_stack,
    concatenate,
    cos,
    cosh,
    cumprod,
    cumsum,
    deg2rad,
    diag,
    diagonal,
    dot,
    dstack,
    einsum,
    erf,
    exp,
    exp2,
    expand_dims,
    expm1,
    eye,
    flip,
    fliplr,
    flipud,
    floor,
    floor_divide,
    fmod,
    hsplit,
    hstack,
    hypot,
    inner,
    kron,
    log,
    log1p,
    log2,
    log10,
    log_softmax,
    logaddexp,
    logaddexp2,
    logsumexp,
    matmul,
    max,
    maximum,
    mean,
    min,
    minimum,
    mod,
    moveaxis,
    name,
    norm,
    outer,
    pad,
    prod,
    rad2deg,
    ravel,
    reciprocal,
    relu,
    repeat,
    reshape,
    rint,
    roll,
    round,
    sigmoid,
    sign,
    sin,
    sinc,
    sinh,
    softmax,
    softplus,
    sort,
    split,
    sqrt,
    square,
    squeeze,
    stack,
    std,
    stop_gradient,
    sum,
    swapaxes,
    take_along_axis,
    tan,
    tanh,
    tensordot,
    tile,
    transpose,
    tril,
    triu,
    trunc,
    var,
    vdot,
    vsplit,
    vstack,
    where,
)
from gradgen.runtime import DerivativeKernel, Kernel, compile, grad, hessian, hvp, jacobian, jvp, value_and_grad, vjp
from gradgen.version import __version__  # noqa: F401 - the public version attribute

__all__ = [
    "SympyView", "from_sympy", "sympy_view", "to_sympy",
 "Array", "BackpropSteps", "BackpropTable", "CompileError", "DotGraph", "GradCheck", "GradgenError", "Graph",
 "GraphError", "GraphvizError", "InputError", "Kernel", "Scalar", "ShapeError", "TracingError", "Value",
 "abs", "backprop_steps", "backprop_table", "broadcast_to", "cast", "check_grad", "clear_cache", "compile",
 "concatenate", "cos", "exp", "expm1", "export_c", "fori_loop", "grad", "log", "log1p", "log_softmax", "logsumexp",
 "matmul", "max", "maximum", "mean", "min", "minimum", "name", "relu", "reshape", "scan", "sigmoid", "sign", "sin",
 "softmax", "softplus", "sqrt", "stack", "stop_gradient", "sum", "take_along_axis", "tanh", "to_dot", "trace",
 "transpose", "value_and_grad", "where",
 "arccos", "arccosh", "arcsin", "arcsinh", "arctan", "arctan2", "arctanh", "ceil", "clip", "cosh", "deg2rad", "erf",
 "exp2", "floor", "floor_divide", "fmod", "hypot", "log10", "log2", "logaddexp", "logaddexp2", "mod", "rad2deg",
 "reciprocal", "rint", "round", "sinc", "sinh", "square", "tan", "trunc",
 "array_split", "atleast_1d", "atleast_2d", "atleast_3d", "column_stack", "diag", "diagonal", "dstack", "expand_dims",
 "eye", "flip", "fliplr", "flipud", "hsplit", "hstack", "inner", "kron", "linalg", "moveaxis", "norm", "outer", "pad",
 "ravel", "repeat", "roll", "split", "squeeze", "std", "swapaxes", "tile", "tril", "triu", "var", "vdot",
 "vsplit", "vstack", "dot", "einsum", "tensordot", "argmax", "argmin", "cumprod", "cumsum", "prod",
 "optim", "sort", "argsort", "CustomOp", "custom_op", "DerivativeKernel", "hessian", "hvp", "jacobian", "jvp", "vjp",
]


def __getattr__(name: str) -> object:
    """SymPy loads only when its bridge is first used: importing it costs about 0.3 s."""
    if name in ("SympyView", "from_sympy", "sympy_view", "to_sympy"):
        from gradgen.inspect import sympy_bridge

        return getattr(sympy_bridge, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
