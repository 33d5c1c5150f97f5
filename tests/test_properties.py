"""Property tests: random compositions of ops against NumPy and finite differences.

Hypothesis draws small *programs*: three inputs of random shapes, then a few
steps, each applying one op (elementwise with broadcasting, where, reductions
with axis and keepdims, softmax, matmul, reshape, transpose, slicing and
integer indexing, concatenation, constants) to earlier values. Each program
runs twice: through gradgen (traced, differentiated, compiled to Python) and
through an independent NumPy evaluation written here. The value of every
step must agree, and gradgen's gradient of the weighted sum of all steps must
agree with central finite differences of the NumPy evaluation. Some steps
are "guarded": ``where(a > 0, log(a) * c, b)`` and the like, whose branch not
taken is inf or NaN and must still send back exactly zero.

Points near a kink (relu, abs, maximum, max, where) or a singularity
(division) are skipped with ``assume``, as are values large enough to make
finite differences meaningless.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import gradgen as gg
from gradgen.codegen.python import is_scalar_graph
from gradgen.passes.pipeline import prepare
from gradgen.runtime.interpret import evaluate

Shape = tuple[int, ...]
N_INPUTS = 3


# --- the ops a program may use ----------------------------------------------------------------
@dataclass(frozen=True)
class Rule:
    """How one op of a program runs in gradgen (``dsl``) and in plain NumPy (``ref``).

    ``margin(*arrays, **params)`` is the distance of the operands to the
    op's nearest non-smooth point; a program is only differentiated where
    every margin is at least ``min_margin``.
    """

    dsl: Callable[..., Any]
    ref: Callable[..., Any]
    margin: Callable[..., float] | None = None
    min_margin: float = 0.02


def _distance(x: np.ndarray) -> float:
    """The smallest magnitude in ``x`` (inf for an empty array)."""
    return float(np.min(np.abs(x), initial=np.inf))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    """The logistic function, as its textbook formula."""
    return 1.0 / (1.0 + np.exp(-x))


def _axes(x: np.ndarray, axis: Any) -> tuple[int, ...]:
    """NumPy's ``axis`` argument as a tuple of non-negative axes."""
    if axis is None:
        return tuple(range(x.ndim))
    return tuple(a % x.ndim for a in ((axis,) if isinstance(axis, int) else axis))


def _top_gap(x: np.ndarray, axis: Any) -> float:
    """The smallest gap between the largest and second-largest entries of each reduced group."""
    axes = _axes(x, axis)
    kept = [a for a in range(x.ndim) if a not in axes]
    groups = np.transpose(x, kept + list(axes)).reshape(-1, int(np.prod([x.shape[a] for a in axes], dtype=int)))
    if groups.shape[1] < 2:
        return np.inf
    ordered = np.sort(groups, axis=1)
    return float(np.min(ordered[:, -1] - ordered[:, -2]))


def _ref_logsumexp(x: np.ndarray, axis: Any, keepdims: bool) -> np.ndarray:
    """log(sum(exp(x))), as written (the test inputs are small)."""
    return np.log(np.sum(np.exp(x), axis=axis, keepdims=keepdims))


def _ref_log_softmax(x: np.ndarray, axis: int) -> np.ndarray:
    """x - log(sum(exp(x))) along ``axis``."""
    return x - np.log(np.sum(np.exp(x), axis=axis, keepdims=True))


def _ref_take_along_axis(x: np.ndarray, idx: np.ndarray, axis: int) -> np.ndarray:
    """np.take_along_axis, with length-1 index axes broadcast (as gradgen allows)."""
    shape = tuple(m if i == axis else n for i, (n, m) in enumerate(zip(x.shape, idx.shape)))
    return np.take_along_axis(x, np.broadcast_to(idx, shape), axis)


def _as_array(x: Any) -> Any:
    """``x`` itself, or as a NumPy array when it is a plain number (a constant step), so that
    indexing and ``**`` follow NumPy (Python's ``(-1.0) ** 1.5`` is complex)."""
    return x if isinstance(x, gg.Value) else np.asarray(x)


