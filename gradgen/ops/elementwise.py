"""Elementwise primitives: one ``define`` per op, value and derivative side by side.

Scalar kernels spell ops with names bound to ``math`` (or, on the IEEE
fallback path, to NumPy): ``exp``, ``log``, ... Array kernels spell them with
``np.``. Helpers such as ``maximum`` and ``sign`` live in
``gradgen.codegen.pyhelpers``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Callable

import numpy as np

from gradgen.errors import GraphError
from gradgen.ir.graph import FLOAT_DTYPES, Node
from gradgen.ops import functions as F
from gradgen.ops.core import elementwise
from gradgen.ops.registry import Op, Spelling, define


def _same_as_inputs(inputs: Sequence[Node], attrs: dict) -> tuple[tuple[int, ...], str]:
    first = inputs[0]
    for other in inputs[1:]:
        if other.shape != first.shape or other.dtype != first.dtype:
            raise GraphError(f"elementwise operands differ: {first.shape} {first.dtype} vs "
                             f"{other.shape} {other.dtype}")
    return first.shape, first.dtype


def _float_result(inputs: Sequence[Node], attrs: dict) -> tuple[tuple[int, ...], str]:
    shape, dtype = _same_as_inputs(inputs, attrs)
    if dtype not in FLOAT_DTYPES:
        raise GraphError(f"this op needs float operands, got {dtype}")
    return shape, dtype


def _mask_result(inputs: Sequence[Node], attrs: dict) -> tuple[tuple[int, ...], str]:
    return _same_as_inputs(inputs, attrs)[0], "bool"


def no_gradient(g: Any, out: Any, *inputs: Any) -> tuple[None, ...]:
    return (None,) * len(inputs)


def float_op(name: str, arity: int, evaluate: Callable, vjp: Callable, py: Spelling, np_: Spelling,
              c: Spelling, jvp: Callable | None = None, reads_forward: bool = True, cheap: bool = False,
              sympy: Callable | None = None, exp_form: Callable | None = None,
              np_helper: tuple[str, Callable] | None = None, doc: str = "") -> Callable:
    """Define a float elementwise op and return its public function."""
    define(Op(name, _float_result, evaluate, vjp, py, np_, jvp=jvp, c=c, kind="elementwise", cheap=cheap,
              sympy=sympy, reads_forward=reads_forward, exp_form=exp_form, np_helper=np_helper, doc=doc))

    if arity == 1:
        def public(x: Any) -> Any:
            return elementwise(name, x)
    else:
        def public(a: Any, b: Any) -> Any:
            return elementwise(name, a, b)

    public.__name__ = public.__qualname__ = name
    public.__doc__ = doc
    return public


def _scalar_power(args: Sequence[str], attrs: dict) -> str:
    """``x ** 2`` for small integral constant exponents, else ``pow(x, y)``."""
    try:
        exponent = float(args[1])
    except ValueError:
        return f"pow({args[0]}, {args[1]})"
    if exponent == 2.0:
        return f"{args[0]} * {args[0]}"
    if exponent.is_integer() and abs(exponent) <= 64:
        return f"{args[0]} ** {int(exponent)}"
    return f"pow({args[0]}, {args[1]})"


def _c_power(args: Sequence[str], attrs: dict) -> str:
    """``x * x`` for a constant exponent 2, else ``pow``."""
    try:
        if float(args[1].rstrip("f")) == 2.0:
            return f"{args[0]} * {args[0]}"
    except ValueError:
        pass
    return f"pow{attrs['f']}({args[0]}, {args[1]})"


# --- arithmetic -------------------------------------------------------------------
add = float_op("add", 2, np.add, lambda g, out, a, b: (g, g), "{0} + {1}", "{0} + {1}",
                c="{0} + {1}", jvp=lambda t, out, a, b: F.add_tangents(t[0], t[1]), reads_forward=False,
                cheap=True, sympy=lambda sp, n, a, b: a + b, doc="a + b, elementwise with broadcasting.")
subtract = float_op("subtract", 2, np.subtract, lambda g, out, a, b: (g, -g), "{0} - {1}", "{0} - {1}",
                     c="{0} - {1}", jvp=lambda t, out, a, b: F.add_tangents(t[0], None if t[1] is None else -t[1]),
                     reads_forward=False, cheap=True, sympy=lambda sp, n, a, b: a - b,
                     doc="a - b, elementwise with broadcasting.")
multiply = float_op("multiply", 2, np.multiply, lambda g, out, a, b: (g * b, g * a),
                     "{0} * {1}", "{0} * {1}",
                     c="{0} * {1}", jvp=lambda t, out, a, b: F.add_tangents(None if t[0] is None else t[0] * b,
                                                             None if t[1] is None else a * t[1]),
                     cheap=True, sympy=lambda sp, n, a, b: a * b, doc="a * b, elementwise with broadcasting.")
divide = float_op("divide", 2, np.divide, lambda g, out, a, b: (g / b, -g * out / b),
                   "{0} / {1}", "{0} / {1}",
                   c="{0} / {1}", jvp=lambda t, out, a, b: F.add_tangents(None if t[0] is None else t[0] / b,
                                                           None if t[1] is None else -t[1] * out / b),
                   cheap=True, sympy=lambda sp, n, a, b: a / b,
                   doc="a / b, elementwise with broadcasting (IEEE: x / 0 is ±inf or nan).")
def _power_base_part(g: Any, a: Any, b: Any) -> Any:
    """g * d(a ** b)/da = g * b * a ** (b - 1), and exactly 0 where b is 0, since a ** 0 is 1 for
    every a (0 ** -1 is inf, so the formula alone gives 0 * inf = NaN at a = 0)."""
    return F.where(b == 0.0, 0.0, g * b * a ** (b - 1.0))


def _power_exponent_part(g: Any, out: Any, a: Any) -> Any:
    """g * d(a ** b)/db = g * a ** b * log(a), with log(1) in place of log(0) (as JAX and autograd
    do): 0 ** b is constant in b, so the slope at a = 0 is 0 (NaN where 0 ** b is inf, b < 0)."""
    return g * out * F.log(F.where(a == 0.0, 1.0, a))


power = float_op("power", 2, np.power,
                  lambda g, out, a, b: (_power_base_part(g, a, b), _power_exponent_part(g, out, a)),
                  _scalar_power, "{0} ** {1}",
                  c=_c_power, jvp=lambda t, out, a, b: F.add_tangents(
                      None if t[0] is None else _power_base_part(t[0], a, b),
                      None if t[1] is None else _power_exponent_part(t[1], out, a)),
                  sympy=lambda sp, n, a, b: sp.Pow(a, b),
                  doc="a ** b, elementwise with broadcasting; d/db at a = 0 is 0.")


def _share(x: Any, other: Any, out: Any) -> Any:
    """x's share of the gradient of maximum(x, other) or minimum(x, other) (in x's dtype): 1 where
    x alone equals the result, 0.5 where both do (a tie), 0 where x does not, as where the result is NaN."""
    return F.cast(F.where(x == out, F.where(other == out, 0.5, 1.0), 0.0), x.node.dtype)


def _extremum(name: str, evaluate: Callable, sympy: Callable) -> Callable:
    """maximum or minimum: each operand's share of the gradient is ``_share``."""
    return float_op(
        name, 2, evaluate,
        lambda g, out, a, b: (g * _share(a, b, out), g * _share(b, a, out)),
        f"{name}({{0}}, {{1}})", f"np.{name}({{0}}, {{1}})", c=f"gg_{name}{{f}}({{0}}, {{1}})",
        jvp=lambda t, out, a, b: F.add_tangents(None if t[0] is None else t[0] * _share(a, b, out),
                                                None if t[1] is None else t[1] * _share(b, a, out)),
        cheap=True, sympy=sympy,
        doc=f"Elementwise {name}; NaN propagates; a tie splits the gradient evenly, a NaN result passes none.")


