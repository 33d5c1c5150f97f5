"""The C code generator: one reentrant C99 function per kernel, loops fused.

Scalars become local variables. Elementwise array nodes of one shape are
fused into one loop nest, where a value used only inside the loop stays a
local and never touches memory; a reduction joins the loop that produces its
input; broadcasting is index arithmetic (a stride of 0), never a copy.
Arrays that must exist in memory live in a workspace the caller passes in,
so the function keeps no state and many threads may run it at once. Very
large graphs are split into many small functions, since compilers take
super-linear time on one huge function.
"""

from __future__ import annotations

import hashlib
import heapq
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gradgen.codegen.naming import assign_names
from gradgen.codegen.roll import roll
from gradgen.errors import CompileError
from gradgen.ir.graph import ConstArray, Graph, Node, Shape
from gradgen.ir.printer import format_graph
from gradgen.ops.registry import OPS, spell
from gradgen.version import __version__

CTYPES = {"float64": "double", "float32": "float", "int64": "int64_t", "bool": "unsigned char"}

C_RESERVED = {
    "auto", "break", "case", "char", "const", "continue", "default", "do", "double", "else", "enum", "extern",
    "float", "for", "goto", "if", "inline", "int", "long", "register", "restrict", "return", "short", "signed",
    "sizeof", "static", "struct", "switch", "typedef", "union", "unsigned", "void", "volatile", "while",
    "work", "s", "i", "main", "exp", "log", "log1p", "expm1", "sqrt", "sin", "cos", "tanh", "pow", "fabs",
    "INFINITY", "NAN", "int64_t", "size_t", "rc", "r", "p", "c", "q", "k", "j", "o", "t", "a_rp", "isnan",
    "fabsf", "expf", "logf", "log1pf", "expm1f", "sqrtf", "sinf", "cosf", "tanhf", "powf", "INT64_C", "m", "r0", "r1",
    "part", "parts", "begin", "end", "arg", "sums", "gg_run_parts",
} | {f"i{k}" for k in range(16)}


def _comment(text: str) -> str:
    """``text`` safe inside a C comment: no ``*/``, no line breaks."""
    return " ".join(str(text).replace("*/", "* /").replace("/*", "/ *").split())

#: Above this many statements the kernel is split into functions of CHUNK statements
#: (after loop rolling); a source still longer than LONG_SOURCE lines builds at -O1.
SPLIT_ABOVE = 4000
CHUNK = 400
LONG_SOURCE = 5000


@dataclass
class CKernelSource:
    """Generated C for one kernel and what a caller needs to know to call it.

    The function is ``int NAME(inputs..., outputs..., work)``: scalar inputs
    by value, arrays as pointers to C-contiguous data, every output as a
    pointer to caller-owned memory, and ``work`` pointing to ``work_size``
    doubles. It returns 0, or k > 0 when the k-th argument (1-based) holds an
    index out of range.
    """

    text: str
    cdef: str
    function_name: str
    inputs: list[tuple[str, Shape, str]]
    outputs: list[tuple[str, Shape, str]]
    work_size: int
    long: bool = False
    uses_blas: bool = False
    uses_threads: bool = False


@dataclass
class _Group:
    """An open loop nest over ``shape``: its elementwise members and reduction sinks."""

    shape: Shape
    start: int  # the node being emitted when the loop opened
    members: list[int] = field(default_factory=list)
    sinks: list[int] = field(default_factory=list)
    after: list[int] = field(default_factory=list)  # scalars of its sinks, computed after the loop


def _literal(value: Any, dtype: str) -> str:
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


def _index(*terms: tuple[str, int]) -> str:
    """``r * 8 + p`` from (variable, stride) pairs; stride 0 terms drop out."""
    parts = [var if stride == 1 else f"{var} * {stride}" for var, stride in terms if stride]
    return " + ".join(parts) or "0"


def _strides(shape: Shape) -> list[int]:
    strides, step = [], 1
    for n in reversed(shape):
        strides.append(step)
        step *= n
    return list(reversed(strides))


#: Ops cheap enough to compute again in a later loop rather than store and reload:
#: for streaming loops memory traffic costs more than these operations.
RECOMPUTABLE = {"negative", "add", "subtract", "multiply", "divide", "cast", "where", "relu", "abs", "sign",
                "maximum", "minimum", "stop_gradient", "less", "less_equal", "greater", "greater_equal", "equal",
                "not_equal", "logical_and", "logical_or", "logical_not"}

#: Products with at least this many multiply-adds go to BLAS when there is one.
BLAS_MIN_WORK = 32768

#: A matrix of at most this many columns times a vector joins the loop over its rows:
#: X @ w as an element of that loop, X.T @ g as a reduction in it, so X is read once
#: from memory; the loop runs in tiles of ROW_TILE rows (of 32 to 1024, 32 and 64 measured best).
ROW_PRODUCT_MAX_COLUMNS = 16
ROW_TILE = 64

#: A loop over at least this many elements per thread is shared among threads: starting and
#: joining a thread costs about 50 µs here, this many elements of logistic regression 0.5 ms.
PART_MIN_ELEMENTS = 65536
#: At most this many parts (GG_MAX_PARTS in the runtime header: threads a call may start).
MAX_PARTS = 64


