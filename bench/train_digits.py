"""Time per epoch of examples/train_digits.py (a 64-128-10 MLP, Adam, batches of 64) with gradgen's fused
step beside PyTorch on the CPU (the same model, initialization, batches and optimizer), one thread each.

    python -m bench.train_digits [--epochs 20] [--out bench/results/<date>-train-digits.md]

Reports the median epoch (the first epoch of each, which builds or warms up, left out) and the test
accuracy each reaches.
"""

from __future__ import annotations

import importlib.util
import statistics
import time
from pathlib import Path

import numpy as np

from bench import standalone
from bench.env import describe, limit_threads

ROOT = Path(__file__).resolve().parent.parent


def _example():
    spec = importlib.util.spec_from_file_location("train_digits", ROOT / "examples" / "train_digits.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def torch_epochs(example, epochs: int, batch: int = 64, lr: float = 3e-3, seed: int = 0) -> dict:
    import torch

    torch.set_num_threads(1)
    X_train, X_test, y_train, y_test = example.data(seed)
    rng = np.random.default_rng(seed)
    params = {k: torch.tensor(v, requires_grad=True) for k, v in example.initial(rng).items()}
    optimizer = torch.optim.Adam(params.values(), lr=lr)
    Xt, yt = torch.tensor(X_train), torch.tensor(y_train)
    history = {"seconds": [], "accuracy": []}
    for _ in range(epochs):
        started = time.perf_counter()
        order = rng.permutation(len(X_train))
        for k in range(len(X_train) // batch):
            rows = torch.from_numpy(order[k * batch:(k + 1) * batch])
            logits = torch.relu(Xt[rows] @ params["W1"] + params["b1"]) @ params["W2"] + params["b2"]
            loss = torch.nn.functional.cross_entropy(logits, yt[rows])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        history["seconds"].append(time.perf_counter() - started)
        with torch.no_grad():
            predicted = (torch.relu(torch.tensor(X_test) @ params["W1"] + params["b1"]) @ params["W2"]
                         + params["b2"]).argmax(dim=1).numpy()
        history["accuracy"].append(float(np.mean(predicted == y_test)))
    return history


def main(argv: list[str] | None = None) -> None:
    options = standalone.options(__doc__, argv, epochs=20)
    limit_threads(1)
    example = _example()
    runs = {"gradgen (fused Adam step, C)": example.train(options.epochs, quiet=True),
            "PyTorch 2.13 CPU (eager, torch.optim.Adam)": torch_epochs(example, options.epochs)}
    env = describe()
    lines = [f"Training the digits MLP (64-128-10, Adam, batch 64, 21 batches per epoch), {time.strftime('%Y-%m-%d')}, "
             f"{env.get('cpu', '')}, one thread; median of epochs 2 to {options.epochs}.", "",
             "| system | per epoch | final test accuracy |", "|---|---|---|"]
    for name, history in runs.items():
        lines.append(f"| {name} | {statistics.median(history['seconds'][1:]) * 1e3:.2f} ms | "
                     f"{history['accuracy'][-1]:.2%} |")
    standalone.publish(lines, options.out)


if __name__ == "__main__":
    main()
