"""The normal form: the smart constructors, and the identities they apply, one named row each.

Every expression is built through the constructors of this module (``add``, ``mul``,
``transpose``, ...), never from the node classes directly, so that every tree is in a light
normal form where equal things look equal:

* numbers fold, and 0 and 1 act as they do on numbers (``1 U = U``, ``U + 0 = U``, ``0 U = 0``,
  ``U^1 = U``, ``U .^ 0 = ones``); the zero matrix of a shape is ``Zero``, however it arose;
* sums and products are flat, a product's scalar factors gathered in front (``Scale``), a
  sum's terms in the order people write them (a positive term first, ``A`` before ``A^T``);
* a scalar added to a matrix is repeated by ones (``s ones ones^T``), as NumPy broadcasts;
* and every identity in the tables below is applied from left to right: transposes move in
  to the leaves, like terms are collected (``A x + A x = 2 A x``), ``S^T = S`` for symmetric
  S, ``tr(a b^T) = b^T a``, ...

Each constructor tries the rows of its tables in order: the first row of a table that applies
to a node gives the result (``TRACE_IDENTITIES``), while the rows of a ``sequence`` each
rewrite a list of terms or factors in turn (``SUM_IDENTITIES``).  A row reads like a row of
``differential.RULES`` (see ``tables``); ``recording`` lists the rows that fire, and
``TABLES`` every table.  The arithmetic of numbers above is plain code, not rows.  Heavier
rewriting, which must pay for itself in size, lives in ``simplify``.
"""

from __future__ import annotations

from collections import Counter
from fractions import Fraction
from functools import reduce

from .. import kinds
from ..errors import MatcalcError, ShapeError
from ..functions import with_defaults
from ..shapes import is_column_shape, is_one, is_scalar_shape, product_dim, resolve, unified_now, unify
from .nodes import (
    Add,
    Apply,
    Commutation,
    Const,
    Count,
    Det,
    DiagMatrix,
    DiagVector,
    Differential,
    ElemPower,
    Expr,
    Hadamard,
    Identity,
    Inverse,
    Kron,
    LogDet,
    LogSoftmax,
    LogSumExp,
    MatMul,
    MatPower,
    Mean,
    Norm,
    Ones,
    Power,
    Scale,
    Softmax,
    Std,
    Sum,
    Symbol,
    Trace,
    Transpose,
    Var,
    Vec,
    Zero,
    axis_shape,
    described,
    require_scalar,
    require_square,
    text_of,
)
from .numbers import MAX_BITS, bits, checked_number, exact_power, require_small
from .predicates import cached_on_node, const_value, is_scalar, is_scalar_product, is_square
from .recording import cached_citing, unrecorded
from .tables import first_identity, pair_table, rewritten, sequence, table

ONE = Const(Fraction(1))


def const(value) -> Expr:
    """A number; zero is ``Zero``, the one zero the constructors know (``sum(x - x)`` is it too)."""
    value = Fraction(value)
    return Zero((1, 1)) if value == 0 else Const(value)


def zero_like(e: Expr) -> Zero:
    return Zero(e.shape)


# ---------------------------------------------------------------- sums


@cached_on_node
def split_coefficient(e: Expr) -> tuple[Fraction, Expr]:
    """``e = c * rest`` with c a number (asked of every term each time a sum is built)."""
    if isinstance(e, Const):
        return e.value, ONE
    if isinstance(e, Scale):
        c, rest = split_coefficient(e.coeff)
        return c, scale(rest, e.arg)
    if is_scalar_product(e) and isinstance(e.factors[0], Const):
        return e.factors[0].value, reduce(mul, e.factors[1:])
    return Fraction(1), e


def _term_key(e: Expr):
    """Like terms have equal keys: the order of scalar factors does not matter."""
    if isinstance(e, Scale):
        return ("scale", _term_key(e.coeff), _term_key(e.arg))
    if is_scalar_product(e):
        return ("product", frozenset(Counter(e.factors).items()))
    if isinstance(e, (Identity, Ones, Zero)):  # while parsing, two `I` carry placeholders that unify later
        return (type(e).__name__, tuple(resolve(d) for d in e.shape))
    if isinstance(e, Count):
        return ("Count", resolve(e.n))
    return e


def broadcast_shape(terms, what: str):
    """The common shape of terms that NumPy would broadcast together."""
    dims = []
    for axis in (0, 1):
        sized = [t for t in terms if not is_one(t.shape[axis])]
        dim = sized[0].shape[axis] if sized else 1
        for t in sized[1:]:
            dim = unify(dim, t.shape[axis], lambda t=t, s=sized[0]: f"cannot {what} {described(s)} and {described(t)}")
        dims.append(dim)
    shape = tuple(dims)
    if not all(is_scalar(t) for t in terms) and not any(
        all(not is_one(t.shape[a]) or is_one(shape[a]) for a in (0, 1)) for t in terms
    ):
        a, b = terms[0], terms[1]
        raise ShapeError(f"cannot {what} {described(a)} and {described(b)}: a row and a column do not broadcast")
    return shape


def broadcast_to(e: Expr, shape) -> Expr:
    """Repeat a scalar, row or column to fill ``shape``: ``s ones``, ``ones r``, ``c ones^T``."""
    rows_fit, cols_fit = is_one(e.shape[0]) == is_one(shape[0]), is_one(e.shape[1]) == is_one(shape[1])
    if rows_fit and cols_fit:
        return e
    if isinstance(e, (Zero, Ones)):
        return type(e)(shape)
    if is_scalar(e):
        return scale(e, Ones(shape))
    if cols_fit:
        return mul(Ones((shape[0], 1)), e)
    return mul(e, Ones((1, shape[1])))


def _open_nested_sums(terms) -> list | None:
    """The terms with every sum among them opened, its number multiplying each of its terms;
    None when there is none.  A lone sum stays whole: ``2 (a + b)`` is one term."""
    if len(terms) < 2:
        return None
    flat = None
    for i, t in enumerate(terms):
        c, rest = split_coefficient(t)
        # a sum of scalars repeated, (a + b) ones, is a sum of repeats: the text a vector plus 4 (a + b) reads so
        repeated = isinstance(rest, Scale) and isinstance(rest.arg, Ones)
        inner = split_coefficient(rest.coeff) if repeated else (Fraction(1), None)
        if isinstance(rest, Add) or isinstance(inner[1], Add):
            parts = rest.terms if isinstance(rest, Add) else [scale(u, rest.arg) for u in inner[1].terms]
            flat = list(terms[:i]) if flat is None else flat
            flat.extend(mul(Const(c * inner[0]), u) for u in parts)
        elif flat is not None:
            flat.append(t)
    return flat


def _collect_like_terms(terms) -> list | None:
    """Terms equal but for their numbers as one term, their numbers added; None when no two are alike."""
    coefficients: dict = {}
    representative: dict = {}
    for t in terms:
        c, rest = split_coefficient(t)
        k = _term_key(rest)
        coefficients[k] = coefficients.get(k, 0) + c
        representative.setdefault(k, rest)
    if len(coefficients) == len(terms):
        return None
    return [representative[k] if c == 1 else scale(Const(c), representative[k]) for k, c in coefficients.items() if c != 0]


