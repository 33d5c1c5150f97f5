"""Passes: invariants after each pass, CSE, folding, identities, DCE, numerics rewrites."""

from __future__ import annotations

import numpy as np
import pytest

import gradgen as gg
from gradgen.ir.check import check_graph
from gradgen.passes import differentiate, eliminate_dead_code, prepare, simplify, stabilize


def bce(z, y):
    a = 1 / (1 + gg.exp(-z))
    return -y * gg.log(a) - (1 - y) * gg.log(1 - a)


def ops_of(graph):
    return [n.op for n in graph.nodes]


@pytest.mark.parametrize("fn, specs", [
    (bce, {}),
    (lambda X, w: gg.mean(gg.tanh(X @ w) ** 2), {"X": gg.Array((4, 3)), "w": gg.Array((3,))}),
    (lambda x: gg.logsumexp(x) + gg.max(x, axis=0).sum(), {"x": gg.Array((2, 3))}),
    (lambda x: gg.sum(gg.where(x > 0, gg.sqrt(x), -x)[1:] * 2.0), {"x": gg.Array((5,))}),
])
def test_every_pass_keeps_the_ir_valid(fn, specs):
    graph = check_graph(gg.trace(fn, **specs))
    for run in (stabilize, differentiate, simplify, eliminate_dead_code):
        graph = check_graph(run(graph))
    prepare(gg.trace(fn, **specs), gradient=True, check=True)


def test_hash_consing_shares_common_subexpressions():
    def f(x, y):
        return (x * y + 1) * (x * y + 1)

    graph = gg.trace(f)
    assert ops_of(graph).count("multiply") == 2 and ops_of(graph).count("add") == 1


def test_folding_and_identities():
    def f(x):
        return (x * 1.0 + -0.0) * (2.0 * 3.0) - 0.0 + x ** 1.0

    graph = prepare(gg.trace(f), gradient=False)
    assert sorted(ops_of(graph)) == ["add", "const", "input", "multiply"]
    assert gg.compile(f)(2.0) == 14.0
    # x + 0.0 is not x: -0.0 + 0.0 is 0.0, so 1 / (x + 0.0) at x = -0.0 is inf, not -inf.
    assert "add" in ops_of(prepare(gg.trace(lambda x: x + 0.0), gradient=False))
    assert gg.compile(lambda x: 1.0 / (x + 0.0), backend="python")(-0.0) == np.inf


def test_negations_fold_into_constants_and_subtractions():
    # Exact IEEE identities: -(c * x) = (-c) * x, x + -y = x - y, -x + y = y - x, x - -y = x + y.
    def f(x, y):
        return -(3.0 * x) + (x + -y) + (-x + y) * (x - -y)

    graph = prepare(gg.trace(f), gradient=False)
    assert "negative" not in ops_of(graph)
    values = [(2.0, 5.0), (-0.0, 0.0), (float("inf"), 1.0), (1e308, -1e308)]
    for x, y in values:
        with np.errstate(all="ignore"):
            expected = -(3.0 * np.float64(x)) + (x + -np.float64(y)) + (-np.float64(x) + y) * (x - -np.float64(y))
        got = gg.compile(f, backend="python")(x, y)
        assert got == expected or (np.isnan(got) and np.isnan(expected))
    # The backward pass of a mean has no double negations left: (-1/N) * g, negated, is (1/N) * g.
    step = prepare(gg.trace(lambda w, x: -gg.mean(gg.log(gg.sigmoid(x * w))), x=gg.Array((5,))), gradient=True)
    def constant(i):
        node = step.nodes[i]
        return node.op == "const" or (node.op == "broadcast_to" and step.nodes[node.inputs[0]].op == "const")

    negated = [step.nodes[n.inputs[0]] for n in step.nodes if n.op == "negative"]
    assert not any(m.op == "negative" or (m.op == "multiply" and any(map(constant, m.inputs))) for m in negated)
    assert "-0.2" in str(step)  # the mean's -1/N, with the loss's minus folded in


def test_dead_code_is_removed_but_inputs_stay():
    def f(x, unused):
        waste = gg.exp(unused) * 3  # noqa: F841 - dead on purpose
        return x * 2

    graph = eliminate_dead_code(gg.trace(f))
    assert graph.input_names == ("x", "unused")
    assert "exp" not in ops_of(graph)


def test_backward_reuses_forward_nodes():
    graph = prepare(gg.trace(lambda x: gg.exp(gg.sin(x))), gradient=True)
    assert ops_of(graph).count("exp") == 1 and ops_of(graph).count("sin") == 1


