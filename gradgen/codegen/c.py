"""The C printer: a scheduled Program as C99 text, one method per statement kind.

It decides nothing: loops, storage, threads and the BLAS are the
schedule's (``gradgen.schedule``); names are the namer's (``CNames``);
element spellings are the op registry's. Every element statement carries
the note the Python backend writes for the same node.
"""

from __future__ import annotations

import hashlib
from typing import Any

from gradgen.codegen.cabi import CTYPES, CKernelSource, comment, kernel_source
from gradgen.codegen.naming import CNames
from gradgen.ir.graph import Graph
from gradgen.ir.printer import format_graph
from gradgen.ops.registry import OPS, spell
from gradgen.schedule.program import (
    Accumulate,
    Apply,
    Atom,
    Call,
    Expr,
    Fill,
    Gemm,
    Index,
    IndexValue,
    Init,
    Let,
    Literal,
    Load,
    Local,
    Loop,
    Program,
    Ref,
    Routine,
    Row,
    RunBody,
    Stmt,
    Store,
    Var,
    routines,
)


def literal(value: Any, dtype: str) -> str:
    """A constant as C spells it in a kernel of ``dtype``."""
    if dtype == "bool" or isinstance(value, bool):
        return "1" if value else "0"
    if dtype == "int64":
        return f"INT64_C({int(value)})"
    value = float(value)
    if value != value:
        return "NAN"
    if value in (float("inf"), float("-inf")):
        return "INFINITY" if value > 0 else "(-INFINITY)"
    text = repr(value)
    if "e" not in text and "." not in text:
        text += ".0"
    text += "f" if dtype == "float32" else ""
    return f"({text})" if text.startswith("-") else text


def noted(line: str, note: str) -> str:
    """A line of C with its note as a comment after it."""
    return f"{line}  /* {comment(note)} */" if note else line