UNARY = {
    "negative": Rule(lambda x: -x, np.negative),
    "sin": Rule(gg.sin, np.sin),
    "cos": Rule(gg.cos, np.cos),
    "tanh": Rule(gg.tanh, np.tanh),
    "exp": Rule(gg.exp, np.exp),
    "expm1": Rule(gg.expm1, np.expm1),
    "sigmoid": Rule(gg.sigmoid, _sigmoid),
    "softplus": Rule(gg.softplus, lambda x: np.logaddexp(0.0, x)),
    "relu": Rule(gg.relu, lambda x: np.where(x > 0, x, 0.0), lambda x: _distance(x)),
    "abs": Rule(gg.abs, np.abs, lambda x: _distance(x)),
    "square": Rule(lambda x: x**2, lambda x: x * x),
    "cube": Rule(lambda x: x**3.0, lambda x: x * x * x),
    # log and sqrt on arguments kept positive by construction.
    "log": Rule(lambda x: gg.log(x * x + 0.5), lambda x: np.log(x * x + 0.5)),
    "sqrt": Rule(lambda x: gg.sqrt(x * x + 0.5), lambda x: np.sqrt(x * x + 0.5)),
    "log1p": Rule(lambda x: gg.log1p(x * x), lambda x: np.log1p(x * x)),
    "arctan": Rule(gg.arctan, np.arctan),
    "arcsinh": Rule(gg.arcsinh, np.arcsinh),
    "erf": Rule(gg.erf, np.vectorize(math.erf, otypes=[float])),
    "cosh": Rule(gg.cosh, np.cosh),
    # tan, arcsin and log2 on arguments kept inside their domains by construction.
    "tan": Rule(lambda x: gg.tan(gg.tanh(x)), lambda x: np.tan(np.tanh(x))),
    "arcsin": Rule(lambda x: gg.arcsin(0.9 * gg.tanh(x)), lambda x: np.arcsin(0.9 * np.tanh(x))),
    "log2": Rule(lambda x: gg.log2(x * x + 0.5), lambda x: np.log2(x * x + 0.5)),
    "floor": Rule(gg.floor, np.floor, lambda x: _distance(x - np.round(x))),
}

BINARY = {
    "add": Rule(lambda a, b: a + b, np.add),
    "subtract": Rule(lambda a, b: a - b, np.subtract),
    "multiply": Rule(lambda a, b: a * b, np.multiply),
    "divide": Rule(lambda a, b: a / b, np.divide, lambda a, b: _distance(b), min_margin=0.25),
    "power": Rule(lambda a, b: (a * a + 0.5) ** b, lambda a, b: np.exp(b * np.log(a * a + 0.5))),
    "maximum": Rule(gg.maximum, np.maximum, lambda a, b: _distance(a - b)),
    "minimum": Rule(gg.minimum, np.minimum, lambda a, b: _distance(a - b)),
    "hypot": Rule(gg.hypot, np.hypot, lambda a, b: _distance(np.hypot(a, b))),
    "logaddexp": Rule(gg.logaddexp, np.logaddexp),
    # arctan2 jumps across the negative x axis and has no limit at the origin
    "arctan2": Rule(gg.arctan2, np.arctan2, lambda a, b: _distance(np.where(b < 0.0, a, np.hypot(a, b)))),
    "mod": Rule(lambda a, b: a % (b * b + 0.5), lambda a, b: np.mod(a, b * b + 0.5),
                lambda a, b: _distance(a / (b * b + 0.5) - np.round(a / (b * b + 0.5))), min_margin=0.05),
}

WHERE = Rule(lambda a, b, c, d: gg.where(a > b, c, d), lambda a, b, c, d: np.where(a > b, c, d),
             lambda a, b, c, d: _distance(a - b))

#: Functions whose value is inf or NaN for some real arguments (a <= 0 here).
UNSAFE = {
    "log": (gg.log, np.log),
    "sqrt": (gg.sqrt, np.sqrt),
    "reciprocal": (lambda a: 1.0 / a, lambda a: 1.0 / a),
    "power": (lambda a: _as_array(a) ** 1.5, lambda a: a**1.5),
}

