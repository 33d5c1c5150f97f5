"""Argument checks for kernels: binding, scalar and array conversion, clear errors.

The generated entry of a kernel inlines the cheap checks (``type(x) is
float``, dtype and shape of an ndarray) and calls these functions only when
an argument needs converting or is wrong.

Integers: Python and NumPy integer *scalars* are numbers (converted to
float64) unless the spec says int64; integer *arrays* are indices. A JIT
kernel traces an integer array as an int64 index input, whatever it was
called with before; an integer array for an argument in ``wrt`` is an
InputError, as JAX refuses to differentiate integer inputs. Index values
convert exactly or not at all: outside int64, or not integers, they raise
InputError naming the argument.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from gradgen.dsl.specs import Array, spec_of
from gradgen.dsl.value import Value
from gradgen.errors import InputError
from gradgen.ir.graph import Graph
from gradgen.ops.registry import OPS

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


class OtherSignature(Exception):
    """Raised by a check when an argument is valid but of another shape (JIT kernels retrace)."""


def bind(names: Sequence[str], args: tuple, kwargs: dict, folded: Sequence[str] = ()) -> list[Any]:
    """Positional and keyword arguments as one list in parameter order (``folded``: the parameters whose
    defaults are constants of the kernel, which cannot be given)."""
    if len(args) > len(names):
        constants = (f"; {', '.join(map(repr, folded))} kept their defaults as constants when traced: give "
                     "a spec to make one an input") if folded else ""
        raise InputError(f"expected {len(names)} argument(s) ({', '.join(names)}), got {len(args)} positional"
                         + constants)
    values: list[Any] = list(args) + [_MISSING] * (len(names) - len(args))
    for key, value in kwargs.items():
        if key in folded:
            raise InputError(f"argument {key!r} has a Python default and no spec, so the kernel was traced with "
                             f"its default as a constant; give it a spec ({key}=gg.Scalar() or gg.Array(shape)) "
                             "to make it an input")
        if key not in names:
            raise InputError(f"unknown argument {key!r}; the arguments are {', '.join(names)}")
        index = names.index(key)
        if values[index] is not _MISSING:
            raise InputError(f"argument {key!r} given twice (by position and by keyword)")
        values[index] = value
    missing = [n for n, v in zip(names, values) if v is _MISSING]
    if missing:
        raise InputError(f"missing argument(s) {', '.join(map(repr, missing))}; expected "
                         f"{len(names)}: {', '.join(names)}")
    return values


_MISSING = object()


def names_in(value: Any, what: str) -> list[Any]:
    """``value`` (None or an iterable of names) as a list, or InputError saying what was expected."""
    if value is None:
        return []
    try:
        return list(value)
    except TypeError:
        raise InputError(f"{what}: expected a name or a list of names, got {value!r}") from None


def _kind_error(name: str, value: Any, expected: str) -> InputError:
    what = type(value).__name__
    if isinstance(value, np.ndarray):
        what = f"an array of dtype {value.dtype}"
    return InputError(f"argument {name!r}: expected {expected}, got {what}")


def integer_gradient_error(name: str, dtype: Any) -> InputError:
    """The error for integers given to an argument that is differentiated."""
    return InputError(f"argument {name!r} is in wrt but holds integers (dtype {dtype}); gradients need float "
                      f"values, as in JAX: pass a float array (e.g. {name}.astype(float)), or leave {name!r} out "
                      "of wrt to use it as an int64 index")


def call_spec(value: Any, name: str, differentiated: bool) -> Array:
    """The spec a JIT kernel compiles for ``value``; InputError for an integer array to differentiate."""
    if isinstance(value, dict) or (isinstance(value, (list, tuple)) and any(isinstance(v, dict) for v in value)):
        raise InputError(f"argument {name!r} is a {type(value).__name__} of arrays: a structured argument needs "
                         "specs of the same structure when the kernel is made, e.g. "
                         f"{name}={{'W': gg.Array((3, 2)), 'b': gg.Array((2,))}}")
    spec = spec_of(value, name)
    if differentiated and spec.dtype == "int64":
        raise integer_gradient_error(name, np.asarray(value).dtype)
    return spec


def _range_error(name: str, value: Any) -> InputError:
    return InputError(f"argument {name!r}: index {value} is outside the int64 range "
                      f"[{INT64_MIN}, {INT64_MAX}]; it cannot index any array")


def _number_dtype(value: Any) -> str:
    """The float dtype a JIT kernel compiles for a scalar ``value`` (as ``spec_of`` reads it)."""
    return "float32" if isinstance(value, np.float32) or getattr(value, "dtype", None) == np.float32 else "float64"


def to_scalar(value: Any, name: str, dtype: str, jit: bool) -> Any:
    """``value`` as a Python float (or, for an int64 spec, an int in range), or InputError/OtherSignature."""
    if type(value) is int and dtype == "float64":  # the common case first: kernel(2, 8, -2, 2)
        return _as_float(value, name)
    if isinstance(value, Value):
        raise OtherSignature  # called inside a trace: the kernel inlines its graph (Kernel.traced_call)
    if isinstance(value, (bool, np.bool_)):
        raise InputError(f"argument {name!r}: expected a number, got a bool")
    if dtype == "int64":
        return _to_index(value, name)
    if jit and (dtype == "float32" or isinstance(value, (np.float32, np.ndarray))) \
            and isinstance(value, (float, int, np.number, np.ndarray)) and _number_dtype(value) != dtype:
        raise OtherSignature  # float32 after float64 (or back): a JIT kernel compiles that signature too
    if isinstance(value, (float, int, np.floating, np.integer)):
        return _as_float(value, name)
    return to_scalar(_scalar_of(value, name, jit), name, dtype, False)  # its dtype was checked above


def _as_float(value: Any, name: str) -> float:
    """A real number as a Python float, or InputError for an integer no float64 can hold."""
    try:
        return float(value)
    except OverflowError:
        raise InputError(f"argument {name!r}: an integer of {len(str(abs(int(value))))} digits is too large "
                         "for a float64 (the largest is about 1.8e308)") from None


def _to_index(value: Any, name: str) -> int:
    """An int64 scalar index: an integer in the int64 range, else InputError naming the argument."""
    if isinstance(value, (float, np.floating)):
        raise InputError(f"argument {name!r}: expected an integer index (int64), got the float {value!r}")
    if isinstance(value, (int, np.integer)):
        if not INT64_MIN <= int(value) <= INT64_MAX:
            raise _range_error(name, value)
        return int(value)
    return _to_index(_scalar_of(value, name, False), name)


def _scalar_of(value: Any, name: str, jit: bool) -> Any:
    """The one number a 0-d array holds, or InputError/OtherSignature for anything else (arrays, lists)."""
    if isinstance(value, (complex, np.complexfloating)):
        raise InputError(f"argument {name!r}: complex values are not supported")
    if isinstance(value, (np.ndarray, list, tuple)):
        array = np.asarray(value)
        if array.shape == ():
            return array.item()
        if jit and array.dtype.kind in "fiu":
            raise OtherSignature
        raise InputError(f"argument {name!r}: expected a scalar, got an array of shape {array.shape}")
    raise _kind_error(name, value, "a number")


def _exact_indices(array: np.ndarray, name: str) -> np.ndarray:
    """An integer (or object) array as int64 when every entry converts exactly, else InputError."""
    if array.dtype.kind == "u" and array.size and array.max() > INT64_MAX:
        raise _range_error(name, array.max())
    if array.dtype.kind == "O":
        for entry in array.flat:
            if isinstance(entry, (bool, np.bool_)) or not isinstance(entry, (int, np.integer)):
                raise InputError(f"argument {name!r}: expected integer indices (int64), got the entry {entry!r}")
            if not INT64_MIN <= int(entry) <= INT64_MAX:
                raise _range_error(name, entry)
    return np.ascontiguousarray(array, dtype=np.int64)


def _as_float_array(array: np.ndarray, name: str, dtype: str) -> np.ndarray:
    """A numeric (or object) array in a float dtype, or InputError for entries no float can hold."""
    try:
        return np.ascontiguousarray(array, dtype=dtype)
    except OverflowError:
        raise InputError(f"argument {name!r}: an entry is too large for {dtype}") from None
    except (TypeError, ValueError):
        raise _kind_error(name, array, "a numeric array") from None


def to_array(value: Any, name: str, spec: Array, jit: bool, differentiated: bool = False) -> np.ndarray:
    """``value`` as an ndarray of the spec's dtype and shape, or InputError/OtherSignature.

    ``differentiated``: the argument is in ``wrt``, so integer arrays are refused.
    """
    if isinstance(value, Value):
        raise OtherSignature  # called inside a trace: the kernel inlines its graph (Kernel.traced_call)
    if isinstance(value, (str, bytes)) or value is None:
        raise _kind_error(name, value, f"an array of shape {spec.shape}")
    try:
        array = np.asarray(value)
    except (ValueError, TypeError):
        raise InputError(f"argument {name!r}: cannot be read as an array (ragged nested lists?)") from None
    if spec.dtype == "int64" and array.dtype.kind == "f" and not isinstance(value, np.ndarray):
        array = np.array(value, dtype=object)  # NumPy reads [0, 2**63] as floats: check the entries themselves
    kind = array.dtype.kind
    if kind == "c":
        raise InputError(f"argument {name!r}: complex values are not supported (got dtype {array.dtype})")
    if kind not in "fiubO" or (kind == "b" and spec.dtype == "int64"):
        raise _kind_error(name, value, f"a numeric array of shape {spec.shape}")
    if differentiated and kind in "iu":
        raise integer_gradient_error(name, array.dtype)
    if jit and kind != "O" and spec_of(array, name) != spec:
        raise OtherSignature  # another shape or dtype: a JIT kernel compiles that signature too
    if spec.dtype == "int64" and kind == "f":
        raise InputError(f"argument {name!r}: expected integer indices (int64), got dtype {array.dtype}")
    if array.shape != spec.shape:
        if jit:
            raise OtherSignature
        raise InputError(f"argument {name!r}: expected shape {spec.shape}, got {array.shape}")
    if spec.dtype == "int64":
        return _exact_indices(array, name)
    return _as_float_array(array, name, spec.dtype)


def index_error(graph: Graph, values: Sequence[Any], error: IndexError) -> InputError:
    """The InputError for an index out of range in a Python kernel, naming the argument that holds it.

    Worked out only once NumPy has raised, so calls that succeed pay nothing:
    the graph is evaluated node by node to the op that raises, and the int64
    inputs its indices come from (through views such as ``labels[:, None]``)
    are named.
    """
    inputs = dict(zip(graph.inputs, values))
    computed: list[Any] = []
    with np.errstate(all="ignore"):
        for node in graph.nodes:
            if node.op == "input":
                computed.append(np.asarray(inputs[node.id], dtype=node.dtype))
                continue
            try:
                computed.append(OPS[node.op].evaluate(*[computed[i] for i in node.inputs], **node.params))
            except IndexError as raised:
                return _naming_index_sources(graph, node.id, raised)
    return InputError(f"an index is out of range for the array it indexes ({error})")


def _naming_index_sources(graph: Graph, node_id: int, error: IndexError) -> InputError:
    """InputError naming the int64 inputs upstream of the indices of node ``node_id``: its last
    int64 operand (an indexing op takes its array first, its indices after it)."""
    sources, stack, seen = [], [i for i in graph.nodes[node_id].inputs if graph.nodes[i].dtype == "int64"][-1:], set()
    while stack:
        node = graph.nodes[stack.pop()]
        if node.id in seen:
            continue
        seen.add(node.id)
        if node.op == "input":
            sources.append(node.params["name"])
        stack += [i for i in node.inputs if graph.nodes[i].dtype == "int64"]
    named = " or ".join(repr(n) for n in sorted(sources))
    where = f"argument {named}: " if sources else ""
    return InputError(f"{where}an index is out of range for the array it indexes ({error}); indices must lie in "
                      "[-n, n) for an axis of length n")
