"""The schedule stage: what it decides (loops shared, values stored), its size on deep graphs, its
invariant checker, and one pipeline for kernels and export_c.

Sizes of generated code are deterministic, so they are asserted here; speed is measured in bench/.
"""

from __future__ import annotations

import re
from collections import Counter

import numpy as np
import pytest

import gradgen as gg
from gradgen import stages
from gradgen.codegen.c import print_c
from gradgen.passes import prepare
from gradgen.schedule import check_program, schedule
from gradgen.schedule.check import ProgramError
from gradgen.schedule.program import (
    Apply,
    Buffer,
    Index,
    Let,
    Literal,
    Load,
    Local,
    Loop,
    Program,
    Ref,
    Store,
    Var,
    reads,
    statement_count,
    walk,
)


def _program(fn, gradient: bool = True, **specs) -> tuple[gg.Graph, Program]:
    graph = prepare(gg.trace(fn, **specs), gradient=gradient)
    return graph, stages.to_program(graph)


def _top_loops(program: Program) -> list[Loop]:
    return [s for s in program.body if isinstance(s, Loop)]


def _count_tanh(body) -> int:
    return sum(1 for s in walk(body) if isinstance(s, Let) and isinstance(s.value, Apply) and s.value.op == "tanh")


# --- what is decided -----------------------------------------------------------------------------------
def vector_chain(n: int):
    def chain(h0, w):
        h = h0
        for k in range(n):
            h = gg.tanh(h * w[k])
        return gg.sum(h * h)

    return chain


def test_a_whole_vector_chain_is_one_loop_with_nothing_stored():
    # Forward and backward over a 4-vector, 20 steps: every value stays in the loop's locals.
    _, program = _program(vector_chain(20), h0=gg.Array((4,)), w=gg.Array((20,)))
    (loop,) = _top_loops(program)
    assert loop.extent == 4 and program.work_size == 0
    assert _count_tanh(loop.body) == 20


def test_a_long_loop_body_is_split_in_pieces_that_keep_little_in_memory():
    # 100 steps make a body of about 1,100 statements: pieces of at most MAX_BODY, and what crosses from
    # one piece to the next is kept in 4-element arrays.
    from gradgen.schedule.loops import MAX_BODY

    _, program = _program(vector_chain(100), h0=gg.Array((4,)), w=gg.Array((100,)))
    loops = _top_loops(program)
    assert len(loops) >= 4 and all(loop.extent == 4 for loop in loops)
    spills = [b for b in program.buffers if b.role == "spill"]
    assert all(len(loop.body) <= MAX_BODY + len(spills) * 2 for loop in loops)
    assert all(b.size == 4 for b in spills) and program.work_size <= 4 * len(spills)
    assert _count_tanh(program.body) == 100


def _logreg(X, y, w, b):
    Z = X @ w + b
    a = gg.sigmoid(Z)
    return gg.mean(-y * gg.log(a) - (1 - y) * gg.log(1 - a))


def _logreg_reordered(X, y, w, b):
    # The same loss with the product read after the other terms were built (another node order).
    c = 1 - y
    Z = b + X @ w
    return gg.mean(-c * gg.log(1 - gg.sigmoid(Z)) - y * gg.log(gg.sigmoid(Z)))


@pytest.mark.parametrize("loss", [_logreg, _logreg_reordered])
def test_logistic_regression_reads_x_once_in_whatever_order_its_nodes_come(loss):
    _, program = _program(loss, X=gg.Array((500, 8)), y=gg.Array((500,)), w=gg.Array((8,)))
    (loop,) = _top_loops(program)
    assert loop.note == "in tiles of 64 rows" and program.work_size == 0
    x = next(b.id for b in program.buffers if b.kind == "input" and b.position == 0)
    x_reads = [a for s in walk(loop.body) for a in reads(s) if isinstance(a, Load) and a.buffer == x]
    assert len(x_reads) == 2  # X @ w and X.T @ g, both in the one pass over the rows


def test_row_statistics_join_the_loop_over_the_rows():
    # log_softmax over (32, 3): the (32, 1) maximum and log-sum join the (32, 3) rows, one nest.
    _, program = _program(lambda Z: gg.sum(gg.log_softmax(Z) * Z), Z=gg.Array((32, 3)))
    assert len(_top_loops(program)) == 1


