"""Simplification is exact for every IEEE input: inf, -inf, NaN and the sign of zero.

Each expression below exercises one rewrite of ``passes/simplify.py`` (or the
constant handling of ``ops/core.py``). Its compiled value, on the Python
backend (plain floats and NumPy arrays) and on the C backend, must equal
NumPy's evaluation of the expression as written, bit for bit up to NaN
payloads; its gradient must equal the unsimplified joint graph's, where a
zero gradient may have either sign (dropping a structurally zero cotangent
may turn -0.0 into 0.0).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import numpy as np
import pytest

import gradgen as gg
from gradgen.ops.core import constant
from gradgen.passes import differentiate, prepare
from gradgen.runtime.interpret import evaluate

POINTS = [np.inf, -np.inf, np.nan, -0.0, 0.0, 1.5, -3.0]
X, Y = (np.array(v) for v in zip(*itertools.product(POINTS, POINTS)))


def c(x: gg.Value, value: object) -> gg.Value:
    """``value`` as a constant node of x's graph, so that gradgen, not Python, folds what it
    meets; a NumPy value when x is one (the NumPy evaluation)."""
    return constant(x.builder, value) if isinstance(x, gg.Value) else np.asarray(value, dtype=float)


def zeros_of_signs(x: gg.Value, signs: list[float]) -> gg.Value:
    """Zeros with the given signs, folded by gradgen from a product of two constant arrays."""
    return c(x, np.zeros(x.shape)) * c(x, np.resize(signs, x.shape))


#: name -> (expression of x and y, whether simplification rewrites the work it does)
RULES: dict[str, tuple[Callable, bool]] = {
    "constant -0.0": (lambda x, y: 1.0 / (x * -0.0), False),
    "folded -0.0": (lambda x, y: 1.0 / (x * (c(x, -1.0) * 0.0)), True),
    "x * 0 stays": (lambda x, y: x * 0.0 + 1.0, False),
    "0 * x stays": (lambda x, y: 1.0 / (0.0 * x), False),
    "x * 1": (lambda x, y: 1.0 / (x * 1.0), True),
    "1 * x": (lambda x, y: 1.0 / (1.0 * x), True),
    "x * -1": (lambda x, y: 1.0 / (x * -1.0), True),
    "-1 * x": (lambda x, y: 1.0 / (-1.0 * x), True),
    "x + 0.0 stays": (lambda x, y: 1.0 / (x + 0.0), False),
    "0.0 + x stays": (lambda x, y: 1.0 / (0.0 + x), False),
    "x + -0.0": (lambda x, y: 1.0 / (x + -0.0), True),
    "-0.0 + x": (lambda x, y: 1.0 / (-0.0 + x), True),
    "x - 0.0": (lambda x, y: 1.0 / (x - 0.0), True),
    "x - -0.0 stays": (lambda x, y: 1.0 / (x - -0.0), False),
    "0.0 - x stays": (lambda x, y: 1.0 / (0.0 - x), False),
    "-0.0 - x": (lambda x, y: 1.0 / (-0.0 - x), True),
    "x / 1": (lambda x, y: 1.0 / (x / 1.0), True),
    "x ** 1": (lambda x, y: 1.0 / x**1.0, True),
    "x ** 0": (lambda x, y: x**0.0 + x**-0.0, True),
    "-(-x)": (lambda x, y: 1.0 / np.negative(-x), True),
    "-(0 * x)": (lambda x, y: 1.0 / -(0.0 * x), True),
    "-(c * x)": (lambda x, y: -(3.0 * x) + -(x * 0.5), True),
    "x + -y": (lambda x, y: 1.0 / (x + -y), True),
    "x - -y": (lambda x, y: 1.0 / (x - -y), True),
    "-x + y": (lambda x, y: 1.0 / (-x + y), True),
    "|-x|": (lambda x, y: gg.abs(-x) * y, True),
    "where(c, a, a)": (lambda x, y: gg.where(x > y, x, x) * y, True),
    "where(constant mask)": (lambda x, y: gg.where(np.float64(2.0) > 1.0, x, y) * y, True),
    "folded -0.0 array": (lambda x, y: 1.0 / (x + zeros_of_signs(x, [-1.0])), True),
    "folded zeros of both signs": (lambda x, y: 1.0 / (x * zeros_of_signs(x, [1.0, -1.0, -1.0])), True),
    "constants fold": (lambda x, y: x * (c(x, 2.0) * 3.0) + (c(x, 1.0) / 0.0) * y, True),
    "reshape of a reshape": (lambda x, y: gg.reshape(gg.reshape(x * y, (1, -1)), x.shape) / x, True),
}


def _numpy(fn: Callable, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The expression evaluated by NumPy as written (gg functions compute on plain arrays)."""
    with np.errstate(all="ignore"):
        return np.broadcast_to(np.asarray(fn(x, y), dtype=float), x.shape)


