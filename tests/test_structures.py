"""Structured parameters: a dict, list or tuple of arrays (nested) as one argument, with specs of the same
structure, gradients given back in it, and ``wrt`` naming the whole structure."""

from __future__ import annotations

import numpy as np
import pytest

import gradgen as gg


def mlp(params, X, y):
    hidden = gg.tanh(X @ params["W1"] + params["b1"])
    out = hidden @ params["head"][0] + params["head"][1]
    return gg.mean((out - y) ** 2)


SPECS = {"params": {"W1": gg.Array((3, 4)), "b1": gg.Array((4,)), "head": (gg.Array((4,)), gg.Scalar())},
         "X": gg.Array((5, 3)), "y": gg.Array((5,))}


def _values(seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    params = {"W1": rng.normal(size=(3, 4)), "b1": rng.normal(size=4), "head": (rng.normal(size=4), 0.3)}
    return {"params": params, "X": rng.normal(size=(5, 3)), "y": rng.normal(size=5)}


def _by_hand(params, X, y):
    hidden = np.tanh(X @ params["W1"] + params["b1"])
    out = hidden @ params["head"][0] + params["head"][1]
    d_out = 2.0 * (out - y) / y.size
    d_hidden = np.outer(d_out, params["head"][0]) * (1.0 - hidden**2)
    grads = {"W1": X.T @ d_hidden, "b1": d_hidden.sum(axis=0), "head": (hidden.T @ d_out, float(d_out.sum()))}
    return float(np.mean((out - y) ** 2)), grads


@pytest.mark.parametrize("backend", ["python", "c"])
def test_gradients_come_back_in_the_structure_of_the_parameter(backend):
    values = _values()
    kernel = gg.value_and_grad(mlp, wrt="params", backend=backend, specs=SPECS)
    assert kernel.graph.input_names == ("params.W1", "params.b1", "params.head.0", "params.head.1", "X", "y")
    value, grads = kernel(**values)
    expected_value, expected = _by_hand(**values)
    assert value == pytest.approx(expected_value, rel=1e-13)
    assert list(grads) == ["params"] and list(grads["params"]) == ["W1", "b1", "head"]
    np.testing.assert_allclose(grads["params"]["W1"], expected["W1"], rtol=1e-12)
    np.testing.assert_allclose(grads["params"]["b1"], expected["b1"], rtol=1e-12)
    assert isinstance(grads["params"]["head"], tuple)
    np.testing.assert_allclose(grads["params"]["head"][0], expected["head"][0], rtol=1e-12)
    assert grads["params"]["head"][1] == pytest.approx(expected["head"][1], rel=1e-12)
    positional = kernel(values["params"], values["X"], values["y"])
    assert positional[0] == value
    everything = gg.value_and_grad(mlp, backend=backend, specs=SPECS)(**values)[1]
    assert list(everything) == ["params", "X", "y"]
    leaf = gg.grad(mlp, wrt=["params.b1", "y"], backend=backend, specs=SPECS)(**values)
    assert list(leaf) == ["params", "y"] and list(leaf["params"]) == ["b1"]
    forward = gg.compile(mlp, backend=backend, specs=SPECS)
    assert forward(**values) == pytest.approx(expected_value, rel=1e-13)


@pytest.mark.parametrize("backend", ["python", "c"])
def test_a_list_of_layers_and_index_leaves(backend):
    def loss(layers, x, label):
        for layer in layers:
            x = gg.tanh(layer["W"] @ x)
        return -gg.log_softmax(x)[label]

    rng = np.random.default_rng(1)
    layers = [{"W": rng.normal(size=(4, 3))}, {"W": rng.normal(size=(2, 4))}]
    specs = {"layers": [{"W": gg.Array((4, 3))}, {"W": gg.Array((2, 4))}], "x": gg.Array((3,)),
             "label": gg.Scalar("int64")}
    value, grads = gg.value_and_grad(loss, wrt="layers", backend=backend, specs=specs)(layers, rng.normal(size=3), 1)
    assert isinstance(grads["layers"], list) and [list(g) for g in grads["layers"]] == [["W"], ["W"]]
    eps, x = 1e-6, np.array([0.2, -0.4, 0.9])
    plain = gg.compile(loss, backend="python", specs=specs)
    base = gg.value_and_grad(loss, wrt="layers", backend=backend, specs=specs)(layers, x, 1)[1]
    for k, i, j in ((0, 2, 1), (1, 0, 3)):
        up = [{"W": layer["W"].copy()} for layer in layers]
        down = [{"W": layer["W"].copy()} for layer in layers]
        up[k]["W"][i, j] += eps
        down[k]["W"][i, j] -= eps
        central = (plain(up, x, 1) - plain(down, x, 1)) / (2 * eps)
        assert base["layers"][k]["W"][i, j] == pytest.approx(central, rel=1e-6)


def test_a_wrong_structure_is_named_by_its_path():
    kernel = gg.value_and_grad(mlp, wrt="params", backend="python", specs=SPECS)
    values = _values()
    bad = dict(values["params"])
    del bad["b1"]
    with pytest.raises(gg.InputError, match=r"argument 'params': expected a dict with keys \['W1', 'b1', 'head'\]"):
        kernel(bad, values["X"], values["y"])
    with pytest.raises(gg.InputError, match=r"argument 'params.head': expected a tuple of 2, got tuple of 1"):
        kernel({**values["params"], "head": (np.zeros(4),)}, values["X"], values["y"])
    with pytest.raises(gg.InputError, match=r"argument 'params.W1'"):
        kernel({**values["params"], "W1": np.zeros((2, 2))}, values["X"], values["y"])
    with pytest.raises(gg.InputError, match="the keys of a structure must be strings or ints"):
        gg.value_and_grad(mlp, specs={**SPECS, "params": {(1, 2): gg.Array((3,))}})
    with pytest.raises(gg.InputError, match="an empty dict has no arrays"):
        gg.value_and_grad(mlp, specs={**SPECS, "params": {}})
    with pytest.raises(gg.InputError, match="a structured argument needs specs of the same structure"):
        gg.value_and_grad(mlp, wrt="params", backend="python")(**values)
