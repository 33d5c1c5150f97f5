"""to_dot: DOT text of a graph with values and gradients, rendered by Graphviz."""

from __future__ import annotations

import html
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

import gradgen as gg
from gradgen.errors import GradgenError
from gradgen.inspect.dot import DotGraph, GraphvizError, to_dot
from tests.models import linear

needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz `dot` is not installed")

SEED = {"w": 2.0, "b": 8.0, "x": -2.0, "y": 2.0}




def _labels(source: str) -> dict[str, str]:
    """Node id (``n4``) to the text of its label, tags stripped."""
    out = {}
    for node_id, label in re.findall(r"^\s*(n\d+) \[.*?label=<(.*)>\];$", source, flags=re.M):
        out[node_id] = re.sub(r"<[^>]*>", " ", label)
    return out


def _edges(source: str) -> set[tuple[str, str]]:
    return set(re.findall(r"^\s*(n\d+) -> (n\d+);$", source, flags=re.M))


def _check_with_dot(source: str) -> None:
    done = subprocess.run(["dot", "-Tcanon"], input=source.encode(), capture_output=True, timeout=60)
    assert done.returncode == 0 and not done.stderr, done.stderr.decode()


def test_seed_graph_shows_every_nodes_value_and_gradient():
    dot = to_dot(linear, **SEED)
    assert isinstance(dot, DotGraph) and str(dot) == dot.source == repr(dot)
    assert "rankdir=LR" in dot.source
    graph = gg.trace(linear)
    labels = _labels(dot.source)
    expected = {"c": ("-4", "2"), "a": ("4", "2"), "d": ("2", "2"), "J": ("2", "1"), "w": ("2", "-4"),
                "b": ("8", "2"), "x": ("-2", "4"), "y": ("2", "-2")}
    for name, (value, grad) in expected.items():
        node = next(n for n in graph.nodes if n.name == name)
        text = labels[f"n{node.id}"]
        assert f" {name} " in text
        assert f"value = {value} " in text, text
        assert f"dJ/d{name} = {grad} " in text, text
    assert "multiply(w, x)" in labels["n4"] and "input" in labels["n0"]
    # The constant 2.0 is shown inside its consumers, not as a box of its own.
    assert "power(d, 2.0)" in dot.source and "n7 " not in dot.source
    assert _edges(dot.source) == {("n0", "n4"), ("n2", "n4"), ("n4", "n5"), ("n1", "n5"), ("n5", "n6"),
                                  ("n3", "n6"), ("n6", "n8"), ("n8", "n9")}
    # Inputs on the left, the output on the right.
    assert "{ rank=min; n0; n1; n2; n3; }" in dot.source and "{ rank=max; n9; }" in dot.source


def test_without_values_shows_structure_only():
    for source in (to_dot(linear).source, to_dot(gg.trace(linear)).source):
        labels = _labels(source)
        assert "value" not in source and "dJ/d" not in source
        assert "subtract(a, y)" in labels["n6"] and len(_edges(source)) == 8


def test_arrays_and_constant_arrays():
    def f(x, w):
        z = x @ w
        return gg.sum(gg.tanh(z) * np.array([1.0, 2.0, 3.0]))

    x, w = np.arange(6.0).reshape(3, 2), np.array([0.1, -0.2])
    source = to_dot(f, x=x, w=w).source
    assert "z" in source and "value = [" in source
    assert "const [1., 2., 3.]" in source  # a constant array is a small plain node
    structure = to_dot(f, x=gg.Array((3, 2)), w=gg.Array((2,))).source
    assert "value" not in structure and "matmul(x, w)" in structure


def test_several_outputs_show_values_without_gradients():
    def two(x, y):
        s = x * y
        return s, x + 1.0

    source = to_dot(two, x=1.5, y=2.0).source
    assert "value = 3 " in _labels(source)["n2"] + " " and "value = 2.5" in source
    assert "/d" not in source and "{ rank=max; n2; n4; }" in source


def test_missing_values_are_named():
    with pytest.raises(gg.InputError, match="missing.*'y'"):
        to_dot(linear, w=2.0, b=8.0, x=-2.0)


HOSTILE = 'say "hi" <b>&amp; \\ back\\slash\nnew line \' }];'


def hostile(x):
    y = gg.name(x * 3.0, HOSTILE)
    return gg.name(y + 1.0, "<out>")


@needs_dot
def test_hostile_names_are_escaped_and_accepted_by_dot():
    dot = to_dot(hostile, x=1.5)
    source = dot.source
    assert HOSTILE.split("\n")[0] not in source and "<b>" not in source
    # No raw newline inside a label: every line is the header, a statement or the closing brace.
    assert all(line.startswith(("digraph", "  ", "}")) for line in source.splitlines())
    assert "&quot;hi&quot;" in source and "&lt;b&gt;&amp;amp;" in source and "&lt;out&gt;" in source
    _check_with_dot(source)
    svg = dot._repr_svg_()
    assert svg is not None
    text = html.unescape(svg)
    first, second = HOSTILE.split("\n")
    assert first in text and second in text  # the name survives, its newline as a line break
    assert "value = 4.5" in text and "value = 5.5" in text and "<out>" in text


@needs_dot
def test_render_svg_and_png(tmp_path: Path):
    dot = to_dot(linear, **SEED)
    svg = dot.render(tmp_path / "seed.svg")
    text = html.unescape(svg.read_text())
    assert text.lstrip().startswith(("<?xml", "<svg")) and "</svg>" in text
    assert "dJ/dw = -4" in text and "value = -4" in text
    png = dot.render(tmp_path / "seed.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    other = dot.render(tmp_path / "picture", format="png")
    assert other.read_bytes()[:4] == b"\x89PNG"
    svg_text = dot._repr_svg_()
    assert svg_text is not None and "<svg" in svg_text


def test_render_rejects_unknown_formats(tmp_path: Path):
    dot = to_dot(linear)
    with pytest.raises(GraphvizError, match="choose one of svg, png, pdf"):
        dot.render(tmp_path / "seed.gif")
    with pytest.raises(GraphvizError, match="suffix"):
        dot.render(tmp_path / "seed")


def test_missing_dot_says_how_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    dot = to_dot(linear, **SEED)
    with pytest.raises(GraphvizError) as info:
        dot.render(tmp_path / "seed.svg")
    assert isinstance(info.value, GradgenError)
    message = str(info.value)
    for hint in ("apt-get install graphviz", "brew install graphviz", "conda install graphviz"):
        assert hint in message
    assert not (tmp_path / "seed.svg").exists()
    # Jupyter falls back to the text form.
    assert dot._repr_svg_() is None and "digraph" in repr(dot)


@needs_dot
def test_dot_failure_is_reported():
    with pytest.raises(GraphvizError, match="failed"):
        DotGraph("digraph { this is not dot").pipe("svg")


def test_one_edge_can_be_highlighted_with_the_step_it_computes():
    def cost(w, b, x, y):
        c = w * x
        a = c + b
        return (a - y) ** 2 / 2

    source = gg.to_dot(cost, highlight=("w", "c"), label="dJ/dw += 2 * -2", w=2.0, b=8.0, x=-2.0, y=2.0).source
    highlighted = [line for line in source.splitlines() if "penwidth" in line]
    assert len(highlighted) == 1 and "dJ/dw += 2 * -2" in highlighted[0] and "#d62728" in highlighted[0]
    with pytest.raises(gg.InputError, match=r"highlight names an edge .* \['q'\] not among the nodes"):
        gg.to_dot(cost, highlight=("q", "c"))
