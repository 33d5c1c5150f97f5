"""gradgen.dask: data-parallel gradients on a Dask cluster (``pip install "gradgen-compiler[dask]"``).

``gradgen.dask.value_and_grad(loss, wrt="w", reduction="mean")`` returns a callable taking ``loss``'s
arguments where the data arguments are ``dask.array`` arrays chunked along axis 0 (all with the same
row chunks; other axes are joined into one chunk) and the parameters are NumPy arrays or numbers. Each
call runs the compiled kernel of ``loss`` on every chunk, where Dask put it (the workers of a
``dask.distributed`` client, or the local scheduler), and tree-reduces the values and gradients into
the exact result: summed for ``reduction="sum"``, weighted by the chunks' rows for ``"mean"``. The
parameters and the kernel go to each worker once per call (one task each), not once per chunk; the
kernel travels as its graph (``runtime/travel.py``) and each worker builds it once or loads it from its
cache; a worker without a C compiler runs the Python kernel with the same numbers.

``loss`` is the ordinary per-batch loss. That is exact only when the loss is separable over the rows
of the data: a sum of per-row terms (``reduction="sum"``; a penalty on the parameters would be counted
once per chunk, so it belongs outside) or a mean of them (``"mean"``; there a penalty added to the mean
is exact, the chunks' weights adding up to one). Before the first call compiles, the loss is checked
on a few random rows: the loss of three rows must be the sum (or the mean) of the losses of each row, in
value and gradient, or a ``GraphError`` says why not.

``gradgen.dask.map(kernel, parameter_sets, **shared)`` runs one kernel for many parameter sets (a sweep),
the shared data sent once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from gradgen.dsl.specs import Array, spec_of
from gradgen.dsl.trace import folded_parameters, parameter_names
from gradgen.errors import GraphError, InputError
from gradgen.runtime import args as checks
from gradgen.runtime.kernel import Kernel
from gradgen.runtime.kernel import value_and_grad as _value_and_grad

REDUCTIONS = ("sum", "mean")


def _dask() -> Any:
    try:
        import dask
        import dask.array
    except ImportError:
        raise InputError('gradgen.dask needs Dask: pip install "gradgen-compiler[dask]"') from None
    return dask


def _chunk(kernel: Kernel, params: dict[str, Any], names: Sequence[str], data_names: Sequence[str], weight: float,
           *blocks: np.ndarray) -> tuple[float, dict[str, Any]]:
    """The kernel on one chunk (``blocks``, the data arguments' rows), value and gradients times ``weight``
    (on a worker)."""
    data = dict(zip(data_names, blocks))
    value, grads = kernel(*[data[n] if n in data else params[n] for n in names])
    return value * weight, {k: np.asarray(g) * weight for k, g in grads.items()}


def _added(a: tuple[float, dict[str, Any]], b: tuple[float, dict[str, Any]]) -> tuple[float, dict[str, Any]]:
    return a[0] + b[0], {k: a[1][k] + b[1][k] for k in a[1]}


def _tree(dask: Any, parts: list[Any]) -> Any:
    """The pairwise sum of ``parts`` (delayed), as a balanced tree of tasks."""
    while len(parts) > 1:
        parts = [dask.delayed(_added)(parts[k], parts[k + 1]) if k + 1 < len(parts) else parts[k]
                 for k in range(0, len(parts), 2)]
    return parts[0]


class DataParallelGradient:
    """The callable ``gradgen.dask.value_and_grad`` returns (see the module docstring)."""

    def __init__(self, fn: Callable, wrt: Any, reduction: str, backend: str, specs: Mapping[str, Any] | None,
                 spec_kwargs: Mapping[str, Any]):
        _dask()
        if reduction not in REDUCTIONS:
            raise InputError(f"gradgen.dask.value_and_grad: reduction must be one of {REDUCTIONS}, got {reduction!r}")
        self._fn, self._wrt, self._reduction, self._backend = fn, wrt, reduction, backend
        self._given = {**(specs or {}), **spec_kwargs}
        self.names = parameter_names(fn, self._given)
        self._folded = folded_parameters(fn, self._given)
        self._kernels: dict[tuple[Array, ...], Any] = {}  # chunk specs -> the kernel, as a Delayed

    def __call__(self, *args: Any, **kwargs: Any) -> tuple[float, dict[str, Any]]:
        dask = _dask()
        values = dict(zip(self.names, checks.bind(self.names, args, kwargs, self._folded)))
        data = {n: v for n, v in values.items() if isinstance(v, dask.array.Array)}
        if not data:
            raise InputError("gradgen.dask.value_and_grad: no argument is a dask array; give the data as dask "
                             "arrays chunked along axis 0 (da.from_array(X, chunks=(rows, -1)))")
        rows = self._row_chunks(data)
        params = {n: v for n, v in values.items() if n not in data}
        total = sum(rows)
        kernels: dict[int, Any] = {}
        for n in sorted(set(rows)):
            kernels[n] = self._kernel(data, params, n)
        shared = dask.delayed(params, pure=True)  # one task: sent to each worker once
        blocks = {name: (array if all(b == 1 for b in array.numblocks[1:]) else
                         array.rechunk({k: -1 for k in range(1, array.ndim)})).to_delayed().ravel()
                  for name, array in data.items()}
        data_names = list(data)
        parts = []
        for k, n in enumerate(rows):
            weight = n / total if self._reduction == "mean" else 1.0
            parts.append(dask.delayed(_chunk, pure=True)(kernels[n], shared, self.names, data_names, weight,
                                                         *[blocks[name][k] for name in data_names]))
        (value, grads), = dask.compute(_tree(dask, parts))
        return float(value), {k: (float(g) if np.ndim(g) == 0 else g) for k, g in grads.items()}

    def _row_chunks(self, data: dict[str, Any]) -> list[int]:
        chunks = None
        for name, array in data.items():
            if array.ndim == 0:
                raise InputError(f"gradgen.dask: {name!r} is a 0-d dask array; data arguments have rows (axis 0)")
            if chunks is None:
                chunks, first = array.chunks[0], name
            elif array.chunks[0] != chunks:
                raise InputError(f"gradgen.dask: {name!r} is chunked along axis 0 as {array.chunks[0]}, {first!r} "
                                 f"as {chunks}; chunk the data arguments alike (same rows per chunk)")
        return list(chunks)

    def _kernel(self, data: dict[str, Any], params: dict[str, Any], rows: int) -> Any:
        """The value-and-gradient kernel for chunks of ``rows`` rows (checked separable the first time), as a
        Delayed made once: its key is computed once, not at every call."""
        specs = {}
        for n in self.names:
            if n in data:
                specs[n] = Array((rows,) + tuple(data[n].shape[1:]), str(data[n].dtype))
            else:
                specs[n] = self._given.get(n) or spec_of(params[n], n)
        key = tuple(specs[n] for n in self.names)
        if key not in self._kernels:
            if not self._kernels:
                self._check_separable(specs, set(data))
            kernel = _value_and_grad(self._fn, wrt=self._wrt, backend=self._backend, specs=specs)
            self._kernels[key] = _dask().delayed(kernel, pure=True)
        return self._kernels[key]

    def _check_separable(self, specs: dict[str, Array], data: set[str]) -> None:
        """The loss of three random rows against the sum (or mean) of the losses of each row."""
        rng = np.random.default_rng(0)
        point = {}
        for n, spec in specs.items():
            shape = ((3,) + spec.shape[1:]) if n in data else spec.shape
            point[n] = np.zeros(shape, spec.dtype) if spec.dtype in ("int64", "bool") else \
                rng.normal(size=shape).astype(spec.dtype) * 0.5

        def at(rows: slice) -> tuple[float, dict[str, Any]]:
            sub = {n: (v[rows] if n in data else v) for n, v in point.items()}
            sub_specs = {n: (Array(sub[n].shape, specs[n].dtype) if n in data else specs[n]) for n in self.names}
            kernel = _value_and_grad(self._fn, wrt=self._wrt, backend="python", specs=sub_specs)
            return kernel(*[sub[n] for n in self.names])

        whole = at(slice(0, 3))
        parts = [at(slice(k, k + 1)) for k in range(3)]
        scale = 1.0 / 3.0 if self._reduction == "mean" else 1.0
        combined = (sum(p[0] for p in parts) * scale, {k: sum(np.asarray(p[1][k]) for p in parts) * scale
                                                        for k in whole[1]})
        agree = np.allclose(whole[0], combined[0], rtol=1e-9, atol=1e-12, equal_nan=True) and all(
            np.allclose(whole[1][k], combined[1][k], rtol=1e-9, atol=1e-12, equal_nan=True) for k in whole[1])
        if not agree:
            other = "mean" if self._reduction == "sum" else "sum"
            raise GraphError(f"gradgen.dask: the loss is not the {self._reduction} of per-row terms over the rows of "
                             f"{sorted(data)}: on 3 random rows it gives {whole[0]:.6g}, the {self._reduction} of its "
                             f"rows {combined[0]:.6g}. Write the loss as a sum or a mean over rows (with "
                             f"reduction='sum', a penalty on the parameters belongs outside, added once), or try "
                             f"reduction={other!r}")


def value_and_grad(fn: Callable, wrt: str | Sequence[str] | None = None, reduction: str = "sum",
                   backend: str = "auto", specs: Mapping[str, Any] | None = None,
                   **spec_kwargs: Any) -> DataParallelGradient:
    """``fn``'s value and gradient over data given as dask arrays chunked by rows (see the module
    docstring). ``specs`` may give the parameters' specs; the data's come from the chunks."""
    return DataParallelGradient(fn, wrt, reduction, backend, specs, spec_kwargs)


def map(kernel: Any, parameter_sets: Sequence[Mapping[str, Any]], **shared: Any) -> list[Any]:  # noqa: A001
    """``[kernel(**parameters, **shared) for parameters in parameter_sets]``, computed by Dask: one task per
    set, the kernel and the ``shared`` arguments sent to each worker once."""
    dask = _dask()
    sent = dask.delayed(kernel, pure=True)
    common = dask.delayed(dict(shared), pure=True)
    tasks = [dask.delayed(_call_with, pure=True)(sent, dict(parameters), common) for parameters in parameter_sets]
    return list(dask.compute(*tasks))


def _call_with(kernel: Any, parameters: dict[str, Any], shared: dict[str, Any]) -> Any:
    return kernel(**parameters, **shared)
