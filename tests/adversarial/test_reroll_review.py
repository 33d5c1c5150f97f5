"""Adversarial review of the re-rolling pass (gradgen/passes/reroll.py).

Each test asserts the correct behaviour: C kernels (printed from the re-rolled graph) agree with Python kernels
(run on the unrolled graph), in value and gradient and forward only. The first part FAILS while the defect named in
its docstring exists; the second part passes and covers cases tests/test_reroll.py does not.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
from adversarial_helpers import specs_of

import gradgen as gg
from gradgen.dsl.trace import trace
from gradgen.passes.reroll import reroll


def _scans(kernel) -> int:
    return [node.op for node in kernel.c_graph.nodes].count("scan")


def _agree(fn, values: dict, wrt=None, rtol: float = 1e-11, forward: bool = True) -> gg.Kernel:
    """value_and_grad on C (re-rolled) == on Python (unrolled); the same for gg.compile when ``forward``."""
    specs, kw = specs_of(values), ({} if wrt is None else {"wrt": wrt})
    c = gg.value_and_grad(fn, backend="c", specs=specs, **kw)
    (vc, gc), (vp, gp) = c(**values), gg.value_and_grad(fn, backend="python", specs=specs, **kw)(**values)
    np.testing.assert_allclose(vc, vp, rtol=rtol, atol=rtol)
    assert set(gc) == set(gp)
    for name in gp:
        np.testing.assert_allclose(gc[name], gp[name], rtol=rtol, atol=rtol, err_msg=name)
    if forward:
        fc, fp = gg.compile(fn, backend="c", specs=specs), gg.compile(fn, backend="python", specs=specs)
        np.testing.assert_allclose(fc(**values), fp(**values), rtol=rtol, atol=rtol)
    return c


def _copy_loops(graph) -> int:
    """Loop nodes whose body computes nothing (only inputs, slices, reshapes): rows copied from one stack to
    another."""
    return sum(1 for n in graph.nodes if n.op == "scan"
               and {b.op for b in n.params["body"].nodes} <= {"input", "reshape", "slice"})


rng = np.random.default_rng(2024)


# --------------------------------------------------------------------------------------------------------------
# Part 1: defects (these fail)
# --------------------------------------------------------------------------------------------------------------

def delayed(h0, w, s0, r0):
    h, s_prev, r = h0, s0, r0
    for k in range(100):
        s = gg.sin(w[k] * r)
        a = h * s_prev          # reads the previous step's s: an earlier node of the step before
        t = gg.tanh(a)
        r = gg.exp(-t)
        h = t * h
        s_prev = s
    return gg.sum(h)


def test_a_value_delayed_by_one_step_does_not_crash_the_re_roll():
    """_best_phase picks the phase that cuts the step between ``s = sin(..)`` and ``h * s_prev``: there
    ``s_prev`` is two (shifted) steps old, _roles records it as a carry at offset -1, and _as_loop raises
    KeyError looking up ``inside[start - 1]``."""
    values = {"h0": rng.normal(size=3), "w": rng.normal(size=100), "s0": rng.normal(size=3),
              "r0": rng.normal(size=3)}
    kernel = _agree(delayed, values)
    assert _scans(kernel) == 2


def trajectory(h0, w):
    h, states = h0, []
    for k in range(w.shape[0]):
        h = gg.sin(h * w[k] + 0.1)
        states.append(h)
    return gg.sum(gg.stack(states) ** 2)


def test_stacked_states_are_not_re_rolled_again_into_loops_that_copy_rows():
    """_as_loop reads each step's state back as slice+reshape of the stacked ys; 250 such pairs are a periodic
    run of 500 nodes, which the next of reroll's 8 rounds makes a loop copying rows, and so on: 8 forward loops
    (7 of them copies) and 8 reverse loops instead of 1 + 1."""
    values = {"h0": rng.normal(size=3), "w": rng.uniform(0.5, 1.5, 250)}
    kernel = _agree(trajectory, values, forward=False)
    assert _copy_loops(reroll(trace(trajectory, specs_of(values)))) == 0
    assert _scans(kernel) == 2


def two_loops_sharing_slices(h0, w):
    h = h0
    for k in range(250):
        h = gg.tanh(h * w[k] + 0.1)
    g = h
    for k in range(250):
        g = gg.sin(g + w[k])  # w[k] broadcast: the same node as in the first loop (CSE), read after it
    return gg.sum(g) + gg.sum(h)


def test_a_second_loop_reading_values_of_the_first_is_re_rolled():
    """The first loop's broadcast w[k] is read by the second loop, so it is stacked and read back as 249
    slice+reshape pairs; these are re-rolled into 7 copy loops, which use up reroll's 8 rounds: the second loop
    (250 sin steps, 500 nodes) stays unrolled."""
    values = {"h0": rng.normal(size=3), "w": rng.normal(size=250)}
    rolled = reroll(trace(two_loops_sharing_slices, specs_of(values)))
    # the first step or two of a loop stay unrolled (they create the constants the later steps share)
    assert [n.op for n in rolled.nodes].count("sin") <= 2
    assert _copy_loops(rolled) == 0


def irregular_then_regular(h0, w, v):
    h = h0
    for k in range(200):
        h = gg.tanh(h * w[k * k] + 0.1)  # periodic, but w[k * k] does not advance by a fixed step
    g = h
    for k in range(100):
        g = gg.sin(g * v[k] + 0.2)
    return gg.sum(g)


def test_a_run_that_cannot_be_a_loop_does_not_keep_the_next_loop_unrolled():
    """reroll returns the graph as soon as the largest run fails _roles (here: the w[k*k] loop), so the regular
    loop after it is silently left unrolled."""
    values = {"h0": rng.normal(size=3), "w": rng.uniform(0.5, 1.0, 40_000), "v": rng.normal(size=100)}
    rolled = reroll(trace(irregular_then_regular, specs_of(values)))
    assert [n.op for n in rolled.nodes].count("scan") == 1
    assert [n.op for n in rolled.nodes].count("sin") <= 2  # the first steps stay unrolled


# --------------------------------------------------------------------------------------------------------------
# Part 2: regression tests (these pass)
# --------------------------------------------------------------------------------------------------------------

def tuple_carry(h0, w, a):
    x, y, z = h0, h0 * 2.0, gg.sum(h0)
    for k in range(80):
        x, y, z = gg.tanh(y * w[k] + z), gg.sin(x) * a, z * 0.9 + gg.sum(x * y)
    return gg.sum(x) + gg.sum(y) + z


def int_and_bool_carries(h0, w, n):
    h, c, flag, cs = h0, n, h0 > 0.0, []
    for k in range(100):
        c = c * 3 + 1 - c * c
        h = gg.where(flag, gg.tanh(h * w[k] + gg.cast(c, "float64") * 1e-3), gg.sin(h + w[k]))
        flag = h > 0.1
        cs.append(c)
    return gg.sum(h) + gg.sum(gg.cast(gg.stack(cs[::7]), "float64")) * 1e-9


def scalar_first(w, v):
    h = 0.0  # the first step makes a scalar a vector
    for k in range(100):
        h = gg.tanh(h * w[k] + v)
    return gg.sum(h * h)


def computed_rows(x, h0):
    z = gg.exp(x) * 0.5  # slices of a computed array, two scanned reads per step
    h = h0
    for k in range(100):
        h = gg.tanh(h * z[k] + z[100 + k])
    return gg.sum(h)


def sub_rows_and_blocks(X, B, h0):
    h = h0
    for k in range(100):
        h = gg.tanh(h * X[k, 2:5] + X[k, 0] + gg.sum(B[2 * k:2 * k + 2], axis=0))
    return gg.sum(h)


def carried_slice_and_lookahead(h0, w, p0):
    h, prev, x = h0, p0, p0
    for k in range(100):
        prev, x = x, w[k]           # the slice itself is carried into the next step
        h = gg.tanh(h * x - prev + w[k + 1])  # w[k + 1] is the next step's w[k] (CSE)
    return gg.sum(h) * w[5] + w[99]           # slices of the loop read after it


def relu_max_lse(h0, W):
    h, loss = h0, 0.0
    for k in range(80):
        h = gg.relu(h + W[k]) - gg.maximum(h, 0.3 * W[k])
        loss = loss + gg.logsumexp(h) + gg.max(h)
    return loss


def scan_in_a_loop(h0, W):
    h = h0
    for i in range(100):
        h, _ = gg.scan(lambda c, x: (gg.tanh(c * x + 0.1), None), h, W[i])
        h = gg.sin(h) * 0.9 + 0.01
    return gg.sum(h)


def fibonacci_like(h0, h1, w):
    hs = [h0, h1]
    for k in range(100):
        hs.append(gg.tanh(hs[-1] * w[k] + 0.5 * hs[-2]))  # reads h_{k-2}
    return gg.sum(hs[-1])


def unnamed_captures_and_dead_code(h0, w, a, b):
    h = h0
    for k in range(80):
        junk = gg.exp(h * a)  # noqa: F841  (dead)
        h = gg.name(gg.tanh(h * w[k] * gg.exp(a) + gg.sin(b)), "a")  # named like an input
    return gg.sum(h)


def matrix_carry(M0, A):
    M = M0
    for _ in range(200):
        M = gg.tanh(M @ A + 0.1 * M0) * 0.9
    return gg.sum(M)


REGRESSIONS = [
    (tuple_carry, lambda: {"h0": rng.normal(size=3), "w": rng.normal(size=80), "a": 0.7}, None),
    (int_and_bool_carries, lambda: {"h0": rng.normal(size=3), "w": rng.normal(size=100), "n": np.int64(2)},
     ["h0", "w"]),
    (scalar_first, lambda: {"w": rng.normal(size=100), "v": rng.normal(size=4)}, None),
    (computed_rows, lambda: {"x": 0.3 * rng.normal(size=200), "h0": rng.normal(size=3)}, None),
    (sub_rows_and_blocks, lambda: {"X": rng.normal(size=(100, 6)), "B": rng.normal(size=(200, 3)),
                                   "h0": rng.normal(size=3)}, None),
    (carried_slice_and_lookahead, lambda: {"h0": rng.normal(size=3), "w": rng.normal(size=101), "p0": 0.2}, None),
    (relu_max_lse, lambda: {"h0": rng.normal(size=4), "W": rng.normal(size=(80, 4))}, None),
    (scan_in_a_loop, lambda: {"h0": rng.normal(size=3), "W": rng.normal(size=(100, 5, 3))}, None),
    (fibonacci_like, lambda: {"h0": rng.normal(size=3), "h1": rng.normal(size=3), "w": rng.normal(size=100)}, None),
    (unnamed_captures_and_dead_code, lambda: {"h0": rng.normal(size=3), "w": rng.normal(size=80), "a": 0.1,
                                              "b": 0.3}, None),
    (matrix_carry, lambda: {"M0": rng.normal(size=(3, 3)), "A": 0.5 * rng.normal(size=(3, 3))}, None),
]


@pytest.mark.parametrize("fn, make, wrt", REGRESSIONS, ids=[r[0].__name__ for r in REGRESSIONS])
def test_re_rolled_loops_agree_with_the_unrolled_graph(fn, make, wrt):
    kernel = _agree(fn, make(), wrt=wrt)
    assert _scans(kernel) >= 2


def test_float32_loops_are_re_rolled_and_agree():
    def chain(h0, w):
        h = h0
        for k in range(100):
            h = gg.tanh(h * w[k] + 0.5)
        return gg.sum(h)

    values = {"h0": rng.normal(size=3).astype(np.float32), "w": rng.normal(size=100).astype(np.float32)}
    assert _scans(_agree(chain, values, rtol=1e-5)) == 2


def test_loops_that_must_not_be_rolled_stay_correct():
    def coefficients(h0, w):  # a different Python constant each step: scanned as data (passes/reroll.py)
        h = h0
        for k in range(100):
            h = gg.tanh(h * w[k]) * (1 + 0.01 * k)
        return gg.sum(h)

    def backwards(h0, w):  # negative step, and overlapping windows
        h = h0
        for k in reversed(range(100)):
            h = gg.tanh(h * w[k:k + 3] + 0.1)
        return gg.sum(h)

    values = {"h0": rng.normal(size=3), "w": rng.normal(size=102)}
    assert _scans(_agree(coefficients, values, forward=False)) == 2  # the forward loop and its reverse
    _agree(backwards, values, forward=False)


def test_states_of_given_steps_read_after_the_loop_as_several_outputs():
    def outs(h0, w):
        h, states = h0, []
        for k in range(100):
            h = gg.tanh(h * w[k] + 0.1)
            states.append(h)
        return h, states[3], states[99], gg.stack(states[10:14]) * states[0]

    values = {"h0": rng.normal(size=3), "w": rng.normal(size=100)}
    c = gg.compile(outs, backend="c", specs=specs_of(values))
    p = gg.compile(outs, backend="python", specs=specs_of(values))
    assert _scans(c) == 1
    for a, b in zip(c(**values), p(**values)):
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-13)


def test_a_ten_thousand_step_loop_builds_in_seconds():
    def chain(h0, w):
        h = h0
        for k in range(w.shape[0]):
            h = gg.tanh(h * w[k])
        return gg.sum(h)

    began = time.perf_counter()
    kernel = gg.value_and_grad(chain, backend="c", specs={"h0": gg.Array((3,)), "w": gg.Array((10_000,))})
    assert _scans(kernel) == 2 and time.perf_counter() - began < 10
