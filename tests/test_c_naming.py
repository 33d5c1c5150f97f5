"""One namer for generated C: the user's names first and unchanged, the printer's own names yield to them,
and every macro the headers around a kernel define is a name the namer keeps away from."""

from __future__ import annotations

import subprocess
import sysconfig

import numpy as np
import pytest

import gradgen as gg
from gradgen.build import find_compiler, runtime_include_dir
from gradgen.codegen.naming import c_identifier, reserved_c

RNG = np.random.default_rng(11)


def test_user_names_are_written_as_the_user_wrote_them():
    def loss(w, X, y):
        z = X @ w
        return gg.mean(gg.softplus(z) - y * z)

    kernel = gg.value_and_grad(loss, wrt="w", backend="c", w=gg.Array((3,)), X=gg.Array((70, 3)), y=gg.Array((70,)))
    source = kernel.source
    assert "(const double *restrict w, const double *restrict X, const double *restrict y," in source
    assert "z += X[i * 3 + j] * w[j];" in source and "dJ_dw_out[j] += X[i * 3 + j] * dJ_dz;" in source
    assert " w_" not in source and "X_" not in source and "[w_" not in source


def test_the_printers_own_names_yield_to_the_users():
    def f(i, j, k, r0, r1, work, s):
        return gg.sum(gg.tanh(i * j + k) * r0 * r1 + work * s)

    specs = {name: gg.Array((70,)) for name in ("i", "j", "k", "r0", "r1", "work", "s")}
    c = gg.value_and_grad(f, backend="c", specs=specs)
    values = [RNG.normal(size=70) for _ in specs]
    (vc, gc), (vp, gp) = c(*values), gg.value_and_grad(f, backend="python", specs=specs)(*values)
    assert vc == pytest.approx(vp, rel=1e-13)
    for name in specs:
        np.testing.assert_allclose(gc[name], gp[name], rtol=1e-12)
    head = c.source.split("GG_KERNEL", 1)[1].split("{", 1)[0]
    for name in specs:
        assert f"const double *restrict {name}," in head
    assert "double *restrict work_2)" in head and "for (long i_2 = 0; i_2 < 70; ++i_2)" in c.source


@pytest.mark.parametrize("name", ["work", "i", "rc", "begin", "r1", "step", "blame"])
def test_an_exported_function_takes_its_name_before_the_printers_own(tmp_path, name):
    # The function is called ``work`` or ``i``: its workspace becomes work_2, its loop index i_2, and the
    # pair builds with every warning an error, shadowing included.
    def f(x, w):
        return gg.sum(gg.exp(x @ w))

    _, c_path = gg.export_c(f, tmp_path, name, x=gg.Array((70, 3)), w=gg.Array((3,)))
    source = c_path.read_text()
    head = source.split(f"int {name}(", 1)[1].split(")", 1)[0]
    assert name not in [p.split()[-1].lstrip("*") for p in head.split(",")]
    assert {"work": "double *restrict work_2" in head, "i": "long i_2 = " in source}.get(name, True)
    build = subprocess.run([find_compiler().path, "-std=c99", "-Wall", "-Wextra", "-Wshadow", "-Werror", "-c",
                            str(c_path), "-o", str(tmp_path / "f.o")], capture_output=True, text=True)
    assert build.returncode == 0, build.stderr


@pytest.mark.parametrize(("name", "written"), [("α", "alpha"), ("Δt", "Deltat"), ("é", "e"), ("d J/dx", "d_J_dx"),
                                                ("EOF", "v_EOF"), ("gg_x", "v_gg_x"),
                                                ("M_i", "v_M_i"), ("double", "double_"), ("tanh", "tanh_"),
                                                ("size_t", "size_t_"), ("I", "I_"), ("X", "X"), ("W1", "W1")])
def test_a_name_changes_only_where_c_would_read_it_otherwise(name, written):
    assert c_identifier(name) == written
    assert not reserved_c(written)


def _macros(includes: list[str]) -> set[str]:
    source = "".join(f"#include {header}\n" for header in includes)
    flags = [f"-I{runtime_include_dir()}", f"-I{sysconfig.get_paths()['include']}"]
    try:
        import scipy_openblas32

        flags.append(f"-I{scipy_openblas32.get_include_dir()}")
        source += "#include <cblas.h>\n"
    except ImportError:
        pass
    run = subprocess.run([find_compiler().path, "-std=c99", "-dM", "-E", *flags, "-"], input=source, text=True,
                         capture_output=True, check=True)
    return {line.split()[1].split("(")[0] for line in run.stdout.splitlines() if line.startswith("#define")}


@pytest.mark.skipif(find_compiler() is None, reason="needs a C compiler")
def test_every_macro_around_a_kernel_is_a_name_the_namer_avoids():
    # the cffi module puts Python.h before the kernel; the kernel includes the rest
    macros = _macros(["<Python.h>", "<stdint.h>", "<math.h>", "<stddef.h>", '"gradgen_runtime.h"',
                      '"gradgen_routines.h"'])
    assert len(macros) > 1000
    assert sorted(name for name in macros if not reserved_c(name)) == []
