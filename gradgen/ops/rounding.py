"""Rounding and remainders, elementwise, as NumPy computes them.

``floor``, ``ceil``, ``trunc`` and ``rint`` (to the nearest integer, ties to even, as ``np.round``)
are piecewise constant: their gradient is 0 everywhere (also at the jumps, as in JAX and autograd).
``mod`` (Python's ``%``: the sign of the divisor) and ``fmod`` (C's: the sign of the dividend) are
``a - b * floor(a / b)`` and ``a - b * trunc(a / b)``, so their gradient is 1 for ``a`` and
``-floor(a / b)`` or ``-trunc(a / b)`` for ``b``, away from the jumps. ``floor_divide`` (Python's
``//``) is the quotient that goes with ``mod``, piecewise constant too.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gradgen.ops import functions as F
from gradgen.ops.elementwise import float_op, no_gradient


def _step_function(name: str, math_name: str, np_name: str, sympy: Any, doc: str) -> Any:
    return float_op(name, 1, getattr(np, np_name), no_gradient, f"{math_name}({{0}})", f"np.{np_name}({{0}})",
                    c=f"{math_name}{{f}}({{0}})", jvp=lambda t, out, x: None, cheap=True, sympy=sympy,
                    doc=f"{doc} Its gradient is 0.")


floor = _step_function("floor", "floor", "floor", lambda sp, n, a: sp.floor(a), "The largest integer <= x.")
ceil = _step_function("ceil", "ceil", "ceil", lambda sp, n, a: sp.ceiling(a), "The smallest integer >= x.")
trunc = _step_function("trunc", "trunc", "trunc",
                       lambda sp, n, a: sp.Piecewise((sp.floor(a), a >= 0), (sp.ceiling(a), True)),
                       "x rounded towards 0.")
rint = float_op("rint", 1, np.rint, no_gradient, "rint({0})", "np.rint({0})", c="nearbyint{f}({0})",
                jvp=lambda t, out, x: None, cheap=True, sympy=None,
                doc="x rounded to the nearest integer, ties to even (np.rint, np.round). Its gradient is 0.")


def _remainder(name: str, quotient: Any, evaluate: Any, py: str, c: str, sympy: Any, doc: str) -> Any:
    """A remainder ``a - b * quotient(a / b)``: its VJP is (g, -g * quotient(a / b))."""
    return float_op(name, 2, evaluate, lambda g, out, a, b: (g, -g * quotient(a / b)), py, f"np.{name}({{0}}, {{1}})",
                    c=c, jvp=lambda t, out, a, b: F.add_tangents(
                        t[0], None if t[1] is None else -t[1] * quotient(a / b)),
                    cheap=True, sympy=sympy, doc=doc)


mod = _remainder("mod", lambda q: floor(q), np.mod, "mod({0}, {1})", "gg_mod{f}({0}, {1})",
                 lambda sp, n, a, b: sp.Mod(a, b),
                 "a % b: the remainder with the sign of b, as Python and np.mod (nan where b is 0).")
fmod = _remainder("fmod", lambda q: trunc(q), np.fmod, "fmod({0}, {1})", "fmod{f}({0}, {1})",
                  lambda sp, n, a, b: a - b * sp.Piecewise((sp.floor(a / b), a / b >= 0), (sp.ceiling(a / b), True)),
                  "C's fmod: the remainder with the sign of a (nan where b is 0).")
floor_divide = float_op("floor_divide", 2, np.floor_divide, no_gradient, "floordiv({0}, {1})",
                        "np.floor_divide({0}, {1})", c="gg_floordiv{f}({0}, {1})", jvp=lambda t, out, a, b: None,
                        cheap=True, sympy=lambda sp, n, a, b: sp.floor(a / b),
                        doc="a // b: floor(a / b) computed as Python and np.floor_divide do, so that "
                            "a == b * (a // b) + a % b (a / b where b is 0). Its gradient is 0.")
