"""Graph and Node: the immutable IR every stage of gradgen passes along.

A graph is a tuple of nodes in topological order; a node's id is its index,
and its inputs are ids of earlier nodes, so the order is valid by
construction and no pass ever needs a recursive walk.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

Shape = tuple[int, ...]

#: The dtypes a node can have. ``bool`` is the dtype of comparison masks.
FLOAT_DTYPES = ("float64", "float32")
DTYPES = FLOAT_DTYPES + ("int64", "bool")
#: The dtype of a loop node, whose value is the tuple of its results (``loop_output`` reads each).
TUPLE = "tuple"


class ConstArray:
    """A constant array held by a ``const`` node: hashable, compared by value."""

    __slots__ = ("array", "_key")

    def __init__(self, array: np.ndarray):
        self.array = np.array(array, copy=True)
        self.array.setflags(write=False)
        digest = hashlib.sha1(self.array.tobytes()).hexdigest()
        self._key = (self.array.dtype.str, self.array.shape, digest)

    def __hash__(self) -> int:
        return hash(self._key)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ConstArray) and self._key == other._key

    def __repr__(self) -> str:
        return f"array(shape={self.array.shape})"


class Node(NamedTuple):
    """One single-assignment equation: ``id = op(*inputs; attrs)``.

    ``attrs`` is a tuple of ``(key, value)`` pairs sorted by key, so nodes
    hash and compare structurally. ``name`` is the user's name for the value
    (a local variable or ``gg.name``); ``note`` says what a generated node
    computes (e.g. which gradient) and is shown as a comment in kernels.
    A NamedTuple, because graphs of 100,000 nodes are built in seconds.
    """

    id: int
    op: str
    inputs: tuple[int, ...]
    attrs: tuple[tuple[str, Any], ...]
    shape: Shape
    dtype: str
    name: str | None = None
    note: str | None = None

    @property
    def params(self) -> dict[str, Any]:
        """The attributes as a dict."""
        return dict(self.attrs)

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    def label(self) -> str:
        """The user's name if any, else ``%id``."""
        return self.name if self.name else f"%{self.id}"


@dataclass(frozen=True)
class Graph:
    """An immutable computation graph.

    ``inputs`` are the ids of the ``input`` nodes in argument order;
    ``outputs`` the ids of the results, named by ``output_names``.
    """

    nodes: tuple[Node, ...]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    output_names: tuple[str, ...]

    @property
    def input_names(self) -> tuple[str, ...]:
        return tuple(self.nodes[i].params["name"] for i in self.inputs)

    def input_node(self, name: str) -> Node:
        for i in self.inputs:
            if self.nodes[i].params["name"] == name:
                return self.nodes[i]
        raise KeyError(name)

    def __len__(self) -> int:
        return len(self.nodes)

    def __str__(self) -> str:
        from gradgen.ir.printer import format_graph

        return format_graph(self)

    def __repr__(self) -> str:
        return (f"<gradgen.Graph: {len(self.nodes)} nodes, inputs {list(self.input_names)}, "
                f"outputs {list(self.output_names)}>")

    def _repr_html_(self) -> str:
        """For Jupyter: the graph drawn (Graphviz), or without Graphviz its text and how to get the picture."""
        import html

        from gradgen.inspect.dot import to_dot

        drawn = to_dot(self)._repr_svg_()
        if drawn is not None:
            return drawn
        return (f"<p>{html.escape(repr(self))}; its picture needs Graphviz (the <code>dot</code> program on PATH, "
                f"e.g. apt install graphviz or conda install graphviz):</p><pre>{html.escape(str(self))}</pre>")
