"""An adversarial review of the schedule stage and the C printer: inputs where ``backend="c"`` disagrees
with ``backend="python"``, fails to build, or breaks the program checker.

Each test asserts the correct behaviour (C agrees with Python, the program is valid), so each fails
while the defect it shows is there. They need the C compiler the C backend needs (CI installs one), as
tests/test_loops.py does. The program checker runs on every schedule (``tests/conftest.py``).
"""

from __future__ import annotations

import numpy as np
import pytest

import gradgen as gg
from gradgen import stages
from gradgen.schedule import check_program


def _close(got, expected, rtol=1e-12) -> None:
    got, expected = np.asarray(got, dtype=float), np.asarray(expected, dtype=float)
    assert got.shape == expected.shape
    scale = max(1.0, float(np.max(np.abs(expected[np.isfinite(expected)]), initial=0.0)))
    np.testing.assert_allclose(got, expected, rtol=rtol, atol=rtol * scale)


def _agree_value_and_grad(fn, args, specs=None, wrt=None, rtol=1e-12) -> None:
    py = gg.value_and_grad(fn, wrt=wrt, backend="python", specs=specs)
    c = gg.value_and_grad(fn, wrt=wrt, backend="c", specs=specs)
    (value_py, grads_py), (value_c, grads_c) = py(*args), c(*args)
    _close(value_c, value_py, rtol)
    assert list(grads_c) == list(grads_py)
    for key in grads_py:
        _close(grads_c[key], grads_py[key], rtol)


def _agree_forward(fn, args, specs=None, rtol=1e-12) -> None:
    expected = gg.compile(fn, backend="python", specs=specs)(*args)
    got = gg.compile(fn, backend="c", specs=specs)(*args)
    if not isinstance(expected, tuple):
        got, expected = (got,), (expected,)
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        _close(g, e, rtol)


# --- threads: a column maximum shared by two threads ------------------------------------------------------
@pytest.mark.parametrize("reduction", ["max", "min"])
def test_threaded_column_max_and_min_of_a_narrow_matrix(monkeypatch, reduction):
    """With two threads, a long loop whose running values are a short accumulator array (a column
    reduction of a narrow matrix) is split into parts, and the parts' arrays are combined with ``+``
    whatever the reduction: the column maximum starts at -inf in the kernel, and -inf + x is -inf.
    (``codegen/c.py``, ``Printer.shared_loop``: a ``Fill`` init is combined with "+", and a ``Fill``
    does not say which reduction it starts.)"""
    monkeypatch.setenv("GRADGEN_NUM_THREADS", "2")
    X = np.random.default_rng(0).normal(size=(140_000, 3))
    fn = {"max": lambda X: gg.max(X * 2.0, axis=0), "min": lambda X: gg.min(X * 2.0, axis=0)}[reduction]
    c = gg.compile(fn, backend="c", X=gg.Array(X.shape))
    assert any(getattr(s, "parts", 1) > 1 for s in c.program.body), "the loop is shared by threads"
    got = c(X)
    expected = getattr(np, reduction)(X * 2.0, axis=0)
    np.testing.assert_array_equal(got, expected)  # C gives [-inf -inf -inf] (or +inf for min)


# --- large programs: a split between an index check and its use -------------------------------------------
def _scalar_gathers(n):
    def f(v, k, s0):
        s = s0
        for _ in range(n):
            s = s * 0.9 + (v * s)[k]
        return s
    return f


def test_large_program_split_between_an_index_and_the_gather_that_uses_it():
    """``x[k]`` with an int64 scalar ``k`` is two top-level statements, the index check
    (``IndexValue``, which defines the local ``..._j``) and the store that reads through it. A large
    program is cut into parts of ``roll.CHUNK`` statements with no regard for that, so a part ends
    with the check and the next part uses a local it never declared: the C does not compile
    (``'t.._j' undeclared``). The program checker misses it too: it checks index symbols against
    ``bounds``, which it never clears between parts or scopes (``schedule/roll.py``, ``shrink``;
    ``schedule/check.py``)."""
    specs = {"v": gg.Array((4,)), "k": gg.Scalar("int64"), "s0": gg.Scalar()}
    f = _scalar_gathers(300)
    v = np.linspace(-1.0, 1.0, 4)
    _agree_value_and_grad(f, [v, 2, 0.5], specs=specs, wrt=["v", "s0"])


