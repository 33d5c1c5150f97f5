"""SymPy both ways: a traced graph as SymPy expressions, and a SymPy expression as a graph.

``to_sympy(fn_or_graph)`` gives the output as a SymPy expression in the
input symbols, and ``to_sympy(fn_or_graph, wrt="a")`` its derivative with
respect to *any* node, intermediates included. ``sympy_view`` gives a
:class:`SympyView` with every node's expression (``view.nodes``) and
``view.diff``. SymPy alone cannot
differentiate with respect to an expression (seed 004: "Can't calculate
derivative wrt ..."); the view can, because it knows the graph: it rebuilds
the expression with the chosen node replaced by a fresh symbol (the chain
below that node cut, as backprop's dJ/dnode treats it) and differentiates
with respect to that symbol.

``from_sympy(expr, inputs)`` walks a SymPy expression without recursion and
replays it through the gradgen DSL inside ``gg.trace``, so the result is an
ordinary graph that compiles and differentiates like any other; every distinct
SymPy subexpression becomes one node, so shared subexpressions stay shared.

Only scalar graphs map to SymPy; an array node raises ``GraphError``.
"""

from __future__ import annotations

import inspect as _inspect
import math
from collections.abc import Mapping, Sequence
from fractions import Fraction
from typing import Any, Callable, Union

import sympy

from gradgen.dsl.trace import trace
from gradgen.errors import GraphError, InputError
from gradgen.ir.graph import ConstArray, Graph, Node
from gradgen.ops.registry import OPS
from gradgen.passes.unroll import unroll_loops

#: How a node name or several are given to :meth:`SympyView.diff`.
NodeNames = Union[str, Sequence[str]]

# --------------------------------------------------------------------------- graph -> SymPy


def _const_to_sympy(value: Any) -> sympy.Expr:
    """A ``const`` node's value as an exact SymPy number where the float is one
    (``2.0`` -> ``2``, ``0.5`` -> ``1/2``, ``0.1`` -> ``1/10``), else a ``Float``."""
    if isinstance(value, ConstArray):
        if value.array.shape != ():
            raise GraphError(f"to_sympy handles scalar graphs only; a constant has shape {value.array.shape}")
        value = value.array.item()
    if isinstance(value, (bool,)):
        return sympy.true if value else sympy.false
    number = float(value)
    if not math.isfinite(number):
        return sympy.nan if math.isnan(number) else (sympy.oo if number > 0 else -sympy.oo)
    if number.is_integer():
        return sympy.Integer(int(number))
    fraction = Fraction(number).limit_denominator(10**6)
    if float(fraction) == number:
        return sympy.Rational(fraction.numerator, fraction.denominator)
    return sympy.Float(number)


def _node_to_sympy(node: Node, args: list, symbols: Mapping[str, sympy.Symbol]) -> Any:
    """One node as SymPy, given its arguments' expressions."""
    if node.shape != ():
        raise GraphError(f"to_sympy handles scalar graphs only; node {node.label()!r} ({node.op}) has shape "
                         f"{node.shape}")
    if node.op == "input":
        return symbols[node.params["name"]]
    if node.op == "const":
        return _const_to_sympy(node.params["value"])
    rule = OPS[node.op].sympy
    if rule is None:
        raise GraphError(f"to_sympy has no SymPy form for op {node.op!r} (node {node.label()!r})")
    return rule(sympy, node, *args)


def _graph_expressions(graph: Graph, symbols: Mapping[str, sympy.Symbol],
                       cut: Mapping[int, sympy.Symbol] | None = None) -> list[Any]:
    """Every node's expression, in node order; nodes in ``cut`` become their symbol
    (the chain below them is not followed). Nodes are topologically ordered, so one
    forward loop suffices (no recursion)."""
    cut = cut or {}
    exprs: list[Any] = []
    for node in graph.nodes:
        if node.id in cut:
            exprs.append(cut[node.id])
        else:
            exprs.append(_node_to_sympy(node, [exprs[i] for i in node.inputs], symbols))
    return exprs