def test_shifted_slices_of_one_array_are_one_pass_value_and_gradient():
    def rosenbrock(x):
        return gg.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)

    _, program = _program(rosenbrock, x=gg.Array((1000,)))
    (loop,) = _top_loops(program)
    assert program.work_size == 0 and loop.extent == 999
    x = np.random.default_rng(1).normal(size=1000)
    (vc, gc), (vp, gp) = (gg.value_and_grad(rosenbrock, backend=b)(x) for b in ("c", "python"))
    assert vc == pytest.approx(vp, rel=1e-13)
    np.testing.assert_allclose(gc["x"], gp["x"], rtol=1e-12, atol=1e-12)


def test_cheap_values_are_computed_again_rather_than_stored_but_never_a_chain_of_them():
    def f(x):
        d = x * 3.0 - 1.0  # cheap, read by the loop of the maximum and by the loop after it
        m = gg.max(d)
        return gg.sum(gg.exp(d - m) * d)

    graph, program = _program(f, gradient=False, x=gg.Array((100,)))
    lets = Counter(s.target.node for s in walk(program.body) if isinstance(s, Let))
    d = next(n.id for n in graph.nodes if n.name == "d")
    assert program.work_size == 0 and lets[d] == 2 and len(_top_loops(program)) == 2
    # A chain of cheap values is computed again only where its inputs are at hand: never more than twice.
    assert max(lets.values()) == 2


# --- size on deep graphs -----------------------------------------------------------------------------------
def rk4(steps: int):
    def integrate(x0, v0, k, c):
        dt = 0.01
        x, v = x0, v0
        for _ in range(steps):
            def f(x, v):
                return v, -k * x - c * v
            a1, b1 = f(x, v)
            a2, b2 = f(x + 0.5 * dt * a1, v + 0.5 * dt * b1)
            a3, b3 = f(x + 0.5 * dt * a2, v + 0.5 * dt * b2)
            a4, b4 = f(x + dt * a3, v + dt * b3)
            x = x + dt / 6 * (a1 + 2 * a2 + 2 * a3 + a4)
            v = v + dt / 6 * (b1 + 2 * b2 + 2 * b3 + b4)
        return x * x + v * v

    return integrate


def rnn(steps: int):
    def run(W, U, xs, h0):
        h = h0
        for t in range(steps):
            h = gg.tanh(W @ h + U * xs[t])
        return gg.sum(h * h)

    return run


CORPUS = {
    "vector chain 100": (vector_chain(100), {"h0": gg.Array((4,)), "w": gg.Array((100,))}),
    "vector chain 400": (vector_chain(400), {"h0": gg.Array((4,)), "w": gg.Array((400,))}),
    "rk4 100": (rk4(100), {}),
    "rnn 30": (rnn(30), {"W": gg.Array((8, 8)), "U": gg.Array((8,)), "xs": gg.Array((30,)), "h0": gg.Array((8,))}),
}


@pytest.mark.parametrize("case", sorted(CORPUS))
def test_generated_code_grows_with_the_graph_not_faster(case):
    fn, specs = CORPUS[case]
    graph, program = _program(fn, **specs)
    c = print_c(program, function_name="f")
    nodes = len(graph.nodes)
    assert statement_count(program) <= 3 * nodes
    assert c.text.count("\n") <= 3 * nodes
    computed = Counter(s.target.node for s in walk(program.body + tuple(x for p in program.parts for x in p))
                       if isinstance(s, Let))
    readers = Counter(i for node in graph.nodes for i in set(node.inputs))
    # A node is computed once, and again at most once in each loop that reads it; all in all the work
    # stays within twice the graph's.
    assert all(count <= 1 + readers[n] for n, count in computed.items())
    assert sum(computed.values()) <= 2 * nodes


def test_the_vector_chain_prints_in_linear_size():
    sizes = {}
    for n in (100, 200, 400):
        graph, program = _program(vector_chain(n), h0=gg.Array((4,)), w=gg.Array((n,)))
        sizes[n] = print_c(program, function_name="f").text.count("\n")
    step = (sizes[200] - sizes[100]) / 100  # lines per step
    assert abs((sizes[400] - sizes[200]) / 200 - step) <= 0.05 * step  # each step adds the same lines


def test_the_long_scalar_integrator_rolls_into_loops():
    graph, program = _program(rk4(300))
    c = print_c(program, function_name="f").text
    assert "repeated 299 times" in c and c.count("\n") < 400 < len(graph.nodes) / 50


# --- printing and checking -----------------------------------------------------------------------------------
def test_a_kernel_shows_its_program():
    k = gg.value_and_grad(lambda x, w: gg.sum(gg.exp(x * w)), x=gg.Array((5,)), w=gg.Scalar(), backend="python")
    text = str(k.program)
    assert text.startswith("program: 2 inputs, 3 outputs") and "loop i0 < 5" in text and "exp(" in text
    assert k.program is k.program  # made once


