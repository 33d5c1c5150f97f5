"""gg.scan and gg.fori_loop: a loop traced once into a body graph and kept as one node.

``scan(f, init, xs)`` has the semantics of ``jax.lax.scan``: ``f(carry, x) ->
(carry, y)``, carries fixed in shape and dtype across steps, ``xs`` scanned
along axis 0, the ``y`` of every step stacked along a new axis 0. Carries,
``xs`` and ``y`` are values or nested tuples, lists and dicts of them. The
body may read any value of the function around it (a closure): such values
become inputs of the loop, and gradients flow to them.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable

import numpy as np

from gradgen.dsl.trace import TracingBuilder
from gradgen.dsl.value import Value
from gradgen.errors import InputError, ShapeError
from gradgen.ir.graph import FLOAT_DTYPES
from gradgen.ops.core import apply, builder_of, cast, constant
from gradgen.ops.loops import CHECKPOINTS, part, run_scan

# --- trees of values: a carry, xs or y --------------------------------------------------------------------


def _flatten(tree: Any, path: str, what: str) -> tuple[list[tuple[str, Any]], Any]:
    """The leaves of ``tree`` with their paths (``carry['h']``, ``carry[0]``), and its structure."""
    if isinstance(tree, dict):  # in sorted key order, as JAX flattens dicts: the order they were built in
        leaves, structure = [], {}  # does not matter
        for key in _sorted_keys(tree, path):
            sub, structure[key] = _flatten(tree[key], f"{path}[{key!r}]", what)
            leaves += sub
        return leaves, ("dict", structure)
    if isinstance(tree, (tuple, list)):
        leaves, parts = [], []
        for k, item in enumerate(tree):
            sub, shape = _flatten(item, f"{path}[{k}]", what)
            leaves += sub
            parts.append(shape)
        kind = type(tree) if hasattr(tree, "_fields") else type(tree).__name__  # a namedtuple keeps its class
        return leaves, (kind, parts)
    if tree is None:
        return [], ("none", None)
    if not isinstance(tree, (Value, int, float, np.ndarray, np.number, np.bool_, bool)):
        raise InputError(f"scan: {what} entry {path} is a {type(tree).__name__}; carries, xs and ys are values, "
                         "numbers and arrays, or tuples, lists and dicts of them")
    return [(path, tree)], ("leaf", None)


def _sorted_keys(tree: dict, path: str) -> list[Any]:
    try:
        return sorted(tree)
    except TypeError:
        raise InputError(f"scan: the keys of the dict {path} cannot be sorted ({list(tree)!r}); use keys of one "
                         "type, such as strings") from None


def _rebuild(structure: Any, leaves: list[Any]) -> Any:
    """The tree of ``structure`` with ``leaves`` in order."""
    items = iter(leaves)

    def build(node: Any) -> Any:
        kind, content = node
        if kind == "leaf":
            return next(items)
        if kind == "none":
            return None
        if kind == "dict":
            return {key: build(sub) for key, sub in content.items()}
        built = [build(sub) for sub in content]
        if isinstance(kind, type):  # a namedtuple
            return kind(*built)
        return tuple(built) if kind == "tuple" else built

    return build(structure)


def _kind(value: Any) -> tuple[tuple[int, ...], str]:
    if isinstance(value, Value):
        return value.shape, value.node.dtype
    array = np.asarray(value)
    dtype = "bool" if array.dtype.kind == "b" else "int64" if array.dtype.kind in "iu" else \
        "float32" if array.dtype == np.float32 else "float64"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        dtype = "float64"  # Python numbers in a carry are promoted to float64 (so ``0`` can start a sum)
    return array.shape, dtype


# --- scan ---------------------------------------------------------------------------------------------------


def scan(f: Callable, init: Any, xs: Any = None, length: int | None = None, reverse: bool = False,
         checkpoint: str = "residuals") -> tuple:
    """Run ``carry, y = f(carry, x)`` for each ``x`` of ``xs`` along axis 0 (``reverse``: from the last);
    return ``(final carry, ys)``, ys stacking each step's ``y`` (None when ``f`` returns None for it).

    ``xs`` may be None with ``length`` given (then ``x`` is None). ``f`` is traced once, whatever the
    length, into the body of one loop node: C and Python kernels run it as a loop.

    ``checkpoint`` says what a gradient's forward sweep keeps for the reverse sweep, memory against
    compute: "residuals" (default) keeps, per step, every value of the step the reverse step reads
    (no work done twice; memory: those values times the number of steps); "carry" keeps only the
    carry each step starts from and computes the step again in the reverse sweep (memory: one
    carry per step; about one more forward pass of work).
    """
    if not callable(f):
        raise InputError(f"scan: f must be a function (carry, x) -> (carry, y), got {f!r}")
    _check_arity(f, "scan: f", "(carry, x)")
    _check_checkpoint(checkpoint, "scan")
    return _loop(f, init, xs, length, reverse, checkpoint, getattr(f, "__code__", None), _parameter_names(f))


def _check_checkpoint(checkpoint: Any, what: str) -> None:
    if not isinstance(checkpoint, str) or checkpoint not in CHECKPOINTS:
        raise InputError(f"{what}: checkpoint must be one of {', '.join(map(repr, CHECKPOINTS))}, got "
                         f"{checkpoint!r}")


def _loop(f: Callable, init: Any, xs: Any, length: int | None, reverse: bool, checkpoint: str, code: Any,
          names: list[str], carry_label: Callable[[str], str] | None = None) -> tuple:
    """scan, with the code whose locals name the body's nodes and the names of the carry and of x (or a
    function naming each carry leaf by its path)."""
    carry_leaves, carry_tree = _flatten(init, "carry", "the initial carry")
    x_leaves, x_tree = _flatten(xs, "xs", "xs")
    length = _length(x_leaves, length)
    outer = builder_of([v for _, v in carry_leaves + x_leaves])
    body = TracingBuilder(code, parent=outer, open=outer is None)
    label = carry_label or (lambda path: _label(names[0], path, "carry"))
    carry_inputs = [_input(body, label(path), *_kind(v)) for path, v in carry_leaves]
    x_inputs = [_input(body, _label(names[1], path, "xs"), _kind(v)[0][1:], _kind(v)[1]) for path, v in x_leaves]
    result = f(_rebuild(carry_tree, carry_inputs), _rebuild(x_tree, x_inputs) if x_leaves else None)
    if not isinstance(result, tuple) or len(result) != 2:
        raise InputError(f"scan: f must return a pair (carry, y), got {type(result).__name__}")
    new_leaves, new_tree = _flatten(result[0], "carry", "the carry f returns")
    if new_tree != carry_tree:
        raise ShapeError(f"scan: f returns a carry of another structure than the initial carry: "
                         f"{_describe(new_tree)} instead of {_describe(carry_tree)}")
    carry_out = [_carry_leaf(body, path, value, *_kind(init_value))
                 for (path, value), (_, init_value) in zip(new_leaves, carry_leaves)]
    y_leaves, y_tree = _flatten(result[1], "y", "y")
    y_out = [_value_in(body, value) for _, value in y_leaves]
    for node_id, local in body.local_names().items():
        if body.nodes[node_id].op != "input":
            body.set_name(node_id, local)
    graph = body.finish(tuple(v.id for v in carry_out + y_out),  # each carry named as the body's input
                        tuple(body.nodes[v.id].params["name"] for v in carry_inputs) + tuple(p for p, _ in y_leaves))
    parent = body.parent
    if parent is None:  # nothing symbolic: run it now
        values = run_scan(*[np.asarray(v, dtype=_kind(v)[1]) for _, v in carry_leaves + x_leaves], body=graph,
                          carries=len(carry_leaves), xs=len(x_leaves), length=length, reverse=reverse,
                          checkpoint=checkpoint)
        results = list(values)
    else:
        operands = [constant(parent, v, _kind(v)[1]) for _, v in carry_leaves + x_leaves]
        operands += [constant(parent, Value(b, i)) for b, i in body.captured]
        loop = apply("scan", *operands, body=graph, carries=len(carry_leaves), xs=len(x_leaves), length=length,
                     reverse=bool(reverse), checkpoint=checkpoint)
        results = [part(loop, k) for k in range(len(graph.outputs))]
    carry = _rebuild(carry_tree, results[:len(carry_leaves)])
    ys = _rebuild(y_tree, results[len(carry_leaves):]) if y_leaves or y_tree[0] != "none" else None
    return carry, ys


def _length(x_leaves: list[tuple[str, Any]], length: int | None) -> int:
    if length is not None and (isinstance(length, bool) or not isinstance(length, (int, np.integer)) or length < 0):
        raise InputError(f"scan: length must be a non-negative int, got {length!r}")
    lengths = {path: _kind(v)[0][0] if _kind(v)[0] else None for path, v in x_leaves}
    scalars = [path for path, n in lengths.items() if n is None]
    if scalars:
        raise ShapeError(f"scan: xs entry {scalars[0]} is a scalar; xs are scanned along axis 0")
    if len(set(lengths.values())) > 1:
        raise ShapeError(f"scan: xs entries have different lengths along axis 0: {lengths}")
    if not x_leaves:
        if length is None:
            raise InputError("scan: with xs=None, give length= (the number of steps)")
        return int(length)
    found = next(iter(lengths.values()))
    if length is not None and int(length) != found:
        raise ShapeError(f"scan: length={length} but xs have length {found} along axis 0")
    return found


def _check_arity(f: Callable, what: str, params: str) -> None:
    """InputError unless ``f`` can be called with two positional arguments."""
    try:
        inspect.signature(f).bind(None, None)
    except TypeError:
        raise InputError(f"{what} must take two arguments {params}, but its signature is "
                         f"{inspect.signature(f)}") from None
    except ValueError:  # no signature to read (a builtin): let the call say
        pass


def _parameter_names(f: Callable, defaults: tuple[str, str] = ("carry", "x")) -> list[str]:
    """The names of ``f``'s first two parameters (``defaults`` when it has fewer or they cannot be read)."""
    try:
        params = [p.name for p in inspect.signature(f).parameters.values()]
    except (TypeError, ValueError):
        params = []
    return params[:2] if len(params) >= 2 else list(defaults)