class SympyView:
    """A scalar graph seen through SymPy.

    ``expr`` is the (first) output in the input symbols; ``nodes`` maps every
    node label (its name, or ``%id`` when unnamed; constants left out) to its
    expression in the inputs; ``symbols`` maps input names to their symbols.
    ``diff(wrt="a")`` gives d(output)/d(a) for any node ``a``.
    """

    def __init__(self, graph: Graph, real: bool = True):
        self.graph = graph
        self.symbols: dict[str, sympy.Symbol] = {
            name: sympy.Symbol(name, real=True) if real else sympy.Symbol(name) for name in graph.input_names}
        self._real = real
        self._exprs = _graph_expressions(graph, self.symbols)
        self._ids: dict[str, int] = {}
        for node in graph.nodes:
            if node.op != "const":
                self._ids.setdefault(node.label(), node.id)
        for name, out in zip(graph.output_names, graph.outputs):
            self._ids.setdefault(name, out)
        self.nodes: dict[str, Any] = {label: self._exprs[i] for label, i in self._ids.items()}
        self.expr = self._exprs[graph.outputs[0]]
        self.output = graph.output_names[0]

    def __repr__(self) -> str:
        return f"SympyView({self.output} = {self.expr})"

    def node_id(self, name: str) -> int:
        """The id of the node labelled ``name``; ``GraphError`` naming the known ones otherwise."""
        if name not in self._ids:
            raise GraphError(f"no node named {name!r}; nodes: {list(self._ids)}")
        return self._ids[name]

    def symbol(self, name: str) -> sympy.Symbol:
        """The symbol that stands for node ``name`` in derivatives (the input's own symbol
        for an input, else a fresh symbol named after the node)."""
        node = self.graph.nodes[self.node_id(name)]
        if node.op == "input":
            return self.symbols[node.params["name"]]
        return sympy.Symbol(name, real=True) if self._real else sympy.Symbol(name)

    def cut_at(self, name: str, of: str | None = None) -> Any:
        """The expression of ``of`` (default: the output) with node ``name`` replaced by
        :meth:`symbol` ``(name)``, i.e. ``name`` treated as an independent variable."""
        target = self.node_id(of) if of is not None else self.graph.outputs[0]
        node_id = self.node_id(name)
        exprs = _graph_expressions(self.graph, self.symbols, {node_id: self.symbol(name)})
        return exprs[target]

    def diff(self, of: str | None = None, wrt: NodeNames = (), simplify: bool = False) -> Any:
        """d(of)/d(wrt), where ``of`` (default: the output) and ``wrt`` are node names,
        intermediates included, as in backprop: ``wrt`` is treated as an independent
        variable (the chain below it is cut), so the result is in ``wrt``'s symbol and
        the inputs, e.g. dJ/da = 2*a for J = a**2. Several names give a dict
        name -> derivative. ``simplify=True`` applies ``sympy.simplify``.
        Use :meth:`in_inputs` to write the result in the inputs alone."""
        if isinstance(wrt, str):
            derivative = sympy.diff(self.cut_at(wrt, of), self.symbol(wrt))
            return sympy.simplify(derivative) if simplify else derivative
        if not wrt:
            raise GraphError("diff needs wrt=: a node name or several")
        return {name: self.diff(of, name, simplify) for name in wrt}

    def in_inputs(self, expr: Any) -> Any:
        """``expr`` with every node symbol replaced by that node's expression in the inputs."""
        replacements = {}
        for label, node_id in self._ids.items():
            if self.graph.nodes[node_id].op != "input":
                replacements[self.symbol(label)] = self._exprs[node_id]
        return sympy.sympify(expr).xreplace(replacements)

    def evaluate(self, expr: Any, **values: float) -> Any:
        """``expr`` (which may hold node symbols) at the given input values, as a SymPy number."""
        unknown = [k for k in values if k not in self.symbols]
        if unknown:
            raise InputError(f"no input(s) named {unknown}; inputs: {list(self.symbols)}")
        full = self.in_inputs(expr)
        return full.subs({self.symbols[k]: sympy.sympify(v) for k, v in values.items()})


