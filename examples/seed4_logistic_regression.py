"""Seed 004: sigmoid + binary cross-entropy, where SymPy gives up and backprop does not.

Reproduces the derivatives lab ``seeds/004_0633045b026a7729.txt`` (its first
half, derivatives of w^2, 2w, w^3, 1/w, 1/w^2, is ``seed1_simple_derivatives.py``).
It prints

1. SymPy's chain rule over the *symbols* a and Z (the notebook's working cell):
   dL/da = (1 - y)/(1 - a) - y/a and dL/dZ = dL/da * da/dZ, which simplifies
   to a - y.
2. SymPy's failure when the notebook asks for the derivative with respect to
   an intermediate *expression*: ``diff(L, a)`` with a = 1/(1 + exp(-Z)) raises
   ``ValueError: Can't calculate derivative wrt 1/(exp(-b - w1*x1 - w2*x2) + 1).``
   gradgen's backprop table has dL/dZ and dL/da for those intermediate nodes
   directly, and they match SymPy's symbol-level formulas.
3. The notebook's vectorised NumPy gradient for X = [[0.1, 0.2], [0.4, 0.5],
   [0.5, 0.3]], y = [0, 1, 0], w = [0.1, 0.2], b = 0.1: ``Gradient with
   respect to w: [0.1537824  0.05303517]``, ``Gradient with respect to b:
   0.6494514041852678``. That is the gradient of the SUM of the per-example
   losses (dL/dZ = a - y, not divided by m), so gradgen's ``L = gg.sum(losses)``
   gives the same numbers; ``gg.mean`` would give them divided by 3.
4. ``gg.check_grad`` and the generated NumPy kernel.

Run: ``PYTHONPATH=. python examples/seed4_logistic_regression.py``
"""

from __future__ import annotations

import numpy as np
import sympy as sp

import gradgen as gg

# The notebook's data and parameters (y is an integer array, as in the notebook).
X = np.array([[0.1, 0.2], [0.4, 0.5], [0.5, 0.3]])  # shape (3, 2)
Y = np.array([0, 1, 0])  # shape (3,)
W = np.array([0.1, 0.2])  # shape (2,)
B = 0.1


def example_loss(w1, w2, b, x1, x2, y):
    """One example, two features, written like the notebook's SymPy cells: Z, a = sigmoid(Z), L."""
    Z = w1 * x1 + w2 * x2 + b
    a = 1 / (1 + gg.exp(-Z))
    L = -y * gg.log(a) - (1 - y) * gg.log(1 - a)
    return L


def logistic_loss(w, b, X, y):
    """The notebook's vectorised model; L is the SUM of the per-example losses, as its gradient is."""
    Z = X @ w + b
    a = gg.sigmoid(Z)
    losses = -y * gg.log(a) - (1 - y) * gg.log(1 - a)
    L = gg.sum(losses)
    return L


def logistic_mean_loss(w, b, X, y):
    """The usual cost: the MEAN of the per-example losses (gradients are the notebook's divided by m)."""
    Z = X @ w + b
    a = gg.sigmoid(Z)
    losses = -y * gg.log(a) - (1 - y) * gg.log(1 - a)
    J = gg.mean(losses)
    return J


def example_values(row: int) -> dict[str, float]:
    """The arguments of ``example_loss`` for one row of the notebook's data."""
    return {"w1": W[0], "w2": W[1], "b": B, "x1": X[row, 0], "x2": X[row, 1], "y": Y[row]}


def numpy_gradient() -> tuple[np.ndarray, float]:
    """The notebook's vectorised NumPy gradient, line for line: (dL_dw, dL_db)."""
    Z = np.dot(X, W) + B
    a = 1 / (1 + np.exp(-Z))
    dL_dZ = a - Y
    dZ_dw = X
    dZ_db = 1
    dL_dw = np.dot(dL_dZ, dZ_dw)
    dL_db = np.sum(dL_dZ * dZ_db)
    return dL_dw, dL_db


def sympy_symbol_chain_rule() -> dict[str, sp.Expr]:
    """The notebook's working cell: a and Z are plain symbols, so diff can take them."""
    y, a, Z = sp.symbols("y a Z")
    L = (-y * sp.log(a)) - ((1 - y) * sp.log(1 - a))
    dL_da = sp.diff(L, a)
    da_dZ = sp.diff(sp.Rational(1, 1) / (1 + sp.exp(-Z)), Z)
    return {"dL_da": dL_da, "da_dZ": da_dZ, "dL_dZ": dL_da * da_dZ}