#: where(a > 0, unsafe(a) * c, b): the branch not taken is inf or NaN, and must send back exactly 0,
#: through the product with c too. Near a = 0 the branch taken is steep, hence the wide margin.
GUARDED = Rule(lambda a, c, b, unsafe: gg.where(a > 0.0, UNSAFE[unsafe][0](a) * c, b),
               lambda a, c, b, unsafe: np.where(a > 0.0, UNSAFE[unsafe][1](a) * c, b),
               lambda a, c, b, unsafe: _distance(a), min_margin=0.25)

REDUCTIONS = {
    "sum": Rule(gg.sum, np.sum),
    "mean": Rule(gg.mean, np.mean),
    "max": Rule(gg.max, np.max, lambda x, axis, keepdims: _top_gap(x, axis)),
    "min": Rule(gg.min, np.min, lambda x, axis, keepdims: _top_gap(-x, axis)),
    "logsumexp": Rule(gg.logsumexp, _ref_logsumexp),
}

SOFTMAXES = {
    "softmax": Rule(gg.softmax, lambda x, axis: np.exp(_ref_log_softmax(x, axis))),
    "log_softmax": Rule(gg.log_softmax, _ref_log_softmax),
}

STRUCTURAL = {
    "matmul": Rule(lambda a, b: a @ b, np.matmul),
    "reshape": Rule(gg.reshape, np.reshape),
    "transpose": Rule(gg.transpose, np.transpose),
    "broadcast_to": Rule(gg.broadcast_to, lambda x, shape: np.broadcast_to(x, shape)),
    "getitem": Rule(lambda x, index: _as_array(x)[index], lambda x, index: x[index]),
    "take": Rule(lambda x, idx: _as_array(x)[idx], lambda x, idx: x[idx]),
    "take_along_axis": Rule(lambda x, idx, axis: gg.take_along_axis(x, idx, axis), _ref_take_along_axis),
    "concatenate": Rule(lambda *xs, axis: gg.concatenate(xs, axis=axis),
                        lambda *xs, axis: np.concatenate(xs, axis=axis)),
    "stack": Rule(lambda *xs, axis: gg.stack(xs, axis=axis), lambda *xs, axis: np.stack(xs, axis=axis)),
}

#: A constant operand (a number or an array), so that constant folding and the algebraic
#: identities (x * 1, x + 0, x * 0, x ** 1, ...) meet the other ops.
CONSTANT = Rule(lambda value: value, lambda value: np.asarray(value, dtype=float))

RULES = {**UNARY, **BINARY, "where": WHERE, "guarded": GUARDED, **REDUCTIONS, **SOFTMAXES, **STRUCTURAL,
         "constant": CONSTANT}


# --- programs ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Step:
    """Apply ``RULES[op]`` to the earlier values ``args`` with keyword ``params``."""

    op: str
    args: tuple[int, ...]
    params: dict = field(default_factory=dict)

    def __repr__(self) -> str:
        params = "".join(f", {k}={v!r}" for k, v in self.params.items())
        return f"{self.op}({', '.join(f'v{i}' for i in self.args)}{params})"


