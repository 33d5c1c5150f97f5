"""The command line: ``python -m gradgen`` (or ``gradgen``) on a function in a Python file.

    gradgen source model.py:loss --wrt w,b              print the generated kernel
    gradgen source model.py:loss --backend c --spec X=100,8
    gradgen program model.py:loss --spec X=100,8         the loop nests the C backend prints
    gradgen export model.py:loss out/ --name loss        write loss.h and loss.c
    gradgen table  model.py:loss w=2 b=8 x=-2 y=2        every node's value and dJ/dnode
    gradgen steps  model.py:loss w=2 b=8 x=-2 y=2        the chain rule, right to left
    gradgen check  model.py:loss w=2 b=8 x=-2 y=2        gradient against finite differences
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Callable

import numpy as np

from gradgen.dsl.specs import Array
from gradgen.errors import GradgenError, InputError


def load_function(target: str) -> Callable:
    """``path/to/file.py:name`` -> the function ``name`` defined in that file."""
    path, sep, name = target.rpartition(":")
    if not sep or not path or not name:
        raise InputError(f"expected FILE.py:FUNCTION, got {target!r}")
    if not Path(path).is_file():
        raise InputError(f"no such file: {path}")
    spec = importlib.util.spec_from_file_location(Path(path).stem, path)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.path.insert(0, str(Path(path).resolve().parent))
    try:
        spec.loader.exec_module(module)  # type: ignore[union-attr]
    finally:
        sys.path.pop(0)
    fn = getattr(module, name, None)
    if not callable(fn):
        raise InputError(f"{path} defines no function {name!r}")
    return fn


def parse_specs(items: Sequence[str]) -> dict[str, Array]:
    """``X=100,8`` (float64), ``idx=32:int64`` or ``x=`` (a scalar) -> specs."""
    specs = {}
    for item in items:
        name, sep, text = item.partition("=")
        if not sep:
            raise InputError(f"--spec takes NAME=SHAPE[:DTYPE] (e.g. X=100,8), got {item!r}")
        shape_text, _, dtype = text.partition(":")
        try:
            shape = tuple(int(n) for n in shape_text.split(",") if n.strip())
        except ValueError:
            raise InputError(f"--spec {item!r}: the shape must be integers separated by commas") from None
        specs[name] = Array(shape, dtype or "float64")
    return specs


def parse_values(items: Sequence[str]) -> dict[str, Any]:
    """``w=2`` or ``X=[[1,2],[3,4]]`` (JSON) -> values; lists become arrays."""
    values: dict[str, Any] = {}
    for item in items:
        name, sep, text = item.partition("=")
        if not sep:
            raise InputError(f"values are NAME=VALUE (a number or a JSON list), got {item!r}")
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            raise InputError(f"value of {name!r}: {text!r} is neither a number nor a JSON list") from None
        values[name] = np.array(value) if isinstance(value, list) else value
    return values


def _wrt(text: str | None) -> list[str] | None:
    return [w.strip() for w in text.split(",") if w.strip()] if text else None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gradgen", description="Compile a Python function into a gradient kernel, show it, check it, "
        "or export it as C. FUNCTION is FILE.py:NAME; arguments without a --spec are float64 scalars.",
        epilog=__doc__.split("\n\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help_text: str, values: bool = False) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        sub.add_argument("function", help="FILE.py:NAME, the function to compile")
        if values:
            sub.add_argument("values", nargs="*", help="NAME=VALUE for every argument (numbers or JSON lists)")
        else:
            sub.add_argument("--spec", action="append", default=[], metavar="NAME=SHAPE[:DTYPE]",
                             help="shape (and dtype) of an array argument, e.g. X=100,8 or idx=32:int64")
        sub.add_argument("--wrt", help="comma-separated arguments to differentiate (default: every float one)")
        return sub

    source = command("source", "print the generated source (Python or C) of value and gradient")
    source.add_argument("--backend", choices=["python", "c"], default="python")
    source.add_argument("--forward", action="store_true", help="the forward function only, no gradient")
    program = command("program", "print the loop-nest program the C backend prints from (the schedule)")
    program.add_argument("--forward", action="store_true", help="the forward function only, no gradient")
    export = command("export", "write NAME.h and NAME.c, a standalone C99 value-and-gradient pair")
    export.add_argument("directory", help="where to write the files")
    export.add_argument("--name", required=True, help="the C function's name (and the files')")
    command("table", "print every node's value and dJ/dnode (the backprop table)", values=True)
    command("steps", "print the chain rule edge by edge, right to left", values=True)
    command("check", "compare the gradient with central finite differences", values=True)
    return parser


def run(args: argparse.Namespace) -> int:
    """Carry out one parsed command; returns the exit status."""
    import gradgen as gg

    fn = load_function(args.function)
    if args.command in ("source", "program"):
        specs = parse_specs(args.spec)
        backend = getattr(args, "backend", "python")
        kernel = (gg.compile(fn, backend=backend, specs=specs) if args.forward
                  else gg.value_and_grad(fn, wrt=_wrt(args.wrt), backend=backend, specs=specs))
        print(kernel.source if args.command == "source" else kernel.program)
        return 0
    if args.command == "export":
        header, source = gg.export_c(fn, args.directory, args.name, wrt=_wrt(args.wrt), **parse_specs(args.spec))
        print(f"wrote {header} and {source}")
        return 0
    values = parse_values(args.values)
    if args.command == "table":
        print(gg.backprop_table(fn, **values))
        return 0
    if args.command == "steps":
        print(gg.backprop_steps(fn, **values))
        return 0
    result = gg.check_grad(fn, wrt=_wrt(args.wrt), **values)
    print(result)
    return 0 if result.ok else 1


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m gradgen``: errors are one line on stderr and status 2."""
    args = _parser().parse_args(argv)
    try:
        return run(args)
    except GradgenError as error:
        print(f"gradgen: error: {str(error).splitlines()[0]}", file=sys.stderr)
        return 2
    except (OSError, SyntaxError, ImportError) as error:
        print(f"gradgen: error: {args.function}: {error}", file=sys.stderr)
        return 2
