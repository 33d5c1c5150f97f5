"""export_c: the standalone C pair compiles under strict flags and agrees with the Python backend."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest

import gradgen as gg
from gradgen.inspect.export import export_c
from tests.models import linear

CC = shutil.which("cc") or shutil.which("gcc")
#: The exported C is compiled and run by the system C compiler, a program pip cannot install.
needs_cc = pytest.mark.skipif(CC is None, reason="no system C compiler to build and run the exported C with")
pytestmark = needs_cc
STRICT = ["-std=c99", "-pedantic", "-Wall", "-Wextra", "-Werror"]



def logreg(X, y, w, b):
    a = gg.sigmoid(X @ w + b)
    return gg.mean(-y * gg.log(a) - (1 - y) * gg.log(1 - a))


def _run(tmp_path, name: str, main: str) -> list[float]:
    (tmp_path / "main.c").write_text(main)
    exe = tmp_path / "main"
    subprocess.run([CC, *STRICT, "-O2", "-o", str(exe), str(tmp_path / "main.c"), str(tmp_path / f"{name}.c"),
                    "-lm"], check=True, capture_output=True, text=True)
    out = subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout
    return [float(v) for v in out.split()]


def test_seed_graph_exports_and_runs_from_c(tmp_path):
    h, c = export_c(linear, tmp_path, "seed_linear")
    header = h.read_text()
    assert "#ifndef SEED_LINEAR_H" in header and "size_t seed_linear_work_size(void);" in header
    values = _run(tmp_path, "seed_linear", """
#include <stdio.h>
#include <stdlib.h>
#include "seed_linear.h"
int main(void) {
    double J, dw, db, dx, dy;
    double *work = malloc(sizeof(double) * (seed_linear_work_size() + 1));
    int status = seed_linear(2.0, 8.0, -2.0, 2.0, &J, &dw, &db, &dx, &dy, work);
    printf("%d %.17g %.17g %.17g %.17g %.17g\\n", status, J, dw, db, dx, dy);
    free(work);
    return 0;
}
""")
    assert values == [0, 2.0, -4.0, 2.0, 4.0, -2.0]


def test_array_kernel_exports_and_agrees_with_python(tmp_path):
    kernel = gg.value_and_grad(logreg, wrt=["w", "b"], X=gg.Array((4, 2)), y=gg.Array((4,)), w=gg.Array((2,)))
    export_c(kernel, tmp_path, "logreg")
    X = np.array([[0.1, 0.2], [0.4, 0.5], [0.5, 0.3], [-1.0, 2.0]])
    y = np.array([0.0, 1.0, 0.0, 1.0])
    w = np.array([0.1, 0.2])
    values = _run(tmp_path, "logreg", """
#include <stdio.h>
#include <stdlib.h>
#include "logreg.h"
int main(void) {
    const double X[8] = {0.1, 0.2, 0.4, 0.5, 0.5, 0.3, -1.0, 2.0}, y[4] = {0, 1, 0, 1}, w[2] = {0.1, 0.2};
    double J, dw[2], db;
    double *work = malloc(sizeof(double) * (logreg_work_size() + 1));
    int status = logreg(X, y, w, 0.1, &J, dw, &db, work);
    printf("%d %.17g %.17g %.17g %.17g\\n", status, J, dw[0], dw[1], db);
    free(work);
    return 0;
}
""")
    ref_value, ref_grads = gg.value_and_grad(logreg, wrt=["w", "b"], backend="python")(X, y, w, 0.1)
    assert values[0] == 0
    np.testing.assert_allclose(values[1:], [ref_value, *ref_grads["w"], ref_grads["b"]], rtol=1e-12)


def test_index_inputs_report_out_of_range(tmp_path):
    export_c(lambda x, i: gg.sum(x[i] ** 2), tmp_path, "pick", x=gg.Array((3,)), i=gg.Array((2,), "int64"))
    values = _run(tmp_path, "pick", """
#include <stdio.h>
#include <stdlib.h>
#include "pick.h"
int main(void) {
    const double x[3] = {1, 2, 3};
    const int64_t good[2] = {2, -3}, bad[2] = {0, 3};
    double J, dx[3];
    double *work = malloc(sizeof(double) * (pick_work_size() + 1));
    int ok = pick(x, good, &J, dx, work);
    printf("%d %.17g %d\\n", ok, J, pick(x, bad, &J, dx, work));
    free(work);
    return 0;
}
""")
    assert values == [0, 10.0, 2]


def test_export_names_must_be_c_identifiers(tmp_path):
    with pytest.raises(gg.InputError, match="C identifier"):
        export_c(linear, tmp_path, "not a name")


def test_exported_headers_answer_what_the_arguments_are(tmp_path):
    specs = {"X": gg.Array((4, 2)), "y": gg.Array((4,)), "w": gg.Array((2,))}
    export_c(logreg, tmp_path, "lr", wrt=["w", "b"], **specs)
    header = (tmp_path / "lr.h").read_text()
    assert "double *J_out" in header and "double *dJ_dw_out" in header  # outputs named after the results
    values = _run(tmp_path, "lr", r"""
#include <stdio.h>
#include "lr.h"
int main(void) {
    printf("%d %d %zu\n", lr_n_in(), lr_n_out(), lr_work_size());
    for (int i = 0; i < lr_n_in(); ++i) {
        printf("%d", lr_ndim_in(i));
        for (int d = 0; d < lr_ndim_in(i); ++d) printf(" %ld", lr_shape_in(i)[d]);
        printf("\n");
    }
    printf("%d %d %d\n", lr_name_in(4) == 0, lr_ndim_out(-1), lr_ndim_out(2));
    return 0;
}
""")
    assert values == [4, 3, 0, 2, 4, 2, 1, 4, 1, 2, 0, 1, -1, 0]  # X, y, w, b; no 5th input; b a scalar
    names = _run(tmp_path, "lr", r"""
#include <stdio.h>
#include "lr.h"
int main(void) { printf("%d\n", (int)(lr_name_in(2)[0] == 'w' && lr_name_out(1)[4] == 'w')); return 0; }
""")
    assert names == [1]
