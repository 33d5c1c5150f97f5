"""The C backend against the Python backend (the reference), op by op and on whole programs."""

from __future__ import annotations

import os
import re
import select
import signal
import threading
from pathlib import Path

import numpy as np
import pytest

import gradgen as gg
from gradgen import stages
from gradgen.build import find_compiler

pytestmark = pytest.mark.skipif(find_compiler() is None, reason="needs a C compiler")

RNG = np.random.default_rng(7)


def _relu2(x, y, w1, b1, w2, b2):
    a1 = gg.relu(w1 * x + b1)
    a2 = gg.relu(w2 * a1 + b2)
    return 0.5 * (a2 - y) ** 2


def _logreg(X, y, w, b):
    Z = X @ w + b
    a = 1 / (1 + gg.exp(-Z))
    return gg.mean(-y * gg.log(a) - (1 - y) * gg.log(1 - a))


def _mlp(X, labels, W1, b1, W2, b2):
    h = gg.tanh(X @ W1 + b1)
    logits = h @ W2 + b2
    return -gg.mean(gg.take_along_axis(gg.log_softmax(logits), labels[:, None], axis=1))


def _elementwise(x, a, b, c):
    return gg.sum(gg.tanh(a * x + b) * gg.exp(-c * x**2) + gg.log(1 + gg.exp(a * x)))


def _shapes(x, v):
    m = x - gg.max(x, axis=1, keepdims=True)
    s = gg.sum(gg.exp(m), axis=0) + v
    t = gg.concatenate([x[:, ::-1], x.T.reshape(2, 3)], axis=1)
    u = gg.stack([v, v * 2.0], axis=0)
    return gg.sum(s * v) + gg.mean(t ** 2) + gg.sum(u[:, 1:]) + gg.min(x) + gg.sum(gg.abs(x[1]))


def _picks(x, idx):
    return gg.sum(x[idx] ** 2) + gg.sum(gg.where(x > 0.5, gg.sqrt(x), -x))


CASES = [
    (_relu2, {"x": 1.0, "y": 5.0, "w1": 2.0, "b1": 0.0, "w2": 3.0, "b2": 1.0}),
    (_logreg, {"X": RNG.normal(size=(50, 8)), "y": (RNG.random(50) > 0.5) * 1.0, "w": RNG.normal(size=8), "b": 0.3}),
    (_mlp, {"X": RNG.normal(size=(16, 12)), "labels": RNG.integers(0, 5, 16), "W1": RNG.normal(size=(12, 7)),
            "b1": RNG.normal(size=7), "W2": RNG.normal(size=(7, 5)), "b2": RNG.normal(size=5)}),
    (_elementwise, {"x": RNG.normal(size=300), "a": 0.7, "b": -0.2, "c": 0.3}),
    (_shapes, {"x": RNG.random((2, 3)), "v": RNG.random(3)}),
    (_picks, {"x": RNG.random(6), "idx": np.array([5, 0, 0, -1])}),
]


@pytest.mark.parametrize("fn, values", CASES, ids=[c[0].__name__ for c in CASES])
def test_c_matches_python_value_and_gradient(fn, values):
    wrt = [k for k, v in values.items() if np.asarray(v).dtype.kind == "f"]
    c = gg.value_and_grad(fn, wrt=wrt, backend="c")
    py = gg.value_and_grad(fn, wrt=wrt, backend="python")
    value_c, grads_c = c(**values)
    value_py, grads_py = py(**values)
    assert c.backend == "c" and py.backend == "python"
    assert value_c == pytest.approx(value_py, rel=1e-12, abs=1e-14)
    for key in wrt:
        np.testing.assert_allclose(grads_c[key], grads_py[key], rtol=1e-11, atol=1e-14)
    assert c.unchecked(*values.values())[0] == value_c


def test_forward_kernels_with_array_outputs():
    fn = gg.compile(lambda x, y: (gg.exp(x) * y, gg.sum(x), x.T), backend="c",
                    x=gg.Array((2, 3)), y=gg.Array((3,)))
    x, y = RNG.random((2, 3)), RNG.random(3)
    a, s, t = fn(x, y)
    np.testing.assert_allclose(a, np.exp(x) * y, rtol=1e-14)
    assert s == pytest.approx(x.sum(), rel=1e-14)
    np.testing.assert_array_equal(t, x.T)


