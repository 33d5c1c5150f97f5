"""Kernels travel: a Kernel pickles as its traced graphs, names and settings, never machine code.

Unpickling rebuilds each signature from its traced graph through the usual pipeline, so the C source is
the same text as in the process that pickled it and its cache key the same: a process with a warm cache
loads the built module (under the per-key lock, or builds it there, or falls back to Python with the
usual single warning when it has no compiler). The key covers the source, the toolchain and the flags,
and never the building CPU: C kernels carry an AVX2 clone beside the baseline one and pick at load time,
so workers on different CPUs agree on the key. The function itself travels when it pickles by reference
(a function defined at module level of an importable module), so the kernel can still trace new
signatures; otherwise (a lambda, a closure, a script's function) it runs the signatures it had. A
kernel sent twice to one process is rebuilt once there.
"""

from __future__ import annotations

import hashlib
import pickle
from typing import Any

from gradgen import stages
from gradgen.errors import InputError
from gradgen.ir.printer import format_graph
from gradgen.ops.registry import OPS

#: Kernels unpickled in this process, by the digest of their state: the second arrival is the first.
_ARRIVED: dict[str, Any] = {}

_SETTINGS = ("mode", "_has_aux", "_wrt", "_backend_request", "_trees", "_params", "_wrt_names", "names",
             "_folded", "_jit", "_kernel_names", "_display_name")


def picklable(fn: Any) -> Any:
    """``fn`` if it pickles by reference to a module another process can import, else None (a lambda, a
    closure, a function of ``__main__``)."""
    if getattr(fn, "__module__", "__main__") == "__main__":
        return None
    try:
        return fn if pickle.loads(pickle.dumps(fn)) is fn else None
    except Exception:  # noqa: BLE001 - any reason pickling fails means the function stays behind
        return None


def kernel_state(kernel: Any) -> dict[str, Any]:
    """What a pickled kernel carries: its settings, each signature's specs and traced graph, the function
    when it pickles."""
    from gradgen.ir.graph import Graph

    target = kernel._target
    function = None if isinstance(target, Graph) else picklable(target) if kernel._traceable else None
    signatures = [(specs, variant.stage.traced, variant.stage.grad_keys, variant.stage.aux)
                  for specs, variant in kernel._variants.items()]
    state = {name: getattr(kernel, name) for name in _SETTINGS}
    state.update(function=function, graph=target if isinstance(target, Graph) else None, signatures=signatures)
    digest = hashlib.sha256()
    digest.update(repr(sorted((k, repr(v)) for k, v in state.items() if k not in ("signatures", "function",
                                                                                   "graph"))).encode())
    for specs, traced, keys, aux in signatures:
        digest.update(repr((specs, keys, aux)).encode() + format_graph(traced).encode())
    state["digest"] = digest.hexdigest()
    return state


def unpickled_kernel(state: dict[str, Any]) -> Any:
    """The kernel ``state`` describes, built (or loaded from the cache) in this process, once per process."""
    from gradgen.runtime.kernel import Kernel

    found = _ARRIVED.get(state["digest"])
    if found is not None:
        return found
    for _, traced, _, _ in state["signatures"]:
        unknown = sorted({node.op for node in traced.nodes} - set(OPS))
        if unknown:
            raise InputError(f"unpickling a kernel that uses ops this process does not define ({', '.join(unknown)}):"
                             " a gg.custom_op must be defined (imported) before its kernels are unpickled")
    kernel = Kernel.__new__(Kernel)
    for name in _SETTINGS:
        setattr(kernel, name, state[name])
    kernel._target = state["function"] or state["graph"]
    kernel._traceable = state["function"] is not None or state["graph"] is not None
    kernel._variants = {}
    kernel._first = None
    for specs, traced, keys, aux in state["signatures"]:
        kernel._add_variant(specs, stages.Prepared(traced, kernel.mode, keys, aux))
    kernel._own_class()
    _ARRIVED[state["digest"]] = kernel
    return kernel


#: The attributes of a derivative kernel that say what it computes (its inner kernels aside).
DERIVATIVE_SETTINGS = ("kind", "_single", "_wrt_request", "_backend", "_mode", "_with_gradient", "names", "_folded",
                       "_name", "_jit")


def derivative_state(kernel: Any) -> dict[str, Any]:
    """What a pickled derivative kernel carries: its settings, its inner kernels, the function when it
    pickles."""
    state = {name: getattr(kernel, name) for name in DERIVATIVE_SETTINGS}
    state.update(function=picklable(kernel._fn), kernels=list(kernel._kernels.items()),
                 first=next((specs for specs, entry in kernel._kernels.items() if entry is kernel._first), None))
    inner = [kernel_state(entry[0])["digest"] for entry in kernel._kernels.values()]
    state["digest"] = hashlib.sha256(repr((sorted((k, repr(v)) for k, v in state.items() if k not in (
        "function", "kernels")), inner)).encode()).hexdigest()
    return state


def unpickled_derivative(state: dict[str, Any]) -> Any:
    """The derivative kernel ``state`` describes (its inner kernels unpickled, so built or loaded, here)."""
    from gradgen.runtime.derivatives import DerivativeKernel

    found = _ARRIVED.get(state["digest"])
    if found is not None:
        return found
    kernel = DerivativeKernel.__new__(DerivativeKernel)
    for name in DERIVATIVE_SETTINGS:
        setattr(kernel, name, state[name])
    kernel._fn = state["function"]
    kernel._kernels = dict(state["kernels"])
    kernel._first = kernel._kernels.get(state["first"]) if state["first"] is not None else None
    _ARRIVED[state["digest"]] = kernel
    return kernel
