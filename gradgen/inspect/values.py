"""Shared helpers of the inspection tools: concrete argument values and number formatting."""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any, Callable

import numpy as np

from gradgen.dsl.specs import spec_of
from gradgen.dsl.trace import parameter_names, trace
from gradgen.errors import InputError
from gradgen.ir.graph import Graph


def trace_at(fn: Callable | Graph, values: Mapping[str, Any]) -> tuple[Graph, dict[str, np.ndarray]]:
    """Trace ``fn`` with the shapes of ``values`` and return the graph and the values as arrays."""
    names = list(fn.input_names) if isinstance(fn, Graph) else parameter_names(fn, values)
    missing = [n for n in names if n not in values]
    unknown = [k for k in values if k not in names]
    if missing or unknown:
        raise InputError(f"expected values for {names}" + (f"; missing {missing}" if missing else "")
                         + (f"; unknown {unknown}" if unknown else ""))
    specs = {n: spec_of(values[n], n) for n in names}
    graph = fn if isinstance(fn, Graph) else trace(fn, specs)
    arrays = {n: np.asarray(values[n], dtype=graph.input_node(n).dtype) for n in names}
    return graph, arrays


def format_number(value: Any, width: int = 0) -> str:
    """A scalar as ``%.6g``; an array as its shape and a few entries."""
    array = np.asarray(value)
    if array.dtype.kind == "f":
        array = array + 0.0  # -0.0 prints as 0
    if array.ndim == 0:
        text = f"{array.item():.6g}" if array.dtype.kind == "f" else str(array.item())
    elif array.size <= 4:
        text = np.array2string(array, precision=4, separator=", ")
    else:
        flat = array.ravel()
        text = f"{array.shape} [{flat[0]:.4g}, {flat[1]:.4g}, ..., {flat[-1]:.4g}]"
    return text.rjust(width) if width else text


def html_table(header: list[str], rows: list[list[str]], caption: str = "") -> str:
    """The same table as HTML, for Jupyter (every cell escaped)."""
    def cells(tag: str, row: list[str]) -> str:
        return "".join(f"<{tag}>{html.escape(cell)}</{tag}>" for cell in row)

    body = "".join(f"<tr>{cells('td', row)}</tr>" for row in rows)
    title = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    return f"<table>{title}<thead><tr>{cells('th', header)}</tr></thead><tbody>{body}</tbody></table>"


def format_table(header: list[str], rows: list[list[str]]) -> str:
    """Columns padded to their widest cell, a rule under the header."""
    widths = [max(len(header[i]), *(len(r[i]) for r in rows)) if rows else len(header[i])
              for i in range(len(header))]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths)).rstrip(),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    return "\n".join(lines)
