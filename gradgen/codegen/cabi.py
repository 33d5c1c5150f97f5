"""The fixed ABI of generated C: the kernel's signature, the cffi declaration and packed entry, the
standalone header with its query functions.

A kernel is ``int NAME(inputs..., outputs..., work)``: scalar inputs by
value, arrays as pointers to C-contiguous data, each output as a pointer to
caller-owned memory (named after the output: ``J_out``, ``dJ_dw_out``), and
``work`` pointing to ``work_size`` doubles. It returns 0, or k in 1..n when
the k-th of its n inputs holds an index out of range, or n + 1 when an index
the kernel computes otherwise is out of range, or a negative status when a
matrix it factors is singular (or not positive definite). It keeps no state, so
threads may call it at once with their own buffers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from gradgen.ir.graph import Shape
from gradgen.ops.registry import OPS
from gradgen.schedule.program import Buffer, Gemm, Loop, Program, buffers_used, routines, walk
from gradgen.version import __version__

if TYPE_CHECKING:
    from gradgen.codegen.c import Printer

CTYPES = {"float64": "double", "float32": "float", "int64": "int64_t", "bool": "unsigned char"}

#: A program split into parts (long straight-line code), or a source longer than this many lines, is built at
#: -O1: compilers take super-linear time on long functions. Loops of split bodies stay at -O2, to vectorize.
LONG_SOURCE = 20000


def comment(text: str) -> str:
    """``text`` safe inside a C comment: no ``*/``, no line breaks."""
    return " ".join(str(text).replace("*/", "* /").replace("/*", "/ *").split())


def c_string(text: str) -> str:
    """``text`` as a C string literal that reads back byte for byte (UTF-8): quotes, backslashes and
    ``?`` (trigraphs) escaped, anything outside printable ASCII as three-digit octal escapes."""
    out = []
    for byte in str(text).encode("utf-8"):
        char = chr(byte)
        if char in '"\\?':
            out.append("\\" + char)
        elif 32 <= byte < 127:
            out.append(char)
        else:
            out.append(f"\\{byte:03o}")
    return '"' + "".join(out) + '"'


@dataclass
class CKernelSource:
    """Generated C for one kernel and what a caller needs to know to call it (see the module docstring)."""

    text: str
    cdef: str
    function_name: str
    inputs: list[tuple[str, Shape, str]]
    outputs: list[tuple[str, Shape, str]]
    work_size: int
    parameters: list[str] = field(default_factory=list)
    long: bool = False
    uses_blas: bool = False
    uses_threads: bool = False
    failures: dict[int, str] = field(default_factory=dict)
    """The negative statuses the kernel may return, each with what it means."""


def _parameters(program: Program, printer: Printer) -> tuple[list[str], list[str]]:
    """The kernel's parameter declarations and their names."""
    graph = program.graph
    by_node = {b.node: b for b in program.buffers if b.kind == "input"}
    declarations, names = [], []
    for node_id in program.inputs:
        node = graph.nodes[node_id]
        if node.shape == ():
            name = printer.names.node(node_id)
            declarations.append(f"{CTYPES[node.dtype]} {name}")
        else:
            name = printer.buffer_names[by_node[node_id].id]
            declarations.append(f"const {CTYPES[node.dtype]} *restrict {name}")
        names.append(name)
    for buffer_id in program.outputs:
        buffer = printer.buffers[buffer_id]
        name = printer.buffer_names[buffer_id]
        declarations.append(f"{CTYPES[buffer.dtype]} *restrict {name}")
        names.append(name)
    work = printer.names.own("work")
    declarations.append(f"double *restrict {work}")
    names.append(work)
    return declarations, names


def _pointer(buffer: Buffer, name: str, work: str) -> str:
    cast = "" if buffer.dtype == "float64" else f"({CTYPES[buffer.dtype]} *)"
    return f"{CTYPES[buffer.dtype]} *const {name} = {cast}({work} + {buffer.offset});"


def _constant(buffer: Buffer, name: str) -> str:
    from gradgen.codegen.c import literal

    assert buffer.data is not None
    values = ", ".join(literal(v, buffer.dtype) for v in buffer.data.array.ravel().tolist())
    return f"static const {CTYPES[buffer.dtype]} {name}[{max(buffer.size, 1)}] = {{{values}}};"


def _used_buffers(body: tuple, kinds: tuple[str, ...], printer: Printer) -> list[Buffer]:
    """The buffers of ``kinds`` that ``body`` touches, in buffer order."""
    return [printer.buffers[b] for b in sorted(buffers_used(body)) if printer.buffers[b].kind in kinds]


