"""Tracing: names, printing, static shapes, and refusing concrete use of symbols."""

from __future__ import annotations

import numpy as np
import pytest

import gradgen as gg
from gradgen import stages
from gradgen.ir.check import check_graph
from tests.models import linear


def test_nodes_take_local_variable_names_and_print_in_order():
    graph = gg.trace(linear)
    check_graph(graph)
    text = str(graph)
    lines = text.splitlines()
    assert lines[:4] == [f"{n} = input() : scalar float64" for n in "wbxy"]
    assert "c = multiply(w, x) : scalar float64" in lines
    assert "a = add(c, b) : scalar float64" in lines
    assert "d = subtract(a, y) : scalar float64" in lines
    assert lines[-1] == "return J=J"
    assert graph.input_names == ("w", "b", "x", "y")
    assert graph.output_names == ("J",)


def test_explicit_name_wins_over_the_variable_name():
    def f(w, x):
        c = gg.name(w * x, "product")
        return c * 2

    graph = gg.trace(f)
    names = [n.name for n in graph.nodes]
    assert "product" in names and "c" not in names


def test_static_shapes_are_known_while_tracing():
    seen = {}

    def f(X, w):
        seen.update(shape=X.shape, ndim=X.ndim, len=len(X), size=X.size, dtype=X.dtype)
        return gg.sum(X @ w)

    graph = gg.trace(f, X=gg.Array((5, 3)), w=gg.Array((3,)))
    assert seen == {"shape": (5, 3), "ndim": 2, "len": 5, "size": 15, "dtype": np.dtype("float64")}
    assert graph.nodes[graph.outputs[0]].shape == ()


def test_specs_dict_and_keywords_are_equivalent():
    def f(x, y):
        return gg.sum(x * y)

    a = gg.trace(f, specs={"x": gg.Array((2,))}, y=gg.Scalar())
    b = gg.trace(f, x=gg.Array((2,)))
    assert str(a) == str(b)


@pytest.mark.parametrize("use, advice", [
    (lambda x: 1.0 if x > 0 else 0.0, "gg.where"),
    (lambda x: bool(x), "gg.where"),
    (lambda x: float(x), "use gg's functions"),
    (lambda x: int(x), "use gg's functions"),
    (lambda x: [0, 1][x], "Index with an int64 input instead"),
])
def test_concrete_use_of_a_symbol_raises_and_says_what_to_write_instead(use, advice):
    """A branch points to gg.where; a conversion to a Python number to gg's functions."""
    with pytest.raises(gg.TracingError, match=advice):
        gg.trace(use)


def test_shape_mismatch_raises_at_trace_time_with_the_users_line():
    def f(a, b):
        return gg.sum(a + b)  # the offending line

    with pytest.raises(gg.ShapeError) as info:
        gg.trace(f, a=gg.Array((3,)), b=gg.Array((4,)))
    message = str(info.value)
    assert "(3,)" in message and "(4,)" in message
    assert "test_trace.py" in message and "the offending line" in message


def test_matmul_shape_mismatch_names_both_shapes():
    with pytest.raises(gg.ShapeError, match=r"\(2, 3\).*\(2,\)"):
        gg.trace(lambda A, v: gg.sum(A @ v), A=gg.Array((2, 3)), v=gg.Array((2,)))


def test_numpy_ufuncs_and_functions_dispatch_to_gradgen():
    def f(x):
        return np.sum(np.exp(x) * np.array([1.0, 2.0]))

    k = gg.value_and_grad(f, x=gg.Array((2,)))
    value, grads = k(np.array([0.0, 1.0]))
    assert value == pytest.approx(1 + 2 * np.e)
    np.testing.assert_allclose(grads["x"], [1.0, 2 * np.e])


