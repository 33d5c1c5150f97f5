"""Variable names in generated code: the user's names, unchanged where the language allows, made unique.

One namer (``CNames``) gives every identifier of a C kernel: the user's names first and as written, then
the generated node names (``t1``, ``t2``, ...), then the printer's own (loop indices, tile bounds, the
workspace) and names made from a node's for a role (``h_i``, ``X_tile``, ``J_out``), each the first
spelling nobody holds yet. A user's name changes only where C would read it otherwise: a keyword, or a
name the headers a kernel includes define (``reserved_c``); it then gains a trailing underscore.
"""

from __future__ import annotations

import keyword
import re
import unicodedata
from collections.abc import Callable
from functools import cache

from gradgen.ir.graph import Graph

C_KEYWORDS = frozenset("""auto break case char const continue default do double else enum extern float for goto if
    inline int long register restrict return short signed sizeof static struct switch typedef union unsigned void
    volatile while _Bool _Complex _Imaginary _Alignas _Alignof _Atomic _Generic _Noreturn _Static_assert
    _Thread_local bool true false alignas alignof static_assert thread_local nullptr typeof typeof_unqual constexpr
    main""".split())

_MATH_FUNCTIONS = """acos asin atan atan2 cos sin tan acosh asinh atanh cosh sinh tanh exp exp2 expm1 exp10 frexp
    ilogb ldexp log log10 log1p log2 logb modf scalbn scalbln cbrt fabs hypot pow sqrt erf erfc lgamma tgamma ceil
    floor nearbyint rint lrint llrint round lround llround trunc fmod remainder remquo copysign nan nextafter
    nexttoward fdim fmax fmin fma j0 j1 jn y0 y1 yn gamma drem finite significand sincos pow10 scalb""".split()

#: What the headers of a kernel (``<math.h>``, ``<stdint.h>``, ``<stddef.h>``, ``<cblas.h>``, and
#: ``Python.h`` around a cffi module) declare or define under names a user might write, as C99, glibc and
#: CPython spell them. Macros are what matter (a local of a function's name only hides it), but an
#: exported function must not redeclare one either, so the math functions are here too.
HEADER_NAMES = frozenset(
    [f + suffix for f in _MATH_FUNCTIONS for suffix in ("", "f", "l")] + """I NULL complex imaginary signgam errno
    assert offsetof alloca linux unix i386 stdin stdout stderr math_errhandling fpclassify isfinite isinf isnan
    isnormal signbit isgreater isgreaterequal isless islessequal islessgreater isunordered iscanonical iseqsig
    issignaling issubnormal iszero isalnum isalpha isascii isblank iscntrl isdigit isgraph islower isprint ispunct
    isspace isupper isxdigit toascii tolower toupper va_arg va_copy va_end va_start va_list sched_priority st_atime
    st_ctime st_mtime major minor makedev timeradd timerclear timercmp timerisset timersub strdupa strndupa
    assert_perror be16toh be32toh be64toh htobe16 htobe32 htobe64 htole16 htole32 htole64 le16toh le32toh
    le64toh L_ctermid L_cuserid L_tmpnam P_tmpdir xdouble noreturn INFINITY NAN HUGE_VAL HUGE_VALF HUGE_VALL
    MATH_ERRNO MATH_ERREXCEPT SIZE_MAX""".split())

#: Families of names the C headers reserve: ``int32_t``/``double_t`` (and every POSIX ``_t``), ``INT64_C``,
#: ``UINT_LEAST8_MAX``, ``PTRDIFF_MIN``, ``FP_NAN``, ``M_PI``, gradgen's runtime (``gg_``).
HEADER_PATTERNS = re.compile(r"\w*_t|U?INT\w*_(MIN|MAX|C)|(PTRDIFF|SIG_ATOMIC|WCHAR|WINT)_(MIN|MAX)|FP_\w+|M_\w+|"
                             r"[gG][gG]_\w*")

#: Where else macros live, in the headers and around a cffi module: capitals of three letters or more
#: (``EOF``, ``NAN``, ``BUFSIZ``, ``METH_O``), the prefixes of CPython, the BLAS and threads, and leading
#: underscores. A user's name there gains an underscore too (``RGB_``): a macro is matched before C sees it.
MACRO_SPACE = re.compile(r"[A-Z][A-Z0-9_]{2,}|(PRI|SCN)[a-zA-Z0-9]+|(is|to)[a-z]+_l|(Py|PY|cblas_|CBLAS|scipy_|"
                         r"openblas_|OPENBLAS|pthread_|PTHREAD|LAPACK|lapack_)\w*|_\w*")


def reserved_c(name: str) -> bool:
    """Whether C would read ``name`` as something else: a keyword or a name its headers define."""
    return (name in C_KEYWORDS or name in HEADER_NAMES or bool(HEADER_PATTERNS.fullmatch(name))
            or bool(MACRO_SPACE.fullmatch(name)))


def _ascii(char: str) -> str:
    """``char`` in ASCII: itself, its letter without accents (é -> e), or its name (α -> alpha, Δ -> Delta)."""
    if char.isascii():
        return char
    plain = unicodedata.normalize("NFKD", char).encode("ascii", "ignore").decode()
    if plain:
        return plain
    words = unicodedata.name(char, "").split()
    if char.isalpha() and words:
        return words[-1].lower() if char.islower() or not char.isupper() else words[-1].title()
    return "_"


