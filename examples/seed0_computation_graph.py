"""Seed 000: backprop on two small computation graphs, checked three ways.

Reproduces the notebook ``seeds/000_4d1e2abef2e94525.txt``:

1. J = (2 + 3w)^2 at w = 3, split into the nodes a = 2 + 3w and J = a^2:
   a = 11, J = 121, dJ/da = 22, dJ/dw = 66.
2. The 4-node graph c = w*x, a = c + b, d = a - y, J = d^2/2 at x = 2, w = -2,
   b = 8, y = 1: J = 4.5, d = 3, a = 4, c = -4 and dJ/dd = dJ/da = dJ/dc =
   dJ/db = 3, dJ/dw = 6.

For each graph it prints the forward values and dJ/d(node) for every node from
one backward sweep (``gg.backprop_table``), the notebook's own one-sided finite
differences with epsilon = 0.001 (e.g. ``dJ_dw ~= k = 66.0090000000082``),
``gg.check_grad``'s central differences, the notebook's SymPy chain rule
(local derivatives multiplied right to left) next to gradgen's numbers, and
the generated gradient kernel.

Run: ``PYTHONPATH=. python examples/seed0_computation_graph.py``
"""

from __future__ import annotations

import sympy as sp

import gradgen as gg

EPSILON = 0.001  # the notebook's "small change"

# The notebook's second graph: inputs and parameters.
GRAPH_VALUES = {"x": 2, "w": -2, "b": 8, "y": 1}


def square_of_affine(w):
    """J = (2 + 3w)^2 written as the notebook's two nodes a and J."""
    a = 2 + 3 * w
    J = a**2
    return J


def cost(w, b, x, y):
    """The notebook's 4-node graph: c = w*x, a = c + b, d = a - y, J = d^2/2."""
    c = w * x
    a = c + b
    d = a - y
    J = d**2 / 2
    return J


def notebook_differences_square() -> dict[str, float]:
    """The notebook's one-sided differences for J = (2 + 3w)^2 at w = 3, computed as it does."""
    w = 3
    a = 2 + 3 * w
    J = a**2
    a_epsilon = a + EPSILON
    dJ_da = (a_epsilon**2 - J) / EPSILON
    w_epsilon = w + EPSILON
    da_dw = ((2 + 3 * w_epsilon) - a) / EPSILON
    dJ_dw = ((2 + 3 * w_epsilon) ** 2 - J) / EPSILON
    return {"dJ_da": dJ_da, "da_dw": da_dw, "dJ_dw": dJ_dw}


def notebook_differences_cost() -> dict[str, float]:
    """The notebook's one-sided differences for the 4-node graph, computed as it does."""
    x, w, b, y = GRAPH_VALUES["x"], GRAPH_VALUES["w"], GRAPH_VALUES["b"], GRAPH_VALUES["y"]
    c = w * x
    a = c + b
    d = a - y
    J = d**2 / 2
    dJ_dd = ((d + EPSILON) ** 2 / 2 - J) / EPSILON
    dd_da = ((a + EPSILON - y) - d) / EPSILON
    dJ_da = ((a + EPSILON - y) ** 2 / 2 - J) / EPSILON
    dJ_dw = (((w + EPSILON) * x + b - y) ** 2 / 2 - J) / EPSILON
    return {"dJ_dd": dJ_dd, "dd_da": dd_da, "dJ_da": dJ_da, "dJ_dw": dJ_dw}


def sympy_chain_rule_square() -> dict[str, sp.Expr]:
    """The notebook's symbolic route for J = a^2, a = 2 + 3w: local derivatives, then the chain rule."""
    sw, sa = sp.symbols("w, a")
    dJ_da = sp.diff(sa**2, sa)  # 2*a
    da_dw = sp.diff(2 + 3 * sw, sw)  # 3
    return {"dJ_da": dJ_da, "da_dw": da_dw, "dJ_dw": da_dw * dJ_da}  # dJ_dw = 6*a


def sympy_chain_rule_cost() -> dict[str, sp.Expr]:
    """The notebook's symbolic route for the 4-node graph, right to left, one node at a time."""
    sx, sw, sb, sy = sp.symbols("x, w, b, y")
    sa, sc, sd = sp.symbols("a, c, d")
    dJ_dd = sp.diff(sd**2 / 2, sd)  # d
    dJ_da = sp.diff(sa - sy, sa) * dJ_dd  # 1 * d
    dJ_dc = sp.diff(sc + sb, sc) * dJ_da  # 1 * d
    dJ_db = sp.diff(sc + sb, sb) * dJ_da  # 1 * d
    dJ_dw = sp.diff(sw * sx, sw) * dJ_dc  # x * d
    return {"dJ_dd": dJ_dd, "dJ_da": dJ_da, "dJ_dc": dJ_dc, "dJ_db": dJ_db, "dJ_dw": dJ_dw}