maximum = _extremum("maximum", np.maximum, lambda sp, n, a, b: sp.Max(a, b))
minimum = _extremum("minimum", np.minimum, lambda sp, n, a, b: sp.Min(a, b))

# --- unary functions --------------------------------------------------------------
negative = float_op("negative", 1, np.negative, lambda g, out, x: (-g,), "-{0}", "-{0}",
                     c="-{0}", jvp=lambda t, out, x: -t[0], reads_forward=False, cheap=True,
                     sympy=lambda sp, n, a: -a, doc="-x.")
exp = float_op("exp", 1, np.exp, lambda g, out, x: (g * out,), "exp({0})", "np.exp({0})",
                c="exp{f}({0})", jvp=lambda t, out, x: t[0] * out, sympy=lambda sp, n, a: sp.exp(a), doc="e ** x.")
log = float_op("log", 1, np.log, lambda g, out, x: (g / x,), "log({0})", "np.log({0})",
                c="log{f}({0})", jvp=lambda t, out, x: t[0] / x,
                sympy=lambda sp, n, a: sp.log(a), doc="Natural logarithm (log(0) = -inf, log(x<0) = nan).")
log1p = float_op("log1p", 1, np.log1p, lambda g, out, x: (g / (1.0 + x),), "log1p({0})", "np.log1p({0})",
                  c="log1p{f}({0})", jvp=lambda t, out, x: t[0] / (1.0 + x),
                  sympy=lambda sp, n, a: sp.log(1 + a), doc="log(1 + x), accurate for small x.")
