"""The C build layer: C source in, loaded cffi extension out, through a safe on-disk cache."""

from .builder import LoadedModule, build_module
from .cache import CacheError, cache_dir, clear_cache
from .headers import runtime_include_dir
from .toolchain import CODEGEN_VERSION, Toolchain, find_compiler, require_compiler

__all__ = [
    "CODEGEN_VERSION",
    "CacheError",
    "LoadedModule",
    "Toolchain",
    "build_module",
    "cache_dir",
    "clear_cache",
    "find_compiler",
    "require_compiler",
    "runtime_include_dir",
]