def sympy_wrt_intermediate() -> str:
    """The notebook's failing cell: differentiate with respect to a = 1/(1 + exp(-Z)), an expression.

    Returns SymPy's error message.
    """
    w1, w2, x1, x2, b, y = sp.symbols("w1 w2 x1 x2 b y")
    Z = w1 * x1 + w2 * x2 + b
    a = 1 / (1 + sp.exp(-Z))
    L = -y * sp.log(a) - (1 - y) * sp.log(1 - a)
    try:
        sp.diff(L, a)
    except ValueError as error:
        return str(error).strip()
    raise AssertionError("SymPy differentiated with respect to an expression; the notebook says it cannot")


def sympy_zero_gradient() -> sp.Expr:
    """The notebook's cell where Z is a free symbol: dZ/dw1 = 0, so SymPy's dL/dw1 comes out 0."""
    w1, Z, y = sp.symbols("w1 Z y")
    a = 1 / (1 + sp.exp(-Z))
    L = -y * sp.log(a) - (1 - y) * sp.log(1 - a)
    return sp.diff(L, Z) * sp.diff(Z, w1)


def show_sympy() -> None:
    """Parts 1 and 2: SymPy's symbol-level chain rule, its failure, and gradgen's intermediate gradients."""
    print("=" * 72)
    print("SymPy: chain rule over the symbols a and Z")
    print("=" * 72)
    symbolic = sympy_symbol_chain_rule()
    for name, expr in symbolic.items():
        print(f"  {name} = {expr}")
    a, Z = sp.symbols("a Z")
    simplified = sp.simplify(symbolic["dL_dZ"].subs(a, 1 / (1 + sp.exp(-Z))) - 1 / (1 + sp.exp(-Z)))
    print(f"  dL_dZ - a, with a = sigmoid(Z), simplifies to {simplified}: dL/dZ = a - y")

    print("\nSymPy, asked for dL/da where a is the expression 1/(1 + exp(-Z)):")
    print(f"  ValueError: {sympy_wrt_intermediate()}")
    print(f"  ... and with Z a free symbol instead, dL/dw1 = {sympy_zero_gradient()} (silently wrong)")

    print("\ngradgen: every node, intermediates included, for the first example (row 0 of X):")
    values = example_values(0)
    table = gg.backprop_table(example_loss, **values)
    print(table)
    at = {sp.Symbol("a"): table["a"].value, sp.Symbol("y"): values["y"], sp.Symbol("Z"): table["Z"].value}
    print(f"  dL/da = {table['a'].grad!r}    SymPy's (1 - y)/(1 - a) - y/a: {float(symbolic['dL_da'].subs(at))!r}")
    print(f"  dL/dZ = {table['Z'].grad!r}    SymPy's dL_da * da_dZ:         {float(symbolic['dL_dZ'].subs(at))!r}")
    print(f"                                   a - y:                   {float(table['a'].value - values['y'])!r}")


def show_vectorised() -> None:
    """Part 3: the notebook's vectorised gradient, by NumPy by hand and by gradgen."""
    print("\n" + "=" * 72)
    print("Vectorised logistic regression: X (3 x 2), y = [0, 1, 0], w = [0.1, 0.2], b = 0.1")
    print("=" * 72)
    dL_dw, dL_db = numpy_gradient()
    print("The notebook's NumPy, dL/dZ = a - y written by hand:")
    print("  Gradient with respect to w:", dL_dw)
    print("  Gradient with respect to b:", dL_db)

    kernel = gg.value_and_grad(logistic_loss, wrt=["w", "b"])
    L, grads = kernel(W, B, X, Y)
    print(f"gradgen, from the loss alone ({kernel.backend} backend):")
    print("  Gradient with respect to w:", grads["w"])
    print("  Gradient with respect to b:", grads["b"])
    print(f"  L = sum of the losses = {L!r}")

    table = gg.backprop_table(logistic_loss, w=W, b=B, X=X, y=Y)
    print("\nThe backprop table (dL/dZ row is a - y):")
    print(table)
    print(f"  dL/dZ = {table['Z'].grad}")
    print(f"  a - y = {table['a'].value - Y}")

    J, mean_grads = gg.value_and_grad(logistic_mean_loss, wrt=["w", "b"])(W, B, X, Y)
    print(f"\nWith the mean instead of the sum: J = {J!r}, dJ/dw = {mean_grads['w']}, dJ/db = {mean_grads['b']!r}")

    print("\ngg.check_grad:")
    print(gg.check_grad(logistic_loss, wrt=["w", "b"], w=W, b=B, X=X, y=Y))

    print("\nThe NumPy kernel gradgen writes (log(sigmoid) rewritten to a stable softplus):")
    specs = {"w": gg.Array((2,)), "b": gg.Scalar(), "X": gg.Array((3, 2)), "y": gg.Array((3,), dtype="int64")}
    print(gg.value_and_grad(logistic_loss, wrt=["w", "b"], backend="python", specs=specs).source)


def main() -> None:
    """Print the notebook's SymPy attempts and its vectorised gradient, with gradgen's."""
    show_sympy()
    show_vectorised()


if __name__ == "__main__":
    main()
