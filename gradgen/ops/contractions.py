"""Tensor contractions, written in the DSL: ``einsum`` (``...`` included, broadcast as NumPy does),
``tensordot``, ``dot`` and ``matmul`` beyond 2-D with NumPy's batching. A contraction without batch axes
becomes one 2-D matrix product (transposes and reshapes around ``matmul``, which the C backend runs as
loops or BLAS); axes shared by both operands and kept (batch axes) become a broadcast product summed
over the contracted axes."""

from __future__ import annotations

import math
import string
from typing import Any

import numpy as np

from gradgen.dsl.value import Value
from gradgen.errors import InputError, ShapeError
from gradgen.ops import functions as F
from gradgen.ops.core import normalize_axes


def _shape(x: Any) -> tuple[int, ...]:
    return x.shape if isinstance(x, Value) else np.shape(x)


def _arranged(x: Any, letters: str, order: str) -> Any:
    """``x`` (axes named by ``letters``) with its axes in the ``order`` of letters."""
    perm = tuple(letters.index(c) for c in order)
    return x if perm == tuple(range(len(perm))) else F.transpose(x, perm)


def _pair(a: Any, la: str, b: Any, lb: str, keep: set[str], sizes: dict[str, int]) -> tuple[Any, str]:
    """The contraction of two operands over their shared letters not in ``keep``: (result, its letters)."""
    shared = [c for c in la if c in lb]
    batch = "".join(c for c in shared if c in keep)
    summed = "".join(c for c in shared if c not in keep)
    free_a = "".join(c for c in la if c not in lb)
    free_b = "".join(c for c in lb if c not in la)
    if not batch and summed:  # one matrix product: (free_a, summed) @ (summed, free_b)
        rows = math.prod(sizes[c] for c in free_a)
        inner = math.prod(sizes[c] for c in summed)
        columns = math.prod(sizes[c] for c in free_b)
        left = F.reshape(_arranged(a, la, free_a + summed), (rows, inner))
        right = F.reshape(_arranged(b, lb, summed + free_b), (inner, columns))
        product = F.matmul(left, right)
        return F.reshape(product, tuple(sizes[c] for c in free_a + free_b)), free_a + free_b
    order = batch + free_a + summed + free_b
    left = F.reshape(_arranged(a, la, batch + free_a + summed),
                     tuple(sizes[c] if c in la else 1 for c in order))
    right = F.reshape(_arranged(b, lb, batch + summed + free_b),
                      tuple(sizes[c] if c in lb else 1 for c in order))
    product = left * right
    if summed:
        start = len(batch) + len(free_a)
        product = F.sum(product, axis=tuple(range(start, start + len(summed))))
    return product, batch + free_a + free_b


def _parse(subscripts: str, ranks: list[int]) -> tuple[list[str], str, set[str]]:
    """The letters of each operand and of the output, with each ``...`` written out as letters of its
    own (the broadcast axes, right-aligned as NumPy aligns them), and those ellipsis letters."""
    if not isinstance(subscripts, str):
        raise InputError(f"einsum: subscripts must be a string such as 'ij,jk->ik', got {subscripts!r}")
    text = subscripts.replace(" ", "")
    inputs, arrow, output = text.partition("->")
    terms = inputs.split(",")
    if len(terms) != len(ranks):
        raise InputError(f"einsum {subscripts!r}: {len(terms)} operand subscripts for {len(ranks)} operands")
    named = "".join(t.replace("...", "") for t in terms) + output.replace("...", "")
    if not all(c.isalpha() for c in named) or any(t.count("...") > 1 for t in terms + [output]):
        raise InputError(f"einsum {subscripts!r}: subscripts are letters, commas, one -> and at most one ... "
                         "per operand")
    widths = []
    for k, (term, rank) in enumerate(zip(terms, ranks)):
        width = rank - len(term.replace("...", "")) if "..." in term else 0
        if width < 0:
            raise ShapeError(f"einsum {subscripts!r}: operand {k} has {rank} axes, fewer than its subscripts "
                             f"{term!r} name")
        widths.append(width)
    spare = [c for c in string.ascii_letters if c not in named]
    ellipsis = "".join(spare[:max(widths, default=0)])
    terms = [t.replace("...", ellipsis[len(ellipsis) - w:] if w else "") for t, w in zip(terms, widths)]
    letters = "".join(terms)
    if not arrow:  # implicit output: the ellipsis axes, then the letters seen once, in alphabetical order
        output = ellipsis + "".join(sorted(c for c in set(letters) if letters.count(c) == 1 and c not in ellipsis))
    elif ellipsis and "..." not in output:
        raise InputError(f"einsum {subscripts!r}: the ... of the operands stands for {len(ellipsis)} axes, which the "
                         "output must keep: write ... in the output too (as NumPy requires), then sum them away")
    else:
        output = output.replace("...", ellipsis)
    if len(set(output)) != len(output) or any(c not in letters for c in output):
        raise InputError(f"einsum {subscripts!r}: the output {output!r} must name distinct letters of the inputs")
    return terms, output, set(ellipsis)


