"""Optimized libraries C kernels may link: a BLAS for matrix products, glibc's vector math.

The BLAS is OpenBLAS from the scipy-openblas32 wheel.

That wheel ships a shared library and its headers with every symbol under a
``scipy_`` prefix, so it never clashes with another BLAS in the process.
Without it, C kernels fall back to their own loops (correct, but slower on
large products).
"""

from __future__ import annotations

import functools
import os
import platform
from typing import NamedTuple


class Blas(NamedTuple):
    """Where the BLAS is and how to link it."""

    include_dir: str
    library_dir: str
    library: str
    prefix: str

    def compile_args(self) -> tuple[str, ...]:
        """Flags that find the library at link time and at load time (rpath)."""
        return (f"-L{self.library_dir}", f"-Wl,-rpath,{self.library_dir}", "-DGG_HAVE_CBLAS")


@functools.cache
def find_blas() -> Blas | None:
    """The scipy-openblas32 BLAS if installed and complete, else None.

    ``GRADGEN_BLAS=none`` turns it off (for comparing, or for a build without it).
    """
    if os.environ.get("GRADGEN_BLAS", "").lower() == "none":
        return None
    try:
        import scipy_openblas32 as wheel
    except ImportError:
        return None
    blas = Blas(wheel.get_include_dir(), wheel.get_lib_dir(), wheel.get_library(), "scipy_")
    if not os.path.exists(os.path.join(blas.include_dir, "cblas.h")):
        return None
    return blas


#: Where Debian, Ubuntu, Fedora and Arch put glibc's vector math library.
_LIBMVEC_PLACES = ("/usr/lib/x86_64-linux-gnu/libmvec.so", "/usr/lib64/libmvec.so", "/usr/lib/libmvec.so",
                   "/lib/x86_64-linux-gnu/libmvec.so")


@functools.cache
def has_libmvec() -> bool:
    """Whether glibc's vector math library is there to link (x86-64 Linux).

    Looked up on disk, without running the compiler, so a process that only
    loads cached kernels starts no compiler. ``GRADGEN_LIBMVEC=none`` turns it off.
    """
    if os.environ.get("GRADGEN_LIBMVEC", "").lower() == "none" or platform.machine() not in ("x86_64", "AMD64"):
        return False
    return any(os.path.exists(place) for place in _LIBMVEC_PLACES)