def _open_transposed_sums(terms) -> list | None:
    """The transpose of a sum inside a sum taken term by term, where terms then cancel or combine:
    A + (A - A^T)^T - A^T is A + A^T - A - A^T, which is 0."""
    def opened():
        out = []
        for t in terms:
            c, rest = split_coefficient(t)
            if isinstance(rest, Transpose) and isinstance(rest.arg, Add):
                out.extend(mul(Const(c), transpose(u)) for u in rest.arg.terms)
            else:
                out.append(t)
        return out

    if not any(isinstance(r := split_coefficient(t)[1], Transpose) and isinstance(r.arg, Add) for t in terms):
        return None
    collected = unrecorded(lambda: _collect_like_terms(opened()))()
    if collected is None or len(collected) >= len(terms):
        return None
    return opened()


# fmt: off
SUM_IDENTITIES = sequence(
    ("a sum inside a sum opens, a number distributing over it", "a - (b - c) = a - b + c",  _open_nested_sums),
    ("a transposed sum inside a sum opens where terms cancel", "A + (A - A^T)^T = A + A^T - A", _open_transposed_sums),
    ("like terms are collected",                                "A x + A x = 2 A x",        _collect_like_terms),
)
# fmt: on
_OPEN_NESTED_SUMS, _OPEN_TRANSPOSED_SUMS, _LIKE_TERMS = SUM_IDENTITIES


def add(*terms: Expr) -> Expr:
    flat = rewritten(_OPEN_NESTED_SUMS, terms)
    shape = broadcast_shape(flat, "add") if len(flat) > 1 else flat[0].shape
    kept = [t for t in (broadcast_to(t, shape) for t in flat) if not isinstance(t, Zero)]
    kept = rewritten(_LIKE_TERMS, rewritten(_OPEN_TRANSPOSED_SUMS, kept))
    # as people write them: a positive term first (s - y, not -y + s), A before A^T (A + A^T)
    bare = [split_coefficient(t)[1] for t in kept]
    mixed = not _negative_only(kept)
    kept = sorted(kept, key=lambda t: (mixed and split_coefficient(t)[0] < 0,
                                       isinstance(b := split_coefficient(t)[1], Transpose) and b.arg in bare))
    if not kept:
        return Zero(shape)
    return kept[0] if len(kept) == 1 else Add(tuple(kept))


def _negative_only(terms) -> bool:
    return all(split_coefficient(t)[0] < 0 for t in terms)


def neg(e: Expr) -> Expr:
    return scale(const(-1), e)


def sub(a: Expr, b: Expr) -> Expr:
    return add(a, neg(b))


# ---------------------------------------------------------------- scalings and products of scalars


# fmt: off
def _divided_by(s: Expr, n) -> Expr | None:
    """``s size[n]`` where s divides by the size n (``-1 / size[n]`` gives -1), else None."""
    factors = s.factors if is_scalar_product(s) else (s,)
    for f in factors:
        if isinstance(f, Power) and f.exponent == -1 and isinstance(f.base, Count) and resolve(f.base.n) == resolve(n):
            return mul(s, f.base)
    return None


def _means_of_rows(s: Expr, m: MatMul):
    """U ones ones^T / n = mean(U, 2) ones^T for U with n columns, and ones ones^T U / n = ones mean(U, 1)
    for U with n rows: a mean repeated, as the papers write the gradients of normalisation layers."""
    first, last = m.factors[0], m.factors[-1]
    if isinstance(last, Ones) and len(m.factors) > 1 and not is_one(last.shape[0]):
        rest = _divided_by(s, last.shape[0])
        if rest is not None:
            u = matmul(*m.factors[:-1])
            return scale(rest, mul(mean(u, 2), transpose(Ones((last.shape[1], 1)))))
    if isinstance(first, Ones) and len(m.factors) > 1 and not is_one(first.shape[1]):
        rest = _divided_by(s, first.shape[1])
        if rest is not None:
            u = matmul(*m.factors[1:])
            return scale(rest, mul(Ones((first.shape[0], 1)), mean(u, 1)))
    return None


SCALE_IDENTITIES = table(  # on the scaled matrix
    (Scale, "scalings combine", "a (b U) = (a b) U", lambda s, m: scale(mul(s, m.coeff), m.arg)),
    (MatMul, "sums over a size, divided by it, are means", "U ones ones^T / n = mean(U, 2) ones^T", _means_of_rows),
)
# fmt: on


def scale(s: Expr, m: Expr) -> Expr:
    """``s m`` for a scalar s."""
    if is_scalar(m):
        return mul(s, m)
    require_scalar(s, "a scaling factor")
    c = const_value(s)
    if c == 1:
        return m
    if c == 0 or isinstance(m, Zero) or isinstance(s, Zero):
        return Zero(m.shape)
    out = first_identity(SCALE_IDENTITIES[type(m)], s, m)
    return Scale(s, m) if out is None else out


def _powers_of_one_scalar(factors) -> list | None:
    """Factors with the same base as one power, their exponents added (a power 0 drops out);
    None when no two share a base."""
    exponents: dict = {}
    for f in factors:
        base, p = (f.base, f.exponent) if isinstance(f, Power) else (f, 1)
        exponents[base] = exponents.get(base, 0) + p
    if len(exponents) == len(factors):
        return None
    return [power(base, p) for base, p in exponents.items() if p != 0]


def _sizes_multiply(factors) -> list | None:
    """Sizes with the same exponent as one size: size[m] size[n] = size[m*n], the count of an m x n
    matrix (so that a mean over all entries divides by one number however it was written)."""
    by_exponent: dict = {}
    for f in factors:
        base, p = (f.base, f.exponent) if isinstance(f, Power) else (f, Fraction(1))
        if isinstance(base, Count):
            by_exponent.setdefault(p, []).append(base)
    if all(len(sizes) < 2 for sizes in by_exponent.values()):
        return None
    kept = [f for f in factors if not isinstance(f.base if isinstance(f, Power) else f, Count)]
    return kept + [power(count(product_dim(*(c.n for c in sizes))), p) for p, sizes in by_exponent.items()]


# fmt: off
SCALAR_PRODUCT_IDENTITIES = sequence(  # on the factors of a product of scalars, numbers aside
    ("powers of one scalar add", "s^p s^q = s^(p+q)", _powers_of_one_scalar),
    ("sizes multiply",           "size[m] size[n] = size[m*n]", _sizes_multiply),
)
# fmt: on
_POWERS_OF_ONE_SCALAR, _SIZES_MULTIPLY = SCALAR_PRODUCT_IDENTITIES


def _scalar_product(a: Expr, b: Expr) -> Expr:
    number = Fraction(1)
    factors = []
    for f in (*(a.factors if is_scalar_product(a) else [a]), *(b.factors if is_scalar_product(b) else [b])):
        if isinstance(f, Zero):
            return Zero((1, 1))
        if isinstance(f, Const):
            number *= f.value
        else:
            factors.append(f)
    if number == 0:
        return Zero((1, 1))
    merged = rewritten(_SIZES_MULTIPLY, rewritten(_POWERS_OF_ONE_SCALAR, factors))
    if merged is not factors:  # a power may have folded to a number: 2^(1/2) 2^(1/2) = 2
        factors = []
        for f in merged:
            if isinstance(f, Const):
                number *= f.value
            else:
                factors.append(f)
    # denominators last, as a fraction is written (and printed, so that the text parses back alike)
    factors.sort(key=lambda f: isinstance(f, Power) and f.exponent < 0)
    if number != 1 or not factors:
        factors.insert(0, Const(number))
    return factors[0] if len(factors) == 1 else MatMul(tuple(factors))


# ---------------------------------------------------------------- matrix products


def _sign_of_negative_sum(g: Add) -> Expr | None:
    if all(split_coefficient(t)[0] < 0 for t in g.terms):
        return neg(add(*map(neg, g.terms)))
    return None