def _assert_ieee_equal(got: np.ndarray, want: np.ndarray, what: str, zero_sign: bool = True) -> None:
    """Equal bit for bit up to NaN payloads (and, unless ``zero_sign``, the sign of zeros)."""
    got, want = np.broadcast_to(np.asarray(got, dtype=float), np.shape(want)), np.asarray(want, dtype=float)
    same = (got == want) | (np.isnan(got) & np.isnan(want))
    if zero_sign:
        same &= (np.signbit(got) == np.signbit(want)) | np.isnan(want)
    bad = np.flatnonzero(~same)
    assert not bad.size, (f"{what}: at x={X[bad[:4]]}, y={Y[bad[:4]]} got {got.ravel()[bad[:4]]}, "
                          f"NumPy says {want.ravel()[bad[:4]]}")


@pytest.mark.parametrize("name", sorted(RULES))
def test_each_rewrite_fires_or_stays_as_listed(name):
    fn, rewrites = RULES[name]
    specs = {"x": gg.Array(X.shape), "y": gg.Array(Y.shape)}
    traced = gg.trace(fn, specs)
    prepared = prepare(traced, gradient=False)

    def work(graph: gg.Graph) -> list[str]:
        """The ops a kernel computes (not leaves, broadcasts, or -0.0, which is spelled -(0.0))."""
        return sorted(n.op for n in graph.nodes if n.op not in ("input", "const", "broadcast_to")
                      and not (n.op == "negative" and graph.nodes[n.inputs[0]].op == "const"))

    assert (work(prepared) != work(traced)) == rewrites, f"{name}:\n{traced}\n--- prepared ---\n{prepared}"


@pytest.mark.parametrize("name", sorted(RULES))
def test_python_values_are_numpys_for_every_ieee_input(name):
    fn, _ = RULES[name]
    expected = _numpy(fn, X, Y)
    arrays = gg.compile(fn, backend="python", x=gg.Array(X.shape), y=gg.Array(Y.shape))
    _assert_ieee_equal(arrays(X, Y), expected, f"{name}, array kernel")
    if "array" not in name and "both signs" not in name:  # built for arrays only
        scalars = gg.compile(fn, backend="python")
        _assert_ieee_equal([scalars(float(a), float(b)) for a, b in zip(X, Y)], expected, f"{name}, scalar kernel")


def _gradient_reference(fn: Callable) -> tuple[np.ndarray, np.ndarray]:
    """d sum(fn)/dx and d/dy by the interpreter on the joint graph built without simplification."""
    loss = lambda x, y: gg.sum(fn(x, y))  # noqa: E731
    joint = differentiate(gg.trace(loss, x=gg.Array(X.shape), y=gg.Array(Y.shape)), simplify=False)
    values = evaluate(joint, {"x": X, "y": Y})
    return values[joint.outputs[1]], values[joint.outputs[2]]


@pytest.mark.parametrize("name", sorted(RULES))
def test_python_gradients_are_the_unsimplified_graphs(name):
    fn, _ = RULES[name]
    kernel = gg.grad(lambda x, y: gg.sum(fn(x, y)), backend="python", x=gg.Array(X.shape), y=gg.Array(Y.shape))
    grads = kernel(X, Y)
    want_x, want_y = _gradient_reference(fn)
    _assert_ieee_equal(grads["x"], want_x, f"{name}, d/dx", zero_sign=False)
    _assert_ieee_equal(grads["y"], want_y, f"{name}, d/dy", zero_sign=False)


def test_c_values_and_gradients_agree_with_numpy_and_python():
    # One kernel for all the rules: row k of x and y feeds rule k.
    names = sorted(RULES)
    fns = [RULES[n][0] for n in names]
    shape = (len(names), X.size)
    xs, ys = np.tile(X, (len(names), 1)), np.tile(Y, (len(names), 1))

    def every_rule(x, y):
        return tuple(fn(x[k], y[k]) for k, fn in enumerate(fns))

    def total(x, y):
        return sum(gg.sum(fn(x[k], y[k])) for k, fn in enumerate(fns))

    values = gg.compile(every_rule, backend="c", x=gg.Array(shape), y=gg.Array(shape))(xs, ys)
    grads = gg.grad(total, backend="c", x=gg.Array(shape), y=gg.Array(shape))(xs, ys)
    for k, (name, fn) in enumerate(zip(names, fns)):
        _assert_ieee_equal(values[k], _numpy(fn, X, Y), f"{name}, C")
        want_x, want_y = _gradient_reference(fn)
        _assert_ieee_equal(grads["x"][k], want_x, f"{name}, C d/dx", zero_sign=False)
        _assert_ieee_equal(grads["y"][k], want_y, f"{name}, C d/dy", zero_sign=False)