def identifier(name: str, reserved: set[str] | frozenset[str] = frozenset()) -> str:
    """``name`` as a valid ASCII identifier (``d J/dx`` -> ``d_J_dx``, ``α`` -> ``alpha``), avoiding
    Python's keywords and ``reserved``."""
    text = re.sub(r"\W", "_", "".join(_ascii(c) for c in name)) or "v"
    if text[0].isdigit():
        text = "v_" + text
    if text.startswith("_"):
        text = "v" + text  # generated code keeps leading underscores for its own names
    if keyword.iskeyword(text) or text in reserved:
        text += "_"
    return text


def c_identifier(name: str) -> str:
    """``name`` as a C identifier: as ``identifier`` makes it, with a trailing underscore where C would
    read it as a keyword or a header's name."""
    return _unreserved(identifier(name))


def _unreserved(text: str) -> str:
    """``text``, or ``text_`` where C reads it as a keyword or a header's name, or ``v_text`` where it is in a
    family of such names that no suffix leaves (``M_i``, ``gg_x``, ``Py_None``)."""
    if reserved_c(text):
        text = text + "_" if not reserved_c(text + "_") else "v_" + text
    return text


def assign_names(graph: Graph, reserved: set[str], prefix: str = "t",
                 spell: Callable[[str], str] | None = None) -> list[str]:
    """One unique identifier per node: inputs keep their names, named nodes theirs (suffixed ``_2``,
    ``_3`` on clashes), others ``t1, t2, ...``. ``spell`` makes a name an identifier (``identifier``
    avoiding ``reserved`` by default)."""
    taken = set(reserved)
    names: list[str] = [""] * len(graph.nodes)
    spelled = spell or (lambda text: identifier(text, reserved))

    def claim(base: str) -> str:
        candidate, k = base, 2
        while candidate in taken:
            candidate, k = f"{base}_{k}", k + 1
        taken.add(candidate)
        return candidate

    for i in graph.inputs:
        names[i] = claim(spelled(graph.nodes[i].params["name"]))
    for node in graph.nodes:
        if node.op != "input" and node.name:
            names[node.id] = claim(spelled(node.name))
    counter = 0
    for node in graph.nodes:
        if not names[node.id]:
            counter += 1
            names[node.id] = claim(f"{prefix}{counter}")
    return names


#: Loop indices by depth; deeper loops are ``i6``, ``i7``, ...
LOOP_INDICES = ("i", "j", "k", "l", "p", "q")

@cache
def _called(spellings: tuple[str, ...]) -> frozenset[str]:
    return frozenset(re.findall(r"\b([A-Za-z_]\w*)\s*\(", " ".join(spellings)))


def called_names() -> frozenset[str]:
    """The functions the ops' C spellings call (``tanh``, ``gg_sigmoid``): no name may hide one."""
    from gradgen.ops.registry import OPS

    return _called(tuple(str(op.c) for op in OPS.values() if isinstance(op.c, str)))


class CNames:
    """Every identifier in the C of one function (see the module docstring).

    The user's names and the nodes' ``t<k>`` are given out when the namer is made; the printer's own names
    (``own``) and names made for a role (``derived``) when first asked for, each the first of ``word``,
    ``word_2``, ... that is free, and the same on every later request.
    """

    def __init__(self, graph: Graph, stored: set[int] = frozenset(), function_name: str = ""):
        self.graph = graph
        # the functions this one calls: the ops' and its own bodies, parts and threaded loops
        self._functions = re.compile(rf"{re.escape(function_name)}(_(body|part|rows)\d+)+")
        self._taken = set(called_names()) | ({function_name} if function_name else set())
        self._base = assign_names(graph, self._taken, spell=self._spell)
        self._taken.update(self._base)
        self._stored = set(stored)
        self._given: dict[tuple[object, str], str] = {}

    def _spell(self, name: str) -> str:
        text = c_identifier(name)
        return text + "_" if self._functions.fullmatch(text) else text

    def _free(self, name: str) -> bool:
        return name not in self._taken and not reserved_c(name) and not self._functions.fullmatch(name)

    def claim(self, key: tuple[object, str], wanted: str) -> str:
        """The name for ``key``: ``wanted`` if free, else ``wanted_2``, ``wanted_3``, ...; once per key."""
        if key not in self._given:
            base = _unreserved(wanted)
            base = "v_" + base if reserved_c(f"{base}_2") else base  # where numbering would make a macro's name
            candidate, k = base, 2
            while not self._free(candidate):
                candidate, k = f"{base}_{k}", k + 1
            self._taken.add(candidate)
            self._given[key] = candidate
        return self._given[key]

    def node(self, node_id: int) -> str:
        """A node's own identifier (its value, or its array)."""
        return self._base[node_id]

    def derived(self, node_id: int, role: str) -> str:
        """A name made from a node's for a role (``i``: its element in a loop; ``tile``; ``j``: an index)."""
        return self.claim((node_id, role), f"{self._base[node_id]}_{role}")

    def local(self, node_id: int, role: str = "") -> str:
        """The local holding a node's value or element: its own name, unless its array has that name."""
        if role:
            return self.derived(node_id, role)
        return self.derived(node_id, "i") if node_id in self._stored else self.node(node_id)

    def output(self, position: int, name: str) -> str:
        """The parameter for the output called ``name`` (``J_out``)."""
        return self.claim(("output", str(position)), identifier(name) + "_out")

    def own(self, word: str) -> str:
        """One of the printer's own names (``work``, ``r1``, ``rc``, ``begin``): ``word`` unless a user's
        name or another took it."""
        return self.claim(("own", word), word)

    def loop_index(self, role: str, depth: int) -> str:
        if role == "i":
            return self.own(LOOP_INDICES[depth] if depth < len(LOOP_INDICES) else f"i{depth}")
        return self.own({"r": "r0"}.get(role, role))
