"""SymPy both ways: seeds 000/001/002/004 through sympy_view, from_sympy gradients against sympy.diff."""

from __future__ import annotations

import math

import pytest
import sympy

import gradgen as gg
from gradgen.errors import GraphError
from gradgen.inspect.sympy_bridge import SympyView, from_sympy, sympy_view


def real(names: str) -> tuple[sympy.Symbol, ...]:
    return sympy.symbols(names, real=True)


def is_zero(expr: sympy.Expr) -> bool:
    return sympy.simplify(expr) == 0


# --------------------------------------------------------------------------- seeds through to_sympy


def seed_square(w):
    a = 2 + 3 * w
    J = a**2
    return J


def seed_four_nodes(x, w, b, y):
    c = w * x
    a = c + b
    d = a - y
    J = d**2 / 2
    return J


def logistic_loss(Z, y):
    a = gg.sigmoid(Z)
    L = -y * gg.log(a) - (1 - y) * gg.log(1 - a)
    return L


def logistic_loss_spelled_out(Z, y):
    a = 1 / (1 + gg.exp(-Z))
    L = -y * gg.log(a) - (1 - y) * gg.log(1 - a)
    return L


def logistic_regression(w1, w2, w3, x1, x2, x3, b, y):
    Z = w1 * x1 + w2 * x2 + w3 * x3 + b
    a = gg.sigmoid(Z)
    L = -y * gg.log(a) - (1 - y) * gg.log(1 - a)
    return L


def test_seed_000_square_expression_and_nodes():
    view = sympy_view(seed_square)
    w = real("w")
    assert isinstance(view, SympyView)
    assert view.expr == (2 + 3 * w) ** 2
    assert view.nodes["a"] == 3 * w + 2
    assert view.nodes["J"] == view.expr
    assert view.expr.subs(w, 3) == 121


def test_seed_000_derivatives_wrt_intermediate_and_input():
    view = sympy_view(seed_square)
    w = real("w")
    a = view.symbol("a")
    dJ_da = view.diff(wrt="a")
    assert dJ_da == 2 * a
    assert dJ_da.subs(a, 11) == 22
    assert view.evaluate(dJ_da, w=3) == 22
    dJ_dw = view.diff(wrt="w")
    assert is_zero(dJ_dw - 6 * (3 * w + 2))
    assert dJ_dw.subs(w, 3) == 66
    both = view.diff(wrt=["a", "w"])
    assert both == {"a": dJ_da, "w": dJ_dw}


def test_seed_001_four_node_graph():
    view = sympy_view(seed_four_nodes)
    x, w, b, y = real("x w b y")
    assert is_zero(view.expr - (w * x + b - y) ** 2 / 2)
    assert view.nodes["c"] == w * x
    assert view.nodes["a"] == w * x + b
    assert view.nodes["d"] == w * x + b - y
    d = view.symbol("d")
    assert view.diff(wrt="d") == d
    for name in ("a", "c", "b"):
        assert is_zero(view.in_inputs(view.diff(wrt=name)) - view.nodes["d"]), name
    assert is_zero(view.diff(wrt="w") - view.nodes["d"] * x)
    assert is_zero(view.in_inputs(view.diff(wrt="x")) - view.nodes["d"] * w)
    values = {"x": 2, "w": -2, "b": 8, "y": 1}
    assert view.evaluate(view.expr, **values) == sympy.Rational(9, 2)
    assert view.evaluate(view.diff(wrt="d"), **values) == 3
    assert view.evaluate(view.diff(wrt="a"), **values) == 3
    assert view.evaluate(view.diff(wrt="w"), **values) == 6


def test_seed_002_square():
    view = sympy_view(lambda w: w**2)
    w = real("w")
    assert view.expr == w**2
    assert view.diff(wrt="w") == 2 * w


def test_plain_symbols_on_request():
    view = sympy_view(seed_square, real=False)
    assert view.expr == (2 + 3 * sympy.Symbol("w")) ** 2


def test_diff_of_another_node():
    view = sympy_view(seed_four_nodes)
    assert view.diff(of="a", wrt="c") == 1
    assert view.diff(of="c", wrt="d") == 0


