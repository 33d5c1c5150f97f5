"""Derivatives at edge points: 0 and -0.0, ±inf, NaN, ties, and the edges of the log, sqrt and pow domains.

Each case lists gradgen's derivatives, which are JAX's (x64) except where a
case says what JAX gives instead; the exceptions are gradgen's documented
conventions (abs'(0) = 0, d(x ** 0)/dx = 0, and no gradient through a NaN
maximum). Both backends, plain-float and array kernels, VJPs and JVPs must
give the listed numbers; where JAX is installed it is asked too.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest

import gradgen as gg
from gradgen.dsl.value import Value
from gradgen.ops.core import constant
from gradgen.ops.registry import OPS
from gradgen.runtime.interpret import evaluate

inf, nan = np.inf, np.nan

#: The ops by name, as a user writes them.
FUNCTIONS: dict[str, Callable] = {
    **{name: getattr(gg, name) for name in ("exp", "log", "log1p", "expm1", "sqrt", "sin", "cos", "tanh", "sigmoid",
                                            "softplus", "relu", "abs", "sign", "maximum", "minimum")},
    "negative": lambda x: -x, "power": lambda a, b: a**b, "divide": lambda a, b: a / b,
    "multiply": lambda a, b: a * b,
}


@dataclass(frozen=True)
class Edge:
    """An op at one point: gradgen's derivative with respect to each argument, and JAX's where it differs."""

    op: str
    args: tuple[float, ...]
    grads: tuple[float, ...]
    jax: tuple[float, ...] | None = None


EDGES = [
    Edge("exp", (-inf,), (0.0,)), Edge("exp", (inf,), (inf,)), Edge("exp", (nan,), (nan,)),
    Edge("log", (0.0,), (inf,)), Edge("log", (-0.0,), (-inf,)), Edge("log", (-1.0,), (-1.0,)),
    Edge("log", (inf,), (0.0,)), Edge("log", (nan,), (nan,)),
    Edge("log1p", (-1.0,), (inf,)), Edge("log1p", (-2.0,), (-1.0,)), Edge("log1p", (inf,), (0.0,)),
    Edge("log1p", (-inf,), (-0.0,)), Edge("log1p", (nan,), (nan,)),
    Edge("expm1", (-inf,), (0.0,)), Edge("expm1", (inf,), (inf,)), Edge("expm1", (nan,), (nan,)),
    Edge("sqrt", (0.0,), (inf,)), Edge("sqrt", (-0.0,), (-inf,)), Edge("sqrt", (-1.0,), (nan,)),
    Edge("sqrt", (inf,), (0.0,)), Edge("sqrt", (nan,), (nan,)),
    Edge("sin", (inf,), (nan,)), Edge("sin", (nan,), (nan,)), Edge("cos", (inf,), (nan,)), Edge("cos", (nan,), (nan,)),
    Edge("tanh", (inf,), (0.0,)), Edge("tanh", (-inf,), (0.0,)), Edge("tanh", (nan,), (nan,)),
    Edge("sigmoid", (inf,), (0.0,)), Edge("sigmoid", (-inf,), (0.0,)), Edge("sigmoid", (1000.0,), (0.0,)),
    Edge("sigmoid", (-1000.0,), (0.0,)), Edge("sigmoid", (nan,), (nan,)),
    Edge("softplus", (inf,), (1.0,)), Edge("softplus", (-inf,), (0.0,)), Edge("softplus", (1000.0,), (1.0,)),
    Edge("softplus", (-1000.0,), (0.0,)), Edge("softplus", (nan,), (nan,)),
    Edge("relu", (0.0,), (0.0,)), Edge("relu", (-0.0,), (0.0,)), Edge("relu", (inf,), (1.0,)),
    Edge("relu", (-inf,), (0.0,)), Edge("relu", (nan,), (0.0,)),
    Edge("abs", (0.0,), (0.0,), jax=(1.0,)), Edge("abs", (-0.0,), (0.0,), jax=(1.0,)), Edge("abs", (inf,), (1.0,)),
    Edge("abs", (-inf,), (-1.0,)), Edge("abs", (nan,), (nan,), jax=(-1.0,)),
    Edge("sign", (0.0,), (0.0,)), Edge("sign", (inf,), (0.0,)), Edge("sign", (nan,), (0.0,)),
    Edge("negative", (inf,), (-1.0,)), Edge("negative", (nan,), (-1.0,)),
    # d(x ** y)/dy at x = 0 is 0: 0 ** y does not move with y (NaN where 0 ** y is inf).
    Edge("power", (0.0, 2.0), (0.0, 0.0)), Edge("power", (0.0, 1.0), (1.0, 0.0)),
    Edge("power", (0.0, 0.5), (inf, 0.0)), Edge("power", (0.0, 0.0), (0.0, 0.0), jax=(nan, 0.0)),
    Edge("power", (0.0, -1.0), (-inf, nan)), Edge("power", (-0.0, 3.0), (0.0, -0.0)),
    Edge("power", (0.0, inf), (nan, 0.0)), Edge("power", (2.0, 0.0), (0.0, np.log(2.0))),
    Edge("power", (nan, 0.0), (0.0, nan), jax=(nan, nan)), Edge("power", (inf, 0.0), (0.0, inf)),
    Edge("power", (-2.0, 2.0), (-4.0, nan)), Edge("power", (-2.0, 0.5), (nan, nan)),
    Edge("power", (1.0, nan), (nan, 0.0)), Edge("power", (1.0, inf), (inf, 0.0)),
    Edge("power", (0.5, inf), (nan, -0.0)), Edge("power", (inf, 2.0), (inf, inf)),
    Edge("power", (2.0, -inf), (nan, 0.0)),
    Edge("divide", (1.0, 0.0), (inf, -inf)), Edge("divide", (0.0, 0.0), (inf, nan)),
    Edge("divide", (1.0, -0.0), (-inf, -inf)), Edge("divide", (inf, inf), (0.0, nan)),
    Edge("divide", (1.0, inf), (0.0, -0.0)),
    Edge("multiply", (inf, 0.0), (0.0, inf)), Edge("multiply", (nan, 0.0), (0.0, nan)),
    Edge("maximum", (1.0, 1.0), (0.5, 0.5)), Edge("maximum", (-0.0, 0.0), (0.5, 0.5)),
    Edge("maximum", (nan, 1.0), (0.0, 0.0)), Edge("maximum", (1.0, nan), (0.0, 0.0)),
    Edge("maximum", (inf, inf), (0.5, 0.5)), Edge("maximum", (2.0, 1.0), (1.0, 0.0)),
    Edge("minimum", (1.0, 1.0), (0.5, 0.5)), Edge("minimum", (nan, 1.0), (0.0, 0.0)),
    Edge("minimum", (1.0, nan), (0.0, 0.0)), Edge("minimum", (2.0, 1.0), (0.0, 1.0)),
]
IDS = [f"{e.op}{e.args}" for e in EDGES]


def _same(got: object, want: object, rtol: float = 0.0) -> bool:
    """Equal as IEEE numbers, to ``rtol`` (NaN equals NaN; a zero gradient may have either sign)."""
    got, want = np.asarray(got, dtype=float), np.asarray(want, dtype=float)
    with np.errstate(invalid="ignore"):
        close = np.abs(got - want) <= rtol * np.abs(want)
    return bool(np.all((got == want) | (np.isnan(got) & np.isnan(want)) | close))


def _per_argument(edge: Edge) -> Callable:
    """The op as a function of named scalar arguments (a, or a and b)."""
    fn = FUNCTIONS[edge.op]
    return (lambda a: fn(a)) if len(edge.args) == 1 else (lambda a, b: fn(a, b))


@pytest.mark.parametrize("edge", EDGES, ids=IDS)
def test_plain_float_kernels_give_the_listed_derivatives(edge):
    _, grads = gg.value_and_grad(_per_argument(edge), backend="python")(*edge.args)
    assert _same(list(grads.values()), edge.grads), f"{edge}: got {grads}"


def _all_edges(p: gg.Value) -> gg.Value:
    """The sum of every case's op, case k reading its arguments from p at its offset."""
    total, at = 0.0, 0
    for edge in EDGES:
        total = total + FUNCTIONS[edge.op](*[p[at + k] for k in range(len(edge.args))])
        at += len(edge.args)
    return total


