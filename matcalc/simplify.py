"""Rewrites towards the form a person writes, beyond the normal form kept by the constructors.

Each rewrite must make the expression smaller (fewer nodes), so the loop ends.  Today:
terms that differ only in their scalar weights are collected, ``a M + b M -> (a + b) M``;
a sum whose terms share a last (or first) matrix factor and carry only numeric
coefficients is factored, ``A x + A^T x -> (A + A^T) x``; sums weighted by symbolic
scalars (``2 (x^T B x) A x + 2 (x^T A x) B x``) are left expanded, as the notes write them;
Kronecker products sharing a factor are collected, ``a kron(A, B) + b kron(A, C) -> kron(A, a B + b C)``.
"""

from __future__ import annotations

from collections import Counter
from fractions import Fraction
from functools import reduce

from . import expr as E
from .expr.predicates import cached_on_node
from .expr.recording import cached_citing
from .shapes import is_one


@E.cached_on_node
def size(e: E.Expr) -> int:
    """The number of distinct nodes of the DAG below e."""
    return sum(1 for _ in E.nodes(e))


@E.cached_on_node
def weight(e: E.Expr) -> int:
    """The number of nodes of e written out as a tree: what a rewrite must make smaller.
    Cached on each node, so measuring a new candidate costs only its new nodes."""
    return 1 + sum(weight(k) for k in e.children())


def _chain(term: E.Expr):
    """(symbolic scalar weight, factors) of a term: ``-2 (x^T x) A B x -> (-2 (x^T x), [A, B, x])``."""
    if isinstance(term, E.Scale):
        weight, rest = term.coeff, term.arg
    else:
        weight, rest = E.ONE, term
    return weight, list(rest.factors) if isinstance(rest, E.MatMul) else [rest]


def _factor_sum(e: E.Add, side: int) -> E.Expr:
    """Factor out a matrix shared at the end (side=-1) or the start (side=0) of several terms
    that carry the same symbolic weight: ``A x + A^T x -> (A + A^T) x``."""
    groups: dict = {}
    for term in e.terms:
        weight, factors = _chain(term)
        symbolic = E.split_coefficient(weight)[1]
        # outer products u v^T share v^T whatever their weights: -y x^T + c s x^T = (c s - y) x^T;
        # so do a matrix's products with vectors: c W^T s - W^T y = W^T (c s - y)
        outer = len(factors) >= 2 and (is_one(factors[side].shape[0 if side == -1 else 1])
                                       or is_one(term.shape[1 if side == 0 else 0]))
        # a shared ones stays with each term: the text writes broadcasts (C + u + v) without it
        shared = len(factors) >= 2 and not isinstance(factors[side], E.Ones)
        key = ((None if outer else E._term_key(symbolic)), factors[side]) if shared else None
        groups.setdefault(key, []).append(term)
    if all(key is None or len(terms) < 2 for key, terms in groups.items()):
        return e  # nothing shared
    out = []
    for key, terms in groups.items():
        if key is None or len(terms) < 2:
            out.extend(terms)
            continue
        rests, symbolic = [], E.ONE
        for term in terms:
            weight, factors = _chain(term)
            number, symbolic = E.split_coefficient(weight)
            rest = E.matmul(*(factors[:-1] if side == -1 else factors[1:]))
            rests.append(E.mul(E.Const(number) if key[0] is not None else weight, rest))
        inner = simplify(E.add(*rests))
        shared = key[1]
        product = E.mul(inner, shared) if side == -1 else E.mul(shared, inner)
        out.append(E.mul(symbolic, product) if key[0] is not None else product)
    return E.add(*out)


def _collect_weights(e: E.Add) -> E.Expr:
    """Terms that differ only in their scalar weights share the matrix: ``a M + b M -> (a + b) M``."""
    groups: dict = {}
    for term in e.terms:
        weight, rest = (term.coeff, term.arg) if isinstance(term, E.Scale) else (E.ONE, term)
        # as in _factor_sum, a broadcast (a ones + b ones, printed a + b) keeps its terms
        key = rest if not isinstance(rest, E.Ones) else term
        groups.setdefault(key, (rest, []))[1].append(weight)
    if len(groups) == len(e.terms):
        return e  # nothing shared
    return E.add(*(E.scale(simplify(E.add(*weights)), rest) for rest, weights in groups.values()))


def _scalar_factors(weight: E.Expr) -> list:
    return list(weight.factors) if isinstance(weight, E.MatMul) and E.is_scalar_product(weight) else [weight]


