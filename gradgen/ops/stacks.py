"""Stacks of matrices for ``gg.linalg``: as in NumPy, an operand may carry leading axes (``(..., n, n)``),
broadcast together, and each function then works matrix by matrix. The matrices are run through one
``scan`` over the flattened stack, so a kernel holds the function's graph once whatever the stack's size
(a loop in C), and the gradient is the scan's."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from gradgen.dsl.loops import scan
from gradgen.dsl.value import Value
from gradgen.errors import ShapeError
from gradgen.ops import functions as F
from gradgen.ops.core import broadcast_shapes


def over_stacks(name: str, fn: Callable[..., Any], operands: Sequence[Any], cores: Sequence[int]) -> Any:
    """``fn(*matrices)`` for each matrix of the stacked ``operands`` (operand ``k`` has ``cores[k]`` axes of
    its own, 2 for a matrix and 1 for a vector, the axes before them the stack), results stacked alike (a
    tuple of results, each); None when no operand is stacked."""
    shapes = [x.shape if isinstance(x, Value) else np.shape(x) for x in operands]
    for shape, core in zip(shapes, cores):
        if len(shape) < core:
            raise ShapeError(f"{name}: expected an operand with at least {core} axes, got shape {shape}")
    leading = [shape[:len(shape) - core] for shape, core in zip(shapes, cores)]
    if not any(leading):
        return None
    stack = broadcast_shapes(name, *leading)
    count = math.prod(stack)
    if count == 0:
        raise ShapeError(f"{name}: the stack of shape {stack} holds no matrices")
    flat = tuple(F.reshape(F.broadcast_to(x, stack + shape[len(shape) - core:]),
                           (count, *shape[len(shape) - core:])) for x, shape, core in zip(operands, shapes, cores))

    def each(carry: None, matrices: tuple) -> tuple[None, Any]:
        return carry, fn(*matrices)

    _, results = scan(each, None, flat)
    unstack = lambda y: F.reshape(y, stack + y.shape[1:])  # noqa: E731
    return tuple(map(unstack, results)) if isinstance(results, tuple) else unstack(results)