@dataclass(frozen=True)
class Program:
    """Inputs ``x0, x1, x2`` of the given shapes, then ``steps``; J = sum over steps of sum(value * weight)."""

    shapes: tuple[Shape, ...]
    steps: tuple[Step, ...]
    seed: int

    def draw(self) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Input values in [-2, 2] and one weight array per step."""
        rng = np.random.default_rng(self.seed)
        inputs = [rng.uniform(-2.0, 2.0, shape) for shape in self.shapes]
        shapes = self.value_shapes()[N_INPUTS:]
        return inputs, [rng.normal(size=shape) for shape in shapes]

    def value_shapes(self) -> list[Shape]:
        """The shape of every value: the inputs, then one per step (from NumPy on ones)."""
        values = [np.ones(shape) for shape in self.shapes]
        with np.errstate(all="ignore"):
            for step in self.steps:
                values.append(np.asarray(RULES[step.op].ref(*[values[i] for i in step.args], **step.params)))
        return [v.shape for v in values]

    def run_numpy(self, inputs: list[np.ndarray]) -> tuple[list[np.ndarray], bool]:
        """Every value by the NumPy reference, and whether all margins are respected."""
        values = list(inputs)
        smooth = True
        with np.errstate(all="ignore"):
            for step in self.steps:
                rule = RULES[step.op]
                args = [values[i] for i in step.args]
                if rule.margin is not None:
                    smooth = smooth and rule.margin(*args, **step.params) >= rule.min_margin
                values.append(np.asarray(rule.ref(*args, **step.params), dtype=float))
        return values, smooth

    def loss_numpy(self, inputs: list[np.ndarray], weights: list[np.ndarray]) -> float:
        """J by the NumPy reference."""
        values, _ = self.run_numpy(inputs)
        return float(sum(np.sum(v * w) for v, w in zip(values[N_INPUTS:], weights)))

    def gradgen_values(self, x0: Any, x1: Any, x2: Any) -> list[Any]:
        """Every value, computed with gradgen's DSL (on symbols while tracing)."""
        values = [x0, x1, x2]
        with np.errstate(all="ignore"):  # steps on constants compute at once, with IEEE results
            for step in self.steps:
                values.append(RULES[step.op].dsl(*[values[i] for i in step.args], **step.params))
        return values

    def forward_fn(self) -> Callable:
        """A traceable function returning every step's value."""

        def steps(x0, x1, x2):
            return tuple(self.gradgen_values(x0, x1, x2)[N_INPUTS:])

        return steps

    def loss_fn(self, weights: list[np.ndarray]) -> Callable:
        """A traceable function returning J."""

        def loss(x0, x1, x2):
            values = self.gradgen_values(x0, x1, x2)[N_INPUTS:]
            return sum((gg.sum(v * w) for v, w in zip(values, weights)), 0.0)

        return loss

    @property
    def specs(self) -> dict[str, gg.Array]:
        return {f"x{k}": gg.Array(shape) for k, shape in enumerate(self.shapes)}


# --- drawing programs ---------------------------------------------------------------------------
DIMS = st.integers(1, 3)
SHAPES = st.lists(DIMS, min_size=0, max_size=3).map(tuple)


def _broadcasts(*shapes: Shape) -> bool:
    """True when the shapes broadcast together."""
    try:
        np.broadcast_shapes(*shapes)
    except ValueError:
        return False
    return True


def _axis_argument(draw: Callable, ndim: int) -> Any:
    """None, an int (possibly negative) or a tuple of distinct axes."""
    if ndim == 0:
        return None
    return draw(st.one_of(st.none(), st.integers(-ndim, ndim - 1),
                          st.lists(st.integers(0, ndim - 1), unique=True, max_size=ndim).map(tuple)))


def _shapes_of_size(size: int) -> list[Shape]:
    """Every shape of at most three dimensions holding ``size`` entries."""
    divisors = [d for d in range(1, size + 1) if size % d == 0]
    return [s for k in range(4) for s in itertools.product(divisors, repeat=k)
            if int(np.prod(s, dtype=int)) == size]


def _array(draw: Callable, elements: st.SearchStrategy, shape: Shape, dtype: Any) -> np.ndarray:
    """An array of ``shape`` whose entries are drawn from ``elements``."""
    size = int(np.prod(shape, dtype=int))
    return np.array(draw(st.lists(elements, min_size=size, max_size=size)), dtype=dtype).reshape(shape)


def _index(draw: Callable, shape: Shape) -> tuple:
    """A NumPy basic index for ``shape`` (ints, slices with any step, None) selecting something."""
    items: list[Any] = []
    for n in shape:
        kind = draw(st.sampled_from(["all", "slice", "int"]))
        if kind == "int":
            items.append(draw(st.integers(-n, n - 1)))
        elif kind == "slice":
            bounds = st.one_of(st.none(), st.integers(-n - 1, n))
            item = slice(draw(bounds), draw(bounds), draw(st.sampled_from([None, 1, 2, -1, -2])))
            items.append(item if len(range(*item.indices(n))) else slice(None))
        else:
            items.append(slice(None))
    if draw(st.booleans()):
        items.insert(draw(st.integers(0, len(items))), None)
    return tuple(items)