def _common_weight(e: E.Add) -> E.Expr:
    """A symbolic scalar factor of every term's weight taken out of the sum:
    ``s / n - y / n -> (s - y) / n``, ``lambda A x + lambda b -> lambda (A x + b)``."""
    weights = [term.coeff if isinstance(term, E.Scale) else None for term in e.terms]
    if any(w is None for w in weights):
        return e
    common = Counter(f for f in _scalar_factors(weights[0]) if not isinstance(f, E.Const))
    for w in weights[1:]:
        common &= Counter(_scalar_factors(w))
    if not common:
        return e
    shared = list(common.elements())

    def rest_of(weight):
        left = Counter(_scalar_factors(weight)) - common
        return reduce(E.mul, left.elements()) if left else E.ONE

    return E.scale(reduce(E.mul, shared), E.add(*(E.scale(rest_of(w), term.arg) for w, term in zip(weights, e.terms))))


def _collect_kron(e: E.Add) -> E.Expr:
    """Kronecker products with the same left (or right) factor: by bilinearity,
    ``a kron(A, B) + b kron(A, C) -> kron(A, a B + b C)``."""
    for side in ("left", "right"):
        groups: dict = {}
        for term in e.terms:
            weight, rest = (term.coeff, term.arg) if isinstance(term, E.Scale) else (E.ONE, term)
            key = getattr(rest, side) if isinstance(rest, E.Kron) else ("alone", term)
            groups.setdefault(key, []).append((weight, rest))
        if all(len(members) < 2 for members in groups.values()):
            continue
        out = []
        for key, members in groups.items():
            if len(members) < 2:
                out.extend(E.scale(w, r) if w != E.ONE else r for w, r in members)
                continue
            other = "right" if side == "left" else "left"
            inner = simplify(E.add(*(E.scale(w, getattr(r, other)) if w != E.ONE else getattr(r, other)
                                     for w, r in members)))
            out.append(E.kron(key, inner) if side == "left" else E.kron(inner, key))
        return E.add(*out)
    return e


def _logistic(e: E.Expr) -> E.Expr | None:
    """exp(z) ./ (1 + exp(z)) -> sigmoid(z) and 1 ./ (1 + exp(z)) -> sigmoid(-z)."""
    if not (isinstance(e, E.Hadamard) or E.is_scalar_product(e)):
        return None
    factors = list(e.factors)
    for i, f in enumerate(factors):
        base = f.arg if isinstance(f, E.ElemPower) else f.base if isinstance(f, E.Power) else None
        if base is None or f.exponent != -1 or not isinstance(base, E.Add) or len(base.terms) != 2:
            continue
        one, ez = base.terms
        if one not in (E.ONE, E.Ones(base.shape)) or not (isinstance(ez, E.Apply) and ez.fn == "exp"):
            continue
        rest = factors[:i] + factors[i + 1:]
        if ez in rest:
            rest.remove(ez)
            rest.append(E.apply("sigmoid", ez.arg))
        else:
            rest.append(E.apply("sigmoid", E.neg(ez.arg)))
        combine = E.hadamard if isinstance(e, E.Hadamard) else E.mul
        return reduce(combine, rest)
    return None


def _ratio_cancel(e: E.Expr) -> E.Expr | None:
    """u^T (v ./ u) -> sum(v): an inner product whose element-wise form cancels."""
    if not (isinstance(e, E.MatMul) and len(e.factors) == 2 and E.is_scalar(e)):
        return None
    row, col = e.factors
    a, b = E.transpose(row), col
    for p, q in ((a, b), (b, a)):
        if isinstance(q, E.Hadamard) and E.elem_power(p, -1) in q.factors:
            return E.sum_entries(E.hadamard(p, q))
    return None


MAX_MONOMIALS = 32  # element-wise products expanded at most this far: beyond it no collection pays


@cached_on_node  # subexpressions shared along many paths are opened once: linear in the DAG
def _monomials(term: E.Expr):
    """``term`` as a sum of element-wise monomials ``(number, symbolic weight, factors)``, element-wise
    products opened over the sums among their factors: ``(1 - y) .* s -> s - y .* s``; None when it
    would have more than MAX_MONOMIALS terms."""
    number, rest = E.split_coefficient(term)
    weight = E.ONE
    if isinstance(rest, E.Scale):
        weight, rest = rest.coeff, rest.arg
        if isinstance(weight, E.Add):  # a weight that is a sum of scalars distributes too: (c + 1) s = c s + s
            parts = [_monomials(E.scale(w, rest)) for w in weight.terms]
            if any(p is None for p in parts) or sum(map(len, parts)) > MAX_MONOMIALS:
                return None
            return [(number * c, w, fs) for p in parts for c, w, fs in p]
    if isinstance(rest, E.Add):
        parts = [_monomials(t) for t in rest.terms]
        if any(p is None for p in parts) or sum(map(len, parts)) > MAX_MONOMIALS:
            return None
        return [(number * c, E.mul(weight, w), fs) for p in parts for c, w, fs in p]
    if isinstance(rest, E.Ones):
        return [(number, weight, ())]
    if not isinstance(rest, E.Hadamard):
        return [(number, weight, (rest,))]
    out = [(number, weight, ())]
    for f in rest.factors:
        expanded = _monomials(f) if isinstance(f, E.Add) else [(Fraction(1), E.ONE, (f,))]
        if expanded is None or len(out) * len(expanded) > MAX_MONOMIALS:
            return None
        out = [(c * d, E.mul(w, v), fs + gs) for c, w, fs in out for d, v, gs in expanded]
    return out