@pytest.mark.parametrize("z", [-1000.0, -50.0, 0.0, 50.0, 1000.0])
@pytest.mark.parametrize("y", [0.0, 1.0, 0.3])
def test_binary_cross_entropy_from_the_plain_formula_stays_finite(z, y):
    value, grads = gg.value_and_grad(bce, wrt="z")(z, y)
    expected = max(z, 0) - z * y + np.log1p(np.exp(-abs(z)))
    assert value == pytest.approx(expected, rel=1e-12, abs=1e-300)
    def sigmoid(t: float) -> float:
        return float(np.exp(-np.logaddexp(0.0, -t)))

    # d/dz = sigmoid(z) - y, written without cancellation: (1 - y) sigmoid(z) - y sigmoid(-z)
    assert grads["z"] == pytest.approx((1 - y) * sigmoid(z) - y * sigmoid(-z), rel=1e-12, abs=1e-300)


def test_sigmoid_patterns_are_rewritten_to_softplus():
    graph = stabilize(gg.trace(bce))
    assert "softplus" in ops_of(graph) and "log" not in ops_of(graph)
    graph = stabilize(gg.trace(lambda z: gg.log(gg.sigmoid(z))))
    assert ops_of(graph)[-2:] == ["softplus", "negative"]


def test_log_sum_exp_is_rewritten_and_stable():
    def f(x):
        return gg.log(gg.sum(gg.exp(x)))

    x = np.array([1000.0, 1000.0, -1000.0])
    value, grads = gg.value_and_grad(f)(x)
    assert value == pytest.approx(1000 + np.log(2), rel=1e-14)
    np.testing.assert_allclose(grads["x"], [0.5, 0.5, 0.0], atol=1e-300)
    value, grads = gg.value_and_grad(lambda v: gg.sum(gg.log_softmax(v)))(x)
    assert np.isfinite(value) and np.all(np.isfinite(grads["v"]))


def test_log_one_plus_becomes_log1p():
    k = gg.compile(lambda x: gg.log(1 + x))
    assert "log1p" in k.source
    assert k(1e-20) == 1e-20


def test_where_does_not_leak_nan_from_the_branch_not_taken():
    k = gg.value_and_grad(lambda x: gg.sum(gg.where(x > 0, gg.log(x) * gg.sqrt(x), 0.0)))
    value, grads = k(np.array([-1.0, 0.0, 4.0]))
    assert value == pytest.approx(np.log(4) * 2)
    assert grads["x"][0] == 0.0 and grads["x"][1] == 0.0
    assert grads["x"][2] == pytest.approx(2 / 4 + np.log(4) / 4)
    scalar = gg.grad(lambda x: gg.where(x > 0, gg.sqrt(x), 0.0))
    assert scalar(0.0) == {"x": 0.0} and scalar(-1.0) == {"x": 0.0} and scalar(4.0) == {"x": 0.25}


def test_non_smooth_conventions():
    grad = gg.grad
    assert grad(lambda x: gg.relu(x))(0.0) == {"x": 0.0}
    assert grad(lambda x: gg.abs(x))(0.0) == {"x": 0.0}
    assert grad(lambda a, b: gg.maximum(a, b))(1.0, 1.0) == {"a": 0.5, "b": 0.5}
    assert grad(lambda a, b: gg.minimum(a, b))(1.0, 1.0) == {"a": 0.5, "b": 0.5}
    g = grad(lambda x: gg.max(x))(np.array([3.0, 1.0, 3.0]))
    np.testing.assert_array_equal(g["x"], [0.5, 0.0, 0.5])


def test_joint_graph_outputs_value_then_gradients():
    graph = differentiate(gg.trace(bce), wrt=["z"])
    assert graph.output_names == ("J", "dJ_dz")
    every = differentiate(gg.trace(bce), every_node=True, simplify=False)
    assert "dJ_da" in every.output_names


def _bce_with_exp(z, y):
    p = gg.exp(z) / (1.0 + gg.exp(z))
    return -(y * gg.log(p) + (1 - y) * gg.log(1 - p))


def _bce_with_one_minus(z, y):
    p = 1.0 - 1.0 / (1.0 + gg.exp(-z))  # the probability of class 0
    return -((1 - y) * gg.log(p) + y * gg.log(1 - p))


def _softmax_ce_by_formula(z, label):
    return -gg.log(gg.exp(z) / gg.sum(gg.exp(z)))[label]


def _softmax_ce_by_log(z, label):
    return -gg.log(gg.softmax(z))[label]


@pytest.mark.parametrize("backend", ["python", "c"])
@pytest.mark.parametrize("fn", [_bce_with_exp, _bce_with_one_minus])
@pytest.mark.parametrize("z", [-1000.0, -30.0, 0.3, 30.0, 1000.0])
def test_other_spellings_of_binary_cross_entropy_stay_finite(fn, z, backend):
    value, grads = gg.value_and_grad(fn, wrt="z", backend=backend)(z, 1.0)
    assert value == pytest.approx(np.logaddexp(0.0, -z), rel=1e-12, abs=1e-300)
    assert grads["z"] == pytest.approx(-float(np.exp(-np.logaddexp(0.0, z))), rel=1e-12, abs=1e-300)  # sigmoid(z) - 1


