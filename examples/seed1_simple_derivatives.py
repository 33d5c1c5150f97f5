"""Seed 001: derivatives of w^2, 2w, w^3, 1/w and 1/w^2, arithmetically, symbolically and by gradgen.

Reproduces the notebook ``seeds/001_0ef1f57858a317ef.txt`` (and the same
"Optional Lab - Derivatives" at the start of seed 004). For each function it
prints:

- the notebook's one-sided finite difference, computed as the notebook does it
  (``J = (3)**2; J_epsilon = (3 + 0.001)**2; k = (J_epsilon - J)/0.001`` gives
  ``dJ_dw ~= k = 6.001000``), and the same difference through gradgen's
  compiled forward kernel (the very same numbers);
- SymPy's symbolic derivative and its value at the notebook's points
  (2w at w = 2 is 4; 3w^2 at w = 2 is 12; -1/w^2 at w = 2 is -1/4;
  -2/w^3 at w = 4 is -1/32);
- gradgen's exact derivative at the same points, and ``gg.check_grad``.

Each function body is plain Python, so the one definition is evaluated on
numbers (the notebook's way), on a SymPy symbol (SymPy's way) and traced by
gradgen.

Run: ``PYTHONPATH=. python examples/seed1_simple_derivatives.py``
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import sympy as sp

import gradgen as gg


def square(w):
    """J = w^2."""
    J = w**2
    return J


def double(w):
    """J = 2w."""
    J = 2 * w
    return J


def cube(w):
    """J = w^3."""
    J = w**3
    return J


def reciprocal(w):
    """J = 1/w."""
    J = 1 / w
    return J


def inverse_square(w):
    """J = 1/w^2."""
    J = 1 / w**2
    return J


@dataclass(frozen=True)
class Case:
    """One function of the notebook with the points where the notebook evaluates it."""

    title: str
    fn: Callable
    difference_at: float  # where the notebook takes its finite difference
    symbolic_at: tuple  # where the notebook substitutes into SymPy's derivative


CASES = (
    Case("J = w^2", square, 3, (2, 3, -3)),
    Case("J = 2w", double, 3, (-3,)),
    Case("J = w^3", cube, 2, (2,)),
    Case("J = 1/w", reciprocal, 2, (2,)),
    Case("J = 1/w^2", inverse_square, 4, (4,)),
)


def notebook_difference(fn: Callable, w: float, epsilon: float = 0.001) -> tuple[float, float, float]:
    """(J, J_epsilon, k) exactly as the notebook computes them: plain Python numbers, one side."""
    J = fn(w)
    J_epsilon = fn(w + epsilon)
    return J, J_epsilon, (J_epsilon - J) / epsilon


def gradgen_difference(fn: Callable, w: float, epsilon: float = 0.001) -> float:
    """The notebook's one-sided difference, with J evaluated by gradgen's compiled forward kernel."""
    forward = gg.compile(fn)
    return (forward(w + epsilon) - forward(w)) / epsilon


def sympy_derivative(fn: Callable) -> sp.Expr:
    """SymPy's symbolic dJ/dw of ``fn``, found by calling ``fn`` on a symbol."""
    w = sp.Symbol("w")
    return sp.diff(fn(w), w)


def show(case: Case) -> None:
    """Print the notebook's three views of one derivative, and gradgen's."""
    print("=" * 72)
    print(case.title)
    print("=" * 72)
    J, J_epsilon, k = notebook_difference(case.fn, case.difference_at)
    print(f"Arithmetically at w = {case.difference_at} (epsilon = 0.001, as the notebook):")
    print(f"  J = {J}, J_epsilon = {J_epsilon}, dJ_dw ~= k = {k}")
    print(f"  through gradgen's forward kernel:  dJ_dw ~= k = {gradgen_difference(case.fn, case.difference_at)}")

    w = sp.Symbol("w")
    dJ_dw = sympy_derivative(case.fn)
    kernel = gg.grad(case.fn)
    print(f"Symbolically: J = {case.fn(w)}, dJ_dw = {dJ_dw}")
    for point in case.symbolic_at:
        exact = dJ_dw.subs([(w, point)])
        print(f"  at w = {point}: SymPy {exact}, gradgen {kernel(point)['w']!r}")

    check = gg.check_grad(case.fn, w=case.difference_at)
    print(f"gg.check_grad at w = {case.difference_at}: ok = {check.ok}, max rel error {check.max_rel_error:.1e}")
    print()


def main() -> None:
    """Print every derivative of the notebook."""
    # The notebook's first cell: a smaller epsilon gets closer to 6.
    J, J_epsilon, k = notebook_difference(square, 3)
    print(f"J = {J}, J_epsilon = {J_epsilon}, dJ_dw ~= k = {k:0.6f} ")
    J, J_epsilon, k = notebook_difference(square, 3, epsilon=0.000000001)
    print(f"J = {J}, J_epsilon = {J_epsilon}, dJ_dw ~= k = {k} ")
    print()
    for case in CASES:
        show(case)

    print("The kernel gradgen writes for J = 1/w^2 (dJ/dw = -2/w^3 by the chain rule through w^2):")
    print(gg.value_and_grad(inverse_square).source)


if __name__ == "__main__":
    main()