def to_sympy(fn_or_graph: Callable | Graph, specs: Mapping[str, Any] | None = None, *, wrt: NodeNames | None = None,
             real: bool = True, **spec_kwargs: Any) -> Any:
    """The output of ``fn_or_graph`` as a SymPy expression in its input symbols.

    With ``wrt`` (a node's name, intermediates included, or several names),
    the symbolic derivative of the output with respect to that node instead
    (a dict for several). :func:`sympy_view` gives every node and more.
    """
    view = sympy_view(fn_or_graph, specs, real=real, **spec_kwargs)
    return view.expr if wrt is None else view.diff(wrt=wrt)


def sympy_view(fn_or_graph: Callable | Graph, specs: Mapping[str, Any] | None = None, *, real: bool = True,
               **spec_kwargs: Any) -> SympyView:
    """Trace ``fn_or_graph`` (or take the Graph as is) and return its :class:`SympyView`.

    Inputs become SymPy symbols of the same names, real by default (gradgen
    values are real numbers; ``real=False`` gives plain ``sympy.Symbol(name)``).
    ``stop_gradient`` and ``cast`` are the identity; loops are written out step by step; scalar
    graphs only.
    """
    graph = fn_or_graph if isinstance(fn_or_graph, Graph) else trace(fn_or_graph, specs, **spec_kwargs)
    return SympyView(unroll_loops(graph), real=real)  # an expression has no loop: each step written out


# --------------------------------------------------------------------------- SymPy -> graph

_UNARY_DSL: dict[type, str] = {
    sympy.exp: "exp",
    sympy.log: "log",
    sympy.sin: "sin",
    sympy.cos: "cos",
    sympy.tanh: "tanh",
    sympy.Abs: "abs",
    sympy.sign: "sign",
}

_RELATIONAL: dict[type, Callable[[Any, Any], Any]] = {
    sympy.StrictLessThan: lambda a, b: a < b,
    sympy.LessThan: lambda a, b: a <= b,
    sympy.StrictGreaterThan: lambda a, b: a > b,
    sympy.GreaterThan: lambda a, b: a >= b,
    sympy.Equality: lambda a, b: a == b,
    sympy.Unequality: lambda a, b: a != b,
}


def _is_constant(expr: sympy.Basic) -> bool:
    return bool(expr.is_Number or isinstance(expr, sympy.NumberSymbol))


def _split_mul(expr: sympy.Mul) -> tuple[list[sympy.Basic], list[sympy.Basic]]:
    """A product's factors as (numerator, denominator): ``x*y**-2`` -> ([x], [y**2])."""
    numerator, denominator = [], []
    for factor in expr.args:
        if factor.is_Pow and factor.exp.is_Number and factor.exp < 0:
            denominator.append(sympy.Pow(factor.base, -factor.exp))
        elif factor.is_Rational and factor.p == 1 and factor.q != 1:
            denominator.append(sympy.Integer(factor.q))
        else:
            numerator.append(factor)
    return numerator, denominator


def _split_add(expr: sympy.Add) -> tuple[list[sympy.Basic], list[sympy.Basic]]:
    """A sum's terms as (added, subtracted): ``x - 2*y`` -> ([x], [2*y])."""
    plus, minus = [], []
    for term in expr.args:
        if term.could_extract_minus_sign():
            minus.append(-term)
        else:
            plus.append(term)
    return plus, minus


def _piecewise_children(expr: sympy.Piecewise) -> list[sympy.Basic]:
    children = []
    for value, condition in expr.args:
        children.append(value)
        if condition is not sympy.true:
            children.append(condition)
    return children