def test_index_out_of_range_is_an_input_error_not_a_crash():
    k = gg.value_and_grad(_picks, wrt="x", backend="c", x=gg.Array((6,)), idx=gg.Array((4,), "int64"))
    with pytest.raises(gg.InputError, match="argument 'idx'.*out of range"):
        k(RNG.random(6), np.array([0, 1, 6, 2]))


def test_float32_kernels():
    k = gg.value_and_grad(_elementwise, wrt=["a"], backend="c", x=gg.Array((100,), "float32"))
    x = RNG.normal(size=100).astype(np.float32)
    value, grads = k(x, 0.7, -0.2, 0.3)
    ref = gg.value_and_grad(_elementwise, wrt=["a"], backend="python")(x.astype(np.float64), 0.7, -0.2, 0.3)
    assert value == pytest.approx(ref[0], rel=1e-5)


def test_non_contiguous_and_converted_inputs():
    k = gg.value_and_grad(_logreg, wrt=["w", "b"], backend="c")
    X = RNG.normal(size=(8, 20))
    w = RNG.normal(size=8)
    y = (RNG.random(20) > 0.5) * 1.0
    ref = k(np.ascontiguousarray(X.T), y, w, 0.1)
    value, grads = k(X.T, y.tolist(), w.astype(np.float32), 0.1)  # Fortran order, a list, float32
    assert value == pytest.approx(ref[0], rel=1e-6)


def test_threads_calling_one_kernel_get_their_own_results():
    k = gg.value_and_grad(_logreg, wrt=["w", "b"], backend="c", X=gg.Array((200, 8)), y=gg.Array((200,)),
                          w=gg.Array((8,)))
    inputs = [(RNG.normal(size=(200, 8)), (RNG.random(200) > 0.5) * 1.0, RNG.normal(size=8), float(i))
              for i in range(8)]
    expected = [k(*args) for args in inputs]
    failures = []

    def work(i: int) -> None:
        for _ in range(200):
            value, grads = k(*inputs[i])
            if value != expected[i][0] or not np.array_equal(grads["w"], expected[i][1]["w"]):
                failures.append(i)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []


def test_long_chain_is_rolled_into_loops_and_agrees():
    n = 600  # 6,600 nodes: above the size where the kernel is split

    def chain(x, w):
        h = x
        for i in range(n):
            h = h + w[i] * gg.sin(h)
        return h**2

    w = np.linspace(-0.01, 0.01, n)
    c = gg.value_and_grad(chain, wrt="w", backend="c", x=gg.Scalar(), w=gg.Array((n,)))
    py = gg.value_and_grad(chain, wrt="w", backend="python", x=gg.Scalar(), w=gg.Array((n,)))
    # the steps of the Python loop are one loop node again (passes/reroll.py): a forward and a reverse loop
    assert [node.op for node in c.c_graph.nodes].count("scan") == 2 and len(c.source.splitlines()) < 150
    (vc, gc), (vp, gp) = c(0.5, w), py(0.5, w)
    assert vc == pytest.approx(vp, rel=1e-13)
    np.testing.assert_allclose(gc["w"], gp["w"], rtol=1e-11)
    # the unrolled graph, printed as it is, has its repeated statements rolled by the schedule instead
    source = stages.to_c(py.graph, function_name="gg_chain", title="chain").source.text
    assert "repeated 599 times" in source and len(source.splitlines()) < 100


def test_large_products_through_blas_agree_with_python():
    from gradgen.build.blas import find_blas

    def layer(A, B, C):
        return gg.sum(gg.tanh(A @ B) @ C.T) + gg.sum(A.T @ A)

    k = gg.value_and_grad(layer, backend="c", A=gg.Array((64, 48)), B=gg.Array((48, 40)), C=gg.Array((30, 40)))
    assert ("cblas_dgemm" in k.source) == (find_blas() is not None)
    args = (RNG.normal(size=(64, 48)), RNG.normal(size=(48, 40)) / 7, RNG.normal(size=(30, 40)))
    (vc, gc), (vp, gp) = k(*args), gg.value_and_grad(layer, backend="python")(*args)
    assert vc == pytest.approx(vp, rel=1e-12)
    for name in "ABC":
        np.testing.assert_allclose(gc[name], gp[name], rtol=1e-10, atol=1e-12)


