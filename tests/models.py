"""Functions several test files share: the seeds' graphs."""

from __future__ import annotations


def linear(w, b, x, y):
    """The seeds' 4-node graph: c = w*x, a = c + b, d = a - y, J = d^2 / 2."""
    c = w * x
    a = c + b
    d = a - y
    J = d**2 / 2
    return J
