"""Facts about ops live in their registry entries: the schedule and the Python backend read the fields
(``index_map``, ``keeps_offsets``, ``np_aliases``, ``lowering``, ``accumulates``, ``along_axis``) instead of
keeping lists of op names."""

from __future__ import annotations

import ast
import itertools
from pathlib import Path

import numpy as np
import pytest

import gradgen  # noqa: F401  (defines every op)
from gradgen.ir.graph import Node
from gradgen.ops.registry import OPS, spell
from gradgen.schedule.access import copied_views, through
from gradgen.schedule.program import Index, Var
from gradgen.schedule.structural import LOWERINGS

ROOT = Path(__file__).resolve().parents[1] / "gradgen"
#: The modules that read ops' facts: none of them may branch on a collection of op names.
READERS = sorted([ROOT / "codegen" / "python.py", *(ROOT / "schedule").glob("*.py")])
BUILTIN = {name: op for name, op in OPS.items() if not op.custom}


def _node(op: str, shape: tuple, params: dict, inputs: tuple = (0,)) -> Node:
    return Node(1, op, inputs, tuple(sorted(params.items())), shape, "float64")


#: One example of each view: (op, input shape, params, the NumPy view of an array of that shape).
VIEWS = [
    ("broadcast_to", (3, 1), {"shape": (2, 3, 4)}, lambda x: np.broadcast_to(x, (2, 3, 4))),
    ("broadcast_to", (), {"shape": (2,)}, lambda x: np.broadcast_to(x, (2,))),
    ("reshape", (3, 1, 4), {"shape": (1, 3, 4)}, lambda x: np.reshape(x, (1, 3, 4))),
    ("transpose", (2, 3, 4), {"axes": (2, 0, 1)}, lambda x: np.transpose(x, (2, 0, 1))),
    ("slice", (5, 6), {"slices": ((1, 5, 2), (0, 6, 3))}, lambda x: x[1:5:2, 0:6:3]),
    ("stop_gradient", (2, 3), {}, lambda x: x),
]


def test_every_view_has_an_example_and_only_views_have_index_maps():
    assert {name for name, op in BUILTIN.items() if op.view} == {v[0] for v in VIEWS}
    assert all((op.index_map is not None) == op.view for op in BUILTIN.values())


@pytest.mark.parametrize("op, shape, params, view", VIEWS, ids=[f"{v[0]}{v[1]}" for v in VIEWS])
def test_index_map_finds_the_element_numpy_views(op, shape, params, view):
    x = np.arange(int(np.prod(shape)), dtype=float).reshape(shape)
    out = view(x)
    source = Node(0, "input", (), (("name", "x"),), shape, "float64")
    node = _node(op, out.shape, params)
    for element in itertools.product(*map(range, out.shape)):
        index = through(node, source, [Index(k) for k in element])
        assert index is not None and all(not i.terms for i in index)
        assert x[tuple(i.offset for i in index)] == out[element]


def test_a_general_reshape_is_no_map_of_axes_and_its_strided_source_is_copied():
    source = Node(0, "input", (), (("name", "x"),), (2, 3), "float64")
    assert through(_node("reshape", (3, 2), {"shape": (3, 2)}), source, [Index(), Index()]) is None

    class G:
        nodes = [source, _node("transpose", (3, 2), {"axes": (1, 0)}),
                 Node(2, "stop_gradient", (1,), (), (3, 2), "float64"),
                 Node(3, "reshape", (2,), (("shape", (6,)),), (6,), "float64")]

    assert copied_views(G()) == {1}  # through the stop_gradient, which keeps flat offsets


def test_only_views_keep_offsets():
    assert all(op.view for op in BUILTIN.values() if op.keeps_offsets)
    assert {n for n, op in BUILTIN.items() if op.keeps_offsets} == {"reshape", "stop_gradient"}


def test_numpy_values_that_may_alias_are_marked():
    # Every op that computes nothing (a leaf, a view, a loop's result) may hand back memory it does not own.
    for op in BUILTIN.values():
        if op.kind in ("leaf", "view", "part"):
            assert op.np_aliases, op.name
    x = np.zeros(3)  # cast's NumPy spelling gives back its input when the dtype is already the one asked for
    cast = eval(spell(OPS["cast"].np, ["x"], {"dtype": "float64"}), {"np": np, "x": x})
    assert np.shares_memory(cast, x) and OPS["cast"].np_aliases


def test_every_structural_op_has_a_way_to_be_computed():
    for op in BUILTIN.values():
        if op.kind == "structural":
            assert bool(op.routine) != bool(op.lowering), op.name
        assert op.lowering == "" or op.lowering in LOWERINGS, op.name
    assert {op.lowering for op in BUILTIN.values()} - {""} == set(LOWERINGS)
    assert OPS["matmul"].lowering == "gemm"
    assert {n for n, op in BUILTIN.items() if op.gathers} == {"take", "take_along_axis"}
    assert {n for n, op in BUILTIN.items() if op.accumulates} == {"scatter_add", "scatter_along_axis", "unslice_sum"}
    assert all(op.lowering == "indexed" for op in BUILTIN.values() if op.along_axis)


def _op_name_branches(path: Path) -> list[str]:
    """Where ``path`` tests an ``.op`` against a collection (``x.op in ...``), by a prefix or suffix of its
    name, or keeps a dict keyed by op names."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Compare) and isinstance(node.left, ast.Attribute) and node.left.attr == "op":
            if any(isinstance(o, (ast.In, ast.NotIn)) for o in node.ops):
                found.append(f"{path.name}:{node.lineno}: .op in a collection")
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("startswith", "endswith") and isinstance(node.func.value, ast.Attribute)
                and node.func.value.attr == "op"):
            found.append(f"{path.name}:{node.lineno}: .op.{node.func.attr}")
        if isinstance(node, (ast.Dict, ast.Set, ast.List, ast.Tuple)):
            elts = node.keys if isinstance(node, ast.Dict) else node.elts
            words = [e.value for e in elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]
            if len(words) >= 2 and len(words) == len(elts) and all(w in OPS for w in words) and \
                    not all(w in ("input", "const") for w in words):  # buffer kinds share these two names
                found.append(f"{path.name}:{node.lineno}: a collection of op names {words}")
    return found


def test_no_op_name_lists_outside_the_ops():
    assert READERS and all(p.exists() for p in READERS)
    assert [hit for path in READERS for hit in _op_name_branches(path)] == []


def test_the_scan_finds_an_op_name_list(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text('VIEWS = {"reshape", "transpose"}\n'
                      'def f(node):\n'
                      '    return node.op in VIEWS or node.op.endswith("_along_axis")\n')
    assert len(_op_name_branches(sample)) == 3


def test_schedule_reads_index_maps_from_the_op():
    # A view's map is its op's: the same node through ``through`` and through the field agree.
    source = Node(0, "input", (), (("name", "x"),), (4, 5), "float64")
    node = _node("transpose", (5, 4), {"axes": (1, 0)})
    i, j = Var(0, "i", 0), Var(1, "i", 1)
    assert through(node, source, [Index.of(i), Index.of(j)]) == (Index.of(j), Index.of(i))
    assert OPS["transpose"].index_map(node, source) == ((1, 1, 0), (0, 1, 0))
