"""Parameters that are structures of arrays (``params["W"]``): dicts, lists and tuples of specs, nested.

A structured parameter ``params`` with the spec ``{"W": gg.Array((3, 2)), "b": gg.Array((2,))}`` is one
graph input per leaf, named by its path (``params.W``, ``params.b``; ``layers.0.W`` for lists and
tuples). The traced function receives the same structure holding those inputs; a kernel is called with
the structure and returns the gradients of its leaves in it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from gradgen.dsl.specs import as_spec
from gradgen.errors import InputError


def is_tree(value: Any) -> bool:
    """Whether a spec is a structure (a dict, a list, or a tuple that is not a shape)."""
    if isinstance(value, dict) or isinstance(value, list):
        return True
    return isinstance(value, tuple) and not all(isinstance(n, (int, np.integer)) for n in value)


def spec_tree(value: Any, name: str) -> Any:
    """A user's spec as an Array, or a structure of them (keys strings or ints) whose leaves' paths differ."""
    tree = _spec_tree(value, name)
    seen: set[str] = set()
    for path, _ in leaves(tree, name):
        if path in seen:
            raise InputError(f"spec for {name!r}: two entries have the path {path!r} (an int key and its string, "
                             "or a key with a '.' beside a nested one); gradients are named by these paths, so "
                             "rename one of the keys")
        seen.add(path)
    return tree


def _spec_tree(value: Any, name: str) -> Any:
    if isinstance(value, dict):
        for key in value:
            if not isinstance(key, (str, int)) or isinstance(key, bool):
                raise InputError(f"spec for {name!r}: the keys of a structure must be strings or ints, got {key!r}")
        if not value:
            raise InputError(f"spec for {name!r}: an empty dict has no arrays to trace")
        return {key: _spec_tree(item, f"{name}.{key}") for key, item in value.items()}
    if is_tree(value):
        if not value:
            raise InputError(f"spec for {name!r}: an empty {type(value).__name__} has no arrays to trace")
        return type(value)(_spec_tree(item, f"{name}.{k}") for k, item in enumerate(value))
    return as_spec(value, name)


def leaves(tree: Any, name: str) -> list[tuple[str, Any]]:
    """(path, leaf) for each leaf of ``tree``, in order: the graph's inputs for a structured parameter."""
    if isinstance(tree, dict):
        return [leaf for key, item in tree.items() for leaf in leaves(item, f"{name}.{key}")]
    if isinstance(tree, (list, tuple)):
        return [leaf for k, item in enumerate(tree) for leaf in leaves(item, f"{name}.{k}")]
    return [(name, tree)]


def build(tree: Any, name: str, leaf: Callable[[str, Any], Any]) -> Any:
    """``tree``'s structure holding ``leaf(path, spec)`` at each leaf."""
    if isinstance(tree, dict):
        return {key: build(item, f"{name}.{key}", leaf) for key, item in tree.items()}
    if isinstance(tree, (list, tuple)):
        return type(tree)(build(item, f"{name}.{k}", leaf) for k, item in enumerate(tree))
    return leaf(name, tree)


def flatten(value: Any, tree: Any, name: str) -> list[Any]:
    """The leaves of an argument ``value`` given for the structured parameter ``name`` of spec ``tree``, in
    the order of ``leaves``; InputError naming the path where they differ."""
    if isinstance(tree, dict):
        if not isinstance(value, dict) or set(value) != set(tree):
            keys = "[" + ", ".join(map(repr, tree)) + "]"
            got = "a dict with keys [" + ", ".join(map(repr, value)) + "]" if isinstance(value, dict) else \
                type(value).__name__
            raise InputError(f"argument {name!r}: expected a dict with keys {keys}, got {got}")
        return [leaf for key, item in tree.items() for leaf in flatten(value[key], item, f"{name}.{key}")]
    if isinstance(tree, (list, tuple)):
        if not isinstance(value, (list, tuple)) or len(value) != len(tree):
            got = f"{type(value).__name__} of {len(value)}" if isinstance(value, (list, tuple)) else \
                type(value).__name__
            raise InputError(f"argument {name!r}: expected a {type(tree).__name__} of {len(tree)}, got {got}")
        return [leaf for k, (v, item) in enumerate(zip(value, tree)) for leaf in flatten(v, item, f"{name}.{k}")]
    return [value]


def regroup(grads: dict[str, Any], tree: Any, name: str) -> Any:
    """The gradients of a structured parameter's leaves (keyed by path) in its structure: dict entries
    without a gradient left out, list and tuple entries None."""
    if isinstance(tree, dict):
        parts = {key: regroup(grads, item, f"{name}.{key}") for key, item in tree.items()}
        return {key: part for key, part in parts.items() if part is not None} or None
    if isinstance(tree, (list, tuple)):
        parts = [regroup(grads, item, f"{name}.{k}") for k, item in enumerate(tree)]
        return type(tree)(parts) if any(part is not None for part in parts) else None
    return grads.get(name)
