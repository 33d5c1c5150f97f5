"""A character-level LSTM: the loss of predicting each next character of a text, and its gradient.

One LSTM layer of H cells reads the text a character at a time (one-hot, as a
row of the input weights) and predicts the next one through a softmax; the loss
is the mean cross-entropy. The recurrence is one `gg.scan` over the text, so
the step is traced once and the C kernel is a loop over it, whatever the length
of the text; the gradient (every weight at once) costs a few times the loss,
as reverse mode promises. A few steps of gradient descent show the loss going
down.

Run: python examples/char_lstm.py
"""

from __future__ import annotations

import time

import numpy as np

import gradgen as gg

TEXT = ("the quick brown fox jumps over the lazy dog. " * 24)[:1024]
ALPHABET = sorted(set(TEXT))
V, H = len(ALPHABET), 32


def lstm_loss(Wx, Wh, b, Wy, by, chars, targets):
    """Mean cross-entropy of predicting ``targets[t]`` from ``chars[:t + 1]``."""

    def cell(state, pair):
        h, c = state
        char, target = pair
        gates = Wx[char] + Wh @ h + b  # the one-hot input selects a row of Wx
        i = gg.sigmoid(gates[0:H])
        f = gg.sigmoid(gates[H:2 * H])
        o = gg.sigmoid(gates[2 * H:3 * H])
        g = gg.tanh(gates[3 * H:4 * H])
        c = f * c + i * g
        h = o * gg.tanh(c)
        logp = gg.log_softmax(Wy @ h + by)
        return (h, c), -logp[target]

    zeros = np.zeros(H)
    _, losses = gg.scan(cell, (zeros, zeros), (chars, targets))
    return gg.mean(losses)


def main() -> None:
    codes = np.array([ALPHABET.index(ch) for ch in TEXT], dtype=np.int64)
    chars, targets = codes[:-1], codes[1:]
    rng = np.random.default_rng(0)
    params = {"Wx": 0.1 * rng.standard_normal((V, 4 * H)), "Wh": 0.1 * rng.standard_normal((4 * H, H)),
              "b": np.zeros(4 * H), "Wy": 0.1 * rng.standard_normal((V, H)), "by": np.zeros(V)}
    specs = {name: gg.Array(value.shape) for name, value in params.items()}
    specs.update(chars=gg.Array(chars.shape, "int64"), targets=gg.Array(targets.shape, "int64"))
    start = time.perf_counter()
    loss = gg.compile(lstm_loss, specs=specs)
    step = gg.value_and_grad(lstm_loss, wrt=list(params), specs=specs)
    print(f"loss and gradient kernels ({step.backend}) built in {time.perf_counter() - start:.2f} s for "
          f"{len(chars):,} characters")
    rounds = 20
    start = time.perf_counter()
    for _ in range(rounds):
        loss(**params, chars=chars, targets=targets)
    per_loss = (time.perf_counter() - start) / rounds
    start = time.perf_counter()
    for _ in range(rounds):
        step(**params, chars=chars, targets=targets)
    per_gradient = (time.perf_counter() - start) / rounds
    print(f"loss {per_loss * 1e3:.2f} ms, loss and gradient {per_gradient * 1e3:.2f} ms "
          f"({per_gradient / per_loss:.1f} x the loss)")
    for iteration in range(31):
        value, grads = step(**params, chars=chars, targets=targets)
        if iteration % 10 == 0:
            print(f"iteration {iteration:2d}: loss {value:.4f} (log {V} = {np.log(V):.4f})")
        params = {name: value - 1.0 * grads[name] for name, value in params.items()}


if __name__ == "__main__":
    main()
