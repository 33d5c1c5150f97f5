"""Schedule time per node as a chain grows: the schedule stage should cost about the same per node
whatever the length of the graph.

``python -m bench.schedule_scaling`` prints, for each chain and length, the median over a few rounds of
``gradgen.schedule.schedule`` on the lowered value-and-gradient graph (the program checker off, the
garbage collector paused as during a build), in microseconds per node, and the ratio of the longest
chain's cost per node to the shortest's. A ratio near 1 is linear; near 4 (for 4x the length) quadratic.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
from typing import Callable

import gradgen as gg
import gradgen.schedule
from gradgen import stages
from gradgen.passes.lower import lower_for_c


def _matvec_chain(n: int) -> Callable:
    def f(x, W):
        h = x
        for _ in range(n):
            h = gg.tanh(W @ h)
        return gg.sum(h)
    return f


def _shift_chain(n: int) -> Callable:
    def f(x):
        h = x
        for _ in range(n):
            h = gg.concatenate([h[1:] * 0.5 + h[:-1] * 0.5, h[:1]])
        return gg.sum(h * h)
    return f


def _vector_chain(n: int) -> Callable:
    def f(x, w):
        h = x
        for k in range(n):
            h = gg.tanh(h * w[k])
        return gg.sum(h * h)
    return f


#: name: (the chain of length n, its specs for length n, the two lengths compared)
CHAINS = {
    "matvec": (_matvec_chain, lambda n: {"x": gg.Array((4,)), "W": gg.Array((4, 4))}, (100, 400)),
    "shift": (_shift_chain, lambda n: {"x": gg.Array((6,))}, (250, 1000)),
    "vchain": (_vector_chain, lambda n: {"x": gg.Array((4,)), "w": gg.Array((n, 4))}, (100, 400)),
}


def seconds_per_node(fn: Callable, specs: dict, rounds: int) -> tuple[float, int]:
    """Median schedule time per node of ``fn``'s lowered value-and-gradient graph, and its node count."""
    lowered = lower_for_c(stages.prepared(fn, specs, "value_and_grad").prepared)
    times = []
    for _ in range(rounds):
        gc.disable()
        start = time.perf_counter()
        gradgen.schedule.schedule(lowered)
        times.append(time.perf_counter() - start)
        gc.enable()
    return statistics.median(times) / len(lowered.nodes), len(lowered.nodes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    gradgen.schedule.CHECK = False
    print(f"{'chain':8} {'n':>6} {'nodes':>7} {'us/node':>9}")
    for name, (make, specs, lengths) in CHAINS.items():
        costs = []
        for n in lengths:
            per_node, nodes = seconds_per_node(make(n), specs(n), args.rounds)
            costs.append(per_node)
            print(f"{name:8} {n:>6} {nodes:>7} {per_node * 1e6:>9.1f}")
        print(f"{name:8} ratio {costs[-1] / costs[0]:.2f} for {lengths[-1] // lengths[0]}x the length")


if __name__ == "__main__":
    main()