expm1 = float_op("expm1", 1, np.expm1, lambda g, out, x: (g * (out + 1.0),), "expm1({0})", "np.expm1({0})",
                  c="expm1{f}({0})", jvp=lambda t, out, x: t[0] * (out + 1.0),
                  sympy=lambda sp, n, a: sp.exp(a) - 1, doc="exp(x) - 1, accurate for small x.")
sqrt = float_op("sqrt", 1, np.sqrt, lambda g, out, x: (g * 0.5 / out,), "sqrt({0})", "np.sqrt({0})",
                 c="sqrt{f}({0})", jvp=lambda t, out, x: t[0] * 0.5 / out,
                 sympy=lambda sp, n, a: sp.sqrt(a), doc="Square root (sqrt(x<0) = nan).")
sin = float_op("sin", 1, np.sin, lambda g, out, x: (g * F.cos(x),), "sin({0})", "np.sin({0})",
                c="sin{f}({0})", jvp=lambda t, out, x: t[0] * F.cos(x), sympy=lambda sp, n, a: sp.sin(a), doc="Sine.")
cos = float_op("cos", 1, np.cos, lambda g, out, x: (-g * F.sin(x),), "cos({0})", "np.cos({0})",
                c="cos{f}({0})", jvp=lambda t, out, x: -t[0] * F.sin(x), sympy=lambda sp, n, a: sp.cos(a),
                doc="Cosine.")
tanh = float_op("tanh", 1, np.tanh, lambda g, out, x: (g * (1.0 - out * out),), "tanh({0})", "np.tanh({0})",
                 c="tanh{f}({0})", jvp=lambda t, out, x: t[0] * (1.0 - out * out),
                 sympy=lambda sp, n, a: sp.tanh(a), doc="Hyperbolic tangent.")
sign = float_op("sign", 1, np.sign, no_gradient, "sign({0})", "np.sign({0})",
                 c="gg_sign{f}({0})", jvp=lambda t, out, x: None, cheap=True, sympy=lambda sp, n, a: sp.sign(a),
                 doc="-1, 0 or 1 (nan for nan); its gradient is 0.")
