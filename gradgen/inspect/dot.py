"""to_dot: the computation graph as Graphviz DOT, optionally annotated with values and gradients.

The picture follows the seeds' diagrams: inputs on the left, the output on the
right (``rankdir=LR``), one box per node with its name and what it computes,
and, when values are given, its forward value and dJ/dnode. Rendering to SVG or
PNG uses the Graphviz ``dot`` program, which is not a Python dependency.
"""

from __future__ import annotations

import html
import os
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from gradgen.dsl.specs import Array
from gradgen.dsl.trace import trace
from gradgen.errors import GradgenError, InputError
from gradgen.inspect.backprop import backprop_table
from gradgen.inspect.values import format_number, trace_at
from gradgen.ir.graph import FLOAT_DTYPES, TUPLE, ConstArray, Graph, Node
from gradgen.ir.printer import format_node
from gradgen.runtime.interpret import evaluate

#: Output formats ``render`` accepts, by file suffix.
RENDER_FORMATS = ("svg", "png", "pdf")

#: Seconds ``dot`` may run before gradgen gives up.
DOT_TIMEOUT = 60.0

_HIGHLIGHT = "#d62728"  # the edge a backprop step computes

_INSTALL_HINT = ("install Graphviz so that the `dot` program is on PATH: "
                 "`apt-get install graphviz` (Debian/Ubuntu), `brew install graphviz` (macOS), "
                 "or `conda install graphviz`")

_INPUT_COLOR = "#dbeafe"
_OUTPUT_COLOR = "#fde68a"
_NODE_COLOR = "#f5f5f5"
_GRAD_COLOR = "#b91c1c"


class GraphvizError(GradgenError, RuntimeError):
    """The Graphviz ``dot`` program is missing or failed to render a graph."""


class DotGraph(str):
    """Graphviz DOT text of a gradgen graph: a ``str`` that can also draw itself.

    ``dot.source`` (or the string itself) is the DOT text; ``dot.render("g.svg")``
    writes a picture; in Jupyter the graph shows itself as SVG when Graphviz
    is installed and as its DOT text otherwise.
    """

    __slots__ = ()

    @property
    def source(self) -> str:
        return str.__str__(self)

    def __repr__(self) -> str:
        return self.source

    def pipe(self, format: str = "svg") -> bytes:
        """The picture in ``format`` (svg, png, pdf) as bytes, made by Graphviz ``dot``."""
        format = _check_format(format)
        exe = shutil.which("dot")
        if exe is None:
            raise GraphvizError(f"cannot render the graph: the Graphviz program `dot` was not found; {_INSTALL_HINT}")
        try:
            done = subprocess.run([exe, f"-T{format}"], input=self.source.encode("utf-8"),
                                  capture_output=True, timeout=DOT_TIMEOUT, check=False)
        except FileNotFoundError as exc:
            raise GraphvizError(f"cannot run Graphviz `dot` ({exe}): {exc}; {_INSTALL_HINT}") from exc
        except subprocess.TimeoutExpired as exc:
            raise GraphvizError(f"Graphviz `dot` did not finish within {DOT_TIMEOUT:g} s") from exc
        if done.returncode != 0 or not done.stdout:
            message = done.stderr.decode("utf-8", "replace").strip() or "no output"
            raise GraphvizError(f"Graphviz `dot -T{format}` failed (exit code {done.returncode}): {message}")
        return done.stdout

    def render(self, path: str | os.PathLike[str], format: str | None = None) -> Path:
        """Write the picture to ``path`` and return the path.

        The format is ``format`` if given, else the file's suffix (``.svg``,
        ``.png`` or ``.pdf``). Raises ``GraphvizError`` (a ``GradgenError``) with
        install instructions when Graphviz is not installed.
        """
        target = Path(path)
        if format is None:
            if not target.suffix:
                raise GraphvizError(f"cannot tell the picture format of {str(target)!r}: give it a suffix "
                                    f"({', '.join('.' + f for f in RENDER_FORMATS)}) or pass format=")
            format = target.suffix[1:]
        data = self.pipe(format)
        target.write_bytes(data)
        return target

    def _repr_svg_(self) -> str | None:
        """SVG for Jupyter; None when Graphviz cannot render (then ``_repr_html_`` says how to get it)."""
        try:
            return self.pipe("svg").decode("utf-8")
        except GraphvizError:
            return None

    def _repr_html_(self) -> str | None:
        """Without Graphviz, the DOT text and how to get the picture (None with it: the SVG shows)."""
        if self._repr_svg_() is not None:
            return None
        return (f"<p>The graph's picture needs Graphviz: {html.escape(_INSTALL_HINT)}. Its DOT source:</p>"
                f"<pre>{html.escape(self.source)}</pre>")


