"""Rewrites towards the form a person writes, beyond the normal form kept by the constructors.

Each rewrite must make the expression smaller (fewer nodes), so the loop ends.  Today:
a sum whose terms share a last (or first) matrix factor and carry only numeric
coefficients is factored, ``A x + A^T x -> (A + A^T) x``; sums weighted by symbolic
scalars (``2 (x^T B x) A x + 2 (x^T A x) B x``) are left expanded, as the notes write them.
"""

from __future__ import annotations

from . import expr as E


def size(e: E.Expr) -> int:
    seen: dict = {}

    def count(node):
        if node not in seen:
            seen[node] = 1 + sum(count(k) for k in node.children())
        return seen[node]

    return count(e)


def _chain(term: E.Expr):
    """(numeric coefficient, factors) of a term: ``-2 A B x -> (-2, [A, B, x])``."""
    c, rest = E.split_coefficient(term)
    if isinstance(rest, E.Scale) or E.is_scalar_product(rest):
        return None  # a symbolic scalar weight: left expanded
    factors = list(rest.factors) if isinstance(rest, E.MatMul) else [rest]
    return c, factors


def _factor_sum(e: E.Add, side: int) -> E.Expr:
    """Factor out a matrix shared at the end (side=-1) or the start (side=0) of several terms."""
    groups: dict = {}
    for term in e.terms:
        chain = _chain(term)
        key = chain[1][side] if chain and len(chain[1]) >= 2 else None
        groups.setdefault(key, []).append(term)
    out = []
    for key, terms in groups.items():
        if key is None or len(terms) < 2:
            out.extend(terms)
            continue
        rests = []
        for term in terms:
            c, factors = _chain(term)
            rest = factors[:-1] if side == -1 else factors[1:]
            rests.append(E.scale(E.Const(c), E.matmul(*rest)) if not E.is_scalar(E.matmul(*rest)) else E.mul(E.Const(c), E.matmul(*rest)))
        inner = simplify(E.add(*rests))
        out.append(E.mul(inner, key) if side == -1 else E.mul(key, inner))
    return E.add(*out)


def simplify(e: E.Expr) -> E.Expr:
    memo: dict = {}

    def walk(node):
        if node in memo:
            return memo[node]
        rebuilt = _rebuild(node, walk)
        if isinstance(rebuilt, E.Add) and not E.is_scalar(rebuilt):
            for side in (-1, 0):
                candidate = _factor_sum(rebuilt, side)
                if size(candidate) < size(rebuilt):
                    rebuilt = candidate
                    break
        memo[node] = rebuilt
        return rebuilt

    return walk(e)


def _rebuild(node: E.Expr, f) -> E.Expr:
    """The node with simplified children, built again through the smart constructors."""
    kids = node.children()
    if not kids:
        return node
    new = [f(k) for k in kids]
    if all(a is b for a, b in zip(kids, new)):
        return node
    return rebuild(node, new)


def rebuild(node: E.Expr, kids: list) -> E.Expr:
    """Build ``node`` again from new children through the smart constructors."""
    t = type(node)
    if t is E.Add:
        return E.add(*kids)
    if t is E.MatMul:
        return E.matmul(*kids)
    if t is E.Hadamard:
        out = kids[0]
        for k in kids[1:]:
            out = E.hadamard(out, k)
        return out
    constructors = {
        E.Scale: E.scale, E.Transpose: E.transpose, E.Inverse: E.inverse, E.Det: E.det, E.LogDet: E.logdet,
        E.Trace: E.trace, E.Sum: E.sum_entries, E.Norm: E.norm, E.DiagMatrix: E.diag, E.DiagVector: E.diag,
        E.Softmax: E.softmax, E.LogSumExp: E.logsumexp, E.Kron: E.kron,
    }
    if t in constructors:
        return constructors[t](*kids)
    if t is E.Power:
        return E.power(kids[0], node.exponent)
    if t is E.MatPower:
        return E.power(kids[0], node.exponent)
    if t is E.ElemPower:
        return E.elem_power(kids[0], node.exponent)
    if t is E.Apply:
        return E.apply(node.fn, kids[0])
    return node.map_children(dict(zip(node.children(), kids)).get)
