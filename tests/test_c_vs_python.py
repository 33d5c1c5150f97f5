"""The C backend against the Python backend (the reference), and the C backend's runtime promises.

1. Every op of the registry, from the example table of ``test_op_registry``:
   value, forward output and gradient by C and by Python, in float64 (arrays
   and plain scalars) and in float32. Examples are grouped into a few kernels
   (each example has its own inputs and a weight input ``w``, so that
   dJ/dw is the op's forward output); a group that does not build is split
   down to the example that fails.
2. Random programs (hypothesis) through both backends.
3. The seed notebooks' graphs through ``backend="c"`` with their exact numbers.
4. Names: C keywords, quotes, semicolons, comment delimiters, non-ASCII
   letters, and names the generated C or its Python glue use themselves.
5. No compiler at all (in a subprocess): ``backend="c"`` raises, ``"auto"``
   falls back with one warning, ``GRADGEN_BACKEND=c`` acts like ``"c"``.
6. Memory stays flat over many calls.
7. A second process loads the kernel from the disk cache without compiling.
"""

from __future__ import annotations

import gc
import inspect
import json
import os
import subprocess
import sys
import textwrap
import tracemalloc
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

import gradgen as gg
from gradgen.ir.graph import FLOAT_DTYPES
from gradgen.ops.registry import OPS, builtin_ops
from tests.test_op_registry import EXAMPLES, Example
from tests.test_properties import _broadcasts, _index

ROOT = Path(__file__).resolve().parent.parent

#: How closely C and Python agree, by precision.
RTOL = {"float64": 1e-12, "float32": 1e-5}


# --- comparing results -------------------------------------------------------------------------------
def _mismatch(got: Any, expected: Any, rtol: float, scale: float, what: str) -> str | None:
    """None when the C result ``got`` is the Python result ``expected`` (same kind, shape and dtype,
    values equal to ``rtol`` relative with an absolute floor of ``rtol * scale``); else why not."""
    if isinstance(expected, float):
        if type(got) is not float:
            return f"{what}: Python gives a float, C gives {type(got).__name__} {got!r}"
    elif isinstance(expected, np.ndarray):
        if not isinstance(got, np.ndarray) or got.shape != expected.shape:
            return f"{what}: Python gives a {expected.shape} array, C gives {got!r}"
    else:
        return f"{what}: unexpected Python result {expected!r}"
    g, e = np.asarray(got, dtype=float), np.asarray(expected, dtype=float)
    same_nan = np.isnan(g) == np.isnan(e)
    close = np.isclose(g, e, rtol=rtol, atol=rtol * scale) | (np.isnan(g) & np.isnan(e))
    if not (same_nan.all() and close.all()):
        return f"{what}: C {got!r} != Python {expected!r} (rtol {rtol:g}, atol {rtol * scale:g})"
    if isinstance(expected, np.ndarray) and got.dtype != expected.dtype:
        return f"{what}: C gives dtype {got.dtype}, Python {expected.dtype}"
    return None


def _scale(*values: Any) -> float:
    """The largest magnitude among ``values`` (at least 1): the floor of a relative comparison."""
    finite = [np.abs(np.asarray(v, dtype=float)) for v in values]
    return max([1.0] + [float(np.max(v[np.isfinite(v)], initial=0.0)) for v in finite])


def _compare_kernels(c_result: tuple, py_result: tuple, rtol: float, label: str = "",
                     scale: float | None = None, value_scale: float | None = None) -> list[str]:
    """Every mismatch between a C and a Python ``(value, grads)`` result; the absolute floor is
    ``rtol * scale``, by default scaled to each compared value (and for the value at least to
    ``value_scale``)."""
    (value_c, grads_c), (value_py, grads_py) = c_result, py_result
    failures = []
    if list(grads_c) != list(grads_py):
        failures.append(f"{label}gradient keys: C {list(grads_c)}, Python {list(grads_py)}")
    value_scale = max(value_scale or 0.0, scale or _scale(value_py))
    failures.append(_mismatch(value_c, value_py, rtol, value_scale, f"{label}value"))
    for key in grads_py:
        if key in grads_c:
            failures.append(_mismatch(grads_c[key], grads_py[key], rtol, scale or _scale(grads_py[key]),
                                      f"{label}d/d{key}"))
    return [f for f in failures if f]


def _with_parameters(fn: Callable, names: Sequence[str], title: str) -> Callable:
    """``fn`` under another signature: parameters ``names`` (positional), function name ``title``."""

    def renamed(*args):
        return fn(*args)

    renamed.__signature__ = inspect.Signature(
        [inspect.Parameter(n, inspect.Parameter.POSITIONAL_OR_KEYWORD) for n in names])
    renamed.__name__ = title
    return renamed


def _both(fn: Callable, specs: dict[str, gg.Array]) -> tuple[gg.Kernel, gg.Kernel]:
    """``fn``'s value-and-gradient kernels by C and by Python."""
    c = gg.value_and_grad(fn, backend="c", specs=specs)
    py = gg.value_and_grad(fn, backend="python", specs=specs)
    assert (c.backend, py.backend) == ("c", "python")
    return c, py


# --- 1. every op of the registry ---------------------------------------------------------------------
@dataclass(frozen=True)
class Member:
    """One example of one op in a group kernel; its inputs are called ``<tag>_<arg>`` and ``<tag>_w``."""

    tag: str
    op: str
    example: Example

    def output(self) -> tuple[tuple[int, ...], str]:
        """Shape and dtype of the example's result."""
        graph = gg.trace(self.example.fn, self.example.specs)
        assert self.op in {node.op for node in graph.nodes}, f"{self.tag}: the example does not apply {self.op}"
        (out,) = graph.outputs
        return graph.nodes[out].shape, graph.nodes[out].dtype

    def weight_dtype(self, precision: str) -> str:
        dtype = self.output()[1]
        return dtype if dtype in FLOAT_DTYPES else precision


def _variant(op: str, example: Example, kind: str) -> Example | None:
    """The example as it runs in a group of ``kind`` (as the registry tests make their cases)."""
    if kind == "float64":
        return example
    if example.precision != "float64":
        return None
    if kind == "scalar":
        return example.scalar() if OPS[op].elementwise else None
    if kind == "float32":
        return example.float32() if any(arg.dtype == "float64" for arg in example.args.values()) else None
    raise ValueError(kind)


def _members(kind: str) -> list[Member]:
    members = []
    for op in sorted(EXAMPLES):
        for k, original in enumerate(EXAMPLES[op]):
            variant = _variant(op, original, kind)
            if variant is not None:
                members.append(Member(f"{op}_{k}", op, variant))
    return members


#: Examples per group kernel: few enough that a failure is easy to place, enough to keep builds few.
GROUP_SIZE = 16


def _groups(kind: str) -> list[list[Member]]:
    members = _members(kind)
    return [members[k:k + GROUP_SIZE] for k in range(0, len(members), GROUP_SIZE)]


GROUPS = [pytest.param(kind, group, id=f"{kind}-{group[0].tag}..{group[-1].tag}")
          for kind in ("float64", "scalar", "float32") for group in _groups(kind)]


