"""Common subexpressions: name what several results (or several places of one) share.

Backprop reads this way: ``Z1 = X W1 + b1^T``, ``H1 = sigmoid(Z1)``, then each gradient in
terms of them, so the output of an L-layer net grows linearly in L instead of repeating
the forward pass inside every gradient.  Names the user defined in the input are used first,
wherever their expressions occur.
"""

from __future__ import annotations

import heapq
from collections import Counter
from functools import reduce

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


def symbol_for(name: str, e: E.Expr) -> E.Symbol:
    """A name standing for ``e``: of its shape, a matrix unless one of its sizes is 1."""
    matrix = not (is_one(e.shape[0]) or is_one(e.shape[1]))
    kind = "matrix" if matrix else ("scalar" if E.is_scalar(e) else "vector")
    return E.Symbol(name, kind, e.shape)


def share(results: dict, min_size: int = 1, given=()) -> tuple[list[tuple[E.Symbol, E.Expr]], dict]:
    """Definitions ``[(name, value)]`` in dependency order, and the results written with them.
    A subexpression is named when it is referred to from two places or more and has at
    least ``min_size`` distinct nodes once its own parts are named (above 1, scalars are
    left written out: they are short, and naming them hides the function being derived).

    ``given`` holds names chosen by the user, ``[(name, expression)]`` (a parsed text's
    definitions): each expression is written with its name wherever it occurs in the results,
    also transposed and as a part of a longer sum or product (the ``H1 + tanh(W2 H1)`` of a
    sum holding H1's terms), and is defined whether or not it occurs twice; a given name for
    a bare variable, number, ``I`` or ``ones`` is not used.  The automatic names Z1, z1, ...
    are then found in what remains, and avoid the given names; these come first among the
    definitions where their dependencies allow."""
    given = list(given)
    taken = {s.name for e in results.values() for s in e.free if isinstance(s, E.Symbol)}
    clashes = sorted(taken & {name for name, _ in given})
    if clashes:
        raise ValueError(f"given names that are variables of the results: {', '.join(clashes)}")
    taken |= {name for name, _ in given}
    labels = list(results)
    chosen, roots = _with_given_names([results[label] for label in labels], given)
    automatic, roots = _with_automatic_names([*roots, *(value for _, value in chosen)], min_size)
    chosen = [(symbol, value) for (symbol, _), value in zip(chosen, roots[len(labels):], strict=True)]
    rank = {symbol: i for i, (symbol, _) in enumerate(chosen)}
    ordered = _given_first(automatic + chosen, rank)
    ordered, roots = _numbered(ordered, roots[:len(labels)], {s for s, _ in automatic}, taken)
    return ordered, dict(zip(labels, roots, strict=True))


def _numbered(definitions, roots, automatic: set, taken: set):
    """The automatic names numbered in the order ``definitions`` prints them (z1 before z2),
    Z for a matrix and z otherwise, none of them ``taken``; everything rewritten with them."""
    counters = {"Z": 0, "z": 0}
    new: dict = {}
    for symbol, _ in definitions:
        if symbol in automatic:
            prefix = "z" if is_one(symbol.dims[0]) or is_one(symbol.dims[1]) else "Z"
            while True:
                counters[prefix] += 1
                name = f"{prefix}{counters[prefix]}"
                if name not in taken:
                    break
            new[symbol] = symbol_for(name, symbol)
    memo: dict = {}

    def renamed(node: E.Expr) -> E.Expr:
        if node not in memo:
            memo[node] = new.get(node) or (node.map_children(renamed) if new.keys() & node.free else node)
        return memo[node]

    return [(renamed(s), renamed(v)) for s, v in definitions], [renamed(r) for r in roots]


def _with_given_names(roots: list[E.Expr], given) -> tuple[list[tuple[E.Symbol, E.Expr]], list[E.Expr]]:
    """The definitions of the given names that the roots use, and the roots written with them."""
    named: dict[E.Expr, E.Symbol] = {}
    for name, e in given:
        if not isinstance(e, _LEAVES):
            named.setdefault(e, symbol_for(name, e))
    # transposes move inwards, so the transpose of a given product is its factors reversed, transposed
    transposed = {t: e for e in named if (t := E.transpose(e)) != e and t not in named}
    parts = _Parts([*named, *transposed])
    definitions: list[tuple[E.Symbol, E.Expr]] = []
    replaced: dict = {}

    def rewrite(node: E.Expr) -> E.Expr:
        if node in replaced:
            return replaced[node]
        if node in transposed:
            new = E.transpose(rewrite(transposed[node]))
        else:
            new = parts.written_with(node, rewrite)
            if new is None:
                new = node.map_children(rewrite) if node.children() else node
            if node in named:
                definitions.append((named[node], new))
                new = named[node]
        replaced[node] = new
        return new

    rewritten = [rewrite(e) for e in roots] if named else roots
    return definitions, rewritten


def _with_automatic_names(roots: list[E.Expr], min_size: int) -> tuple[list, list[E.Expr]]:
    """Names for what the roots share (see ``share``), and the roots written with them."""
    from .simplify import weight

    count = _references(roots)
    definitions: list[tuple[E.Symbol, E.Expr]] = []
    replaced: dict = {}

    def fresh(e: E.Expr) -> E.Symbol:
        # a placeholder no text can hold; ``_numbered`` names it once the order is known
        return symbol_for(f"#{len(definitions) + 1}", e)

    def rewrite(node: E.Expr) -> E.Expr:
        if node in replaced:
            return replaced[node]
        kids = node.children()
        new = node.map_children(lambda k: rewrite(k)) if kids else node
        big = min_size <= 1 or (weight(new) >= min_size and not E.is_scalar(new))
        if count.get(node, 0) >= 2 and _worth_naming(new) and big:
            if isinstance(new, E.ElemPower) and new.exponent < 0 and _worth_naming(new.arg):
                # a reciprocal is named by what it divides by: Z1 = sigma ones^T, then U ./ Z1
                symbol = fresh(new.arg)
                definitions.append((symbol, new.arg))
                new = E.ElemPower(symbol, new.exponent)
            else:
                symbol = fresh(node)
                definitions.append((symbol, new))
                new = symbol
        replaced[node] = new
        return new

    return definitions, [rewrite(e) for e in roots]