def _all_ones(a: Ones, b: Ones):
    return (Ones((a.shape[0], b.shape[1])),) if is_one(b.shape[0]) else None


def _identity_selects(a: DiagMatrix, b: DiagMatrix):
    """diag(vec(I)) diag(vec(B)) = diag(vec(I .* B)), for B square as I is: the embedding of diag
    times a diagonal written as one diagonal, so that B's sizes are I's when read again."""
    for first, second in ((a, b), (b, a)):
        if (isinstance(first.arg, Vec) and isinstance(first.arg.arg, Identity) and isinstance(second.arg, Vec)
                and unified_now(second.arg.arg.shape[0], second.arg.arg.shape[1]) is not None
                and unified_now(first.arg.arg.n, second.arg.arg.shape[0]) is not None):
            return (diag(vec(hadamard(first.arg.arg, second.arg.arg))),)
    return None


def _ones_row_diag(a: Ones, b: DiagMatrix):
    return (transpose(b.arg),) if is_one(a.shape[0]) else None


def _diag_ones(a: DiagMatrix, b: Ones):
    return (a.arg,) if is_one(b.shape[1]) else None


def _mixed_product(a: Kron, b: Kron):
    fits = resolve(a.left.shape[1]) == resolve(b.left.shape[0]) and resolve(a.right.shape[1]) == resolve(b.right.shape[0])
    return (kron(mul(a.left, b.left), mul(a.right, b.right)),) if fits else None


def _fits(dims, shape) -> bool:
    return all(resolve(a) == resolve(b) for a, b in zip(dims, shape, strict=True))


def _vec_of(e: Expr) -> Expr | None:
    """V for vec(V), or for vec(V)^T; None where V holds a differential (J vec(dX) is kept as written)."""
    v = e.arg if isinstance(e, Vec) else e.arg.arg if isinstance(e, Transpose) and isinstance(e.arg, Vec) else None
    if v is None or any(isinstance(s, Differential) for s in v.free):
        return None
    return v


def _kron_vec(a: Kron, b: Vec):
    v = _vec_of(b)
    fits = v is not None and _fits((a.right.shape[1], a.left.shape[1]), v.shape)
    return (vec(mul(mul(a.right, v), transpose(a.left))),) if fits else None


def _vec_row_kron(a: Transpose, b: Kron):
    v = _vec_of(a)
    fits = v is not None and _fits((b.right.shape[0], b.left.shape[0]), v.shape)
    return (transpose(vec(mul(mul(transpose(b.right), v), b.left))),) if fits else None


def _kron_ones(a: Kron, b: Ones):
    # the ones of (A kron B) ones are kron(ones, ones), of A's columns and of B's
    if not is_one(b.shape[1]):
        return None
    return (kron(mul(a.left, Ones((a.left.shape[1], 1))), mul(a.right, Ones((a.right.shape[1], 1)))),)


def _commutation_vec(a: Commutation, b: Vec):
    v = _vec_of(b)
    return (vec(transpose(v)),) if v is not None and _fits(a.dims, v.shape) else None


def _vec_row_commutation(a: Transpose, b: Commutation):
    v = _vec_of(a)
    return (transpose(vec(transpose(v))),) if v is not None and _fits(b.dims, v.shape[::-1]) else None


def _commutations_cancel(a: Commutation, b: Commutation):
    return () if _fits(a.dims, (b.dims[1], b.dims[0])) else None


def _commuted_kron(coeff: Expr, factors: list):
    """K(p,m) (A kron B) K(n,q) = B kron A for A m x n and B p x q (Magnus and Neudecker)."""
    for i in range(len(factors) - 2):
        left, ab, right = factors[i:i + 3]
        if isinstance(left, Commutation) and isinstance(ab, Kron) and isinstance(right, Commutation):
            (m, n), (p, q) = ab.left.shape, ab.right.shape
            if _fits(left.dims, (p, m)) and _fits(right.dims, (n, q)):
                return coeff, [*factors[:i], kron(ab.right, ab.left), *factors[i + 3:]]
    return None


def _into_kron_with_a_row(a: Expr, b: Kron):
    """M (r kron B) = r kron (M B) for a row r: M is 1 kron M, and the mixed product applies."""
    if is_one(b.left.shape[0]) and not is_scalar(a) and not isinstance(a, (Kron, Commutation)) \
            and resolve(a.shape[1]) == resolve(b.right.shape[0]):
        return (kron(b.left, mul(a, b.right)),)
    return None


def _power_base(e: Expr) -> Expr:
    return e.arg if isinstance(e, MatPower) else e


def _power_exponent(e: Expr) -> int:
    return e.exponent if isinstance(e, MatPower) else 1


def _orthogonal_cancels(a: Transpose, b: Expr):
    return () if a.arg == b and kinds.declared(b, kinds.ORTHOGONAL) else None


def _rows_sum_to_one(a: Expr, b: Ones):
    return (Ones((a.shape[0], b.shape[1])),) if kinds.declared(a, kinds.ROWS_SUM_TO_ONE) else None


def _matrix_powers_add(a: Expr, b: Expr):
    base = _power_base(b)
    if _power_base(a) == base and not is_one(b.shape[0]):
        return (power(base, _power_exponent(a) + _power_exponent(b)),)
    return None


def _scalar_chain_to_front(coeff: Expr, factors: list):
    pulled = _pull_scalar_chains(coeff, factors)
    return None if pulled[1] is factors else pulled


def _pull_scalar_chains(coeff: Expr, factors: list) -> tuple[Expr, list]:
    """In a chain such as ``s ones^T y`` or ``a b^T c d^T``, a scalar sub-chain moves to the front:
    ``(ones^T y) s``, ``(b^T c) a d^T``."""
    if is_scalar_shape((factors[0].shape[0], factors[-1].shape[1])):
        return coeff, factors
    for i, first in enumerate(factors):
        if not is_one(first.shape[0]):
            continue
        for j in range(i, len(factors)):
            if is_one(factors[j].shape[1]) and (i, j) != (0, len(factors) - 1):
                inner = matmul(*factors[i:j + 1])
                rest = factors[:i] + factors[j + 1:]
                return _pull_scalar_chains(mul(coeff, inner), rest) if rest else (mul(coeff, inner), [])
        break
    return coeff, factors


def _ones_times_ones(coeff: Expr, factors: list):
    """(ones ones^T)(ones ones^T) = n ones ones^T: each entry of a product of all-ones matrices
    counts the n terms of its inner product."""
    for i in range(len(factors) - 1):
        a, b = factors[i], factors[i + 1]
        if isinstance(a, Ones) and isinstance(b, Ones) and not is_one(a.shape[1]):
            merged = Ones((a.shape[0], b.shape[1]))
            rest = factors[:i] + ([merged] if not is_scalar_shape(merged.shape) else []) + factors[i + 2:]
            return mul(coeff, count(a.shape[1])), rest
    return None


def _ones_inner_product(coeff: Expr, factors: list):
    if len(factors) == 2 and is_scalar_shape((factors[0].shape[0], factors[1].shape[1])):
        for a, b in (factors, factors[::-1]):
            if isinstance(a, Ones):
                return coeff, [sum_entries(b if is_one(b.shape[1]) else transpose(b))]
    return None