POINTS = np.array([x for edge in EDGES for x in edge.args])
EXPECTED = np.array([g for edge in EDGES for g in edge.grads])


@pytest.mark.parametrize("backend", ["python", "c"])
def test_array_kernels_give_the_listed_derivatives(backend):
    grads = gg.grad(_all_edges, backend=backend, p=gg.Array(POINTS.shape))(POINTS)["p"]
    bad = [f"{edge}: got {grads[k:k + len(edge.args)]}" for edge, k in
           zip(EDGES, np.cumsum([0] + [len(e.args) for e in EDGES])) if not _same(grads[k:k + len(edge.args)],
                                                                                  edge.grads)]
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("edge", EDGES, ids=IDS)
def test_jvps_give_the_listed_derivatives(edge):
    for k in range(len(edge.args)):
        def pushed(*args: Value, k: int = k) -> Value:
            """The op's tangent for a unit tangent of argument k (None from the JVP means 0)."""
            out = FUNCTIONS[edge.op](*args)
            node = out.node
            inputs = [Value(out.builder, i) for i in node.inputs]
            tangents = [constant(out.builder, 1.0) if i == args[k].id else None for i in node.inputs]
            tangent = OPS[node.op].jvp(tangents, out, *inputs, **node.params)
            return tangent if tangent is not None else constant(out.builder, 0.0)

        graph = gg.trace((lambda a: pushed(a)) if len(edge.args) == 1 else (lambda a, b: pushed(a, b)))
        values = evaluate(graph, dict(zip(graph.input_names, edge.args)))
        assert _same(values[graph.outputs[0]], edge.grads[k]), f"{edge}, tangent of argument {k}"


