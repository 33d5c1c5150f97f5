"""check_grad: the analytic gradient against central finite differences, input by input."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from gradgen.inspect.values import format_number, format_table, html_table, trace_at
from gradgen.ir.graph import Graph
from gradgen.passes.autodiff import resolve_wrt
from gradgen.runtime.kernel import compile, value_and_grad


@dataclass(frozen=True)
class GradCheckRow:
    """One checked gradient entry."""

    input: str
    index: tuple[int, ...]
    analytic: float
    numeric: float
    abs_error: float
    rel_error: float


@dataclass(frozen=True)
class GradCheck:
    """The result of ``check_grad``: ``.ok``, ``.max_rel_error`` and a printable table."""

    value: float
    rows: tuple[GradCheckRow, ...]
    ok: bool
    max_rel_error: float
    max_abs_error: float
    rtol: float
    atol: float

    def _table(self) -> tuple[list[str], list[list[str]], str]:
        body = [[r.input + (str(list(r.index)) if r.index else ""), format_number(r.analytic),
                 format_number(r.numeric), f"{r.abs_error:.2e}", f"{r.rel_error:.2e}"] for r in self.rows]
        verdict = (f"{'OK' if self.ok else 'MISMATCH'}: max relative error {self.max_rel_error:.2e} "
                   f"(tolerance: rtol {self.rtol:g}, atol {self.atol:g})")
        return ["gradient", "analytic", "finite diff.", "abs error", "rel error"], body, verdict

    def __str__(self) -> str:
        header, body, verdict = self._table()
        return format_table(header, body) + f"\n{verdict}"

    def _repr_html_(self) -> str:
        """The table as HTML, the verdict as its caption, for Jupyter."""
        return html_table(*self._table())

    __repr__ = __str__


def check_grad(fn: Callable | Graph, wrt: str | Sequence[str] | None = None, eps: float = 1e-6,
               rtol: float = 1e-5, atol: float = 1e-7, **values: Any) -> GradCheck:
    """Compare gradgen's gradient of ``fn`` at ``values`` with central differences.

    Each entry x of each ``wrt`` input is nudged by h = eps * max(1, |x|):
    numeric = (f(x + h) - f(x - h)) / 2h. An entry passes when
    |analytic - numeric| <= atol * max(1, |f|) + rtol * max(|analytic|, |numeric|).
    """
    graph, arrays = trace_at(fn, values)
    names = resolve_wrt(graph, wrt)
    vg = value_and_grad(graph, wrt=names, backend="python")
    forward = compile(graph, backend="python")
    order = list(graph.input_names)
    value, grads = vg(*[arrays[n] for n in order])
    scale = max(1.0, abs(value))
    rows = []
    for name in names:
        base = arrays[name]
        analytic = np.asarray(grads[name], dtype=float)
        for index in np.ndindex(*base.shape):
            x0 = float(base[index])
            h = eps * max(1.0, abs(x0))
            shifted = []
            for step in (h, -h):
                moved = dict(arrays)
                moved[name] = base.copy()
                moved[name][index] = x0 + step
                shifted.append(_scalar(forward(*[moved[n] for n in order])))
            numeric = (shifted[0] - shifted[1]) / (2 * h)
            a = float(analytic[index])
            abs_error = abs(a - numeric)
            denominator = max(abs(a), abs(numeric))
            rel_error = abs_error / denominator if denominator > 0 else 0.0
            rows.append(GradCheckRow(name, tuple(index), a, numeric, abs_error, rel_error))
    ok = all(r.abs_error <= atol * scale + rtol * max(abs(r.analytic), abs(r.numeric)) for r in rows)
    return GradCheck(float(value), tuple(rows), ok,
                     max((r.rel_error for r in rows), default=0.0),
                     max((r.abs_error for r in rows), default=0.0), rtol, atol)


def _scalar(result: Any) -> float:
    return float(result[0] if isinstance(result, tuple) else result)
