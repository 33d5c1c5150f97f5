"""Seed 003: the lecture on computation graphs and backprop, with the lecture's numbers.

Reproduces the lecture notes ``seeds/003_4c45d8eae63c3305.txt`` (its optional
labs are the notebooks of seeds 000 and 001: see ``seed0_computation_graph.py``
and ``seed1_simple_derivatives.py``). It prints

1. The linear-regression graph c = w*x, a = c + b, d = a - y, J = d^2/2 at the
   lecture's x = -2, y = 2, w = 2, b = 8: forward c = -4, a = 4, d = 2, J = 2;
   backprop dJ/dd = dJ/da = dJ/dc = dJ/db = 2 and dJ/dw = -4; and the
   lecture's nudges by epsilon = 0.001 (d: 2 -> 2.001 makes J 2.002; w: 2 ->
   2.001 makes J 1.996002, so dJ/dw ~= -4).
2. Why backprop: one right-to-left sweep gives every derivative in about n + p
   steps, where nudging each parameter takes n * p.
3. The larger network drawn as a graph with the lecture's node names t1 = w1*x,
   z1 = t1 + b1, a1 = g(z1), t2 = w2*a1, z2 = t2 + b2, a2 = g(z2), g = ReLU,
   at x = 1, y = 5, w1 = 2, b1 = 0, w2 = 3, b2 = 1: values 2, 2, 2, 6, 7, 7 and
   J = 2; dJ/da2 = dJ/dz2 = dJ/db2 = dJ/dt2 = 2, dJ/dw2 = 4, dJ/dw1 = dJ/db1 =
   6; and the lecture's check that w1 = 2.001 gives J = 2.006005.

Run: ``PYTHONPATH=. python examples/seed3_lecture_backprop.py``
"""

from __future__ import annotations

import gradgen as gg

EPSILON = 0.001
LINEAR_VALUES = {"x": -2, "y": 2, "w": 2, "b": 8}
NETWORK_VALUES = {"x": 1, "y": 5, "w1": 2, "b1": 0, "w2": 3, "b2": 1}


def linear_cost(w, b, x, y):
    """The lecture's first graph: one linear unit and the squared-error cost."""
    c = w * x
    a = c + b
    d = a - y
    J = d**2 / 2
    return J


def network_cost(w1, b1, w2, b2, x, y):
    """The lecture's second graph: two ReLU units, with its node names t, z and a."""
    t1 = w1 * x
    z1 = t1 + b1
    a1 = gg.relu(z1)
    t2 = w2 * a1
    z2 = t2 + b2
    a2 = gg.relu(z2)
    J = (a2 - y) ** 2 / 2
    return J


def linear_nudges() -> dict[str, tuple[float, float]]:
    """The lecture's nudges: raise one node by epsilon, recompute J to its right: {node: (new node value, new J)}."""
    x, y, w, b = (LINEAR_VALUES[k] for k in ("x", "y", "w", "b"))
    c = w * x
    a = c + b
    d = a - y
    nudged = {}
    new_d = d + EPSILON
    nudged["d"] = (new_d, new_d**2 / 2)
    new_a = a + EPSILON
    nudged["a"] = (new_a, (new_a - y) ** 2 / 2)
    new_c = c + EPSILON
    nudged["c"] = (new_c, (new_c + b - y) ** 2 / 2)
    new_b = b + EPSILON
    nudged["b"] = (new_b, (c + new_b - y) ** 2 / 2)
    new_w = w + EPSILON
    nudged["w"] = (new_w, (new_w * x + b - y) ** 2 / 2)
    return nudged


def show_linear() -> None:
    """Part 1 of the lecture: forward and backward on the linear graph."""
    print("=" * 72)
    print("c = w*x, a = c + b, d = a - y, J = d^2/2 at x = -2, y = 2, w = 2, b = 8")
    print("=" * 72)
    table = gg.backprop_table(linear_cost, **LINEAR_VALUES)
    print(table)
    J = table["J"].value
    print("\nThe lecture's nudges, epsilon = 0.001 (J was 2):")
    for node, (new_value, new_J) in linear_nudges().items():
        k = (new_J - J) / EPSILON
        print(f"  {node}: {table[node].value:g} -> {new_value!r} makes J {new_J!r}")
        print(f"      dJ/d{node} ~= k = {k!r}, backprop says {table[node].grad:g}")
    forward = gg.compile(linear_cost)
    print(f"  gradgen's forward kernel at w = 2.001: J = {forward(**{**LINEAR_VALUES, 'w': 2.001})!r}")


def show_n_plus_p() -> None:
    """Part 2 of the lecture: backprop needs about n + p steps, nudging needs n * p."""
    print("\n" + "=" * 72)
    print("Why backprop: n + p steps instead of n * p")
    print("=" * 72)
    table = gg.backprop_table(linear_cost, **LINEAR_VALUES)
    n = sum(1 for row in table if row.op != "input")
    p = 2  # the parameters w and b
    print(f"This graph has n = {n} nodes and p = {p} parameters: backprop ~{n + p} steps, nudging ~{n * p}.")
    print("A network of 10,000 nodes and 100,000 parameters: 110,000 steps against 1,000,000,000.")
    kernel = gg.value_and_grad(linear_cost, wrt=["w", "b"])
    print("gradgen's kernel is that one sweep: forward, then each dJ/dnode once, reused by w and b:")
    print(kernel.source)


def show_network() -> None:
    """Part 3 of the lecture: the ReLU network as a computation graph."""
    print("=" * 72)
    print("The ReLU network as a graph: x = 1, y = 5, w1 = 2, b1 = 0, w2 = 3, b2 = 1")
    print("=" * 72)
    table = gg.backprop_table(network_cost, **NETWORK_VALUES)
    print(table)
    forward = gg.compile(network_cost)
    J = forward(**NETWORK_VALUES)
    J_epsilon = forward(**{**NETWORK_VALUES, "w1": 2 + EPSILON})
    print(f"\nThe lecture's check: w1 = 2.001 gives J = {J_epsilon:.6f} ({J_epsilon!r}), up from {J:g},")
    print(f"so dJ/dw1 ~= {(J_epsilon - J) / EPSILON:.3f}; backprop says {table['w1'].grad:g}.")
    print("\ngg.check_grad:")
    print(gg.check_grad(network_cost, wrt=["w1", "b1", "w2", "b2"], **NETWORK_VALUES))


def main() -> None:
    """Print the lecture's two graphs, forward and backward."""
    show_linear()
    show_n_plus_p()
    show_network()


if __name__ == "__main__":
    main()