def _function(program: Program, printer: Printer, signature: str, declarations: list[str], names: list[str],
              standalone: bool, constants: list[str] = ()) -> list[str]:
    """A program's function: its parts first (functions of their own), then the function itself."""
    lines: list[str] = []
    work = printer.names.own("work")
    used = [f"(void){n};" for n in names] if standalone else []
    for k, part in enumerate(program.parts):
        lines += [f"static int {printer.part_name(k)}({', '.join(declarations)})", "{"]
        body = [_pointer(b, printer.buffer_names[b.id], work) for b in _used_buffers(part, ("work", "slots"), printer)]
        body += used + printer.statements(part)
        lines += ["    " + line for line in body] + ["    return 0;", "}", ""]
    body = list(constants)
    body += [_pointer(b, printer.buffer_names[b.id], work)
             for b in _used_buffers(program.body, ("work", "slots"), printer)]
    if program.parts:
        body.insert(0, f"int {printer.names.own('rc')};")
    body += used + printer.statements(program.body)
    lines += printer.functions  # the functions of loops shared by threads, printed with the body
    lines.append(signature)
    return lines + ["{"] + ["    " + line for line in body] + [f"    (void){work};", "    return 0;", "}", ""]


def _body_function(printer: Printer, standalone: bool) -> list[str]:
    """The function of a loop's body (its own loops' bodies first): the kernel's ABI, ``static``, its
    constants inside it."""
    program = printer.program
    declarations, names = _parameters(program, printer)
    printer.call_arguments = names
    lines: list[str] = []
    for k in range(len(program.bodies)):
        lines += _body_function(printer.body_printer(k), standalone)
    constants = [_constant(b, printer.buffer_names[b.id]) for b in program.buffers if b.kind == "const"]
    lines.append(f"/* One step of a loop: {comment(', '.join(program.graph.input_names))} -> "
                 f"{comment(', '.join(program.graph.output_names))}. */")
    return lines + _function(program, printer, f"static int {printer.function_name}({', '.join(declarations)})",
                             declarations, names, standalone, constants)


def kernel_source(program: Program, printer: Printer, *, function_name: str, title: str, standalone: bool,
                  fingerprint: str) -> CKernelSource:
    """The whole C source of ``program``: includes, constants, the kernel function (and its parts)."""
    declarations, names = _parameters(program, printer)
    printer.call_arguments = names
    signature = f"int {function_name}({', '.join(declarations)})"
    lines = [f"/* {comment(title)}", f" * gradgen {__version__}, graph {fingerprint}; built into the cache",
             " * entry named after the hash of this source and the toolchain. */"]
    threads = not standalone and any(isinstance(s, Loop) and s.parts > 1 for s in walk(program.body))
    uses_blas = any(isinstance(s, Gemm) for s in walk(program.body + tuple(x for p in program.parts for x in p)))
    uses_lapack = printer.blas_prefix is not None and any(OPS[r.op].lapack for r in routines(program))
    if threads:
        lines.append("#define _POSIX_C_SOURCE 200809L")
    lines += ["#include <stdint.h>", "#include <math.h>"]
    if uses_blas:
        lines.append("#include <cblas.h>")
    if threads:
        lines.append("#define GG_USE_THREADS 1")
    lines.append('#include "gradgen_runtime.h"')
    if uses_lapack:
        lines.append("#define GG_USE_LAPACK 1")
    if any(True for _ in routines(program)):
        lines.append('#include "gradgen_routines.h"')
    lines.append("")
    lines += [_constant(b, printer.buffer_names[b.id]) for b in program.buffers if b.kind == "const"]
    for k in range(len(program.bodies)):
        lines += _body_function(printer.body_printer(k), standalone)
    lines += _function(program, printer, ("GG_KERNEL " if not program.parts else "") + signature, declarations,
                       names, standalone)
    text = "\n".join(lines)
    graph = program.graph
    inputs = [(graph.nodes[i].params["name"], graph.nodes[i].shape, graph.nodes[i].dtype) for i in program.inputs]
    outputs = [(graph.output_names[k], graph.nodes[graph.outputs[k]].shape, graph.nodes[graph.outputs[k]].dtype)
               for k in range(len(graph.outputs))]
    failures = {r.status: f"{r.op}: the matrix is {OPS[r.op].failure}" for r in routines(program) if r.status}
    return CKernelSource(text, signature + ";", function_name, inputs, outputs, program.work_size, names,
                         failures=dict(sorted(failures.items(), reverse=True)),
                         long=bool(program.parts) or text.count("\n") > LONG_SOURCE,
                         uses_blas=uses_blas or uses_lapack,
                         uses_threads=threads)


def packed_entry(c: CKernelSource) -> tuple[str, str]:
    """C source and declaration of ``<name>_packed``: the kernel with every float scalar output
    written into one array of doubles, so the glue allocates and passes one buffer for all
    (a float32 is exact in a double). An int64 or bool scalar output comes back through a
    cell of its own type, as an array output does: an int64 beyond 2**53 does not survive a
    double. Arrays come in as ``void *``, so the glue passes ``ffi.from_buffer(array)`` without
    naming a type, the cheapest form (about 0.1 µs less per array)."""
    params, args, locals_, copies = [], [], [], []
    for k, (_, shape, dtype) in enumerate(c.inputs):
        params.append(f"{CTYPES[dtype]} p{k}" if shape == () else f"const void *p{k}")
        args.append(f"p{k}")
    slot = 0
    for k, (_, shape, dtype) in enumerate(c.outputs):
        if shape == () and dtype == "float64":
            args.append(f"scalars + {slot}")
            slot += 1
        elif shape == () and dtype == "float32":  # through a local of its own type
            locals_.append(f"    float s{k} = 0;")
            copies.append(f"    scalars[{slot}] = (double)s{k};")
            args.append(f"&s{k}")
            slot += 1
        else:
            params.append(f"void *o{k}")
            args.append(f"o{k}")
    params += ["double *scalars", "double *work"]
    signature = f"int {c.function_name}_packed({', '.join(params)})"
    call = f"{c.function_name}({', '.join(args + ['work'])})"
    body = [signature, "{", *locals_]
    if copies:
        body += [f"    const int status = {call};", *copies, "    return status;"]
    else:
        body.append(f"    return {call};")
    body.append("}")
    return "\n".join(body) + "\n", signature + ";"


