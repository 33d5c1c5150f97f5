"""``torch.compile`` of ``torch.func.grad_and_value``: loss and gradients as one compiled graph, float64 on the CPU.

Of the two ways to compile a gradient on torch 2.13 (a function calling
``torch.autograd.grad`` or ``.backward()``, or a functional transform), the
transform is used: dynamo traces forward and backward into one graph that
inductor turns into C++, where the autograd call leaves the backward to a second
graph and ran about 3 times slower per call on vchain. Set-up is tracing,
inductor's code generation and its C++ build, with the compiler stack imported
beforehand (imports are not set-up) and inductor compiling in this process
(``compile_threads = 1``), as the libraries here run on one thread. The first
gradient is measured with an empty inductor cache (``TORCHINDUCTOR_CACHE_DIR``).

It runs on the array workloads; the graphs of Python scalars (the seeds' and
the scalar chains) are left to eager PyTorch.
"""

from __future__ import annotations

from typing import Any

from bench import env
from bench.systems import Grads, NotApplicable, Prepared, System, Unavailable, unpack_pairs
from bench.systems.torch_eager import _ops, _tensor
from bench.workloads import Inputs, Workload

COMPILER_MODULE = "torch._inductor.compile_fx"
"""Imported before set-up is timed, with torch itself."""


def _compile_failure(torch: Any) -> tuple[type[BaseException], ...]:
    """The exceptions by which dynamo and inductor say compiling failed (a missing C++ compiler among them)."""
    return (torch._dynamo.exc.BackendCompilerFailed, torch._inductor.exc.InductorError)


def prepare(workload: Workload, inputs: Inputs) -> Prepared:
    """Compile and call once (the compile happens on the first call); a compiler failure reads "unavailable"."""
    if workload.scalar_ops:
        raise NotApplicable("graphs of Python scalars: torch.compile is run on the array workloads")
    import torch
    import torch._inductor.config

    if env.thread_limit():
        torch.set_num_threads(env.thread_limit())
    torch._inductor.config.compile_threads = 1
    names = list(inputs)
    args = [_tensor(torch, value) for value in inputs.values()]
    argnums = tuple(names.index(name) for name in workload.wrt)
    compiled = torch.compile(torch.func.grad_and_value(workload.define(_ops(torch)), argnums=argnums))
    try:
        compiled(*args)
    except _compile_failure(torch) as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise Unavailable(f"torch.compile failed: {type(exc).__name__}: {first_line}") from exc
    pairs = unpack_pairs(workload.wrt, lambda t: t.detach().numpy())

    def unpack(result: Any) -> tuple[float, Grads]:
        grads, value = result
        return pairs((value, grads))

    return Prepared(lambda: compiled(*args), unpack, note="grad_and_value, inductor C++")


SYSTEMS = (System("torch.compile", "peer", prepare, requires="torch", preload=(COMPILER_MODULE,)),)