def test_dsl_functions_work_on_plain_numbers_and_arrays():
    assert gg.exp(0.0) == 1.0
    np.testing.assert_allclose(gg.relu(np.array([-1.0, 2.0])), [0.0, 2.0])
    np.testing.assert_allclose(gg.log_softmax(np.array([1.0, 1.0])), np.log([0.5, 0.5]))
    assert gg.logsumexp(np.array([1000.0, 1000.0])) == pytest.approx(1000 + np.log(2))
    assert gg.sigmoid(-1000.0) == 0.0


def test_indexing_and_slicing_follow_numpy():
    x = np.arange(24.0).reshape(2, 3, 4)
    cases = [lambda v: v[1], lambda v: v[:, 0], lambda v: v[..., ::-1], lambda v: v[1:, None, :2, 1],
             lambda v: v[-1, -2:], lambda v: v[:, ::-2, 1:3]]
    for case in cases:
        k = gg.compile(case, v=gg.Array((2, 3, 4)))
        np.testing.assert_array_equal(k(x), case(x))


def test_reshape_accepts_tuple_separate_ints_and_minus_one():
    x = np.arange(6.0)
    for case in (lambda v: v.reshape((2, 3)), lambda v: v.reshape(3, 2), lambda v: v.reshape(-1, 3), lambda v: v.T):
        k = gg.compile(case, v=gg.Array((6,)))
        np.testing.assert_array_equal(k(x), case(x))
    with pytest.raises(gg.ShapeError, match="cannot reshape"):
        gg.trace(lambda v: v.reshape(4, 2), v=gg.Array((6,)))


def test_integer_index_inputs_gather_and_are_not_differentiated():
    def ce(logits, labels):
        return -gg.mean(gg.take_along_axis(gg.log_softmax(logits), labels[:, None], axis=1))

    logits = np.array([[1.0, 2.0, 3.0], [1.0, -1.0, 0.5]])
    labels = np.array([2, 0])
    value, grads = gg.value_and_grad(ce)(logits, labels)
    shifted = logits - logits.max(axis=1, keepdims=True)
    logp = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    assert value == pytest.approx(-logp[[0, 1], labels].mean(), rel=1e-14)
    expected = np.exp(logp)
    expected[[0, 1], labels] -= 1
    np.testing.assert_allclose(grads["logits"], expected / 2, rtol=1e-12)
    assert list(grads) == ["logits"]

    picked = gg.value_and_grad(lambda x, idx: gg.sum(x[idx] ** 2))
    value, grads = picked(np.array([1.0, 2.0, 3.0]), np.array([2, 2, 0]))
    assert value == 9 + 9 + 1
    np.testing.assert_allclose(grads["x"], [2.0, 0.0, 12.0])


def test_a_100000_node_graph_traces_and_differentiates():
    n = 10_000  # 11 nodes per step: the joint graph has over 100,000 nodes

    def chain(x, w):
        h = x
        for i in range(n):
            h = h + w[i] * gg.sin(h)
        return h**2

    w = np.linspace(-0.01, 0.01, n)
    kernel = gg.value_and_grad(chain, wrt="w", x=gg.Scalar(), w=gg.Array((n,)))
    assert len(kernel.c_graph) < 100 if kernel.backend == "c" else len(kernel.graph) > 100_000  # re-rolled in C
    assert len(stages.prepared(chain, {"x": gg.Scalar(), "w": gg.Array((n,))}, "value_and_grad", "w").prepared) \
        > 100_000
    value, grads = kernel(0.5, w)
    hs = [0.5]
    for i in range(n):
        hs.append(hs[-1] + w[i] * np.sin(hs[-1]))
    g = 2 * hs[-1]
    expected = np.zeros(n)
    for i in reversed(range(n)):
        expected[i] = g * np.sin(hs[i])
        g *= 1 + w[i] * np.cos(hs[i])
    assert value == pytest.approx(hs[-1] ** 2, rel=1e-13)
    np.testing.assert_allclose(grads["w"], expected, rtol=1e-11)
