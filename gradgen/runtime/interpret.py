"""The reference interpreter: evaluate a graph node by node with each op's NumPy semantics."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from gradgen.errors import InputError
from gradgen.ir.graph import TUPLE, Graph
from gradgen.ops.registry import OPS


def evaluate(graph: Graph, inputs: Mapping[str, Any]) -> list[Any]:
    """The value of every node of ``graph`` for the given input values (by name)."""
    values: list[Any] = []
    with np.errstate(all="ignore"):
        for node in graph.nodes:
            if node.op == "input":
                name = node.params["name"]
                if name not in inputs:
                    raise InputError(f"no value given for input {name!r}")
                values.append(np.asarray(inputs[name], dtype=node.dtype))
            else:
                result = OPS[node.op].evaluate(*[values[i] for i in node.inputs], **node.params)
                values.append(result if node.dtype == TUPLE else np.asarray(result, dtype=node.dtype))
    return values