def test_rolling_keeps_order_and_only_rolls_exact_arithmetic_runs():
    from gradgen.schedule.program import Accumulate, Apply, Fill, Index, Literal, Load, Loop, Store, Var
    from gradgen.schedule.roll import roll

    slots, out = 0, 1

    def sin_of(k: int) -> Store:  # s[2k + 1] = sin(s[2k])
        return Store(slots, Index(2 * k + 1), Apply("sin", (Load(slots, Index(2 * k)),), (), "float64"))

    units = [[sin_of(k)] for k in range(6)]
    units += [[Store(slots, Index(99), Apply("add", (Load(slots, Index(13)), Load(slots, Index(1))), (), "float64"))],
              [Fill(out, Literal(0, "float64"))]]
    units += [[Accumulate(Load(out, Index(k * k)), "sum", Load(slots, Index(k)), "float64")] for k in range(5)]
    rolled = roll(units)
    (loop,) = rolled[0]
    m = Var(0, "m", 0)
    assert isinstance(loop, Loop) and loop.var == m and loop.extent == 6
    assert loop.body == (Store(slots, Index(1, ((m, 2),)),
                               Apply("sin", (Load(slots, Index(0, ((m, 2),))),), (), "float64")),)
    assert rolled[1:] == units[6:]  # squares do not advance by a fixed step: left alone, in order


def test_workspace_blocks_are_reused_once_their_values_are_dead():
    from gradgen import stages
    from gradgen.passes import prepare

    def softmax_chain(x):
        for _ in range(8):
            x = gg.exp(x - gg.max(x))  # each step's array is read by the next step only
        return gg.sum(x)

    # Forward only: each step's array dies once the next step has read it. (With gradients
    # every exp stays alive for the backward pass, as it must.)
    graph = prepare(gg.trace(softmax_chain, x=gg.Array((100,))), gradient=False)
    c = stages.to_c(graph, function_name="f", title="").source
    stored = sum(n.size for n in graph.nodes if n.shape and n.op == "exp")
    assert stored == 800 and c.work_size <= 200
    x = RNG.normal(size=100)
    kc = gg.compile(softmax_chain, backend="c", x=gg.Array((100,)))
    kp = gg.compile(softmax_chain, backend="python", x=gg.Array((100,)))
    assert kc(x) == pytest.approx(kp(x), rel=1e-13)


def _agree(fn: object, values: dict, wrt: list[str]) -> gg.Kernel:
    """``fn`` by C and by Python: the same value and gradient to 1e-12; returns the C kernel."""
    c = gg.value_and_grad(fn, wrt=wrt, backend="c")
    py = gg.value_and_grad(fn, wrt=wrt, backend="python")
    (value_c, grads_c), (value_py, grads_py) = c(**values), py(**values)
    assert value_c == pytest.approx(value_py, rel=1e-12)
    for key in wrt:
        np.testing.assert_allclose(grads_c[key], grads_py[key], rtol=1e-12, atol=1e-13)
    return c


@pytest.mark.parametrize("rows", [1, 63, 64, 65, 1000])
def test_narrow_matrix_products_share_one_tiled_pass_over_the_rows(rows):
    # X @ w and X.T @ g join the loop over X's rows: one loop, no separate product, and the
    # last tile (rows not a multiple of the tile) is right.
    values = {"X": RNG.normal(size=(rows, 8)), "y": (RNG.random(rows) > 0.5) * 1.0, "w": RNG.normal(size=8),
              "b": 0.3}
    c = _agree(_logreg, values, ["w", "b"])
    body = c.source.split("GG_KERNEL", 1)[1]
    if rows == 1:  # no rows to loop over: X @ w is a dot product, then dJ/dw one row of X times a scalar
        assert "r0" not in body and body.count("for (long i = 0; i < 8; ++i)") == 2
        return
    assert body.count("for (long r0 = 0;") == 1 and "in tiles of 64 rows" in body
    assert "X[i * 8 + j] * w[j]" in body and "dJ_dw_out[j] += X[i * 8 + j]" in body


def test_row_products_in_every_form():
    # vector @ matrix, a matrix's column sum over an input vector (not a loop value), a
    # product also returned (so stored), and a statistic of it (mean) read by later elements.
    def forms(X, v, w):
        z = X @ w
        centred = z - gg.mean(z)
        return gg.sum(centred ** 2) + gg.sum((v @ X) * w) + gg.sum(X.T @ v)

    values = {"X": RNG.normal(size=(70, 5)), "v": RNG.normal(size=70), "w": RNG.normal(size=5)}
    _agree(forms, values, ["X", "v", "w"])
    k = gg.compile(lambda X, w: (X @ w, gg.sum(gg.exp(X @ w))), backend="c", X=gg.Array((9, 3)), w=gg.Array((3,)))
    X, w = RNG.normal(size=(9, 3)), RNG.normal(size=3)
    z, total = k(X, w)
    np.testing.assert_allclose(z, X @ w, rtol=1e-14)
    assert total == pytest.approx(np.exp(X @ w).sum(), rel=1e-13)