@pytest.mark.parametrize("fn", [logistic_loss, logistic_loss_spelled_out])
def test_seed_004_logistic_loss(fn):
    view = sympy_view(fn)
    Z, y = real("Z y")
    a = view.symbol("a")
    sigmoid = 1 / (1 + sympy.exp(-Z))
    dL_dZ = view.diff(wrt="Z")
    assert is_zero(dL_dZ - (sigmoid - y))
    assert view.diff(wrt="Z", simplify=True) is not None
    dL_da = view.diff(wrt="a")
    assert is_zero(dL_da - (-y / a + (1 - y) / (1 - a)))
    # numerically, at a few points, against the textbook forms and the Python kernel
    kernel = gg.value_and_grad(fn, backend="python")
    for z_value, y_value in [(0.3, 1.0), (-1.7, 0.0), (2.0, 0.25)]:
        s = 1 / (1 + math.exp(-z_value))
        at = {Z: z_value, y: y_value}
        assert float(dL_dZ.subs(at)) == pytest.approx(s - y_value, rel=1e-12, abs=1e-12)
        assert float(dL_da.subs({a: s, y: y_value})) == pytest.approx(-y_value / s + (1 - y_value) / (1 - s))
        _, grads = kernel(z_value, y_value)
        assert grads["Z"] == pytest.approx(float(dL_dZ.subs(at)), rel=1e-10, abs=1e-12)


def test_seed_004_derivative_wrt_intermediate_Z():
    """The case SymPy refuses ("Can't calculate derivative wrt ..."): dL/dZ with Z = w.x + b."""
    view = sympy_view(logistic_regression)
    w1, x1, b, y = real("w1 x1 b y")
    Z = view.symbol("Z")
    dL_dZ = view.diff(wrt="Z")
    assert is_zero(dL_dZ - (1 / (1 + sympy.exp(-Z)) - y))
    dL_dw1 = view.diff(wrt="w1")
    assert is_zero(dL_dw1 - x1 * (1 / (1 + sympy.exp(-view.nodes["Z"])) - y))
    assert is_zero(view.diff(wrt="b") - (1 / (1 + sympy.exp(-view.nodes["Z"])) - y))


def test_to_sympy_op_spellings():
    def fn(x, y):
        u = gg.log1p(x) + gg.expm1(y) + gg.sqrt(x) + gg.sin(x) * gg.cos(y) + gg.tanh(x)
        v = gg.abs(y) + gg.sign(y) + gg.relu(y) + gg.softplus(x) + gg.maximum(x, y) - gg.minimum(x, y)
        w = gg.where(x > y, x, y) + gg.stop_gradient(x) + x / y - x**0.5
        return u + v + w

    view = sympy_view(fn)
    x, y = real("x y")
    expected = (sympy.log(1 + x) + sympy.exp(y) - 1 + sympy.sqrt(x) + sympy.sin(x) * sympy.cos(y) + sympy.tanh(x)
                + sympy.Abs(y) + sympy.sign(y) + sympy.Max(0, y) + sympy.log(1 + sympy.exp(x)) + sympy.Max(x, y)
                - sympy.Min(x, y) + sympy.Piecewise((x, x > y), (y, True)) + x + x / y - sympy.sqrt(x))
    assert is_zero(view.expr - expected)


def test_to_sympy_rejects_arrays_naming_the_shape():
    with pytest.raises(GraphError, match=r"\(3,\)"):
        sympy_view(lambda x: gg.sum(x * x), x=gg.Array((3,)))


def test_to_sympy_unknown_node_name():
    view = sympy_view(seed_square)
    with pytest.raises(GraphError, match="nope"):
        view.diff(wrt="nope")


# --------------------------------------------------------------------------- from_sympy


def check_gradient(expr: sympy.Expr, inputs: list[sympy.Symbol], points: list[dict[sympy.Symbol, float]]) -> None:
    graph = from_sympy(expr, inputs)
    kernel = gg.value_and_grad(graph, backend="python")
    for point in points:
        value, grads = kernel(**{s.name: v for s, v in point.items()})
        assert value == pytest.approx(float(expr.subs(point)), rel=1e-10, abs=1e-12)
        for s in inputs:
            expected = float(sympy.diff(expr, s).subs(point))
            assert grads[s.name] == pytest.approx(expected, rel=1e-9, abs=1e-12), (expr, s, point)


X, Y, W = sympy.symbols("x y w", real=True)

SMOOTH_CASES = [
    X * Y + 3 * X - Y / 2,
    (2 + 3 * W) ** 2,
    X**3 - X ** sympy.Rational(3, 2) + 1 / X + X**-2 + sympy.sqrt(X) / Y ** sympy.Rational(1, 3),
    X**Y,
    sympy.exp(X * Y) + sympy.log(X + Y) + sympy.sin(X) * sympy.cos(Y) + sympy.tanh(X - Y),
    sympy.Abs(X - Y) + sympy.Max(X, Y, 1) - sympy.Min(X, 2 * Y),
    sympy.pi * X + sympy.E * Y + sympy.Float(0.125) * X * Y + sympy.Rational(2, 3),
    -Y * sympy.log(1 / (1 + sympy.exp(-X))) - (1 - Y) * sympy.log(1 - 1 / (1 + sympy.exp(-X))),
    sympy.sign(X - 5) * X,
    -X - Y * X,
    1 / X,
    1 / sympy.sqrt(X + Y) - 2 / (X * Y**3),
]


