"""gg.optim: SGD with momentum and Adam fused with the gradient into one kernel, against the same updates
written with NumPy (PyTorch's formulas), on both backends."""

from __future__ import annotations

import numpy as np
import pytest

import gradgen as gg
from gradgen import optim

BACKENDS = ["python", "c"]


def mlp_loss(params, X, y):
    h = gg.tanh(X @ params["W1"] + params["b1"])
    return gg.mean((h @ params["w2"] - y) ** 2)


def _numpy_gradient(params, X, y):
    z = X @ params["W1"] + params["b1"]
    h = np.tanh(z)
    r = h @ params["w2"] - y
    dr = 2 * r / len(y)
    dh = np.outer(dr, params["w2"]) * (1 - h ** 2)
    return float(np.mean(r ** 2)), {"W1": X.T @ dh, "b1": dh.sum(axis=0), "w2": h.T @ dr}


def _problem():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(32, 3))
    params = {"W1": rng.normal(size=(3, 4)) * 0.5, "b1": rng.normal(size=4) * 0.1, "w2": rng.normal(size=4)}
    return params, X, np.sin(X[:, 0] + X[:, 1])


def _reference(optimizer, params, X, y, steps):
    """The optimizer's update, written with NumPy as torch.optim documents it."""
    params = {k: v.copy() for k, v in params.items()}
    state = {k: [np.zeros_like(v), np.zeros_like(v)] for k, v in params.items()}
    losses = []
    for t in range(1, steps + 1):
        value, grads = _numpy_gradient(params, X, y)
        losses.append(value)
        for k in params:
            g = grads[k] + optimizer.weight_decay * params[k]
            if isinstance(optimizer, optim.Adam):
                m, v = state[k]
                m[:] = optimizer.beta1 * m + (1 - optimizer.beta1) * g
                v[:] = optimizer.beta2 * v + (1 - optimizer.beta2) * g * g
                m_hat, v_hat = m / (1 - optimizer.beta1 ** t), v / (1 - optimizer.beta2 ** t)
                params[k] = params[k] - optimizer.lr * m_hat / (np.sqrt(v_hat) + optimizer.eps)
            elif optimizer.momentum:
                velocity = state[k][0]
                velocity[:] = optimizer.momentum * velocity + g
                params[k] = params[k] - optimizer.lr * (g + optimizer.momentum * velocity if optimizer.nesterov
                                                        else velocity)
            else:
                params[k] = params[k] - optimizer.lr * g
    return params, losses


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("optimizer", [optim.Adam(lr=0.01), optim.Adam(lr=0.02, weight_decay=0.1),
                                       optim.SGD(lr=0.1), optim.SGD(lr=0.05, momentum=0.9),
                                       optim.SGD(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01)],
                         ids=["adam", "adam-decay", "sgd", "momentum", "nesterov"])
def test_fused_steps_follow_the_numpy_updates(optimizer, backend):
    params, X, y = _problem()
    step = optim.training_step(mlp_loss, optimizer, backend=backend)
    current, state, losses = params, step.init(params), []
    for _ in range(25):
        current, state, value = step(current, state, X, y)
        losses.append(value)
    expected, expected_losses = _reference(optimizer, params, X, y, 25)
    np.testing.assert_allclose(losses, expected_losses, rtol=1e-11)
    for k in params:
        np.testing.assert_allclose(current[k], expected[k], rtol=1e-10, atol=1e-13, err_msg=k)
    assert state["t"] == 25 and losses[-1] < losses[0]
    np.testing.assert_array_equal(params["W1"], _problem()[0]["W1"])  # the arrays given are not changed


def test_one_kernel_computes_loss_gradient_and_update():
    params, X, y = _problem()
    step = optim.training_step(mlp_loss, optim.Adam(), backend="python")
    step(params, step.init(params), X, y)
    source = step.source
    assert "new_W1" in source and "np.sqrt" in source and source.count("def ") == 1


def test_bad_calls_say_what_to_give():
    params, X, y = _problem()
    step = optim.training_step(mlp_loss, optim.SGD(), backend="python")
    with pytest.raises(gg.InputError, match="params must be a non-empty dict"):
        step([params["W1"]], {}, X, y)
    with pytest.raises(gg.InputError, match="make it with step.init"):
        step(params, {"t": 0}, X, y)
    with pytest.raises(gg.InputError, match="takes 2 batch argument"):
        step(params, step.init(params), X)
    with pytest.raises(gg.InputError, match="optimizer must be"):
        optim.training_step(mlp_loss, "adam")


def test_the_digits_example_trains_past_97_percent_and_draws_its_curves(tmp_path):
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "examples" / "train_digits.py"
    spec = importlib.util.spec_from_file_location("train_digits", path)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    history = example.train(epochs=25, quiet=True)
    assert history["accuracy"][-1] >= 0.97
    assert history["loss"][-1] < history["loss"][0] / 20
    example.plot(history, str(tmp_path / "curves.png"))
    assert (tmp_path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
