"""Graph-to-graph passes: autodiff, numerics, simplify (fold, identities, CSE), DCE, pipeline."""

from gradgen.passes.autodiff import differentiate
from gradgen.passes.dce import eliminate_dead_code
from gradgen.passes.numerics import stabilize
from gradgen.passes.pipeline import prepare
from gradgen.passes.simplify import simplify

__all__ = ["differentiate", "eliminate_dead_code", "prepare", "simplify", "stabilize"]
