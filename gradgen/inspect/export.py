"""export_c: a kernel as a standalone C99 pair, ``name.h`` and ``name.c``, needing only libm.

The pair has the fixed ABI of ``gradgen.codegen.cabi`` (the header it writes
says it all): one function taking the inputs (scalars by value, arrays as
pointers to C-contiguous data), a pointer for each output, and a workspace
of ``<name>_work_size()`` doubles, plus query functions for the number,
names and shapes of the arguments. The C comes from the same pipeline as a
compiled kernel's (``gradgen.stages``), without threads and pragmas.
"""

from __future__ import annotations

import keyword
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Callable

from gradgen import stages
from gradgen.build.headers import runtime_include_dir
from gradgen.codegen.cabi import standalone_pair
from gradgen.codegen.naming import C_OWN
from gradgen.errors import InputError
from gradgen.ir.graph import Graph
from gradgen.ops.registry import OPS
from gradgen.runtime.derivatives import DerivativeKernel
from gradgen.runtime.kernel import Kernel, value_and_grad
from gradgen.version import __version__

C_KEYWORDS = {
    "auto", "break", "case", "char", "const", "continue", "default", "do", "double", "else", "enum", "extern",
    "float", "for", "goto", "if", "inline", "int", "long", "register", "restrict", "return", "short", "signed",
    "sizeof", "static", "struct", "switch", "typedef", "union", "unsigned", "void", "volatile", "while", "_Bool",
    "_Complex", "_Imaginary", "main",
}

_MATH_FUNCTIONS = """acos asin atan atan2 cos sin tan acosh asinh atanh cosh sinh tanh exp exp2 expm1 exp10 frexp
    ilogb ldexp log log10 log1p log2 logb modf scalbn scalbln cbrt fabs hypot pow sqrt erf erfc lgamma tgamma ceil
    floor nearbyint rint lrint llrint round lround llround trunc fmod remainder remquo copysign nan nextafter
    nexttoward fdim fmax fmin fma j0 j1 jn y0 y1 yn gamma drem finite significand sincos pow10 scalb""".split()

#: What the pair's own headers (``<math.h>``, ``<stdint.h>``, ``<stddef.h>``) declare or define, as C99 and
#: glibc spell it: an exported function of one of these names would be a macro call or a redeclaration.
HEADER_NAMES = frozenset(
    [f + suffix for f in _MATH_FUNCTIONS for suffix in ("", "f", "l")] + """INFINITY NAN HUGE_VAL HUGE_VALF
    HUGE_VALL MATH_ERRNO MATH_ERREXCEPT math_errhandling fpclassify isfinite isinf isnan isnormal signbit isgreater
    isgreaterequal isless islessequal islessgreater isunordered signgam NULL offsetof SIZE_MAX""".split())

#: Families of names those headers reserve: ``int32_t``/``double_t`` (and every POSIX ``_t``), ``INT64_C``,
#: ``UINT_LEAST8_MAX``, ``PTRDIFF_MIN``, ``FP_NAN``, ``M_PI``.
HEADER_PATTERNS = re.compile(r".*_t|U?INT\w*_(MIN|MAX|C)|(PTRDIFF|SIG_ATOMIC|WCHAR|WINT)_(MIN|MAX)|FP_\w+|M_\w+")


def _runtime_helpers(header: str = "gradgen_runtime.h") -> str:
    """The text of a runtime header, copied into the .c so the pair stands alone."""
    return Path(runtime_include_dir(), header).read_text()


def _called_names() -> set[str]:
    """Every function and macro name the exported source uses: the ops' C spellings and the runtime's."""
    spellings = " ".join(str(op.c) for op in OPS.values() if isinstance(op.c, str))
    text = _runtime_helpers() + _runtime_helpers("gradgen_routines.h") + spellings
    return set(re.findall(r"\b([A-Za-z_]\w*)\s*\(", text)) | set(re.findall(r"#define\s+(\w+)", text))


def check_export_name(name: str) -> None:
    """Raise InputError unless ``name`` can name an exported pair without clashing with C, the C
    library, the runtime helpers or the names generated code uses itself."""
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", name) or name.endswith("_"):
        raise InputError(f"export_c: name must be a C identifier of letters, digits and _ that starts with a "
                         f"letter and does not end with _, got {name!r}")
    clash = (name in C_KEYWORDS or name in C_OWN or keyword.iskeyword(name) or name.lower().startswith("gg_")
             or re.fullmatch(r"t\d+", name) or name in _called_names() or name in HEADER_NAMES
             or HEADER_PATTERNS.fullmatch(name))
    if clash:
        raise InputError(f"export_c: the name {name!r} is taken (a C keyword, a name <math.h>, <stdint.h> or "
                         f"<stddef.h> defines, a gradgen runtime function, or a name generated code uses); "
                         f"choose another, e.g. {name + '_kernel'!r}")


def export_c(fn_or_kernel: Callable | Kernel | DerivativeKernel | Graph, directory: str | os.PathLike, name: str,
             wrt: str | Sequence[str] | None = None, **specs: Any) -> tuple[Path, Path]:
    """Write ``name.h`` and ``name.c`` in ``directory``; return their paths.

    A kernel (``value_and_grad``, ``compile``, or a derivative kernel: ``jvp``, ``vjp``, ``jacobian``,
    ``hessian``, ``hvp``, whose directions become arguments after the function's) is exported as it was
    compiled; a function (with specs, as for
    ``gg.value_and_grad``) or a graph is exported as its value and its
    gradient with respect to ``wrt`` (default: every float input).
    """
    check_export_name(name)
    if isinstance(fn_or_kernel, (Kernel, DerivativeKernel)):
        graph = fn_or_kernel.c_graph
    else:
        graph = value_and_grad(fn_or_kernel, wrt=wrt, backend="python", **specs).c_graph
    c = stages.to_c(graph, function_name=name, title=f"{name}: generated by gradgen {__version__}",
                    standalone=True).source
    header, source = standalone_pair(c, name, _runtime_helpers(), _runtime_helpers("gradgen_routines.h"))
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    h_path, c_path = directory / f"{name}.h", directory / f"{name}.c"
    h_path.write_text(header)
    c_path.write_text(source)
    return h_path, c_path
