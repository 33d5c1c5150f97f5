"""The Python side of a C kernel: allocate outputs and workspace, pass pointers, read results.

The glue is generated Python too, so a call does no more than the kernel
needs: ``from_buffer`` for each array, one ``empty`` per output, the cffi
call (which releases the GIL), and the result in the same form the Python
backend returns.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from gradgen.codegen.cabi import CKernelSource
from gradgen.codegen.python import result_expression
from gradgen.errors import InputError
from gradgen.ops.registry import OPS, failed_op
from gradgen.ops.solvers import singular

_FLOATS = ("float64", "float32")  # scalar outputs that come back through the packed array of doubles


def glue_source(c: CKernelSource, *, function_name: str, mode: str, grad_keys: Sequence[str],
                names: Sequence[str], title: str, aux: Any = None) -> str:
    """Source of ``function_name(*inputs)`` calling the C function and shaping its result."""
    params = [f"a{k}" for k in range(len(names))]  # positional names that shadow nothing
    lines = [f"def {function_name}({', '.join(params)}):", f'    """{title}"""',
             f"    # a0, a1, ... are {', '.join(map(repr, names))}"]
    lines += ["    " + line for line in glue_body(c, mode=mode, grad_keys=grad_keys, names=names, aux=aux)]
    return "\n".join(lines) + "\n"


def glue_body(c: CKernelSource, *, mode: str, grad_keys: Sequence[str], names: Sequence[str],
              aux: Any = None) -> list[str]:
    """The statements of the glue, unindented, reading the inputs from locals ``a0, a1, ...`` and ending in
    ``return``; the checked entry inlines them too, so a checked call makes one Python call, not two.
    Its own locals all start with an underscore (``_scalars``, ``_out<k>``, ``_work``, ``_status``)."""
    params = [f"a{k}" for k in range(len(names))]
    lines: list[str] = []
    args = []
    for name, (_, shape, _) in zip(params, c.inputs):
        args.append(name if shape == () else f"_buf({name})")
    scalar_outputs = [k for k, (_, shape, dtype) in enumerate(c.outputs) if shape == () and dtype in _FLOATS]
    if scalar_outputs:
        names_of = ", ".join(repr(c.outputs[k][0]) for k in scalar_outputs)
        lines.append(f"_scalars = _new(_scalars_type)  # {names_of}")
    results = []
    for k, (out_name, shape, dtype) in enumerate(c.outputs):
        if k in scalar_outputs:
            results.append(f"_scalars[{scalar_outputs.index(k)}]")
        elif shape == ():  # an int64 or bool: a cell of its own type, read back as a Python int or bool
            lines.append(f"_out{k} = _new(_{dtype}_cell)  # {out_name!r}")
            args.append(f"_out{k}")
            results.append(f"_out{k}[0]" if dtype == "int64" else f"bool(_out{k}[0])")
        else:
            lines.append(f"_out{k} = _empty({shape!r}, _np.{dtype})  # {out_name!r}")
            args.append(f"_buf(_out{k})")
            results.append(f"_out{k}")
    args.append("_scalars" if scalar_outputs else "_NULL")
    if c.work_size:
        # Room for intermediates: one block per thread, kept between calls (fresh pages
        # would cost a page fault each), never shared by two calls running at once.
        lines.append("_work = _workspace()")
        args.append("_work")
    else:
        args.append("_NULL")
    lines.append(f"_status = _lib.{c.function_name}_packed({', '.join(args)})")
    lines.append("if _status:")
    lines.append("    _index_error(_status)")
    lines.append(f"return {result_expression(mode, results, grad_keys, aux)}")
    return lines


def glue_namespace(ffi: Any, lib: Any, c: CKernelSource, names: Sequence[str]) -> dict[str, Any]:
    """The names the glue source refers to."""
    work_size = c.work_size
    scalar_count = sum(1 for _, shape, dtype in c.outputs if shape == () and dtype in _FLOATS)
    scalars_type = ffi.typeof(f"double[{scalar_count}]") if scalar_count else None

    def index_error(status: int) -> None:
        if status < 0:  # a linear-algebra routine failed
            name = failed_op(status)
            raise singular(name, OPS[name].failure)
        inside = status > len(names)  # one past the inputs: an index the kernel computes
        what = "an index computed in the kernel" if inside else f"argument {names[status - 1]!r}: an index"
        raise InputError(f"{what} is out of range for the array it indexes; indices must lie in [-n, n) for an axis "
                         "of length n")

    per_thread = threading.local()

    def workspace() -> Any:
        """This thread's workspace (a call runs to its end before the thread can start another)."""
        try:
            return per_thread.pointer
        except AttributeError:
            per_thread.array = np.empty(max(work_size, 1))
            per_thread.pointer = ffi.from_buffer("double[]", per_thread.array)
            return per_thread.pointer

    return {"_buf": ffi.from_buffer, "_new": ffi.new, "_empty": np.empty, "_np": np, "_lib": lib,
            "_NULL": ffi.NULL, "_index_error": index_error, "_workspace": workspace, "_scalars_type": scalars_type,
            "_int64_cell": ffi.typeof("int64_t[1]"), "_bool_cell": ffi.typeof("unsigned char[1]")}