def _group_function(members: Sequence[Member], precision: str) -> tuple[Callable, dict[str, gg.Array]]:
    """J = sum over members of sum(example(args) * w), and its specs."""
    specs: dict[str, gg.Array] = {}
    for m in members:
        specs.update({f"{m.tag}_{a}": arg.spec for a, arg in m.example.args.items()})
        specs[f"{m.tag}_w"] = gg.Array(m.output()[0], m.weight_dtype(precision))

    def ops(*args):
        bound = dict(zip(specs, args))
        total = None
        for m in members:
            out = m.example.fn(*[bound[f"{m.tag}_{a}"] for a in m.example.args])
            w = bound[f"{m.tag}_w"]
            if out.dtype not in FLOAT_DTYPES:
                out = gg.cast(out, w.dtype)
            term = gg.sum(out * w)
            total = term if total is None else total + term
        return total

    return _with_parameters(ops, list(specs), "ops"), specs


def _group_values(members: Sequence[Member], precision: str) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for m in members:
        rng = np.random.default_rng(zlib.crc32(f"c-vs-python {m.tag} {precision}".encode()))
        drawn = {f"{m.tag}_{a}": v for a, v in m.example.draw(rng).items()}
        shape, _ = m.output()
        drawn[f"{m.tag}_w"] = rng.normal(size=shape).astype(m.weight_dtype(precision))
        values.update({k: v.item() if v.shape == () else v for k, v in drawn.items()})
    return values


def _check_group(members: Sequence[Member], precision: str) -> tuple[list[str], set[str]]:
    """Mismatches between C and Python on the group kernel, and the ops in the compiled C graph.

    A group whose kernels fail to build or run is split, down to the single
    example that fails, so one bad op does not hide the others.
    """
    try:
        fn, specs = _group_function(members, precision)
        c, py = _both(fn, specs)
        values = _group_values(members, precision)
        c_result, py_result = c(**values), py(**values)
        compiled = {node.op for node in c.graph.nodes}
    except Exception as error:  # noqa: BLE001 - reported, with the example it comes from
        if len(members) == 1:
            return [f"{members[0].tag}: {_describe(error)}"], set()
        half = len(members) // 2
        (f1, o1), (f2, o2) = _check_group(members[:half], precision), _check_group(members[half:], precision)
        return f1 + f2, o1 | o2
    # J sums one term per member: its rounding is relative to the sum of their magnitudes.
    terms = sum(float(np.sum(np.abs(np.asarray(values[f"{m.tag}_w"], dtype=float)
                                    * np.asarray(py_result[1][f"{m.tag}_w"], dtype=float)))) for m in members)
    failures = _compare_kernels(c_result, py_result, RTOL[precision], value_scale=terms)
    return failures, compiled


def _describe(error: Exception) -> str:
    """The error's type and first line, and for a compiler failure the compiler's error lines."""
    text = f"{type(error).__name__}: {(str(error).splitlines() or [''])[0]}"
    output = getattr(error, "output", None) or ""
    errors = [line.split(": error: ", 1)[1] for line in output.splitlines() if ": error: " in line]
    return text + "".join(f"\n    compiler: {line}" for line in errors[:3])


def _precision(kind: str) -> str:
    return "float32" if kind == "float32" else "float64"


@pytest.mark.parametrize("kind, members", GROUPS)
def test_registry_ops_agree_between_c_and_python(kind, members):
    failures, _ = _check_group(members, _precision(kind))
    assert not failures, "\n".join(failures)


def test_every_registry_op_is_in_a_group_and_reaches_the_c_backend():
    """Every op of the registry has an example in the groups above, and every op that survives
    the passes appears in some compiled C graph (the C kernels really exercise it)."""
    assert set(EXAMPLES) == set(builtin_ops())
    compiled: set[str] = set()
    traced: set[str] = set()
    for kind in ("float64", "scalar"):
        for group in _groups(kind):
            _, ops = _check_group(group, _precision(kind))
            compiled |= ops
            # Forward-only kernels too: with gradients, sigmoid and softplus of one argument are
            # written out to share exp(-|z|) (passes/lower.py), so their own C spellings run here.
            fn, specs = _group_function(group, _precision(kind))
            forward = gg.compile(fn, backend="c", specs=specs)
            compiled |= {node.op for node in forward.graph.nodes}
            for m in group:
                fn, specs = _group_function([m], _precision(kind))
                traced |= {node.op for node in gg.value_and_grad(fn, backend="python", specs=specs).graph.nodes}
    assert traced - compiled == set(), "ops the Python kernels run but no C kernel does"
    assert {m.op for kind in ("float64", "scalar", "float32") for m in _members(kind)} == set(builtin_ops())


# --- 2. random programs --------------------------------------------------------------------------------
Shape = tuple[int, ...]
N_INPUTS = 3

UNARY: dict[str, Callable] = {
    "negative": lambda x: -x,
    "sin": gg.sin,
    "cos": gg.cos,
    "tanh": gg.tanh,
    "exp": gg.exp,
    "expm1": gg.expm1,
    "sigmoid": gg.sigmoid,
    "softplus": gg.softplus,
    "relu": gg.relu,
    "abs": gg.abs,
    "square": lambda x: x * x,
    "cube": lambda x: x**3.0,
    "affine": lambda x: 2.5 * x - 1.0,
    # log and sqrt of arguments kept positive by construction
    "log": lambda x: gg.log(x * x + 0.5),
    "sqrt": lambda x: gg.sqrt(x * x + 0.5),
    "log1p": lambda x: gg.log1p(x * x),
    "arctan": gg.arctan,
    "arcsinh": gg.arcsinh,
    "erf": gg.erf,
    "cosh": gg.cosh,
    "tan": lambda x: gg.tan(gg.tanh(x)),
    "arcsin": lambda x: gg.arcsin(0.9 * gg.tanh(x)),
    "log2": lambda x: gg.log2(x * x + 0.5),
    "floor": gg.floor,
}

BINARY: dict[str, Callable] = {
    "add": lambda a, b: a + b,
    "subtract": lambda a, b: a - b,
    "multiply": lambda a, b: a * b,
    "divide": lambda a, b: a / b,
    "power": lambda a, b: (a * a + 0.5) ** b,
    "maximum": gg.maximum,
    "minimum": gg.minimum,
    "hypot": gg.hypot,
    "logaddexp": gg.logaddexp,
    "arctan2": gg.arctan2,
    "mod": lambda a, b: a % (b * b + 0.5),
}

REDUCTIONS = ("sum", "mean", "max", "min", "logsumexp")
SOFTMAXES = ("softmax", "log_softmax")


@dataclass(frozen=True)
class Step:
    """Apply ``op`` to the earlier values ``args`` (inputs first) with ``params``."""

    op: str
    args: tuple[int, ...]
    params: dict = field(default_factory=dict)

    def __repr__(self) -> str:
        params = "".join(f", {k}={v!r}" for k, v in self.params.items())
        return f"{self.op}({', '.join(f'v{i}' for i in self.args)}{params})"

    def apply(self, values: Sequence[Any]) -> Any:
        """The step on gradgen values, or on NumPy arrays (gg functions take both)."""
        a = [values[i] for i in self.args]
        op, p = self.op, self.params
        if op in UNARY:
            return UNARY[op](*a)
        if op in BINARY:
            return BINARY[op](*a)
        if op == "where":
            return gg.where(a[0] > a[1], a[2], a[3])
        if op in REDUCTIONS:
            return getattr(gg, op)(a[0], axis=p["axis"], keepdims=p["keepdims"])
        if op in SOFTMAXES:
            return getattr(gg, op)(a[0], axis=p["axis"])
        if op == "matmul":
            x, y = a
            return (x.T if p["ta"] else x) @ (y.T if p["tb"] else y)
        if op == "reshape":
            return gg.reshape(a[0], p["shape"])
        if op == "transpose":
            return gg.transpose(a[0], p["axes"])
        if op == "getitem":
            return a[0][p["index"]]
        if op == "concatenate":
            return gg.concatenate(a, axis=p["axis"])
        if op == "stack":
            return gg.stack(a, axis=p["axis"])
        if op == "broadcast_to":
            return gg.broadcast_to(a[0], p["shape"])
        if op == "take":
            return a[0][p["idx"]]
        if op == "take_along_axis":
            return gg.take_along_axis(a[0], p["idx"], axis=p["axis"])
        raise ValueError(op)


