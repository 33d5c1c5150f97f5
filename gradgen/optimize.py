"""scipy.optimize with compiled derivatives: ``minimize`` and ``least_squares`` on structured parameters.

``minimize(loss, params, args=(X, y), method="Newton-CG")`` flattens ``params`` (an array, a number, or a
dict, list or tuple of them, nested) into SciPy's vector, hands SciPy one value-and-gradient kernel
(``jac=True``), and, for the methods that use second derivatives, the Hessian-vector product kernel
(``hessp=``: Newton-CG, trust-ncg, trust-krylov) or the Hessian kernel (``hess=``: trust-exact, dogleg,
trust-constr). ``least_squares(residual, params, args=...)`` passes SciPy the residual and its Jacobian
from one ``gg.jacobian`` kernel. Both return SciPy's result with ``x`` back in the structure of
``params`` (SciPy's flat vector kept as ``x_flat``). SciPy is an optional dependency
(``pip install "gradgen-compiler[optimize]"``).
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from gradgen.dsl.trace import function_name
from gradgen.errors import InputError
from gradgen.ops import functions as F
from gradgen.runtime.derivatives import hessian, hvp, jacobian
from gradgen.runtime.kernel import value_and_grad

#: The methods of scipy.optimize.minimize (a callable, SciPy's custom-method form, is passed on too).
METHODS = ("nelder-mead", "powell", "cg", "bfgs", "newton-cg", "l-bfgs-b", "tnc", "cobyla", "cobyqa", "slsqp",
           "trust-constr", "dogleg", "trust-ncg", "trust-exact", "trust-krylov")
HESSP_METHODS = ("newton-cg", "trust-ncg", "trust-krylov")
HESS_METHODS = ("trust-exact", "dogleg", "trust-constr")


def _scipy_optimize() -> Any:
    try:
        import scipy.optimize
    except ImportError:
        raise InputError('gradgen.optimize needs SciPy: pip install "gradgen-compiler[optimize]" (or scipy)') from None
    return scipy.optimize


class _Layout:
    """Where each leaf of a parameter structure sits in the flat vector."""

    def __init__(self, params: Any):
        self.leaves: list[tuple[tuple[Any, ...], tuple[int, ...]]] = []  # (path of keys, shape)
        self.structure = self._walk(params, ())
        self.size = sum(math.prod(shape) for _, shape in self.leaves)
        if self.size == 0:
            raise InputError("gradgen.optimize: the parameters hold no numbers")

    def _walk(self, tree: Any, path: tuple[Any, ...]) -> Any:
        if isinstance(tree, dict):
            return {key: self._walk(tree[key], path + (key,)) for key in tree}
        if isinstance(tree, (list, tuple)):
            return type(tree)(self._walk(item, path + (k,)) for k, item in enumerate(tree))
        array = np.asarray(tree)
        if array.dtype.kind not in "fiu":
            raise InputError(f"gradgen.optimize: parameter {_label(path)} is {tree!r}; parameters are numbers or "
                             "arrays of them, or dicts, lists and tuples of those")
        self.leaves.append((path, array.shape))
        return len(self.leaves) - 1

    def flatten(self, params: Any) -> np.ndarray:
        pieces = []
        for path, _ in self.leaves:
            leaf = params
            for key in path:
                leaf = leaf[key]
            pieces.append(np.asarray(leaf, dtype=float).reshape(-1))
        return np.concatenate(pieces)

    def unflatten(self, vector: Any, reshape: Callable[[Any, tuple[int, ...]], Any]) -> Any:
        """The structure with each leaf a piece of ``vector`` (traced or concrete) in its shape."""
        pieces, start = [], 0
        for _, shape in self.leaves:
            size = math.prod(shape)
            pieces.append(reshape(vector[start:start + size], shape) if shape else vector[start])
            start += size

        def build(node: Any) -> Any:
            if isinstance(node, dict):
                return {key: build(value) for key, value in node.items()}
            if isinstance(node, (list, tuple)):
                return type(node)(build(item) for item in node)
            return pieces[node]

        return build(self.structure)


def _label(path: tuple[Any, ...]) -> str:
    return "params" + "".join(f"[{key!r}]" for key in path)


def _flat_function(fn: Callable, layout: _Layout, arg_names: Sequence[str]) -> Callable:
    """``fn(params, *args)`` as a function of the flat vector ``theta`` and the args, to trace."""
    def flat(theta: Any, *args: Any) -> Any:
        return fn(layout.unflatten(theta, F.reshape), *args)

    flat.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter(n, inspect.Parameter.POSITIONAL_OR_KEYWORD) for n in ("theta", *arg_names)])
    flat.__name__ = flat.__qualname__ = function_name(fn)
    return flat


def _arg_names(fn: Callable, count: int) -> list[str]:
    names = list(inspect.signature(fn).parameters)[1:1 + count]
    if len(names) < count:
        raise InputError(f"gradgen.optimize: {function_name(fn)} takes {len(names) + 1} arguments, given params "
                         f"and {count} args")
    return names


def _specs(layout: _Layout, names: Sequence[str], args: Sequence[Any]) -> dict[str, Any]:
    from gradgen.dsl.specs import spec_of

    return {"theta": spec_of(np.zeros(layout.size), "theta"), **{n: spec_of(a, n) for n, a in zip(names, args)}}


def minimize(fn: Callable, params: Any, args: Sequence[Any] = (), method: str = "L-BFGS-B",
             backend: str = "auto", **options: Any) -> Any:
    """``scipy.optimize.minimize`` of ``fn(params, *args)`` (a scalar) over ``params``, with its gradient
    (and, for Newton-CG, trust-ncg and trust-krylov, its Hessian-vector products; for trust-exact, dogleg
    and trust-constr, its Hessian) from compiled kernels. ``options`` go to SciPy (``tol``, ``bounds`` on
    the flat vector, ``options={...}``, ``callback``). Returns SciPy's result, ``x`` in the structure of
    ``params``."""
    optimize = _scipy_optimize()
    if isinstance(method, str) and method.lower() not in METHODS:
        raise InputError(f"gradgen.optimize.minimize: unknown method {method!r}; SciPy's methods are "
                         f"{', '.join(METHODS)} (in any case)")
    args = tuple(args)
    layout = _Layout(params)
    names = _arg_names(fn, len(args))
    flat = _flat_function(fn, layout, names)
    specs = _specs(layout, names, args)
    gradient = value_and_grad(flat, wrt="theta", backend=backend, specs=specs)

    def fun(theta: np.ndarray, *a: Any) -> tuple[float, np.ndarray]:
        value, grads = gradient(theta, *a)
        return value, grads["theta"]

    extra: dict[str, Any] = {}
    if method.lower() in HESSP_METHODS:
        product = hvp(flat, wrt="theta", backend=backend, specs=specs, with_gradient=False)
        extra["hessp"] = lambda theta, v, *a: product(theta, *a, tangents={"theta": v})[1]["theta"]
    elif method.lower() in HESS_METHODS:
        second = hessian(flat, wrt="theta", backend=backend, specs=specs)
        extra["hess"] = lambda theta, *a: second(theta, *a)[2]
    result = optimize.minimize(fun, layout.flatten(params), args=args, method=method, jac=True, **extra, **options)
    result.x_flat = result.x
    result.x = layout.unflatten(result.x, np.reshape)
    return result


def least_squares(residual: Callable, params: Any, args: Sequence[Any] = (), backend: str = "auto",
                  **options: Any) -> Any:
    """``scipy.optimize.least_squares`` of the residual vector ``residual(params, *args)`` over ``params``,
    the residual and its Jacobian from one compiled ``gg.jacobian`` kernel (computed once per point).
    ``options`` go to SciPy (``method``, ``loss``, ``bounds`` on the flat vector, ``x_scale``). Returns
    SciPy's result, ``x`` in the structure of ``params``."""
    optimize = _scipy_optimize()
    args = tuple(args)
    layout = _Layout(params)
    names = _arg_names(residual, len(args))
    flat = _flat_function(residual, layout, names)
    kernel = jacobian(flat, wrt="theta", backend=backend, specs=_specs(layout, names, args))
    last: dict[str, Any] = {}

    def evaluated(theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if last.get("theta") is None or not np.array_equal(last["theta"], theta):
            value, jac = kernel(theta, *args)  # a residual of any shape: SciPy takes it flat
            last.update(theta=np.array(theta), value=np.ravel(value), jac=np.reshape(jac["theta"], (-1, layout.size)))
        return last["value"], last["jac"]

    result = optimize.least_squares(lambda theta: evaluated(theta)[0], layout.flatten(params),
                                    jac=lambda theta: evaluated(theta)[1],
                                    **options)
    result.x_flat = result.x
    result.x = layout.unflatten(result.x, np.reshape)
    return result
