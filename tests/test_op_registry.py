"""Tests derived from the op registry: every op in ``OPS`` gets the same battery.

Each op has one or more *examples*: a small DSL function that applies it, with
the kind of random arguments it needs (positive for ``log``, away from zero
for ``relu``, valid indices for ``take``, ...). From the examples, for every
op: its facets are present, its shape rule agrees with its evaluation, its VJP
agrees with central finite differences (through the Python backend and the
graph interpreter), its JVP agrees with its VJP, the Python kernels agree
with the interpreter, and NaN inputs give NaN without an exception. The
non-smooth conventions of DESIGN.md are checked at the end.

An op added to the registry without an example here fails
``test_every_op_has_an_example``.
"""

from __future__ import annotations

import functools
import zlib
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import pytest

import gradgen as gg
from gradgen.codegen.python import is_scalar_graph
from gradgen.ir.check import check_graph
from gradgen.ir.graph import FLOAT_DTYPES, Graph, Node
from gradgen.ops.core import apply, constant
from gradgen.ops.loops import result_types
from gradgen.ops.registry import OPS, builtin_ops
from gradgen.passes.autodiff import differentiate
from gradgen.passes.pipeline import prepare
from gradgen.runtime.interpret import evaluate

LEAVES = ("input", "const")


# --- examples ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Arg:
    """One argument of an example: its shape and dtype, and where its random values come from.

    ``kind`` is "real" (uniform in [-2, 2]), "positive" ([0.5, 2]), "nonzero"
    (magnitude in [0.5, 2], either sign), "distinct" (entries at least 0.3
    apart, so a maximum is never tied), "fractional" (in [-3, 3], at least 0.1
    from an integer: away from the jumps of floor and mod), "dyadic" (multiples
    of 1/16, exact in float32), "index" (integers in [0, bound)), "invertible" (a square
    matrix with n or -n added to each diagonal entry: far from singular), "spd" (m m.T + n I:
    symmetric positive definite), "symmetric" (a random rotation of eigenvalues 1.3 apart, either sign)
    or "separated" (a matrix of random singular vectors and singular values 0.8 apart, from 0.6).
    """

    shape: tuple[int, ...]
    kind: str = "real"
    dtype: str = "float64"
    bound: int = 0

    @property
    def spec(self) -> gg.Array:
        return gg.Array(self.shape, self.dtype)

    def draw(self, rng: np.random.Generator) -> np.ndarray:
        """A random value of this argument."""
        shape = self.shape
        if self.kind == "real":
            value = rng.uniform(-2.0, 2.0, shape)
        elif self.kind == "positive":
            value = rng.uniform(0.5, 2.0, shape)
        elif self.kind == "nonzero":
            value = rng.uniform(0.5, 2.0, shape) * rng.choice([-1.0, 1.0], shape)
        elif self.kind == "distinct":
            size = int(np.prod(shape, dtype=np.int64))
            ranks = rng.permutation(size) - size / 2
            value = (0.5 * ranks + rng.uniform(-0.1, 0.1, size)).reshape(shape)
        elif self.kind == "fractional":
            value = rng.integers(-3, 3, shape) + rng.uniform(0.1, 0.9, shape)
        elif self.kind == "dyadic":
            value = rng.integers(-32, 33, shape) / 16.0
        elif self.kind == "index":
            value = rng.integers(0, self.bound, shape)
        elif self.kind == "invertible":  # a square matrix far from singular, its determinant either sign
            n = shape[0]
            value = rng.uniform(-1.0, 1.0, shape) + n * np.diag(rng.choice([-1.0, 1.0], n))
        elif self.kind == "spd":  # symmetric positive definite
            m = rng.uniform(-1.0, 1.0, shape)
            value = m @ m.T + shape[0] * np.eye(shape[0])
        elif self.kind == "symmetric":
            n = shape[0]
            q = np.linalg.qr(rng.normal(size=shape))[0]
            value = (q * (1.3 * np.arange(n) - 0.6 * n + rng.uniform(-0.1, 0.1, n))) @ q.T
        elif self.kind == "separated":
            p, q = shape
            k = min(p, q)
            u, v = np.linalg.qr(rng.normal(size=(p, k)))[0], np.linalg.qr(rng.normal(size=(q, k)))[0]
            value = (u * (0.6 + 0.8 * rng.permutation(k) + rng.uniform(-0.05, 0.05, k))) @ v.T
        else:
            raise ValueError(f"unknown argument kind {self.kind!r}")
        return np.asarray(value, dtype=self.dtype)


def real(*shape: int) -> Arg:
    return Arg(shape)


def positive(*shape: int) -> Arg:
    return Arg(shape, "positive")


def nonzero(*shape: int) -> Arg:
    return Arg(shape, "nonzero")


def distinct(*shape: int) -> Arg:
    return Arg(shape, "distinct")


def fractional(*shape: int) -> Arg:
    return Arg(shape, "fractional")


def invertible(n: int) -> Arg:
    return Arg((n, n), "invertible")


def spd(n: int) -> Arg:
    return Arg((n, n), "spd")


def symmetric(n: int) -> Arg:
    return Arg((n, n), "symmetric")


def separated(rows: int, columns: int) -> Arg:
    return Arg((rows, columns), "separated")


def index(bound: int, *shape: int) -> Arg:
    return Arg(shape, "index", "int64", bound)