def fmt(number: float) -> str:
    """Whole numbers without a trailing .0 (as the notebook prints its ints), others in full."""
    number = float(number)
    return str(int(number)) if number.is_integer() else repr(number)


def show_square() -> None:
    """Part 1 of the notebook: J = (2 + 3w)^2 at w = 3."""
    print("=" * 72)
    print("J = (2 + 3w)^2 at w = 3")
    print("=" * 72)
    table = gg.backprop_table(square_of_affine, w=3)
    print(f"Forward propagation: a = {fmt(table['a'].value)}, J = {fmt(table['J'].value)}")
    print("\nBackprop, one right-to-left sweep (dJ/dnode for every node):")
    print(table)

    print("\nArithmetically, as the notebook does it (epsilon = 0.001, one-sided):")
    numbers = notebook_differences_square()
    print(f"  dJ_da ~= k = {numbers['dJ_da']!r}    (backprop: {fmt(table['a'].grad)})")
    print(f"  da_dw ~= k = {numbers['da_dw']!r}")
    print(f"  dJ_dw ~= k = {numbers['dJ_dw']!r}    (backprop: {fmt(table['w'].grad)})")
    forward = gg.compile(square_of_affine)
    k = (forward(3 + EPSILON) - forward(3)) / EPSILON
    print(f"  the same difference through gradgen's forward kernel: dJ_dw ~= k = {k!r}")

    print("\nSymbolically, SymPy's chain rule next to gradgen:")
    symbolic = sympy_chain_rule_square()
    a = table["a"].value
    for node, expr in symbolic.items():
        at_a = f" = {fmt(expr.subs(sp.Symbol('a'), a))} at a = {fmt(a)}" if expr.free_symbols else ""
        # Only dJ/d(node) is in the table; da/dw is a local derivative, one factor of the chain rule.
        ours = f"    gradgen: {fmt(table[node.split('_d')[1]].grad)}" if node.startswith("dJ") else ""
        print(f"  {node} = {expr}{at_a}{ours}")

    print("\ngg.check_grad (central differences):")
    print(gg.check_grad(square_of_affine, w=3))

    kernel = gg.value_and_grad(square_of_affine)
    J, grads = kernel(3)
    print(f"\ngg.value_and_grad: J = {fmt(J)}, dJ/dw = {fmt(grads['w'])}; the kernel gradgen wrote:")
    print(kernel.source)


def show_cost() -> None:
    """Part 2 of the notebook: the 4-node graph at x = 2, w = -2, b = 8, y = 1."""
    print("=" * 72)
    print("c = w*x, a = c + b, d = a - y, J = d^2/2 at x = 2, w = -2, b = 8, y = 1")
    print("=" * 72)
    table = gg.backprop_table(cost, **GRAPH_VALUES)
    values = {name: fmt(table[name].value) for name in ("J", "d", "a", "c")}
    print(f"Forward propagation: J = {values['J']}, d = {values['d']}, a = {values['a']}, c = {values['c']}")
    print("\nBackprop, one right-to-left sweep (dJ/dnode for every node):")
    print(table)

    print("\nArithmetically, as the notebook does it (epsilon = 0.001, one-sided):")
    for name, k in notebook_differences_cost().items():
        node = name.split("_d")[1]
        exact = f"    (backprop: {fmt(table[node].grad)})" if name.startswith("dJ") else ""
        print(f"  {name} ~= k = {k!r}{exact}")

    print("\nSymbolically, SymPy's chain rule next to gradgen:")
    at = {sp.Symbol(name): table[name].value for name in ("d", "x")}
    for name, expr in sympy_chain_rule_cost().items():
        node = name.split("_d")[1]
        print(f"  {name} = {expr} = {fmt(expr.subs(at))}    gradgen: {fmt(table[node].grad)}")

    print("\ngg.check_grad (central differences):")
    print(gg.check_grad(cost, wrt=["w", "b"], **GRAPH_VALUES))

    kernel = gg.value_and_grad(cost, wrt=["w", "b"])
    J, grads = kernel(**GRAPH_VALUES)
    print(f"\ngg.value_and_grad: J = {fmt(J)}, dJ/dw = {fmt(grads['w'])}, dJ/db = {fmt(grads['b'])}; the kernel:")
    print(kernel.source)


def main() -> None:
    """Print both worked examples of the notebook."""
    show_square()
    show_cost()


if __name__ == "__main__":
    main()
