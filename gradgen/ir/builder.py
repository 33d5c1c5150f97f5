"""GraphBuilder: appends nodes with hash-consing, which is CSE on construction."""

from __future__ import annotations

from typing import Any, Callable, Optional

from gradgen.ir.graph import Graph, Node, Shape

#: A rewrite hook: given a node about to be added, return the id of an
#: equivalent node to use instead, or None to add it as it is.
Rewriter = Callable[["GraphBuilder", str, tuple, tuple, Shape, str], Optional[int]]


class GraphBuilder:
    """Builds one graph. Identical nodes (same op, inputs, attrs) are shared."""

    def __init__(self, rewriter: Rewriter | None = None):
        self.nodes: list[Node] = []
        self.rewriter = rewriter
        self._memo: dict[tuple, int] = {}
        self.names: dict[int, str] = {}
        self.notes: dict[int, str] = {}
        self._explicit_names: set[int] = set()

    def add(self, op: str, inputs: tuple[int, ...], attrs: tuple[tuple[str, Any], ...],
            shape: Shape, dtype: str) -> int:
        """Append ``op(*inputs)`` unless an identical node exists; return its id."""
        key = (op, inputs, attrs, dtype)
        if op != "input":
            found = self._memo.get(key)
            if found is not None:
                return found
        node_id = len(self.nodes)
        self.nodes.append(Node(node_id, op, inputs, attrs, shape, dtype))
        if op != "input":
            self._memo[key] = node_id
        return node_id

    def set_name(self, node_id: int, name: str, *, explicit: bool = False) -> None:
        """Name a node. Explicit names (``gg.name``) win over recovered ones."""
        if explicit:
            self._explicit_names.add(node_id)
        elif node_id in self.names:
            return
        self.names[node_id] = name

    def set_note(self, node_id: int, note: str) -> None:
        """Attach a comment that says what a node computes (first note wins)."""
        self.notes.setdefault(node_id, note)

    def finish(self, outputs: tuple[int, ...], output_names: tuple[str, ...]) -> Graph:
        """Freeze into a Graph."""
        nodes = list(self.nodes)
        for node_id in self.names.keys() | self.notes.keys():
            nodes[node_id] = nodes[node_id]._replace(name=self.names.get(node_id), note=self.notes.get(node_id))
        inputs = tuple(n.id for n in nodes if n.op == "input")
        return Graph(tuple(nodes), inputs, tuple(outputs), tuple(output_names))
