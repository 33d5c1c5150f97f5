"""Re-rolling: a Python loop unrolled into the traced graph compiles to C as one loop node again.

Each kernel's C (re-rolled) is checked against the Python backend, which runs
the unrolled graph as it is, and the C size is checked not to grow with the
number of steps.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import gradgen as gg
from gradgen.build.headers import runtime_include_dir
from gradgen.dsl.trace import trace
from gradgen.passes.reroll import MIN_STEPS, find_run, reroll


def _scans(kernel: gg.Kernel) -> int:
    return [node.op for node in kernel.c_graph.nodes].count("scan")


def _c_equals_python(fn, values: dict, wrt=None, rtol: float = 1e-12) -> gg.Kernel:
    specs = {k: gg.Array(np.shape(v), "int64" if np.asarray(v).dtype.kind == "i" else "float64")
             for k, v in values.items()}
    c = gg.value_and_grad(fn, wrt=wrt, backend="c", specs=specs)
    py = gg.value_and_grad(fn, wrt=wrt, backend="python", specs=specs)
    (vc, gc), (vp, gp) = c(**values), py(**values)
    assert vc == pytest.approx(vp, rel=rtol, abs=rtol)
    for name in gp:
        np.testing.assert_allclose(gc[name], gp[name], rtol=rtol, atol=rtol)
    return c


def vector_chain(h0, w):
    h, loss = h0, 0.0
    for k in range(w.shape[0]):
        h = gg.tanh(h * w[k])
        loss = loss + gg.sum(h * h)
    return loss


def test_a_vector_chain_is_one_loop_in_c_whatever_its_length():
    rng = np.random.default_rng(0)
    kernels = {}
    for n in (200, 400):
        values = {"h0": rng.normal(size=4), "w": rng.uniform(1.3, 1.7, n)}
        kernels[n] = _c_equals_python(vector_chain, values, wrt="w")
        assert _scans(kernels[n]) == 2  # the forward loop and its reverse
        assert len(kernels[n].graph) < 200  # the C kernel's graph is the re-rolled one
    assert len(kernels[200].source.splitlines()) == len(kernels[400].source.splitlines())


def test_the_traced_graph_and_the_views_stay_unrolled():
    specs = {"h0": gg.Array((4,)), "w": gg.Array((64,))}
    traced = trace(vector_chain, specs)
    assert [n.op for n in traced.nodes].count("tanh") == 64
    kernel = gg.value_and_grad(vector_chain, wrt="w", backend="python", specs=specs)
    assert [n.op for n in kernel.graph.nodes].count("scan") == 0 and _scans(kernel) == 2
    table = gg.backprop_table(vector_chain, h0=np.full(4, 0.5), w=np.full(64, 1.5))
    assert sum(1 for row in table.rows if row.op == "tanh") == 64


def rk4_fit(a, b, x0, y0, obs):
    def field(x, y):
        return a * x - b * x * y, b * x * y - y

    x, y, misfit = x0, y0, 0.0
    dt = 0.01
    for k in range(obs.shape[0]):
        k1 = field(x, y)
        k2 = field(x + dt / 2 * k1[0], y + dt / 2 * k1[1])
        k3 = field(x + dt / 2 * k2[0], y + dt / 2 * k2[1])
        k4 = field(x + dt * k3[0], y + dt * k3[1])
        x = x + dt / 6 * (k1[0] + 2 * k2[0] + 2 * k3[0] + k4[0])
        y = y + dt / 6 * (k1[1] + 2 * k2[1] + 2 * k3[1] + k4[1])
        misfit = misfit + (x - obs[k]) ** 2
    return misfit


def test_an_unrolled_rk4_integrator_of_scalars_is_one_loop():
    obs = np.linspace(1.0, 1.3, 300)
    kernel = _c_equals_python(rk4_fit, {"a": 1.1, "b": 0.6, "x0": 1.0, "y0": 0.5, "obs": obs})
    assert _scans(kernel) == 2 and len(kernel.source.splitlines()) < 1500


def test_rows_columns_blocks_and_strides_are_scanned():
    rng = np.random.default_rng(1)

    def rows(X, w, v):
        h, total = v, 0.0
        for k in range(50):
            h = gg.tanh(X[k] * h + w[3 * k])
            total = total + gg.sum(h * w[150 + 2 * k:152 + 2 * k][0])
        return total

    def columns(Y, w):
        h, total = Y[:, 0] * 0.0, 0.0
        for k in range(50):
            h = gg.sin(h + Y[:, k] * w[k])
            total = total + gg.sum(h)
        return total

    kernel = _c_equals_python(rows, {"X": 0.3 * rng.normal(size=(50, 4)), "w": rng.normal(size=250),
                                     "v": rng.normal(size=4)})
    assert _scans(kernel) == 2
    kernel = _c_equals_python(columns, {"Y": rng.normal(size=(5, 50)), "w": rng.normal(size=50)})
    assert _scans(kernel) == 2


def test_values_of_every_step_read_after_the_loop_are_stacked():
    def trajectory(h0, w):
        h, states = h0, []
        for k in range(w.shape[0]):
            h = gg.sin(h * w[k] + 0.1)
            states.append(h)
        return gg.sum(gg.stack(states) ** 2) + gg.sum(states[7]) * gg.sum(h)

    rng = np.random.default_rng(2)
    kernel = _c_equals_python(trajectory, {"h0": rng.normal(size=3), "w": rng.uniform(0.5, 1.5, 80)})
    assert _scans(kernel) == 2


def test_two_loops_one_after_the_other_are_two_loops():
    def two(h0, w, v):
        h = h0
        for k in range(100):
            h = gg.tanh(h * w[k])
        g = h
        for k in range(100):
            g = gg.sin(g + v[k] * h)
        return gg.sum(g * g)

    rng = np.random.default_rng(3)
    kernel = _c_equals_python(two, {"h0": rng.normal(size=5), "w": rng.uniform(0.5, 1.5, 100),
                                    "v": rng.normal(size=100)})
    assert _scans(kernel) == 4


def test_forward_only_kernels_are_re_rolled_too():
    w = np.random.default_rng(4).uniform(1.3, 1.7, 200)
    c = gg.compile(vector_chain, backend="c", h0=gg.Array((4,)), w=gg.Array((200,)))
    py = gg.compile(vector_chain, backend="python", h0=gg.Array((4,)), w=gg.Array((200,)))
    assert [n.op for n in c.c_graph.nodes].count("scan") == 1
    assert c(np.full(4, 0.3), w) == pytest.approx(py(np.full(4, 0.3), w), rel=1e-13)


def test_constants_that_change_from_step_to_step_are_scanned_as_data():
    def forced(h0, w, ts):  # a time-varying drive 0.01 * k, and a Python list of step sizes
        h, loss = h0, 0.0
        for k in range(w.shape[0]):
            h = gg.tanh(h * w[k] + 0.01 * k) + ts[k] * np.array([1.0, -1.0, 0.5, 0.0])
            loss = loss + gg.sum(h * h)
        return loss

    rng = np.random.default_rng(3)
    kernels = {}
    for n in (100, 300):
        values = {"h0": rng.normal(size=4), "w": rng.uniform(0.5, 1.5, n)}
        ts = [float(t) for t in rng.uniform(0.0, 0.1, n)]
        fn = lambda h0, w, ts=ts: forced(h0, w, ts)  # noqa: E731
        kernels[n] = _c_equals_python(fn, values, wrt="w")
        assert _scans(kernels[n]) == 2 and len(kernels[n].c_graph) < 300
        if n == 100:  # and against central differences (of a loss near 100: steps of 1e-5, error near 1e-9)
            np.testing.assert_allclose(kernels[n](**values)[1]["w"], _central_difference(fn, values, "w"),
                                       rtol=1e-6, atol=1e-7)
    assert len(kernels[100].source.splitlines()) == len(kernels[300].source.splitlines())


def _central_difference(fn, values: dict, name: str, eps: float = 1e-5) -> np.ndarray:
    f = gg.compile(fn, backend="python", specs={k: gg.Array(np.shape(v)) for k, v in values.items()})
    out = np.zeros_like(values[name])
    for i in range(out.size):
        up, down = dict(values), dict(values)
        up[name], down[name] = values[name].copy(), values[name].copy()
        up[name][i] += eps
        down[name][i] -= eps
        out[i] = (float(f(**up)) - float(f(**down))) / (2 * eps)
    return out


def test_short_loops_and_irregular_steps_stay_unrolled():
    short = trace(vector_chain, {"h0": gg.Array((4,)), "w": gg.Array((MIN_STEPS - 1,))})
    assert reroll(short) is short

    def squares(h0, w):  # reads w[k * k]: the slice does not advance by a fixed step
        h = h0
        for k in range(100):
            h = gg.tanh(h * w[k * k])
        return gg.sum(h)

    irregular = trace(squares, {"h0": gg.Array((40,)), "w": gg.Array((10_000,))})
    assert find_run(irregular) is not None and reroll(irregular) is irregular  # periodic, but w[k * k]
    rng = np.random.default_rng(5)
    _c_equals_python(squares, {"h0": rng.normal(size=40), "w": rng.uniform(0.5, 1.0, 10_000)})


def test_an_exported_function_is_printed_re_rolled(tmp_path):
    _, source = gg.export_c(vector_chain, tmp_path, "chain", wrt="w", h0=gg.Array((4,)), w=gg.Array((300,)))
    text = source.read_text()
    runtime = (Path(runtime_include_dir()) / "gradgen_runtime.h").read_text()
    assert runtime in text  # copied in whole; the kernel itself is what must stay short
    assert "chain_body0" in text and len(text.splitlines()) - len(runtime.splitlines()) < 300


def test_a_loop_reading_its_array_backwards_is_scanned_backwards():
    def backwards(h0, w):
        h, total = h0, 0.0
        for k in range(w.shape[0]):
            h = gg.tanh(h * w[w.shape[0] - 1 - k] + 0.1)
            total = total + gg.sum(h)
        return total

    rng = np.random.default_rng(6)
    kernel = _c_equals_python(backwards, {"h0": rng.normal(size=4), "w": rng.uniform(0.5, 1.5, 120)})
    assert _scans(kernel) == 2


def test_stacking_every_state_reads_the_stacked_y_itself():
    def trajectory(h0, w):
        h, states = h0, []
        for k in range(w.shape[0]):
            h = gg.tanh(h * w[k])
            states.append(h)
        return gg.sum(gg.stack(states)[2:] ** 2)

    rolled = reroll(trace(trajectory, {"h0": gg.Array((4,)), "w": gg.Array((200,))}))
    assert [n.op for n in rolled.nodes].count("scan") == 1 and len(rolled.nodes) < 60
    rng = np.random.default_rng(7)
    assert _scans(_c_equals_python(trajectory, {"h0": rng.normal(size=4), "w": rng.uniform(0.5, 1.5, 200)})) == 2


def test_the_first_step_is_in_the_loop_too():
    """Step 0 reads the loop's initial values (h0, the 0.0 of ``loss``) where the others read the step
    before, and makes the constants the others share: it is rolled in as well, so the loop runs every step
    and nothing of it is left unrolled before the loop."""
    rolled = reroll(trace(vector_chain, {"h0": gg.Array((4,)), "w": gg.Array((64,))}))
    (loop,) = [node for node in rolled.nodes if node.op == "scan"]
    assert loop.params["length"] == 64 and [n.op for n in rolled.nodes].count("tanh") == 0

    def states(x0):
        x, seen = x0, []
        for _ in range(80):
            x = x + 0.01 * (gg.sin(x) * x - x * x * x)
            seen.append(x)
        return gg.sum(gg.stack(seen) * gg.stack(seen))

    rolled = reroll(trace(states, {"x0": gg.Array((2,))}))
    (loop,) = [node for node in rolled.nodes if node.op == "scan"]
    assert loop.params["length"] == 80 and "concatenate" not in [n.op for n in rolled.nodes]
    _c_equals_python(states, {"x0": np.array([0.6, 0.9])})