def test_program_checker_rejects_an_index_local_used_outside_its_part():
    """The same program, scheduled only: the checker must refuse a part that indexes with a local
    another part defined."""
    from gradgen.schedule.program import IndexValue

    specs = {"v": gg.Array((4,)), "k": gg.Scalar("int64"), "s0": gg.Scalar()}
    prepared = stages.prepared(_scalar_gathers(300), specs, "value_and_grad", ["v", "s0"])
    program = stages.to_program(prepared.prepared)
    ends_with_check = [k for k, part in enumerate(program.parts) if isinstance(part[-1], IndexValue)]
    if ends_with_check:  # the defect above is there: the checker must see it
        with pytest.raises(Exception, match="invariant"):
            check_program(program)


# --- matrix products with an axis of length 0 -----------------------------------------------------------
@pytest.mark.parametrize("a_shape, b_shape", [((3, 0), (0, 2)), ((0, 3), (3, 2)), ((2, 3), (3, 0)),
                                              ((0,), (0, 2))], ids=["K=0", "M=0", "N=0", "vecmat K=0"])
def test_matmul_with_an_empty_axis(a_shape, b_shape):
    """``_product_plan`` drops the axes of extent <= 1 from the nest, not only those of extent 1: an
    empty inner axis makes the product an "outer product" that reads element 0 of empty operands
    (out of bounds: uninitialised workspace, so the zeros NumPy gives are garbage), an empty M or N
    axis indexes with a loop variable no loop defines (for N=0 the C does not compile: 'j'
    undeclared). (``schedule/nests.py``, ``_product_plan``: ``extents[d] > 1``.)"""
    a, b = np.zeros(a_shape), np.zeros(b_shape)
    _agree_forward(lambda a, b: gg.exp(a) @ gg.exp(b), [a, b])


# --- float32 scalars in the slots of a large program ----------------------------------------------------
def test_float32_scalars_of_a_large_program_are_rounded_to_float32():
    """Above 2000 top-level statements every top-level scalar lives in a slot of one array of
    doubles, so a float32 scalar program is computed in double precision there (and in float32 in a
    small program): the logistic map in float32 drifts away from what NumPy (and the Python backend,
    and the same C kernel for fewer steps) computes. (``schedule/statements.py``: the slots buffer is
    float64 whatever the dtype of the scalars it holds.)"""
    def logistic(x, r):
        for _ in range(700):
            x = r * x * (1.0 - x)
        return x

    specs = {"x": gg.Scalar("float32"), "r": gg.Scalar("float32")}
    x, r = np.float32(0.3), np.float32(3.9)
    for _ in range(700):
        x = r * x * (np.float32(1.0) - x)
    assert gg.compile(logistic, backend="python", specs=specs)(0.3, 3.9) == pytest.approx(float(x), rel=1e-6)
    got = gg.compile(logistic, backend="c", specs=specs)(0.3, 3.9)
    assert got == pytest.approx(float(x), rel=1e-5)


# --- recomputed values: a chain inserted after a reader of it ----------------------------------------------
def _residual(x, a):
    h = x
    for _ in range(3):
        h = h + gg.sum(h * a) * 0.001
    return gg.sum(h)


@pytest.mark.parametrize("fn, specs", [
    (lambda v: gg.max(gg.minimum(v, 1.0)), {"v": gg.Array((4,))}),
    (_residual, {"x": gg.Array((8,)), "a": gg.Array((8,))}),
], ids=["max-of-minimum", "three-residual-steps"])
def test_recomputed_chain_is_defined_before_it_is_read(fn, specs):
    """The gradient of ``max(minimum(v, 1))``: its last loop computes again both ``m = minimum(v, 1)``
    (for ``v == m``) and ``t = (m == max)`` (for the tie share), and ``t`` reads ``m``. ``decide`` takes
    the bases in id order: ``m`` first, inserted before its first reader in that loop (``v == m``);
    then ``t``, whose chain is ``[m, t]``, is inserted before *its* reader, earlier in the loop, and
    ``m`` is skipped there because ``inserted`` (keyed by loop and node, not by position) says the
    loop already computes it. So ``t`` reads ``m`` before it is defined, and the statement builder
    stops with AssertionError "node %3 is read from memory but never stored". The same happens in
    any graph where two cheap values are recomputed in one loop (three residual steps
    ``h = h + sum(h * a) * 0.001``; about a quarter of random programs mixing normalizations,
    shifted slices and maxima). (``schedule/materialize.py``, ``decide``/``_insert_before``.)"""
    rng = np.random.default_rng(1)
    args = [rng.normal(size=spec.shape) for spec in specs.values()]
    _agree_value_and_grad(fn, args, specs=specs)


