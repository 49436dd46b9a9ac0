"""Printed results whose sizes tie when they are read again.

Text carries no size names: read back, each ``I``, ``ones`` and ``0`` gets a size of its own,
which the rest of the text ties to the sizes of the variables (``2 A x``, ``X - ones b^T``).
Where nothing does (an ``I`` inside a Kronecker product, the ones of ``2 sum(x) ones``), the
print writes the size in brackets, ``I[n]``, ``ones[n]``, ``ones[m, n]``: a name in brackets is
the size of the variables the parser names so (n, m, p, ... in order of appearance, rows before
columns), so the sizes are written under the names the text will give them.  A size as a
number (what a mean divides by) is ``size(X, 1)`` where a variable has it, else ``size[n]``.
Ordinary results print as before.
"""

from __future__ import annotations

from . import expr as E
from .errors import MatcalcError
from .printing import ATOM, MUL, POW, TextPrinter, printed_in_order, to_text
from .shapes import size_factors

SIZED_LEAVES = (E.Identity, E.Ones, E.Zero, E.Count, E.Commutation)
UNSIZED = (E.Identity, E.Ones, E.Zero)  # what reads back with a size of its own unless written


class SizedTextPrinter(TextPrinter):
    """The text printer, writing the sizes of the leaves in ``sized`` in brackets, and a size as a
    number as ``size(X, k)`` where ``carriers`` names a variable that has it."""

    def __init__(self, sized: set, carriers: dict):
        self.sized, self.carriers = sized, carriers

    def broadcasts(self, arg) -> bool:
        ones = arg.factors[0] if isinstance(arg, E.MatMul) else arg
        return ones not in self.sized

    def _Identity(self, e):
        return (f"I[{self.size(e.n)}]", ATOM) if e in self.sized else super()._Identity(e)

    def _Ones(self, e):
        if e not in self.sized:
            return super()._Ones(e)
        rows, cols = e.shape
        if E.is_one(cols):
            return f"ones[{self.size(rows)}]", ATOM
        if E.is_one(rows):
            return f"ones[{self.size(cols)}]^T", POW
        return f"ones[{self.size(rows)}, {self.size(cols)}]", ATOM

    def _Zero(self, e):
        if e not in self.sized or E.is_scalar(e):
            return super()._Zero(e)
        return f"0 {self._Ones(E.Ones(e.shape))[0]}", MUL

    def _Count(self, e):
        number, names = size_factors(e.n)
        if not any(n in self.carriers for n in names):
            return super()._Count(e)
        names = sorted(names, key=lambda n: self.carriers.get(n, ("~", n)))  # size(X, 1) size(X, 2)
        parts = [str(number)] * (number != 1) + [
            f"size({self.carriers[n][0]}, {self.carriers[n][1]})" if n in self.carriers else f"size[{self.size(n)}]"
            for n in names]
        return " ".join(parts), (ATOM if len(parts) == 1 else MUL)


def _leaf_sizes(e: E.Expr) -> tuple:
    if isinstance(e, E.Symbol):
        return tuple(e.dims)
    return (e.n,) if isinstance(e, (E.Identity, E.Count)) else tuple(e.dims)


def _names(dims) -> set:
    return {name for d in dims for name in size_factors(d)[1]}


def _all_names(e: E.Expr) -> set:
    """Every size name of the leaves of ``e`` (variables and sized leaves)."""
    return _names(d for n in E.nodes(e) if isinstance(n, (E.Symbol, *SIZED_LEAVES)) for d in _leaf_sizes(n))


def _read(text: str, e: E.Expr) -> E.Expr | None:
    from .parser import parse

    try:
        return parse(text, {s.name: s.kind for s in E.nodes(e) if isinstance(s, E.Symbol)})
    except MatcalcError:
        return None


def _untied(back: E.Expr, e: E.Expr) -> set | None:
    """The leaves of ``e`` whose sizes, in ``back`` (``e`` printed and read again), no variable
    carries; None where ``back`` is not the same tree."""
    bound = _names(d for s in E.nodes(back) if isinstance(s, E.Symbol) for d in s.dims)
    untied, stack, seen = set(), [(e, back)], set()
    while stack:
        a, b = stack.pop()
        if (id(a), id(b)) in seen:
            continue
        seen.add((id(a), id(b)))
        if type(a) is not type(b) or len(a.children()) != len(b.children()):
            return None
        if isinstance(a, SIZED_LEAVES) and not _names(_leaf_sizes(b)) <= bound:
            untied.add(a)
        stack.extend(zip(a.children(), b.children(), strict=True))
    return untied


def _carriers(e: E.Expr) -> dict:
    """For each size name a variable of ``e`` has, one such variable and its dimension (1 or 2)."""
    out: dict = {}
    for s in sorted((n for n in E.nodes(e) if isinstance(n, E.Symbol)), key=lambda s: s.name):
        for axis, d in enumerate(s.dims, start=1):
            if isinstance(d, str):
                out.setdefault(d, (s.name, axis))
    return out


def tied_text(e: E.Expr) -> str:
    """``e`` as text that reads back with its sizes: plain where that keeps every tie between
    them, else with the sizes in brackets on the leaves that nothing ties."""
    plain = to_text(e)
    if not any(isinstance(n, SIZED_LEAVES) for n in E.nodes(e)):
        return plain
    back = _read(plain, e)
    bracketed = any(isinstance(n, (E.Count, E.Commutation)) for n in E.nodes(e))
    if back is not None and len(_all_names(back)) <= len(_all_names(e)) and not bracketed:
        return plain
    untied = None if back is None else _untied(back, e)
    leaves = {n for n in E.nodes(e) if isinstance(n, UNSIZED)}
    sized = leaves if untied is None else untied & leaves
    text = printed_in_order(SizedTextPrinter, e, sized=sized, carriers=_carriers(e))
    return text if _read(text, e) is not None else plain

