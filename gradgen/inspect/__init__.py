"""Seeing and checking gradients: finite-difference checks, backprop tables, graph drawings, C export."""

from gradgen.inspect.backprop import BackpropTable, backprop_table
from gradgen.inspect.check import GradCheck, check_grad
from gradgen.inspect.dot import DotGraph, GraphvizError, to_dot
from gradgen.inspect.steps import BackpropSteps, backprop_steps

__all__ = [
    "SympyView", "from_sympy", "sympy_view", "to_sympy",
 "BackpropSteps", "BackpropTable", "DotGraph", "GradCheck", "GraphvizError", "backprop_steps",
 "backprop_table", "check_grad", "to_dot",
]


def __getattr__(name: str) -> object:
    """SymPy loads only when its bridge is first used: importing it costs about 0.3 s."""
    if name in ("SympyView", "from_sympy", "sympy_view", "to_sympy"):
        from gradgen.inspect import sympy_bridge

        return getattr(sympy_bridge, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
