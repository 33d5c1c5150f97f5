"""Variable names in generated code: the user's names, made unique and valid."""

from __future__ import annotations

import keyword
import re
import unicodedata

from gradgen.ir.graph import Graph


def identifier(name: str, reserved: set[str] = frozenset()) -> str:
    """``name`` as a valid ASCII identifier (``d J/dx`` -> ``d_J_dx``), avoiding keywords."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    text = re.sub(r"\W", "_", ascii_name) or "v"
    if text[0].isdigit():
        text = "v_" + text
    if text.startswith("_"):
        text = "v" + text  # generated code keeps leading underscores for its own names
    if keyword.iskeyword(text) or text in reserved:
        text += "_"
    return text


def assign_names(graph: Graph, reserved: set[str], prefix: str = "t") -> list[str]:
    """One unique identifier per node: inputs keep their names, named nodes
    theirs (suffixed ``_2``, ``_3`` on clashes), others ``t1, t2, ...``."""
    taken = set(reserved)
    names: list[str] = [""] * len(graph.nodes)

    def claim(base: str) -> str:
        candidate, k = base, 2
        while candidate in taken:
            candidate, k = f"{base}_{k}", k + 1
        taken.add(candidate)
        return candidate

    for i in graph.inputs:
        names[i] = claim(identifier(graph.nodes[i].params["name"], reserved))
    for node in graph.nodes:
        if node.op != "input" and node.name:
            names[node.id] = claim(identifier(node.name, reserved))
    counter = 0
    for node in graph.nodes:
        if not names[node.id]:
            counter += 1
            names[node.id] = claim(f"{prefix}{counter}")
    return names


#: The C printer's own names: loop indices by depth, tile bounds, the repeat index of rolled statements,
#: and the locals of split and threaded kernels. None has an underscore, so none can be a user's name
#: (those end with one) or a name made from one (``<name>_<role>``); generated node names are ``t<k>``.
C_OWN = ("i", "j", "k", "l", "p", "q", "r0", "r1", "m", "s", "work", "rc", "begin", "end", "part", "parts",
         "arg", "sums", "status", "step", "blame")
LOOP_INDICES = ("i", "j", "k", "l", "p", "q")


class CNames:
    """Every identifier in generated C.

    A user's name is written with a trailing underscore (``w_``, ``dJ_dw_``): no C or POSIX header or
    Python.h defines a macro ending in one, so no user name can collide with what an included header
    defines (``errno``, ``EOF``, ``linux``, ``Py_None``) or with the runtime's ``gg_`` helpers. Names made
    from a user's name add a role (``X_tile``, ``labels_j``; outputs ``J_out``); nodes without a name are
    ``t1``, ``t2``, ...; the printer's own names (``C_OWN``) have no underscore at all. The three sets
    are disjoint by construction, so no name needs a deny-list.
    """

    def __init__(self, graph: Graph, stored: set[int] = frozenset()):
        self.graph = graph
        base = assign_names(graph, set())
        self._named = {node.id for node in graph.nodes if node.op == "input" or node.name}
        self._base = base
        self._stored = set(stored)

    def node(self, node_id: int) -> str:
        """A node's own identifier (its value, or its array)."""
        return self._base[node_id] + "_" if node_id in self._named else self._base[node_id]

    def derived(self, node_id: int, role: str) -> str:
        """A name made from a node's for a role (``i``: its element in a loop; ``tile``; ``j``: an index)."""
        return f"{self._base[node_id]}_{role}"

    def local(self, node_id: int, role: str = "") -> str:
        """The local holding a node's value or element: its own name, unless its array has that name."""
        if role:
            return self.derived(node_id, role)
        return self.derived(node_id, "i") if node_id in self._stored else self.node(node_id)

    def output(self, name: str, taken: set[str]) -> str:
        """The parameter for the output called ``name`` (``J_out``), unique among ``taken``."""
        base = identifier(name) + "_out"
        candidate, k = base, 2
        while candidate in taken:
            candidate, k = f"{base}{k}", k + 1
        taken.add(candidate)
        return candidate

    @staticmethod
    def loop_index(role: str, depth: int) -> str:
        if role == "i":
            return LOOP_INDICES[depth] if depth < len(LOOP_INDICES) else f"i{depth}"
        return {"r": "r0", "m": "m"}.get(role, role)