#: How a step's value enters J: not at all, times a constant weight, or times a weight input
#: (whose gradient is then the value itself, so the forward value is compared elementwise).
SKIPPED, CONSTANT, WEIGHTED = 0, 1, 2


@dataclass(frozen=True)
class Program:
    """Inputs x0, x1, x2, then ``steps``; J = sum over the steps k of sum(v_k * c_k) (``use[k]`` is
    CONSTANT, c_k drawn from ``seed``) or sum(v_k * W_k) (WEIGHTED, W_k an input) ."""

    shapes: tuple[Shape, ...]
    steps: tuple[Step, ...]
    use: tuple[int, ...]
    seed: int

    def value_shapes(self) -> list[Shape]:
        values: list[Any] = [np.ones(s) for s in self.shapes]
        with np.errstate(all="ignore"):
            for step in self.steps:
                values.append(np.asarray(step.apply(values)))
        return [np.shape(v) for v in values]

    def run(self, *inputs: Any) -> list[Any]:
        values = list(inputs)
        for step in self.steps:
            values.append(step.apply(values))
        return values

    def forward(self, every_step: bool = True) -> Callable:
        """A function returning the value of every step, or of the steps not SKIPPED."""
        kept = [k for k, use in enumerate(self.use) if every_step or use != SKIPPED]

        def steps(x0, x1, x2):
            values = self.run(x0, x1, x2)[N_INPUTS:]
            return tuple(values[k] for k in kept)

        return steps

    @property
    def weighted(self) -> list[int]:
        return [k for k, use in enumerate(self.use) if use == WEIGHTED]

    def loss(self) -> Callable:
        rng = np.random.default_rng(self.seed)
        constants = [rng.normal(size=s) for s in self.value_shapes()[N_INPUTS:]]

        def loss(x0, x1, x2, *weights):
            values = self.run(x0, x1, x2)[N_INPUTS:]
            W = dict(zip(self.weighted, weights))
            terms = [gg.sum(v * (W[k] if use == WEIGHTED else constants[k]))
                     for k, (v, use) in enumerate(zip(values, self.use)) if use != SKIPPED]
            return sum(terms[1:], terms[0])

        return _with_parameters(loss, list(self.specs), "loss")

    @property
    def specs(self) -> dict[str, gg.Array]:
        shapes = self.value_shapes()[N_INPUTS:]
        specs = {f"x{k}": gg.Array(s) for k, s in enumerate(self.shapes)}
        specs.update({f"W{k}": gg.Array(shapes[k]) for k in self.weighted})
        return specs

    def draw(self) -> list[np.ndarray]:
        """Inputs in [-2, 2], weights normal."""
        rng = np.random.default_rng(self.seed + 1)
        return [rng.uniform(-2.0, 2.0, spec.shape) if name.startswith("x") else rng.normal(size=spec.shape)
                for name, spec in self.specs.items()]


