"""Code generators: scheduled graph in, source text out."""

from gradgen.codegen.python import PythonKernelSource, generate_python

__all__ = ["PythonKernelSource", "generate_python"]