def _label(parameter: str, path: str, root: str) -> str:
    """An input name for a leaf: the parameter's name, with the leaf's path inside it."""
    return parameter + path[len(root):]


def _input(body: TracingBuilder, name: str, shape: tuple[int, ...], dtype: str) -> Value:
    return Value(body, body.input(name, shape, dtype))


def _value_in(body: TracingBuilder, value: Any, dtype: str | None = None) -> Value:
    """``value`` as a node of the body (numbers as constants, values of enclosing graphs captured)."""
    if isinstance(value, Value):
        return constant(body, value)
    return constant(body, value, dtype)


def _carry_leaf(body: TracingBuilder, path: str, value: Any, shape: tuple[int, ...], dtype: str) -> Value:
    """The carry entry f returns, checked against the one it was given."""
    is_number = not isinstance(value, Value)
    leaf = _value_in(body, value, dtype if is_number else None)
    if is_number and leaf.shape != shape and np.ndim(value) == 0:
        leaf = apply("broadcast_to", leaf, shape=shape) if shape else leaf
    if (leaf.shape, leaf.node.dtype) != (shape, dtype):
        hint = " (cast it with gg.cast)" if leaf.shape == shape and dtype in FLOAT_DTYPES else ""
        raise ShapeError(f"scan: the carry entry {path} is {shape} {dtype} before a step and {leaf.shape} "
                         f"{leaf.node.dtype} after it; f must return a carry of the same shapes and "
                         f"dtypes{hint}")
    return leaf


