"""More elementwise functions: trigonometric and hyperbolic, their inverses, logarithms and powers of 2
and 10, erf, hypot and logaddexp. One ``float_op`` each, value and derivative side by side, as in
``elementwise``; each follows NumPy's function of the same name, inf and NaN included.

Derivatives at the edges of a domain are what the formula gives there (IEEE): arcsin and arccos
have infinite slope at ±1, arctanh at ±1, arccosh at 1. Two conventions are gradgen's (and JAX's):
hypot's gradient at (0, 0) is 0 (a subgradient; the formula is 0 / 0), and arctan2's at (0, 0) is
NaN (the formula's 0 / 0, the function having no limit there).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from gradgen.ops import functions as F
from gradgen.ops.elementwise import float_op

LN2 = math.log(2.0)
LN10 = math.log(10.0)


def erf_array(x: Any) -> np.ndarray:
    """The error function elementwise (NumPy has none; ``math.erf`` per element, in ``x``'s dtype)."""
    x = np.asarray(x)
    return np.vectorize(math.erf, otypes=[np.float64])(x).astype(x.dtype if x.dtype.kind == "f" else np.float64)


def _slope(derivative: Any) -> tuple[Any, Any]:
    """The VJP and JVP of a unary function whose derivative is ``derivative(x, out)``."""
    return (lambda g, out, x: (g * derivative(x, out),)), (lambda t, out, x: t[0] * derivative(x, out))


def _unary(name: str, math_name: str, np_name: str, derivative: Any, sympy: Any, doc: str,
           evaluate: Any = None) -> Any:
    """A unary function spelled ``math_name`` in scalar kernels and C (``sinf`` in float32), ``np.<np_name>``
    in array kernels, evaluated by that NumPy function unless ``evaluate`` is given (``_<name>``: NumPy has
    none, and array kernels call ``evaluate`` by that name, its ``np_helper``)."""
    vjp, jvp = _slope(derivative)
    own = np_name.startswith("_")
    spelled = f"{np_name[1:]}({{0}})" if own else f"np.{np_name}({{0}})"
    return float_op(name, 1, evaluate or getattr(np, np_name), vjp, f"{math_name}({{0}})", spelled,
                    c=f"{math_name}{{f}}({{0}})", jvp=jvp, sympy=sympy,
                    np_helper=(np_name[1:], evaluate) if own else None, doc=doc)


# --- trigonometric and hyperbolic --------------------------------------------------------------
tan = _unary("tan", "tan", "tan", lambda x, out: 1.0 + out * out, lambda sp, n, a: sp.tan(a), "Tangent.")
sinh = _unary("sinh", "sinh", "sinh", lambda x, out: F.cosh(x), lambda sp, n, a: sp.sinh(a), "Hyperbolic sine.")
cosh = _unary("cosh", "cosh", "cosh", lambda x, out: F.sinh(x), lambda sp, n, a: sp.cosh(a), "Hyperbolic cosine.")
arcsin = _unary("arcsin", "asin", "arcsin", lambda x, out: 1.0 / F.sqrt(1.0 - x * x),
                lambda sp, n, a: sp.asin(a), "Inverse sine, in [-pi/2, pi/2] (nan outside [-1, 1]).")
arccos = _unary("arccos", "acos", "arccos", lambda x, out: -1.0 / F.sqrt(1.0 - x * x),
                lambda sp, n, a: sp.acos(a), "Inverse cosine, in [0, pi] (nan outside [-1, 1]).")
arctan = _unary("arctan", "atan", "arctan", lambda x, out: 1.0 / (1.0 + x * x),
                lambda sp, n, a: sp.atan(a), "Inverse tangent, in (-pi/2, pi/2).")
arcsinh = _unary("arcsinh", "asinh", "arcsinh", lambda x, out: 1.0 / F.sqrt(x * x + 1.0),
                 lambda sp, n, a: sp.asinh(a), "Inverse hyperbolic sine.")
arccosh = _unary("arccosh", "acosh", "arccosh", lambda x, out: 1.0 / F.sqrt((x - 1.0) * (x + 1.0)),
                 lambda sp, n, a: sp.acosh(a), "Inverse hyperbolic cosine (nan below 1).")
arctanh = _unary("arctanh", "atanh", "arctanh", lambda x, out: 1.0 / (1.0 - x * x),
                 lambda sp, n, a: sp.atanh(a), "Inverse hyperbolic tangent (±inf at ±1, nan beyond).")


def _arctan2_parts(g: Any, y: Any, x: Any) -> tuple[Any, Any]:
    """g * d atan2(y, x)/dy = g x / (x² + y²) and g * d/dx = -g y / (x² + y²)."""
    scale = g / (x * x + y * y)
    return scale * x, -scale * y


arctan2 = float_op("arctan2", 2, np.arctan2, lambda g, out, y, x: _arctan2_parts(g, y, x),
                   "atan2({0}, {1})", "np.arctan2({0}, {1})", c="atan2{f}({0}, {1})",
                   jvp=lambda t, out, y, x: F.add_tangents(
                       None if t[0] is None else _arctan2_parts(t[0], y, x)[0],
                       None if t[1] is None else _arctan2_parts(t[1], y, x)[1]),
                   sympy=lambda sp, n, y, x: sp.atan2(y, x),
                   doc="The angle of the point (x, y), in [-pi, pi]: arctan2(y, x), y first as in NumPy.")


def _hypot_share(g: Any, a: Any, out: Any) -> Any:
    """g * d hypot(a, b)/da = g a / hypot(a, b), and 0 at the origin (where it is 0 / 0)."""
    return F.where(out == 0.0, 0.0, g * a / F.where(out == 0.0, 1.0, out))


hypot = float_op("hypot", 2, np.hypot, lambda g, out, a, b: (_hypot_share(g, a, out), _hypot_share(g, b, out)),
                 "hypot({0}, {1})", "np.hypot({0}, {1})", c="hypot{f}({0}, {1})",
                 jvp=lambda t, out, a, b: F.add_tangents(None if t[0] is None else _hypot_share(t[0], a, out),
                                                         None if t[1] is None else _hypot_share(t[1], b, out)),
                 sympy=lambda sp, n, a, b: sp.sqrt(a**2 + b**2),
                 doc="sqrt(a² + b²) without overflow or underflow; its gradient at (0, 0) is 0.")

# --- logarithms, powers and the error function ---------------------------------------------------
log2 = _unary("log2", "log2", "log2", lambda x, out: (1.0 / LN2) / x, lambda sp, n, a: sp.log(a, 2),
              "Logarithm to base 2 (exact at powers of 2).")
log10 = _unary("log10", "log10", "log10", lambda x, out: (1.0 / LN10) / x, lambda sp, n, a: sp.log(a, 10),
               "Logarithm to base 10.")
exp2 = _unary("exp2", "exp2", "exp2", lambda x, out: LN2 * out, lambda sp, n, a: 2**a, "2 ** x.")
erf = _unary("erf", "erf", "_erf", lambda x, out: (2.0 / math.sqrt(math.pi)) * F.exp(-x * x),
             lambda sp, n, a: sp.erf(a), "The error function: 2 / sqrt(pi) times the integral of exp(-t²) "
             "from 0 to x.", evaluate=erf_array)


def _logaddexp_share(g: Any, a: Any, out: Any) -> Any:
    """g * d logaddexp(a, b)/da = g exp(a - out): a's share of exp(a) + exp(b)."""
    return g * F.exp(a - out)


logaddexp = float_op("logaddexp", 2, np.logaddexp,
                     lambda g, out, a, b: (_logaddexp_share(g, a, out), _logaddexp_share(g, b, out)),
                     "logaddexp({0}, {1})", "np.logaddexp({0}, {1})", c="gg_logaddexp{f}({0}, {1})",
                     jvp=lambda t, out, a, b: F.add_tangents(
                         None if t[0] is None else _logaddexp_share(t[0], a, out),
                         None if t[1] is None else _logaddexp_share(t[1], b, out)),
                     sympy=lambda sp, n, a, b: sp.log(sp.exp(a) + sp.exp(b)),
                     doc="log(exp(a) + exp(b)) without overflow; a tie splits the gradient evenly.")