def _children(expr: sympy.Basic) -> list[sympy.Basic]:
    """The subexpressions ``_combine(expr, ...)`` needs converted first."""
    if expr.is_Symbol or _is_constant(expr):
        return []
    if expr.is_Add:
        plus, minus = _split_add(expr)
        return plus + minus
    if expr.is_Mul:
        numerator, denominator = _split_mul(expr)
        return numerator + denominator
    if expr.is_Pow:
        exponent = expr.exp
        if exponent.is_Number and exponent < 0:
            return [sympy.Pow(expr.base, -exponent)]
        return [expr.base] if exponent.is_Number else [expr.base, exponent]
    if isinstance(expr, sympy.Piecewise):
        return _piecewise_children(expr)
    if isinstance(expr, sympy.Heaviside):
        return [expr.args[0]]
    if type(expr) in _UNARY_DSL or type(expr) in _RELATIONAL or isinstance(expr, (sympy.Max, sympy.Min)):
        return list(expr.args)
    if isinstance(expr, (sympy.And, sympy.Or, sympy.Not)):
        return list(expr.args)
    raise GraphError(f"from_sympy cannot convert SymPy {type(expr).__name__} (in {expr})")


def _total(values: list[Any]) -> Any:
    result = values[0]
    for value in values[1:]:
        result = result + value
    return result


def _product(values: list[Any]) -> Any:
    result = values[0]
    for value in values[1:]:
        result = result * value
    return result


def _combine_add(expr: sympy.Add, args: list[Any]) -> Any:
    plus, _ = _split_add(expr)
    added, subtracted = args[:len(plus)], args[len(plus):]
    result = _total(added) if added else -subtracted.pop(0)
    for value in subtracted:
        result = result - value
    return result


def _combine_mul(expr: sympy.Mul, args: list[Any]) -> Any:
    numerator, _ = _split_mul(expr)
    top, bottom = args[:len(numerator)], args[len(numerator):]
    result = _product(top) if top else 1.0
    return result / _product(bottom) if bottom else result


def _combine_pow(expr: sympy.Pow, args: list[Any], gg: Any) -> Any:
    exponent = expr.exp
    if exponent.is_Number and exponent < 0:
        return 1.0 / args[0]
    if not exponent.is_Number:
        return args[0] ** args[1]
    if exponent == sympy.Rational(1, 2):
        return gg.sqrt(args[0])
    return args[0] ** float(exponent)


def _combine_piecewise(expr: sympy.Piecewise, args: list[Any], gg: Any) -> Any:
    """``Piecewise((a, c1), (b, c2), (d, True))`` -> ``where(c1, a, where(c2, b, d))``;
    outside every condition the value is NaN, as in SymPy."""
    pieces = []
    position = 0
    for _, condition in expr.args:
        value = args[position]
        position += 1
        if condition is sympy.true:
            pieces.append((value, None))
        else:
            pieces.append((value, args[position]))
            position += 1
    result: Any = math.nan
    for value, condition in reversed(pieces):
        result = value if condition is None else gg.where(condition, value, result)
    return result


def _combine_heaviside(expr: sympy.Heaviside, args: list[Any], gg: Any) -> Any:
    """``Heaviside(x, h0)`` -> ``where(x > 0, 1, where(x == 0, h0, 0))`` (h0 = 1/2 by default)."""
    at_zero = float(expr.args[1]) if len(expr.args) > 1 else 0.5
    x = args[0]
    return gg.where(x > 0, 1.0, gg.where(x == 0, at_zero, 0.0))