class Printer:
    """Prints one Program's statements with one namer."""

    def __init__(self, program: Program, names: CNames, *, standalone: bool, blas_prefix: str | None):
        self.program = program
        self.names = names
        self.standalone = standalone
        self.blas_prefix = blas_prefix
        self.buffers = {b.id: b for b in program.buffers}
        self.functions: list[str] = []  # the part functions of loops shared by threads
        self.private: dict[int, str] = {}  # running arrays a part keeps to itself, by buffer
        self.function_name = ""
        self.call_arguments: list[str] = []
        self.buffer_names: dict[int, str] = {}
        for b in program.buffers:
            if b.kind == "output":
                self.buffer_names[b.id] = names.output(b.position, program.graph.output_names[b.position])
            elif b.kind == "tile" or b.role:
                self.buffer_names[b.id] = names.derived(b.node, b.role or "tile")
            elif b.kind == "slots":
                self.buffer_names[b.id] = names.own("s")
            else:
                self.buffer_names[b.id] = names.node(b.node)

    # --- names and expressions ------------------------------------------------------------------------------
    def symbol(self, s: Var | Local) -> str:
        if isinstance(s, Var):
            return self.names.loop_index(s.role, s.depth)
        return self.names.local(s.node, s.role)

    def index(self, index: Index) -> str:
        """``i * 8 + j``, ``m + 1``, ``599 - m``: terms in order, the offset last (first if it is subtracted from)."""
        terms = [(self.symbol(s) if abs(k) == 1 else f"{self.symbol(s)} * {abs(k)}", k < 0) for s, k in index.terms]
        if index.offset and terms and terms[0][1]:
            terms.insert(0, (str(index.offset), False))
        elif index.offset or not terms:
            terms.append((str(abs(index.offset)), index.offset < 0))
        text = ("-" if terms[0][1] else "") + terms[0][0]
        return text + "".join((" - " if negative else " + ") + term for term, negative in terms[1:])

    def atom(self, a: Atom) -> str:
        if isinstance(a, Literal):
            return literal(a.value, a.dtype)
        if isinstance(a, Ref):
            return self.symbol(a.local)
        buffer = self.buffers[a.buffer]
        if buffer.scalar:
            return f"*{self.buffer_names[a.buffer]}"
        return f"{self.private.get(a.buffer, self.buffer_names[a.buffer])}[{self.index(a.index)}]"

    def expr(self, e: Expr) -> str:
        if isinstance(e, Apply):
            attrs = {**dict(e.attrs), "f": "f" if e.dtype == "float32" else ""}
            return spell(OPS[e.op].c, [self.atom(a) for a in e.args], attrs)
        return self.atom(e)

    # --- statements ---------------------------------------------------------------------------------------
    def statements(self, body: tuple[Stmt, ...]) -> list[str]:
        lines: list[str] = []
        for s in body:
            lines += getattr(self, f"print_{type(s).__name__}")(s)
        return lines

    def print_Let(self, s: Let) -> list[str]:  # noqa: N802 - one method per statement class
        return [noted(f"const {CTYPES[s.dtype]} {self.symbol(s.target)} = {self.expr(s.value)};", s.note)]

    def print_Init(self, s: Init) -> list[str]:  # noqa: N802
        start = literal(0 if s.how == "sum" else float("-inf"), s.dtype)
        return [noted(f"{CTYPES[s.dtype]} {self.symbol(s.target)} = {start};", s.note)]

    def print_Store(self, s: Store) -> list[str]:  # noqa: N802
        value = self.expr(s.value)
        if isinstance(s.value, Apply) and s.value.dtype == "float32" and self.buffers[s.buffer].dtype != "float32":
            value = f"(float)({value})"  # a float32 result kept in a double slot: rounded as float32 computes it
        return [noted(f"{self.atom(Load(s.buffer, s.index))} = {value};", s.note)]

    def print_Accumulate(self, s: Accumulate) -> list[str]:  # noqa: N802
        target, value = self.atom(s.target), self.expr(s.value)
        if s.how == "sum":
            return [noted(f"{target} += {value};", s.note)]
        return [noted(f"{target} = gg_maximum{'f' if s.dtype == 'float32' else ''}({target}, {value});", s.note)]

    def print_Fill(self, s: Fill) -> list[str]:  # noqa: N802
        buffer = self.buffers[s.buffer]
        name = self.buffer_names[s.buffer]
        value = literal(s.value.value, buffer.dtype)
        stop = buffer.size if s.count is None else s.start + s.count
        if stop - s.start == 1:
            return [noted(f"{self.atom(Load(s.buffer, Index(s.start)))} = {value};", s.note)]
        k = self.names.own("k")
        return [noted(f"for (long {k} = {s.start}; {k} < {stop}; ++{k}) {name}[{k}] = {value};", s.note)]

    def print_IndexValue(self, s: IndexValue) -> list[str]:  # noqa: N802
        j = self.symbol(s.target)
        return [f"long {j} = (long){self.expr(s.source)};",
                f"if ({j} < -{s.bound} || {j} >= {s.bound}) return {s.argument};  /* index out of range */",
                f"if ({j} < 0) {j} += {s.bound};"]

    def print_Gemm(self, s: Gemm) -> list[str]:  # noqa: N802
        def operand(m: Any) -> tuple[str, str, int]:
            pointer = self.buffer_names[m.buffer] + (f" + {m.offset}" if m.offset else "")
            return (pointer, "CblasNoTrans", m.row_stride) if m.col_stride == 1 else (pointer, "CblasTrans",
                                                                                       m.col_stride)
        (pa, ta, lda), (pb, tb, ldb) = operand(s.a), operand(s.b)
        gemm = f"{self.blas_prefix}cblas_{'s' if s.dtype == 'float32' else 'd'}gemm"
        out = self.buffer_names[s.out]
        return [f"/* {out} = ({s.m} x {s.k}) @ ({s.k} x {s.n}), by the BLAS */",
                f"{gemm}(CblasRowMajor, {ta}, {tb}, {s.m}, {s.n}, {s.k}, 1, {pa}, {lda}, {pb}, {ldb}, 0, {out}, "
                f"{s.n});"]

    def print_Routine(self, s: Routine) -> list[str]:  # noqa: N802
        names = [self.buffer_names[b] for b in s.buffers]
        args = ", ".join([*map(str, s.sizes), *names])
        what = f"{names[-1]} = {s.op}({', '.join(names[:-1])}), in double precision"
        lines = [f"/* {comment(what)} */"]
        if not s.status:
            return lines + [f"{s.routine}({args});"]
        return lines + [f"if ({s.routine}({args})) return {s.status};  /* the matrix is {OPS[s.op].failure} */"]

    def print_RunBody(self, s: RunBody) -> list[str]:  # noqa: N802
        args = [self.pointer(a) for a in s.arguments + s.results]
        args.append(self.buffer_names[s.work] if s.work is not None else "0")
        status, blame = self.names.own("status"), self.names.own("blame")
        lines = ["{", noted(f"    const int {status} = {self.body_name(s.body)}({', '.join(args)});",
                            "one step of the loop's body")]
        if any(r.status for r in routines(self.program.bodies[s.body])):
            lines.append(f"    if ({status} < 0) return {status};  /* a matrix in the body is singular */")
        if all(k == s.computed for k in s.statuses):
            lines.append(f"    if ({status}) return {s.computed};  /* an index out of range in the body */")
        else:  # the body's argument k holds a bad index: blame the kernel's argument it came from
            lines.append(f"    static const int {blame}[{len(s.statuses)}] = {{{', '.join(map(str, s.statuses))}}};")
            lines.append(f"    if ({status}) return {status} <= {len(s.statuses)} ? {blame}[{status} - 1] : "
                         f"{s.computed};")
        return lines + ["}"]

    def pointer(self, a: Atom | int | Row) -> str:
        """An argument of a body: a buffer, a row of one (``saved_h + 3 * step``) or a scalar value."""
        if isinstance(a, Row):
            return f"{self.buffer_names[a.buffer]} + {self.index(a.at)}" if a.at.terms or a.at.offset else \
                self.buffer_names[a.buffer]
        return self.buffer_names[a] if isinstance(a, int) else self.atom(a)

    def body_name(self, body: int) -> str:
        return f"{self.function_name}_body{body}"

    def body_printer(self, body: int) -> Printer:
        """The printer of the body of a loop (a function of its own, named after this one)."""
        program = self.program.bodies[body]
        printer = Printer(program, names_for(program, self.body_name(body)), standalone=self.standalone,
                          blas_prefix=None)
        printer.function_name = self.body_name(body)
        return printer

    def print_Call(self, s: Call) -> list[str]:  # noqa: N802
        rc = self.names.own("rc")
        return [noted(f"if (({rc} = {self.part_name(s.part)}({', '.join(self.call_arguments)}))) return {rc};",
                      f"the kernel's statements, part {s.part + 1} of {len(self.program.parts)}")]

    def print_Loop(self, s: Loop) -> list[str]:  # noqa: N802
        lines = self.statements(s.inits)
        if s.members or s.note:
            shared = f", shared by {s.parts} threads" if s.parts > 1 and not self.standalone else ""
            lines.append(f"/* {self.loop_comment(s)}{shared} */")
        if s.parts > 1 and not self.standalone:
            return lines + self.shared_loop(s)
        return lines + self.loop(s, "0", str(s.extent))

    def loop(self, s: Loop, start: str, stop: str) -> list[str]:
        """The loop itself (its inits and comment aside), from ``start`` to ``stop``."""
        lines = []
        if s.simd is not None and not self.standalone:
            sums = ", ".join(self.symbol(acc) for acc in s.simd)
            lines.append("#pragma omp simd" + (f" reduction(+:{sums})" if sums else ""))
        var, r1 = self.symbol(s.var), self.names.own("r1")
        if s.within is not None:
            head = f"for (long {var} = {self.symbol(s.within)}; {var} < {r1}; ++{var}) {{"
        elif s.step != 1:
            head = f"for (long {var} = {start}; {var} < {stop}; {var} += {s.step}) {{"
        else:
            head = f"for (long {var} = {start}; {var} < {stop}; ++{var}) {{"
        body: list[str] = []
        if s.step != 1:
            body.append(f"const long {r1} = {var} + {s.step} < {stop} ? {var} + {s.step} : {stop};")
        for b in s.locals:
            buffer = self.buffers[b]
            body.append(f"{CTYPES[buffer.dtype]} {self.buffer_names[b]}[{buffer.size}];")
        body += self.statements(s.body)
        return lines + [head] + ["    " + line for line in body] + ["}"]

    def shared_loop(self, s: Loop) -> list[str]:
        """A loop run by ``s.parts`` threads: a function over elements begin to end, which takes what it
        reads in a struct and hands its running values back there; the kernel starts the parts
        (``gg_run_parts``) and combines their running values into its own."""
        name = f"{self.function_name}_rows{len(self.functions)}"
        own = self.names.own
        begin, end, part, parts, arg, t, k, kept = (own(w) for w in ("begin", "end", "part", "parts", "arg", "t", "k",
                                                                      "sums"))
        fields = [(self.symbol(x), CTYPES[self.program.graph.nodes[x.node].dtype]) if isinstance(x, Local) else
                  (self.buffer_names[x], f"{'const ' if self.buffers[x].kind == 'input' else ''}"
                                         f"{CTYPES[self.buffers[x].dtype]} *") for x in s.shared]
        sums: list[tuple[str, str, str]] = []  # (the kernel's running value, the part's, how it combines)
        private: list[str] = []
        for init in s.inits:
            if isinstance(init, Init):
                acc = self.symbol(init.target)
                how = "+" if init.how == "sum" else f"gg_maximum{'f' if init.dtype == 'float32' else ''}"
                sums.append((acc, acc, how))
                private += self.print_Init(init)
            else:
                buffer = self.buffers[init.buffer]
                mine = self.names.derived(buffer.node, "part")
                self.private[init.buffer] = mine
                private.append(f"{CTYPES[buffer.dtype]} {mine}[{buffer.size}];")
                private.append(noted(f"for (long {k} = 0; {k} < {buffer.size}; ++{k}) {mine}[{k}] = "
                                     f"{literal(init.value.value, buffer.dtype)};", f"this part's own {init.note}"))
                target = self.buffer_names[init.buffer]
                how = "+" if init.how != "max" else f"gg_maximum{'f' if buffer.dtype == 'float32' else ''}"
                sums += [(f"{target}[{c}]", f"{mine}[{c}]", how) for c in range(buffer.size)]
        loop = self.loop(s, begin, end)
        for init in s.inits:
            self.private.pop(getattr(init, "buffer", None), None)

        def declare(field: str, ctype: str) -> str:
            return f"{ctype}{field}" if ctype.endswith("*") else f"{ctype} {field}"

        struct = [f"struct {name} {{", f"    long {begin}, {end};  /* this part's elements */",
                  f"    double {kept}[{max(len(sums), 1)}];  /* this part's running values */"]
        struct += [f"    {declare(f, c)};" for f, c in fields] + ["};", ""]
        function = [f"/* Elements {begin} to {end} of a loop of {self.function_name}, on one thread. */",
                    f"GG_KERNEL static void *{name}(void *{arg})", "{",
                    f"    struct {name} *const {part} = (struct {name} *){arg};",
                    f"    const long {begin} = {part}->{begin}, {end} = {part}->{end};"]
        function += [f"    {c}restrict const {f} = {part}->{f};" if c.endswith("*") else
                     f"    const {c} {f} = {part}->{f};" for f, c in fields]
        function += ["    " + line for line in private + loop]
        function += [f"    {part}->{kept}[{n}] = {mine};" for n, (_, mine, _) in enumerate(sums)]
        function += ["    return 0;", "}", ""]
        self.functions.append("\n".join(struct + function))
        ranges = ", ".join(f"{{{first}, {stop}}}" for first, stop in s.ranges)
        lines = ["{", f"    struct {name} {parts}[{s.parts}] = {{{ranges}}};",
                 f"    for (int {t} = 0; {t} < {s.parts}; ++{t}) {{"]
        lines += [f"        {parts}[{t}].{f} = {f};" for f, _ in fields] + ["    }"]
        lines.append(f"    gg_run_parts({name}, {parts}, sizeof {parts}[0], {s.parts});")
        lines.append(f"    for (int {t} = 0; {t} < {s.parts}; ++{t}) {{")
        lines += [f"        {acc} += {parts}[{t}].{kept}[{n}];" if how == "+" else
                  f"        {acc} = {how}({acc}, {parts}[{t}].{kept}[{n}]);" for n, (acc, _, how) in enumerate(sums)]
        lines += ["    }", "}"]
        return lines

    def loop_comment(self, s: Loop) -> str:
        """What a loop computes: its extent, then its named values first (at most eight), then its note."""
        graph = self.program.graph
        named = sorted(s.members, key=lambda n: (not graph.nodes[n].name, n))
        shown = ", ".join(self.names.node(n) for n in named[:8])
        more = f" and {len(named) - 8} more" if len(named) > 8 else ""
        what = f": {shown}{more}" if named else ""
        return comment(f"loop over {s.extent}{what}" + (f"; {s.note}" if s.note else ""))

    # --- the function ------------------------------------------------------------------------------------
    def part_name(self, part: int) -> str:
        return f"{self.function_name}_part{part}"


def names_for(program: Program, function_name: str) -> CNames:
    """The namer of the C function ``function_name`` printing ``program``: its graph's names, knowing which
    nodes have arrays of their own."""
    return CNames(program.graph, {b.node for b in program.buffers if b.kind in ("work", "input", "const")
                                  and b.node is not None and not b.role}, function_name)


def print_c(program: Program, *, function_name: str, title: str = "", standalone: bool = False,
            blas_prefix: str | None = None) -> CKernelSource:
    """``program`` as C99 source of one function (see ``CKernelSource`` for its ABI)."""
    printer = Printer(program, names_for(program, function_name), standalone=standalone, blas_prefix=blas_prefix)
    printer.function_name = function_name
    return kernel_source(program, printer, function_name=function_name, title=title, standalone=standalone,
                         fingerprint=_fingerprint(program.graph))


def _fingerprint(graph: Graph) -> str:
    return hashlib.sha256(format_graph(graph).encode()).hexdigest()[:16]