@dataclass(frozen=True)
class Example:
    """A DSL function applying one op, and the arguments it takes (in parameter order)."""

    fn: Callable
    args: dict[str, Arg]

    @property
    def specs(self) -> dict[str, gg.Array]:
        return {name: arg.spec for name, arg in self.args.items()}

    @property
    def float_args(self) -> list[str]:
        return [name for name, arg in self.args.items() if arg.dtype in FLOAT_DTYPES]

    def draw(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """Random argument values, all away from the op's non-smooth points."""
        return {name: arg.draw(rng) for name, arg in self.args.items()}

    @property
    def precision(self) -> str:
        """float32 when an argument is float32 (results then hold about 7 digits), else float64."""
        return "float32" if any(arg.dtype == "float32" for arg in self.args.values()) else "float64"

    def scalar(self) -> Example:
        """The same function on scalar arguments (for elementwise ops: a plain-float kernel)."""
        return Example(self.fn, {name: replace(arg, shape=()) for name, arg in self.args.items()})

    def float32(self) -> Example:
        """The same function with its float64 arguments in float32."""
        return Example(self.fn, {name: replace(arg, dtype="float32") if arg.dtype == "float64" else arg
                                 for name, arg in self.args.items()})


def ex(fn: Callable, **args: Arg) -> Example:
    return Example(fn, args)


def _slices(shape: tuple[int, ...], *items: slice) -> tuple[tuple[int, int, int], ...]:
    """The ``slices`` attribute of a slice node: NumPy slices normalised for ``shape``."""
    return tuple(item.indices(n) for item, n in zip(items, shape))


def _unary(fn: Callable, arg: Callable[..., Arg] = real) -> tuple[Example, ...]:
    """One example applying the public unary function ``fn`` to a (2, 3) array."""
    return (ex(lambda x: fn(x), x=arg(2, 3)),)


EXAMPLES: dict[str, tuple[Example, ...]] = {
    "input": (ex(lambda x: -x, x=real(3)),),
    "const": (ex(lambda x: x * np.array([1.0, -2.0, 3.0]), x=real(3)),),
    # arithmetic
    "add": (ex(lambda x, y: x + y, x=real(2, 3), y=real(3)),),
    "subtract": (ex(lambda x, y: x - y, x=real(2, 3), y=real(2, 1)), ex(lambda x: 1.0 - x, x=real(3))),
    "multiply": (ex(lambda x, y: x * y, x=real(2, 3), y=real(2, 3)), ex(lambda x: x * x, x=real(4))),
    "divide": (ex(lambda x, y: x / y, x=real(2, 3), y=nonzero(2, 3)), ex(lambda y: 1.0 / y, y=nonzero(3))),
    "power": (ex(lambda x, y: x**y, x=positive(2, 3), y=real(2, 3)), ex(lambda x: x**3.0, x=real(3))),
    "maximum": (ex(lambda x, d: gg.maximum(x, x + d), x=real(2, 3), d=nonzero(2, 3)),),
    "minimum": (ex(lambda x, d: gg.minimum(x + d, x), x=real(2, 3), d=nonzero(2, 3)),),
    # unary functions
    "negative": _unary(lambda x: -x),
    "exp": _unary(gg.exp),
    "log": _unary(gg.log, positive),
    "log1p": _unary(gg.log1p, positive),
    "expm1": _unary(gg.expm1),
    "sqrt": _unary(gg.sqrt, positive),
    "sin": _unary(gg.sin),
    "cos": _unary(gg.cos),
    "tanh": _unary(gg.tanh),
    "sign": _unary(gg.sign, nonzero),
    "abs": _unary(gg.abs, nonzero),
    "relu": _unary(gg.relu, nonzero),
    "sigmoid": _unary(gg.sigmoid),
    "softplus": _unary(gg.softplus),
    "tan": (ex(lambda x: gg.tan(x * 0.6), x=real(2, 3)),),
    "sinh": _unary(gg.sinh),
    "cosh": _unary(gg.cosh),
    "arcsin": (ex(lambda x: gg.arcsin(x * 0.4), x=real(2, 3)),),
    "arccos": (ex(lambda x: gg.arccos(x * 0.4), x=real(2, 3)),),
    "arctan": _unary(gg.arctan),
    "arctan2": (ex(lambda y, x: gg.arctan2(y, x), y=real(2, 3), x=nonzero(2, 3)),
                ex(lambda y: np.arctan2(y, -1.5), y=real(3))),
    "arcsinh": _unary(gg.arcsinh),
    "arccosh": (ex(lambda x: gg.arccosh(x + 1.0), x=positive(2, 3)),),
    "arctanh": (ex(lambda x: gg.arctanh(x * 0.4), x=real(2, 3)),),
    "erf": _unary(gg.erf),
    "hypot": (ex(lambda a, b: gg.hypot(a, b), a=nonzero(2, 3), b=nonzero(2, 3)),
              ex(lambda a: np.hypot(a, 2.0), a=real(3))),
    "log2": _unary(gg.log2, positive),
    "log10": _unary(np.log10, positive),
    "exp2": _unary(gg.exp2),
    "logaddexp": (ex(lambda a, b: gg.logaddexp(a, b), a=real(2, 3), b=real(2, 3)),
                  ex(lambda a: np.logaddexp(a, 0.5), a=real(3))),
    # rounding and remainders
    "floor": _unary(gg.floor),
    "ceil": _unary(np.ceil),
    "trunc": _unary(gg.trunc),
    "rint": (ex(lambda x: gg.round(x * 3.0), x=real(2, 3)), ex(lambda x: np.round(x, 1), x=real(3))),
    # (q * b) % b: the quotient q stays away from the jumps, for the finite differences
    "mod": (ex(lambda q, b: (q * b) % b, q=fractional(2, 3), b=nonzero(2, 3)),
            ex(lambda q: (q * 1.5) % 1.5, q=fractional(3))),
    "fmod": (ex(lambda q, b: gg.fmod(q * b, b), q=fractional(2, 3), b=nonzero(2, 3)),),
    "floor_divide": (ex(lambda q, b: (q * b) // b, q=fractional(2, 3), b=nonzero(2, 3)),
                     ex(lambda q: 3.0 // (q + 2.0), q=fractional(3))),
    # masks
    "less": (ex(lambda x, y: x < y, x=real(2, 3), y=real(2, 3)),),
    "less_equal": (ex(lambda x, y: x <= y, x=real(2, 3), y=real(3)),),
    "greater": (ex(lambda x, y: x > y, x=real(2, 3), y=real(2, 3)),),
    "greater_equal": (ex(lambda x, y: x >= y, x=real(2, 3), y=real(2, 3)),),
    "equal": (ex(lambda x, y: x == y, x=index(3, 2, 3), y=index(3, 2, 3)),),
    "not_equal": (ex(lambda x, y: x != y, x=index(3, 2, 3), y=index(3, 2, 3)),),
    "logical_and": (ex(lambda x, y: (x < 0.0) & (y > 0.0), x=real(2, 3), y=real(2, 3)),),
    "logical_or": (ex(lambda x, y: (x < 0.0) | (y > 0.0), x=real(2, 3), y=real(2, 3)),),
    "logical_not": (ex(lambda x: ~(x > 0.0), x=real(2, 3)),),
    # selection and conversion
    "where": (ex(lambda c, x, y: gg.where(c > 0.0, x, y), c=nonzero(2, 3), x=real(2, 3), y=real(2, 3)),
              ex(lambda c, x: gg.where(c > 0.0, gg.exp(x), 0.5 * c), c=nonzero(3), x=real(3))),
    "cast": (ex(lambda x: gg.cast(x, "float64"), x=Arg((2, 3), "dyadic", "float32")),
             ex(lambda x, i: x * gg.cast(i, "float64"), x=real(3), i=index(5, 3))),
    "stop_gradient": _unary(gg.stop_gradient),
    # shapes
    "broadcast_to": (ex(lambda x: gg.broadcast_to(x, (4, 2, 5, 3)), x=real(2, 1, 3)),
                     ex(lambda x: gg.broadcast_to(x, (2, 2)), x=real())),
    "reshape": (ex(lambda x: x.reshape(3, -1), x=real(2, 3, 2)), ex(lambda x: x.reshape(()), x=real(1, 1))),
    "transpose": (ex(lambda x: x.T, x=real(2, 3)), ex(lambda x: x.transpose(1, 2, 0), x=real(2, 3, 4))),
    "slice": (ex(lambda x: x[1:, ::-2], x=real(3, 4)), ex(lambda x: x[:-1], x=real(4)),
              ex(lambda x: x[2, -3::-1], x=real(4, 5))),
    "unslice": (ex(lambda x: apply("unslice", x, shape=(4, 5),
                                   slices=_slices((4, 5), slice(1, 3), slice(None, None, -2))),
                   x=real(2, 3)),),
    "unslice_sum": (ex(lambda a, b: apply("unslice_sum", a, b, shape=(5,),
                                          slices=(_slices((5,), slice(0, 3)), _slices((5,), slice(1, 5, 2)))),
                       a=real(3), b=real(2)),),
    "take": (ex(lambda x, i: x[i], x=real(4, 3), i=index(4, 2, 2)),
             ex(lambda x, i: apply("take", x, i, axis=1), x=real(2, 4), i=index(4, 5))),
    "scatter_add": (ex(lambda g, i: apply("scatter_add", g, i, shape=(4, 3), axis=0), g=real(5, 3), i=index(4, 5)),
                    ex(lambda g, i: apply("scatter_add", g, i, shape=(2, 4), axis=1), g=real(2, 3), i=index(4, 3))),
    "take_along_axis": (ex(lambda x, i: gg.take_along_axis(x, i, axis=1), x=real(3, 4), i=index(4, 3, 2)),
                        ex(lambda x, i: gg.take_along_axis(x, i, axis=0), x=real(3, 4), i=index(3, 2, 1))),
    "scatter_along_axis": (
        ex(lambda g, i: apply("scatter_along_axis", g, i, shape=(3, 4), axis=1), g=real(3, 2), i=index(4, 3, 2)),
        ex(lambda g, i: apply("scatter_along_axis", g, i, shape=(3, 4), axis=0), g=real(2, 4), i=index(3, 2, 1))),
    "concatenate": (ex(lambda x, y: gg.concatenate([x, y], axis=1), x=real(2, 1), y=real(2, 3)),
                    ex(lambda x, y: gg.stack([x, y, x]), x=real(3), y=real(3))),
    # reductions and products
    "sum": (ex(lambda x: gg.sum(x), x=real(2, 3)), ex(lambda x: gg.sum(x, axis=(0, 2), keepdims=True), x=real(2, 3, 2)),
            ex(lambda x: x.sum(axis=-1), x=real(2, 3))),
    "max": (ex(lambda x: gg.max(x), x=distinct(2, 3)), ex(lambda x: gg.max(x, axis=1), x=distinct(3, 4)),
            ex(lambda x: gg.max(x, axis=(0, 2), keepdims=True), x=distinct(2, 3, 2))),
    # loops
    "scan": (ex(lambda h, w: gg.scan(lambda c, wk: (gg.tanh(c * wk), None), h, w)[0], h=real(3), w=real(4, 3)),
             ex(lambda h, w: gg.scan(lambda c, wk: (c * 0.5 + wk, gg.sin(c) * h), h, w, reverse=True)[1],
                h=real(2), w=real(3, 2))),
    "loop_output": (ex(lambda x: gg.scan(lambda c, _: (c * 0.5 + x, gg.exp(c)), x, length=3)[1], x=real(2)),),
    "matmul": (ex(lambda a, b: a @ b, a=real(2, 3), b=real(3, 4)), ex(lambda a, b: a @ b, a=real(3), b=real(3, 2)),
               ex(lambda a, b: a @ b, a=real(2, 3), b=real(3)), ex(lambda a, b: a @ b, a=real(3), b=real(3))),
    # sorting
    "argsort_rows": (ex(lambda x: gg.sort(x), x=distinct(3, 4)), ex(lambda x: gg.sort(x, axis=0), x=distinct(5, 2)),
                     ex(lambda x: np.sort(x, axis=None), x=distinct(2, 3))),
    # dense linear algebra
    "solve": (ex(lambda a, b: gg.linalg.solve(a, b), a=invertible(3), b=real(3)),
              ex(lambda a, b: np.linalg.solve(a.T, b), a=invertible(4), b=real(4, 2)),
              ex(lambda a: gg.linalg.inv(a), a=invertible(3))),
    "solve_triangular": (ex(lambda a, b: gg.linalg.solve_triangular(a, b, lower=True), a=invertible(3), b=real(3)),
                         ex(lambda a, b: gg.linalg.solve_triangular(a, b), a=invertible(3), b=real(3, 2))),
    "cholesky": (ex(lambda a: gg.linalg.cholesky(a), a=spd(3)), ex(lambda a: np.linalg.cholesky(a), a=spd(1))),
    "det": (ex(lambda a: gg.linalg.det(a), a=invertible(3)), ex(lambda a: np.linalg.det(a * 2.0), a=invertible(1))),
    "logabsdet": (ex(lambda a: gg.linalg.slogdet(a).logabsdet, a=invertible(3)),),
    "det_sign": (ex(lambda a: np.linalg.slogdet(a)[0], a=invertible(3)),),
    "eigvalsh": (ex(lambda a: gg.linalg.eigvalsh(a), a=symmetric(3)),
                 ex(lambda a: np.linalg.eigvalsh(a, UPLO="U"), a=symmetric(4))),
    "eigh_vectors": (ex(lambda a: gg.linalg.eigh(a).eigenvectors, a=symmetric(3)),
                     ex(lambda a: np.linalg.eigh(a)[1] * 2.0, a=symmetric(1))),
    "svdvals": (ex(lambda a: gg.linalg.svdvals(a), a=separated(4, 3)),
                ex(lambda a: np.linalg.svd(a, compute_uv=False), a=separated(2, 3))),
    "svd_u": (ex(lambda a: gg.linalg.svd(a, full_matrices=False).U, a=separated(4, 2)),
              ex(lambda a: np.linalg.svd(a)[0], a=separated(3, 3)),
              ex(lambda a: np.linalg.svd(a, full_matrices=False)[2], a=separated(2, 4))),
    "svd_vt": (ex(lambda a: gg.linalg.svd(a, full_matrices=False).Vh, a=separated(4, 2)),
               ex(lambda a: np.linalg.svd(a, full_matrices=False)[0], a=separated(2, 3))),
    "inverse_gaps": (ex(lambda x: apply("inverse_gaps", x), x=distinct(4)),),
    "eigh_packed": (ex(lambda a: apply("eigh_packed", a), a=symmetric(3)),),
    "svd_packed": (ex(lambda a: apply("svd_packed", a), a=separated(4, 3)),
                   ex(lambda a: apply("svd_packed", a), a=separated(3, 3))),
}


def _cases() -> list:
    """One pytest case per example, plus variants: on scalars (for elementwise ops, whose
    kernels then run on plain floats) and in float32 (for examples with float64 arguments)."""
    cases = []
    for name, examples in EXAMPLES.items():
        for k, example in enumerate(examples):
            cases.append(pytest.param(name, example, id=f"{name}-{k}"))
            if example.precision == "float64" and OPS[name].elementwise:
                cases.append(pytest.param(name, example.scalar(), id=f"{name}-{k}-scalar"))
            if example.precision == "float64" and "float64" in {arg.dtype for arg in example.args.values()}:
                cases.append(pytest.param(name, example.float32(), id=f"{name}-{k}-float32"))
    return cases


CASES = _cases()


def _rng(*key: object) -> np.random.Generator:
    """A generator seeded from ``key``, so every case draws the same numbers on every run."""
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


def _traced(name: str, example: Example) -> Graph:
    """The example's graph, checked to contain ``name``."""
    graph = gg.trace(example.fn, example.specs)
    assert name in {node.op for node in graph.nodes}, f"the example for {name!r} does not apply it"
    return graph


def _output_node(graph: Graph) -> Node:
    """The node of ``graph``'s single output."""
    (out,) = graph.outputs
    return graph.nodes[out]


def _is_float_output(name: str, example: Example) -> bool:
    """True when the example's result is a float (not a mask)."""
    return _output_node(_traced(name, example)).dtype in FLOAT_DTYPES


def _weighted(example: Example, weights: np.ndarray) -> Callable:
    """``sum(example(...) * weights)``: a scalar whose gradient is the op's VJP applied to ``weights``."""

    @functools.wraps(example.fn)
    def loss(*args):
        return gg.sum(example.fn(*args) * weights)

    return loss


def _weights_for(name: str, example: Example, rng: np.random.Generator) -> np.ndarray:
    """Random weights shaped like the example's output, in the example's precision (so a
    float32 example stays float32 all the way to its gradient)."""
    return rng.normal(size=_output_node(_traced(name, example)).shape).astype(example.precision)


def _kernel_args(example: Example, values: dict[str, np.ndarray]) -> dict:
    """Argument values as a kernel takes them: Python numbers for scalars, arrays otherwise."""
    return {name: (value.item() if value.shape == () else value) for name, value in values.items()}


def _interpret(graph: Graph, values: dict[str, np.ndarray]) -> list[np.ndarray]:
    """The values of ``graph``'s outputs by the reference interpreter."""
    every = evaluate(graph, values)
    return [every[i] for i in graph.outputs]


def _central_difference(f: Callable[[dict], float], values: dict[str, np.ndarray], name: str,
                        step: float) -> np.ndarray:
    """df/d values[name] by the fourth-order central stencil (f(x-2h) - 8f(x-h) + 8f(x+h) - f(x+2h)) / 12h."""
    x = values[name]
    grad = np.zeros(x.shape)
    for i in range(x.size):
        samples = []
        for k in (-2, -1, 1, 2):
            shifted = x.copy()
            shifted.flat[i] += k * step
            samples.append(f({**values, name: shifted}))
        grad.flat[i] = (samples[0] - 8 * samples[1] + 8 * samples[2] - samples[3]) / (12 * step)
    return grad


def _step(dtype: str) -> float:
    """A finite-difference step that is exact on the dyadic float32 samples."""
    return 2.0**-4 if dtype == "float32" else 1e-3


#: How closely two evaluations of one computation agree, by precision.
_RTOL = {"float64": 1e-12, "float32": 1e-6}


def _assert_close(got: np.ndarray, expected: np.ndarray, rtol: float, what: str) -> None:
    """Relative comparison with an absolute floor scaled to the expected values."""
    expected = np.asarray(expected, dtype=float)
    scale = max(1.0, float(np.max(np.abs(expected), initial=0.0)))
    np.testing.assert_allclose(np.asarray(got, dtype=float), expected, rtol=rtol, atol=rtol * scale, err_msg=what)


def _assert_same_result(got: object, expected: np.ndarray, rtol: float, what: str) -> None:
    """A kernel's result against the interpreter's: a Python float for a float scalar, else an
    array of the same shape and dtype, with values equal up to ``rtol``."""
    if expected.shape == () and expected.dtype.kind == "f":
        assert type(got) is float, f"{what}: a scalar comes back as a Python float, got {type(got).__name__}"
    elif expected.shape != ():
        assert isinstance(got, np.ndarray) and (got.shape, got.dtype) == (expected.shape, expected.dtype), \
            f"{what}: expected a {expected.shape} {expected.dtype} array, got {got!r}"
    if expected.dtype == bool:
        assert np.array_equal(got, expected), what
    else:
        _assert_close(got, expected, rtol, what)


# --- facets -------------------------------------------------------------------------------
#: Ops that produce masks: no float output, hence no tangent to push forward.
MASK_OPS = {"less", "less_equal", "greater", "greater_equal", "equal", "not_equal", "logical_and",
            "logical_or", "logical_not"}


@pytest.mark.parametrize("name", builtin_ops())
def test_every_op_has_its_facets(name):
    op = OPS[name]
    assert op.name == name
    assert callable(op.infer) and callable(op.evaluate), f"{name}: shape rule or evaluation missing"
    assert op.doc, f"{name}: no doc"
    if name in LEAVES:
        assert op.vjp is None, f"{name} is a leaf: it has no inputs to differentiate"
    else:
        assert callable(op.vjp), f"{name}: no VJP (every non-leaf op must be differentiable or say it gives 0)"
    if op.elementwise:
        assert op.py is not None, f"{name}: elementwise but no scalar (math) spelling"
        assert op.c is not None, f"{name}: elementwise but no C spelling (loops are the C emitter's, not expressions)"
    if op.kind != "loop":  # a loop is laid out by the generators, as statements around its body
        assert op.np is not None, f"{name}: no NumPy spelling"


@pytest.mark.parametrize("name", builtin_ops())
def test_every_op_has_an_example(name):
    assert EXAMPLES.get(name), f"add an example applying {name!r} to EXAMPLES in this file"


@pytest.mark.parametrize("name", sorted(set(builtin_ops()) - set(LEAVES) - MASK_OPS))
def test_every_op_with_a_float_result_has_a_jvp(name):
    assert callable(OPS[name].jvp), f"{name}: no JVP"


def test_mask_ops_are_exactly_the_ops_with_bool_results():
    bool_results = {name for name, examples in EXAMPLES.items()
                    if not _is_float_output(name, examples[0])}
    assert bool_results == MASK_OPS


# --- shape rule against evaluation ---------------------------------------------------------
@pytest.mark.parametrize("name, example", CASES)
def test_shape_rule_matches_evaluation(name, example):
    graph = check_graph(_traced(name, example))
    values = example.draw(_rng(name, "shape"))
    interpreted = evaluate(graph, values)
    for node in graph.nodes:
        if node.dtype == "tuple":  # a loop: each of its results has the type the shape rule of its part gives
            types = result_types(node.params["body"], node.params["carries"], node.params["length"])
            assert [(r.shape, r.dtype.name) for r in interpreted[node.id]] == types, f"{node}: loop results"
            continue
        assert interpreted[node.id].shape == node.shape, f"{node}: interpreter shape {interpreted[node.id].shape}"
        if node.op in LEAVES:
            continue
        with np.errstate(all="ignore"):
            raw = np.asarray(OPS[node.op].evaluate(*[interpreted[i] for i in node.inputs], **node.params))
        assert (raw.shape, raw.dtype.name) == (node.shape, node.dtype), \
            f"{node}: evaluation gives {raw.shape} {raw.dtype}, the shape rule {node.shape} {node.dtype}"


# --- VJP against finite differences ---------------------------------------------------------
#: Ops whose gradient is 0 by definition, not the derivative of their value.
ZERO_GRADIENT_OPS = {"stop_gradient", "floor", "ceil", "trunc", "rint"} | MASK_OPS


def _finite_differences_apply(name: str, example: Example) -> bool:
    """True when the op has a derivative to compare with, at a precision where that means something.

    float32 arguments qualify only on the dyadic grid, where finite differences are exact.
    """
    return (name not in LEAVES and name not in ZERO_GRADIENT_OPS and bool(example.float_args)
            and all(arg.kind == "dyadic" for arg in example.args.values() if arg.dtype == "float32"))


FD_CASES = [case for case in CASES if _finite_differences_apply(*case.values)]


@pytest.mark.parametrize("name, example", FD_CASES)
def test_vjp_matches_finite_differences(name, example):
    rng = _rng(name, "fd", example.args)
    values = example.draw(rng)
    loss = _weighted(example, _weights_for(name, example, rng))
    forward = gg.trace(loss, example.specs)

    def f(point: dict) -> float:
        return float(_interpret(forward, point)[0])

    wrt = example.float_args
    expected = {n: _central_difference(f, values, n, _step(example.args[n].dtype)) for n in wrt}

    value, grads = gg.value_and_grad(loss, backend="python", specs=example.specs)(**_kernel_args(example, values))
    joint = check_graph(differentiate(forward, wrt))
    interpreted = _interpret(joint, values)
    _assert_close(value, f(values), 1e-12, "value")
    for k, n in enumerate(wrt):
        assert np.shape(grads[n]) == values[n].shape
        _assert_close(grads[n], expected[n], 1e-6, f"d/d{n} by the Python backend")
        _assert_close(interpreted[1 + k], expected[n], 1e-6, f"d/d{n} by the interpreter")


#: Second derivatives in float64 (float32 differences of gradients say little).
SECOND_ORDER_CASES = [case for case in FD_CASES if case.values[1].precision == "float64"]


@pytest.mark.parametrize("name, example", SECOND_ORDER_CASES)
def test_second_derivatives_match_central_differences_of_the_gradient(name, example):
    """Every op's VJP differentiated again (forward over reverse, ``gg.hvp``) against central differences
    of its gradient along a random direction."""
    rng = _rng(name, "second", example.args)
    values = example.draw(rng)
    loss = _weighted(example, _weights_for(name, example, rng))
    wrt = example.float_args
    gradient = gg.value_and_grad(loss, wrt=wrt, backend="python", specs=example.specs)
    direction = {n: rng.normal(size=values[n].shape) for n in wrt}
    products = gg.hvp(loss, wrt=wrt, backend="python", specs=example.specs)(
        **_kernel_args(example, values), tangents=direction)[2]
    h = 1e-5

    def gradient_at(step: float) -> dict:
        moved = {n: values[n] + step * direction[n] if n in direction else values[n] for n in values}
        return gradient(**_kernel_args(example, moved))[1]

    plus, minus = gradient_at(h), gradient_at(-h)
    for n in wrt:
        _assert_close(products[n], (np.asarray(plus[n]) - np.asarray(minus[n])) / (2 * h), 1e-5, f"(H v) for {n}")


@pytest.mark.parametrize("name, example", [case for case in CASES if case.values[0] in ZERO_GRADIENT_OPS])
def test_ops_without_gradient_give_exact_zeros(name, example):
    rng = _rng(name, "zero", example.args)
    values = example.draw(rng)
    loss = _weighted(example, _weights_for(name, example, rng))
    _, grads = gg.value_and_grad(loss, backend="python", specs=example.specs)(**_kernel_args(example, values))
    for n in example.float_args:
        assert np.array_equal(grads[n], np.zeros(values[n].shape)), f"d/d{n}"


# --- JVP against VJP ----------------------------------------------------------------------------
def _pairing_graph(name: str, graph: Graph, primal: list[np.ndarray]) -> tuple[Graph, list[int]]:
    """A graph computing <v, JVP(t)> and <VJP(v), t> for the last ``name`` node of ``graph``.

    Its inputs are ``p`` (the op's varying float operands, flattened and
    joined), ``t`` (their tangents, likewise) and ``v`` (a cotangent of the
    output); the other operands (constants, indices, masks) stay constants.
    Returns the graph and the sizes of the operands in ``p``.
    """
    node = [n for n in graph.nodes if n.op == name][-1]
    op = OPS[name]
    operands = [graph.nodes[i] for i in node.inputs]
    varying = _varying(graph)
    sizes = [o.size for o in operands if o.id in varying]

    def unpack(flat, operand, start):
        """The slice of ``flat`` holding ``operand``, in its shape and dtype."""
        piece = flat[start:start + operand.size].reshape(operand.shape)
        return gg.cast(piece, operand.dtype)

    def pairing(p, t, v):
        inputs, tangents, start = [], [], 0
        for operand, value in zip(operands, primal):
            if operand.id in varying:
                inputs.append(unpack(p, operand, start))
                tangents.append(unpack(t, operand, start))
                start += operand.size
            else:
                inputs.append(constant(p.builder, value))
                tangents.append(None)
        out = apply(name, *inputs, **node.params)
        pushed = op.jvp(tangents, out, *inputs, **node.params)
        pulled = op.vjp(v, out, *inputs, **node.params)
        forward = 0.0
        if pushed is not None:
            assert (pushed.shape, pushed.node.dtype) == (out.shape, out.node.dtype), f"{name}: JVP type"
            forward = gg.sum(v * gg.cast(pushed, "float64"))
        backward = 0.0
        for x, tangent, cotangent in zip(inputs, tangents, pulled):
            if tangent is not None and cotangent is not None:
                assert (cotangent.shape, cotangent.node.dtype) == (x.shape, x.node.dtype), f"{name}: VJP type"
                backward = backward + gg.sum(gg.cast(cotangent, "float64") * gg.cast(tangent, "float64"))
        return forward, backward

    total = sum(sizes)
    return gg.trace(pairing, p=gg.Array((total,)), t=gg.Array((total,)), v=gg.Array(node.shape, node.dtype)), sizes


def _varying(graph: Graph) -> set[int]:
    """Ids of the float nodes a tangent can move: those that depend on an input."""
    found: set[int] = set()
    for node in graph.nodes:
        if node.dtype in FLOAT_DTYPES and (node.op == "input" or found.intersection(node.inputs)):
            found.add(node.id)
    return found


#: Loops have a tuple of results, which the pairing of one output cannot hold: tests/test_loops.py checks
#: their JVP and VJP against JAX and against the unrolled loop.
JVP_CASES = [case for case in CASES if OPS[case.values[0]].jvp is not None
             and OPS[case.values[0]].kind not in ("loop", "part")]


@pytest.mark.parametrize("name, example", JVP_CASES)
def test_jvp_agrees_with_vjp(name, example):
    rng = _rng(name, "jvp", example.args)
    graph = _traced(name, example)
    values = evaluate(graph, example.draw(rng))
    node = [n for n in graph.nodes if n.op == name][-1]
    primal = [values[i] for i in node.inputs]
    pairing, sizes = _pairing_graph(name, graph, primal)
    check_graph(pairing)
    varying = _varying(graph)
    moved = [value.ravel() for value, i in zip(primal, node.inputs) if i in varying]
    p = np.concatenate(moved) if moved else np.zeros(0)
    # Dyadic tangents keep float32 operands exact.
    t = rng.integers(-32, 33, sum(sizes)) / 16.0
    v = rng.normal(size=node.shape)
    forward, backward = _interpret(pairing, {"p": p, "t": t, "v": v})
    rtol = _RTOL[example.precision] * 100
    assert np.isclose(forward, backward, rtol=rtol, atol=1e-12), f"<v, JVP t> = {forward}, <VJP v, t> = {backward}"


# --- Python backend against the interpreter ---------------------------------------------------
@pytest.mark.parametrize("name, example", CASES)
def test_python_kernels_match_the_interpreter(name, example):
    rng = _rng(name, "backend", example.args)
    values = example.draw(rng)
    graph = _traced(name, example)
    kernel = gg.compile(example.fn, backend="python", specs=example.specs)
    got = kernel(**_kernel_args(example, values))
    (expected,) = _interpret(graph, values)
    scalar_case = OPS[name].elementwise and all(arg.shape == () for arg in example.args.values())
    assert is_scalar_graph(kernel.graph) == scalar_case, "scalar elementwise code must give a plain-float kernel"
    _assert_same_result(got, expected, _RTOL[example.precision], "forward value")

    if not _is_float_output(name, example) or not example.float_args:
        return
    # Random weights, and a plain sum, whose backward pass starts from constants.
    for weights in (_weights_for(name, example, rng), np.asarray(1.0, example.precision)):
        loss = _weighted(example, weights)
        kernel = gg.value_and_grad(loss, backend="python", specs=example.specs)
        value, grads = kernel(**_kernel_args(example, values))
        joint = check_graph(prepare(gg.trace(loss, example.specs), gradient=True, check=True))
        interpreted = _interpret(joint, values)
        _assert_same_result(value, interpreted[0], _RTOL[example.precision], "value")
        for k, n in enumerate(example.float_args):
            assert interpreted[1 + k].dtype == values[n].dtype, f"d/d{n} has the dtype of {n}"
            _assert_same_result(grads[n], interpreted[1 + k], _RTOL[example.precision], f"d/d{n}")


# --- NaN propagates ------------------------------------------------------------------------
@pytest.mark.parametrize("name, example", CASES)
def test_nan_inputs_give_nan_without_error(name, example):
    values = example.draw(_rng(name, "nan", example.args))
    for n in example.float_args:
        values[n] = np.full(values[n].shape, np.nan, dtype=values[n].dtype)
    graph = _traced(name, example)
    (expected,) = _interpret(graph, values)
    got = gg.compile(example.fn, backend="python", specs=example.specs)(**_kernel_args(example, values))
    if expected.dtype == bool:
        assert np.array_equal(got, expected)
        return
    if example.float_args:
        assert np.isnan(expected).any(), "NaN inputs must give NaN values"
    np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
    np.testing.assert_array_equal(np.asarray(got)[~np.isnan(expected)], expected[~np.isnan(expected)])
    if example.float_args:
        weights = _weights_for(name, example, _rng(name, "nan-weights"))
        value, _ = gg.value_and_grad(_weighted(example, weights), backend="python",
                                     specs=example.specs)(**_kernel_args(example, values))
        assert np.isnan(value)


#: Functions of one scalar and the points outside their domain or at a pole: (function, points).
OUT_OF_DOMAIN = {
    "log": (gg.log, [-1.0, 0.0]),
    "sqrt": (gg.sqrt, [-1.0]),
    "log1p": (gg.log1p, [-2.0, -1.0]),
    "power": (lambda a: a**1.5, [-2.0]),
    "power-cube-root": (lambda a: a ** (1.0 / 3.0), [-8.0]),
    "power-negative": (lambda a: a**-1.0, [0.0]),
    "divide": (lambda a: 1.0 / a, [0.0]),
    "divide-zero": (lambda a: a / a, [0.0]),
    "exp-overflow": (gg.exp, [1000.0]),
    "arcsin": (gg.arcsin, [2.0, -1.5]),
    "arccos": (gg.arccos, [-2.0]),
    "arccosh": (gg.arccosh, [0.5]),
    "arctanh": (gg.arctanh, [1.0, -1.0, 2.0]),
    "log2": (gg.log2, [-1.0, 0.0]),
    "log10": (gg.log10, [-1.0, 0.0]),
    "sinh-overflow": (gg.sinh, [1000.0, -1000.0]),
    "cosh-overflow": (gg.cosh, [1000.0]),
    "exp2-overflow": (gg.exp2, [2000.0]),
    "mod-by-zero": (lambda a: gg.mod(a, 0.0 * a), [1.0, 0.0]),
    "fmod-by-zero": (lambda a: gg.fmod(a, 0.0 * a), [1.0]),
    "floor-divide-by-zero": (lambda a: a // (0.0 * a), [1.0, -1.0, 0.0]),
    "floor-inf": (lambda a: gg.floor(a * 1e308 * 10.0), [1.0, -1.0]),
}


@pytest.mark.parametrize("mode", ["scalar", "array", "scalar-in-array-kernel"])
@pytest.mark.parametrize("name", sorted(OUT_OF_DOMAIN))
def test_out_of_domain_inputs_follow_numpy(name, mode):
    fn, points = OUT_OF_DOMAIN[name]
    with np.errstate(all="ignore"):
        expected = [float(fn(np.float64(a))) for a in points]
    if mode == "scalar":
        results = [gg.value_and_grad(lambda a: fn(a), backend="python")(a) for a in points]
    elif mode == "array":
        kernel = gg.value_and_grad(lambda a: gg.sum(fn(a)), backend="python", a=gg.Array((len(points),)))
        value, grads = kernel(np.array(points))
        np.testing.assert_array_equal(value, np.sum(expected))
        assert grads["a"].dtype == np.float64
        return
    else:
        kernel = gg.value_and_grad(lambda a, x: fn(a) + gg.sum(x), backend="python", x=gg.Array((2,)))
        results = [kernel(a, np.zeros(2)) for a in points]
    for a, want, (value, grads) in zip(points, expected, results):
        assert type(value) is float and type(grads["a"]) is float, f"at {a}: {value!r}, {grads['a']!r}"
        np.testing.assert_array_equal(value, want, err_msg=f"{name} at {a}")


# --- non-smooth conventions of DESIGN.md ------------------------------------------------------
def _gradients(fn: Callable, **values) -> list[dict]:
    """``fn``'s gradients at ``values``, by the Python backend and by the interpreter on the joint graph."""
    specs = {n: gg.Array(np.shape(v)) for n, v in values.items()}
    _, by_kernel = gg.value_and_grad(fn, backend="python", specs=specs)(**values)
    graph = gg.trace(fn, specs)
    interpreted = _interpret(differentiate(graph), {n: np.asarray(v, dtype=float) for n, v in values.items()})
    by_interpreter = dict(zip(graph.input_names, interpreted[1:]))
    return [by_kernel, by_interpreter]


@pytest.mark.parametrize("x", [0.0, np.array([-1.0, 0.0, 2.0])])
def test_relu_and_abs_have_zero_gradient_at_zero(x):
    expected = np.asarray(x > 0, dtype=float)
    for grads in _gradients(lambda x: gg.sum(gg.relu(x)), x=x):
        np.testing.assert_array_equal(grads["x"], expected)
    for grads in _gradients(lambda x: gg.sum(gg.abs(x)), x=x):
        np.testing.assert_array_equal(grads["x"], np.sign(x))


@pytest.mark.parametrize("fn", [gg.maximum, gg.minimum], ids=["maximum", "minimum"])
@pytest.mark.parametrize("x, y", [(1.5, 1.5), (np.array([1.0, 2.0, 3.0]), np.array([1.0, 0.0, 3.0]))])
def test_maximum_and_minimum_split_ties_evenly(fn, x, y):
    tie = np.asarray(np.equal(x, y))
    first_wins = np.asarray(fn(x, y) == x) & ~tie
    expected_x = np.where(tie, 0.5, np.where(first_wins, 1.0, 0.0))
    for grads in _gradients(lambda x, y: gg.sum(fn(x, y)), x=x, y=y):
        np.testing.assert_array_equal(grads["x"], expected_x)
        np.testing.assert_array_equal(grads["y"], 1.0 - expected_x)


def test_maximum_of_a_value_with_itself_has_gradient_one():
    for grads in _gradients(lambda x: gg.maximum(x, x) + gg.minimum(x, x), x=0.25):
        assert grads["x"] == 2.0


@pytest.mark.parametrize("x, axis, expected", [
    (np.array([1.0, 3.0, 3.0, 2.0]), None, [0.0, 0.5, 0.5, 0.0]),
    (np.array([5.0, 5.0, 5.0]), None, [1 / 3, 1 / 3, 1 / 3]),
    (np.array([[2.0, 2.0, 1.0], [0.0, 4.0, 4.0]]), 1, [[0.5, 0.5, 0.0], [0.0, 0.5, 0.5]]),
    (np.array([[2.0, 2.0, 1.0], [2.0, 4.0, 1.0]]), 0, [[0.5, 0.0, 0.5], [0.5, 1.0, 0.5]]),
])
def test_max_reduction_splits_ties_evenly(x, axis, expected):
    for grads in _gradients(lambda x: gg.sum(gg.max(x, axis=axis)), x=x):
        np.testing.assert_allclose(grads["x"], expected, rtol=1e-15)


def test_min_reduction_splits_ties_evenly():
    for grads in _gradients(lambda x: gg.min(x), x=np.array([1.0, 0.5, 0.5])):
        np.testing.assert_allclose(grads["x"], [0.0, 0.5, 0.5], rtol=1e-15)


@pytest.mark.parametrize("x", [0.0, -1.0, np.array([-1.0, 0.0, 4.0])])
def test_where_gives_the_untaken_sqrt_branch_exactly_zero(x):
    fn = lambda x: gg.sum(gg.where(x > 0.0, gg.sqrt(x), 0.0))  # noqa: E731
    expected = np.where(np.asarray(x) > 0, 0.5 / np.sqrt(np.maximum(x, 1e-300)), 0.0)
    value, _ = gg.value_and_grad(fn, backend="python", specs={"x": gg.Array(np.shape(x))})(x)
    assert np.isfinite(value)
    for grads in _gradients(fn, x=x):
        np.testing.assert_array_equal(grads["x"], expected)


def test_where_gives_the_untaken_log_branch_exactly_zero_on_arrays():
    x = np.array([-2.0, -0.5, 0.0, 0.5, 2.0])
    fn = lambda x: gg.sum(gg.where(x > 0.0, gg.log(x), 0.0) * x)  # noqa: E731
    value, _ = gg.value_and_grad(fn, backend="python", x=gg.Array((5,)))(x)
    positive = x > 0
    assert value == pytest.approx(np.sum(x[positive] * np.log(x[positive])), rel=1e-15)
    expected = np.where(positive, np.log(np.where(positive, x, 1.0)) + 1.0, 0.0)
    for grads in _gradients(fn, x=x):
        np.testing.assert_allclose(grads["x"], expected, rtol=1e-15)
        assert np.all(np.isfinite(grads["x"]))
        assert np.all(grads["x"][~positive] == 0.0)


def test_where_gives_the_untaken_division_branch_exactly_zero():
    x = np.array([0.0, 1.0, -2.0])
    fn = lambda x: gg.sum(gg.where(x != 0.0, 1.0 / x, 1.0))  # noqa: E731
    for grads in _gradients(fn, x=x):
        np.testing.assert_array_equal(grads["x"], [0.0, -1.0, -0.25])


# --- stable forms: finite where the mathematics is ---------------------------------------------
def _stable_sigmoid(x: np.ndarray) -> np.ndarray:
    """1 / (1 + e^-x) without overflow, independently of gradgen."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


#: (function of one argument, its value and its derivative elementwise, by NumPy in stable form)
SATURATING = {
    "sigmoid": (gg.sigmoid, _stable_sigmoid, lambda x: _stable_sigmoid(x) * _stable_sigmoid(-x)),
    "tanh": (gg.tanh, np.tanh, lambda x: 1.0 - np.tanh(x) ** 2),
    "softplus": (gg.softplus, lambda x: np.logaddexp(0.0, x), _stable_sigmoid),
    "log_sigmoid": (lambda x: gg.log(gg.sigmoid(x)), lambda x: -np.logaddexp(0.0, -x),
                    lambda x: _stable_sigmoid(-x)),
    "log_one_minus_sigmoid": (lambda x: gg.log(1.0 - gg.sigmoid(x)), lambda x: -np.logaddexp(0.0, x),
                              lambda x: -_stable_sigmoid(x)),
}


@pytest.mark.parametrize("shape", [(), (5,)], ids=["scalar", "array"])
@pytest.mark.parametrize("name", sorted(SATURATING))
def test_saturating_functions_stay_finite_and_exact_for_large_inputs(name, shape):
    fn, value_of, derivative_of = SATURATING[name]
    points = np.array([-1000.0, -40.0, 0.5, 40.0, 1000.0])
    kernel = gg.value_and_grad(lambda x: gg.sum(fn(x)), backend="python", x=gg.Array(shape))
    for x in ([p for p in points] if shape == () else [points]):
        value, grads = kernel(x)
        np.testing.assert_allclose(value, np.sum(value_of(x)), rtol=1e-12, err_msg=f"value at {x}")
        # Absolute accuracy in the tails: sigmoid'(40) ~ 4e-18 may round to 0.
        np.testing.assert_allclose(grads["x"], derivative_of(x), rtol=1e-12, atol=1e-15, err_msg=f"grad at {x}")


@pytest.mark.parametrize("axis", [0, 1])
def test_logsumexp_and_log_softmax_stay_finite_for_large_inputs(axis):
    x = np.array([[-1000.0, 1000.0, 0.0], [999.0, 1000.0, -5.0]])
    w = np.arange(6.0).reshape(2, 3)
    peak = np.max(x, axis=axis, keepdims=True)
    lse = peak + np.log(np.sum(np.exp(x - peak), axis=axis, keepdims=True))
    softmax = np.exp(x - lse)
    kernel = gg.value_and_grad(lambda x: gg.sum(gg.logsumexp(x, axis=axis)), backend="python", x=gg.Array((2, 3)))
    value, grads = kernel(x)
    np.testing.assert_allclose(value, np.sum(lse), rtol=1e-15)
    np.testing.assert_allclose(grads["x"], softmax, rtol=1e-12, atol=1e-15)
    kernel = gg.value_and_grad(lambda x: gg.sum(gg.log_softmax(x, axis=axis) * w), backend="python",
                               x=gg.Array((2, 3)))
    value, grads = kernel(x)
    np.testing.assert_allclose(value, np.sum((x - lse) * w), rtol=1e-12)
    expected = w - softmax * np.sum(w, axis=axis, keepdims=True)
    np.testing.assert_allclose(grads["x"], expected, rtol=1e-12, atol=1e-12)
