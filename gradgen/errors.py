"""The exceptions gradgen raises for anything a user can get wrong.

Every message names the bad argument, shape or node and says what was
expected, so that a user can fix the call without reading gradgen's source.
"""

from __future__ import annotations


class GradgenError(Exception):
    """Base class of every error a user of gradgen can cause."""


class InputError(GradgenError, TypeError):
    """A kernel or API function was given a wrong argument (count, name, shape, dtype)."""


class ShapeError(GradgenError, ValueError):
    """Shapes do not fit together (broadcasting, matmul, reshape, indexing)."""


class GraphError(GradgenError, ValueError):
    """The graph cannot be built or differentiated as asked (e.g. grad of a non-scalar)."""


class TracingError(GraphError):
    """A symbolic value was used where Python needs a concrete one (``if x > 0:``)."""


class CompileError(GradgenError, RuntimeError):
    """Building generated C failed; carries the compiler's output and the source path."""

    def __init__(self, message: str, *, output: str = "", source_path: str | None = None):
        details = message
        if source_path:
            details += f"\n  source kept at: {source_path}"
        if output:
            details += "\n  compiler output:\n" + "\n".join("    " + line for line in output.splitlines())
        super().__init__(details)
        self.output = output
        self.source_path = source_path