# --- export_c: output names in the header's comment and in the name queries ---------------------------------
_STRICT = ["-std=c99", "-pedantic", "-Wall", "-Wextra", "-Werror"]


def _export_and_query_names(tmp_path, output_name: str) -> list[str]:
    """Export ``sum(exp(x))`` named ``output_name``, build it with strict flags and return what
    ``<name>_name_out(0)`` and ``(1)`` give, as bytes decoded."""
    import shutil
    import subprocess

    from gradgen.inspect.export import export_c

    def fn(x):
        return gg.name(gg.sum(gg.exp(x)), output_name)

    export_c(fn, tmp_path, "named", x=gg.Array((3,)))
    (tmp_path / "main.c").write_text(r"""
#include <stdio.h>
#include "named.h"
int main(void) {
    for (int i = 0; i < named_n_out(); ++i) {
        const char *s = named_name_out(i);
        for (; *s; ++s) printf("%02x", (unsigned char)*s);
        printf("\n");
    }
    return 0;
}
""")
    cc = shutil.which("cc") or shutil.which("gcc")
    build = subprocess.run([cc, *_STRICT, "-o", str(tmp_path / "main"), str(tmp_path / "main.c"),
                            str(tmp_path / "named.c"), "-lm"], capture_output=True, text=True)
    assert build.returncode == 0, build.stderr[:2000]
    out = subprocess.run([str(tmp_path / "main")], capture_output=True, text=True, check=True).stdout
    return [bytes.fromhex(line).decode() for line in out.split()]


@pytest.mark.parametrize("output_name", ['say "hi"', "a\\b", "what??/", "J */ x", "two\nlines"],
                         ids=["quote", "backslash", "trigraph", "comment-end", "newline"])
def test_exported_pair_builds_and_names_outputs_exactly(tmp_path, output_name):
    """Output names are free text (``gg.name``); the runtime backend takes any, and so must the
    exported pair. ``cabi._queries`` writes each name into a C string as ``"<comment(name)>"``:
    a double quote ends the string (a syntax error), a backslash starts an escape (``a\\b`` comes back
    as a backspace), ``??/`` is a trigraph in C99 (``-Werror=trigraphs``), and ``comment()`` turns
    ``*/`` into ``* /`` and a newline into a space, so the query answers another name. ``cabi._describe``
    writes the names raw into the header's comment: ``*/`` or a newline there ends the comment and the
    header does not compile. (``codegen/cabi.py``: ``_queries`` needs C string escaping, ``_describe``
    needs ``comment()``.)"""
    names = _export_and_query_names(tmp_path, output_name)
    assert names[0] == output_name


# --- index errors blamed on an argument that holds no index --------------------------------------------------
def test_out_of_range_computed_index_is_not_blamed_on_the_first_argument():
    """An index computed from a float input (``x[cast(y, int64)]``) out of range: the Python backend
    says an index is out of range without naming an argument, the C backend blames argument 1,
    ``'x'``, the float array being indexed, because ``StatementBuilder.argument`` answers 1 for "computed
    otherwise" and 1 is also the code of a bad first argument. (``schedule/statements.py``, ``argument``;
    the ABI needs a code of its own for a computed index, or the argument it was computed from.)"""
    kernel = gg.value_and_grad(lambda x, y: gg.sum(gg.exp(x)[gg.cast(y, "int64")]), wrt=["x"], backend="c",
                               x=gg.Array((4,)), y=gg.Array((2,)))
    with pytest.raises(gg.InputError) as error:
        kernel(np.ones(4), np.array([0.0, 7.0]))
    assert "argument 'x'" not in str(error.value)
    assert "an index computed in the kernel is out of range" in str(error.value)