def _powers(factors) -> Counter:
    """An element-wise product's factors as {base: exponent}: ``U .^ -2 .* V -> {U: -2, V: 1}``."""
    out: Counter = Counter()
    for f in factors:
        base, p = (f.arg, f.exponent) if isinstance(f, E.ElemPower) else (f, 1)
        out[base] += p
    return out


def _holds(powers: Counter, part: Counter) -> bool:
    """Each base of ``part`` is in ``powers`` to an exponent of its sign, at least as large."""
    return all(powers[b] * p > 0 and abs(powers[b]) >= abs(p) for b, p in part.items())


class _Parts:
    """The given sums and products, to find among the terms of a longer sum (any of them), the
    factors of a longer product (a run of them) or of a longer element-wise product (any of them,
    powers split): the smart constructors flatten ``H1 + t`` into one sum, ``W2 (W1 x)`` into one
    product and ``x̂ .* G`` into ``(X - mu) .* sigma .^ -1 .* G``, where no node is H1, ``W1 x`` or
    x̂ any more."""

    def __init__(self, given: list[E.Expr]):
        by_size = sorted(given, key=lambda e: -len(e.children()))
        self.sums = [e for e in by_size if isinstance(e, E.Add)]
        self.products = [e for e in by_size if isinstance(e, E.MatMul)]
        self.elementwise = [e for e in by_size if isinstance(e, E.Hadamard)]

    def written_with(self, node: E.Expr, rewrite) -> E.Expr | None:
        """``node`` with its children rewritten and the given parts it holds named, longest
        first; None when it holds none."""
        if isinstance(node, E.Add) and self.sums:
            return self._in_sum(node, rewrite)
        if isinstance(node, E.MatMul) and self.products:
            return self._in_product(node, rewrite)
        if isinstance(node, E.Hadamard) and self.elementwise:
            return self._in_elementwise(node, rewrite)
        return None

    def _in_elementwise(self, node: E.Hadamard, rewrite) -> E.Expr | None:
        rest, found = _powers(node.factors), []
        for part in self.elementwise:
            wanted = _powers(part.factors)
            times = 0
            while part != node and _holds(rest, wanted):
                rest.subtract(wanted)
                times += 1
            if times:
                found.append(E.elem_power(part, times))
        if not found:
            return None
        # what no part took, built as the constructors build it, so that it is the node it is elsewhere
        kept = [E.elem_power(b, p) for b, p in rest.items() if p != 0]
        if kept:
            found.append(reduce(E.hadamard, kept))
        return _joined(E.Hadamard, [rewrite(f) for f in found])

    def _in_sum(self, node: E.Add, rewrite) -> E.Expr | None:
        rest, found = Counter(node.terms), []
        for part in self.sums:
            wanted = Counter(part.terms)
            if part != node and not wanted - rest:
                rest -= wanted
                found.append(part)
        if not found:
            return None
        kept = []
        for t in node.terms:  # the terms no part took, in their order
            if rest[t] > 0:
                rest[t] -= 1
                kept.append(t)
        return _joined(E.Add, [rewrite(t) for t in found + kept])

    def _in_product(self, node: E.MatMul, rewrite) -> E.Expr | None:
        factors, changed = list(node.factors), False
        for part in self.products:
            run, i = len(part.factors), 0
            while part != node and i + run <= len(factors):
                if tuple(factors[i:i + run]) == part.factors:
                    factors[i:i + run] = [part]
                    changed = True
                i += 1
        if not changed:
            return None
        return _joined(E.MatMul, [rewrite(f) for f in factors])


def _joined(kind, children: list[E.Expr]) -> E.Expr:
    """The sum or product of ``children``, or the one child; built as it stands, since each
    child has the shape its place in the original node gave it."""
    return children[0] if len(children) == 1 else kind(tuple(children))


def _given_first(definitions: list[tuple[E.Symbol, E.Expr]], rank: dict) -> list[tuple[E.Symbol, E.Expr]]:
    """The definitions in dependency order, each given name as early as what it uses allows,
    in the order given; the automatic names keep their order (the order they were made in,
    which puts what each uses before it)."""
    made = {symbol: i for i, (symbol, _) in enumerate(definitions)}
    uses = {symbol: {s for s in value.free if s in made} for symbol, value in definitions}
    users: dict = {}
    for symbol, used in uses.items():
        for s in used:
            users.setdefault(s, []).append(symbol)

    def priority(symbol):
        return (0, rank[symbol]) if symbol in rank else (1, made[symbol])

    waiting = {symbol: len(used) for symbol, used in uses.items()}
    ready = [(priority(s), made[s]) for s, n in waiting.items() if n == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        _, i = heapq.heappop(ready)
        symbol, value = definitions[i]
        order.append((symbol, value))
        for user in users.get(symbol, ()):
            waiting[user] -= 1
            if waiting[user] == 0:
                heapq.heappush(ready, (priority(user), made[user]))
    return order