class _Emitter:
    def __init__(self, graph: Graph, function_name: str, blas_prefix: str | None, threads: int = 1):
        self.graph = graph
        self.threads = threads
        self.blas_prefix = blas_prefix
        self.function_name = function_name
        outs = {f"out{k}" for k in range(len(graph.outputs))}
        self.names = [name if not name.lower().startswith("gg_") else f"v_{name}"  # the runtime's prefix
                      for name in assign_names(graph, C_RESERVED | outs | {function_name})]
        self.taken = set(self.names) | C_RESERVED | outs | {function_name}
        self._derived: dict[tuple[int, str], str] = {}
        self.consumers: list[list[int]] = [[] for _ in graph.nodes]
        for node in graph.nodes:
            for i in node.inputs:
                self.consumers[i].append(node.id)
        self.float = self._kernel_float()
        self.kind: dict[int, str] = {}  # scalar | buffer | view | member
        self.expr: dict[int, str] = {}  # scalar expression, or pointer expression of a buffer
        self.view_of: dict[int, int] = {}  # broadcast view -> source node
        self.group_of: dict[int, _Group] = {}
        self.open: dict[Shape, _Group] = {}
        self.statements: list[list[str]] = []
        self.work = 0
        self.buffers: list[tuple[str, int]] = []  # (name, offset) for pointer declarations
        self.constants: list[str] = []
        self.output_pointer: dict[int, str] = {}
        self.split = len(graph.nodes) > SPLIT_ABOVE
        self.scalar_slots = 0
        self.uses_blas = False
        self.standalone = False
        self.force_store: set[int] = set()
        self.scalar_buffers: dict[int, str] = {}
        # Matrix-vector products fused into a loop over the matrix's rows: node -> (matrix pointer,
        # vector operand, columns); "row dots" are loop members, "column sums" loop reductions.
        self.row_dots: dict[int, tuple[str, str, int]] = {}
        self.column_sums: dict[int, tuple[str, int, int]] = {}
        # Loops shared among threads: each becomes a function over a range of its elements.
        self.functions: list[str] = []
        self.declared: dict[str, str] = {}  # the function's named values (parameters, locals) -> C type
        for i in graph.inputs:
            node = graph.nodes[i]
            self.declared[self.names[i]] = self.ctype(node) if node.shape == () else f"const {self.ctype(node)} *"
        for k, node_id in enumerate(graph.outputs):
            self.declared[f"out{k}"] = f"{self.ctype(graph.nodes[node_id])} *"
        # Workspace planning: blocks are (offset, size); a value's block returns to the
        # free list once nothing can read it any more.
        self.last_use = self.lifetimes()
        self.blocks: dict[int, tuple[int, int]] = {}
        self.dying: list[tuple[float, int]] = []
        self.free: list[tuple[int, int]] = []
        self.current = 0

    def derived(self, node_id: int, suffix: str) -> str:
        """A name made from a node's (``a_i``: element i of a; ``t_acc``: a running sum), unique."""
        key = (node_id, suffix)
        if key not in self._derived:
            base = f"{self.names[node_id]}_{suffix}"
            name, k = base, 2
            while name in self.taken:
                name, k = f"{base}{k}", k + 1
            self.taken.add(name)
            self._derived[key] = name
        return self._derived[key]

    def _kernel_float(self) -> str:
        dtypes = {n.dtype for n in self.graph.nodes}
        return "float32" if "float32" in dtypes and "float64" not in dtypes else "float64"

    # --- storage -------------------------------------------------------------------------------
    def ctype(self, node: Node) -> str:
        return CTYPES[node.dtype]

    def lifetimes(self) -> list[float]:
        """For each node, the last node that may read its memory.

        Nodes that read memory where it lies (views, reshapes, picks) or that
        may be recomputed later extend the life of what they read.
        """
        extenders = RECOMPUTABLE | {"reshape", "broadcast_to", "transpose", "slice", "stop_gradient"}
        outputs = set(self.graph.outputs)
        last: list[float] = [0] * len(self.graph.nodes)
        for node in reversed(self.graph.nodes):
            end: float = float("inf") if node.id in outputs else node.id
            for c in self.consumers[node.id]:
                end = max(end, last[c] if self.graph.nodes[c].op in extenders else c)
            last[node.id] = end
        return last

    def release_dead(self) -> None:
        """Return to the free list the blocks of values no open loop or later node reads."""
        first_open = min((g.start for g in self.open.values()), default=float("inf"))
        while self.dying and self.dying[0][0] < self.current and self.dying[0][0] < first_open:
            _, owner = heapq.heappop(self.dying)
            self.free.append(self.blocks.pop(owner))

    def allocate(self, size: int, dtype: str, label: str, owner: int | None = None) -> str:
        """Workspace room for ``size`` elements, reusing a dead value's block when one fits;
        returns the pointer expression."""
        fits = [block for block in self.free if block[1] >= size]
        if fits:
            block = min(fits, key=lambda b: b[1])
            self.free.remove(block)
            offset = block[0]
        else:
            block = (self.work, size)
            offset = self.work
            self.work += size
        if owner is not None:  # a block without an owner (a scalar's copy) is never freed
            self.blocks[owner] = block
            heapq.heappush(self.dying, (self.last_use[owner], owner))
        cast = "" if dtype == "float64" else f"({CTYPES[dtype]} *)"
        if self.split:
            return f"({cast}(work + {offset}))"
        self.buffers.append((f"{CTYPES[dtype]} *const {label} = {cast}(work + {offset});", offset))
        self.declared[label] = f"{CTYPES[dtype]} *"
        return label

    def new_buffer(self, node: Node) -> str:
        """Memory for ``node``: its output pointer if it is an output, else workspace."""
        if node.id in self.output_pointer:
            pointer = self.output_pointer.pop(node.id)
        else:
            pointer = self.allocate(node.size, node.dtype, self.names[node.id], owner=node.id)
        self.kind[node.id] = "buffer"
        self.expr[node.id] = pointer
        return pointer

    def new_scalar(self, node: Node, value: str, comment: str) -> None:
        if self.split:
            slot = self.scalar_slots
            self.scalar_slots += 1
            name = f"s[{slot}]"
            self.statements.append([f"{name} = {value};  /* {self.names[node.id]}: {_comment(comment)} */"])
        else:
            name = self.names[node.id]
            self.statements.append([f"const {self.ctype(node)} {name} = {value};  /* {_comment(comment)} */"])
            self.declared[name] = self.ctype(node)
        self.kind[node.id] = "scalar"
        self.expr[node.id] = name

    # --- reading operands ------------------------------------------------------------------------
    def element(self, node_id: int, shape: Shape, index: list[str]) -> str:
        """The C expression for element ``index`` (loop variables over ``shape``) of a node."""
        kind = self.kind[node_id]
        if kind == "scalar":
            return self.expr[node_id]
        if kind == "member":
            return self.derived(node_id, "i")
        if kind == "view":
            source = self.view_of[node_id]
            return self.element(source, shape, index)
        node = self.graph.nodes[node_id]
        return f"{self.expr[node_id]}[{self.flat(node.shape, shape, index)}]"

    @staticmethod
    def flat(own: Shape, loop: Shape, index: list[str]) -> str:
        """Flat index into an array of shape ``own`` broadcast against a loop over ``loop``."""
        if own == () or all(n == 1 for n in own):
            return "0"
        lead = len(loop) - len(own)
        terms = []
        for d, (n, stride) in enumerate(zip(own, _strides(own))):
            if n == 1:
                continue
            var = index[lead + d]
            terms.append(var if stride == 1 else f"{var} * {stride}")
        return " + ".join(terms) if terms else "0"

    # --- groups ------------------------------------------------------------------------------------
    def source(self, node_id: int) -> int:
        while self.kind.get(node_id) == "view":
            node_id = self.view_of[node_id]
        return node_id

    def settle(self, node_id: int, joining: _Group | None = None) -> None:
        """Make sure ``node_id``'s value is readable outside an open loop (close its group)."""
        group = self.group_of.get(self.source(node_id))
        if group is not None and group is not joining and self.open.get(group.shape) is group:
            self.close(group)

    def close(self, group: _Group) -> None:
        del self.open[group.shape]
        members = set(group.members) | set(group.sinks)
        outputs = set(self.graph.outputs)
        stored: list[int] = []
        recompute: set[int] = set()
        for m in group.members:  # in topological order
            node = self.graph.nodes[m]
            if (node.op in RECOMPUTABLE and m not in outputs and m not in self.force_store
                    and all(self.fusable_consumer(c) for c in self.consumers[m])
                    and all(self.available_later(i, members, stored, recompute) for i in node.inputs)):
                recompute.add(m)  # cheaper to compute again than to store and load
            elif m in outputs or m in self.force_store or any(c not in members for c in self.consumers[m]):
                stored.append(m)
        for m in stored:
            self.new_buffer(self.graph.nodes[m])
        shape = group.shape
        # One index i over all elements, unless some operand needs an index per dimension.
        flat_loop = len(shape) == 1 or all(self.graph.nodes[s].shape == () for s in group.sinks) and not any(
            self._partial_broadcast(m, shape) for m in group.members + group.sinks)
        # Products with a narrow matrix make the loop run in tiles of rows: each tile takes
        # its row dots, then the elementwise work, then its column sums, so the rows of X
        # it reads twice are still in cache the second time.
        tiled = any(m in self.row_dots for m in group.members) or any(k in self.column_sums for k in group.sinks)
        size = int(np.prod(shape))
        parts = self.parts_for(group, size) if flat_loop else 1
        lines = [f"/* loop over {shape}{f' in tiles of {ROW_TILE} rows' if tiled else ''}"
                 f"{f', shared by {parts} threads' if parts > 1 else ''}: "
                 + ", ".join(self.names[m] for m in group.members + group.sinks) + " */"]
        inits = [line for sink in group.sinks for line in self.sink_init(self.graph.nodes[sink])]
        lines += inits
        body: list[str] = []
        pragma: list[str] = []
        if flat_loop:
            sums = self.simd_sums(group)
            if sums is not None and not self.standalone:
                # Iterations are independent (sums may be reassociated): let the compiler vectorize.
                pragma.append("#pragma omp simd" + (f" reduction(+:{', '.join(sums)})" if sums else ""))
            full = ["i"] * len(shape)
        else:
            full = [f"i{d}" for d in range(len(shape))]
        for m in group.members:
            self.kind[m] = "member"
        # Only what is stored or read in this loop is computed here (a value kept for
        # recomputing later may have no use yet).
        needed = set(stored) | {self.source(i) for k in group.sinks for i in self.graph.nodes[k].inputs}
        for m in reversed(group.members):
            if m in needed:
                needed |= {self.source(i) for i in self.graph.nodes[m].inputs}
        for m in group.members:
            if m not in needed:
                continue
            node = self.graph.nodes[m]
            if m in self.row_dots:
                value = f"{self.derived(m, 'tile')}[i - r0]"
            else:
                args = [self.element(i, shape, full) if not flat_loop else self.element_flat(i) for i in node.inputs]
                value = spell(OPS[node.op].c, args, {**node.params, "f": "f" if node.dtype == "float32" else ""})
            body.append(f"const {self.ctype(node)} {self.derived(m, 'i')} = {value};")
        for m in stored:
            target = "i" if flat_loop else self.flat(shape, shape, full)
            body.append(f"{self.expr[m]}[{target}] = {self.derived(m, 'i')};")
        for sink in group.sinks:
            if sink not in self.column_sums:
                body.append(self.sink_update(self.graph.nodes[sink], shape, full, flat_loop))
        kept = sorted({self.column_sums[k][1] for k in group.sinks if k in self.column_sums} & set(group.members))
        body += [f"{self.derived(m, 'tile')}[i - r0] = {self.derived(m, 'i')};" for m in kept]

        def over(begin: str, end: str) -> list[str]:
            """The loop over elements ``begin`` to ``end`` (flat loops) or all of them."""
            if not flat_loop:
                head = [("    " * d) + f"for (long i{d} = 0; i{d} < {n}; ++i{d}) {{" for d, n in enumerate(shape)]
                return (head + ["    " * len(head) + line for line in body]
                        + [("    " * d) + "}" for d in reversed(range(len(head)))])
            loop = pragma + [f"for (long i = {'r0' if tiled else begin}; i < {'r1' if tiled else end}; ++i) {{"]
            loop += ["    " + line for line in body] + ["}"]
            if not tiled:
                return loop
            tile = [f"const long r1 = r0 + {ROW_TILE} < {end} ? r0 + {ROW_TILE} : {end};"]
            tile += self.tile_row_dots(group, needed, kept) + loop + self.tile_column_sums(group)
            head = f"for (long r0 = {begin}; r0 < {end}; r0 += {ROW_TILE}) {{"
            return [head] + ["    " + line for line in tile] + ["}"]

        if parts > 1:
            lines += self.shared(group, over("begin", "end"), inits, parts, size)
        else:
            lines += over("0", str(size))
        for m in group.members:
            self.kind[m] = "buffer" if m in stored else "recompute" if m in recompute else "dead"
        self.statements.append(lines)
        loop_statement = len(self.statements) - 1
        for sink in group.sinks:
            self.sink_finish(self.graph.nodes[sink])
        # One statement with the loop, since the running sums it reads are locals of the loop's
        # function (a split kernel must not put them in the next part).
        self.statements[loop_statement:] = [[line for statement in self.statements[loop_statement:]
                                             for line in statement]]
        for m in group.members + group.sinks + group.after:
            self.group_of.pop(m, None)
        for m in group.after:
            self.emit_scalar(self.graph.nodes[m])

    def parts_for(self, group: _Group, size: int) -> int:
        """How many threads share a flat loop over ``size`` elements: one unless the loop is long
        enough and its reductions can be combined from parts (sums and maxima)."""
        if self.threads <= 1 or self.split or self.standalone:
            return 1
        for k in group.sinks:
            if k not in self.column_sums and self.graph.nodes[k].shape != ():
                return 1
        return max(1, min(self.threads, MAX_PARTS, size // PART_MIN_ELEMENTS))

    def shared(self, group: _Group, loop: list[str], inits: list[str], parts: int, size: int) -> list[str]:
        """A flat loop run by ``parts`` threads: the loop becomes a function over elements begin to
        end, which takes the values it reads in a struct and hands back its reductions there;
        the kernel starts the parts (gg_run_parts) and combines their reductions."""
        name = f"{self.function_name}_rows{len(self.functions)}"
        used = dict.fromkeys(re.findall(r"\b[A-Za-z_]\w*\b", "\n".join(loop)))
        fields = [(f, self.declared[f]) for f in used if f in self.declared]
        sums: list[tuple[str, str]] = []  # (accumulator, how parts combine)
        for k in group.sinks:
            node = self.graph.nodes[k]
            acc = self.derived(k, "acc")
            if k in self.column_sums:
                sums += [(f"{acc}[{c}]", "+") for c in range(node.size)]
            else:
                sums.append((acc, "+" if node.op == "sum" else f"gg_maximum{'f' if node.dtype == 'float32' else ''}"))

        def declare(field: str, ctype: str) -> str:
            return f"{ctype}{field}" if ctype.endswith("*") else f"{ctype} {field}"

        struct = [f"struct {name} {{", "    long begin, end;  /* this part's elements */",
                  f"    double sums[{max(len(sums), 1)}];  /* this part's reductions */"]
        struct += [f"    {declare(f, t)};" for f, t in fields] + ["};", ""]
        function = [f"/* Elements begin to end of a loop of {self.function_name}, on one thread. */",
                    f"GG_KERNEL static void *{name}(void *arg)", "{",
                    f"    struct {name} *const part = (struct {name} *)arg;",
                    "    const long begin = part->begin, end = part->end;"]
        function += [f"    {t}restrict const {f} = part->{f};" if t.endswith("*") else f"    const {t} {f} = part->{f};"
                     for f, t in fields]
        function += ["    " + line for line in inits + loop]
        function += [f"    part->sums[{j}] = {acc};" for j, (acc, _) in enumerate(sums)]
        function += ["    return 0;", "}", ""]
        self.functions.append("\n".join(struct + function))
        chunk = -(-size // parts // ROW_TILE) * ROW_TILE
        bounds = [min(t * chunk, size) for t in range(parts)] + [size]
        ranges = ", ".join(f"{{{bounds[t]}, {bounds[t + 1]}}}" for t in range(parts))
        lines = ["{", f"    struct {name} parts[{parts}] = {{{ranges}}};", f"    for (int t = 0; t < {parts}; ++t) {{"]
        lines += [f"        parts[t].{f} = {f};" for f, _ in fields] + ["    }"]
        lines.append(f"    gg_run_parts({name}, parts, sizeof parts[0], {parts});")
        lines.append(f"    for (int t = 0; t < {parts}; ++t) {{")
        lines += [f"        {acc} += parts[t].sums[{j}];" if how == "+" else
                  f"        {acc} = {how}({acc}, parts[t].sums[{j}]);" for j, (acc, how) in enumerate(sums)]
        lines += ["    }", "}"]
        return lines

    def tile_row_dots(self, group: _Group, needed: set[int], kept: list[int]) -> list[str]:
        """The start of a tile: its buffers, and the row dots X @ w for rows r0 to r1."""
        lines = [f"{self.ctype(self.graph.nodes[m])} {self.derived(m, 'tile')}[{ROW_TILE}];" for m in group.members
                 if m in kept or (m in self.row_dots and m in needed)]
        for m in group.members:
            if m not in self.row_dots or m not in needed:
                continue
            matrix, vector, columns = self.row_dots[m]
            acc = self.derived(m, "acc")
            lines += [f"/* {self.names[m]} = {matrix} @ {vector}, rows r0 to r1 */",
                      "for (long i = r0; i < r1; ++i) {",
                      f"    {self.ctype(self.graph.nodes[m])} {acc} = 0;"]
            lines += [] if self.standalone else [f"    #pragma omp simd reduction(+:{acc})"]
            lines += [f"    for (long c = 0; c < {columns}; ++c) {acc} += {matrix}[{_index(('i', columns))} + c] * "
                      f"{vector}[c];",
                      f"    {self.derived(m, 'tile')}[i - r0] = {acc};",
                      "}"]
        return lines

    def tile_column_sums(self, group: _Group) -> list[str]:
        """The end of a tile: the column sums X.T @ g over rows r0 to r1."""
        lines = []
        for k in group.sinks:
            if k not in self.column_sums:
                continue
            matrix, vector, columns = self.column_sums[k]
            value = (f"{self.derived(vector, 'tile')}[i - r0]" if vector in group.members
                     else self.element_flat(vector))
            lines += [f"/* {self.names[k]} += {matrix}.T @ {self.names[vector]}, rows r0 to r1 */",
                      "for (long i = r0; i < r1; ++i) {"]
            lines += [] if self.standalone else ["    #pragma omp simd"]
            lines += [f"    for (long c = 0; c < {columns}; ++c) {self.derived(k, 'acc')}[c] += "
                      f"{matrix}[{_index(('i', columns))} + c] * {value};",
                      "}"]
        return lines

    def simd_sums(self, group: _Group) -> list[str] | None:
        """The running sums of a loop whose reductions all are sums (so it may be vectorized), else None."""
        sums = []
        for k in group.sinks:
            if k in self.column_sums:
                continue  # summed in a loop of its own
            if self.graph.nodes[k].op == "sum" and self.graph.nodes[k].shape == ():
                sums.append(self.derived(k, "acc"))
            else:
                return None
        return sums

    def fusable_consumer(self, node_id: int) -> bool:
        """Whether ``node_id`` reads its inputs element by element inside a loop (so a value it
        reads can be recomputed there); matrix products, indexing and views need memory."""
        node = self.graph.nodes[node_id]
        return (OPS[node.op].elementwise and node.shape != ()) or node.op in ("sum", "max")

    def available_later(self, node_id: int, members: set[int], stored: list[int], recompute: set[int]) -> bool:
        """Whether a loop after this one can read ``node_id`` without anything more being stored."""
        if node_id in recompute or node_id in stored:
            return True
        if self.kind.get(node_id) == "view":
            source = self.source(node_id)
            return source not in members and self.kind.get(source) != "recompute"
        return node_id not in members and self.kind.get(node_id) != "recompute"

    def rejoin(self, node_id: int, group: _Group) -> None:
        """Put a recomputable node (and the recomputable nodes it reads) into ``group`` again."""
        needed, stack = set(), [node_id]
        while stack:
            n = stack.pop()
            if n in needed or self.kind.get(n) != "recompute":
                continue
            needed.add(n)
            stack.extend(self.graph.nodes[n].inputs)
        for n in sorted(needed):  # ids are topological
            if self.group_of.get(n) is not group:
                group.members.append(n)
                self.group_of[n] = group
                self.kind[n] = "pending"

    def materialize(self, node_id: int) -> None:
        """Store a recomputable node's value, for a consumer that needs it in memory."""
        node = self.graph.nodes[node_id]
        if node.shape in self.open:
            self.close(self.open[node.shape])
        group = self.open[node.shape] = _Group(node.shape, self.current)
        self.rejoin(node_id, group)
        self.force_store.add(node_id)
        self.close(group)

    def element_flat(self, node_id: int) -> str:
        kind = self.kind[self.source(node_id)]
        source = self.source(node_id)
        if kind == "scalar":
            return self.expr[source]
        if kind == "member":
            return self.derived(source, "i")
        node = self.graph.nodes[source]
        return f"{self.expr[source]}[{'0' if node.size == 1 else 'i'}]"

    def _partial_broadcast(self, node_id: int, shape: Shape) -> bool:
        """True when a loop over ``shape`` reads some operand of ``node_id`` with a partial broadcast."""
        if node_id in self.row_dots or node_id in self.column_sums:
            return False  # they index their matrix themselves
        for i in self.graph.nodes[node_id].inputs:
            src = self.graph.nodes[self.source(i)]
            if self.kind.get(src.id) in ("scalar",) or src.size == 1:
                continue
            if src.shape != shape:
                return True
        return False

    # --- reductions ----------------------------------------------------------------------------------
    def sink_init(self, node: Node) -> list[str]:
        start = "0" if node.op == "sum" else "-INFINITY"
        ctype = self.ctype(node)
        if node.id in self.column_sums:
            self.kind[node.id] = "accumulator"
            return [f"{ctype} {self.derived(node.id, 'acc')}[{node.size}] = {{0}};"]
        if node.shape == ():
            self.kind[node.id] = "accumulator"
            return [f"{ctype} {self.derived(node.id, 'acc')} = {start};"]
        pointer = self.new_buffer(node)
        return [f"for (long k = 0; k < {node.size}; ++k) {pointer}[k] = {start};"]

    def sink_update(self, node: Node, shape: Shape, index: list[str], flat_loop: bool) -> str:
        x = node.inputs[0]
        value = self.element_flat(x) if flat_loop else self.element(x, shape, index)
        f = "f" if node.dtype == "float32" else ""
        if node.shape == ():
            target = self.derived(node.id, "acc")
        else:
            axes = node.params["axes"]
            kept = tuple(1 if d in axes else n for d, n in enumerate(shape))
            target = f"{self.expr[node.id]}[{self.flat(kept, shape, index)}]"
        if node.op == "sum":
            return f"{target} += {value};"
        return f"{target} = gg_maximum{f}({target}, {value});"

    def sink_finish(self, node: Node) -> None:
        if node.id in self.column_sums:
            out = self.new_buffer(node)
            acc = self.derived(node.id, "acc")
            self.statements.append([f"for (long c = 0; c < {node.size}; ++c) {out}[c] = {acc}[c];"])
        elif node.shape == ():
            over = self.graph.nodes[node.inputs[0]].shape
            self.new_scalar(node, self.derived(node.id, "acc"), f"{node.op} over {over}")
        else:
            self.kind[node.id] = "buffer"

    # --- nodes ---------------------------------------------------------------------------------------
    def emit(self) -> None:
        graph = self.graph
        outputs = set(graph.outputs)
        for k, node_id in enumerate(graph.outputs):
            node = graph.nodes[node_id]
            # An output that reshapes a value used nowhere else: compute that value in place.
            while node.op == "reshape" and node.shape != () and len(self.consumers[node.inputs[0]]) == 1 \
                    and node.inputs[0] not in outputs and graph.nodes[node.inputs[0]].shape != ():
                node = graph.nodes[node.inputs[0]]
            if node.shape != () and node.op not in ("input", "const", "reshape", "broadcast_to") \
                    and node.id not in self.output_pointer:
                self.output_pointer[node.id] = f"out{k}"
        for node in graph.nodes:
            self.current = node.id
            self.release_dead()
            self.emit_node(node)
        self.current = len(graph.nodes)
        for group in list(self.open.values()):
            self.close(group)

    def emit_node(self, node: Node) -> None:
        nid = node.id
        if node.op == "input":
            self.kind[nid] = "scalar" if node.shape == () else "buffer"
            self.expr[nid] = self.names[nid]
            return
        if node.op == "const":
            value = node.params["value"]
            if isinstance(value, ConstArray):
                flat = ", ".join(_literal(v, node.dtype) for v in value.array.ravel().tolist())
                self.constants.append(
                    f"static const {self.ctype(node)} {self.names[nid]}[{max(value.array.size, 1)}] = {{{flat}}};")
                self.kind[nid] = "buffer"
                self.expr[nid] = self.names[nid]
            else:
                self.kind[nid] = "scalar"
                self.expr[nid] = _literal(value, node.dtype)
            return
        op = OPS[node.op]
        if node.op == "broadcast_to":
            self.settle(node.inputs[0])
            self.kind[nid] = "view"
            self.view_of[nid] = node.inputs[0]
            return
        if node.shape == () and op.elementwise:
            group = self.reductions_read(node)
            if group is not None:  # wait for the loop: later members of it need not
                group.after.append(nid)
                self.group_of[nid] = group
                self.kind[nid] = "deferred"
                return
            self.emit_scalar(node)
            return
        if op.elementwise:
            self.join(node)
            return
        if node.op in ("sum", "max"):
            self.join_as_sink(node, node.inputs[0])
            return
        if node.op == "matmul" and self.fuse_row_product(node):
            return
        if (node.op == "transpose" and len(node.shape) == 2 and nid not in self.graph.outputs
                and all(self.graph.nodes[c].op == "matmul" for c in self.consumers[nid])):
            self.settle(node.inputs[0])
            self.kind[nid] = "transposed"  # matmul reads it through swapped strides
            return
        for i in node.inputs:
            self.settle(i)
        handler = getattr(self, f"emit_{node.op}", None)
        if handler is None:
            raise CompileError(f"the C backend cannot emit op {node.op!r} (node {self.names[nid]}) yet")
        handler(node)

    def emit_scalar(self, node: Node) -> None:
        """A scalar elementwise node: one statement."""
        for i in node.inputs:
            self.settle(i)
        args = [self.expr[self.source(i)] for i in node.inputs]
        value = spell(OPS[node.op].c, args, {**node.params, "f": "f" if node.dtype == "float32" else ""})
        self.new_scalar(node, value, node.note or node.op)

    def reductions_read(self, node: Node) -> _Group | None:
        """The open loop whose reductions (or values computed from them) ``node`` reads, if that
        is all the open loops ``node`` reads: ``node`` is then computed after that loop closes."""
        owners = {id(g): g for i in node.inputs if (g := self.group_of.get(self.source(i))) is not None}
        if len(owners) != 1:
            return None
        group = next(iter(owners.values()))
        if self.open.get(group.shape) is not group or any(self.source(i) in group.members for i in node.inputs):
            return None
        return group

    def join_as_sink(self, node: Node, x: int) -> None:
        """Make ``node`` a reduction of the loop over ``x``'s shape (opening one if needed)."""
        xs = self.graph.nodes[x].shape
        group = self.open.get(xs)
        src = self.source(x)
        if src in self.group_of and (self.group_of[src] is not group or src not in group.members):
            self.settle(x)  # another loop's value, or a reduction of this one: needed complete
            group = self.open.get(xs)
        if x != src and self.kind.get(src) == "recompute":
            self.materialize(src)
            group = self.open.get(xs)
        if group is None:
            group = self.open[xs] = _Group(xs, self.current)
        if self.kind.get(x) == "recompute":
            self.rejoin(x, group)
        group.sinks.append(node.id)
        self.group_of[node.id] = group

    def fuse_row_product(self, node: Node) -> bool:
        """Join a product of a narrow matrix X (N x k) and a vector to the loop over N, so
        one pass over X serves X @ w (an element per row) and X.T @ g (a sum over rows)."""
        a, b = (self.graph.nodes[i] for i in node.inputs)
        if len(node.shape) != 1:
            return False
        if len(a.shape) == 2 and len(b.shape) == 1 and self.kind.get(a.id) != "transposed":
            if a.shape[1] > ROW_PRODUCT_MAX_COLUMNS:
                return False
            for i in node.inputs:
                self.settle(i)
            self.row_dots[node.id] = (self.read(a.id), self.read(b.id), a.shape[1])
            self.join(node)
            return True
        if self.kind.get(a.id) == "transposed" and len(b.shape) == 1:
            matrix, vector = self.graph.nodes[a.inputs[0]], b.id
        elif len(a.shape) == 1 and len(b.shape) == 2 and self.kind.get(b.id) != "transposed":
            matrix, vector = b, a.id
        else:
            return False
        if matrix.shape[1] > ROW_PRODUCT_MAX_COLUMNS:
            return False
        self.settle(matrix.id)
        self.column_sums[node.id] = (self.read(matrix.id), vector, matrix.shape[1])
        self.join_as_sink(node, vector)
        return True

    def join(self, node: Node) -> None:
        """Add an elementwise node to the open loop of its shape (opening one if needed)."""
        group = self.open.get(node.shape)
        for i in node.inputs:
            owner = self.group_of.get(self.source(i))
            if owner is not None and (owner is not group or self.source(i) not in owner.members):
                self.close(owner)  # its values are needed complete (another shape, or a reduction)
        for i in node.inputs:
            if i != self.source(i) and self.kind.get(self.source(i)) == "recompute":
                self.materialize(self.source(i))  # read through a broadcast: needs memory
        group = self.open.get(node.shape)
        if group is None:
            group = self.open[node.shape] = _Group(node.shape, self.current)
        for i in node.inputs:
            if self.kind.get(i) == "recompute":
                self.rejoin(i, group)
        group.members.append(node.id)
        self.group_of[node.id] = group
        self.kind[node.id] = "pending"

    # --- structural ops: loops of their own ---------------------------------------------------------------
    def loop(self, shape: Shape, body: str, comment: str) -> None:
        index = [f"i{d}" for d in range(len(shape))]
        lines = [f"/* {comment} */"]
        lines += [("    " * d) + f"for (long i{d} = 0; i{d} < {n}; ++i{d}) {{" for d, n in enumerate(shape)]
        lines.append(("    " * len(shape)) + body.format(*index))
        lines += [("    " * d) + "}" for d in reversed(range(len(shape)))]
        self.statements.append(lines)

    def read(self, node_id: int) -> str:
        """Pointer expression for a materialized node (a scalar is copied into a 1-element buffer)."""
        if self.kind.get(self.source(node_id)) == "recompute":
            self.materialize(self.source(node_id))
        src = self.source(node_id)
        node = self.graph.nodes[src]
        if node_id != src:  # a broadcast view read as a whole array: materialize it
            view = self.graph.nodes[node_id]
            pointer = self.new_buffer(view)
            index = [f"i{d}" for d in range(len(view.shape))]
            self.loop(view.shape, f"{pointer}[{self.flat(view.shape, view.shape, index)}] = "
                      f"{self.element(src, view.shape, index)};", f"{self.names[node_id]}: broadcast copy")
            return pointer
        if self.kind[src] == "scalar":
            if src not in self.scalar_buffers:  # a scalar read as a 1-element array: copy it once
                pointer = self.allocate(1, node.dtype, self.derived(src, "1"))
                self.statements.append([f"{pointer}[0] = {self.expr[src]};"])
                self.scalar_buffers[src] = pointer
            return self.scalar_buffers[src]
        return self.expr[src]

    def emit_reshape(self, node: Node) -> None:
        x = node.inputs[0]
        if node.size == 1 and self.kind[self.source(x)] == "scalar" and node.id not in self.output_pointer:
            self.kind[node.id], self.expr[node.id] = "scalar", self.expr[self.source(x)]
            return
        if node.shape == ():
            self.new_scalar(node, f"{self.read(x)}[0]", "reshape to a scalar")
            return
        pointer = self.read(x)
        if node.id in self.output_pointer:
            out = self.new_buffer(node)
            self.statements.append([f"for (long k = 0; k < {node.size}; ++k) {out}[k] = {pointer}[k];"])
            return
        self.kind[node.id] = "buffer"
        self.expr[node.id] = pointer

    def emit_stop_gradient(self, node: Node) -> None:
        self.emit_reshape(node)

    def emit_transpose(self, node: Node) -> None:
        x = self.graph.nodes[node.inputs[0]]
        src = self.read(x.id)
        out = self.new_buffer(node)
        axes = node.params["axes"]
        in_strides = _strides(x.shape)
        index = [f"{{{d}}}" for d in range(len(node.shape))]
        read = " + ".join(f"{index[d]} * {in_strides[a]}" for d, a in enumerate(axes))
        write = " + ".join(f"{index[d]} * {s}" for d, s in enumerate(_strides(node.shape)))
        self.loop(node.shape, f"{out}[{write}] = {src}[{read}];", f"{self.names[node.id]} = transpose")

    def emit_slice(self, node: Node) -> None:
        x = self.graph.nodes[node.inputs[0]]
        slices = node.params["slices"]
        if node.size == 1 and node.id not in self.output_pointer:  # one element: read it where it is used
            source = self.source(x.id)
            if self.kind[source] == "scalar":
                self.kind[node.id], self.expr[node.id] = "scalar", self.expr[source]
            else:
                offset = sum(start * stride for (start, _, _), stride in zip(slices, _strides(x.shape)))
                self.kind[node.id], self.expr[node.id] = "scalar", f"{self.read(x.id)}[{offset}]"
            return
        src = self.read(x.id)
        out = self.new_buffer(node)
        read = " + ".join(f"({start} + {{{d}}} * {step}) * {stride}"
                          for d, ((start, _, step), stride) in enumerate(zip(slices, _strides(x.shape))))
        write = " + ".join(f"{{{d}}} * {s}" for d, s in enumerate(_strides(node.shape))) or "0"
        self.loop(node.shape, f"{out}[{write}] = {src}[{read or '0'}];", f"{self.names[node.id]} = slice")

    def _zero(self, pointer: str, size: int) -> None:
        self.statements.append([f"for (long k = 0; k < {size}; ++k) {pointer}[k] = 0;"])

    def _scatter_slices(self, out: str, shape: Shape, part: int, slices: Any, op: str) -> None:
        src = self.read(part)
        pshape = self.graph.nodes[part].shape
        write = " + ".join(f"({start} + {{{d}}} * {step}) * {stride}"
                           for d, ((start, _, step), stride) in enumerate(zip(slices, _strides(shape)))) or "0"
        read = " + ".join(f"{{{d}}} * {s}" for d, s in enumerate(_strides(pshape))) or "0"
        self.loop(pshape, f"{out}[{write}] {op} {src}[{read}];", f"into slice {slices}")

    def emit_unslice(self, node: Node) -> None:
        out = self.new_buffer(node)
        self._zero(out, node.size)
        self._scatter_slices(out, node.shape, node.inputs[0], node.params["slices"], "=")

    def emit_unslice_sum(self, node: Node) -> None:
        out = self.new_buffer(node)
        self._zero(out, node.size)
        for part, slices in zip(node.inputs, node.params["slices"]):
            if self.graph.nodes[part].size == 1 and self.kind[self.source(part)] == "scalar":
                offset = sum(start * stride for (start, _, _), stride in zip(slices, _strides(node.shape)))
                self.statements.append([f"{out}[{offset}] += {self.expr[self.source(part)]};"])
            else:
                self._scatter_slices(out, node.shape, part, slices, "+=")

    def matrix_operand(self, node_id: int, as_row: bool) -> tuple[str, int, int, int, int]:
        """(pointer, rows, cols, row stride, col stride) of a matmul operand.

        A 2-D transpose feeding the product is read through swapped strides
        instead of being copied; a vector is a 1 x k row or a k x 1 column.
        """
        node = self.graph.nodes[node_id]
        if self.kind.get(node_id) == "transposed":
            src = self.graph.nodes[node.inputs[0]]
            return self.read(src.id), node.shape[0], node.shape[1], 1, src.shape[1]
        pointer = self.read(node_id)
        if len(node.shape) == 2:
            return pointer, node.shape[0], node.shape[1], node.shape[1], 1
        n = node.shape[0]
        return (pointer, 1, n, n, 1) if as_row else (pointer, n, 1, 1, 1)

    def emit_matmul(self, node: Node) -> None:
        pa, m, k, ar, ac = self.matrix_operand(node.inputs[0], as_row=True)
        pb, _, n, br, bc = self.matrix_operand(node.inputs[1], as_row=False)
        ctype = self.ctype(node)
        a = f"{pa}[{_index(('r', ar if m > 1 else 0), ('p', ac))}]"
        b = f"{pb}[{_index(('p', br), ('c', bc if n > 1 else 0))}]"
        title = f"/* {self.names[node.id]} = ({m} x {k}) @ ({k} x {n}) */"
        if node.shape == () or (n == 1 and ac == 1):
            # Dot products: one running sum per row, reading a row of A in order.
            acc = self.derived(node.id, "acc")
            lines = [title]
            if node.shape == ():
                lines += [f"{ctype} {acc} = 0;", f"for (long p = 0; p < {k}; ++p) {acc} += {a} * {b};"]
                self.statements.append(lines)
                self.new_scalar(node, acc, "dot product")
                return
            out = self.new_buffer(node)
            lines += [f"for (long r = 0; r < {m}; ++r) {{", f"    {ctype} {acc} = 0;",
                      f"    for (long p = 0; p < {k}; ++p) {acc} += {a} * {b};",
                      f"    {out}[r] = {acc};", "}"]
            self.statements.append(lines)
            return
        out = self.new_buffer(node)
        if self.blas_prefix is not None and m * n * k >= BLAS_MIN_WORK and min(m, n) > 1:
            # (row stride, col stride) = (lda, 1) is a plain matrix, (1, lda) a transposed one.
            trans_a, lda = ("CblasNoTrans", ar) if ac == 1 else ("CblasTrans", ac)
            trans_b, ldb = ("CblasNoTrans", br) if bc == 1 else ("CblasTrans", bc)
            gemm = f"{self.blas_prefix}cblas_{'s' if node.dtype == 'float32' else 'd'}gemm"
            self.statements.append([title.replace(" */", ", by BLAS */"),
                                    f"{gemm}(CblasRowMajor, {trans_a}, {trans_b}, {m}, {n}, {k}, 1, {pa}, {lda}, "
                                    f"{pb}, {ldb}, 0, {out}, {n});"])
            self.uses_blas = True
            return
        # Loop order keeps the innermost loop on unit stride: over c (rows of B)
        # normally, over r when A is a transposed matrix (read down its columns).
        outer, middle = ("p", "r") if ac != 1 else ("r", "p")
        bounds = {"r": m, "p": k, "c": n}
        self.statements.append([
            title,
            f"for (long q = 0; q < {m * n}; ++q) {out}[q] = 0;",
            f"for (long {outer} = 0; {outer} < {bounds[outer]}; ++{outer}) {{",
            f"    for (long {middle} = 0; {middle} < {bounds[middle]}; ++{middle}) {{",
            f"        const {ctype} a_rp = {a};",
            f"        for (long c = 0; c < {n}; ++c) {out}[r * {n} + c] += a_rp * {b};",
            "    }",
            "}",
        ])

    def emit_concatenate(self, node: Node) -> None:
        out = self.new_buffer(node)
        axis = node.params["axis"]
        start = 0
        for part in node.inputs:
            pn = self.graph.nodes[part]
            slices = tuple((start, start + pn.shape[axis], 1) if d == axis else (0, n, 1)
                           for d, n in enumerate(node.shape))
            self._scatter_slices(out, node.shape, part, slices, "=")
            start += pn.shape[axis]

    def _index_check(self, idx: int, bound: int) -> str:
        position = self.graph.inputs.index(idx) + 1 if idx in self.graph.inputs else 1
        return f"if (j < -{bound} || j >= {bound}) return {position};  /* index out of range */"

    def emit_take(self, node: Node) -> None:
        x, idx = (self.graph.nodes[i] for i in node.inputs)
        px, pi = self.read(x.id), self.read(idx.id)
        out = self.new_buffer(node)
        axis = node.params["axis"]
        outer, inner = int(np.prod(x.shape[:axis])), int(np.prod(x.shape[axis + 1:]))
        n = x.shape[axis]
        self.statements.append([
            f"/* {self.names[node.id]} = take along axis {axis} */",
            f"for (long q = 0; q < {idx.size}; ++q) {{",
            f"    const long j = (long){pi}[q];",
            "    " + self._index_check(idx.id, n),
            f"    for (long o = 0; o < {outer}; ++o) for (long t = 0; t < {inner}; ++t)",
            f"        {out}[(o * {idx.size} + q) * {inner} + t] =",
            f"            {px}[(o * {n} + (j < 0 ? j + {n} : j)) * {inner} + t];",
            "}",
        ])

    def emit_scatter_add(self, node: Node) -> None:
        g, idx = (self.graph.nodes[i] for i in node.inputs)
        pg, pi = self.read(g.id), self.read(idx.id)
        out = self.new_buffer(node)
        axis = node.params["axis"]
        outer, inner = int(np.prod(node.shape[:axis])), int(np.prod(node.shape[axis + 1:]))
        n = node.shape[axis]
        self._zero(out, node.size)
        self.statements.append([
            f"for (long q = 0; q < {idx.size}; ++q) {{",
            f"    const long j = (long){pi}[q];",
            "    " + self._index_check(idx.id, n),
            f"    for (long o = 0; o < {outer}; ++o) for (long t = 0; t < {inner}; ++t)",
            f"        {out}[(o * {n} + (j < 0 ? j + {n} : j)) * {inner} + t] +=",
            f"            {pg}[(o * {idx.size} + q) * {inner} + t];",
            "}",
        ])

    def _along(self, node: Node, reading: bool) -> None:
        x, idx = (self.graph.nodes[i] for i in node.inputs)
        px, pi = self.read(x.id), self.read(idx.id)
        out = self.new_buffer(node)
        axis = node.params["axis"]
        loop_shape = node.shape if reading else x.shape
        n = (x.shape if reading else node.shape)[axis]
        loop_shape = tuple(idx.shape[d] if d == axis else s for d, s in enumerate(loop_shape))
        if not reading:
            self._zero(out, node.size)
        index = [f"i{d}" for d in range(len(loop_shape))]
        big = x.shape if reading else node.shape
        j_index = self.flat(idx.shape, loop_shape, index)
        at = " + ".join(("j" if d == axis else index[d]) + (f" * {s}" if s != 1 else "")
                        for d, s in enumerate(_strides(big)))
        small = self.flat(loop_shape, loop_shape, index)
        body = (f"long j = (long){pi}[{j_index}]; " + self._index_check(idx.id, n)
                + f" if (j < 0) j += {n}; "
                + (f"{out}[{small}] = {px}[{at}];" if reading else f"{out}[{at}] += {px}[{small}];"))
        lines = [f"/* {self.names[node.id]} = {node.op} */"]
        lines += [("    " * d) + f"for (long i{d} = 0; i{d} < {s}; ++i{d}) {{" for d, s in enumerate(loop_shape)]
        lines.append(("    " * len(loop_shape)) + body)
        lines += [("    " * d) + "}" for d in reversed(range(len(loop_shape)))]
        self.statements.append(lines)

    def emit_take_along_axis(self, node: Node) -> None:
        self._along(node, reading=True)

    def emit_scatter_along_axis(self, node: Node) -> None:
        self._along(node, reading=False)

    # --- the function ---------------------------------------------------------------------------------------
    def finish_outputs(self) -> list[str]:
        lines = []
        seen: dict[int, str] = {}
        for k, node_id in enumerate(self.graph.outputs):
            node = self.graph.nodes[node_id]
            src = self.source(node_id)
            if self.kind.get(src) == "recompute":
                self.materialize(src)  # an output copies from it: it must be in memory
            if node.shape == ():
                lines.append(f"*out{k} = {self.expr[src]};  /* {_comment(self.graph.output_names[k])} */")
            elif self.expr.get(src) == f"out{k}" and node_id not in seen:
                pass
            else:
                index = [f"i{d}" for d in range(len(node.shape))]
                target = self.flat(node.shape, node.shape, index)
                body = f"out{k}[{target}] = {self.element(node_id, node.shape, index)};"
                loop = [("    " * d) + f"for (long i{d} = 0; i{d} < {n}; ++i{d}) {{" for d, n in enumerate(node.shape)]
                lines += [f"/* {_comment(self.graph.output_names[k])}: copy */"] + loop
                lines.append(("    " * len(node.shape)) + body)
                lines += [("    " * d) + "}" for d in reversed(range(len(node.shape)))]
            seen[node_id] = f"out{k}"
        return lines


def generate_c(graph: Graph, *, function_name: str, title: str = "", blas_prefix: str | None = None,
               standalone: bool = False, threads: int = 1) -> CKernelSource:
    """Emit ``graph`` as one C99 function (see ``CKernelSource`` for its ABI).

    With ``blas_prefix`` (e.g. "scipy_"), large matrix products call that
    CBLAS's gemm; without, they are loops, and the source needs only libm.
    ``standalone`` source is for export: no OpenMP pragmas and every
    parameter marked used, so it compiles under ``-pedantic -Wall -Wextra -Werror``.
    With ``threads`` > 1, long flat loops are shared by up to that many
    POSIX threads, started and joined within the call (not in standalone source).
    """
    em = _Emitter(graph, function_name, blas_prefix, threads)
    em.standalone = standalone
    em.emit()
    out_lines = em.finish_outputs()
    params = []
    inputs = []
    for i in graph.inputs:
        node = graph.nodes[i]
        name = em.names[i]
        inputs.append((node.params["name"], node.shape, node.dtype))
        params.append(f"{em.ctype(node)} {name}" if node.shape == () else f"const {em.ctype(node)} *restrict {name}")
    outputs = []
    for k, node_id in enumerate(graph.outputs):
        node = graph.nodes[node_id]
        outputs.append((graph.output_names[k], node.shape, node.dtype))
        params.append(f"{em.ctype(node)} *restrict out{k}")
    params.append("double *restrict work")
    signature = f"int {function_name}({', '.join(params)})"
    work_size = em.work + em.scalar_slots
    fingerprint = hashlib.sha256(format_graph(graph).encode()).hexdigest()[:16]
    lines = [f"/* {_comment(title)}", f" * gradgen {__version__}, graph {fingerprint}; built into the cache",
             " * entry named after the hash of this source and the toolchain. */",
             "#include <stdint.h>", "#include <math.h>", '#include "gradgen_runtime.h"', ""]
    if em.uses_blas:
        lines.insert(lines.index('#include "gradgen_runtime.h"'), "#include <cblas.h>")
    if em.functions:  # POSIX threads: declared only when asked for, as C99 does not have them
        lines.insert(lines.index("#include <stdint.h>"), "#define _POSIX_C_SOURCE 200809L")
        lines.insert(lines.index('#include "gradgen_runtime.h"'), "#define GG_USE_THREADS 1")
    lines += em.constants
    lines += em.functions
    body: list[str] = []
    if em.split:
        chunks: list[list[str]] = [[]]
        for statement in roll(em.statements):
            if len(chunks[-1]) >= CHUNK:
                chunks.append([])
            chunks[-1].extend(statement)
        chunk_params = ", ".join(params)
        call_args = ", ".join(p.rsplit(" ", 1)[1].lstrip("*") for p in params)
        for c, chunk in enumerate(chunks):
            lines.append(f"static int {function_name}_part{c}({chunk_params})")
            lines.append("{")
            lines.append(f"    double *const s = work + {em.work};  /* scalar values */")
            lines.append("    (void)s;")
            lines += ["    " + line for line in (
                [f"(void){p.rsplit(' ', 1)[1].lstrip('*')};" for p in params] if standalone else []) + chunk]
            lines += ["    return 0;", "}", ""]
        body += [f"int rc = {function_name}_part{c}({call_args}); if (rc) return rc;" for c in range(len(chunks))]
        body.append("{")
        body.append(f"    double *const s = work + {em.work};")
        body.append("    (void)s;")
        body += ["    " + line for line in out_lines]
        body.append("}")
        body = [body[0].replace("int rc =", "int rc;\n    rc =")] + [b.replace("int rc =", "rc =") for b in body[1:]]
    else:
        body += [decl for decl, _ in em.buffers]
        for statement in em.statements:
            body.extend(statement)
        body += out_lines
    used = [f"(void){p.rsplit(' ', 1)[1].lstrip('*')};" for p in params] if standalone else []
    lines.append(("GG_KERNEL " if not em.split else "") + signature)
    lines.append("{")
    lines += ["    " + line for line in used + body]
    lines += ["    (void)work;", "    return 0;", "}", ""]
    cdef = signature + ";"
    text = "\n".join(lines)
    return CKernelSource(text, cdef, function_name, inputs, outputs, work_size,
                         long=text.count("\n") > LONG_SOURCE, uses_blas=em.uses_blas, uses_threads=bool(em.functions))
