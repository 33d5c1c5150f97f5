"""Value: the symbolic stand-in for an array or scalar while a function is traced.

It knows its static shape and dtype, overloads Python's operators, and
refuses to become a concrete Python value, since it has none yet.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gradgen.errors import InputError, TracingError
from gradgen.ir.builder import GraphBuilder
from gradgen.ir.graph import Node


class Value:
    """A node of the graph being traced, used like a NumPy array or a float."""

    __slots__ = ("builder", "id")

    def __init__(self, builder: GraphBuilder, node_id: int):
        self.builder = builder
        self.id = node_id

    # --- static facts -------------------------------------------------------
    @property
    def node(self) -> Node:
        return self.builder.nodes[self.id]

    @property
    def shape(self) -> tuple[int, ...]:
        return self.node.shape

    @property
    def ndim(self) -> int:
        return len(self.node.shape)

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(self.node.dtype)

    @property
    def size(self) -> int:
        return self.node.size

    @property
    def name(self) -> str | None:
        return self.builder.names.get(self.id)

    def __len__(self) -> int:
        if not self.shape:
            raise TracingError(f"len() of a scalar value {self._describe()}: it has no length")
        return self.shape[0]

    def __iter__(self):
        if not self.shape:
            raise TracingError(f"cannot iterate over the scalar value {self._describe()}")
        return (self[i] for i in range(self.shape[0]))

    def __repr__(self) -> str:
        return f"<gradgen.Value {self._describe()}>"

    def _describe(self) -> str:
        node = self.node
        return f"{self.name or '%' + str(self.id)} ({node.op}, shape {node.shape}, {node.dtype})"

    # --- no concrete value while tracing ---------------------------------------
    def _concrete(self, what: str, instead: str) -> TracingError:
        return TracingError(f"{what} needs a concrete value, but {self._describe()} is symbolic while gradgen "
                            f"traces the function. {instead}")

    def __bool__(self) -> bool:
        raise self._concrete("bool() (an `if`, `while`, `and`/`or` or comparison chain)",
                             "Branch with gg.where(condition, if_true, if_false) instead of `if`; combine masks "
                             "with & and | instead of `and` and `or`.")

    def __float__(self) -> float:
        raise self._concrete("float() (or a function of the math module, such as math.exp)", _NUMBERS)

    def __int__(self) -> int:
        raise self._concrete("int()", _NUMBERS)

    def __index__(self) -> int:
        raise self._concrete("using a value as a Python index or size",
                             "Index with an int64 input instead: x[i] with i = gg.Scalar('int64') or an int64 "
                             "array, or gg.take_along_axis; sizes must be Python ints (shapes are static).")

    def __complex__(self) -> complex:
        raise self._concrete("complex()", "gradgen computes with real numbers only.")

    def __array__(self, *args: Any, **kwargs: Any) -> np.ndarray:
        raise self._concrete("np.asarray or np.array (a conversion to a NumPy array)",
                             "Use the value as it is: it already acts as an array (np.exp(x), x @ W, x[1:] "
                             "work); gg.stack([...]) joins traced values into one array, gg.cast changes "
                             "its dtype.")

    def __setitem__(self, index: Any, value: Any) -> None:
        raise InputError(f"x[{index!r}] = ... on {self._describe()}: traced values cannot be changed in place. "
                         "Build a new value instead: gg.where(mask, new, x) for entries, gg.concatenate of "
                         "slices for rows, or a Python list of values joined with gg.stack.")

    __hash__ = object.__hash__

    # --- NumPy interop: np.exp(v), array + v ----------------------------------
    def __array_ufunc__(self, ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any) -> Any:
        fn = F.UFUNCS.get(ufunc.__name__) if method == "__call__" and not kwargs else None
        if fn is None:
            spelled = f"numpy.{ufunc.__name__}" + (f".{method}" if method != "__call__" else "")
            if kwargs and method == "__call__" and ufunc.__name__ in F.UFUNCS:
                raise TracingError(f"{spelled} with {', '.join(kwargs)}= cannot take the symbolic value "
                                   f"{self._describe()}; call it without {', '.join(kwargs)}= (results are new "
                                   "values; use gg.where to select)")
            instead = _COMPOSE["reduce"] if method == "reduce" else _instead(ufunc)
            raise TracingError(f"{spelled} cannot take the symbolic value {self._describe()}; {instead}")
        return fn(*inputs)

    def __array_namespace__(self, api_version: str | None = None) -> Any:
        """The array-API namespace of traced values (``gradgen/array_api.py``), so that code written
        against the standard (``xp = x.__array_namespace__()``) traces unchanged."""
        from gradgen.array_api import NAMESPACE

        return NAMESPACE

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        fn = F.ARRAY_FUNCTIONS.get(func.__name__)
        if fn is None:
            raise TracingError(f"numpy.{func.__name__} cannot take the symbolic value {self._describe()}; "
                               f"{_instead(func)}")
        return fn(*args, **kwargs)

    # --- operators ---------------------------------------------------------------
    def __add__(self, other: Any) -> Value:
        return F.add(self, other)

    def __radd__(self, other: Any) -> Value:
        return F.add(other, self)

    def __sub__(self, other: Any) -> Value:
        return F.subtract(self, other)

    def __rsub__(self, other: Any) -> Value:
        return F.subtract(other, self)

    def __mul__(self, other: Any) -> Value:
        return F.multiply(self, other)

    def __rmul__(self, other: Any) -> Value:
        return F.multiply(other, self)

    def __truediv__(self, other: Any) -> Value:
        return F.divide(self, other)

    def __rtruediv__(self, other: Any) -> Value:
        return F.divide(other, self)

    def __mod__(self, other: Any) -> Value:
        return F.mod(self, other)

    def __rmod__(self, other: Any) -> Value:
        return F.mod(other, self)

    def __floordiv__(self, other: Any) -> Value:
        return F.floor_divide(self, other)

    def __rfloordiv__(self, other: Any) -> Value:
        return F.floor_divide(other, self)

    def __pow__(self, other: Any) -> Value:
        return F.power(self, other)

    def __rpow__(self, other: Any) -> Value:
        return F.power(other, self)

    def __matmul__(self, other: Any) -> Value:
        return F.matmul(self, other)

    def __rmatmul__(self, other: Any) -> Value:
        return F.matmul(other, self)

    def __neg__(self) -> Value:
        return F.negative(self)

    def __pos__(self) -> Value:
        return self

    def __abs__(self) -> Value:
        return F.abs(self)

    def __lt__(self, other: Any) -> Value:
        return F.less(self, other)

    def __le__(self, other: Any) -> Value:
        return F.less_equal(self, other)

    def __gt__(self, other: Any) -> Value:
        return F.greater(self, other)

    def __ge__(self, other: Any) -> Value:
        return F.greater_equal(self, other)

    def __eq__(self, other: Any) -> Value:  # type: ignore[override]
        return F.equal(self, other)

    def __ne__(self, other: Any) -> Value:  # type: ignore[override]
        return F.not_equal(self, other)

    def __and__(self, other: Any) -> Value:
        return F.logical_and(self, other)

    __rand__ = __and__

    def __or__(self, other: Any) -> Value:
        return F.logical_or(self, other)

    __ror__ = __or__

    def __invert__(self) -> Value:
        return F.logical_not(self)

    def __getitem__(self, index: Any) -> Value:
        return F.getitem(self, index)

    # --- array methods -------------------------------------------------------------
    @property
    def T(self) -> Value:
        return F.transpose(self)

    def reshape(self, *shape: Any) -> Value:
        return F.reshape(self, shape[0] if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape)

    def transpose(self, *axes: Any) -> Value:
        return F.transpose(self, axes[0] if len(axes) == 1 and isinstance(axes[0], (tuple, list)) else
                           (axes or None))

    def sum(self, axis: Any = None, keepdims: bool = False) -> Value:
        return F.sum(self, axis=axis, keepdims=keepdims)

    def mean(self, axis: Any = None, keepdims: bool = False) -> Value:
        return F.mean(self, axis=axis, keepdims=keepdims)

    def max(self, axis: Any = None, keepdims: bool = False) -> Value:
        return F.max(self, axis=axis, keepdims=keepdims)

    def min(self, axis: Any = None, keepdims: bool = False) -> Value:
        return F.min(self, axis=axis, keepdims=keepdims)

    def astype(self, dtype: Any) -> Value:
        return F.cast(self, dtype)

    def var(self, axis: Any = None, ddof: int = 0, keepdims: bool = False) -> Value:
        return F.var(self, axis=axis, ddof=ddof, keepdims=keepdims)

    def std(self, axis: Any = None, ddof: int = 0, keepdims: bool = False) -> Value:
        return F.std(self, axis=axis, ddof=ddof, keepdims=keepdims)

    def dot(self, other: Any) -> Value:
        return F.dot(self, other)

    def prod(self, axis: Any = None, keepdims: bool = False) -> Value:
        return F.prod(self, axis=axis, keepdims=keepdims)

    def cumsum(self, axis: int | None = None) -> Value:
        return F.cumsum(self, axis)

    def cumprod(self, axis: int | None = None) -> Value:
        return F.cumprod(self, axis)

    def argmax(self, axis: int | None = None, keepdims: bool = False) -> Value:
        return F.argmax(self, axis, keepdims)

    def argmin(self, axis: int | None = None, keepdims: bool = False) -> Value:
        return F.argmin(self, axis, keepdims)

    def clip(self, min: Any = None, max: Any = None) -> Value:  # noqa: A002 - NumPy's names
        return F.clip(self, min, max)

    def round(self, decimals: int = 0) -> Value:
        return F.round(self, decimals)

    def ravel(self) -> Value:
        return F.ravel(self)

    def flatten(self) -> Value:
        return F.ravel(self)

    def squeeze(self, axis: Any = None) -> Value:
        return F.squeeze(self, axis)

    def swapaxes(self, axis1: int, axis2: int) -> Value:
        return F.swapaxes(self, axis1, axis2)

    def repeat(self, repeats: Any, axis: int | None = None) -> Value:
        return F.repeat(self, repeats, axis)

    def diagonal(self, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Value:
        return F.diagonal(self, offset, axis1, axis2)

    def trace(self, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Value:
        return F.trace(self, offset, axis1, axis2)

    # the activations micrograd's values have, as methods
    def relu(self) -> Value:
        return F.relu(self)

    def exp(self) -> Value:
        return F.exp(self)

    def log(self) -> Value:
        return F.log(self)

    def tanh(self) -> Value:
        return F.tanh(self)

    def sigmoid(self) -> Value:
        return F.sigmoid(self)


_NUMBERS = ("A Python number cannot hold a traced value: use gg's functions (gg.exp, gg.log, gg.sqrt, ...; "
            "np.exp works too) in place of the math module's, and keep the value in arithmetic as it is.")

#: What to use for a NumPy function gradgen does not answer to, where there is something.
_COMPOSE = {
    "reduce": "use gg.sum, gg.max or gg.min over an axis (np.sum(x, axis=0) works too)",
    "diff": "write x[1:] - x[:-1] (x[:, 1:] - x[:, :-1] along the last axis of a matrix)",
    "linspace": "make it with NumPy outside the function (a constant)",
    "zeros_like": "0.0 * x, or a NumPy array made outside the function",
    "ones_like": "0.0 * x + 1.0, or a NumPy array made outside the function",
}


def _instead(numpy_function: Any) -> str:
    """What to write instead of a NumPy function gradgen does not answer to."""
    name = getattr(numpy_function, "__name__", "")
    if name in _COMPOSE:
        return _COMPOSE[name]
    return (f"gradgen has no {name} yet: write it from gg functions (the README lists them by family) or "
            "compute it with NumPy outside the traced function")


# The operators call the public functions, which themselves build Values:
# the import sits here, after Value exists, to close that cycle.
from gradgen.ops import functions as F  # noqa: E402