def _shapes_of_size(size: int) -> list[Shape]:
    divisors = [d for d in range(1, size + 1) if size % d == 0]
    shapes = [()] if size == 1 else []
    shapes += [(size,)] + [(a, size // a) for a in divisors] + [(a, b, size // (a * b)) for a in divisors
                                                                for b in divisors if size % (a * b) == 0]
    return shapes


def _draw_step(draw: Callable, shapes: list[Shape], family: str) -> Step | None:
    """One step of ``family`` on values of ``shapes``, or None when none fits."""
    everything = list(range(len(shapes)))
    # Later values more often, so that steps build on each other.
    x = draw(st.one_of(st.sampled_from(everything), st.sampled_from(everything[-2:])))
    sx = shapes[x]
    pick = lambda candidates: draw(st.sampled_from(candidates)) if candidates else None  # noqa: E731
    fits = [j for j in everything if _broadcasts(sx, shapes[j])]
    if family == "unary":
        return Step(draw(st.sampled_from(sorted(UNARY))), (x,))
    if family == "binary":
        return Step(draw(st.sampled_from(sorted(BINARY))), (x, pick(fits)))
    if family == "where":
        args = (x, pick(fits), pick(fits), pick(fits))
        return Step("where", args) if _broadcasts(*[shapes[j] for j in args]) else None
    if family == "reduction":
        n = len(sx)
        axis = None if n == 0 else draw(st.one_of(
            st.none(), st.integers(-n, n - 1), st.lists(st.integers(0, n - 1), unique=True, max_size=n).map(tuple)))
        return Step(draw(st.sampled_from(REDUCTIONS)), (x,), {"axis": axis, "keepdims": draw(st.booleans())})
    if family == "softmax":
        if not sx:
            return None
        return Step(draw(st.sampled_from(SOFTMAXES)), (x,), {"axis": draw(st.integers(-len(sx), len(sx) - 1))})
    if family == "matmul":
        options = []
        for j in everything:
            for ta in (False, True):
                for tb in (False, True):
                    a, b = shapes[x], shapes[j]
                    if len(a) not in (1, 2) or len(b) not in (1, 2) or (ta and len(a) < 2) or (tb and len(b) < 2):
                        continue
                    a, b = (a[::-1] if ta else a), (b[::-1] if tb else b)
                    if a[-1] == b[0]:
                        options.append((j, ta, tb))
        if not options:
            return None
        j, ta, tb = draw(st.sampled_from(options))
        return Step("matmul", (x, j), {"ta": ta, "tb": tb})
    if family == "reshape":
        shape = draw(st.sampled_from(_shapes_of_size(int(np.prod(sx, dtype=int)))))
        if shape and draw(st.booleans()):
            at = draw(st.integers(0, len(shape) - 1))
            shape = shape[:at] + (-1,) + shape[at + 1:]
        return Step("reshape", (x,), {"shape": shape})
    if family == "transpose":
        return Step("transpose", (x,), {"axes": tuple(draw(st.permutations(range(len(sx)))))})
    if family == "getitem":
        return Step("getitem", (x,), {"index": _index(draw, sx)})
    if family == "concatenate":
        if not sx:
            return None
        axis = draw(st.integers(0, len(sx) - 1))
        same = [j for j in everything if len(shapes[j]) == len(sx)
                and all(m == n for a, (m, n) in enumerate(zip(shapes[j], sx)) if a != axis)]
        return Step("concatenate", (x, pick(same)), {"axis": axis})
    if family == "stack":
        same = [j for j in everything if shapes[j] == sx]
        return Step("stack", (x, pick(same)), {"axis": draw(st.integers(0, len(sx)))})
    if family == "broadcast_to":
        target = tuple(draw(st.integers(1, 3)) if n == 1 else n for n in sx)
        return Step("broadcast_to", (x,), {"shape": (draw(st.integers(1, 3)),) * draw(st.integers(0, 1)) + target})
    if family == "take":  # integer indexing with a constant index array, repeats and negatives included
        if not sx:
            return None
        idx = draw(st.lists(st.integers(-sx[0], sx[0] - 1), min_size=1, max_size=4))
        return Step("take", (x,), {"idx": np.array(idx, dtype=np.int64)})
    if family == "take_along_axis":
        if not sx:
            return None
        axis = draw(st.integers(0, len(sx) - 1))
        shape = tuple(draw(st.integers(1, 3)) if a == axis else draw(st.sampled_from([1, n]))
                      for a, n in enumerate(sx))
        size = int(np.prod(shape, dtype=int))
        idx = draw(st.lists(st.integers(0, sx[axis] - 1), min_size=size, max_size=size))
        return Step("take_along_axis", (x,), {"idx": np.array(idx, dtype=np.int64).reshape(shape), "axis": axis})
    raise ValueError(family)


ARRAY_FAMILIES = ("unary", "unary", "binary", "binary", "where", "reduction", "softmax", "matmul", "reshape",
                  "transpose", "getitem", "concatenate", "stack", "broadcast_to", "take", "take_along_axis")
SCALAR_FAMILIES = ("unary", "binary", "where")


@st.composite
def programs(draw: Callable, scalar: bool = False) -> Program:
    if scalar:
        shapes: tuple[Shape, ...] = ((),) * N_INPUTS
    else:
        base = tuple(draw(st.lists(st.integers(1, 3), max_size=3)))
        shapes = tuple(tuple(draw(st.sampled_from([1, n])) for n in base[draw(st.integers(0, len(base))):])
                       for _ in range(N_INPUTS))
    families = SCALAR_FAMILIES if scalar else ARRAY_FAMILIES
    steps: list[Step] = []
    value_shapes = list(shapes)
    for _ in range(draw(st.integers(1, 6))):
        step = _draw_step(draw, value_shapes, draw(st.sampled_from(families)))
        if step is None:
            continue
        steps.append(step)
        value_shapes = Program(shapes, tuple(steps), (SKIPPED,) * len(steps), 0).value_shapes()
    assume(steps)
    use = tuple(draw(st.sampled_from([SKIPPED, CONSTANT, WEIGHTED])) for _ in steps[:-1]) + (WEIGHTED,)
    return Program(shapes, tuple(steps), use, draw(st.integers(0, 2**31)))


#: Operands closer than this (relative) to a kink or a tie would let one rounding decide the branch.
NEAR = 1e-9


def _near(distance: Any, scale: Any = 1.0) -> bool:
    """True if some entry of ``distance`` is nonzero but tiny: exact ties and zeros are fine (both
    backends follow the same convention there); near ones are not."""
    d = np.abs(np.asarray(distance, dtype=float))
    return bool(np.any((d > 0) & (d < NEAR * np.maximum(1.0, np.abs(scale)))))


def _top_gaps(x: np.ndarray, axis: Any) -> np.ndarray:
    """For each group a max/min reduction takes, the gap between its largest two entries."""
    axes = tuple(range(x.ndim)) if axis is None else tuple(a % x.ndim for a in np.atleast_1d(axis))
    kept = [a for a in range(x.ndim) if a not in axes]
    groups = np.transpose(x, kept + list(axes)).reshape(-1, int(np.prod([x.shape[a] for a in axes], dtype=int)))
    if groups.shape[1] < 2:
        return np.zeros(0)
    ordered = np.sort(groups, axis=1)
    return ordered[:, -1] - ordered[:, -2]


def _smooth(step: Step, values: Sequence[np.ndarray]) -> bool:
    """True when the step's operands are away from its kinks and singularities."""
    a = [np.asarray(values[i], dtype=float) for i in step.args]
    if step.op in ("relu", "abs"):
        return not _near(a[0])
    if step.op in ("maximum", "minimum"):
        return not _near(a[0] - a[1], np.maximum(np.abs(a[0]), np.abs(a[1])))
    if step.op == "where":
        return not _near(a[0] - a[1], np.maximum(np.abs(a[0]), np.abs(a[1])))
    if step.op == "divide":
        return bool(np.all(np.abs(a[1]) > 1e-3))
    if step.op in ("max", "min"):
        return not _near(_top_gaps(a[0] if step.op == "max" else -a[0], step.params["axis"]), np.max(np.abs(a[0])))
    return True


def _usable_values(program: Program, inputs: list[np.ndarray]) -> list[np.ndarray]:
    """Every value of ``program`` (by the Python backend); ``assume`` away kinks, ties and overflow."""
    x_specs = {name: spec for name, spec in program.specs.items() if name.startswith("x")}
    forward = gg.compile(program.forward(), backend="python", specs=x_specs)
    with np.errstate(all="ignore"):
        steps = forward(*inputs[:N_INPUTS])
    steps = list(steps) if isinstance(steps, tuple) else [steps]
    values = inputs[:N_INPUTS] + [np.asarray(v, dtype=float) for v in steps]
    assume(all(np.all(np.isfinite(v)) and np.all(np.abs(v) < 1e6) for v in values))
    assume(all(_smooth(step, values) for step in program.steps))
    return values


def check_program(program: Program) -> None:
    """J and its gradient (which holds the values of the WEIGHTED steps) by C and by Python."""
    inputs = program.draw()
    values = _usable_values(program, inputs)
    loss = program.loss()
    py = gg.value_and_grad(loss, backend="python", specs=program.specs)
    with np.errstate(all="ignore"):
        py_result = py(*inputs)
    assume(all(np.all(np.isfinite(v)) for v in (py_result[0], *py_result[1].values())))
    c = gg.value_and_grad(loss, backend="c", specs=program.specs)
    assert c.backend == "c"
    c_result = c(*inputs)
    scale = _scale(py_result[0], *py_result[1].values(), *values)
    failures = _compare_kernels(c_result, py_result, RTOL["float64"], scale=scale)
    assert not failures, f"{program}\n" + "\n".join(failures)
    assert c.unchecked(*inputs)[0] == c_result[0]


def check_forward_program(program: Program) -> None:
    """The values of the steps not SKIPPED (the others stay inside the kernel) by a forward-only
    C kernel with one output each, against Python."""
    inputs = program.draw()[:N_INPUTS]
    values = _usable_values(program, inputs)
    specs = {name: spec for name, spec in program.specs.items() if name.startswith("x")}
    c = gg.compile(program.forward(every_step=False), backend="c", specs=specs)
    py = gg.compile(program.forward(every_step=False), backend="python", specs=specs)
    got, expected = c(*inputs), py(*inputs)
    got, expected = (got, expected) if isinstance(expected, tuple) else ((got,), (expected,))
    kept = [(k, step) for k, (step, use) in enumerate(zip(program.steps, program.use)) if use != SKIPPED]
    assert len(got) == len(expected) == len(kept)
    scale = _scale(*values)
    failures = [_mismatch(g, e, RTOL["float64"], scale, f"step {k}: {step}")
                for g, e, (k, step) in zip(got, expected, kept)]
    failures = [f for f in failures if f]
    assert not failures, f"{program}\n" + "\n".join(failures)


_HYPOTHESIS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


@settings(max_examples=16, **_HYPOTHESIS)
@given(programs())
# Programs hypothesis found, kept as regressions: a scalar read as an array twice (stack of x with
# itself); a broadcast output of a value the C emitter recomputes instead of storing.
@example(Program(((1, 1, 1), (1, 1), ()), (Step("stack", (2, 2), {"axis": 0}),), (WEIGHTED,), 0))
@example(Program(((2,), (2,), (2,)), (Step("affine", (0,)), Step("broadcast_to", (3,), {"shape": (3, 2)})),
                 (CONSTANT, WEIGHTED), 0))
@example(Program(((), (1,), (1,)), (Step("abs", (0,)), Step("take", (1,), {"idx": np.array([0])})), (0, 2), 0))
def test_random_array_programs_agree_between_c_and_python(program):
    check_program(program)


@settings(max_examples=8, **_HYPOTHESIS)
@given(programs())
# Found by hand, kept as a regression: an output that is a broadcast of a value never stored.
@example(Program(((2,), (2,), (2,)), (Step("affine", (0,)), Step("broadcast_to", (3,), {"shape": (3, 2)})),
                 (SKIPPED, WEIGHTED), 0))
def test_random_forward_programs_agree_between_c_and_python(program):
    check_forward_program(program)


@settings(max_examples=8, **_HYPOTHESIS)
@given(programs(scalar=True))
def test_random_scalar_programs_agree_between_c_and_python(program):
    check_program(program)


# --- 3. the seeds through C -----------------------------------------------------------------------------
def _seed0_square(w):
    a = 2 + 3 * w
    J = a**2
    return J


def _seed0_cost(w, b, x, y):
    c = w * x
    a = c + b
    d = a - y
    J = d**2 / 2
    return J


def _seed2_network(x, y, w1, b1, w2, b2):
    a1 = w1 * x + b1
    activated_a1 = gg.relu(a1)
    a2 = w2 * activated_a1 + b2
    activated_a2 = gg.relu(a2)
    J = 0.5 * (activated_a2 - y) ** 2
    return J


def _seed4_logistic(w, b, X, y):
    Z = X @ w + b
    a = gg.sigmoid(Z)
    losses = -y * gg.log(a) - (1 - y) * gg.log(1 - a)
    L = gg.sum(losses)
    return L


def _seed4_notebook_formula(w, b, X, y):
    Z = X @ w + b
    a = 1 / (1 + gg.exp(-Z))
    L = -y * gg.log(a) - (1 - y) * gg.log(1 - a)
    return gg.sum(L)


def test_seed0_square_of_affine_through_c():
    kernel = gg.value_and_grad(_seed0_square, backend="c")
    assert kernel(3.0) == (121.0, {"w": 66.0})
    assert kernel.backend == "c"
    assert kernel(-1.0) == (1.0, {"w": -6.0})


@pytest.mark.parametrize("values, expected", [
    ({"w": -2.0, "b": 8.0, "x": 2.0, "y": 1.0}, (4.5, {"w": 6.0, "b": 3.0, "x": -6.0, "y": -3.0})),
    ({"w": 2.0, "b": 8.0, "x": -2.0, "y": 2.0}, (2.0, {"w": -4.0, "b": 2.0, "x": 4.0, "y": -2.0})),
])
def test_seed0_graph_through_c(values, expected):
    kernel = gg.value_and_grad(_seed0_cost, backend="c")
    assert kernel(**values) == expected
    assert kernel.backend == "c"
    only = gg.value_and_grad(_seed0_cost, wrt=["w", "b"], backend="c")
    assert only(**values) == (expected[0], {"w": expected[1]["w"], "b": expected[1]["b"]})
    assert gg.grad(_seed0_cost, wrt=["w", "b"], backend="c")(**values) == {"w": expected[1]["w"],
                                                                           "b": expected[1]["b"]}


def test_seed2_relu_network_through_c():
    kernel = gg.value_and_grad(_seed2_network, wrt=["w1", "b1", "w2", "b2"], backend="c")
    assert kernel(x=1.0, y=5.0, w1=2.0, b1=0.0, w2=3.0, b2=1.0) == (2.0, {"w1": 6.0, "b1": 6.0, "w2": 4.0, "b2": 2.0})
    assert kernel.backend == "c"
    forward = gg.compile(_seed2_network, backend="c")
    assert forward(1.0, 5.0, 2.001, 0.0, 3.0, 1.0) == pytest.approx(2.0060045, rel=1e-12)


SEED4 = {"w": np.array([0.1, 0.2]), "b": 0.1, "X": np.array([[0.1, 0.2], [0.4, 0.5], [0.5, 0.3]]),
         "y": np.array([0.0, 1.0, 0.0])}


@pytest.mark.parametrize("fn", [_seed4_logistic, _seed4_notebook_formula], ids=["sigmoid", "notebook_formula"])
def test_seed4_logistic_regression_through_c(fn):
    kernel = gg.value_and_grad(fn, wrt=["w", "b"], backend="c")
    L, grads = kernel(**SEED4)
    assert kernel.backend == "c"
    assert list(grads) == ["w", "b"]
    assert str(grads["w"]) == "[0.1537824  0.05303517]"
    a = 1 / (1 + np.exp(-(SEED4["X"] @ SEED4["w"] + SEED4["b"])))
    np.testing.assert_allclose(grads["w"], SEED4["X"].T @ (a - SEED4["y"]), rtol=1e-12)
    assert abs(grads["b"] - 0.6494514041852678) < 1e-12
    assert L == pytest.approx(np.sum(-SEED4["y"] * np.log(a) - (1 - SEED4["y"]) * np.log(1 - a)), rel=1e-12)
    # The stable forms hold in C too: huge logits give finite, exact results.
    L, grads = kernel(np.array([1000.0]), 0.0, np.ones((4, 1)), np.array([0.0, 1.0, 1.0, 0.0]))
    assert L == 2000.0
    assert grads["w"][0] == grads["b"] == 2.0


def test_gradgen_backend_overrides_auto_and_not_an_explicit_backend(monkeypatch):
    monkeypatch.setenv("GRADGEN_BACKEND", "c")
    kernel = gg.value_and_grad(_seed0_square)  # "auto" by default
    assert (kernel.backend, kernel(3.0)) == ("c", (121.0, {"w": 66.0}))
    assert gg.value_and_grad(_seed0_square, backend="python").backend == "python"
    monkeypatch.setenv("GRADGEN_BACKEND", "python")
    kernel = gg.value_and_grad(_seed4_logistic, wrt=["w", "b"], backend="auto")
    assert abs(kernel(**SEED4)[1]["b"] - 0.6494514041852678) < 1e-12
    assert kernel.backend == "python"
    kernel = gg.value_and_grad(_seed4_logistic, wrt=["w", "b"], backend="c")
    assert abs(kernel(**SEED4)[1]["b"] - 0.6494514041852678) < 1e-12
    assert kernel.backend == "c"


# --- 4. names --------------------------------------------------------------------------------------------
def _keyword_nodes(double, auto):
    int_ = gg.name(double * auto, "int")
    ret = gg.name(int_ + 1.0, "return")
    quoted = gg.name(ret * 2.0, 'a"b;c')
    umlaut = gg.name(quoted - 1.0, "ü")
    semicolon = gg.name(umlaut * umlaut, "x; return 0;")
    return gg.sum(semicolon)


@pytest.mark.parametrize("shape", [(), (3,)], ids=["scalar", "array"])
def test_node_names_that_are_c_keywords_or_hold_quotes_semicolons_non_ascii(shape):
    rng = np.random.default_rng(4)
    d, a = (rng.uniform(-2, 2, shape) for _ in range(2))
    d, a = (v.item() if shape == () else v for v in (d, a))
    kernel = gg.value_and_grad(_keyword_nodes, backend="c", double=gg.Array(shape), auto=gg.Array(shape))
    J, grads = kernel(d, a)
    u = 2 * (np.asarray(d) * a + 1) - 1
    assert J == pytest.approx(np.sum(u * u), rel=1e-14)
    np.testing.assert_allclose(grads["double"], 4 * u * a, rtol=1e-14)
    np.testing.assert_allclose(grads["auto"], 4 * u * d, rtol=1e-14)
    py = gg.value_and_grad(_keyword_nodes, backend="python", double=gg.Array(shape), auto=gg.Array(shape))
    assert not _compare_kernels((J, grads), py(d, a), 1e-12)


def _c_keyword_parameters(double, auto, int_, char, ü, register):
    return gg.sum(gg.exp(double * 0.5) * auto + int_ * char) - ü * register


def test_parameter_names_that_are_c_keywords_or_non_ascii():
    specs = {"double": gg.Array((2, 3)), "auto": gg.Array((3,)), "int_": gg.Array((2, 1)), "char": gg.Scalar(),
             "ü": gg.Scalar(), "register": gg.Scalar()}
    c, py = _both(_c_keyword_parameters, specs)
    rng = np.random.default_rng(5)
    values = {"double": rng.normal(size=(2, 3)), "auto": rng.normal(size=3), "int_": rng.normal(size=(2, 1)),
              "char": 0.5, "ü": -1.5, "register": 2.0}
    J, grads = c(**values)
    assert list(grads) == list(specs)
    expected = np.sum(np.exp(values["double"] * 0.5) * values["auto"] + values["int_"] * 0.5) * 1.0 + 3.0
    assert J == pytest.approx(expected, rel=1e-13)
    assert grads["ü"] == -2.0 and grads["register"] == 1.5
    assert not _compare_kernels((J, grads), py(**values), 1e-12)


#: Names for nodes and outputs: keywords of C and Python, quotes, semicolons, comment delimiters,
#: newlines, backslashes, a trigraph, non-ASCII letters.
ODD_NAMES = ["for", "int", 'a"b;c', "ü", "*/ x /*", "a\nb", "back\\", "??/", "J'", "x; return 0;", "double"]
#: All of it in one output name.
WORST_NAME = "J\"; */ ü\n\\ ??/ 'for"


def _odd_chain(x, y, output_name):
    h = gg.name(gg.exp(x) * y, ODD_NAMES[0])
    for name in ODD_NAMES[1:]:
        h = gg.name(h + 0.125, name)
    return gg.name(gg.sum(h * h), output_name)


@pytest.mark.parametrize("output_name", ["for", WORST_NAME], ids=["keyword", "worst"])
@pytest.mark.parametrize("shape, x", [((), 0.3), ((3,), np.array([-1.0, 0.0, 1.0]))], ids=["scalar", "array"])
def test_odd_node_and_output_names(shape, x, output_name):
    def fn(x, y):
        return _odd_chain(x, y, output_name)

    c = gg.value_and_grad(fn, backend="c", x=gg.Array(shape))
    J, grads = c(x, 0.5)
    e = np.exp(x)
    h = e * 0.5 + 0.125 * (len(ODD_NAMES) - 1)
    assert J == pytest.approx(np.sum(h * h), rel=1e-14)
    np.testing.assert_allclose(grads["x"], 2 * h * e * 0.5, rtol=1e-14)
    assert grads["y"] == pytest.approx(np.sum(2 * h * e), rel=1e-14)
    py = gg.value_and_grad(fn, backend="python", x=gg.Array(shape))
    assert not _compare_kernels((J, grads), py(x, 0.5), 1e-12)


@pytest.mark.parametrize("shape, x", [((), 0.3), ((3,), np.array([-1.0, 0.0, 1.0]))], ids=["scalar", "array"])
def test_odd_output_names_of_forward_kernels(shape, x):
    def fn(x):
        return tuple(gg.name(gg.exp(x) * (k + 1.0), name) for k, name in enumerate([*ODD_NAMES, WORST_NAME]))

    c = gg.compile(fn, backend="c", x=gg.Array(shape))
    got = c(x)
    assert len(got) == len(ODD_NAMES) + 1
    for k, value in enumerate(got):
        np.testing.assert_allclose(value, np.exp(x) * (k + 1.0), rtol=1e-15)
    expected = gg.compile(fn, backend="python", x=gg.Array(shape))(x)
    assert not [f for k, (g, e) in enumerate(zip(got, expected)) if (f := _mismatch(g, e, 1e-12, 1.0, f"out{k}"))]


def _c_identifiers(r, p, c, a_rp, b, x, J_acc, a_i, j, o, t, idx, s, i, work, out0, i0, main, exp,  # noqa: N803
                   INFINITY, size_t, rc, gg_sigmoid, gg_maximum, GG_KERNEL):
    """Parameter and node names that the generated C uses for itself."""
    t1 = gg.sum(r @ p) + gg.sum(c @ p) + gg.sum(b @ a_rp)  # matmul loop variables and locals
    t2 = gg.name(gg.sum(x * 2.0), "J") * J_acc  # a reduction's accumulator
    t3 = gg.sum(gg.name(gg.exp(x), "a") * a_i)  # a loop member's local
    k = gg.name(gg.sum(r, axis=0), "k")  # the index of initialising loops
    t4 = gg.sum(gg.exp(k) * k[::-1])
    t5 = gg.sum(gg.name(c @ p, "q") ** 2)  # the index of a product's zeroing loop
    t6 = gg.sum(j[idx] ** 2) + gg.sum(o[idx] * t)  # the locals of take
    t7 = gg.sum(s * i + work) * out0 + i0 * main * exp * INFINITY * size_t * rc  # reserved words
    t8 = gg.sum(gg.sigmoid(s) * gg_sigmoid + gg.maximum(s, gg_maximum)) * GG_KERNEL  # the runtime header's names
    return t1 + t2 + t3 + t4 + t5 + t6 + t7 + t8


#: Functions whose parameter or node names are names the generated C, its Python glue or the
#: runtime entry use for themselves.
COLLISIONS = {
    "c_identifiers": (_c_identifiers, {
        "r": (2, 3), "p": (3, 2), "c": (2, 3), "a_rp": (3, 4), "b": (2, 3), "x": (3,), "J_acc": (), "a_i": (3,),
        "j": (4,), "o": (4, 2), "t": (3, 2), "idx": ((3,), "int64"), "s": (2,), "i": (2,), "work": (2,),
        "out0": (), "i0": (), "main": (), "exp": (), "INFINITY": (), "size_t": (), "rc": (), "gg_sigmoid": (2,),
        "gg_maximum": (2,), "GG_KERNEL": ()}),
    "glue_globals": (lambda _buf, _empty, _lib, _new, _status, _scalars, _work, _NULL, _np, _index_error:  # noqa: N803
                     gg.sum(_buf * _empty + _lib * _new) + _status * _scalars * _work * _NULL * _np * _index_error,
                     {"_buf": (2,), "_empty": (2,), "_lib": (2,), "_new": (2,), "_status": (), "_scalars": (),
                      "_work": (), "_NULL": (), "_np": (), "_index_error": ()}),
    "entry_names": (lambda self, kernel, args, kwargs, _bind, _dtype_0, _to_array:
                    gg.sum(self * kernel + args) * kwargs * _bind * gg.sum(_dtype_0 * _to_array),
                    {"self": (2,), "kernel": (2,), "args": (2,), "kwargs": (), "_bind": (), "_dtype_0": (2,),
                     "_to_array": (2,)}),
}


def _spec(description: Any) -> gg.Array:
    return gg.Array(*description) if description and isinstance(description[0], tuple) else gg.Array(description)


@pytest.mark.parametrize("case", sorted(COLLISIONS))
def test_names_that_generated_code_uses_itself(case):
    fn, shapes = COLLISIONS[case]
    specs = {n: _spec(d) for n, d in shapes.items()}
    rng = np.random.default_rng(zlib.crc32(case.encode()))
    values = {n: (rng.integers(0, 3, s.shape) if s.dtype == "int64" else
                  rng.uniform(0.5, 1.5, s.shape) if s.shape else float(rng.uniform(0.5, 1.5)))
              for n, s in specs.items()}
    # The reference: the Python backend on the same function with plain parameter names.
    plain = [f"p{k}" for k in range(len(specs))]
    reference = gg.value_and_grad(_with_parameters(fn, plain, "reference"), backend="python",
                                  specs=dict(zip(plain, specs.values())))
    value, grads = reference(*values.values())
    expected = (value, {n: grads[p] for n, p in zip(specs, plain) if p in grads})
    c = gg.value_and_grad(_with_parameters(fn, list(specs), case), backend="c", specs=specs)
    assert not _compare_kernels(c(*values.values()), expected, 1e-12, "positional: ")
    assert not _compare_kernels(c(**values), expected, 1e-12, "by keyword: ")
    py = gg.value_and_grad(_with_parameters(fn, list(specs), case), backend="python", specs=specs)
    assert not _compare_kernels(py(**values), expected, 0.0, "the Python backend: ")
    # A kernel without specs, compiled by its first call, made by keyword.
    for backend in ("c", "python"):
        jit = gg.value_and_grad(_with_parameters(fn, list(specs), case), backend=backend)
        assert not _compare_kernels(jit(**values), expected, 1e-12, f"{backend}, first call by keyword: ")


# --- 5. no compiler at all -------------------------------------------------------------------------------
NO_COMPILER_SCRIPT = textwrap.dedent("""
    import json, os, sys, warnings
    import numpy as np
    import gradgen as gg

    def f(x, w):
        return gg.sum(gg.tanh(x * w) ** 2)

    def g(x):
        return gg.exp(x)

    def expected(x, w):
        t = np.tanh(x * w)
        return float(np.sum(t * t)), 2 * t * (1 - t * t) * w, 2 * t * (1 - t * t) * x

    facts = {}
    x, w = np.array([0.5, -1.0, 2.0]), np.array([1.5, 0.25, -0.5])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        k1 = gg.value_and_grad(f, x=gg.Array((3,)), w=gg.Array((3,)))  # "auto"
        got = [k1(x, w) for _ in range(3)]
        k2 = gg.value_and_grad(f, backend="auto")  # JIT: compiled on the first call, for each new shape
        got += [k2(x, w), k2(x[:2], w[:2])]
        k3 = gg.compile(g, backend="auto", x=gg.Array((4,)))
        facts["g"] = k3(np.arange(4.0)).tolist()
    facts["auto_backends"] = [k1.backend, k2.backend, k3.backend]
    facts["auto_warnings"] = [(w.category.__name__, str(w.message)) for w in caught]
    ref = expected(x, w)
    facts["auto_results_ok"] = all(
        abs(v - ref[0]) <= 1e-12 * abs(ref[0]) and np.allclose(gr["x"], ref[1], rtol=1e-12)
        and np.allclose(gr["w"], ref[2], rtol=1e-12) for v, gr in got[:4])
    ref2 = expected(x[:2], w[:2])
    facts["auto_second_shape_ok"] = abs(got[4][0] - ref2[0]) <= 1e-12 * abs(ref2[0])

    def attempt(**kwargs):
        try:
            kernel = gg.value_and_grad(f, x=gg.Array((3,)), w=gg.Array((3,)), **kwargs)
            kernel(x, w)
            return ["no error", kernel.backend]
        except Exception as error:
            return [type(error).__name__, str(error), isinstance(error, gg.CompileError),
                    isinstance(error, gg.GradgenError)]

    facts["backend_c"] = attempt(backend="c")
    try:
        gg.compile(g, backend="c", x=gg.Array((4,)))
        facts["compile_c"] = "no error"
    except gg.CompileError as error:
        facts["compile_c"] = str(error)
    try:
        gg.value_and_grad(f, backend="c")(x, w)
        facts["jit_c"] = "no error"
    except gg.CompileError as error:
        facts["jit_c"] = str(error)
    os.environ["GRADGEN_BACKEND"] = "c"
    facts["env_c_auto"] = attempt(backend="auto")
    facts["env_c_default"] = attempt()
    facts["env_c_explicit_python"] = attempt(backend="python")
    os.environ["GRADGEN_BACKEND"] = "python"
    facts["env_python_explicit_c"] = attempt(backend="c")
    print(json.dumps(facts))
""")


@pytest.mark.parametrize("cc", ["/nonexistent/bin/cc", None], ids=["CC_nowhere", "CC_unset"])
def test_without_any_compiler(cc, tmp_path):
    empty_bin = tmp_path / "bin"
    empty_bin.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("CC", "GRADGEN_BACKEND", "PYTHONPATH")}
    env.update({"PATH": str(empty_bin), "PYTHONPATH": str(ROOT), "GRADGEN_CACHE_DIR": str(tmp_path / "cache")})
    if cc is not None:
        env["CC"] = cc
    run = subprocess.run([sys.executable, "-c", NO_COMPILER_SCRIPT], capture_output=True, text=True, env=env,
                         timeout=120, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    facts = json.loads(run.stdout.strip().splitlines()[-1])
    looked_for = repr(cc) if cc else "cc or gcc on PATH"

    # "auto" falls back to Python, warning exactly once, with correct results.
    assert facts["auto_backends"] == ["python", "python", "python"]
    warnings = facts["auto_warnings"]
    assert len(warnings) == 1 and warnings[0][0] == "RuntimeWarning", warnings
    assert "C compiler" in warnings[0][1] and "Python backend" in warnings[0][1], warnings
    assert facts["auto_results_ok"] and facts["auto_second_shape_ok"]
    assert facts["g"] == pytest.approx(np.exp(np.arange(4.0)).tolist(), rel=1e-15)

    # backend="c" raises a CompileError that says what is missing and how to fix it.
    kind, message, is_compile_error, is_gradgen_error = facts["backend_c"]
    assert (kind, is_compile_error, is_gradgen_error) == ("CompileError", True, True), facts["backend_c"]
    for text in ("no C compiler", looked_for, "CC", "install"):
        assert text in message, (text, message)
    assert "no C compiler" in facts["compile_c"] and "no C compiler" in facts["jit_c"]

    # GRADGEN_BACKEND=c makes "auto" (and the default) behave like backend="c"; an explicit backend wins.
    assert facts["env_c_auto"][:3] == ["CompileError", message, True]
    assert facts["env_c_default"][:3] == ["CompileError", message, True]
    assert facts["env_c_explicit_python"] == ["no error", "python"]
    assert facts["env_python_explicit_c"][:3] == ["CompileError", message, True]


# --- 6. memory ---------------------------------------------------------------------------------------------
def _rss() -> int:
    """This process's resident memory in bytes (Linux)."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _small_array_loss(x, w):
    return gg.sum(gg.tanh(x * w) ** 2)


def _scalar_loss(x, y):
    return (x * y - 1.0) ** 2


CALLS = 1_000_000  # the million calls
TRACED_CALLS = 50_000  # of them, under tracemalloc (slow, but it sees every Python allocation)


@pytest.mark.parametrize("which", ["array", "scalar"])
def test_memory_stays_flat_over_many_calls(which):
    if which == "array":
        kernel = gg.value_and_grad(_small_array_loss, backend="c", x=gg.Array((8,)), w=gg.Array((8,)))
        args = (np.linspace(-1, 1, 8), np.linspace(0.5, 1.5, 8))
    else:
        kernel = gg.value_and_grad(_scalar_loss, backend="c", x=gg.Scalar(), y=gg.Scalar())
        args = (0.5, 3.0)
    assert kernel.backend == "c"
    expected = kernel(*args)
    for call in (kernel, kernel.unchecked):
        for _ in range(20_000):  # warm up: caches, free lists, arenas
            call(*args)
        gc.collect()
        # Some calls under tracemalloc ...
        tracemalloc.start()
        try:
            traced_before, _ = tracemalloc.get_traced_memory()
            for _ in range(TRACED_CALLS):
                call(*args)
            gc.collect()
            traced_grown = tracemalloc.get_traced_memory()[0] - traced_before
        finally:
            tracemalloc.stop()
        # ... the rest at full speed, watched by the resident size (which sees C allocations too).
        before_rss = _rss()
        for _ in range(CALLS - TRACED_CALLS):
            result = call(*args)
        gc.collect()
        grown_rss = _rss() - before_rss
        assert traced_grown < 16_384, f"{call}: Python allocations grew by {traced_grown} bytes in {TRACED_CALLS} calls"
        assert grown_rss < 1_048_576, f"{call}: resident memory grew by {grown_rss} bytes in {CALLS} calls"
        assert result[0] == expected[0]
        for key in expected[1]:
            assert np.array_equal(result[1][key], expected[1][key])


def test_results_are_fresh_arrays_owned_by_the_caller():
    """Outputs never alias the inputs, the workspace or an earlier call's outputs (as in Python)."""
    x = np.arange(6.0).reshape(2, 3)
    forward = gg.compile(lambda x: (x.reshape(6), x, x.T, x[0], gg.broadcast_to(x, (2, 2, 3)), gg.exp(x)),
                         backend="c", x=gg.Array((2, 3)))
    first = forward(x)
    expected = [x.reshape(6), x, x.T, x[0], np.broadcast_to(x, (2, 2, 3)), np.exp(x)]
    second = forward(x + 1.0)
    for k, (out, want) in enumerate(zip(first, expected)):
        assert out.flags.writeable and not np.shares_memory(out, x), f"output {k} aliases the input"
        assert not any(np.shares_memory(out, other) for other in second), f"output {k} is reused"
        np.testing.assert_allclose(out, want, rtol=1e-15)  # exp may differ from NumPy's in the last bit
    kernel = gg.value_and_grad(_small_array_loss, backend="c", x=gg.Array((8,)), w=gg.Array((8,)))
    w = np.linspace(0.5, 1.5, 8)
    value, grads = kernel(np.ones(8), w)
    kept = {key: g.copy() for key, g in grads.items()}
    kernel(-np.ones(8), 2 * w)
    kernel.unchecked(np.zeros(8), w)
    for key, g in grads.items():
        np.testing.assert_array_equal(g, kept[key])
        assert not np.shares_memory(g, w)


# --- 7. the disk cache across processes ----------------------------------------------------------------------
CACHE_SCRIPT = textwrap.dedent("""
    import json, sys
    events = []
    sys.addaudithook(lambda event, args: events.append(f"{event} {args[1] if event == 'subprocess.Popen' else ''}")
                     if event in ("subprocess.Popen", "os.system", "os.posix_spawn", "os.exec", "os.fork") else None)
    import numpy as np
    import gradgen as gg

    def loss(X, y, w, b):
        Z = X @ w + b
        return gg.mean(gg.softplus(Z) - y * Z)

    kernel = gg.value_and_grad(loss, backend="c", X=gg.Array((5, 3)), y=gg.Array((5,)), w=gg.Array((3,)))
    rng = np.random.default_rng(0)
    value, grads = kernel(rng.normal(size=(5, 3)), (rng.random(5) > 0.5) * 1.0, rng.normal(size=3), 0.25)
    print(json.dumps({"backend": kernel.backend, "source": kernel.source, "value": value,
                      "w": grads["w"].tolist(), "b": grads["b"], "processes": events}))
""")


def _cache_listing(cache: Path) -> dict[str, tuple[int, int, int]]:
    """Every file under ``cache/entries`` with its (inode, size, mtime)."""
    listing = {}
    for path in sorted((cache / "entries").rglob("*")):
        if path.is_file():
            info = path.stat()
            listing[str(path.relative_to(cache))] = (info.st_ino, info.st_size, info.st_mtime_ns)
    return listing


def _compiles(events: list[str]) -> list[str]:
    """The compiler runs among the recorded process starts (a command with an output file)."""
    return [event for event in events if "'-o'" in event]


def test_a_second_process_loads_the_kernel_from_the_disk_cache_without_compiling(tmp_path):
    cache = tmp_path / "cache"
    env = {k: v for k, v in os.environ.items() if k not in ("GRADGEN_BACKEND", "PYTHONPATH")}
    env.update({"GRADGEN_CACHE_DIR": str(cache), "PYTHONPATH": str(ROOT)})

    def run() -> dict:
        done = subprocess.run([sys.executable, "-c", CACHE_SCRIPT], capture_output=True, text=True, env=env,
                              timeout=120, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout.strip().splitlines()[-1])

    first = run()
    assert first["backend"] == "c"
    assert _compiles(first["processes"]), f"the first process must compile the kernel: {first['processes']}"
    entries = sorted(p.name for p in (cache / "entries").iterdir())
    assert len(entries) == 1, entries
    after_first = _cache_listing(cache)
    assert any(name.endswith(".c") for name in after_first), "the C source stays beside the built module"

    second = run()
    assert _compiles(second["processes"]) == [], "the second process compiled"
    # toolchain.py: "a fresh process that only loads cached kernels starts no compiler at all"
    assert second["processes"] == [], "the second process started the compiler (or another program)"
    assert _cache_listing(cache) == after_first, "the second process rebuilt or rewrote the cache entry"
    assert not (cache / "failed").exists() or not list((cache / "failed").iterdir())
    assert second == {**first, "processes": []}
