"""Runtime: kernels that check arguments and dispatch to generated code."""

from gradgen.runtime.kernel import Kernel, compile, grad, value_and_grad

__all__ = ["Kernel", "compile", "grad", "value_and_grad"]