# --- a cheap value read both at its own element and at another ------------------------------------------
@pytest.mark.parametrize("fn, shape", [
    (lambda x: (x * 2.0)[::-1] * (x * 2.0), (5,)),
    (lambda x: (x * 2.0).T * (x * 2.0), (4, 4)),
    (lambda x: (x * x[:, 1:2]).T * (x * x[:, 1:2]), (5, 5)),
], ids=["reversed", "transposed", "row-broadcast-transposed"])
def test_cheap_value_read_at_its_element_and_at_another_index(fn, shape):
    """``c = x * 2`` is cheap, and its reader ``c[::-1] * c`` runs in another loop (it reads ``c``
    reversed, which needs all of ``c``). ``decide`` recomputes ``c`` in the reader's loop instead of
    storing it, because *one* of the reader's reads of ``c`` is at the reader's own element
    (``any(fusable(...))``); the reversed read still needs ``c`` in memory, which is never written:
    AssertionError "node %3 is read from memory but never stored" on a one-line forward kernel.
    (``schedule/materialize.py``, ``decide``: every read of the base by a cross-loop reader must be
    fusable for recomputing to replace the store.)"""
    x = np.arange(float(np.prod(shape))).reshape(shape) / 7.0
    _agree_forward(fn, [x], specs={"x": gg.Array(shape)})


# --- scalar outputs that are not float64 ---------------------------------------------------------------------
def test_bool_and_int64_scalar_outputs_keep_their_kind_and_value():
    """A forward kernel's scalar output of dtype bool or int64 goes through the packed entry's array of
    doubles (``cabi.packed_entry``: ``scalars[k] = (double)s_k``): the C kernel returns ``1.0`` where
    the Python backend returns ``np.True_``, and ``2.0**60`` where it returns the int64 ``2**60 + 1``
    (an int64 beyond 2**53 does not survive a double). (``codegen/cabi.py`` and
    ``runtime/cglue.py``.)"""
    specs = {"x": gg.Array((3,))}
    x = np.array([1.0, 2.0, -0.5])
    positive = lambda x: gg.sum(x) > 0  # noqa: E731
    py = gg.compile(positive, backend="python", specs=specs)(x)
    c = gg.compile(positive, backend="c", specs=specs)(x)
    assert type(c) is type(py) and c == py
    i = np.array([2**60 + 1, 5], dtype=np.int64)
    first = lambda i: i[0]  # noqa: E731
    got = gg.compile(first, backend="c", i=gg.Array((2,), "int64"))(i)
    assert int(got) == 2**60 + 1


# --- export_c names that the pair's own headers define ---------------------------------------------------------
@pytest.mark.parametrize("name", ["NULL", "INFINITY", "NAN", "HUGE_VAL", "isnan", "signbit", "INT64_C", "offsetof",
                                  "size_t", "int64_t", "SIZE_MAX", "FP_NAN", "double_t"])
def test_export_name_is_refused_or_builds(tmp_path, name):
    """``check_export_name`` refuses C keywords, the runtime's names and the functions the ops call, but
    not the macros and types of the headers the pair includes itself (``<math.h>``, ``<stdint.h>``,
    ``<stddef.h>``): ``export_c(..., "NULL")``, ``"INFINITY"``, ``"isnan"``, ``"size_t"``,
    ``"int64_t"``... are accepted and the pair does not compile even alone with ``-std=c99``.
    (``inspect/export.py``, ``check_export_name`` / ``_called_names``.)"""
    import shutil
    import subprocess

    try:
        _, c_path = gg.export_c(lambda x: gg.sum(gg.exp(x)), tmp_path, name, x=gg.Array((3,)))
    except gg.InputError:
        return  # refused: fine
    cc = shutil.which("cc") or shutil.which("gcc")
    build = subprocess.run([cc, *_STRICT, "-c", str(c_path), "-o", str(tmp_path / "x.o")], capture_output=True,
                           text=True)
    assert build.returncode == 0, build.stderr[:1500]
