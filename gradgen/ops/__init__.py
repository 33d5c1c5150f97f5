"""Ops: one definition per primitive (``registry.OPS``) and the public DSL functions."""

from gradgen.ops import functions
from gradgen.ops.registry import OPS, Op, define, emit, get_op

__all__ = ["OPS", "Op", "define", "emit", "functions", "get_op"]
