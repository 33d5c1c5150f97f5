"""Take a gradient away as plain C: export the seed's logistic regression and call it from C.

gg.export_c writes logreg.h and logreg.c (C99, nothing but libm); this script
writes a small C program that calls the exported function, builds it with the
system compiler under strict warnings, runs it, and compares its numbers with
gradgen's Python backend.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

import gradgen as gg

MAIN_C = r"""
#include <stdio.h>
#include <stdlib.h>
#include "logreg.h"

int main(void)
{
    const double X[6] = {0.1, 0.2, 0.4, 0.5, 0.5, 0.3};
    const double y[3] = {0.0, 1.0, 0.0};
    const double w[2] = {0.1, 0.2};
    double loss, dw[2], db;
    double *work = malloc(sizeof(double) * (logreg_work_size() + 1));
    if (logreg(X, y, w, 0.1, &loss, dw, &db, work) != 0) return 1;
    printf("%.17g %.17g %.17g %.17g\n", loss, dw[0], dw[1], db);
    free(work);
    return 0;
}
"""


def logreg(X, y, w, b):
    """The seed's summed binary cross-entropy of a logistic regression."""
    a = gg.sigmoid(X @ w + b)
    return gg.sum(-y * gg.log(a) - (1 - y) * gg.log(1 - a))


def main() -> None:
    compiler = shutil.which("cc") or shutil.which("gcc")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        header, source = gg.export_c(logreg, folder, "logreg", wrt=["w", "b"], X=gg.Array((3, 2)),
                                     y=gg.Array((3,)), w=gg.Array((2,)))
        print(f"wrote {header.name} and {source.name}; the header says:")
        print("\n".join(line for line in header.read_text().splitlines() if line.startswith(" *")))
        if compiler is None:
            print("no C compiler found: install gcc to build and run the C program")
            return
        (folder / "main.c").write_text(MAIN_C)
        subprocess.run([compiler, "-std=c99", "-pedantic", "-Wall", "-Wextra", "-Werror", "-O2", "-o",
                        str(folder / "main"), str(folder / "main.c"), str(source), "-lm"], check=True)
        from_c = [float(v) for v in subprocess.run([str(folder / "main")], check=True, capture_output=True,
                                                   text=True).stdout.split()]
    X = np.array([[0.1, 0.2], [0.4, 0.5], [0.5, 0.3]])
    value, grads = gg.value_and_grad(logreg, wrt=["w", "b"], backend="python")(X, np.array([0.0, 1.0, 0.0]),
                                                                              np.array([0.1, 0.2]), 0.1)
    print(f"from C:      loss {from_c[0]:.12f}, dL/dw [{from_c[1]:.8f} {from_c[2]:.8f}], dL/db {from_c[3]:.13f}")
    print(f"from Python: loss {value:.12f}, dL/dw {np.array2string(grads['w'], precision=8)}, "
          f"dL/db {grads['b']:.13f}")


if __name__ == "__main__":
    main()
