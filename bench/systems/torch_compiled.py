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

It runs on the array workloads, and on rk4 in its tensor form
(``rk4.define_torch``: the parameters and states as 0-d tensors, the 100 or
1,000 steps unrolled by dynamo into one graph, compiled with ``fullgraph=True``).
The other graphs of Python scalars (the seeds' and the chain) are left to eager
PyTorch. A scalar loop is inductor's worst case: its compile time grows with
the steps, nearly all of it in inductor's scheduler (fusion) and code generation
with the C++ build (65 s for T = 10, 150 s for 50, 260-380 s for 100 from an
empty cache on the 2-core reference machine, so it needs ``--timeout 600``),
and the compiled call allocates a 0-d buffer for each intermediate it keeps
(about 900 at T = 100), which costs about 1 ms a call. The row measures that
rather than reading n/a.
"""

from __future__ import annotations

from typing import Any

from bench import env
from bench.systems import Grads, NotApplicable, Prepared, System, Unavailable, unpack_pairs
from bench.systems.torch_eager import _ops, _tensor
from bench.workloads import Inputs, Workload, rk4

COMPILER_MODULE = "torch._inductor.compile_fx"
"""Imported before set-up is timed, with torch itself."""

TENSOR_FORMS = {"rk4": rk4.define_torch}
"""Graphs of Python scalars that have a form in 0-d tensors, compiled as one graph (``fullgraph``)."""


def _compile_failure(torch: Any) -> tuple[type[BaseException], ...]:
    """The exceptions by which dynamo and inductor say compiling failed (a missing C++ compiler among them)."""
    return (torch._dynamo.exc.BackendCompilerFailed, torch._inductor.exc.InductorError)


def prepare(workload: Workload, inputs: Inputs) -> Prepared:
    """Compile and call once (the compile happens on the first call); a compiler failure reads "unavailable"."""
    tensor_form = TENSOR_FORMS.get(workload.name)
    if workload.scalar_ops and tensor_form is None:
        raise NotApplicable("graphs of Python scalars: torch.compile is run on the array workloads")
    import torch
    import torch._inductor.config

    if env.thread_limit():
        torch.set_num_threads(env.thread_limit())
    torch._inductor.config.compile_threads = 1
    names = list(inputs)
    args = [_tensor(torch, value) for value in inputs.values()]
    argnums = tuple(names.index(name) for name in workload.wrt)
    loss = workload.define(_ops(torch)) if tensor_form is None else tensor_form(torch)
    compiled = torch.compile(torch.func.grad_and_value(loss, argnums=argnums), fullgraph=tensor_form is not None)
    try:
        compiled(*args)
    except _compile_failure(torch) as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise Unavailable(f"torch.compile failed: {type(exc).__name__}: {first_line}") from exc
    pairs = unpack_pairs(workload.wrt, lambda t: t.detach().numpy())

    def unpack(result: Any) -> tuple[float, Grads]:
        grads, value = result
        return pairs((value, grads))

    note = "grad_and_value, inductor C++" + ("; 0-d tensors, fullgraph" if tensor_form is not None else "")
    return Prepared(lambda: compiled(*args), unpack, note=note)


SYSTEMS = (System("torch.compile", "peer", prepare, requires="torch", preload=(COMPILER_MODULE,)),)