def _describe(structure: Any) -> str:
    kind, content = structure
    if kind == "leaf":
        return "value"
    if kind == "none":
        return "None"
    if kind == "dict":
        return "{" + ", ".join(f"{k!r}: {_describe(v)}" for k, v in content.items()) + "}"
    inner = ", ".join(_describe(v) for v in content)
    if isinstance(kind, type):
        return f"{kind.__name__}({inner})"
    return f"({inner},)" if kind == "tuple" else f"[{inner}]"


# --- fori_loop ----------------------------------------------------------------------------------------------


def fori_loop(lower: int, upper: int, body: Callable, init: Any, checkpoint: str = "residuals") -> Any:
    """``carry = body(i, carry)`` for ``i`` from ``lower`` to ``upper - 1``; return the final carry.
    ``i`` is an int64 scalar that indexes (``obs[i]``, ``X[i, :]``). ``checkpoint``: as for ``scan``."""
    for name, bound in (("lower", lower), ("upper", upper)):
        if isinstance(bound, bool) or not isinstance(bound, (int, np.integer)):
            raise InputError(f"fori_loop: {name} must be a Python int, got {bound!r}")
    if not callable(body):
        raise InputError(f"fori_loop: body must be a function (i, carry) -> carry, got {body!r}")
    _check_arity(body, "fori_loop: body", "(i, carry)")
    _check_checkpoint(checkpoint, "fori_loop")
    lower, upper = int(lower), int(upper)

    def step(state: Any, _: None) -> tuple[Any, None]:
        count, carry = state  # the counter counts in float64, exact up to 2**53, and indexes as an int64
        return (count + 1.0, body(cast(count, "int64"), carry)), None

    index_name, carry_name = _parameter_names(body, ("i", "carry"))
    # The counter is a carry of its own, so no array of the steps is stored.
    (_, carry), _ = _loop(step, (np.float64(lower), init), None, max(upper - lower, 0), False, checkpoint,
                          getattr(body, "__code__", None), [carry_name, index_name],
                          lambda path: f"{index_name}_count" if path == "carry[0]"
                          else carry_name + path[len("carry[1]"):])
    return carry
