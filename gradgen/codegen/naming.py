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