def _draw_step(draw: Callable, shapes: list[Shape], family: str) -> Step | None:
    """One step of ``family`` on the values of ``shapes``, or None if none fits."""
    pick = lambda candidates: draw(st.sampled_from(candidates)) if candidates else None  # noqa: E731
    everything = list(range(len(shapes)))
    x = pick(everything)
    sx = shapes[x]
    if family == "unary":
        return Step(draw(st.sampled_from(sorted(UNARY))), (x,))
    if family == "binary":
        y = pick([j for j in everything if _broadcasts(sx, shapes[j])])
        return Step(draw(st.sampled_from(sorted(BINARY))), (x, y))
    if family == "where":
        others = [j for j in everything if _broadcasts(sx, shapes[j])]
        args = (x, pick(others), pick(others), pick(others))
        return Step("where", args) if _broadcasts(*[shapes[j] for j in args]) else None
    if family == "guarded":
        others = [j for j in everything if _broadcasts(sx, shapes[j])]
        args = (x, pick(others), pick(others))
        if not _broadcasts(*[shapes[j] for j in args]):
            return None
        return Step("guarded", args, {"unsafe": draw(st.sampled_from(sorted(UNSAFE)))})
    if family == "reduction":
        op = draw(st.sampled_from(sorted(REDUCTIONS)))
        return Step(op, (x,), {"axis": _axis_argument(draw, len(sx)), "keepdims": draw(st.booleans())})
    if family == "softmax":
        if not sx:
            return None
        return Step(draw(st.sampled_from(sorted(SOFTMAXES))), (x,), {"axis": draw(st.integers(-len(sx), len(sx) - 1))})
    if family == "matmul":
        if len(sx) not in (1, 2):
            return None
        y = pick([j for j in everything if len(shapes[j]) in (1, 2) and shapes[j][0] == sx[-1]])
        return None if y is None else Step("matmul", (x, y))
    if family == "reshape":
        shape = draw(st.sampled_from(_shapes_of_size(int(np.prod(sx, dtype=int)))))
        if shape and draw(st.booleans()):
            at = draw(st.integers(0, len(shape) - 1))
            shape = shape[:at] + (-1,) + shape[at + 1:]
        return Step("reshape", (x,), {"shape": shape})
    if family == "transpose":
        return Step("transpose", (x,), {"axes": tuple(draw(st.permutations(range(len(sx)))))})
    if family == "broadcast_to":
        target = tuple(draw(DIMS) if n == 1 else n for n in sx)
        return Step("broadcast_to", (x,), {"shape": (draw(DIMS),) * draw(st.integers(0, 1)) + target})
    if family == "getitem":
        return Step("getitem", (x,), {"index": _index(draw, sx)})
    if family == "take":
        if not sx:
            return None
        indices = draw(st.lists(st.integers(-sx[0], sx[0] - 1), min_size=1, max_size=4))
        return Step("take", (x,), {"idx": np.array(indices, dtype=np.int64)})
    if family == "take_along_axis":
        if not sx:
            return None
        axis = draw(st.integers(0, len(sx) - 1))
        shape = tuple(draw(DIMS) if a == axis else draw(st.sampled_from([1, n])) for a, n in enumerate(sx))
        idx = _array(draw, st.integers(0, sx[axis] - 1), shape, np.int64)
        return Step("take_along_axis", (x,), {"idx": idx, "axis": axis})
    if family == "concatenate":
        if not sx:
            return None
        axis = draw(st.integers(0, len(sx) - 1))
        fits = [j for j in everything if len(shapes[j]) == len(sx)
                and all(m == n for a, (m, n) in enumerate(zip(shapes[j], sx)) if a != axis)]
        return Step("concatenate", (x, pick(fits)), {"axis": axis})
    if family == "constant":
        special = st.sampled_from([0.0, 1.0, -1.0, 2.0, 0.5, -0.25])
        if draw(st.booleans()):
            return Step("constant", (), {"value": draw(special)})
        shape = tuple(draw(st.sampled_from([1, n])) for n in sx)
        return Step("constant", (), {"value": _array(draw, special, shape, float)})
    if family == "stack":
        same = [j for j in everything if shapes[j] == sx]
        return Step("stack", (x, pick(same)), {"axis": draw(st.integers(0, len(sx)))})
    raise ValueError(family)