# fmt: off
PRODUCT_FACTOR_IDENTITIES = table(  # on each factor as it joins the chain
    (Add, "a sum of negative terms gives its sign to the product", "(-A - B) C = -(A + B) C", _sign_of_negative_sum),
)
PRODUCT_PAIR_IDENTITIES = pair_table(  # on the last factor of the chain and the one joining it: the factors replacing them
    ((Identity, Expr),     "the identity drops out of a product",       "I U = U",                                lambda a, b: (b,)),
    ((Expr, Identity),     "the identity drops out of a product",       "U I = U",                                lambda a, b: (a,)),
    ((Inverse, Expr),      "a matrix cancels its inverse",              "U^-1 U = I",                             lambda a, b: () if a.arg == b else None),
    ((Expr, Inverse),      "a matrix cancels its inverse",              "U U^-1 = I",                             lambda a, b: () if b.arg == a else None),
    ((Ones, Ones),         "ones times a row of ones",                  "ones ones^T = the all-ones matrix",      _all_ones),
    ((Transpose, Symbol),  "an orthogonal matrix's transpose is its inverse", "Q^T Q = I",                _orthogonal_cancels),
    ((Symbol, Transpose),  "an orthogonal matrix's transpose is its inverse", "Q Q^T = I",                lambda a, b: _orthogonal_cancels(b, a)),
    ((Symbol, Ones),       "the rows of a row-stochastic (or one-hot rows) matrix sum to one", "Y ones = ones", _rows_sum_to_one),
    ((Ones, Transpose),    "the rows of a row-stochastic (or one-hot rows) matrix sum to one", "ones^T Y^T = ones^T", lambda a, b: tuple(transpose(o) for o in _rows_sum_to_one(b.arg, transpose(a)) or ()) or None),
    ((DiagMatrix, DiagMatrix), "the diagonal of the identity selects a diagonal", "diag(vec(I)) diag(vec(B)) = diag(vec(I .* B))", _identity_selects),
    ((Ones, DiagMatrix),   "ones row times a diagonal matrix",          "ones^T diag(v) = v^T",                   _ones_row_diag),
    ((DiagMatrix, Ones),   "a diagonal matrix times ones",              "diag(v) ones = v",                       _diag_ones),
    ((Kron, Kron),         "mixed product of Kronecker products",       "(A kron B)(C kron D) = AC kron BD",      _mixed_product),
    ((Commutation, Commutation), "a commutation matrix cancels its transpose", "K(m,n) K(n,m) = I",           _commutations_cancel),
    ((Expr, Kron),         "a product into a Kronecker product with a row", "M (r kron B) = r kron (M B)",   _into_kron_with_a_row),
    ((Expr, Expr),         "powers of one matrix add",                  "U^j U^k = U^(j+k)",                      _matrix_powers_add),
    ((Kron, Vec),          "a Kronecker product on vec (Roth)",         "(A kron B) vec(V) = vec(B V A^T)",       _kron_vec),
    ((Transpose, Kron),    "vec transposed on a Kronecker product",     "vec(V)^T (A kron B) = vec(B^T V A)^T",   _vec_row_kron),
    ((Commutation, Vec),   "the commutation matrix transposes",         "K vec(V) = vec(V^T)",                    _commutation_vec),
    ((Transpose, Commutation), "the commutation matrix transposes a row", "vec(V)^T K = vec(V^T)^T",              _vec_row_commutation),
    ((Commutation, Ones),  "the commutation matrix permutes ones",      "K ones = ones",                          lambda a, b: (b,) if is_one(b.shape[1]) else None),
    ((Ones, Commutation),  "ones permuted by the commutation matrix",   "ones^T K = ones^T",                      lambda a, b: (a,) if is_one(a.shape[0]) else None),
    ((Kron, Ones),         "a Kronecker product on ones",               "(A kron B) ones = A ones kron B ones",   _kron_ones),
)
PRODUCT_CHAIN_IDENTITIES = sequence(  # on the whole chain, (coefficient, factors): the chain rewritten
    ("a scalar sub-chain moves to the front",                           "a b^T c d^T = (b^T c) a d^T",            _scalar_chain_to_front),
    ("ones times a vector is the sum of its entries",                   "ones^T v = v^T ones = sum(v)",           _ones_inner_product),
    ("a product of all-ones matrices counts its inner size",            "(ones ones^T)(ones ones^T) = n ones ones^T", _ones_times_ones),
    ("commutation matrices swap the factors of a Kronecker product",    "K(p,m) (A kron B) K(n,q) = B kron A",    _commuted_kron),
)
# fmt: on


MAX_JOINS = 4  # joins one product may set off along the chain leftwards: each is a rewrite that shortens it


def mul(a: Expr, b: Expr) -> Expr:
    """The product ``a b``: a matrix product, or a scaling when either side is a scalar."""
    sa, sb = is_scalar(a), is_scalar(b)
    if sa and sb:
        return _scalar_product(a, b)
    if sa:
        return scale(a, b)
    if sb:
        return scale(b, a)
    unify(a.shape[1], b.shape[0], lambda: f"cannot multiply {described(a)} by {described(b)}")
    rows, cols = a.shape[0], b.shape[1]
    if isinstance(a, Zero) or isinstance(b, Zero):
        return Zero((rows, cols))
    coeff: Expr = ONE
    factors: list[Expr] = []

    def push(g: Expr, depth: int = 0):
        """``g`` onto the chain, joined with the factor before it where an identity applies; what a
        join makes may join the factor before that in turn (u (e^T K) -> u kron(ones^T, e^T) -> kron(ones^T, u e^T))."""
        if factors:
            joined = first_identity(PRODUCT_PAIR_IDENTITIES[type(factors[-1]), type(g)], factors[-1], g)
            if joined is not None:  # a product that comes out (diag(v) ones = v) joins the chain
                factors.pop()
                pieces = [h for j in joined for h in (j.factors if isinstance(j, MatMul) and not is_scalar_product(j) else (j,))]
                for i, h in enumerate(pieces):
                    if i == 0 and depth < MAX_JOINS:
                        push(h, depth + 1)
                    else:
                        factors.append(h)
                return
        factors.append(g)

    for f in (a, b):
        if isinstance(f, Scale):
            coeff, f = mul(coeff, f.coeff), f.arg
        for g in f.factors if isinstance(f, MatMul) else [f]:
            signed = first_identity(PRODUCT_FACTOR_IDENTITIES[type(g)], g)
            if signed is not None:
                coeff, g = mul(coeff, signed.coeff), signed.arg
            push(g)
    if len(factors) > 1:
        chain = first_identity(PRODUCT_CHAIN_IDENTITIES, coeff, factors)
        if chain is not None:
            coeff, factors = chain
    if not factors:
        product: Expr = Identity(rows)
    else:
        product = factors[0] if len(factors) == 1 else MatMul(tuple(factors))
    return mul(coeff, product) if coeff != ONE else product


def matmul(*factors: Expr) -> Expr:
    return reduce(mul, factors)


# ---------------------------------------------------------------- transpose, inverse, powers


