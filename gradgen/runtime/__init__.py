"""Runtime: kernels that check arguments and dispatch to generated code."""

from gradgen.runtime.derivatives import DerivativeKernel, hessian, hvp, jacobian, jvp, vjp
from gradgen.runtime.kernel import Kernel, compile, grad, value_and_grad

__all__ = ["DerivativeKernel", "Kernel", "compile", "grad", "hessian", "hvp", "jacobian", "jvp", "value_and_grad",
           "vjp"]
