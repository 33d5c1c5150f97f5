"""The Python code generator: one straight-line function, one statement per node.

All-scalar float64 graphs become plain-float code calling ``math``, with
the same graph as NumPy code as the fallback where ``math`` raises instead
of giving inf or NaN; anything with arrays becomes NumPy code. Statements
are named after the graph's nodes and commented with what they compute, so the kernel reads like a worked backprop.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gradgen.codegen.naming import assign_names, identifier
from gradgen.codegen.pyhelpers import RESERVED
from gradgen.ir.graph import TUPLE, ConstArray, Graph, Node
from gradgen.ops.registry import OPS, spell

#: Scalar outputs come back as Python numbers of their kind, from either backend.
_PYTHON_SCALAR = {"float64": "float", "float32": "float", "int64": "int", "bool": "bool"}


@dataclass
class PythonKernelSource:
    """Generated source of one kernel function and what it needs to run."""

    text: str
    function_name: str
    scalar: bool
    constants: dict[str, np.ndarray] = field(default_factory=dict)


def is_scalar_graph(graph: Graph) -> bool:
    """True when every node is a float64/int/bool scalar: plain-float code applies."""
    return all(n.shape == () and n.dtype not in ("float32", TUPLE)
               and not isinstance(n.params.get("value"), ConstArray) for n in graph.nodes)


def _literal(value: Any, dtype: str, scalar: bool) -> str:
    if isinstance(value, (bool, int)):
        return repr(value)
    text = repr(float(value))
    if dtype == "float32" and not scalar:
        return f"np.float32({text})"  # a bare Python float would make broadcasts and np.where float64
    return f"({text})" if text.startswith("-") else text


def _comment(text: str) -> str:
    """``text`` on one line, fit for a comment: names may hold line breaks, NULs or other control characters."""
    return " ".join("".join(c if c.isprintable() else " " for c in text).split())


def _docstring(text: str) -> str:
    """A string literal of ``text``: triple-quoted when it reads that way unchanged, else its repr."""
    if text.isprintable() and '"' not in text and "\\" not in text:
        return f'"""{text}"""'
    return repr(text)


def result_expression(mode: str, outputs: Sequence[str], grad_keys: Sequence[str], aux: Any = None) -> str:
    """What a kernel returns, from the expressions of the graph's outputs: the output(s) ("forward"),
    ``value, {key: grad}`` ("value_and_grad") or the dict ("grad"); with an ``aux`` template (``has_aux``),
    ``(value, aux), {key: grad}`` or ``{key: grad}, aux``, the aux leaves being the outputs after the
    gradients."""
    if mode == "forward":
        return outputs[0] if len(outputs) == 1 else "(" + ", ".join(outputs) + ",)"
    grads = "{" + ", ".join(f"{k!r}: {v}" for k, v in zip(grad_keys, outputs[1:])) + "}"
    if aux is None:
        return grads if mode == "grad" else f"{outputs[0]}, {grads}"
    extra = render_aux(aux, outputs[1 + len(grad_keys):])
    return f"{grads}, {extra}" if mode == "grad" else f"({outputs[0]}, {extra}), {grads}"


def render_aux(template: Any, leaves: Sequence[str]) -> str:
    """The aux template (its structure, leaf indices in place of values) as an expression of ``leaves``."""
    if isinstance(template, dict):
        return "{" + ", ".join(f"{key!r}: {render_aux(value, leaves)}" for key, value in template.items()) + "}"
    if isinstance(template, tuple):
        items = [render_aux(value, leaves) for value in template]
        return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"
    if isinstance(template, list):
        return "[" + ", ".join(render_aux(value, leaves) for value in template) + "]"
    return leaves[template]


def _broadcast_aliases(graph: Graph) -> dict[int, int]:
    """broadcast_to nodes that NumPy's implicit broadcasting makes unnecessary.

    A broadcast feeding only elementwise ops, each of which has another
    operand of the full shape, can be replaced by its source.
    """
    consumers: dict[int, list[Node]] = {}
    for node in graph.nodes:
        for i in node.inputs:
            consumers.setdefault(i, []).append(node)
    outputs = set(graph.outputs)
    aliases = {}
    for node in graph.nodes:
        if node.op != "broadcast_to" or node.id in outputs:
            continue
        users = consumers.get(node.id, [])
        if users and all(OPS[u.op].elementwise and any(
                graph.nodes[j].shape == u.shape and graph.nodes[j].op != "broadcast_to"
                for j in u.inputs if j != node.id) for u in users):
            aliases[node.id] = node.inputs[0]
    return aliases


class _Emitter:
    """Statements for the nodes of a graph, and of the bodies of its loops, into one function."""

    def __init__(self, scalar: bool, taken: set[str]):
        self.scalar = scalar
        self.taken = taken  # every name used so far: a loop's body is written inline
        self.constants: dict[str, np.ndarray] = {}

    def graph(self, graph: Graph, names: list[str], aliases: dict[int, int]) -> tuple[list[str], list[str]]:
        """(the expression of each node, the statements computing them); ``aliases``: broadcasts written as
        their source (see ``_broadcast_aliases``)."""
        expr: list[str] = [""] * len(graph.nodes)
        body: list[str] = []
        loops: dict[int, list[str]] = {}
        for node in graph.nodes:
            if node.op == "input":
                expr[node.id] = names[node.id]
            elif node.op == "const":
                value = node.params["value"]
                if isinstance(value, ConstArray):
                    self.constants[f"_const_{names[node.id]}"] = value.array
                    expr[node.id] = f"_const_{names[node.id]}"
                else:
                    expr[node.id] = _literal(value, node.dtype, self.scalar)
            elif node.id in aliases:
                expr[node.id] = expr[aliases[node.id]]
            elif OPS[node.op].kind == "loop":
                loops[node.id] = self.loop(node, [expr[i] for i in node.inputs], body)
            elif OPS[node.op].kind == "part":
                expr[node.id] = loops[node.inputs[0]][node.params["index"]]
            else:
                op = OPS[node.op]
                code = spell(op.py if self.scalar else op.np, [expr[i] for i in node.inputs], node.params)
                what = node.op if self.scalar else f"{node.op} -> {node.shape} {node.dtype}"
                comment = _comment(node.note or what)
                body.append(f"{names[node.id]} = {code}  # {comment}")
                expr[node.id] = names[node.id]
        return expr, body

    def claim(self, base: str) -> str:
        name, k = identifier(base, self.taken), 2
        while name in self.taken:
            name, k = f"{identifier(base, self.taken)}_{k}", k + 1
        self.taken.add(name)
        return name

    def loop(self, node: Node, args: list[str], out: list[str]) -> list[str]:
        """Append the statements of a loop node to ``out``; return the names of its results."""
        params = node.params
        body, carries, xs, length = params["body"], params["carries"], params["xs"], params["length"]
        names = assign_names(body, self.taken)
        self.taken |= set(names)
        inputs = [names[i] for i in body.inputs]
        step = self.claim("step")
        steps = f"range({length - 1}, -1, -1)" if params["reverse"] else f"range({length})"
        scanning = ", ".join(args[carries:carries + xs]) or "nothing"
        out.append(f"# loop of {length} steps{' from the last' if params['reverse'] else ''}: carries "
                   f"{', '.join(inputs[:carries]) or 'none'}, scanning {scanning}")
        for name, arg in zip(inputs[carries + xs:], args[carries + xs:]):
            out.append(f"{name} = {arg}  # read by the loop's body")
        if carries:
            out.append(f"{', '.join(inputs[:carries])}, = {', '.join(args[:carries])},")
        stacked = []
        for k in range(carries, len(body.outputs)):
            y = body.nodes[body.outputs[k]]
            stacked.append(self.claim(f"{body.output_names[k]}_steps"))
            out.append(f"{stacked[-1]} = np.empty({(length,) + y.shape!r}, dtype=np.{y.dtype})")
        expr, statements = self.graph(body, names, _broadcast_aliases(body))
        scanned = zip(inputs[carries:carries + xs], args[carries:carries + xs])
        inner = [f"{name} = {arg}[{step}]" for name, arg in scanned]
        inner += statements
        inner += [f"{name}[{step}] = {expr[i]}" for name, i in zip(stacked, body.outputs[carries:])]
        if carries:  # after the ys: a y may be the carry the step started from
            inner.append(f"{', '.join(inputs[:carries])}, = {', '.join(expr[i] for i in body.outputs[:carries])},")
        out.append(f"for {step} in {steps}:")
        out += ["    " + line for line in inner] or ["    pass"]
        return inputs[:carries] + stacked


def generate_python(graph: Graph, *, function_name: str, mode: str,
                    grad_keys: Sequence[str] = (), title: str = "", numpy: bool = False,
                    aux: Any = None) -> PythonKernelSource:
    """Emit ``graph`` as the source of one Python function.

    ``mode`` shapes the return value: "forward" returns the output(s),
    "value_and_grad" returns ``(value, {key: grad})``, "grad" the dict; ``aux`` as in ``result_expression``.
    """
    scalar = is_scalar_graph(graph) and not numpy
    while function_name in RESERVED:  # a kernel of gg.erf must not be ``def erf`` calling itself for the helper
        function_name += "_kernel"
    names = assign_names(graph, RESERVED | {function_name})
    emitter = _Emitter(scalar, set(names) | RESERVED | {function_name})
    aliases = {} if scalar else _broadcast_aliases(graph)
    expr, body = emitter.graph(graph, names, aliases)
    constants = emitter.constants

    outputs = []
    seen: set[int] = set()
    taken = set(emitter.taken)
    for node_id, out_name in zip(graph.outputs, graph.output_names):
        node = graph.nodes[node_id]
        text = expr[node_id]
        alias = identifier(out_name, RESERVED)
        if mode != "forward" and alias != names[node_id] and alias not in taken:
            # A gradient that is an existing value (dJ/db is d): give it its own name, so every
            # returned gradient has a dJ_d<input> line to read.
            what = f"the value of {names[node_id]}" if node.op != "const" else "a constant"
            body.append(f"{alias} = {text}  # {_comment(f'{alias} is {what}')}")
            taken.add(alias)
            text = alias
        if not scalar:
            if node.shape == ():
                text = f"{_PYTHON_SCALAR[node.dtype]}({text})"
            elif OPS[node.op].np_aliases or node_id in aliases or node_id in seen:
                # its NumPy value may share memory with an input: copied so the caller owns what it gets
                text = f"np.array({text}, dtype=np.{node.dtype})"
        seen.add(node_id)
        outputs.append(text)
    result = result_expression(mode, outputs, grad_keys, aux)

    params = ", ".join(names[i] for i in graph.inputs)
    lines = [f"def {function_name}({params}):"]
    if title:
        lines.append(f"    {_docstring(title)}")
    if scalar:
        lines.append("    try:")
        lines += ["        " + line for line in body] or ["        pass"]
        lines += [
            "    except _MATH_ERRORS:  # ArithmeticError, ValueError",
            "        # math raised where IEEE arithmetic gives inf or nan (log(0), 1/0, overflow):",
            "        # run the NumPy version of this kernel instead.",
            f"        return _ieee_fallback({params})",
            f"    return {result}",
        ]
    else:
        lines.append('    with np.errstate(all="ignore"):  # IEEE semantics: inf and nan, no warnings')
        scalars = [i for i in graph.inputs if graph.nodes[i].shape == () and graph.nodes[i].dtype != "int64"]
        if scalars:
            # NumPy scalars, so that 1/0 is inf and (-8) ** 0.5 nan, as for arrays, not an exception.
            lines.append(f"        {', '.join(names[i] for i in scalars)} = "
                         + ", ".join(f"np.{graph.nodes[i].dtype}({names[i]})" for i in scalars))
        lines += ["        " + line for line in body] or ["        pass"]
        lines.append(f"    return {result}")
    return PythonKernelSource("\n".join(lines) + "\n", function_name, scalar, constants)