def to_dot(fn_or_graph: Callable | Graph, *, highlight: tuple[str, str] | None = None, label: str = "",
           **values: Any) -> DotGraph:
    """The graph of ``fn_or_graph`` as Graphviz DOT, laid out left to right.

    One box per node shows its name and what it computes (scalar constants
    appear inline, as in ``power(d, 2.0)``; constant arrays as small plain
    nodes). When ``values`` are given (the same keywords as
    ``gg.backprop_table``), every box also shows the node's forward value and,
    when the function returns one scalar, the gradient dJ/dnode of that output
    (from ``gg.backprop_table``). Values may also be specs (``x=gg.Array((3,))``)
    to draw a function of arrays without numbers. ``highlight=("w", "c")`` draws the edge from node ``w``
    into node ``c`` in red, with ``label`` beside it (a backprop step: ``dJ/dw += dJ/dc * dc/dw``).
    """
    if values and all(isinstance(v, Array) for v in values.values()):
        graph = trace(fn_or_graph, dict(values))
        notes: dict[int, _Note] = {}
    elif values:
        graph, arrays = trace_at(fn_or_graph, values)
        notes = _annotate(graph, arrays, values)
    else:
        graph = trace(fn_or_graph)
        notes = {}
    if highlight is not None:
        named = {node.label() for node in graph.nodes}
        unknown = [n for n in highlight if n not in named]
        if len(highlight) != 2 or unknown:
            raise InputError(f"to_dot: highlight names an edge (input, node) of the graph, e.g. ('w', 'c'); "
                             f"{unknown or highlight} not among the nodes {sorted(named)}")
    return DotGraph(_dot_source(graph, notes, highlight, label))


@dataclass(frozen=True)
class _Note:
    """What a box shows besides its name: the forward value and, if known, dJ/dnode."""

    value: Any
    grad: Any
    has_grad: bool


def _varying(graph: Graph) -> list[bool]:
    """Which nodes depend on an input (the others are constants, drawn inline or small)."""
    varies = [False] * len(graph.nodes)
    for node in graph.nodes:
        varies[node.id] = node.op == "input" or any(varies[i] for i in node.inputs)
    return varies


def _annotate(graph: Graph, arrays: Mapping[str, Any], values: Mapping[str, Any]) -> dict[int, _Note]:
    """Values and gradients of the input-dependent nodes, keyed by node id.

    backprop_table gives both when the graph has one scalar float output; for
    other graphs (several outputs, an array output) only forward values are shown.
    """
    ids = [node.id for node, v in zip(graph.nodes, _varying(graph)) if v and node.dtype != TUPLE]
    out = graph.nodes[graph.outputs[0]] if len(graph.outputs) == 1 else None
    if out is not None and out.shape == () and out.dtype in FLOAT_DTYPES:
        rows = backprop_table(graph, **values).rows
        if len(ids) != len(rows) or any(graph.nodes[i].label() != r.name for i, r in zip(ids, rows)):
            raise GradgenError("internal error: backprop_table rows do not match the graph's nodes")
        return {i: _Note(r.value, r.grad, True) for i, r in zip(ids, rows)}
    forward = evaluate(graph, arrays)
    return {i: _Note(forward[i], None, False) for i in ids}


def _inline_constant(graph: Graph, node: Node) -> bool:
    """Scalar constants (and unnamed broadcasts of them) are shown inside their consumers' labels."""
    if node.op == "const" and node.shape == ():
        return True
    return (node.op == "broadcast_to" and not node.name and graph.nodes[node.inputs[0]].op == "const"
            and graph.nodes[node.inputs[0]].shape == ())


def _expression(graph: Graph, node: Node) -> str:
    """What a node computes, e.g. ``multiply(w, x)``; ``input`` for inputs."""
    if node.op == "input":
        return "input" + ("" if node.shape == () else f" {node.shape}")
    if node.op == "const":
        value = node.params.get("value")
        return "const " + format_number(value.array if isinstance(value, ConstArray) else value)
    if node.dtype == TUPLE:  # a loop: its body, one step, below it
        first, *body = format_node(graph, node).split("\n")
        return first.split(" = ", 1)[1].rpartition(" : ")[0] + "\n" + "\n".join(line.strip() for line in body)
    text = format_node(graph, node).split(" = ", 1)[1]
    expr = text.rpartition(" : ")[0]
    if node.shape != ():
        expr += f" : {node.shape}"
    return expr


