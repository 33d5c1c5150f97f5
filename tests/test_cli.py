"""The command line: each subcommand on a function in a file, --help, errors as one line."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gradgen.cli import main

MODEL = '''
import gradgen as gg

def loss(w, b, x, y):
    c = w * x
    a = c + b
    d = a - y
    J = d ** 2 / 2
    return J

def mean_square(X, w):
    return gg.mean((X @ w) ** 2)
'''


@pytest.fixture
def model(tmp_path: Path) -> str:
    path = tmp_path / "model.py"
    path.write_text(MODEL)
    return str(path)


def test_source_prints_the_python_kernel(model, capsys):
    assert main(["source", f"{model}:loss", "--wrt", "w,b"]) == 0
    out = capsys.readouterr().out
    assert "def loss_value_and_grad(w, b, x, y):" in out and "dJ_dw = d * x" in out


@pytest.mark.skipif(shutil.which("cc") is None and shutil.which("gcc") is None, reason="needs a C compiler")
def test_source_c_with_array_specs_and_export(model, tmp_path, capsys):
    assert main(["source", f"{model}:mean_square", "--backend", "c", "--spec", "X=10,3", "--spec", "w=3"]) == 0
    assert "int gg_mean_square_value_and_grad(" in capsys.readouterr().out
    assert main(["export", f"{model}:loss", str(tmp_path / "out"), "--name", "seed"]) == 0
    assert (tmp_path / "out" / "seed.h").exists() and (tmp_path / "out" / "seed.c").exists()


def test_program_prints_the_loop_nests(model, capsys):
    assert main(["program", f"{model}:mean_square", "--spec", "X=10,3", "--spec", "w=3"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("program: ") and "loop i0 < 10" in out and "buffer X: input 0" in out


def test_table_steps_and_check_take_values(model, capsys):
    assert main(["table", f"{model}:loss", "w=2", "b=8", "x=-2", "y=2"]) == 0
    table = capsys.readouterr().out
    assert "multiply(w, x)" in table and "dJ/dnode" in table
    assert main(["steps", f"{model}:loss", "w=2", "b=8", "x=-2", "y=2"]) == 0
    assert "dJ/dw += dJ/dc * dc/dw = 2 * -2 = -4" in capsys.readouterr().out
    assert main(["check", f"{model}:mean_square", "X=[[1,2],[3,4]]", "w=[0.5,-1]"]) == 0
    assert "OK" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["source", "missing.py:loss"], "no such file"),
    (["source", "{model}:nothing"], "defines no function 'nothing'"),
    (["source", "{model}"], "expected FILE.py:FUNCTION"),
    (["table", "{model}:loss", "w=2"], "missing"),
    (["table", "{model}:loss", "w=two"], "neither a number nor a JSON list"),
    (["source", "{model}:mean_square", "--spec", "X=a,b"], "must be integers"),
])
def test_errors_are_one_line_and_status_2(model, capsys, argv, message):
    assert main([a.format(model=model) for a in argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("gradgen: error: ") and message in err and err.count("\n") == 1


def test_python_dash_m_gradgen_help():
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    run = subprocess.run([sys.executable, "-m", "gradgen", "--help"], capture_output=True, text=True, env=env)
    assert run.returncode == 0
    assert "FILE.py:NAME" in run.stdout and "export" in run.stdout and "check" in run.stdout
