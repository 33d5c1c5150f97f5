"""backprop_steps: the chain rule edge by edge, with the seeds' numbers, and the n + p count."""

from __future__ import annotations

import numpy as np

import gradgen as gg
from tests.models import linear


def test_lecture_graph_right_to_left():
    steps = gg.backprop_steps(linear, w=2.0, b=8.0, x=-2.0, y=2.0)
    edges = {(s.node, s.input): (s.grad_node, s.local, s.contribution) for s in steps.steps}
    assert edges[("d", "a")] == (2.0, 1.0, 2.0)
    assert edges[("a", "c")] == (2.0, 1.0, 2.0) and edges[("a", "b")] == (2.0, 1.0, 2.0)
    assert edges[("c", "w")] == (2.0, -2.0, -4.0)  # dc/dw = x = -2
    order = [s.node for s in steps.steps]
    assert order.index("d") < order.index("a") < order.index("c")  # right to left
    text = str(steps)
    assert "dJ/dw += dJ/dc * dc/dw = 2 * -2 = -4" in text
    assert steps.forward_ops == 5 and steps.parameters == 4
    assert steps.joint_ops < steps.forward_ops * (steps.parameters + 1)


def test_relu_network_of_the_seeds():
    def net(x, y, w1, b1, w2, b2):
        a1 = gg.relu(w1 * x + b1)
        a2 = gg.relu(w2 * a1 + b2)
        J = 0.5 * (a2 - y) ** 2
        return J

    steps = gg.backprop_steps(net, x=1.0, y=5.0, w1=2.0, b1=0.0, w2=3.0, b2=1.0)
    contributions = {(s.node, s.input): s.contribution for s in steps.steps}
    by_input = {}
    for (_node, name), value in contributions.items():
        by_input[name] = by_input.get(name, 0.0) + value
    assert by_input["w1"] == 6.0 and by_input["b1"] == 6.0 and by_input["w2"] == 4.0 and by_input["b2"] == 2.0
    assert by_input["a1"] == 6.0


def test_arrays_show_contributions_and_matrix_steps():
    def f(X, w):
        z = X @ w
        return gg.sum(gg.tanh(z))

    X = np.arange(6.0).reshape(3, 2) / 10
    w = np.array([0.5, -0.25])
    steps = gg.backprop_steps(f, X=X, w=w)
    (tanh_step,) = [s for s in steps.steps if s.input == "z"]
    np.testing.assert_allclose(tanh_step.local, 1 - np.tanh(X @ w) ** 2)
    (matmul_step,) = [s for s in steps.steps if s.input == "w"]
    assert matmul_step.local is None
    np.testing.assert_allclose(matmul_step.contribution, X.T @ (1 - np.tanh(X @ w) ** 2))
    assert "(a matrix: J^T g)" in str(steps)