@cached_on_node
@unrecorded
def is_symmetric(e: Expr) -> bool:
    """True when ``e^T = e`` follows from the structure alone (which transposes tell, so it lives here)."""
    if is_scalar(e) or isinstance(e, (Identity, DiagMatrix)):
        return True
    if isinstance(e, Symbol):
        return kinds.kind_of(e).symmetric
    if isinstance(e, Ones):
        return e.dims[0] == e.dims[1]
    if isinstance(e, (Inverse, MatPower, Apply, ElemPower)):
        return is_symmetric(e.arg)
    if isinstance(e, Scale):
        return is_symmetric(e.arg)
    if isinstance(e, Hadamard):
        return all(is_symmetric(f) for f in e.factors)
    if isinstance(e, Kron):
        return is_symmetric(e.left) and is_symmetric(e.right)
    if isinstance(e, Add):
        return all(is_symmetric(t) for t in e.terms) or Counter(e.terms) == Counter(map(transpose, e.terms))
    if isinstance(e, MatMul):  # a palindrome such as X^T A X with A symmetric
        pairs = list(zip(e.factors, reversed(e.factors)))[:(len(e.factors) + 1) // 2]
        # shapes first: transposing a deep factor only to find the product is no palindrome costs
        # a walk of it, for every carry of a backprop through many layers
        return all(a.shape == b.shape[::-1] for a, b in pairs) and all(a == transpose(b) for a, b in pairs)
    return False


@cached_on_node
def is_diagonal(e: Expr) -> bool:
    """True when ``e`` is diagonal by its structure: a declared diagonal matrix, diag(v), I, and
    their products, sums, scalings, transposes, inverses and powers."""
    if isinstance(e, (Identity, DiagMatrix)) or (isinstance(e, Symbol) and e.kind == "diagonal"):
        return True
    if isinstance(e, (Inverse, MatPower, Transpose, Scale)):
        return is_diagonal(e.arg)
    if isinstance(e, (Add, MatMul)):
        return not is_scalar(e) and all(is_diagonal(f) for f in (e.terms if isinstance(e, Add) else e.factors))
    return False


# fmt: off
TRANSPOSE_IDENTITIES = table(
    (Expr,        "a scalar is its own transpose",               "a^T = a",                      lambda e: e if is_scalar(e) else None),
    (Expr,        "a symmetric matrix is its own transpose",     "S^T = S",                      lambda e: e if is_symmetric(e) else None),
    (Transpose,   "transposing twice",                           "(U^T)^T = U",                  lambda e: e.arg),
    (MatMul,      "the transpose of a product reverses it",      "(U V)^T = V^T U^T",            lambda e: matmul(*(transpose(f) for f in reversed(e.factors)))),
    (Scale,       "the transpose of a scaled matrix",            "(a U)^T = a U^T",              lambda e: scale(e.coeff, transpose(e.arg))),
    (Ones,        "the transpose of an all-ones matrix",         "(ones ones^T)^T = ones ones^T", lambda e: Ones((e.shape[1], e.shape[0]))),
    (Kron,        "the transpose of a Kronecker product",        "(A kron B)^T = A^T kron B^T",  lambda e: kron(transpose(e.left), transpose(e.right))),
    (Commutation, "the transpose of a commutation matrix",       "K(m,n)^T = K(n,m)",            lambda e: Commutation((e.dims[1], e.dims[0]))),
    (MatPower,    "the transpose of a matrix power",             "(U^k)^T = (U^T)^k",            lambda e: power(transpose(e.arg), e.exponent)),
    (Add,         "the transpose of a sum of transposes",        "(U^T - V^T)^T = U - V",        lambda e: _sum_of_transposes(e)),
)
# fmt: on


@cached_on_node
def _transposes(e: Expr) -> int:
    """How many transposes ``e`` prints (a shared subexpression counted at every use)."""
    return isinstance(e, Transpose) + sum(map(_transposes, e.children()))


def _sum_of_transposes(e: Add) -> Expr | None:
    """The transpose of a sum taken term by term where every term is written with fewer transposes
    so: (v^T W^T - t^T)^T is W v - t, while (W x + b)^T and (A - A^T)^T stay as they are."""
    transposed = unrecorded(lambda: [transpose(t) for t in e.terms])()
    if any(_transposes(u) >= _transposes(t) for t, u in zip(e.terms, transposed)):
        return None
    return add(*(transpose(t) for t in e.terms))


@cached_citing
def transpose(e: Expr) -> Expr:
    if isinstance(e, Zero) and not is_scalar(e):
        return Zero((e.shape[1], e.shape[0]))
    out = first_identity(TRANSPOSE_IDENTITIES[type(e)], e)
    return Transpose(e) if out is None else out


# fmt: off
INVERSE_IDENTITIES = table(
    (Expr,      "the inverse of a scalar is its reciprocal",   "inv(a) = a^-1",            lambda e: power(e, -1) if is_scalar(e) else None),
    (Inverse,   "inverting twice",                             "(U^-1)^-1 = U",            lambda e: e.arg),
    (Identity,  "the identity is its own inverse",             "I^-1 = I",                 lambda e: e),
    (Symbol,    "the inverse of an orthogonal matrix is its transpose", "Q^-1 = Q^T",      lambda e: transpose(e) if kinds.declared(e, kinds.ORTHOGONAL) else None),
    (Scale,     "the inverse of a scaled matrix",              "(a U)^-1 = a^-1 U^-1",     lambda e: scale(power(e.coeff, -1), inverse(e.arg))),
    (Transpose, "inverse and transpose commute",               "(U^T)^-1 = (U^-1)^T",      lambda e: transpose(inverse(e.arg))),
    (MatPower,  "the inverse of a power is the power of the inverse", "(U^k)^-1 = U^-k",   lambda e: power(inverse(e.arg), e.exponent)),
    (Kron,      "the inverse of a Kronecker product",          "(A kron B)^-1 = A^-1 kron B^-1", lambda e: kron(inverse(e.left), inverse(e.right)) if _square(e.left) and _square(e.right) else None),
)


def _square(e: Expr) -> bool:
    return resolve(e.shape[0]) == resolve(e.shape[1])
# fmt: on


def inverse(e: Expr) -> Expr:
    if not is_scalar(e):
        require_square(e, "the inverse")
    out = first_identity(INVERSE_IDENTITIES[type(e)], e)
    return Inverse(e) if out is None else out


# fmt: off
MATRIX_POWER_IDENTITIES = table(  # U^k for an integer k other than 0 and 1
    (Expr,      "a negative power is a power of the inverse",  "U^-k = (U^-1)^k",          lambda u, k: power(inverse(u), -k) if k < 0 else None),
    (MatPower,  "a power of a matrix power",                   "(U^j)^k = U^(j k)",        lambda u, k: power(u.arg, u.exponent * k)),  # through power(): the exponent is checked
)
POWER_IDENTITIES = table(  # s^p for a scalar s, p other than 0 and 1
    (Power,     "a power of a power, to an integer",           "(s^p)^k = s^(p k)",        lambda s, p: power(s.base, s.exponent * p) if p.denominator == 1 else None),
    (MatMul,    "a power of a product of scalars, to an integer", "(a b)^k = a^k b^k",     lambda s, p: reduce(mul, (power(f, p) for f in s.factors)) if p.denominator == 1 and is_scalar_product(s) else None),
    (Count,     "a power of a size is the size of a product",  "size[n]^2 = size[n*n]",    lambda s, p: count(product_dim(*[s.n] * int(p))) if p.denominator == 1 and 1 < p <= 8 else None),
)
# fmt: on


def power(base: Expr, p) -> Expr:
    """``base^p``: a real power of a scalar, or an integer power of a square matrix."""
    p = checked_number(Fraction(p))
    if not is_scalar(base):
        if p.denominator != 1:
            raise ShapeError(f"a matrix power needs an integer exponent, got {p} for {text_of(base)}")
        require_square(base, "a matrix power (use .^ for element-wise powers)")
        k = int(p)
        if k == 0:
            return Identity(base.shape[0])
        if k == 1:
            return base
        out = first_identity(MATRIX_POWER_IDENTITIES[type(base)], base, k)
        return MatPower(base, k) if out is None else out
    if p == 0:
        return ONE
    if p == 1:
        return base
    if isinstance(base, Const):
        # the size of the result, estimated before anything is computed; |p| is capped so that
        # the product stays a float (a base of size 1 or more then exceeds the limit anyway)
        require_small(bits(base.value) * min(abs(p), MAX_BITS + 1))
        folded = exact_power(base.value, p) if abs(p) <= 64 else None
        if folded is not None:
            return const(folded)
    if isinstance(base, Zero):
        if p < 0:
            raise MatcalcError("division by zero")
        return base
    out = first_identity(POWER_IDENTITIES[type(base)], base, p)
    return Power(base, p) if out is None else out


def div(a: Expr, b: Expr) -> Expr:
    if not is_scalar(b):
        raise ShapeError(f"cannot divide by {described(b)}: divide by scalars, or use inv() or ./")
    return mul(power(b, -1), a) if is_scalar(a) else scale(power(b, -1), a)


# ---------------------------------------------------------------- element-wise


def _ones_drop_out(factors) -> list | None:
    kept = [f for f in factors if not isinstance(f, Ones)]
    return kept if len(kept) != len(factors) else None


def _elementwise_powers_add(factors) -> list | None:
    """Factors with the same base as one element-wise power, their exponents added (a power 0
    drops out); None when no two share a base."""
    exponents: dict = {}
    for g in factors:
        base, p = (g.arg, g.exponent) if isinstance(g, ElemPower) else (g, Fraction(1))
        exponents[base] = exponents.get(base, 0) + p
    if len(exponents) == len(factors):
        return None
    powers = (elem_power(base, p) for base, p in exponents.items() if p != 0)
    return [f for f in powers if not isinstance(f, Ones)]


# fmt: off
HADAMARD_IDENTITIES = pair_table(
    ((Expr, Expr), "the element-wise product of scalars is their product", "a .* b = a b",   lambda a, b: mul(a, b) if is_scalar(a) and is_scalar(b) else None),
)
HADAMARD_FACTOR_IDENTITIES = sequence(  # on the factors of an element-wise product, each row in turn
    ("ones drop out of an element-wise product",  "ones ones^T .* U = U",                         _ones_drop_out),
    ("element-wise powers of one matrix add",     "U .^ p .* U .^ q = U .^ (p+q)",                _elementwise_powers_add),
)
# fmt: on


def hadamard(a: Expr, b: Expr) -> Expr:
    out = first_identity(HADAMARD_IDENTITIES[type(a), type(b)], a, b)
    if out is not None:
        return out
    shape = broadcast_shape([a, b], "multiply element-wise")
    coeff: Expr = ONE
    factors: list[Expr] = []
    for f in (broadcast_to(a, shape), broadcast_to(b, shape)):
        if isinstance(f, Zero):
            return Zero(shape)
        if isinstance(f, Scale):
            coeff, f = mul(coeff, f.coeff), f.arg
        factors.extend(f.factors if isinstance(f, Hadamard) else [f])
    for row in HADAMARD_FACTOR_IDENTITIES:
        factors = rewritten(row, factors)
    if any(isinstance(f, (Scale, Hadamard)) for f in factors):  # a power the rows made, of a scaled matrix:
        return scale(coeff, reduce(hadamard, factors))  # (a U) .^ (1/2) .* (a U) .^ (-3/2) = a^-1 U .^ -1
    if not factors:
        product: Expr = Ones(shape)
    elif len(factors) == 1:
        product = factors[0]
    else:
        product = Hadamard(tuple(factors))
    return scale(coeff, product)


def _power_of_signs(e: Expr, p: Fraction) -> Expr | None:
    if p.denominator != 1 or not kinds.declared(e, kinds.SIGNS):
        return None
    return Ones(e.shape) if p.numerator % 2 == 0 else e


# fmt: off
ELEM_POWER_IDENTITIES = table(  # U .^ p, p other than 0 and 1 for a matrix
    (Expr,      "an element-wise power of a scalar is its power",    "a .^ p = a^p",              lambda e, p: power(e, p) if is_scalar(e) else None),
    (Ones,      "a power of ones is ones",                           "ones .^ p = ones",          lambda e, p: e),
    (ElemPower, "an element-wise power of a power, to an integer", "(U .^ p) .^ k = U .^ (p k)", lambda e, p: elem_power(e.arg, e.exponent * p) if p.denominator == 1 else None),
    (Scale,     "an element-wise power of a scaled matrix, to an integer", "(a U) .^ k = a^k U .^ k", lambda e, p: scale(power(e.coeff, p), elem_power(e.arg, p)) if p.denominator == 1 else None),
    (Expr,      "-1 and 1 labels: an even power is 1, an odd power the label", "y .^ 2 = ones", _power_of_signs),
    (Expr,      "0 and 1 labels (one-hot too) are their own positive powers", "y .^ k = y",  lambda e, p: e if p > 0 and kinds.declared(e, kinds.ZERO_ONE) else None),
)
# fmt: on


def elem_power(e: Expr, p) -> Expr:
    p = checked_number(Fraction(p))
    if not is_scalar(e):
        if p == 0:
            return Ones(e.shape)
        if p == 1:
            return e
    out = first_identity(ELEM_POWER_IDENTITIES[type(e)], e, p)
    return ElemPower(e, p) if out is None else out


def elem_div(a: Expr, b: Expr) -> Expr:
    return hadamard(a, elem_power(b, -1))


# fmt: off
APPLY_IDENTITIES = table(  # on the argument of an element-wise function fn
    (Expr, "a non-negative entry is its own absolute value (and relu)", "abs(y) = relu(y) = y",
     lambda e, fn: e if fn in ("abs", "relu") and kinds.declared(e, kinds.NONNEGATIVE) else None),
    (Expr, "the sign of a positive entry is 1",                        "sign(y) = ones",
     lambda e, fn: broadcast_to(ONE, e.shape) if fn in ("sign", "step") and kinds.declared(e, kinds.POSITIVE) else None),
    (Expr, "-1 and 1 labels are their own signs, of absolute value 1", "sign(y) = y, abs(y) = ones",
     lambda e, fn: e if fn == "sign" and kinds.declared(e, kinds.SIGNS) else
     broadcast_to(ONE, e.shape) if fn == "abs" and kinds.declared(e, kinds.SIGNS) else None),
)
# fmt: on


def apply(fn: str, e: Expr, params=()) -> Expr:
    out = first_identity(APPLY_IDENTITIES[type(e)], e, fn)
    return Apply(fn, e, with_defaults(fn, params)) if out is None else out


# ---------------------------------------------------------------- functions of a matrix


def _cyclic_scalar_chain(e: MatMul) -> Expr | None:
    """A rotation of the product that is a scalar chain, when there is one: tr(a b^T) = b^T a."""
    fs = e.factors
    for i in range(1, len(fs)):
        if is_one(fs[i].shape[0]) and is_one(fs[i - 1].shape[1]):
            return matmul(*fs[i:], *fs[:i])
    return None


def _diagonal_of_outer_product(e: MatMul) -> Expr | None:
    """A product that is a column times a row (A x b^T): the diagonal is their element-wise product."""
    if is_column_shape(e.shape):
        return None
    for i in range(1, len(e.factors)):
        if is_one(e.factors[i - 1].shape[1]):
            return hadamard(matmul(*e.factors[:i]), transpose(matmul(*e.factors[i:])))
    return None


def _orthogonal_similarity(e: Expr) -> Expr | None:
    """A for Q^T A Q or Q A Q^T with Q orthogonal: what a trace, a determinant and a norm cannot tell
    from A; None otherwise."""
    if not isinstance(e, MatMul) or len(e.factors) < 3:
        return None
    first, last = e.factors[0], e.factors[-1]
    if kinds.declared(last, kinds.ORTHOGONAL) and first == transpose(last):
        return matmul(*e.factors[1:-1])
    return None


def _orthogonal_factor_dropped(e: Expr) -> Expr | None:
    """``e`` without an orthogonal factor at its start (a vector's or matrix's norm) or, for a
    matrix or row, at its end: ||Q x|| = ||x||, ||X Q||_F = ||X||_F; None when there is none."""
    if not isinstance(e, MatMul):
        return None
    if kinds.declared(e.factors[0], kinds.ORTHOGONAL):
        return matmul(*e.factors[1:])
    if kinds.declared(e.factors[-1], kinds.ORTHOGONAL) and not is_column_shape(e.shape):
        return matmul(*e.factors[:-1])
    return None


# fmt: off
DET_IDENTITIES = table(
    (Expr,       "the determinant of a scalar is the scalar",    "det(a) = a",                  lambda e: e if is_scalar(e) else None),
    (Identity,   "the determinant of the identity",              "det(I) = 1",                  lambda e: ONE),
    (Transpose,  "the determinant of a transpose",               "det(U^T) = det U",            lambda e: det(e.arg)),
    (Inverse,    "the determinant of an inverse",                "det(U^-1) = 1 / det U",       lambda e: power(det(e.arg), -1)),
    (MatMul,     "an orthogonal change of basis keeps the determinant", "det(Q^T A Q) = det(A)", lambda e: det(a) if (a := _orthogonal_similarity(e)) is not None else None),
)
LOGDET_IDENTITIES = table(
    (Transpose,  "the log-determinant of a transpose",           "logdet(U^T) = logdet U",      lambda e: logdet(e.arg)),
    (Identity,   "the log-determinant of the identity",          "logdet(I) = 0",               lambda e: Zero((1, 1))),
    (MatMul,     "an orthogonal change of basis keeps the log-determinant", "logdet(Q^T A Q) = logdet(A)", lambda e: logdet(a) if (a := _orthogonal_similarity(e)) is not None else None),
)
TRACE_IDENTITIES = table(
    (Expr,       "the trace of a scalar is the scalar",          "tr(a) = a",                   lambda e: e if is_scalar(e) else None),
    (Scale,      "a scalar factor leaves the trace",             "tr(a U) = a tr(U)",           lambda e: mul(e.coeff, trace(e.arg))),
    (Transpose,  "the trace of a transpose",                     "tr(U^T) = tr(U)",             lambda e: trace(e.arg)),
    (DiagMatrix, "the trace of a diagonal matrix",               "tr(diag(v)) = sum(v)",        lambda e: sum_entries(e.arg)),
    (Identity,   "the trace of the identity is its size",        "tr(I) = n",                   lambda e: count(e.n)),
    (Kron,       "the trace of a Kronecker product",             "tr(A kron B) = tr(A) tr(B)",  lambda e: mul(trace(e.left), trace(e.right)) if is_square(e.left) and is_square(e.right) else None),  # for square factors only
    (Add,        "the trace of a sum",                           "tr(U + V) = tr(U) + tr(V)",   lambda e: add(*(trace(t) for t in e.terms))),
    (MatMul,     "an orthogonal change of basis keeps the trace", "tr(Q^T A Q) = tr(A)",        lambda e: trace(a) if (a := _orthogonal_similarity(e)) is not None else None),
    (MatMul,     "the trace is cyclic, down to a scalar chain",  "tr(a b^T) = b^T a",           _cyclic_scalar_chain),
)
SUM_ENTRIES_IDENTITIES = table(
    (Expr,       "the sum of a scalar is the scalar",            "sum(a) = a",                  lambda e: e if is_scalar(e) else None),
    (Scale,      "a scalar factor leaves the sum",               "sum(a U) = a sum(U)",         lambda e: mul(e.coeff, sum_entries(e.arg))),
    (Add,        "the sum of entries of a sum",                  "sum(U + V) = sum(U) + sum(V)", lambda e: add(*(sum_entries(t) for t in e.terms))),
    (DiagMatrix, "the sum of entries of a diagonal matrix",      "sum(diag(v)) = sum(v)",       lambda e: sum_entries(e.arg)),
    (Symbol,     "a one-hot or probability vector sums to one",  "sum(y) = 1",                  lambda e: ONE if kinds.declared(e, kinds.SUMS_TO_ONE) else None),
    (Softmax,    "softmax sums to one along its axis (a matrix's: once per row)", "sum(softmax(u)) = 1", lambda e: count(e.shape[0] if e.axis == 2 else e.shape[1])),
    (Ones,       "the sum of ones is the number of entries",     "sum(ones) = n",               lambda e: count(product_dim(*e.shape))),
)
NORM_IDENTITIES = table(
    (Expr,       "the norm of a scalar is its absolute value",   "||a|| = |a|",                 lambda e: apply("abs", e) if is_scalar(e) else None),
    (MatMul,     "an orthogonal factor keeps the norm",          "||Q x|| = ||x||",             lambda e: norm(a) if (a := _orthogonal_factor_dropped(e)) is not None else None),
)
DIAG_IDENTITIES = table(
    (Zero,       "the diagonal matrix of zeros, and the diagonal of a zero matrix, are zero", "diag(0) = 0", lambda e: Zero((e.shape[0], e.shape[0]) if is_column_shape(e.shape) else (e.shape[0], 1))),
    (Ones,       "the diagonal matrix of ones is the identity",  "diag(ones) = I",              lambda e: Identity(e.shape[0]) if is_column_shape(e.shape) else None),
    (DiagMatrix, "the diagonal of a diagonal matrix",            "diag(diag(v)) = v",           lambda e: e.arg),
    (MatMul,     "the diagonal of an outer product",             "diag(a b^T) = a .* b",        _diagonal_of_outer_product),
)
# fmt: on


def det(e: Expr) -> Expr:
    require_square(e, "det")
    out = first_identity(DET_IDENTITIES[type(e)], e)
    return Det(e) if out is None else out


def logdet(e: Expr) -> Expr:
    require_square(e, "logdet")
    out = first_identity(LOGDET_IDENTITIES[type(e)], e)
    return LogDet(e) if out is None else out


def trace(e: Expr) -> Expr:
    require_square(e, "tr")
    if isinstance(e, Zero):
        return Zero((1, 1))
    out = first_identity(TRACE_IDENTITIES[type(e)], e)
    return Trace(e) if out is None else out


def sum_entries(e: Expr) -> Expr:
    if isinstance(e, Zero):
        return Zero((1, 1))
    out = first_identity(SUM_ENTRIES_IDENTITIES[type(e)], e)
    return Sum(e) if out is None else out


def norm(e: Expr) -> Expr:
    out = first_identity(NORM_IDENTITIES[type(e)], e)
    return Norm(e) if out is None else out


def diag(e: Expr) -> Expr:
    """``diag(v)`` of a column is the diagonal matrix; ``diag(M)`` of a square matrix its diagonal."""
    column = is_column_shape(e.shape)
    if not column:
        require_square(e, "diag")
    out = first_identity(DIAG_IDENTITIES[type(e)], e)
    if out is not None:
        return out
    return DiagMatrix(e) if column else DiagVector(e)


def count(n) -> Expr:
    """The size ``n`` as a number: a constant where it is known, else ``Count``."""
    known = resolve(n)
    return const(known) if isinstance(known, int) else Count(n)


# ---------------------------------------------------------------- along an axis


def default_axis(e: Expr) -> int:
    """Where softmax, logsoftmax and logsumexp run when no axis is given: down a column vector
    (axis 1), along each row of a matrix (axis 2: rows are examples)."""
    return 1 if is_one(e.shape[1]) else 2


def run_length(e: Expr, axis):
    """How many entries an operation along ``axis`` runs over: a column's, a row's, or all."""
    if axis is None:
        return product_dim(*e.shape)
    return e.shape[axis - 1]


def _ones_of(shape) -> Expr:
    return ONE if is_scalar_shape(shape) else Ones(shape)


def _reduced(e: Expr, axis):
    """The axis a reduction of ``e`` keeps: None (all entries) where the other dimension is 1,
    since mean(x, 1) of a column is mean(x)."""
    if axis is not None and is_one(e.shape[2 - axis]):
        return None
    return axis


def softmax(e: Expr, axis=None) -> Expr:
    axis = default_axis(e) if axis is None else axis
    axis_shape(e, axis, "softmax")
    if is_one(run_length(e, axis)):  # each entry normalised by itself
        return _ones_of(e.shape)
    return Softmax(e, axis)


def logsoftmax(e: Expr, axis=None) -> Expr:
    axis = default_axis(e) if axis is None else axis
    axis_shape(e, axis, "logsoftmax")
    if is_one(run_length(e, axis)):
        return Zero(e.shape)
    return LogSoftmax(e, axis)


def logsumexp(e: Expr, axis=None) -> Expr:
    axis = default_axis(e) if axis is None else axis
    axis_shape(e, axis, "logsumexp")
    if is_one(run_length(e, axis)):  # log(exp(u)) = u
        return e
    return LogSumExp(e, axis)


def mean(e: Expr, axis=None) -> Expr:
    axis_shape(e, axis, "mean")
    if is_one(run_length(e, axis)):
        return e
    axis = _reduced(e, axis)
    if isinstance(e, Zero):
        return Zero(axis_shape(e, axis, "mean"))
    if isinstance(e, Scale):  # a scalar factor leaves the mean
        return mul(e.coeff, mean(e.arg, axis))
    return Mean(e, axis)


def var(e: Expr, axis=None) -> Expr:
    axis_shape(e, axis, "var")
    if is_one(run_length(e, axis)) or isinstance(e, Zero):
        return Zero(axis_shape(e, axis, "var"))
    return Var(e, _reduced(e, axis))


def std(e: Expr, axis=None) -> Expr:
    axis_shape(e, axis, "std")
    if is_one(run_length(e, axis)) or isinstance(e, Zero):
        return Zero(axis_shape(e, axis, "std"))
    return Std(e, _reduced(e, axis))


# ---------------------------------------------------------------- Kronecker products and vec


def _scalars_out_of_kron(a: Expr, b: Expr) -> Expr | None:
    if not (isinstance(a, Scale) or isinstance(b, Scale)):
        return None
    ca, a = (a.coeff, a.arg) if isinstance(a, Scale) else (ONE, a)
    cb, b = (b.coeff, b.arg) if isinstance(b, Scale) else (ONE, b)
    return scale(mul(ca, cb), kron(a, b))


def _commutation_of_vector(k: Commutation) -> Expr | None:
    if not (is_one(k.dims[0]) or is_one(k.dims[1])):
        return None
    n = product_dim(*k.dims)
    return ONE if is_one(n) else Identity(n)  # K(1,1) is the number 1, as every 1 x 1 matrix is


# fmt: off
KRON_IDENTITIES = pair_table(
    ((Expr, Expr),         "a Kronecker product with a scalar is a scaling",  "a kron B = a B",                      lambda a, b: mul(a, b) if is_scalar(a) or is_scalar(b) else None),
    ((Identity, Identity), "the Kronecker product of identities",             "kron(I, I) = I",                      lambda a, b: Identity(product_dim(a.n, b.n))),
    ((Ones, Ones),         "the Kronecker product of all-ones matrices",     "kron(ones, ones) = ones",             lambda a, b: Ones(Kron(a, b).shape)),
    ((Expr, Expr),         "scalar factors leave a Kronecker product",        "(a A) kron (b B) = a b (A kron B)",   _scalars_out_of_kron),
)
VEC_IDENTITIES = table(
    (Expr,   "vec of a column is the column",              "vec(v) = v",                   lambda e: e if is_one(e.shape[1]) else None),
    (Expr,   "vec of a row is its transpose",              "vec(v^T) = v",                 lambda e: transpose(e) if is_one(e.shape[0]) else None),
    (Scale,  "a scalar factor leaves vec",                 "vec(a U) = a vec(U)",          lambda e: scale(e.coeff, vec(e.arg))),
    (Ones,   "vec of an all-ones matrix is all ones",      "vec(ones ones^T) = ones",      lambda e: Ones(Vec(e).shape)),
)
COMMUTATION_IDENTITIES = table(
    (Commutation, "the commutation matrix of a vector is the identity", "K(n,1) = K(1,n) = I", _commutation_of_vector),
)
# fmt: on


def kron(a: Expr, b: Expr) -> Expr:
    if (isinstance(a, Zero) or isinstance(b, Zero)) and not (is_scalar(a) or is_scalar(b)):
        return Zero(Kron(a, b).shape)
    out = first_identity(KRON_IDENTITIES[type(a), type(b)], a, b)
    return Kron(a, b) if out is None else out


def vec(e: Expr) -> Expr:
    out = first_identity(VEC_IDENTITIES[type(e)], e)
    if out is not None:
        return out
    return Zero(Vec(e).shape) if isinstance(e, Zero) else Vec(e)


def commutation(dims) -> Expr:
    """K with K vec(U) = vec(U^T) for U of shape ``dims``."""
    k = Commutation(tuple(dims))
    out = first_identity(COMMUTATION_IDENTITIES[Commutation], k)
    return k if out is None else out


def inner(a: Expr, b: Expr) -> Expr:
    """``<a, b> = tr(a^T b)``, written the way a person would for scalars, vectors and matrices."""
    if is_scalar(a):
        return mul(a, b)
    if is_one(a.shape[1]) or is_one(a.shape[0]):
        return mul(transpose(a), b) if is_one(a.shape[1]) else mul(a, transpose(b))
    return trace(mul(transpose(a), b))


# Every table of identities by name, its rows in order: what the normal form knows.  Collected
# from the names above, so that a new table is listed (and its rows tested) without a second step.
TABLES = {name: tuple(getattr(rows, "rows", rows)) for name, rows in list(globals().items()) if name.endswith("_IDENTITIES")}


ALONG_AXIS = {Softmax: softmax, LogSoftmax: logsoftmax, LogSumExp: logsumexp, Mean: mean, Var: var, Std: std}


def rebuild(node: Expr, kids: list) -> Expr:
    """Build ``node`` again from new children through the smart constructors."""
    t = type(node)
    if t is Add:
        return add(*kids)
    if t is MatMul:
        return matmul(*kids)
    if t is Hadamard:
        out = kids[0]
        for k in kids[1:]:
            out = hadamard(out, k)
        return out
    constructors = {
        Scale: scale, Transpose: transpose, Inverse: inverse, Det: det, LogDet: logdet,
        Trace: trace, Sum: sum_entries, Norm: norm, DiagMatrix: diag, DiagVector: diag,
        Kron: kron,
    }
    if t in constructors:
        return constructors[t](*kids)
    if t is Power:
        return power(kids[0], node.exponent)
    if t is MatPower:
        return power(kids[0], node.exponent)
    if t is ElemPower:
        return elem_power(kids[0], node.exponent)
    if t is Apply:
        return apply(node.fn, kids[0], kids[1:])
    if t in ALONG_AXIS:
        return ALONG_AXIS[t](kids[0], node.axis)
    return node.map_children(dict(zip(node.children(), kids, strict=False)).get)
