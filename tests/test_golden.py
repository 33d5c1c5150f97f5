"""Golden sources: the generated Python and C for the seeds' graphs, diffed on every change.

Generated code is part of the product, so a change to it shows up here as a diff to read. After a
deliberate change, rewrite the files with ``GRADGEN_UPDATE_GOLDEN=1 python -m pytest tests/test_golden.py``
and commit them with the change.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path

import pytest

import gradgen as gg
from gradgen import stages
from gradgen.dsl.trace import parameter_names
from tests.models import linear

GOLDEN = Path(__file__).parent / "golden"


def relu_network(x, y, w1, b1, w2, b2):
    a1 = w1 * x + b1
    activated_a1 = gg.relu(a1)
    a2 = w2 * activated_a1 + b2
    activated_a2 = gg.relu(a2)
    J = 0.5 * (activated_a2 - y) ** 2
    return J


def logistic_regression(X, y, w, b):
    z = X @ w + b
    a = gg.sigmoid(z)
    return gg.mean(-y * gg.log(a) - (1 - y) * gg.log(1 - a))


SEEDS = {
    "linear": (linear, {}),
    "relu_network": (relu_network, {}),
    "logistic_regression": (logistic_regression, {"X": gg.Array((100, 3)), "y": gg.Array((100,)),
                                                  "w": gg.Array((3,))}),
}


def _sources(name: str) -> dict[str, str]:
    fn, specs = SEEDS[name]
    stage = stages.prepared(fn, {n: specs.get(n, gg.Scalar()) for n in parameter_names(fn)}, "value_and_grad")
    fn_name, kernel_name = stages.kernel_names(fn, "value_and_grad")
    title = stages.title(fn_name, "value_and_grad", stage.grad_keys)
    python, _ = stages.to_python(stage.prepared, function_name=kernel_name, mode="value_and_grad",
                                 grad_keys=stage.grad_keys, title=title)
    c = stages.to_c(stage.prepared, function_name=f"gg_{kernel_name}", title=title)
    return {f"{name}.py": python.text, f"{name}.c": c.source.text, f"{name}.program.txt": str(c.program) + "\n"}


@pytest.mark.parametrize("name", sorted(SEEDS))
def test_generated_sources_are_the_golden_ones(name):
    for filename, text in _sources(name).items():
        path = GOLDEN / filename
        if os.environ.get("GRADGEN_UPDATE_GOLDEN") == "1":
            path.write_text(text)
        golden = path.read_text()
        diff = "".join(difflib.unified_diff(golden.splitlines(True), text.splitlines(True), f"golden/{filename}",
                                            "generated"))
        assert not diff, f"the generated {filename} changed:\n{diff}"
