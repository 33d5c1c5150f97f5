"""Seeing and checking gradients: finite-difference checks, backprop tables, graph drawings, C export."""

from gradgen.inspect.backprop import BackpropTable, backprop_table
from gradgen.inspect.check import GradCheck, check_grad
from gradgen.inspect.dot import DotGraph, GraphvizError, to_dot
from gradgen.inspect.steps import BackpropSteps, backprop_steps
from gradgen.inspect.sympy_bridge import SympyView, from_sympy, to_sympy

__all__ = [
    "SympyView", "from_sympy", "to_sympy",
 "BackpropSteps", "BackpropTable", "DotGraph", "GradCheck", "GraphvizError", "backprop_steps",
 "backprop_table", "check_grad", "to_dot",
]