@dataclass(frozen=True)
class Reduction:
    """A reduction of one row: gradgen's gradient, and JAX's where it differs."""

    op: str
    x: tuple[float, ...]
    grad: tuple[float, ...]
    jax: tuple[float, ...] | None = None


_E = np.exp([1.0, 2.0]) / np.sum(np.exp([1.0, 2.0]))
REDUCTIONS = [
    Reduction("max", (1.0, 1.0, 0.0), (0.5, 0.5, 0.0)), Reduction("max", (-inf, -inf, -inf), (1 / 3, 1 / 3, 1 / 3)),
    Reduction("max", (nan, 1.0, 0.0), (0.0, 0.0, 0.0), jax=(nan, nan, nan)),
    Reduction("max", (inf, inf, 0.0), (0.5, 0.5, 0.0)),
    Reduction("min", (2.0, 0.0, 0.0), (0.0, 0.5, 0.5)),
    Reduction("min", (nan, 1.0, 0.0), (0.0, 0.0, 0.0), jax=(nan, nan, nan)),
    Reduction("logsumexp", (-inf, 1.0, 2.0), (0.0, *_E)), Reduction("logsumexp", (inf, 1.0, 0.0), (nan, 0.0, 0.0)),
    Reduction("logsumexp", (-inf, -inf, -inf), (nan, nan, nan)),
    Reduction("logsumexp", (1000.0, 1000.0, -1000.0), (0.5, 0.5, 0.0)),
]
REDUCTION_IDS = [f"{r.op}{r.x}" for r in REDUCTIONS]


@pytest.mark.parametrize("backend", ["python", "c"])
@pytest.mark.parametrize("case", REDUCTIONS, ids=REDUCTION_IDS)
def test_reductions_give_the_listed_gradients(case, backend):
    fn = getattr(gg, case.op)
    grads = gg.grad(lambda x: fn(x), backend=backend, x=gg.Array((3,)))(np.array(case.x))
    assert _same(grads["x"], case.grad, rtol=1e-15), f"{case}: got {grads['x']}"


def _max_tangent(k: int) -> Callable:
    """x -> the max JVP for the unit tangent e_k."""
    def pushed(x: Value) -> Value:
        out = gg.max(x)
        return OPS["max"].jvp([constant(x.builder, np.eye(3)[k])], out, x, **out.node.params)

    return pushed


@pytest.mark.parametrize("case", [r for r in REDUCTIONS if r.op == "max"], ids=REDUCTION_IDS[:4])
def test_the_max_jvp_gives_the_listed_gradient(case):
    for k in range(3):
        graph = gg.trace(_max_tangent(k), x=gg.Array((3,)))
        values = evaluate(graph, {"x": np.array(case.x)})
        assert _same(values[graph.outputs[0]], case.grad[k]), f"{case}, tangent e{k}"


def test_a_zero_base_leaves_the_exponents_gradient_finite():
    # d/da sum(relu(p) ** a) = sum(relu(p) ** a * log(relu(p))) over p > 0: entries at 0 add 0, not NaN.
    p, a = np.array([-1.0, 0.0, 2.0, 0.5]), 1.5
    for backend in ("python", "c"):
        value, grads = gg.value_and_grad(lambda p, a: gg.sum(gg.relu(p) ** a), backend=backend,
                                         p=gg.Array((4,)))(p, a)
        assert value == pytest.approx(2.0**a + 0.5**a, rel=1e-15)
        assert grads["a"] == pytest.approx(2.0**a * np.log(2.0) + 0.5**a * np.log(0.5), rel=1e-14)
        np.testing.assert_allclose(grads["p"], [0.0, 0.0, a * 2.0 ** (a - 1), a * 0.5 ** (a - 1)], rtol=1e-15)
        step = 1e-6
        f = gg.compile(lambda p, a: gg.sum(gg.relu(p) ** a), backend=backend, p=gg.Array((4,)))
        assert grads["a"] == pytest.approx((f(p, a + step) - f(p, a - step)) / (2 * step), rel=1e-8)


HAVE_JAX = importlib.util.find_spec("jax") is not None


def _jax_derivatives(edge: Edge) -> tuple[float, ...]:
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
    fns = {"relu": jax.nn.relu, "sigmoid": jax.nn.sigmoid, "softplus": jax.nn.softplus,
           "power": lambda a, b: a**b, "divide": lambda a, b: a / b, "multiply": lambda a, b: a * b}
    fn = fns.get(edge.op) or getattr(jnp, edge.op)
    args = [jnp.float64(a) for a in edge.args]
    return tuple(float(jax.grad(fn, k)(*args)) for k in range(len(args)))


def test_the_listed_derivatives_are_jaxs_where_they_say_so():
    # The table is JAX's, recorded; where JAX is installed, it is asked again.
    if not HAVE_JAX:
        assert all(e.jax is None or len(e.jax) == len(e.grads) for e in EDGES)
        return
    bad = [f"{e}: JAX gives {got}" for e in EDGES
           if not _same(got := _jax_derivatives(e), e.jax if e.jax is not None else e.grads)]
    assert not bad, "\n".join(bad)
