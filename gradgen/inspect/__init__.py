"""Seeing and checking gradients: finite-difference checks and backprop tables."""

from gradgen.inspect.backprop import BackpropTable, backprop_table
from gradgen.inspect.check import GradCheck, check_grad

__all__ = ["BackpropTable", "GradCheck", "backprop_table", "check_grad"]