def _html(text: str) -> str:
    """Text escaped for a Graphviz HTML-like label; newlines become line breaks."""
    out = []
    for ch in text:
        if ch == "&":
            out.append("&amp;")
        elif ch == "<":
            out.append("&lt;")
        elif ch == ">":
            out.append("&gt;")
        elif ch == '"':
            out.append("&quot;")
        elif ch == "'":
            out.append("&#39;")
        elif ch == "\n":
            out.append('<BR ALIGN="CENTER"/>')
        elif ch in "\r\t" or ord(ch) < 32 or ord(ch) == 127:
            out.append(" ")
        elif ord(ch) > 127:
            out.append(f"&#{ord(ch)};")
        else:
            out.append(ch)
    return "".join(out)


def _row(text: str, *, bold: bool = False, color: str | None = None, size: int | None = None) -> str:
    body = _html(text)
    if bold:
        body = f"<B>{body}</B>"
    attrs = "".join([f' COLOR="{color}"' if color else "", f' POINT-SIZE="{size}"' if size else ""])
    if attrs:
        body = f"<FONT{attrs}>{body}</FONT>"
    return f"<TR><TD>{body}</TD></TR>"


def _dot_source(graph: Graph, notes: Mapping[int, _Note], highlight: tuple[str, str] | None = None,
                label: str = "") -> str:
    """The DOT text: boxes for input-dependent nodes, small plain nodes for constant arrays."""
    varies = _varying(graph)
    outputs = {i: name for i, name in zip(graph.outputs, graph.output_names)}
    out_label = graph.output_names[0] if graph.output_names else "out"
    lines = [
        "digraph gradgen {",
        "  rankdir=LR;",
        '  node [shape=plain, fontname="Helvetica", fontsize=11];',
        '  edge [color="#555555", arrowsize=0.7];',
    ]
    drawn: list[int] = []
    for node in graph.nodes:
        if _inline_constant(graph, node) and node.id not in outputs:
            continue
        drawn.append(node.id)
        if not varies[node.id] and node.id not in outputs:
            label = f"<FONT POINT-SIZE=\"9\">{_html(node.label() + ' = ' + _expression(graph, node))}</FONT>"
            lines.append(f'  n{node.id} [shape=plaintext, fontcolor="#555555", label=<{label}>];')
            continue
        title = node.label()
        if node.id in outputs and outputs[node.id] != title:
            title += f" -> {outputs[node.id]}"
        cells = [_row(title, bold=True), _row(_expression(graph, node), size=9)]
        note = notes.get(node.id)
        if note is not None:
            cells.append(_row(f"value = {format_number(note.value)}"))
            if note.has_grad:
                grad = "not differentiable" if note.grad is None else format_number(note.grad)
                cells.append(_row(f"d{out_label}/d{node.label()} = {grad}", color=_GRAD_COLOR))
        color = (_OUTPUT_COLOR if node.id in outputs else _INPUT_COLOR if node.op == "input" else _NODE_COLOR)
        style = ' STYLE="rounded"' if node.op == "input" else ""
        table = (f'<TABLE BORDER="1" CELLBORDER="0" CELLSPACING="0" CELLPADDING="3" BGCOLOR="{color}"{style}>'
                 + "".join(cells) + "</TABLE>")
        lines.append(f"  n{node.id} [label=<{table}>];")
    shown = set(drawn)
    for node in graph.nodes:
        if node.id not in shown:
            continue
        for i in node.inputs:
            if i not in shown:
                continue
            if highlight == (graph.nodes[i].label(), node.label()):
                text = f', label=<{_html(label)}>, fontcolor="{_HIGHLIGHT}", fontsize=10' if label else ""
                lines.append(f'  n{i} -> n{node.id} [color="{_HIGHLIGHT}", penwidth=2.5{text}];')
            else:
                lines.append(f"  n{i} -> n{node.id};")
    inputs = [i for i in graph.inputs if i in shown]
    if inputs:
        lines.append("  { rank=min; " + " ".join(f"n{i};" for i in inputs) + " }")
    sinks = [i for i in graph.outputs if i in shown and i not in graph.inputs]
    if sinks:
        lines.append("  { rank=max; " + " ".join(f"n{i};" for i in dict.fromkeys(sinks)) + " }")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _check_format(format: str) -> str:
    fmt = format.lower().lstrip(".")
    if fmt not in RENDER_FORMATS:
        raise GraphvizError(f"cannot render to {format!r}: choose one of {', '.join(RENDER_FORMATS)}")
    return fmt