@pytest.mark.parametrize("columns", [16, 17])
def test_wider_matrices_keep_their_own_products(columns):
    values = {"X": RNG.normal(size=(40, columns)), "y": (RNG.random(40) > 0.5) * 1.0,
              "w": RNG.normal(size=columns), "b": 0.1}
    c = _agree(_logreg, values, ["w", "b"])
    assert ("in tiles of" in c.source) == (columns <= 16)


def test_row_products_in_float32():
    specs = {"X": gg.Array((100, 6), "float32"), "y": gg.Array((100,), "float32"), "w": gg.Array((6,), "float32"),
             "b": gg.Scalar("float32")}
    c = gg.value_and_grad(_logreg, wrt=["w", "b"], backend="c", **specs)
    assert set(re.findall(r"(\w+) \w+_tile\[64\];", c.source)) == {"float"}  # tiles in the kernel's type
    X, y, w = RNG.normal(size=(100, 6)), (RNG.random(100) > 0.5) * 1.0, RNG.normal(size=6)
    value, grads = c(X.astype(np.float32), y.astype(np.float32), w.astype(np.float32), np.float32(0.2))
    ref_value, ref_grads = gg.value_and_grad(_logreg, wrt=["w", "b"], backend="python")(X, y, w, 0.2)
    assert value == pytest.approx(ref_value, rel=1e-5)
    np.testing.assert_allclose(grads["w"], ref_grads["w"], rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("dtype, ulps", [("float64", 2), ("float32", 2)])
def test_log1p_is_accurate_over_the_whole_range(dtype, ulps):
    # Kernels call the vector log1p of glibc where it links: within 2 ulp of NumPy, specials alike.
    rng = np.random.default_rng(0)
    big = 300 if dtype == "float64" else 37
    x = np.concatenate([rng.random(20000), -rng.random(5000), 10 ** rng.uniform(-big, big, 20000),
                        -(10 ** rng.uniform(-big, -1e-4, 5000)), [0.0, -0.0, -1.0, np.inf, -np.inf, np.nan, -2.0,
                                                                  np.nextafter(-1, 0), 1e-30, -1e-30]]).astype(dtype)
    k = gg.compile(lambda x: gg.log1p(x), backend="c", x=gg.Array(x.shape, dtype))
    got = k(x)
    with np.errstate(all="ignore"):
        want = np.log1p(x)
    finite = np.isfinite(want)
    assert np.all(np.abs(got[finite] - want[finite]) <= ulps * np.spacing(np.abs(want[finite]).astype(dtype)))
    np.testing.assert_array_equal(got[~finite], want[~finite])  # -inf at -1, inf, NaN below -1 and for NaN
    assert np.signbit(got[x == 0]).tolist() == np.signbit(x[x == 0]).tolist()  # log1p(-0.0) is -0.0


# --- long loops shared by threads ------------------------------------------------------------------------------
ROWS = 140_000  # over two parts of PART_MIN_ELEMENTS


def _logreg_kernels(monkeypatch: pytest.MonkeyPatch, rows: int) -> tuple[gg.Kernel, gg.Kernel]:
    specs = {"X": gg.Array((rows, 8)), "y": gg.Array((rows,)), "w": gg.Array((8,)), "b": gg.Scalar()}
    monkeypatch.setenv("GRADGEN_NUM_THREADS", "1")
    one = gg.value_and_grad(_logreg, wrt=["w", "b"], backend="c", specs=specs)
    monkeypatch.setenv("GRADGEN_NUM_THREADS", "2")
    two = gg.value_and_grad(_logreg, wrt=["w", "b"], backend="c", specs=specs)
    return one, two


def test_long_loops_are_shared_by_threads_and_agree(monkeypatch):
    from gradgen.schedule.loops import PART_MIN_ELEMENTS

    assert ROWS >= 2 * PART_MIN_ELEMENTS
    one, two = _logreg_kernels(monkeypatch, ROWS)
    assert "shared by 2 threads" in two.source and "gg_run_parts" in two.source
    assert "gg_run_parts" not in one.source
    values = {"X": RNG.normal(size=(ROWS, 8)), "y": (RNG.random(ROWS) > 0.5) * 1.0, "w": RNG.normal(size=8), "b": 0.3}
    (v1, g1), (v2, g2) = one(**values), two(**values)
    (vp, gp) = gg.value_and_grad(_logreg, wrt=["w", "b"], backend="python")(**values)
    assert v2 == pytest.approx(vp, rel=1e-12) and v1 == pytest.approx(vp, rel=1e-12)
    for key in ("w", "b"):
        np.testing.assert_allclose(g2[key], gp[key], rtol=1e-11, atol=1e-14)
        np.testing.assert_allclose(g1[key], gp[key], rtol=1e-11, atol=1e-14)

    # A loop with a maximum and a sum (logsumexp): parts combine both.
    def lse(x):
        return gg.logsumexp(x) + gg.max(x)

    monkeypatch.setenv("GRADGEN_NUM_THREADS", "3")
    k = gg.value_and_grad(lse, backend="c", x=gg.Array((3 * PART_MIN_ELEMENTS,)))
    assert "shared by 3 threads" in k.source
    x = RNG.normal(size=3 * PART_MIN_ELEMENTS)
    x[-5] = 9.0  # the maximum in the last part
    value, grads = k(x)
    ref_value, ref_grads = gg.value_and_grad(lse, backend="python")(x)
    assert value == pytest.approx(ref_value, rel=1e-12)
    np.testing.assert_allclose(grads["x"], ref_grads["x"], rtol=1e-10, atol=1e-15)


@pytest.mark.filterwarnings("ignore:os.fork:RuntimeWarning")  # from JAX, when the benchmark tests loaded it
def test_threaded_kernels_called_from_many_threads_and_after_fork(monkeypatch):
    _, two = _logreg_kernels(monkeypatch, ROWS)
    inputs = [{"X": RNG.normal(size=(ROWS, 8)), "y": (RNG.random(ROWS) > 0.5) * 1.0, "w": RNG.normal(size=8),
               "b": float(k)} for k in range(4)]
    expected = [two(**v)[0] for v in inputs]
    results: dict[int, float] = {}

    def work(k: int) -> None:
        results[k] = two(**inputs[k % 4])[0]

    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [results[k] for k in range(8)] == expected * 2

    # The kernel leaves no thread behind, so a forked child can call it (an OpenMP pool would hang it).
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: call, report, leave at once
        try:
            os.write(write_end, repr(two(**inputs[0])[0]).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    ready: list[int] = []
    try:
        ready, _, _ = select.select([read_end], [], [], 60)
        assert ready, "the forked child did not finish its call within 60 s"
        assert float(os.read(read_end, 100).decode()) == expected[0]
    finally:
        os.close(read_end)
        if not ready:
            os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)


def test_thread_count_comes_from_the_environment(monkeypatch):
    from gradgen.runtime.kernel import configured_threads

    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    monkeypatch.delenv("GRADGEN_NUM_THREADS", raising=False)
    assert configured_threads() == 3
    monkeypatch.setenv("GRADGEN_NUM_THREADS", "2")
    assert configured_threads() == 2
    for bad in ("0", "two", "-1"):
        monkeypatch.setenv("GRADGEN_NUM_THREADS", bad)
        with pytest.raises(gg.InputError, match="GRADGEN_NUM_THREADS must be a whole number"):
            configured_threads()


def test_names_that_threaded_and_tiled_loops_use_themselves(monkeypatch):
    from gradgen.schedule.loops import PART_MIN_ELEMENTS

    def names(begin, end, part, parts, arg, sums, r0, r1, X):  # noqa: N803
        z = X @ parts  # a tiled loop, reading a vector named like the kernel's part array
        return gg.sum(gg.exp(begin * end) * z + part * arg) * sums[0] + gg.sum(r0 * r1)

    n = 2 * PART_MIN_ELEMENTS
    specs = {"begin": gg.Array((n,)), "end": gg.Array((n,)), "part": gg.Array((n,)), "parts": gg.Array((3,)),
             "arg": gg.Scalar(), "sums": gg.Array((2,)), "r0": gg.Scalar(), "r1": gg.Array((n,)),
             "X": gg.Array((n, 3))}
    monkeypatch.setenv("GRADGEN_NUM_THREADS", "2")
    c = gg.value_and_grad(names, backend="c", specs=specs)
    assert "shared by 2 threads" in c.source
    values = {k: RNG.uniform(0.5, 1.5, s.shape) if s.shape else 0.7 for k, s in specs.items()}
    _, grads = c(**values)
    _, ref = gg.value_and_grad(names, backend="python", specs=specs)(**values)
    for key in specs:
        np.testing.assert_allclose(grads[key], ref[key], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("n", [1, 3, 16])
def test_products_of_square_matrices_whose_result_has_the_loop_shape(n):
    # X.T @ g has the shape of g when X is square: a reduction of it must wait for the loop.
    forms = [lambda X, g: gg.sum(gg.transpose(X) @ g), lambda X, g: gg.max(g @ X),
             lambda X, g: gg.sum(gg.transpose(X) @ (gg.transpose(X) @ g) * g)]
    X, g = RNG.normal(size=(n, n)), RNG.normal(size=n)
    for form in forms:
        specs = {"X": gg.Array((n, n)), "g": gg.Array((n,))}
        (vc, gc), (vp, gp) = (gg.value_and_grad(form, backend=b, specs=specs)(X, g) for b in ("c", "python"))
        assert vc == pytest.approx(vp, rel=1e-13)
        for key in ("X", "g"):
            np.testing.assert_allclose(gc[key], gp[key], rtol=1e-12, atol=1e-14)


def test_omp_num_threads_lists_are_read_as_openmp_reads_them(monkeypatch):
    from gradgen.runtime.kernel import configured_threads

    monkeypatch.delenv("GRADGEN_NUM_THREADS", raising=False)
    monkeypatch.setenv("OMP_NUM_THREADS", "4,2")  # nested levels: the first is the outer one
    assert configured_threads() == 4
    monkeypatch.setenv("OMP_NUM_THREADS", "auto")  # not ours to judge: ignored
    assert configured_threads() >= 1


def test_split_kernels_keep_a_loop_and_its_sums_in_one_part():
    # Over SPLIT_ABOVE nodes a kernel is split into parts; a loop whose sums are copied out
    # after it must not have the copies land in the next part (found by random programs).
    import random

    steps = [gg.sin, gg.cos, gg.tanh, lambda v: v * 1.5, lambda v: v + 0.25, lambda v: gg.exp(-v)]
    pick = random.Random(3)
    seq = [pick.choice(steps) for _ in range(4100)]

    def long(X, y, a):  # noqa: N803
        s = a
        for step in seq[:340]:
            s = step(s)
        v = gg.transpose(X) @ y  # a column sum, then a scalar sum
        t = gg.sum(gg.sin(v)) + gg.sum(y * y)
        for step in seq[340:]:
            t = step(t)
        return t + s

    specs = {"X": gg.Array((100, 3)), "y": gg.Array((100,)), "a": gg.Scalar()}
    X, y = RNG.normal(size=(100, 3)), RNG.normal(size=100)
    c = gg.compile(long, backend="c", specs=specs)
    assert "_part1(" in c.source  # split indeed
    assert c(X, y, 0.3) == pytest.approx(gg.compile(long, backend="python", specs=specs)(X, y, 0.3), rel=1e-12)


def test_parts_are_capped_at_what_the_runtime_can_start():
    from gradgen import stages
    from gradgen.build.headers import runtime_include_dir
    from gradgen.passes import prepare
    from gradgen.schedule.loops import MAX_PARTS, PART_MIN_ELEMENTS
    from gradgen.schedule.program import Loop

    header = Path(runtime_include_dir(), "gradgen_runtime.h").read_text()
    assert f"#define GG_MAX_PARTS {MAX_PARTS}" in header
    graph = prepare(gg.trace(lambda x: gg.sum(gg.exp(x)), x=gg.Array((2 * MAX_PARTS * PART_MIN_ELEMENTS,))),
                    gradient=False)
    built = stages.to_c(graph, function_name="f", title="", threads=1000)
    assert f"shared by {MAX_PARTS} threads" in built.source.text
    (loop,) = [s for s in built.program.body if isinstance(s, Loop)]
    assert len(loop.ranges) == MAX_PARTS and loop.ranges[0][0] == 0 and loop.ranges[-1][1] == graph.nodes[0].size
    assert all(a[1] == b[0] for a, b in zip(loop.ranges, loop.ranges[1:]))  # the parts cover the loop, in order
