"""Seed 002: gradients of a 2-layer ReLU network, by hand, by SymPy + lambdify, and by gradgen.

Reproduces the notebook ``seeds/002_3cd3f6384587b34e.txt``: one training
example x = 1, y = 5, a hidden ReLU unit (w1 = 2, b1 = 0) and a ReLU output
unit (w2 = 3, b2 = 1), cost J = 1/2 (a2 - y)^2. It prints

- the forward pass as the notebook does (``a1: 2 -> a2: 7``, ``Cost J: 2.0``);
- the backward pass as a table of dJ/d(node) for every node of the network
  (``gg.backprop_table``): dJ/dw1 = 6, dJ/db1 = 6, dJ/dw2 = 4, dJ/db2 = 2, and
  on the way the notebook's hand-derived factors dJ/dactivated_a2 = 7 - 5 = 2
  and dJ/dactivated_a1 = 2 * w2 = 6;
- the notebook's SymPy solution (``Max`` for ReLU, ``diff``, then
  ``lambdify``) next to gradgen's numbers;
- one-sided finite differences with epsilon = 0.001, and ``gg.check_grad``;
- the kernel gradgen generates (ReLU and its derivative as plain ``if``s).

Run: ``PYTHONPATH=. python examples/seed2_relu_network.py``
"""

from __future__ import annotations

import numpy as np
import sympy as sp

import gradgen as gg

# The notebook's training example and parameters.
VALUES = {"x": 1, "y": 5, "w1": 2, "b1": 0, "w2": 3, "b2": 1}
PARAMETERS = ("w1", "b1", "w2", "b2")
EPSILON = 0.001


def network(w1, b1, w2, b2, x, y):
    """The notebook's network and cost, line for line (``gg.relu`` for its ``np.maximum(0, a)``)."""
    a1 = w1 * x + b1
    activated_a1 = gg.relu(a1)
    a2 = w2 * activated_a1 + b2
    activated_a2 = gg.relu(a2)
    J = 1 / 2 * (activated_a2 - y) ** 2
    return J


def numpy_forward(w1, b1, w2, b2, x, y):
    """The notebook's own forward pass with NumPy: (activated_a1, activated_a2, J)."""
    activated_a1 = np.maximum(0, w1 * x + b1)
    activated_a2 = np.maximum(0, w2 * activated_a1 + b2)
    J = 1 / 2 * (activated_a2 - y) ** 2
    return activated_a1, activated_a2, J


def sympy_gradients() -> dict[str, float]:
    """The notebook's SymPy solver: Max for ReLU, diff, lambdify, evaluated at the example."""
    w1, w2, b1, b2, x, y = sp.symbols("w1 w2 b1 b2 x y")
    a1 = w1 * x + b1
    activated_a1 = sp.Max(0, a1)
    a2 = w2 * activated_a1 + b2
    activated_a2 = sp.Max(0, a2)
    J = 1 / 2 * (activated_a2 - y) ** 2
    arguments = [w1, w2, b1, b2, x, y]
    at = [VALUES[str(s)] for s in arguments]
    return {str(p): lambdify_at(sp.diff(J, p), arguments, at) for p in (w2, b2, w1, b1)}


def lambdify_at(expr: sp.Expr, arguments: list, at: list) -> float:
    """Evaluate ``expr`` the notebook's way: ``lambdify`` to NumPy, then call."""
    return float(sp.lambdify(arguments, expr)(*at))


def one_sided_differences() -> dict[str, float]:
    """(J(p + 0.001) - J(p)) / 0.001 for each parameter, J from gradgen's forward kernel."""
    forward = gg.compile(network)
    J = forward(**VALUES)
    return {p: (forward(**{**VALUES, p: VALUES[p] + EPSILON}) - J) / EPSILON for p in PARAMETERS}


def main() -> None:
    """Print the notebook's forward pass, backward pass and SymPy check, with gradgen's."""
    activated_a1, activated_a2, J = numpy_forward(**VALUES)
    print("Forward propagation (the notebook, NumPy):")
    print(f"  a1: {activated_a1} -> a2: {activated_a2}")
    print(f"  Cost J: {J}")

    table = gg.backprop_table(network, **VALUES)
    print("\nThe same network through gradgen, every node's value and dJ/dnode:")
    print(table)
    print(f"  dJ/dactivated_a2 = activated_a2 - y = {table['activated_a2'].grad}")
    print(f"  dJ/dactivated_a1 = dJ/da2 * w2 = {table['activated_a1'].grad}")

    kernel = gg.value_and_grad(network, wrt=list(PARAMETERS))
    J, grads = kernel(**VALUES)
    print(f"\ngg.value_and_grad: J = {J}")
    for p in PARAMETERS:
        print(f"  dJ/d{p} = {grads[p]}")

    print("\nSymPy (Max for ReLU, diff, lambdify), as in the notebook:")
    for p, value in sympy_gradients().items():
        print(f"  dJ/d{p} = {value}    gradgen: {grads[p]}")

    print("\nArithmetically, epsilon = 0.001 (one-sided):")
    for p, k in one_sided_differences().items():
        print(f"  dJ_d{p} ~= k = {k!r}")
    print("\ngg.check_grad:")
    print(gg.check_grad(network, wrt=list(PARAMETERS), **VALUES))

    print("\nThe kernel gradgen wrote:")
    print(kernel.source)


if __name__ == "__main__":
    main()