abs = float_op("abs", 1, np.abs, lambda g, out, x: (g * F.sign(x),), "abs({0})", "np.abs({0})",
                c="fabs{f}({0})", jvp=lambda t, out, x: t[0] * F.sign(x), cheap=True,
                sympy=lambda sp, n, a: sp.Abs(a), doc="|x|; its gradient at 0 is 0.")
relu = float_op("relu", 1, lambda x: np.maximum(x, 0.0),
                 lambda g, out, x: (F.where(x > 0.0, g, 0.0),),
                 "0.0 if {0} <= 0.0 else {0}", "np.maximum({0}, 0.0)",
                 c="gg_relu{f}({0})", jvp=lambda t, out, x: F.where(x > 0.0, t[0], 0.0),
                 cheap=True, sympy=lambda sp, n, a: sp.Max(0, a),
                 doc="max(x, 0); its gradient is 0 for x <= 0 (relu'(0) = 0); a NaN x gives NaN.")


def _sigmoid(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-x))


def _sigmoid_from_exp(z: Any, e: Any) -> Any:
    """sigmoid(z) from e = exp(-|z|): 1 / (1 + e) for z >= 0, else e / (1 + e)."""
    r = 1.0 / (1.0 + e)
    return F.where(z >= 0.0, r, e * r)


sigmoid = float_op("sigmoid", 1, _sigmoid, lambda g, out, x: (g * (out * (1.0 - out)),),
                    "1.0 / (1.0 + exp(-{0}))", "1.0 / (1.0 + np.exp(-{0}))",
                    c="gg_sigmoid{f}({0})", jvp=lambda t, out, x: t[0] * (out * (1.0 - out)),
                    sympy=lambda sp, n, a: 1 / (1 + sp.exp(-a)), exp_form=_sigmoid_from_exp,
                    doc="1 / (1 + exp(-x)), exact 0 and 1 in the tails.")
softplus = float_op("softplus", 1, lambda x: np.logaddexp(0.0, x),
                     lambda g, out, x: (g * F.sigmoid(x),),
                     "log1p(exp(-abs({0}))) + (0.0 if {0} <= 0.0 else {0})", "np.logaddexp(0.0, {0})",
                     c="gg_softplus{f}({0})", jvp=lambda t, out, x: t[0] * F.sigmoid(x),
                     sympy=lambda sp, n, a: sp.log(1 + sp.exp(a)), exp_form=lambda z, e: F.log1p(e) + F.relu(z),
                     doc="log(1 + exp(x)), computed without overflow.")

# --- comparisons and logic (no gradient) -----------------------------------------------
def _mask_op(name: str, evaluate: Callable, spelling: str, np_spelling: str, c_spelling: str, sympy_name: str,
             dtype: str | None = None, arity: int = 2) -> Callable:
    """Define a mask op (SymPy's relational or logical class ``sympy_name``) and return its public function."""
    define(Op(name, _mask_result, evaluate, no_gradient, spelling, np_spelling, c=c_spelling, kind="elementwise",
              cheap=True, sympy=lambda sp, node, *args: getattr(sp, sympy_name)(*args), reads_forward=False,
              doc=f"Mask: {spelling.format('a', 'b')}."))

    def public(*operands: Any) -> Any:
        return elementwise(name, *operands, dtype=dtype)

    public.__name__ = name
    return public


less = _mask_op("less", np.less, "{0} < {1}", "{0} < {1}", "({0} < {1})", "Lt")
less_equal = _mask_op("less_equal", np.less_equal, "{0} <= {1}", "{0} <= {1}", "({0} <= {1})", "Le")
greater = _mask_op("greater", np.greater, "{0} > {1}", "{0} > {1}", "({0} > {1})", "Gt")
greater_equal = _mask_op("greater_equal", np.greater_equal, "{0} >= {1}", "{0} >= {1}", "({0} >= {1})", "Ge")
equal = _mask_op("equal", np.equal, "{0} == {1}", "{0} == {1}", "({0} == {1})", "Eq")
not_equal = _mask_op("not_equal", np.not_equal, "{0} != {1}", "{0} != {1}", "({0} != {1})", "Ne")
logical_and = _mask_op("logical_and", np.logical_and, "({0} and {1})", "np.logical_and({0}, {1})", "({0} && {1})",
                       "And", dtype="bool")