@pytest.mark.parametrize("backend", ["python", "c"])
@pytest.mark.parametrize("fn", [_softmax_ce_by_formula, _softmax_ce_by_log])
def test_softmax_cross_entropy_written_either_way_stays_finite_at_logits_of_1000(fn, backend):
    z = np.array([1000.0, -1000.0, 0.0])
    kernel = gg.value_and_grad(fn, wrt="z", backend=backend, z=gg.Array((3,)), label=gg.Scalar("int64"))
    value, grads = kernel(z, 1)
    assert value == 2000.0  # logsumexp(z) - z[1]
    np.testing.assert_array_equal(grads["z"], [1.0, -1.0, 0.0])  # softmax(z) - onehot(1)
    forward = prepare(gg.trace(fn, z=gg.Array((3,)), label=gg.Scalar("int64")), gradient=False)
    assert "divide" not in ops_of(forward) and ops_of(forward).count("exp") == 1  # the one inside logsumexp


def test_near_misses_of_the_new_rewrites_stay_as_written():
    def ops(fn, **specs):
        return ops_of(prepare(gg.trace(fn, **specs), gradient=False))

    assert "sigmoid" not in ops(lambda z, w: gg.exp(z) / (1.0 + gg.exp(w)), w=gg.Scalar())  # another exp
    assert "sigmoid" not in ops(lambda z: gg.exp(z) / (2.0 + gg.exp(z)))
    assert "sigmoid" not in ops(lambda z: 2.0 * gg.exp(z) / (1.0 + gg.exp(z)))
    assert ops(lambda z: 2.0 - gg.sigmoid(z)).count("sigmoid") == 1 and "negative" not in ops(
        lambda z: 2.0 - gg.sigmoid(z))
    vector = {"z": gg.Array((3,))}
    assert "log" in ops(lambda z: gg.sum(gg.log(gg.exp(z) / gg.sum(gg.exp(2.0 * z)))), **vector)
    assert "log" in ops(lambda z: gg.sum(gg.log(gg.exp(z) / gg.sum(gg.exp(z) + 1.0))), **vector)
    assert "log" in ops(lambda z: gg.log(gg.exp(z) * 2.0))
    assert ops(lambda z: gg.log(gg.exp(z))) == ["input"]  # log(exp(z)) is z


def _products(graph) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
    return [(graph.nodes[n.inputs[0]].shape, graph.nodes[n.inputs[1]].shape) for n in graph.nodes if n.op == "matmul"]


@pytest.mark.parametrize("fn, narrowed", [
    (lambda a, b, v: gg.sum((a @ b)[1:3, ::2]), [((2, 4), (4, 2))]),
    (lambda a, b, v: gg.sum((a @ v)[2:]), [((1, 4), (4,))]),
    (lambda a, b, v: gg.sum((v @ b)[:1]), [((4,), (4, 1))]),
    (lambda a, b, v: gg.sum((a @ v)[2:]) + gg.sum(a @ v), [((3, 4), (4,))]),  # the product is read whole too
])
def test_a_product_read_only_through_a_slice_computes_the_slice(fn, narrowed):
    specs = {"a": gg.Array((3, 4)), "b": gg.Array((4, 3)), "v": gg.Array((4,))}
    graph = prepare(gg.trace(fn, specs), gradient=False, check=True)
    assert _products(graph) == narrowed
    rng = np.random.default_rng(3)
    args = [rng.normal(size=s.shape) for s in specs.values()]
    for backend in ("python", "c"):
        assert gg.compile(fn, backend=backend, specs=specs)(*args) == pytest.approx(fn(*args), rel=1e-14)


def test_a_slice_narrows_the_elementwise_ops_and_the_product_under_it():
    def fn(a, v, s):
        return gg.sum(gg.tanh(a @ v + 2.0 * v[:3] * s)[1:])

    specs = {"a": gg.Array((3, 4)), "v": gg.Array((4,)), "s": gg.Scalar()}
    graph = prepare(gg.trace(fn, specs), gradient=False, check=True)
    assert _products(graph) == [((2, 4), (4,))]
    assert [n.shape for n in graph.nodes if n.op == "tanh"] == [(2,)]
    rng = np.random.default_rng(4)
    args = [rng.normal(size=(3, 4)), rng.normal(size=4), 0.5]
    assert gg.compile(fn, backend="c", specs=specs)(*args) == pytest.approx(fn(*args), rel=1e-14)