def einsum(subscripts: str, *operands: Any) -> Any:
    """NumPy's ``einsum`` (explicit ``->`` or implicit output; repeated letters take diagonals), contracted
    pairwise from left to right."""
    if not any(isinstance(x, Value) for x in operands):
        return np.einsum(subscripts, *operands)
    terms, output, ellipsis = _parse(subscripts, [len(_shape(x)) for x in operands])
    sizes: dict[str, int] = {}
    for k, (x, letters) in enumerate(zip(operands, terms)):
        shape = _shape(x)
        if len(letters) != len(shape):
            raise ShapeError(f"einsum {subscripts!r}: operand {k} has {len(shape)} axes, its subscripts "
                             f"{letters!r} name {len(letters)}")
        for c, n in zip(letters, shape):
            known = sizes.setdefault(c, n)
            if known != n and not (c in ellipsis and 1 in (known, n)):
                raise ShapeError(f"einsum {subscripts!r}: axis {c!r} has length {known} and {n}"
                                 + (" (broadcast axes of ... must be equal or 1)" if c in ellipsis else ""))
            sizes[c] = max(known, n)
    prepared: list[tuple[Any, str]] = []
    for x, letters in zip(operands, terms):
        wanted = tuple(sizes[c] for c in letters)
        if _shape(x) != wanted:  # an ellipsis axis of length 1 against a longer one: broadcast it
            x = F.broadcast_to(x, wanted)
        while len(set(letters)) < len(letters):  # a repeated letter: the diagonal, moved last
            c = next(c for c in letters if letters.count(c) > 1)
            first, second = letters.index(c), letters.index(c, letters.index(c) + 1)
            x = F.diagonal(x, 0, first, second)
            letters = "".join(d for i, d in enumerate(letters) if i not in (first, second)) + c
        prepared.append((x, letters))
    everywhere = "".join(t for _, t in prepared)
    prepared = [_summed_out(x, t, lambda c: everywhere.count(c) == 1 and c not in output) for x, t in prepared]
    result, letters = prepared[0]
    for k in range(1, len(prepared)):
        other, other_letters = prepared[k]
        keep = set("".join(t for _, t in prepared[k + 1:]) + output)
        result, letters = _pair(result, letters, other, other_letters, keep, sizes)
    result, letters = _summed_out(result, letters, lambda c: c not in output)
    return _arranged(result, letters, output) if letters else result


def _summed_out(x: Any, letters: str, unread: Any) -> tuple[Any, str]:
    """``x`` summed over the axes whose letters are ``unread`` (read by no other operand, not output)."""
    axes = tuple(i for i, c in enumerate(letters) if unread(c))
    if not axes:
        return x, letters
    return F.sum(x, axis=axes), "".join(c for i, c in enumerate(letters) if i not in axes)


def tensordot(a: Any, b: Any, axes: Any = 2) -> Any:
    """The sum of products over ``axes`` (an int: the last of ``a`` with the first of ``b``; or a pair of
    axis lists), as ``np.tensordot``."""
    if not isinstance(a, Value) and not isinstance(b, Value):
        return np.tensordot(a, b, axes)
    sa, sb = _shape(a), _shape(b)
    if isinstance(axes, (int, np.integer)):
        axes = (list(range(len(sa) - int(axes), len(sa))), list(range(int(axes))))
    try:
        first, second = ([axes_] if isinstance(axes_, (int, np.integer)) else list(axes_) for axes_ in axes)
    except (TypeError, ValueError):
        raise InputError(f"tensordot: axes must be an int or a pair of axis lists, got {axes!r}") from None
    if len(first) != len(second):
        raise InputError(f"tensordot: {len(first)} axes of a against {len(second)} of b; give as many of each")
    first = [normalize_axes(int(i), len(sa), "tensordot: axes of a")[0] for i in first]
    second = [normalize_axes(int(i), len(sb), "tensordot: axes of b")[0] for i in second]
    letters = iter("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
    la = [next(letters) for _ in sa]
    lb = [next(letters) for _ in sb]
    for i, j in zip(first, second):
        if sa[i] != sb[j]:
            raise ShapeError(f"tensordot: axis {i} of a ({sa[i]}) and axis {j} of b ({sb[j]}) differ in length")
        lb[j] = la[i]
    out = "".join(c for k, c in enumerate(la) if k not in first) + "".join(c for k, c in enumerate(lb)
                                                                           if k not in second)
    return einsum(f"{''.join(la)},{''.join(lb)}->{out}", a, b)


def dot(a: Any, b: Any) -> Any:
    """``np.dot``: a product for scalars, ``matmul`` up to 2-D, and over the last axis of ``a`` and the
    second-to-last of ``b`` beyond."""
    if not isinstance(a, Value) and not isinstance(b, Value):
        return np.dot(a, b)
    sa, sb = _shape(a), _shape(b)
    if not sa or not sb:
        return a * b
    if len(sa) <= 2 and len(sb) <= 2:
        return F.matmul(a, b)
    return tensordot(a, b, ([-1], [-2 if len(sb) > 1 else 0]))


def batched_matmul(a: Any, b: Any) -> Any:
    """``a @ b`` when an operand has more than 2 axes: matrix products over the last two, the axes before
    broadcast as in NumPy (a 1-D operand is a row or a column, as in NumPy, its axis dropped after)."""
    sa, sb = _shape(a), _shape(b)
    row, column = len(sa) == 1, len(sb) == 1
    if row:
        a, sa = F.reshape(a, (1,) + sa), (1,) + sa
    if column:
        b, sb = F.reshape(b, sb + (1,)), sb + (1,)
    if sa[-1] != sb[-2]:
        raise ShapeError(f"matmul: shapes {_shape(a)} and {_shape(b)} do not fit (inner dimensions {sa[-1]} and "
                         f"{sb[-2]} differ)")
    try:
        batch = np.broadcast_shapes(sa[:-2], sb[:-2])
    except ValueError:
        raise ShapeError(f"matmul: the batch axes of {sa} and {sb} do not broadcast together") from None
    a = F.broadcast_to(a, batch + sa[-2:])
    b = F.broadcast_to(b, batch + sb[-2:])
    product = F.sum(F.reshape(a, a.shape + (1,)) * F.reshape(b, batch + (1,) + sb[-2:]), axis=-2)
    if row:
        product = F.reshape(product, product.shape[:-2] + product.shape[-1:])
    if column:
        product = F.reshape(product, product.shape[:-1])
    return product
