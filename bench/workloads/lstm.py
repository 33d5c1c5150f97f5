"""ADBench's LSTM objective: a 2-layer LSTM with diagonal weights predicting each next character of a sequence.

The model of ADBench (and GradBench's ``lstm`` eval): b = 14 cells per layer, one
per character of the alphabet; every weight is a vector (a diagonal matrix), the
forget and output gates read the layer's input, the input gate and the candidate
read the layer's hidden state. Layer 0 reads the one-hot character times the
input weights, layer k + 1 the hidden state of layer k; the prediction is the
last hidden state times the output weights plus the output bias, normalised by
ADBench's log(sum(exp(y)) + 2). The loss is minus the mean of the target's
log-probabilities over the c - 1 predictions; the gradient is wrt the main
parameters (per layer a row of four weights and a row of four biases) and the
extra ones (input weights, output weights, output bias).

Written with ``gg.scan`` over the characters (the carry: each layer's hidden and
cell state), so the loop is one node: JAX runs it as ``lax.scan``. The reference
is the LSTM's adjoint by hand, step by step backwards; numba compiles the same
function.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from bench.workloads import Inputs, Result, Workload

LAYERS = 2
CELLS = 14  # b of ADBench: one cell per character


def make(size: int) -> Inputs:
    """Parameters and state drawn as ADBench's generator does (uniform in [-1, 1)), and a sequence of
    ``size`` one-hot characters."""
    rng = np.random.default_rng(14)
    main = rng.uniform(-1.0, 1.0, (2 * LAYERS, 4 * CELLS))
    extra = rng.uniform(-1.0, 1.0, (3, CELLS))
    state = rng.uniform(-1.0, 1.0, (2 * LAYERS, CELLS))
    sequence = np.zeros((size, CELLS))
    sequence[np.arange(size), rng.integers(0, CELLS, size)] = 1.0
    return {"main_params": main, "extra_params": extra, "state": state, "sequence": sequence}


def define(gg: Any) -> Callable[..., Any]:
    """The objective in gradgen's DSL: one ``scan`` over the characters."""

    def lstm(main_params, extra_params, state, sequence):
        b = CELLS

        def step(carry, pair):
            char, target = pair
            layer_input = char * extra_params[0]
            new = []
            for layer in range(LAYERS):
                weight, bias = main_params[2 * layer], main_params[2 * layer + 1]
                hidden, cell = carry[2 * layer], carry[2 * layer + 1]
                forget = gg.sigmoid(layer_input * weight[0:b] + bias[0:b])
                ingate = gg.sigmoid(hidden * weight[b:2 * b] + bias[b:2 * b])
                outgate = gg.sigmoid(layer_input * weight[2 * b:3 * b] + bias[2 * b:3 * b])
                change = gg.tanh(hidden * weight[3 * b:] + bias[3 * b:])
                cell = cell * forget + ingate * change
                hidden = outgate * gg.tanh(cell)
                new += [hidden, cell]
                layer_input = hidden
            predicted = layer_input * extra_params[1] + extra_params[2]
            normalised = predicted - gg.log(gg.sum(gg.exp(predicted)) + 2.0)
            return tuple(new), gg.sum(target * normalised)

        start = tuple(state[k] for k in range(2 * LAYERS))
        _, totals = gg.scan(step, start, (sequence[:-1], sequence[1:]))
        return -gg.sum(totals) / ((sequence.shape[0] - 1) * b)

    return lstm


