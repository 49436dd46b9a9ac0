"""Comparing expressions up to the names of their sizes.

Text carries no size names: the parser names sizes n, m, p, ... in the order it meets them,
and a size that nothing in the text ties (the ``I`` of ``exp(tr(A)) I``) gets a name of its
own.  So printing and parsing back gives the same tree with its sizes renamed, and perhaps
with some sizes more general than they were.
"""

from __future__ import annotations

import matcalc.expr as E
from matcalc.shapes import size_factors

SIZE_FIELDS = ("dims", "n")


def matches_up_to_sizes(general: E.Expr, specific: E.Expr) -> bool:
    """Whether ``specific`` is ``general`` with each size renamed consistently (several sizes
    of ``general`` may become one of ``specific``, never the other way round)."""
    renaming: dict = {}
    stack = [(general, specific)]
    seen = set()
    while stack:
        g, s = stack.pop()
        if (id(g), id(s)) in seen:
            continue
        seen.add((id(g), id(s)))
        if type(g) is not type(s):
            return False
        for field, a, b in zip(g.fields, g.key(), s.key(), strict=True):
            if isinstance(a, E.Expr):
                stack.append((a, b))
            elif isinstance(a, tuple) and a and isinstance(a[0], E.Expr):
                if len(a) != len(b):
                    return False
                stack.extend(zip(a, b, strict=True))
            elif field in SIZE_FIELDS:
                pairs = zip(a, b, strict=True) if field == "dims" else [(a, b)]
                if not all(_rename(renaming, x, y) for x, y in pairs):
                    return False
            elif a != b:
                return False
    return True


def _rename(renaming: dict, a, b) -> bool:
    """Record a -> b; false when a was renamed otherwise before.  A product size ``m*n``
    renames factor by factor."""
    (number_a, parts_a), (number_b, parts_b) = size_factors(a), size_factors(b)
    if number_a == 1 and len(parts_a) == 1 and len(parts_b) > 1:  # a size of its own that is a product
        return renaming.setdefault(parts_a[0], b) == b  # here (the ones of sum(ones), ones of length m*n)
    if number_a != number_b or len(parts_a) != len(parts_b):
        return False
    if len(parts_a) > 1:  # the factors are sorted by name, so match them through known renamings
        return sorted(renaming.get(p, p) for p in parts_a) == sorted(parts_b) or all(
            _rename(renaming, x, y) for x, y in zip(parts_a, parts_b, strict=True))
    return all(renaming.setdefault(x, y) == y for x, y in zip(parts_a, parts_b, strict=True))


def variable_ties(e: E.Expr) -> set:
    """Which sizes of the variables of ``e`` are one size: pairs of (variable, dimension 1 or 2)."""
    dims = {(s.name, axis): d for s in E.nodes(e) if isinstance(s, E.Symbol)
            for axis, d in enumerate(s.dims, start=1)}
    return {(a, b) for a in dims for b in dims if a < b and dims[a] == dims[b]}
