"""check_grad and backprop_table."""

from __future__ import annotations

import numpy as np
import pytest

import gradgen as gg
from tests.models import linear


def test_backprop_table_gives_every_nodes_value_and_gradient():
    table = gg.backprop_table(linear, w=2.0, b=8.0, x=-2.0, y=2.0)
    assert [r.name for r in table][:4] == ["w", "b", "x", "y"]
    values = {r.name: (r.value, r.grad) for r in table}
    assert values["c"] == (-4.0, 2.0)
    assert values["a"] == (4.0, 2.0)
    assert values["d"] == (2.0, 2.0)
    assert values["J"] == (2.0, 1.0)
    assert values["w"] == (2.0, -4.0) and values["b"] == (8.0, 2.0)
    assert table["c"].op == "multiply"
    text = str(table)
    assert "dJ/dnode" in text and "multiply(w, x)" in text


def test_backprop_table_on_arrays():
    def f(x, w):
        z = x @ w
        return gg.sum(gg.tanh(z))

    x = np.array([[1.0, 2.0], [3.0, 4.0]])
    w = np.array([0.1, -0.2])
    table = gg.backprop_table(f, x=x, w=w)
    z = x @ w
    np.testing.assert_allclose(table["z"].value, z)
    np.testing.assert_allclose(table["z"].grad, 1 - np.tanh(z) ** 2)


def test_check_grad_agrees_and_reports():
    result = gg.check_grad(linear, w=2.0, b=8.0, x=-2.0, y=2.0)
    assert result.ok and result.max_rel_error < 1e-8
    assert [r.input for r in result.rows] == ["w", "b", "x", "y"]
    assert "OK" in str(result) and "finite diff." in str(result)
    arrays = gg.check_grad(lambda X, w: gg.sum(gg.sigmoid(X @ w)), wrt="w",
                           X=np.arange(6.0).reshape(3, 2), w=np.array([0.1, 0.2]))
    assert arrays.ok and [r.index for r in arrays.rows] == [(0,), (1,)]


def test_check_grad_catches_a_gradient_that_disagrees():
    # A jump at x = 1: the analytic gradient sees a flat step, finite differences see the jump.
    result = gg.check_grad(lambda x: gg.where(x > 1.0, 1000.0, 0.0) + x, x=1.0)
    assert not result.ok and result.max_rel_error > 0.5
    assert "MISMATCH" in str(result)


def test_inspection_tools_name_missing_values():
    with pytest.raises(gg.InputError, match="missing.*'y'"):
        gg.backprop_table(linear, w=2.0, b=8.0, x=-2.0)
    with pytest.raises(gg.InputError, match="unknown.*'q'"):
        gg.check_grad(linear, w=2.0, b=8.0, x=-2.0, y=1.0, q=3.0)


def test_backprop_table_shows_tangents_beside_adjoints():
    def loss(w, b, x, y):
        c = w * x
        a = c + b
        d = a - y
        return d ** 2 / 2

    table = gg.backprop_table(loss, w=2.0, b=8.0, x=-2.0, y=2.0, tangents={"w": 1.0, "b": 0.5})
    assert [table[n].tangent for n in ("w", "b", "x", "c", "a", "d")] == [1.0, 0.5, None, -2.0, -1.5, -1.5]
    out = table.rows[-1]
    assert out.tangent == pytest.approx(-3.0) == table["w"].grad * 1.0 + table["b"].grad * 0.5  # -4 + 1
    text = str(table)
    assert "tangent (w=1, b=0.5)" in text.splitlines()[0]
    assert gg.backprop_table(loss, w=2.0, b=8.0, x=-2.0, y=2.0).rows[-1].tangent is None
    with pytest.raises(gg.InputError, match=r"tangents for \['z'\], which are not inputs"):
        gg.backprop_table(loss, w=2.0, b=8.0, x=-2.0, y=2.0, tangents={"z": 1.0})


def _linear(w, b, x, y):
    c = w * x
    a = c + b
    d = a - y
    return d ** 2 / 2


def test_jupyter_shows_tables_and_kernels_as_html():
    table = gg.backprop_table(_linear, w=2.0, b=8.0, x=-2.0, y=2.0)._repr_html_()
    assert table.startswith("<table>") and "<th>dJ/dnode</th>" in table and "<td>multiply(w, x)</td>" in table
    check = gg.check_grad(_linear, w=2.0, b=8.0, x=-2.0, y=2.0)._repr_html_()
    assert "<caption>OK: max relative error" in check
    kernel = gg.value_and_grad(_linear, backend="python")
    shown = kernel._repr_html_()
    assert shown.startswith("<details open><summary><code>&lt;gradgen.Kernel value_and_grad") and "dJ_dw" in shown
    assert "_linear_value_and_grad" in shown


def test_graphs_draw_themselves_or_say_how_to_get_the_picture(monkeypatch, tmp_path):
    import shutil

    graph = gg.trace(_linear)
    if shutil.which("dot"):
        drawing = gg.to_dot(_linear, w=2.0, b=8.0, x=-2.0, y=2.0)
        assert "<svg" in graph._repr_html_() and "<svg" in drawing._repr_svg_() and drawing._repr_html_() is None
    monkeypatch.setenv("PATH", str(tmp_path))  # no Graphviz
    text = graph._repr_html_()
    assert "its picture needs Graphviz" in text and "multiply(w, x)" in text
    drawn = gg.to_dot(_linear, w=2.0, b=8.0, x=-2.0, y=2.0)._repr_html_()
    assert "needs Graphviz" in drawn and "digraph" in drawn