def lstm_adjoint(main: np.ndarray, extra: np.ndarray, state: np.ndarray, sequence: np.ndarray,
                 grad_main: np.ndarray, grad_extra: np.ndarray, saved: np.ndarray) -> float:
    """The objective, with its gradient written into ``grad_main`` and ``grad_extra``: a forward loop
    keeping each step's gates in ``saved`` (steps, layers, 9 rows of b), then the adjoint backwards.
    Plain NumPy on vectors (the sigmoids written out), so that numba compiles it as it is."""
    b, layers, steps = state.shape[1], state.shape[0] // 2, sequence.shape[0] - 1
    hidden, cell = state[0::2].copy(), state[1::2].copy()
    total = 0.0
    for t in range(steps):
        layer_input = sequence[t] * extra[0]
        for k in range(layers):
            weight, bias = main[2 * k], main[2 * k + 1]
            forget = 1.0 / (1.0 + np.exp(-(layer_input * weight[0:b] + bias[0:b])))
            ingate = 1.0 / (1.0 + np.exp(-(hidden[k] * weight[b:2 * b] + bias[b:2 * b])))
            outgate = 1.0 / (1.0 + np.exp(-(layer_input * weight[2 * b:3 * b] + bias[2 * b:3 * b])))
            change = np.tanh(hidden[k] * weight[3 * b:] + bias[3 * b:])
            rows = saved[t, k]
            rows[0], rows[1], rows[2] = layer_input, hidden[k], cell[k]
            rows[3], rows[4], rows[5], rows[6] = forget, ingate, outgate, change
            cell[k] = cell[k] * forget + ingate * change
            rows[7] = np.tanh(cell[k])
            hidden[k] = outgate * rows[7]
            layer_input = hidden[k]
        predicted = layer_input * extra[1] + extra[2]
        saved[t, layers, 0] = layer_input
        saved[t, layers, 1] = np.exp(predicted) / (np.sum(np.exp(predicted)) + 2.0)
        total += np.sum(sequence[t + 1] * (predicted - np.log(np.sum(np.exp(predicted)) + 2.0)))
    count = steps * b
    grad_main[:] = 0.0
    grad_extra[:] = 0.0
    d_hidden, d_cell = np.zeros((layers, b)), np.zeros((layers, b))
    for t in range(steps - 1, -1, -1):
        target = sequence[t + 1]
        d_predicted = -(target - np.sum(target) * saved[t, layers, 1]) / count
        grad_extra[1] += d_predicted * saved[t, layers, 0]
        grad_extra[2] += d_predicted
        d_input = d_predicted * extra[1]  # dJ/d(the input of the layer above), from the top down
        for k in range(layers - 1, -1, -1):
            rows = saved[t, k]
            layer_input, hidden_before, cell_before = rows[0], rows[1], rows[2]
            forget, ingate, outgate, change, tanh_cell = rows[3], rows[4], rows[5], rows[6], rows[7]
            weight = main[2 * k]
            d_h = d_hidden[k] + d_input
            d_outgate = d_h * tanh_cell
            d_c = d_cell[k] + d_h * outgate * (1.0 - tanh_cell * tanh_cell)
            z_forget = d_c * cell_before * forget * (1.0 - forget)
            z_ingate = d_c * change * ingate * (1.0 - ingate)
            z_outgate = d_outgate * outgate * (1.0 - outgate)
            z_change = d_c * ingate * (1.0 - change * change)
            grad_main[2 * k, 0:b] += z_forget * layer_input
            grad_main[2 * k, b:2 * b] += z_ingate * hidden_before
            grad_main[2 * k, 2 * b:3 * b] += z_outgate * layer_input
            grad_main[2 * k, 3 * b:] += z_change * hidden_before
            grad_main[2 * k + 1, 0:b] += z_forget
            grad_main[2 * k + 1, b:2 * b] += z_ingate
            grad_main[2 * k + 1, 2 * b:3 * b] += z_outgate
            grad_main[2 * k + 1, 3 * b:] += z_change
            d_input = z_forget * weight[0:b] + z_outgate * weight[2 * b:3 * b]
            d_hidden[k] = z_ingate * weight[b:2 * b] + z_change * weight[3 * b:]
            d_cell[k] = d_c * forget
        grad_extra[0] += d_input * sequence[t]
    return -total / count


def workspace(inputs: Inputs) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The gradients' arrays and the saved gates, allocated once."""
    steps, layers = inputs["sequence"].shape[0] - 1, inputs["state"].shape[0] // 2
    return (np.empty_like(inputs["main_params"]), np.empty_like(inputs["extra_params"]),
            np.empty((steps, layers + 1, 8, CELLS)))


def numpy_by_hand(main_params: np.ndarray, extra_params: np.ndarray, state: np.ndarray,
                  sequence: np.ndarray) -> Result:
    """The adjoint of ``lstm_adjoint``, run by NumPy."""
    grad_main, grad_extra, saved = workspace({"main_params": main_params, "extra_params": extra_params,
                                              "state": state, "sequence": sequence})
    value = lstm_adjoint(main_params, extra_params, state, sequence, grad_main, grad_extra, saved)
    return float(value), {"main_params": grad_main, "extra_params": grad_extra}


WORKLOAD = Workload(
    name="lstm",
    kind="loop",
    sizes=(1_024,),
    quick_sizes=(64,),
    wrt=("main_params", "extra_params"),
    make=make,
    define=define,
    numpy_by_hand=numpy_by_hand,
    size_label="c",
)
