"""Turn generated Python source into a function, with its lines visible to tracebacks."""

from __future__ import annotations

import hashlib
import linecache
from types import FunctionType
from typing import Any, Callable

import numpy as np

from gradgen.errors import GraphError


def load_source(text: str, namespace: dict[str, Any], tag: str) -> dict[str, Any]:
    """Execute ``text`` in ``namespace`` under a registered pseudo-file name.

    The lines go into ``linecache``, so tracebacks and ``inspect.getsource``
    show the generated code.
    """
    digest = hashlib.sha1(text.encode()).hexdigest()[:12]
    filename = f"<gradgen {tag} {digest}>"
    lines = text.splitlines(keepends=True)
    linecache.cache[filename] = (len(text), None, lines, filename)
    exec(compile(text, filename, "exec"), namespace)  # noqa: S102 - the code is ours
    return namespace


def _as_python(result: Any) -> Any:
    if isinstance(result, tuple):
        return tuple(_as_python(r) for r in result)
    if isinstance(result, dict):
        return {k: _as_python(v) for k, v in result.items()}
    if isinstance(result, np.floating):
        return float(result)
    return result


def ieee_fallback(function: FunctionType, ieee_names: dict[str, Any]) -> Callable[..., Any]:
    """The same code as ``function`` run with NumPy scalars: inf and nan instead of exceptions."""
    namespace = dict(function.__globals__)
    namespace.update(ieee_names)
    twin = FunctionType(function.__code__, namespace, function.__name__)

    def run(*args: Any) -> Any:
        with np.errstate(all="ignore"):
            return _as_python(twin(*(np.float64(a) if isinstance(a, float) else a for a in args)))

    def give_up(*args: Any) -> Any:
        raise GraphError(f"{function.__name__} failed on these inputs even with IEEE arithmetic "
                         "(e.g. a NaN cast to an integer)")

    namespace["_ieee_fallback"] = give_up
    function.__globals__["_ieee_fallback"] = run
    return run
