"""Facts about ops live in their registry entries: the schedule, the backends' helpers, the passes and the
inspectors read the fields (``index_map``, ``keeps_offsets``, ``np_aliases``, ``lowering``, ``accumulates``,
``along_axis``, ``to_shape``, ``exp_form``, ``packed``, ``np_helper``, ``leaf``) instead of keeping lists of op
names."""

from __future__ import annotations

import ast
import itertools
import re
from pathlib import Path

import numpy as np
import pytest

import gradgen  # noqa: F401  (defines every op)
from gradgen.codegen.pyhelpers import ARRAY
from gradgen.ir.builder import GraphBuilder
from gradgen.ir.graph import Node
from gradgen.ops.core import scalar_node
from gradgen.ops.decompositions import packed_part
from gradgen.ops.registry import OPS, emit, spell
from gradgen.passes.lower import lower_for_c
from gradgen.passes.simplify import scalar_constant, simplify_rewriter
from gradgen.runtime.interpret import evaluate
from gradgen.schedule.access import copied_views, through
from gradgen.schedule.program import Index, Var
from gradgen.schedule.structural import LOWERINGS

ROOT = Path(__file__).resolve().parents[1] / "gradgen"
#: The modules that read ops' facts: none of them may branch on a collection of op names.
READERS = sorted([ROOT / "codegen" / "python.py", ROOT / "codegen" / "pyhelpers.py", ROOT / "inspect" / "steps.py",
                  *(ROOT / "schedule").glob("*.py"), *(ROOT / "passes").glob("*.py")])
#: Algebraic rewrites kept on purpose, (module, op names): each is a rule about those very ops (what they
#: compute), not a property other ops could share, so it stays with the rule.
KEPT = frozenset({
    ("simplify.py", ("add", "subtract")),  # x + -y = x - y and x - -y = x + y
    ("numerics.py", ("divide", "subtract")),  # the roots of 1 / (1 + exp(-z)), exp(z) / (1 + exp(z)), 1 - sigmoid(z)
})
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


def _op_name_branches(path: Path, kept: frozenset[tuple[str, tuple[str, ...]]] = frozenset()) -> list[str]:
    """Where ``path`` tests an ``.op`` against a collection (``x.op in ...``), by a prefix or suffix of its
    name, or keeps a collection of op names (a dict keyed by them) other than the ``kept`` ones."""
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
            named = len(words) >= 2 and len(words) == len(elts) and all(w in OPS for w in words)
            buffers = all(w in ("input", "const") for w in words)  # buffer kinds share these two names
            if named and not buffers and (path.name, tuple(words)) not in kept:
                found.append(f"{path.name}:{node.lineno}: a collection of op names {words}")
    return found


def test_no_op_name_lists_outside_the_ops():
    assert READERS and all(p.exists() for p in READERS)
    assert [hit for path in READERS for hit in _op_name_branches(path, KEPT)] == []


def test_every_kept_rewrite_is_still_there():
    hits = [hit for path in READERS for hit in _op_name_branches(path)]
    for module, words in KEPT:
        assert any(hit.startswith(f"{module}:") and hit.endswith(str(list(words))) for hit in hits), (module, words)


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


def test_leaves_are_the_values_a_graph_is_given():
    assert {n for n, op in BUILTIN.items() if op.leaf} == {"input", "const"}
    graph = gradgen.trace(lambda x: gradgen.sum(x * np.arange(3.0)) + 2.0, x=gradgen.Array((3,)))
    assert all(OPS[n.op].leaf == (n.inputs == ()) for n in graph.nodes)
    assert {n.op for n in graph.nodes if OPS[n.op].leaf} == {"input", "const"}


def test_views_to_a_shape_are_the_identity_at_their_input_shape_and_keep_a_value():
    assert {n for n, op in BUILTIN.items() if op.to_shape} == {"broadcast_to", "reshape"}
    for op, shape, params, view in VIEWS:
        if not OPS[op].to_shape:
            continue
        assert OPS[op].view and set(params) == {"shape"}
        x = np.arange(int(np.prod(shape)), dtype=float).reshape(shape)
        assert np.array_equal(OPS[op].evaluate(x, shape=params["shape"]), view(x))
        assert np.array_equal(OPS[op].evaluate(x, shape=shape), x)  # at its own shape: the identity
        assert (OPS[op].evaluate(np.full(shape, -0.5), **params) == -0.5).all()  # a constant stays that constant
    # A transpose keeps a square's shape and still moves its elements: it is no view to a shape.
    square = np.arange(4.0).reshape(2, 2)
    assert not OPS["transpose"].to_shape and not np.array_equal(OPS["transpose"].evaluate(square, axes=(1, 0)), square)