def _tiny(body: tuple, work: int = 0, extra: tuple = ()) -> Program:
    graph = gg.trace(lambda x: gg.exp(x), x=gg.Array((3,)))
    buffers = (Buffer(0, "input", 3, "float64", 0, position=0), Buffer(1, "output", 3, "float64", 1, position=0))
    return Program(graph, (0,), (1,), buffers + extra, body, work)


def test_the_checker_accepts_a_sound_program_and_names_what_breaks_one():
    i = Var(0, "i", 0)
    good = Loop(i, 3, (Let(Local(1), Apply("exp", (Load(0, Index.of(i)),), (), "float64"), "float64", "exp"),
                       Store(1, Index.of(i), Ref(Local(1)), "the result")))
    check_program(_tiny((good,)))
    broken = {
        "reads .* before it is defined": Loop(i, 3, (Store(1, Index.of(i), Ref(Local(1)), "y"),)),
        "leaves buffer 1 of 3 elements": Loop(i, 3, (Store(1, Index.of(i) + 1, Literal(0.0, "float64"), "y"),)),
        "no enclosing loop": Store(1, Index.of(i), Literal(0.0, "float64"), "y"),
        "writes the input buffer": Loop(i, 3, (Store(0, Index.of(i), Literal(0.0, "float64"), "x"),
                                             Store(1, Index.of(i), Literal(0.0, "float64"), "y"))),
        "never written": Loop(i, 3, (Let(Local(1), Load(0, Index.of(i)), "float64", "x"),)),
        "a Store without a note": Loop(i, 3, (Store(1, Index.of(i), Literal(0.0, "float64")),)),
    }
    for message, statement in broken.items():
        with pytest.raises(ProgramError, match=message):
            check_program(_tiny((statement,)))
    shared = (Buffer(2, "work", 3, "float64", 1, offset=0), Buffer(3, "work", 3, "float64", 1, offset=1))
    both = Loop(i, 3, (Store(2, Index.of(i), Literal(1.0, "float64"), "a"),
                       Store(3, Index.of(i), Load(2, Index.of(i)), "b"),
                       Store(1, Index.of(i), Load(3, Index.of(i)), "y")))
    with pytest.raises(ProgramError, match="share workspace while both are live"):
        check_program(_tiny((both,), work=4, extra=shared))


def test_export_and_kernel_print_the_same_program(tmp_path, monkeypatch):
    monkeypatch.setenv("GRADGEN_NUM_THREADS", "1")
    specs = {"X": gg.Array((40, 3)), "y": gg.Array((40,)), "w": gg.Array((3,))}
    kernel = gg.value_and_grad(_logreg, wrt=["w", "b"], backend="python", **specs)
    gg.export_c(kernel, tmp_path / "a", "logreg")
    gg.export_c(_logreg, tmp_path / "b", "logreg", wrt=["w", "b"], **specs)
    for name in ("logreg.c", "logreg.h"):
        assert (tmp_path / "a" / name).read_text() == (tmp_path / "b" / name).read_text()
    exported = stages.to_c(kernel.graph, function_name="logreg", title="", standalone=True).program
    assert str(exported) == str(kernel.program)
    c_kernel = gg.value_and_grad(_logreg, wrt=["w", "b"], backend="c", **specs)
    assert str(c_kernel.program) == str(kernel.program)
    # The function's C is the same but for what standalone code leaves out (pragmas) or adds ((void) casts
    # of every parameter, so that a strict compiler does not warn of one it never reads).
    def function(source: str, head: str) -> list[str]:
        text = source.split(head, 1)[1].split("\n}\n", 1)[0]
        return [line for line in text.splitlines() if "#pragma" not in line and not line.strip().startswith("(void)")]

    exported = function((tmp_path / "a" / "logreg.c").read_text(), "int logreg(")
    built = function(c_kernel.source, "GG_KERNEL int gg__logreg_value_and_grad(")
    assert len(built) > 40 and built == exported


def test_schedule_is_deterministic():
    graph = prepare(gg.trace(rnn(5), W=gg.Array((4, 4)), U=gg.Array((4,)), xs=gg.Array((5,)), h0=gg.Array((4,))),
                    gradient=True)
    texts = {print_c(schedule(graph), function_name="f").text for _ in range(3)}
    assert len(texts) == 1
    assert not re.search(r"\bout\d\b", texts.pop())  # outputs are named after the results
