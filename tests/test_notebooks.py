"""The teaching notebooks in examples/ are executed here (nbclient), so they cannot rot: every cell runs,
its printed output is the one committed (but for cells tagged ``varies-by-machine``: generated C, whose
threads and vector clones follow the machine), and the pictures are drawn where Graphviz is installed."""

from __future__ import annotations

import shutil
from pathlib import Path

import nbclient  # the "teach" extra, which the test extra installs too
import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "examples").glob("*.ipynb"))


def _streams(notebook) -> list[str]:
    return ["".join(o.text for o in cell.outputs if o.output_type == "stream")
            for cell in notebook.cells
            if cell.cell_type == "code" and "varies-by-machine" not in cell.metadata.get("tags", [])]


def test_there_are_notebooks():
    assert [p.name for p in NOTEBOOKS] == ["backprop_lecture.ipynb", "python_and_c.ipynb",
                                           "relu_and_logistic.ipynb", "train_digits.ipynb"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_a_notebook_runs_and_prints_what_it_shows(path):
    committed = nbformat.read(path, as_version=4)
    fresh = nbformat.read(path, as_version=4)
    nbclient.NotebookClient(fresh, timeout=600, kernel_name="python3", record_timing=False,
                            resources={"metadata": {"path": str(path.parent)}}).execute()  # run where they live
    assert _streams(fresh) == _streams(committed)
    errors = [o for cell in fresh.cells if cell.cell_type == "code" for o in cell.outputs if o.output_type == "error"]
    assert errors == []
    pictures = sum("image/svg+xml" in o.get("data", {}) for cell in fresh.cells if cell.cell_type == "code"
                   for o in cell.outputs)
    if shutil.which("dot"):
        assert pictures >= EXPECTED[path.stem][0]  # the graph, then each backprop step on it
    text = "".join(_streams(fresh))
    for line in EXPECTED[path.stem][1]:
        assert line in text, line
    if path.stem == "train_digits":
        import re

        printed = "".join(o.text for cell in fresh.cells if cell.cell_type == "code" for o in cell.outputs
                          if o.output_type == "stream")
        assert float(re.search(r"final test accuracy ([\d.]+)%", printed)[1]) >= 97.0
        assert any("image/png" in o.get("data", {}) for cell in fresh.cells for o in cell.get("outputs", []))


#: For each notebook: the pictures it draws at least, and lines its printed output holds.
EXPECTED = {
    "backprop_lecture": (9, ["J(w = 2.001) = 1.9960020000000005", "dJ/da by gradgen and SymPy: a - y",
                             "Can't calculate derivative wrt b + w*x."]),
    "relu_and_logistic": (10, ["J(w1 = 2.001) = 2.0060045000000004", "SymPy: {'w1': 6.0, 'b1': 6.0, 'w2': 4.0",
                               "gradgen: [0.1537824  0.05303517] 0.64945140418526"]),
    "python_and_c": (0, ["def logistic_value_and_grad(w, b, X, y):", "p = sigmoid(z)"]),
    "train_digits": (0, ["def cross_entropy(params, X, labels):", "first step: loss 2.5147",
                         "def cross_entropy_step("]),
}


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
PROBE = ("<script>addEventListener('load', () => { const images = [...document.images]; "
         "document.body.dataset.rendered = images.filter(i => i.complete && i.naturalWidth > 0).length "
         "+ '/' + images.length; });</script>")


def test_the_lecture_page_is_the_export_of_the_notebook():
    from nbconvert import HTMLExporter

    fresh, _ = HTMLExporter().from_notebook_node(nbformat.read(ROOT / "examples" / "backprop_lecture.ipynb",
                                                               as_version=4))
    committed = (ROOT / "examples" / "backprop_lecture.html").read_text()
    assert committed.count("<img") == fresh.count("<img") >= 9
    assert committed.count("data:image/svg+xml") == fresh.count("data:image/svg+xml")


@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium, a system program pip cannot install (.ci/run "
                                            "installs it)")
def test_the_lecture_page_renders_its_pictures_in_a_headless_browser(tmp_path):
    import re
    import subprocess

    page = tmp_path / "lecture.html"
    page.write_text((ROOT / "examples" / "backprop_lecture.html").read_text().replace("</body>", PROBE + "</body>"))
    dom = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=10000",
                          "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120).stdout
    rendered = re.search(r'data-rendered="(\d+)/(\d+)"', dom)
    assert rendered is not None, "the page did not finish loading in the browser"
    assert rendered[1] == rendered[2] and int(rendered[2]) >= 9, f"{rendered[1]} of {rendered[2]} pictures rendered"