FAMILIES = ["unary", "binary", "where", "guarded", "reduction", "softmax", "matmul", "reshape", "transpose",
            "broadcast_to", "getitem", "take", "take_along_axis", "concatenate", "stack", "constant"]


@st.composite
def programs(draw: Callable, families: tuple[str, ...] = tuple(FAMILIES), scalar: bool = False) -> Program:
    """A random program over three inputs (scalars only when ``scalar``)."""
    shapes = tuple(() if scalar else draw(SHAPES) for _ in range(N_INPUTS))
    steps: list[Step] = []
    value_shapes = list(shapes)
    for _ in range(draw(st.integers(1, 8))):
        step = _draw_step(draw, value_shapes, draw(st.sampled_from(families)))
        if step is None:
            continue
        steps.append(step)
        value_shapes = Program(shapes, tuple(steps), 0).value_shapes()
    assume(steps)
    return Program(shapes, tuple(steps), draw(st.integers(0, 2**32 - 1)))


# --- checking -------------------------------------------------------------------------------------
def _central_differences(f: Callable[[list[np.ndarray]], float], inputs: list[np.ndarray], k: int,
                         step: float = 1e-4) -> np.ndarray:
    """dJ/d inputs[k] by the fourth-order central stencil. Its error grows as step**4 times the fifth
    derivative: at 1e-3 a chain of powers (x2 ** x1) ** x1 ** ... was off by 3e-6 relative where the
    stencil at 1e-4 and 1e-5 agree with the gradient to 1e-12; rounding at 1e-4 stays near 1e-9."""
    grad = np.zeros(inputs[k].shape)
    for i in range(inputs[k].size):
        samples = []
        for m in (-2, -1, 1, 2):
            shifted = [x.copy() for x in inputs]
            shifted[k].flat[i] += m * step
            samples.append(f(shifted))
        grad.flat[i] = (samples[0] - 8 * samples[1] + 8 * samples[2] - samples[3]) / (12 * step)
    return grad


def _usable(program: Program, inputs: list[np.ndarray]) -> list[np.ndarray]:
    """The NumPy values of ``program``; ``assume`` away kinks, singularities and huge values."""
    values, smooth = program.run_numpy(inputs)
    assume(smooth)
    assume(all(np.all(np.isfinite(v)) and np.all(np.abs(v) < 1e3) for v in values))
    return values


def _assert_close(got: Any, expected: np.ndarray, rtol: float, what: str) -> None:
    """Relative comparison with an absolute floor scaled to the expected values."""
    expected = np.asarray(expected, dtype=float)
    scale = max(1.0, float(np.max(np.abs(expected), initial=0.0)))
    np.testing.assert_allclose(np.asarray(got, dtype=float), expected, rtol=rtol, atol=rtol * scale, err_msg=what)


def check_program(program: Program) -> None:
    """Values of every step against NumPy; value and gradient of J against NumPy and finite differences."""
    inputs, weights = program.draw()
    values = _usable(program, inputs)
    names = [f"x{k}" for k in range(N_INPUTS)]

    traced = gg.trace(program.forward_fn(), program.specs)
    interpreted = evaluate(traced, dict(zip(names, inputs)))
    compiled = gg.compile(program.forward_fn(), backend="python", specs=program.specs)(*inputs)
    compiled = compiled if isinstance(compiled, tuple) else (compiled,)
    for k, (node_id, got, expected) in enumerate(zip(traced.outputs, compiled, values[N_INPUTS:])):
        what = f"step {k}: {program.steps[k]}"
        assert interpreted[node_id].shape == np.shape(got) == expected.shape, what
        _assert_close(interpreted[node_id], expected, 1e-10, f"{what} by the interpreter")
        _assert_close(got, expected, 1e-10, f"{what} by the Python backend")

    loss = program.loss_fn(weights)
    prepare(gg.trace(loss, program.specs), gradient=True, check=True)
    kernel = gg.value_and_grad(loss, backend="python", specs=program.specs)
    value, grads = kernel(*inputs)
    if all(shape == () for shape in program.value_shapes()):
        assert is_scalar_graph(kernel.graph), "an all-scalar program compiles to a plain-float kernel"

    def f(point: list[np.ndarray]) -> float:
        return program.loss_numpy(point, weights)

    _assert_close(value, f(inputs), 1e-10, "J")
    for k, name in enumerate(names):
        expected = _central_differences(f, inputs, k)
        assert np.shape(grads[name]) == inputs[k].shape
        _assert_close(grads[name], expected, 1e-6, f"dJ/d{name}")