def _describe(items: list[tuple[str, Shape, str]], names: list[str]) -> list[str]:
    return [f" *   {n} ({comment(label)}): {CTYPES[d]}" + (f" array of shape {s}, C order" if s else " scalar")
            for (label, s, d), n in zip(items, names)]


def _queries(c: CKernelSource, name: str) -> list[str]:
    """CasADi-style query functions: how many inputs and outputs, their names, shapes and the workspace."""
    lines: list[str] = []
    for side, items in (("in", c.inputs), ("out", c.outputs)):
        labels = ", ".join(c_string(label) for label, _, _ in items) or "0"
        shapes = [", ".join(map(str, s)) or "0" for _, s, _ in items]
        ndims = ", ".join(str(len(s)) for _, s, _ in items) or "0"
        lines += [f"int {name}_n_{side}(void)", "{", f"    return {len(items)};", "}", "",
                  f"const char *{name}_name_{side}(int i)", "{",
                  f"    static const char *const names[{max(len(items), 1)}] = {{{labels}}};",
                  f"    return i >= 0 && i < {len(items)} ? names[i] : 0;", "}", "",
                  f"int {name}_ndim_{side}(int i)", "{",
                  f"    static const int ndims[{max(len(items), 1)}] = {{{ndims}}};",
                  f"    return i >= 0 && i < {len(items)} ? ndims[i] : -1;", "}", "",
                  f"const long *{name}_shape_{side}(int i)", "{"]
        lines += [f"    static const long shape{k}[{max(len(s), 1)}] = {{{text}}};"
                  for k, ((_, s, _), text) in enumerate(zip(items, shapes))]
        cases = " : ".join(f"i == {k} ? shape{k}" for k in range(len(items)))
        lines += [f"    return {cases + ' : 0' if items else '0'};", "}", ""]
    lines += [f"size_t {name}_work_size(void)", "{", f"    return {c.work_size};", "}", ""]
    return lines


def standalone_pair(c: CKernelSource, name: str, runtime: str, routines_text: str) -> tuple[str, str]:
    """The text of ``name.h`` and ``name.c`` for a kernel printed as standalone C (function ``name``):
    C99, nothing to link but libm, the runtime helpers (``runtime``, and ``routines_text`` where the kernel
    calls its routines) copied in as ``static inline`` functions."""
    guard = f"{name.upper()}_H"
    n_in = len(c.inputs)
    header = "\n".join([
        f"/* {name}.h: generated by gradgen {__version__}. C99; link with -lm. */",
        f"#ifndef {guard}", f"#define {guard}", "", "#include <stddef.h>", "#include <stdint.h>", "",
        "/*", f" * {name}(inputs..., outputs..., work) computes, in this order:", " * inputs:",
        *_describe(c.inputs, c.parameters[:n_in]), " * outputs (caller-owned memory):",
        *_describe(c.outputs, c.parameters[n_in:-1]),
        f" * work: {name}_work_size() doubles of scratch space (may be NULL when that is 0).",
        " * Returns 0, or k in 1..n_in when argument k (1-based) holds an index out of range, or n_in + 1",
        " * when an index the kernel computes (from several arguments, or from floats) is out of range.",
        *[f" * Returns {code} when {what}." for code, what in c.failures.items()],
        " * No global state: threads may call it at once with their own buffers.",
        f" * {name}_n_in/_n_out, _name_in/_name_out(i), _ndim_in/_ndim_out(i) and _shape_in/_shape_out(i)",
        " * describe the arguments (NULL or -1 for an i out of range).", " */",
        c.cdef.replace("restrict ", ""),
        f"int {name}_n_in(void);", f"int {name}_n_out(void);",
        f"const char *{name}_name_in(int i);", f"const char *{name}_name_out(int i);",
        f"int {name}_ndim_in(int i);", f"int {name}_ndim_out(int i);",
        f"const long *{name}_shape_in(int i);", f"const long *{name}_shape_out(int i);",
        f"size_t {name}_work_size(void);", "", f"#endif /* {guard} */", ""])
    body = c.text.replace('#include "gradgen_runtime.h"', runtime)
    body = body.replace('#include "gradgen_routines.h"', routines_text)
    source = "\n".join([f'#include "{name}.h"', body, *_queries(c, name)])
    return header, source