logical_or = _mask_op("logical_or", np.logical_or, "({0} or {1})", "np.logical_or({0}, {1})", "({0} || {1})",
                      "Or", dtype="bool")
logical_not = _mask_op("logical_not", np.logical_not, "not {0}", "np.logical_not({0})", "(!{0})", "Not",
                       dtype="bool", arity=1)


# --- selection --------------------------------------------------------------------
def _where_infer(inputs: Sequence[Node], attrs: dict) -> tuple[tuple[int, ...], str]:
    cond, a, b = inputs
    if cond.dtype != "bool":
        raise GraphError(f"where: the condition must be a mask (bool), got {cond.dtype}")
    if not cond.shape == a.shape == b.shape or a.dtype != b.dtype:
        raise GraphError(f"where: operands differ: {cond.shape}, {a.shape} {a.dtype}, {b.shape} {b.dtype}")
    return a.shape, a.dtype


define(Op("where", _where_infer, np.where,
          lambda g, out, c, a, b: (None, F.where(c, g, 0.0), F.where(c, 0.0, g)),
          "{1} if {0} else {2}", "np.where({0}, {1}, {2})", c="({0} ? {1} : {2})",
          jvp=lambda t, out, c, a, b: F.where(c, 0.0 if t[1] is None else t[1], 0.0 if t[2] is None else t[2]),
          kind="elementwise", cheap=True, reads_forward=False, selects=True,
          sympy=lambda sp, n, c, a, b: sp.Piecewise((a, c), (b, True)),
          doc="where(cond, a, b): a where cond holds, else b; the branch not taken gets gradient 0."))


def _cast_sympy(sp: Any, node: Node, arg: Any) -> Any:
    """``cast`` is the identity, except that a mask cast to a number is 1 or 0."""
    if isinstance(arg, sp.logic.boolalg.Boolean) and node.dtype != "bool":
        return sp.Piecewise((1, arg), (0, True))
    return arg


def _cast_infer(inputs: Sequence[Node], attrs: dict) -> tuple[tuple[int, ...], str]:
    return inputs[0].shape, attrs["dtype"]


define(Op("cast", _cast_infer, lambda x, dtype: np.asarray(x).astype(dtype),
          lambda g, out, x, dtype: (F.cast(g, x.node.dtype) if x.node.dtype in FLOAT_DTYPES else None,),
          lambda args, attrs: {"float64": "float({0})", "int64": "int({0})", "bool": "bool({0})"}.get(
              attrs["dtype"], "{0}").format(*args),
          "np.asarray({0}, dtype=np.{dtype})",
          c=lambda args, attrs: {"float64": "(double)({0})", "float32": "(float)({0})", "int64": "(int64_t)({0})",
                                 "bool": "({0} != 0)"}[attrs["dtype"]].format(*args),
          jvp=lambda t, out, x, dtype: None if t[0] is None else F.cast(t[0], dtype),
          kind="elementwise", cheap=True, sympy=_cast_sympy, reads_forward=False, np_aliases=True,
          doc="Convert to another dtype."))

define(Op("stop_gradient", lambda inputs, attrs: (inputs[0].shape, inputs[0].dtype), lambda x: x,
          no_gradient, "{0}", "{0}", c="{0}", jvp=lambda t, out, x: None, kind="view", sympy=lambda sp, n, a: a,
          reads_forward=False, index_map=lambda node, source: tuple((d, 1, 0) for d in range(len(source.shape))),
          keeps_offsets=True, np_aliases=True,
          doc="Identity whose gradient is 0."))
