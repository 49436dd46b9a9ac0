"""Common subexpressions: name what several results (or several places of one) share.

Backprop reads this way: ``Z1 = X W1 + b1^T``, ``H1 = sigmoid(Z1)``, then each gradient in
terms of them, so the output of an L-layer net grows linearly in L instead of repeating
the forward pass inside every gradient.
"""

from __future__ import annotations

from . import expr as E
from .shapes import is_one

_LEAVES = (E.Symbol, E.Const, E.Identity, E.Ones, E.Zero, E.Differential, E.DifferentialOf, E.Commutation)


def printed_length(e: E.Expr, limit: int) -> int:
    """The length of ``e`` printed as text, or ``limit + 1`` when it is surely longer: every node
    prints at least one character, and a DAG with shared parts can be far too long to print."""
    from .printing import to_text
    from .simplify import weight

    return limit + 1 if weight(e) > limit else len(to_text(e))


def _worth_naming(e: E.Expr) -> bool:
    if isinstance(e, _LEAVES) or any(isinstance(s, E.Differential) for s in e.free):
        return False
    if isinstance(e, (E.Transpose, E.Vec)) and isinstance(e.arg, _LEAVES):
        return False
    if isinstance(e, E.Scale) and isinstance(e.coeff, E.Const) and isinstance(e.arg, _LEAVES):
        return False
    return True


def _references(roots) -> dict:
    """How many parents (or roots) refer to each node of the DAG."""
    count: dict = {}
    stack = list(roots)
    for r in roots:
        count[r] = count.get(r, 0) + 1
    seen = set()
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        for k in node.children():
            count[k] = count.get(k, 0) + 1
            stack.append(k)
    return count


def share(results: dict, min_size: int = 1) -> tuple[list[tuple[E.Symbol, E.Expr]], dict]:
    """Definitions ``[(name, value)]`` in dependency order, and the results written with them.
    A subexpression is named when it is referred to from two places or more and has at
    least ``min_size`` distinct nodes once its own parts are named (above 1, scalars are
    left written out: they are short, and naming them hides the function being derived)."""
    from .simplify import weight

    count = _references(list(results.values()))
    taken = {s.name for e in results.values() for s in e.free if isinstance(s, E.Symbol)}
    definitions: list[tuple[E.Symbol, E.Expr]] = []
    replaced: dict = {}
    counters = {"Z": 0, "z": 0}

    def fresh(e: E.Expr) -> E.Symbol:
        matrix = not (is_one(e.shape[0]) or is_one(e.shape[1]))
        prefix = "Z" if matrix else "z"
        while True:
            counters[prefix] += 1
            name = f"{prefix}{counters[prefix]}"
            if name not in taken:
                taken.add(name)
                kind = "matrix" if matrix else ("scalar" if E.is_scalar(e) else "vector")
                return E.Symbol(name, kind, e.shape)

    def rewrite(node: E.Expr) -> E.Expr:
        if node in replaced:
            return replaced[node]
        kids = node.children()
        new = node.map_children(lambda k: rewrite(k)) if kids else node
        big = min_size <= 1 or (weight(new) >= min_size and not E.is_scalar(new))
        if count.get(node, 0) >= 2 and _worth_naming(new) and big:
            symbol = fresh(node)
            definitions.append((symbol, new))
            new = symbol
        replaced[node] = new
        return new

    rewritten = {label: rewrite(e) for label, e in results.items()}
    return definitions, rewritten
