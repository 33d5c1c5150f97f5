"""Train an MLP on scikit-learn's bundled digits (8 x 8 images, 10 classes, no download) with compiled
gradients: one fused kernel per step computes the cross-entropy, its gradient and Adam's update.

    pip install scikit-learn tqdm matplotlib      # tqdm and matplotlib are optional
    python examples/train_digits.py [--epochs 40] [--plot digits.png]

Prints a progress bar per epoch with the running loss (a line per epoch without tqdm), the test
accuracy after each epoch and the time per epoch, and saves the loss and accuracy curves as a PNG
with --plot (matplotlib).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import gradgen as gg
from gradgen import optim

HIDDEN = 128


def cross_entropy(params, X, labels):
    """The mean cross-entropy of a 64-128-10 ReLU network's logits against the integer labels."""
    hidden = gg.relu(X @ params["W1"] + params["b1"])
    logits = hidden @ params["W2"] + params["b2"]
    return -gg.mean(gg.take_along_axis(gg.log_softmax(logits, axis=1), labels[:, None], axis=1))


def predict(W1, b1, W2, b2, X):
    return gg.argmax(gg.relu(X @ W1 + b1) @ W2 + b2, axis=1)


def data(seed: int = 0) -> tuple[np.ndarray, ...]:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    X = digits.data / 16.0
    return train_test_split(X, digits.target.astype(np.int64), test_size=0.25, random_state=seed,
                            stratify=digits.target)


def initial(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """He initialization."""
    return {"W1": rng.normal(size=(64, HIDDEN)) * np.sqrt(2 / 64), "b1": np.zeros(HIDDEN),
            "W2": rng.normal(size=(HIDDEN, 10)) * np.sqrt(2 / HIDDEN), "b2": np.zeros(10)}


def _bar(batches: range, epoch: int) -> object:
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(batches, desc=f"epoch {epoch:2d}", leave=False, unit="batch", mininterval=0.25)


def train(epochs: int = 40, batch: int = 64, lr: float = 3e-3, seed: int = 0, quiet: bool = False) -> dict:
    X_train, X_test, y_train, y_test = data(seed)
    rng = np.random.default_rng(seed)
    params = initial(rng)
    step = optim.training_step(cross_entropy, optim.Adam(lr=lr))
    state = step.init(params)
    accuracy_of = gg.compile(predict, W1=gg.Array((64, HIDDEN)), b1=gg.Array((HIDDEN,)), W2=gg.Array((HIDDEN, 10)),
                             b2=gg.Array((10,)), X=gg.Array(X_test.shape))
    history: dict[str, list[float]] = {"loss": [], "accuracy": [], "seconds": []}
    batches = len(X_train) // batch  # whole batches only: one kernel signature
    for epoch in range(1, epochs + 1):
        started = time.perf_counter()
        order = rng.permutation(len(X_train))
        bar = None if quiet else _bar(range(batches), epoch)
        running = 0.0
        for k in range(batches):
            rows = order[k * batch:(k + 1) * batch]
            params, state, loss = step(params, state, X_train[rows], y_train[rows])
            running += loss
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{running / (k + 1):.4f}", refresh=False)
        if bar is not None:
            bar.close()
        seconds = time.perf_counter() - started
        accuracy = float(np.mean(accuracy_of(params["W1"], params["b1"], params["W2"], params["b2"], X_test)
                                 == y_test))
        history["loss"].append(running / batches)
        history["accuracy"].append(accuracy)
        history["seconds"].append(seconds)
        if not quiet:
            print(f"epoch {epoch:2d}  loss {running / batches:.4f}  test accuracy {accuracy:.2%}  "
                  f"{seconds * 1e3:.1f} ms", flush=True)
    return history


def plot(history: dict, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(9, 3.5))
    epochs = range(1, len(history["loss"]) + 1)
    left.plot(epochs, history["loss"])
    left.set(xlabel="epoch", ylabel="training loss", yscale="log", title="cross-entropy")
    right.plot(epochs, [100 * a for a in history["accuracy"]])
    right.set(xlabel="epoch", ylabel="test accuracy (%)", title="digits, held-out quarter")
    figure.tight_layout()
    figure.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--plot", default="", help="save the loss and accuracy curves to this PNG")
    options = parser.parse_args()
    history = train(options.epochs)
    print(f"final test accuracy {history['accuracy'][-1]:.2%}; median epoch "
          f"{np.median(history['seconds'][1:]) * 1e3:.1f} ms (the first builds the kernel)")
    if options.plot:
        plot(history, options.plot)
        print(f"curves saved to {options.plot}")


if __name__ == "__main__":
    main()
