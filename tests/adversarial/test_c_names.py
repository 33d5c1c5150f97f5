"""Names from C and Python headers, and indices reached through other arrays, on the C backend.

A parameter or local named like a macro of an included header (``errno`` once made a call through
``__errno_location`` out of ``errno[i]``) must build and agree with Python; an exported pair must
refuse a name that would not build; an index out of range must be blamed on the argument it came from,
also when it was picked out of another index array.
"""

from __future__ import annotations

import inspect
import keyword
import re
import shutil

import numpy as np
import pytest

import gradgen as gg
from gradgen.build import find_compiler
from gradgen.codegen.naming import c_identifier

pytestmark = pytest.mark.skipif(find_compiler() is None, reason="needs a C compiler")

#: Macros and names of libc, POSIX, gcc's GNU mode and Python.h, C keywords, and the runtime's own.
HEADER_NAMES = ["errno", "HUGE_VAL", "EOF", "NULL", "INT_MAX", "M_PI", "SIZE_MAX", "RAND_MAX", "Py_None",
                "SIZEOF_LONG", "linux", "unix", "stdin", "stderr", "assert", "offsetof", "isnan", "signbit",
                "INFINITY", "NAN", "st_atime", "major", "int", "double", "main", "exp", "sin", "gg_sigmoid",
                "GG_KERNEL", "restrict", "INT64_C", "bool", "true", "i", "j", "r0", "s", "work", "gg_x", "v_gg_x",
                "sums", "t1"]


def _named(names: list[str]):
    """A function whose parameters are ``names`` (the last an array; Python keywords are left out of
    them), with an intermediate array named after each name too."""
    def fn(*args):
        *scalars, x = args
        total = gg.sum(gg.exp(x * 0.1))
        for k, name in enumerate(names):
            total = total + gg.sum(gg.name(gg.tanh(x * float(k + 1)), name))
        for k, a in enumerate(scalars):
            total = total + a * float(k + 1)
        return total * gg.sum(x)

    names = list(names)
    parameters = [n for n in names if not keyword.iskeyword(n)]

    fn.__signature__ = inspect.Signature([inspect.Parameter(n, inspect.Parameter.POSITIONAL_OR_KEYWORD)
                                          for n in parameters])
    fn.__name__ = "named"
    return fn


@pytest.mark.parametrize("chunk", range(0, len(HEADER_NAMES), 10))
def test_names_that_headers_define_build_and_agree(chunk):
    names = [n for n in HEADER_NAMES[chunk:chunk + 10] if not keyword.iskeyword(n)]
    fn = _named(HEADER_NAMES[chunk:chunk + 10])
    specs = {n: gg.Scalar() for n in names[:-1]} | {names[-1]: gg.Array((7,))}
    values = [0.3 * (k + 1) for k in range(len(names) - 1)] + [np.linspace(-0.5, 1.0, 7)]
    c = gg.value_and_grad(fn, backend="c", specs=specs)
    py = gg.value_and_grad(fn, backend="python", specs=specs)
    (vc, gc), (vp, gp) = c(*values), py(*values)
    assert c.backend == "c" and vc == pytest.approx(vp, rel=1e-13)
    for name in names:
        np.testing.assert_allclose(gc[name], gp[name], rtol=1e-12)
    for name in HEADER_NAMES[chunk:chunk + 10]:  # each written as the namer spells it: unchanged where C allows,
        assert re.search(rf"\b{c_identifier(name)}_*\b", c.source)  # else marked (a Python keyword once more)


@pytest.mark.parametrize("name", ["int", "main", "exp", "gg_sigmoid", "log1p", "t3", "x_", "_x"])
def test_export_refuses_names_whose_pair_would_not_build(tmp_path, name):
    with pytest.raises(gg.InputError, match="export_c"):
        gg.export_c(lambda x: x * x, tmp_path, name)


def test_exported_pairs_take_user_names_that_headers_define(tmp_path):
    cc = shutil.which("cc") or shutil.which("gcc")
    fn = _named(["errno", "EOF", "NULL", "x"])  # intermediates of these names too
    h, c = gg.export_c(fn, tmp_path, "named", errno=gg.Scalar(), EOF=gg.Scalar(), NULL=gg.Scalar(),
                       x=gg.Array((7,)))
    main = tmp_path / "main.c"
    main.write_text('#include <errno.h>\n#include <stdio.h>\n#include <stdlib.h>\n#include "named.h"\n'
                    "int main(void) { return named_n_in() == 4 ? 0 : 1; }\n")
    import subprocess

    subprocess.run([cc, "-std=c99", "-Wall", "-Werror", "-o", str(tmp_path / "main"), str(main), str(c), "-lm"],
                   check=True, capture_output=True)
    assert subprocess.run([str(tmp_path / "main")]).returncode == 0


def test_an_index_picked_out_of_another_index_is_blamed_on_the_array_it_came_from():
    def f(x, idx, sel):
        return gg.sum(x[idx[sel]] ** 2)

    specs = {"x": gg.Array((5,)), "idx": gg.Array((3,), "int64"), "sel": gg.Array((2,), "int64")}
    c = gg.value_and_grad(f, wrt="x", backend="c", specs=specs)
    x = np.arange(5.0)
    value, grads = c(x, np.array([4, 1, 2]), np.array([0, 2]))
    assert value == 20.0 and grads["x"].tolist() == [0.0, 0.0, 4.0, 0.0, 8.0]
    with pytest.raises(gg.InputError, match="argument 'idx'"):
        c(x, np.array([9, 1, 2]), np.array([0, 2]))
    with pytest.raises(gg.InputError, match="argument 'sel'"):
        c(x, np.array([4, 1, 2]), np.array([0, 3]))


def test_labels_through_a_view_are_named_in_c():
    def ce(Z, labels):
        return -gg.mean(gg.take_along_axis(gg.log_softmax(Z), labels[:, None], axis=1))

    c = gg.value_and_grad(ce, wrt="Z", backend="c", Z=gg.Array((4, 3)), labels=gg.Array((4,), "int64"))
    with pytest.raises(gg.InputError, match="argument 'labels'"):
        c(np.zeros((4, 3)), np.array([0, 1, 2, 3]))
