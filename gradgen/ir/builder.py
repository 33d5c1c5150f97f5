"""GraphBuilder: appends nodes with hash-consing, which is CSE on construction."""

from __future__ import annotations

from typing import Any, Callable, Optional

from gradgen.ir.graph import Graph, Node, Shape

#: A rewrite hook: given a node about to be added, return the id of an
#: equivalent node to use instead, or None to add it as it is.
Rewriter = Callable[["GraphBuilder", str, tuple, tuple, Shape, str], Optional[int]]


class GraphBuilder:
    """Builds one graph. Identical nodes (same op, inputs, attrs) are shared.

    The builder of a loop's body has a ``parent``, the builder of the graph around the loop: a value
    of an enclosing graph used in the body is *captured*, becoming an input of the body (and, when the
    loop node is made, an input of the loop). A body whose loop was started on concrete numbers has no
    parent yet and adopts the graph of the first symbolic value it meets (``open``).
    """

    def __init__(self, rewriter: Rewriter | None = None, parent: GraphBuilder | None = None, *,
                 open: bool = False):
        self.nodes: list[Node] = []
        self.rewriter = rewriter
        self._memo: dict[tuple, int] = {}
        self.names: dict[int, str] = {}
        self.notes: dict[int, str] = {}
        self._explicit_names: set[int] = set()
        self.parent = parent
        self.open = open
        self.captured: list[tuple[GraphBuilder, int]] = []  # (enclosing builder, node id), in input order
        self._captured_ids: dict[tuple[int, int], int] = {}
        self._input_names: set[str] = set()

    def encloses(self, other: GraphBuilder) -> bool:
        """True when ``other`` is the builder of a loop body inside this graph (at any depth)."""
        builder = other.parent
        while builder is not None:
            if builder is self:
                return True
            builder = builder.parent
        return False

    def capture(self, builder: GraphBuilder, node_id: int, label: str) -> int:
        """The body input standing for node ``node_id`` of the enclosing ``builder`` (added on first use)."""
        key = (id(builder), node_id)
        found = self._captured_ids.get(key)
        if found is not None:
            return found
        if self.open and (self.parent is None or self.parent.encloses(builder)):
            self.parent = builder  # the innermost enclosing graph seen so far
        elif not builder.encloses(self):
            from gradgen.errors import GraphError

            raise GraphError(f"{label} belongs to another traced function; values cannot cross traces")
        node = builder.nodes[node_id]
        new = self.input(builder.names.get(node_id) or "captured", node.shape, node.dtype)
        self.captured.append((builder, node_id))
        self._captured_ids[key] = new
        return new

    def captured_inputs(self) -> list[tuple[int, GraphBuilder, int]]:
        """(this body's input, the enclosing builder, the node of it the input stands for), in input order."""
        return [(self._captured_ids[(id(builder), node_id)], builder, node_id) for builder, node_id in self.captured]

    def input(self, name: str, shape: Shape, dtype: str) -> int:
        """A new input node named ``name`` (``name_2``, ``name_3``, ... if an input has that name)."""
        unique, k = name, 2
        while unique in self._input_names:
            unique, k = f"{name}_{k}", k + 1
        node_id = self.add("input", (), (("name", unique),), shape, dtype)
        self.set_name(node_id, unique)
        return node_id

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
        else:
            self._input_names.add(attrs[0][1])
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