@pytest.mark.parametrize("expr", SMOOTH_CASES, ids=[str(e)[:40] for e in SMOOTH_CASES])
def test_from_sympy_gradient_matches_sympy_diff(expr):
    inputs = sorted(expr.free_symbols, key=lambda s: s.name)
    points = [{s: v for s, v in zip(inputs, values)} for values in [(1.3, 0.7, 0.4), (2.5, 1.9, -0.3)]]
    check_gradient(expr, inputs, points)


def test_from_sympy_piecewise_and_heaviside():
    expr = sympy.Piecewise((X**2, X < 1), (sympy.sin(X) * Y, X <= 3), (Y, True)) + sympy.Heaviside(X - 2) * X
    points = [{X: x, Y: 0.5} for x in (0.5, 2.5, 4.0)]
    check_gradient(expr, [X, Y], points)
    graph = from_sympy(sympy.Heaviside(X), [X])
    forward = gg.compile(graph, backend="python")
    assert [forward(v) for v in (-1.0, 0.0, 2.0)] == [0.0, 0.5, 1.0]


def test_from_sympy_round_trip_through_sympy_view():
    expr = X * sympy.exp(-Y) + sympy.log(X) / Y
    view = sympy_view(from_sympy(expr, ["x", "y"]))
    assert is_zero(view.expr - expr)


def test_from_sympy_shares_subexpressions():
    shared = sympy.exp(X * Y)
    graph = from_sympy(shared * X + shared * Y + sympy.sin(shared), [X, Y])
    assert sum(node.op == "exp" for node in graph.nodes) == 1


def test_from_sympy_inputs_by_name_and_unused_input():
    graph = from_sympy(X + 1, ["x", "y"])
    assert graph.input_names == ("x", "y")
    _, grads = gg.value_and_grad(graph, backend="python")(2.0, 5.0)
    assert grads == {"x": 1.0, "y": 0.0}


def test_from_sympy_constant_expression():
    graph = from_sympy(sympy.Integer(3), [X])
    assert gg.compile(graph, backend="python")(1.0) == 3.0


def test_from_sympy_long_product_without_recursion_error():
    symbols = sympy.symbols("v0:300")
    expr = sympy.Mul(*[s + k for k, s in enumerate(symbols, start=1)])
    graph = from_sympy(expr, list(symbols))
    kernel = gg.value_and_grad(graph, backend="python")
    args = [0.01 * k for k in range(300)]
    _, grads = kernel(*args)
    factors = [a + k for k, a in enumerate(args, start=1)]
    product = math.prod(factors)
    assert grads["v7"] == pytest.approx(product / factors[7], rel=1e-9)


def test_from_sympy_deeply_nested_without_recursion_error():
    expr = X
    for k in range(1000):
        expr = sympy.sin(expr) + Y / (k + 1)
    graph = from_sympy(expr, [X, Y])
    assert sum(node.op == "sin" for node in graph.nodes) == 1000
    value, grads = gg.value_and_grad(graph, backend="python")(0.5, 0.1)
    assert math.isfinite(value) and math.isfinite(grads["x"]) and math.isfinite(grads["y"])


@pytest.mark.parametrize("expr, name", [
    (sympy.gamma(X), "gamma"),
    (sympy.Integral(X, Y), "Integral"),
    (sympy.Function("f")(X), "f"),
    (sympy.atan(X) + 1, "atan"),
    (sympy.I * X, "ImaginaryUnit"),
])
def test_from_sympy_unsupported_node_names_its_class(expr, name):
    with pytest.raises(GraphError, match=name):
        from_sympy(expr, [X, Y])


def test_from_sympy_unknown_symbol():
    with pytest.raises(GraphError, match="y"):
        from_sympy(X + Y, [X])


def test_from_sympy_graph_compiles_with_the_default_backend():
    expr = sympy.exp(-X * Y) * sympy.sin(X) + X**2 / Y
    graph = from_sympy(expr, [X, Y])
    point = {X: 0.8, Y: 1.6}
    value, grads = gg.value_and_grad(graph)(0.8, 1.6)
    assert value == pytest.approx(float(expr.subs(point)), rel=1e-12)
    assert grads["y"] == pytest.approx(float(sympy.diff(expr, Y).subs(point)), rel=1e-10)


def test_to_sympy_gives_the_expression_and_derivatives_by_node_name():
    w, x, b, y = sympy.symbols("w x b y", real=True)
    expr = gg.to_sympy(seed_four_nodes)
    assert sympy.simplify(expr - (w * x + b - y) ** 2 / 2) == 0
    assert gg.to_sympy(seed_four_nodes, wrt="d") == sympy.Symbol("d", real=True)
    both = gg.to_sympy(seed_four_nodes, wrt=["w", "b"])
    assert sympy.simplify(both["w"] - x * (w * x + b - y)) == 0