def _monomial_key(weight: E.Expr, factors) -> tuple:
    """Alike monomials have equal keys: their factors' bases with exponents added (s .* s and s .^ 2),
    in any order, and their weights' symbolic parts."""
    exponents: dict = {}
    for f in factors:
        base, p = (f.arg, f.exponent) if isinstance(f, E.ElemPower) else (f, 1)
        exponents[base] = exponents.get(base, 0) + p
    return E._term_key(E.split_coefficient(weight)[1]), frozenset((b, p) for b, p in exponents.items() if p != 0)


def _collect_elementwise(e: E.Expr) -> E.Expr | None:
    """A sum with element-wise products of sums among its terms, opened and collected:
    ``(1 - y) .* s - y .* (1 - s) -> s - y``, as the gradient of the logistic loss written out
    with both of its logs becomes ``X^T (sigmoid(X w) - y)``.  Products of the same factors in
    another order are like terms (``y .* s`` and ``s .* y``)."""
    if not isinstance(e, E.Add) or E.is_scalar(e):
        return None
    if not any(isinstance(r := (t.arg if isinstance(t, E.Scale) else t), E.Hadamard)
               and any(isinstance(f, E.Add) for f in r.factors) for t in e.terms):
        return None  # no element-wise product of a sum: nothing to open
    monomials = _monomials(e)
    if monomials is None or len({_monomial_key(w, fs) for _, w, fs in monomials}) == len(monomials):
        return None  # no two alike: opening the products collects nothing (and is checked before it is built)
    collected: dict = {}
    for c, w, fs in monomials:
        # the product as hadamard() writes it (s .* s = s .^ 2, numbers in front), then keyed by its
        # factors whatever their order
        number, product = E.split_coefficient(reduce(E.hadamard, fs) if fs else E.Ones(e.shape))
        scalar, weight = E.split_coefficient(w)
        if isinstance(product, E.Zero):
            continue
        factors = product.factors if isinstance(product, E.Hadamard) else (product,)
        key = (E._term_key(weight), frozenset(Counter(factors).items()))
        entry = collected.setdefault(key, [Fraction(0), weight, product])
        entry[0] += c * number * scalar
    terms = [E.mul(E.Const(number), E.scale(weight, product)) for number, weight, product in collected.values()
             if number != 0]
    return E.add(*terms) if terms else E.Zero(e.shape)


REWRITES = [_logistic, _ratio_cancel, _collect_elementwise]
# on a sum of matrices, in this order, each returning the sum itself where it does not apply
MATRIX_SUM_REWRITES = [_collect_weights, _common_weight, _collect_kron]


@cached_citing
def simplify(node: E.Expr) -> E.Expr:
    """The simplified form, remembered on each node so that results sharing subexpressions
    (every gradient of a network) simplify them once; a derivation that records sees the
    identities of the normal form it used, each time."""
    rebuilt = rebuild_with(node, simplify)
    for rewrite in REWRITES:
        candidate = rewrite(rebuilt)
        if candidate is not None and weight(candidate) < weight(rebuilt):
            rebuilt = simplify(candidate)
    for rewrite in MATRIX_SUM_REWRITES:
        if isinstance(rebuilt, E.Add) and not E.is_scalar(rebuilt):
            candidate = rewrite(rebuilt)
            if candidate is not rebuilt and weight(candidate) < weight(rebuilt):
                rebuilt = simplify(candidate)
    if isinstance(rebuilt, E.Add) and not E.is_scalar(rebuilt):
        for side in (-1, 0):
            candidate = _factor_sum(rebuilt, side)
            if candidate is not rebuilt and weight(candidate) < weight(rebuilt):
                rebuilt = candidate
                break
    return rebuilt


def rebuild_with(node: E.Expr, f) -> E.Expr:
    """The node with simplified children, built again through the smart constructors."""
    kids = node.children()
    if not kids:
        return node
    new = [f(k) for k in kids]
    if all(a is b for a, b in zip(kids, new, strict=False)):
        return node
    return E.rebuild(node, new)