def test_the_passes_look_through_views_to_a_shape():
    builder = GraphBuilder(simplify_rewriter)
    x = builder.add("input", (), (("name", "x"),), (3, 1), "float64")
    two = emit(builder, "reshape", [emit(builder, "broadcast_to", [scalar_node(builder, 2.0, "float64")], shape=(3,))],
               shape=(3, 1))
    assert scalar_constant(builder, two) == 2.0
    assert emit(builder, "reshape", [x], shape=(3, 1)) == x and emit(builder, "broadcast_to", [x], shape=(3, 1)) == x


#: Where ops written from exp(-|z|) are tested: both tails (exact 0 and 1, overflow), zeros and the middle.
Z = np.array([-800.0, -40.0, -3.0, -1e-300, -0.0, 0.0, 1e-300, 0.25, 3.0, 40.0, 800.0])


def test_the_exp_forms_compute_the_ops():
    assert {n for n, op in BUILTIN.items() if op.exp_form is not None} == {"sigmoid", "softplus"}
    for name in ("sigmoid", "softplus"):
        op = OPS[name]
        assert op.elementwise
        np.testing.assert_allclose(op.exp_form(Z, np.exp(-np.abs(Z))), op.evaluate(Z), rtol=1e-15, atol=0.0)


def test_c_lowering_writes_ops_sharing_an_exp_out():
    def f(z):
        return gradgen.sigmoid(z) + gradgen.sigmoid(-z) + gradgen.softplus(z) + gradgen.softplus(-z)

    graph = gradgen.trace(f, z=gradgen.Array(Z.shape))
    lowered = lower_for_c(graph)
    ops = [n.op for n in lowered.nodes]
    assert ops.count("exp") == 1 and not {"sigmoid", "softplus"} & set(ops)
    np.testing.assert_allclose(evaluate(lowered, {"z": Z})[0], evaluate(graph, {"z": Z})[0], rtol=1e-15)


def test_a_packed_op_holds_its_primitives_results():
    rng = np.random.default_rng(0)
    square = rng.normal(size=(3, 3))
    matrices = {"eigh_packed": square + square.T, "svd_packed": rng.normal(size=(4, 3))}
    packed = {n: op.packed for n, op in BUILTIN.items() if op.packed}
    assert packed == {"eigvalsh": "eigh_packed", "eigh_vectors": "eigh_packed", "svdvals": "svd_packed",
                      "svd_u": "svd_packed", "svd_vt": "svd_packed"}
    for name, whole in packed.items():
        a = matrices[whole]
        assert OPS[whole].routine and not OPS[whole].packed
        np.testing.assert_allclose(packed_part(name, OPS[whole].evaluate(a), a.shape), OPS[name].evaluate(a),
                                   rtol=1e-12, atol=1e-12)


def test_the_numpy_helpers_are_what_the_spellings_call():
    helpers = [op.np_helper for op in BUILTIN.values() if op.np_helper]
    assert len({name for name, _ in helpers}) == len(helpers)
    assert {name: f for name, f in helpers} == {k: v for k, v in ARRAY.items() if k not in ("np", "inf", "nan")}
    for op in BUILTIN.values():  # every bare call of a NumPy spelling is a helper of the op's own
        if isinstance(op.np, str):
            called = set(re.findall(r"(?<![\w.])(\w+)\(", op.np))
            assert called == ({op.np_helper[0]} if op.np_helper else set()), op.name
    slices = (((0, 2, 1),), ((1, 3, 1),))
    a, b = np.array([1.0, 2.0]), np.array([10.0, 20.0])
    spelled = spell(OPS["unslice_sum"].np, ["a", "b"], {"shape": (3,), "slices": slices})
    assert eval(spelled, {**ARRAY, "a": a, "b": b}).tolist() == OPS["unslice_sum"].evaluate(
        a, b, shape=(3,), slices=slices).tolist() == [1.0, 12.0, 20.0]