def _combine(expr: sympy.Basic, args: list[Any], symbols: Mapping[str, Any], gg: Any) -> Any:
    """``expr`` as a DSL value, given its children's values (in ``_children`` order)."""
    if expr.is_Symbol:
        if expr.name not in symbols:
            raise GraphError(f"from_sympy: symbol {expr} is not among the inputs {list(symbols)}")
        return symbols[expr.name]
    if _is_constant(expr):
        try:
            return float(expr)
        except TypeError:
            raise GraphError(f"from_sympy cannot convert SymPy {type(expr).__name__} ({expr}) to a "
                             "real number") from None
    if expr.is_Add:
        return _combine_add(expr, args)
    if expr.is_Mul:
        return _combine_mul(expr, args)
    if expr.is_Pow:
        return _combine_pow(expr, args, gg)
    if isinstance(expr, sympy.Piecewise):
        return _combine_piecewise(expr, args, gg)
    if isinstance(expr, sympy.Heaviside):
        return _combine_heaviside(expr, args, gg)
    if type(expr) in _UNARY_DSL:
        return getattr(gg, _UNARY_DSL[type(expr)])(args[0])
    if type(expr) in _RELATIONAL:
        return _RELATIONAL[type(expr)](args[0], args[1])
    if isinstance(expr, (sympy.Max, sympy.Min)):
        fold = gg.maximum if isinstance(expr, sympy.Max) else gg.minimum
        result = args[0]
        for value in args[1:]:
            result = fold(result, value)
        return result
    if isinstance(expr, sympy.Not):
        return ~args[0]
    if isinstance(expr, sympy.And):
        return _fold_logical(args, lambda a, b: a & b)
    if isinstance(expr, sympy.Or):
        return _fold_logical(args, lambda a, b: a | b)
    raise GraphError(f"from_sympy cannot convert SymPy {type(expr).__name__} (in {expr})")


def _fold_logical(args: list[Any], op: Callable[[Any, Any], Any]) -> Any:
    result = args[0]
    for value in args[1:]:
        result = op(result, value)
    return result


def _replay(expr: sympy.Basic, symbols: Mapping[str, Any]) -> Any:
    """Convert ``expr`` bottom-up with an explicit stack (no recursion); each distinct
    subexpression is converted once, so shared subexpressions give shared nodes."""
    import gradgen as gg  # here, not at the top: gradgen's __init__ imports this module

    done: dict[sympy.Basic, Any] = {}
    stack: list[tuple[sympy.Basic, bool]] = [(expr, False)]
    while stack:
        current, expanded = stack.pop()
        if current in done:
            continue
        children = _children(current)
        if expanded:
            done[current] = _combine(current, [done[c] for c in children], symbols, gg)
            continue
        stack.append((current, True))
        stack.extend((child, False) for child in reversed(children) if child not in done)
    return done[expr]


def _input_symbols(inputs: Sequence[sympy.Symbol | str]) -> list[sympy.Symbol]:
    symbols = []
    for item in inputs:
        if isinstance(item, str):
            symbols.append(sympy.Symbol(item))
        elif isinstance(item, sympy.Symbol):
            symbols.append(item)
        else:
            raise InputError(f"from_sympy inputs must be SymPy Symbols or names, not {item!r}")
    names = [s.name for s in symbols]
    if len(set(names)) != len(names):
        raise InputError(f"from_sympy inputs have repeated names: {names}")
    for name in names:
        if not name.isidentifier() or name.startswith("_"):
            raise InputError(f"from_sympy input name {name!r} is not usable as an argument name")
    return symbols


def from_sympy(expr: Any, inputs: Sequence[sympy.Symbol | str]) -> Graph:
    """A graph computing the SymPy expression ``expr`` of ``inputs`` (Symbols or names,
    in argument order; scalars). Supports Add, Mul, Pow, exp, log, sin, cos, tanh, sqrt,
    Abs, sign, Max/Min, Piecewise and Heaviside (via ``where``), relations, and numbers
    (Integer, Rational, Float, pi, E); anything else raises ``GraphError`` naming its
    SymPy class. Symbols are matched by name, so ``Symbol("x", real=True)`` in ``expr``
    is the input ``"x"``."""
    expr = sympy.sympify(expr)
    input_symbols = _input_symbols(inputs)

    def replayed(*values: Any) -> Any:
        return _replay(expr, {s.name: v for s, v in zip(input_symbols, values)})

    replayed.__signature__ = _inspect.Signature(  # type: ignore[attr-defined]
        [_inspect.Parameter(s.name, _inspect.Parameter.POSITIONAL_OR_KEYWORD) for s in input_symbols])
    replayed.__name__ = "from_sympy"
    return trace(replayed)