@settings(max_examples=400, deadline=None)
@given(programs())
def test_random_programs_match_numpy_and_finite_differences(program):
    check_program(program)


@settings(max_examples=200, deadline=None)
@given(programs(families=("unary", "binary", "where", "guarded", "constant"), scalar=True))
def test_random_scalar_programs_match_numpy_and_finite_differences(program):
    check_program(program)


@settings(max_examples=200, deadline=None)
@given(programs(families=("binary", "reduction", "softmax", "matmul", "reshape", "transpose", "getitem",
                          "take", "take_along_axis", "concatenate", "stack", "broadcast_to", "constant")))
def test_random_array_programs_match_numpy_and_finite_differences(program):
    check_program(program)


def check_program_derivatives(program: Program, backend: str) -> None:
    """Forward mode against reverse mode and second order against differences of the gradient:
    <jvp> = <grad, t>, (H v) = the central difference of the gradient along v, H symmetric and H v = hvp."""
    inputs, weights = program.draw()
    _usable(program, inputs)
    names = [f"x{k}" for k in range(N_INPUTS)]
    loss = program.loss_fn(weights)
    value, grads = gg.value_and_grad(loss, backend="python", specs=program.specs)(*inputs)
    rng = np.random.default_rng(program.seed + 1)
    tangents = {n: rng.normal(size=x.shape) for n, x in zip(names, inputs)}
    pushed_value, pushed = gg.jvp(loss, backend=backend, specs=program.specs)(*inputs, tangents=tangents)
    _assert_close(pushed_value, value, 1e-12, "J by the jvp kernel")
    _assert_close(pushed, sum(np.sum(grads[n] * tangents[n]) for n in names), 1e-9, "<jvp> against <grad, t>")
    _, _, products = gg.hvp(loss, backend=backend, specs=program.specs)(*inputs, tangents=tangents)
    gradient = gg.value_and_grad(loss, backend="python", specs=program.specs)
    h = 1e-5
    plus = gradient(*[x + h * tangents[n] for n, x in zip(names, inputs)])[1]
    minus = gradient(*[x - h * tangents[n] for n, x in zip(names, inputs)])[1]
    for n in names:
        _assert_close(products[n], (plus[n] - minus[n]) / (2 * h), 1e-5, f"(H v) for {n}")
    _, _, H = gg.hessian(loss, backend=backend, specs=program.specs)(*inputs)
    for a in names:
        expected = sum(np.tensordot(H[a][b], tangents[b], axes=np.ndim(tangents[b])) for b in names)
        _assert_close(products[a], expected, 1e-9, f"(H v) for {a} against H")
        for b in names:
            rank_a, rank_b = np.ndim(tangents[a]), np.ndim(tangents[b])
            axes = tuple(range(rank_b, rank_b + rank_a)) + tuple(range(rank_b))
            _assert_close(H[a][b], np.transpose(H[b][a], axes), 1e-9, f"H[{a}][{b}] = H[{b}][{a}].T")


@settings(max_examples=150, deadline=None)
@given(programs())
def test_random_programs_differentiate_forward_and_twice(program):
    check_program_derivatives(program, "python")


@settings(max_examples=12, deadline=None)
@given(programs())
def test_random_programs_differentiate_forward_and_twice_in_c(program):
    check_program_derivatives(program, "c")
