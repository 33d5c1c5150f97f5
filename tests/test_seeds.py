"""The seed notebooks' worked examples, with their exact numbers (issue 2, items 10 and 11).

The model functions live in the example scripts under ``examples/`` (not a
package), loaded here from their file paths; each script is also run as a
subprocess and must exit 0 printing the notebook's key numbers.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import sympy as sp

import gradgen as gg

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
TOL = 1e-12


def load_example(stem: str):
    """Import ``examples/<stem>.py`` as a module."""
    name = f"gradgen_example_{stem}"
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{stem}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the file runs
    spec.loader.exec_module(module)
    return module


seed0 = load_example("seed0_computation_graph")
seed1 = load_example("seed1_simple_derivatives")
seed2 = load_example("seed2_relu_network")
seed3 = load_example("seed3_lecture_backprop")
seed4 = load_example("seed4_logistic_regression")


def values_and_grads(table: gg.BackpropTable, names: str) -> dict[str, tuple[float, float]]:
    """{node: (value, dJ/dnode)} for the space-separated node names."""
    return {name: (table[name].value, table[name].grad) for name in names.split()}


def close(got, expected, tol: float = TOL) -> bool:
    """Equal to ``tol`` relative (absolute near zero), elementwise."""
    return bool(np.allclose(got, expected, rtol=tol, atol=tol))


# --- seed 000: J = (2 + 3w)^2 and the 4-node graph ------------------------------------------------


def test_seed0_square_forward_and_backprop_by_node_name():
    table = gg.backprop_table(seed0.square_of_affine, w=3)
    assert values_and_grads(table, "w a J") == {"w": (3.0, 66.0), "a": (11.0, 22.0), "J": (121.0, 1.0)}
    assert table["a"].op == "add" and table["J"].op == "power"


def test_seed0_square_value_and_grad():
    J, grads = gg.value_and_grad(seed0.square_of_affine)(3)
    assert (J, grads) == (121.0, {"w": 66.0})


def test_seed0_square_notebook_finite_differences():
    assert seed0.notebook_differences_square() == {
        "dJ_da": 22.000999999988835,
        "da_dw": 3.0000000000001137,
        "dJ_dw": 66.0090000000082,
    }
    forward = gg.compile(seed0.square_of_affine)
    assert forward(3) == 121.0
    assert forward(3 + 0.001) == 121.06600900000001
    assert (forward(3 + 0.001) - forward(3)) / 0.001 == 66.0090000000082
    assert gg.check_grad(seed0.square_of_affine, w=3).ok


def test_seed0_square_sympy_chain_rule_matches_backprop():
    a = sp.Symbol("a")
    symbolic = seed0.sympy_chain_rule_square()
    assert symbolic == {"dJ_da": 2 * a, "da_dw": 3, "dJ_dw": 6 * a}
    table = gg.backprop_table(seed0.square_of_affine, w=3)
    assert symbolic["dJ_da"].subs(a, 11) == 22 == table["a"].grad
    assert symbolic["dJ_dw"].subs(a, 11) == 66 == table["w"].grad


def test_seed0_graph_forward_and_backprop_by_node_name():
    table = gg.backprop_table(seed0.cost, **seed0.GRAPH_VALUES)
    assert [row.name for row in table][:7] == ["w", "b", "x", "y", "c", "a", "d"]
    assert table.rows[-1].name == "J"
    assert values_and_grads(table, "J d a c b w") == {
        "J": (4.5, 1.0),
        "d": (3.0, 3.0),
        "a": (4.0, 3.0),
        "c": (-4.0, 3.0),
        "b": (8.0, 3.0),
        "w": (-2.0, 6.0),
    }
    assert [table[n].op for n in ("c", "a", "d")] == ["multiply", "add", "subtract"]


def test_seed0_graph_value_and_grad_and_check():
    kernel = gg.value_and_grad(seed0.cost, wrt=["w", "b"])
    assert kernel(**seed0.GRAPH_VALUES) == (4.5, {"w": 6.0, "b": 3.0})
    assert kernel(-2, 8, 2, 1) == (4.5, {"w": 6.0, "b": 3.0})
    assert gg.grad(seed0.cost, wrt=["w", "b"])(**seed0.GRAPH_VALUES) == {"w": 6.0, "b": 3.0}
    assert gg.check_grad(seed0.cost, **seed0.GRAPH_VALUES).ok


def test_seed0_graph_notebook_finite_differences():
    numbers = seed0.notebook_differences_cost()
    assert numbers["dJ_dd"] == 3.0004999999997395
    assert numbers["dd_da"] == 1.000000000000334
    assert numbers["dJ_da"] == 3.0005000000006277


def test_seed0_graph_sympy_chain_rule_matches_backprop():
    d, x = sp.symbols("d x")
    symbolic = seed0.sympy_chain_rule_cost()
    assert symbolic == {"dJ_dd": d, "dJ_da": d, "dJ_dc": d, "dJ_db": d, "dJ_dw": d * x}
    table = gg.backprop_table(seed0.cost, **seed0.GRAPH_VALUES)
    at = {d: table["d"].value, x: table["x"].value}
    for name, expr in symbolic.items():
        node = name.split("_d")[1]
        assert float(expr.subs(at)) == table[node].grad, name


@pytest.mark.parametrize("point", [(-2, 8, 2, 1), (2, 8, -2, 2), (0.3, -1.7, 2.5, 0.25)])
def test_seed0_graph_gradient_equals_sympy_diff_lambdify(point):
    symbols = sp.symbols("w b x y")
    J = seed0.cost(*symbols)  # the same function body, on SymPy symbols
    _, grads = gg.value_and_grad(seed0.cost)(*point)
    for symbol in symbols:
        expected = sp.lambdify(symbols, sp.diff(J, symbol))(*point)
        assert close(grads[str(symbol)], expected), symbol


# --- seed 001: simple derivatives ------------------------------------------------------------------

# (function, point, J, J_epsilon, k) as the notebook prints them; 1/w^2's difference is not printed.
NOTEBOOK_DIFFERENCES = [
    ("square", 3, 9, 9.006001, 6.000999999999479),
    ("double", 3, 6, 6.002, 1.9999999999997797),
    ("cube", 2, 8, 8.012006000999998, 12.006000999997823),
    ("reciprocal", 2, 0.5, 0.49975012493753124, -0.2498750624687629),
]


@pytest.mark.parametrize("name, w, J, J_epsilon, k", NOTEBOOK_DIFFERENCES)
def test_seed1_notebook_finite_differences(name, w, J, J_epsilon, k):
    fn = getattr(seed1, name)
    assert seed1.notebook_difference(fn, w) == (J, J_epsilon, k)
    assert seed1.gradgen_difference(fn, w) == k


def test_seed1_square_smaller_epsilon():
    J, J_epsilon, k = seed1.notebook_difference(seed1.square, 3)
    assert f"{k:0.6f}" == "6.001000"
    assert seed1.notebook_difference(seed1.square, 3, epsilon=0.000000001) == (9, 9.000000006, 6.000000496442226)


# (function, SymPy's derivative as printed, {w: exact derivative}) from the notebook.
NOTEBOOK_SYMBOLIC = [
    ("square", "2*w", {2: 4, 3: 6, -3: -6}),
    ("double", "2", {-3: 2, 3: 2}),
    ("cube", "3*w**2", {2: 12}),
    ("reciprocal", "-1/w**2", {2: sp.Rational(-1, 4)}),
    ("inverse_square", "-2/w**3", {4: sp.Rational(-1, 32)}),
]


@pytest.mark.parametrize("name, printed, exact", NOTEBOOK_SYMBOLIC)
def test_seed1_gradgen_equals_sympy_exactly(name, printed, exact):
    fn = getattr(seed1, name)
    w = sp.Symbol("w")
    dJ_dw = seed1.sympy_derivative(fn)
    assert str(dJ_dw) == printed
    kernel = gg.value_and_grad(fn)
    for point, derivative in exact.items():
        assert dJ_dw.subs([(w, point)]) == derivative
        J, grads = kernel(point)
        assert grads == {"w": float(derivative)}
        assert J == fn(float(point))


def test_seed1_named_values():
    assert gg.grad(seed1.cube)(2) == {"w": 12.0}
    assert gg.grad(seed1.reciprocal)(2) == {"w": -0.25}
    assert gg.grad(seed1.inverse_square)(4) == {"w": -1 / 32}
    assert gg.grad(seed1.square)(2) == {"w": 4.0}
    assert gg.grad(seed1.double)(-3) == {"w": 2.0}


@pytest.mark.parametrize("case", seed1.CASES, ids=lambda case: case.title)
def test_seed1_gradgen_equals_sympy_lambdify_and_check_grad(case):
    w = sp.Symbol("w")
    derivative = sp.lambdify([w], seed1.sympy_derivative(case.fn))
    kernel = gg.grad(case.fn)
    for point in (0.5, 1.7, 2.0, -3.25, 4.0):
        assert close(kernel(point)["w"], derivative(point)), point
    assert gg.check_grad(case.fn, w=case.difference_at).ok


# --- seed 002: the ReLU network ---------------------------------------------------------------------


def test_seed2_notebook_forward():
    activated_a1, activated_a2, J = seed2.numpy_forward(**seed2.VALUES)
    assert (activated_a1, activated_a2, J) == (2, 7, 2.0)


def test_seed2_backprop_by_node_name():
    table = gg.backprop_table(seed2.network, **seed2.VALUES)
    assert values_and_grads(table, "a1 activated_a1 a2 activated_a2 J w1 b1 w2 b2") == {
        "a1": (2.0, 6.0),
        "activated_a1": (2.0, 6.0),  # dJ/dactivated_a1 = dJ/da2 * w2 = 2 * 3
        "a2": (7.0, 2.0),
        "activated_a2": (7.0, 2.0),  # dJ/dactivated_a2 = 7 - 5
        "J": (2.0, 1.0),
        "w1": (2.0, 6.0),
        "b1": (0.0, 6.0),
        "w2": (3.0, 4.0),
        "b2": (1.0, 2.0),
    }
    assert table["activated_a1"].op == "relu"


def test_seed2_value_and_grad_and_check():
    kernel = gg.value_and_grad(seed2.network, wrt=list(seed2.PARAMETERS))
    assert kernel(**seed2.VALUES) == (2.0, {"w1": 6.0, "b1": 6.0, "w2": 4.0, "b2": 2.0})
    assert gg.check_grad(seed2.network, wrt=list(seed2.PARAMETERS), **seed2.VALUES).ok


def test_seed2_sympy_lambdify_matches_gradgen():
    assert seed2.sympy_gradients() == {"w2": 4.0, "b2": 2.0, "w1": 6.0, "b1": 6.0}
    _, grads = gg.value_and_grad(seed2.network)(**seed2.VALUES)
    for name, value in seed2.sympy_gradients().items():
        assert grads[name] == value


def test_seed2_one_sided_differences_near_gradient():
    numbers = seed2.one_sided_differences()
    assert numbers["w1"] == pytest.approx(6.0045, abs=TOL)
    expected = {"w1": 6.0, "b1": 6.0, "w2": 4.0, "b2": 2.0}
    assert all(abs(numbers[p] - expected[p]) < 0.01 for p in expected)


# --- seed 003: the lecture ----------------------------------------------------------------------------


def test_seed3_linear_graph_lecture_values():
    table = gg.backprop_table(seed3.linear_cost, **seed3.LINEAR_VALUES)
    assert values_and_grads(table, "c a d J b w") == {
        "c": (-4.0, 2.0),
        "a": (4.0, 2.0),
        "d": (2.0, 2.0),
        "J": (2.0, 1.0),
        "b": (8.0, 2.0),
        "w": (2.0, -4.0),
    }
    kernel = gg.value_and_grad(seed3.linear_cost, wrt=["w", "b"])
    assert kernel(**seed3.LINEAR_VALUES) == (2.0, {"w": -4.0, "b": 2.0})
    assert gg.check_grad(seed3.linear_cost, **seed3.LINEAR_VALUES).ok


def test_seed3_linear_graph_lecture_nudges():
    forward = gg.compile(seed3.linear_cost)
    J_epsilon = forward(**{**seed3.LINEAR_VALUES, "w": 2 + 0.001})
    assert abs(J_epsilon - 1.996002) < TOL
    nudged = seed3.linear_nudges()
    assert nudged["w"][1] == J_epsilon
    assert abs(nudged["d"][1] - 2.0020005) < TOL  # "if d goes from 2 to 2.001, J goes from 2 to 2.002"
    assert nudged["c"][0] == -3.999


def test_seed3_network_lecture_values():
    table = gg.backprop_table(seed3.network_cost, **seed3.NETWORK_VALUES)
    assert values_and_grads(table, "t1 z1 a1 t2 z2 a2 J") == {
        "t1": (2.0, 6.0),
        "z1": (2.0, 6.0),
        "a1": (2.0, 6.0),
        "t2": (6.0, 2.0),
        "z2": (7.0, 2.0),
        "a2": (7.0, 2.0),
        "J": (2.0, 1.0),
    }
    assert {p: table[p].grad for p in ("w1", "b1", "w2", "b2")} == {"w1": 6.0, "b1": 6.0, "w2": 4.0, "b2": 2.0}


def test_seed3_network_lecture_nudge_of_w1():
    forward = gg.compile(seed3.network_cost)
    J_epsilon = forward(**{**seed3.NETWORK_VALUES, "w1": 2 + 0.001})
    assert abs(J_epsilon - 2.0060045) < TOL  # 2.003^2 / 2
    assert f"{J_epsilon:.6f}" == "2.006005"  # the lecture's rounding


# --- seed 004: sigmoid + binary cross-entropy, logistic regression -----------------------------------


def test_seed4_sympy_symbol_chain_rule_as_printed():
    symbolic = seed4.sympy_symbol_chain_rule()
    assert str(symbolic["dL_da"]) == "(1 - y)/(1 - a) - y/a"
    assert str(symbolic["dL_dZ"]) == "((1 - y)/(1 - a) - y/a)*exp(-Z)/(1 + exp(-Z))**2"


def test_seed4_sympy_cannot_differentiate_wrt_an_intermediate():
    message = seed4.sympy_wrt_intermediate()
    assert message == "Can't calculate derivative wrt 1/(exp(-b - w1*x1 - w2*x2) + 1)."
    # The notebook's own one-feature cell, verbatim.
    w1, x1, b, y = sp.symbols("w1 x1 b y")
    a = 1 / (1 + sp.exp(-(w1 * x1 + b)))
    L = -y * sp.log(a) - (1 - y) * sp.log(1 - a)
    with pytest.raises(ValueError, match=r"Can't calculate derivative wrt 1/\(exp\(-b - w1\*x1\) \+ 1\)\."):
        sp.diff(L, a)
    assert seed4.sympy_zero_gradient() == 0  # the notebook's cell that silently gives dL/dw1 = 0


@pytest.mark.parametrize("row", [0, 1, 2])
def test_seed4_gradgen_gives_intermediate_gradients(row):
    values = seed4.example_values(row)
    table = gg.backprop_table(seed4.example_loss, **values)
    a, Z, y = table["a"].value, table["Z"].value, values["y"]
    symbolic = seed4.sympy_symbol_chain_rule()
    at = {sp.Symbol("a"): a, sp.Symbol("Z"): Z, sp.Symbol("y"): y}
    assert close(table["a"].grad, float(symbolic["dL_da"].subs(at)))
    assert close(table["Z"].grad, float(symbolic["dL_dZ"].subs(at)))
    assert close(table["Z"].grad, a - y)  # sigmoid + BCE: dL/dZ = a - y
    assert close(table["w1"].grad, (a - y) * values["x1"])
    assert close(table["b"].grad, a - y)


def test_seed4_notebook_numpy_gradient():
    dL_dw, dL_db = seed4.numpy_gradient()
    assert str(dL_dw) == "[0.1537824  0.05303517]"
    assert dL_db == 0.6494514041852678


@pytest.mark.parametrize("backend", ["python", "auto"])
def test_seed4_vectorised_gradient_is_the_notebooks(backend):
    kernel = gg.value_and_grad(seed4.logistic_loss, wrt=["w", "b"], backend=backend)
    L, grads = kernel(seed4.W, seed4.B, seed4.X, seed4.Y)
    dL_dw, dL_db = seed4.numpy_gradient()
    assert list(grads) == ["w", "b"]
    assert str(grads["w"]) == "[0.1537824  0.05303517]"
    assert close(grads["w"], dL_dw)
    assert abs(grads["b"] - 0.6494514041852678) < TOL
    a = 1 / (1 + np.exp(-(seed4.X @ seed4.W + seed4.B)))
    assert close(L, np.sum(-seed4.Y * np.log(a) - (1 - seed4.Y) * np.log(1 - a)))


def test_seed4_vectorised_backprop_table_dL_dZ_is_a_minus_y():
    table = gg.backprop_table(seed4.logistic_loss, w=seed4.W, b=seed4.B, X=seed4.X, y=seed4.Y)
    assert close(table["Z"].grad, table["a"].value - seed4.Y)
    assert close(table["Z"].grad, [0.53742985, -0.44028635, 0.55230791], tol=1e-8)
    assert close(table["w"].grad, seed4.numpy_gradient()[0])
    assert close(table["L"].grad, 1.0)


def test_seed4_vectorised_gradient_equals_sympy_diff_lambdify():
    w1, w2, b = sp.symbols("w1 w2 b")
    L = 0
    for (x1, x2), y in zip(seed4.X.tolist(), seed4.Y.tolist()):
        a = 1 / (1 + sp.exp(-(w1 * x1 + w2 * x2 + b)))
        L += -y * sp.log(a) - (1 - y) * sp.log(1 - a)
    point = (*seed4.W, seed4.B)
    expected = [sp.lambdify([w1, w2, b], sp.diff(L, p))(*point) for p in (w1, w2, b)]
    _, grads = gg.value_and_grad(seed4.logistic_loss, wrt=["w", "b"])(seed4.W, seed4.B, seed4.X, seed4.Y)
    assert close(grads["w"], expected[:2])
    assert close(grads["b"], expected[2])


def test_seed4_mean_is_sum_over_m_and_check_grad():
    args = (seed4.W, seed4.B, seed4.X, seed4.Y)
    L, total = gg.value_and_grad(seed4.logistic_loss, wrt=["w", "b"])(*args)
    J, mean = gg.value_and_grad(seed4.logistic_mean_loss, wrt=["w", "b"])(*args)
    assert close(J, L / 3) and close(mean["w"], total["w"] / 3) and close(mean["b"], total["b"] / 3)
    values = {"w": seed4.W, "b": seed4.B, "X": seed4.X, "y": seed4.Y}
    assert gg.check_grad(seed4.logistic_loss, wrt=["w", "b"], **values).ok


@pytest.mark.parametrize("logit", [1000.0, -1000.0])
def test_seed4_plain_bce_formula_stays_finite_for_huge_logits(logit):
    X = np.ones((4, 1))
    y = np.array([0, 1, 1, 0])
    L, grads = gg.value_and_grad(seed4.logistic_loss, wrt=["w", "b"])(np.array([logit]), 0.0, X, y)
    assert L == 2000.0  # two examples on the wrong side, each costing |logit|
    assert grads["w"][0] == grads["b"] == np.sign(logit) * 2.0


# --- the example scripts run and print the notebooks' numbers ------------------------------------------

SCRIPT_OUTPUT = {
    "seed0_computation_graph": [
        "a = 11, J = 121",
        "dJ_da ~= k = 22.000999999988835",
        "da_dw ~= k = 3.0000000000001137",
        "dJ_dw ~= k = 66.0090000000082",
        "J = 4.5, d = 3, a = 4, c = -4",
        "dJ_dd ~= k = 3.0004999999997395",
        "dJ_dw = d*x = 6",
        "OK: max relative error",
    ],
    "seed1_simple_derivatives": [
        "J = 9, J_epsilon = 9.006001, dJ_dw ~= k = 6.001000",
        "dJ_dw ~= k = 6.000000496442226",
        "J = 6, J_epsilon = 6.002, dJ_dw ~= k = 1.9999999999997797",
        "J = 8, J_epsilon = 8.012006000999998, dJ_dw ~= k = 12.006000999997823",
        "J = 0.5, J_epsilon = 0.49975012493753124, dJ_dw ~= k = -0.2498750624687629",
        "at w = 2: SymPy 12, gradgen 12.0",
        "at w = 4: SymPy -1/32, gradgen -0.03125",
    ],
    "seed2_relu_network": [
        "a1: 2 -> a2: 7",
        "Cost J: 2.0",
        "dJ/dw2 = 4.0    gradgen: 4.0",
        "dJ/db2 = 2.0    gradgen: 2.0",
        "dJ/dw1 = 6.0    gradgen: 6.0",
        "dJ/db1 = 6.0    gradgen: 6.0",
    ],
    "seed3_lecture_backprop": [
        "w: 2 -> 2.001 makes J 1.99600",
        "w1 = 2.001 gives J = 2.006005",
        "backprop says -4",
    ],
    "seed4_logistic_regression": [
        "ValueError: Can't calculate derivative wrt 1/(exp(-b - w1*x1 - w2*x2) + 1).",
        "Gradient with respect to w: [0.1537824  0.05303517]",
        "Gradient with respect to b: 0.6494514041852678",
        "dL_da = (1 - y)/(1 - a) - y/a",
    ],
}


@pytest.mark.parametrize("stem", sorted(SCRIPT_OUTPUT))
def test_example_script_runs_and_prints_the_notebook_numbers(stem):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / f"{stem}.py")], capture_output=True, text=True, env=env, timeout=120
    )
    assert result.returncode == 0, result.stderr
    for line in SCRIPT_OUTPUT[stem]:
        assert line in result.stdout, line


def test_every_example_has_a_docstring_a_main_and_a_readme_entry():
    readme = (EXAMPLES / "README.md").read_text()
    for module in (seed0, seed1, seed2, seed3, seed4):
        assert module.__doc__ and "seeds/" in module.__doc__
        assert callable(module.main)
    for stem in SCRIPT_OUTPUT:
        assert f"{stem}.py" in readme
