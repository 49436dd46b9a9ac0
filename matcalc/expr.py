"""Expression trees: immutable, hashable nodes whose shape is known when they are built.

Nodes are built through the smart constructors at the bottom of this module (``add``,
``mul``, ``transpose``, ...).  They keep every tree in a light normal form so that equal
things look equal: numbers fold, scalar factors move to the front (``Scale``), transposes
move inwards to the leaves, like terms are collected (``A x + A x -> 2 A x``) and
``S^T = S`` for symmetric S.  Heavier rewriting lives in ``simplify``.

A scalar is a 1x1 matrix; a vector is a column n x 1.
"""

from __future__ import annotations

import math
from collections import Counter
from fractions import Fraction
from functools import reduce, wraps

from . import kinds
from .errors import MatcalcError, NumberTooLargeError, ShapeError
from .shapes import is_column_shape, is_one, is_scalar_shape, product_dim, resolve, shape_str, unify

MAX_DEPTH = 2000  # deeper trees would exhaust Python's recursion in later passes


class Expr:
    """A node: its fields (children and parameters), its shape, and a cached hash."""

    fields: tuple[str, ...] = ()
    __slots__ = ("shape", "depth", "free", "_hash", "_key", "_children")

    def __init__(self, *values):
        if len(values) != len(self.fields):
            raise TypeError(f"{type(self).__name__} takes {self.fields}")
        self.__dict__.update(zip(self.fields, values))  # the fields; the slots below hold what follows from them
        kids = _children_of(values)
        setattr_ = object.__setattr__
        setattr_(self, "_key", values)  # kept: every comparison and rebuild reads it
        setattr_(self, "_children", kids)
        if kids:
            depth = 1 + max(k.depth for k in kids)
            if depth > MAX_DEPTH:
                raise MatcalcError(f"expression nests deeper than {MAX_DEPTH} levels")
            free = kids[0].free if len(kids) == 1 else frozenset().union(*(k.free for k in kids))
        else:
            depth, free = 1, _NOTHING
        setattr_(self, "depth", depth)
        setattr_(self, "free", free)
        setattr_(self, "shape", self._shape())
        setattr_(self, "_hash", hash((type(self).__name__, *values)))

    def __setattr__(self, name, value):
        raise AttributeError("expressions are immutable")

    def key(self) -> tuple:
        return self._key

    def __eq__(self, other):
        return self is other or (
            type(self) is type(other) and self._hash == other._hash and self._key == other._key
        )

    def __hash__(self):
        return self._hash

    def children(self) -> tuple[Expr, ...]:
        return self._children

    def map_children(self, f) -> Expr:
        """The same node built again (through its class) with ``f`` applied to each child."""
        values = []
        for value in self.key():
            if isinstance(value, Expr):
                value = f(value)
            elif isinstance(value, tuple) and value and isinstance(value[0], Expr):
                value = tuple(f(v) for v in value)
            values.append(value)
        return type(self)(*values)

    def _shape(self):
        raise NotImplementedError

    def __repr__(self):
        from .printing import to_text

        return f"<{type(self).__name__} {to_text(self)}>"

    def __str__(self):
        from .printing import to_text

        return to_text(self)


_NOTHING: frozenset = frozenset()


def _children_of(values) -> tuple[Expr, ...]:
    out = []
    for value in values:
        if isinstance(value, Expr):
            out.append(value)
        elif isinstance(value, tuple) and value and isinstance(value[0], Expr):
            out.extend(value)
    return tuple(out)


def _text(e: Expr) -> str:
    from .printing import to_text

    return to_text(e)


def _described(e: Expr) -> str:
    return f"{_text(e)} ({shape_str(e.shape)})"


def require_square(e: Expr, what: str):
    if isinstance(e, Kron):  # (n*p) x (m*q) is square when both factors are, as tr(kron(A, X)) means
        require_square(e.left, what)
        require_square(e.right, what)
        return e.shape[0]
    unify(e.shape[0], e.shape[1], lambda: f"{what} needs a square matrix, got {_described(e)}")
    return e.shape[0]


def require_column(e: Expr, what: str):
    if not is_column_shape(e.shape):
        raise ShapeError(f"{what} needs a column vector, got {_described(e)}")


def require_scalar(e: Expr, what: str):
    if not is_scalar_shape(e.shape):
        raise ShapeError(f"{what} needs a scalar, got {_described(e)}")


def same_shape(terms, what: str):
    first = terms[0]
    for t in terms[1:]:
        for axis in (0, 1):
            unify(first.shape[axis], t.shape[axis], lambda t=t: f"cannot {what} {_described(first)} and {_described(t)}")
    return first.shape


# ---------------------------------------------------------------- leaves


class Symbol(Expr):
    """A named input; ``kind`` names a row of ``kinds.TABLE``."""

    fields = ("name", "kind", "dims")

    def _shape(self):
        return self.dims

    def __init__(self, *values):
        super().__init__(*values)
        object.__setattr__(self, "free", frozenset([self]))


class Differential(Expr):
    """``dX``: the infinitesimal change of a variable."""

    fields = ("var",)

    def __init__(self, *values):
        super().__init__(*values)
        object.__setattr__(self, "free", frozenset([self]))

    def _shape(self):
        return self.var.shape


class DifferentialOf(Expr):
    """``d(U)``: the differential of a subexpression, not yet expanded (shown in derivations)."""

    fields = ("arg",)

    def _shape(self):
        return self.arg.shape


# Exact numbers past this many digits are refused rather than computed: folding them gets
# slow without bound (2^64^64^64^64), and str() refuses integers past 4300 digits.  Every
# literal the parser accepts (below 10^600) is far inside it.
MAX_DIGITS = 3000
_MAX_BITS = MAX_DIGITS * math.log2(10)


def _bits(value: Fraction) -> float:
    """log2 of the larger of |numerator| and denominator: 0 for -1, 0 and 1, else at least 1."""
    return math.log2(max(abs(value.numerator), value.denominator))


def _require_small(bits: float) -> None:
    """The one limit on exact numbers, given log2 of a numerator's or denominator's size."""
    if bits > _MAX_BITS:
        raise NumberTooLargeError(f"a number in the expression is too large: more than {MAX_DIGITS} digits")


def checked_number(value: Fraction) -> Fraction:
    _require_small(_bits(value))
    return value


class Const(Expr):
    """An exact rational number, at most MAX_DIGITS long."""

    fields = ("value",)

    def __init__(self, value: Fraction):
        super().__init__(checked_number(value))

    def _shape(self):
        return (1, 1)


class Identity(Expr):
    fields = ("n",)

    def _shape(self):
        return (self.n, self.n)


class Ones(Expr):
    """The all-ones matrix of the given shape (``ones`` is the all-ones column vector)."""

    fields = ("dims",)

    def _shape(self):
        return self.dims


class Zero(Expr):
    fields = ("dims",)

    def _shape(self):
        return self.dims


# ---------------------------------------------------------------- linear structure


class Add(Expr):
    fields = ("terms",)

    def _shape(self):
        return same_shape(self.terms, "add")


class MatMul(Expr):
    """A matrix product; either a chain of non-scalar factors or a product of scalars."""

    fields = ("factors",)

    def _shape(self):
        fs = self.factors
        for a, b in zip(fs, fs[1:], strict=False):
            unify(a.shape[1], b.shape[0], lambda a=a, b=b: f"cannot multiply {_described(a)} by {_described(b)}")
        return (fs[0].shape[0], fs[-1].shape[1])


class Scale(Expr):
    """A scalar expression times a non-scalar one."""

    fields = ("coeff", "arg")

    def _shape(self):
        require_scalar(self.coeff, "a scaling factor")
        return self.arg.shape


class Transpose(Expr):
    fields = ("arg",)

    def _shape(self):
        return (self.arg.shape[1], self.arg.shape[0])


class Hadamard(Expr):
    """The element-wise product ``U .* V``."""

    fields = ("factors",)

    def _shape(self):
        return same_shape(self.factors, "multiply element-wise")


class Trace(Expr):
    fields = ("arg",)

    def _shape(self):
        require_square(self.arg, "tr")
        return (1, 1)


class Sum(Expr):
    """The sum of all entries."""

    fields = ("arg",)

    def _shape(self):
        return (1, 1)


class DiagMatrix(Expr):
    """``diag(v)``: the diagonal matrix with v on its diagonal."""

    fields = ("arg",)

    def _shape(self):
        require_column(self.arg, "diag")
        return (self.arg.shape[0], self.arg.shape[0])


class DiagVector(Expr):
    """``diag(M)``: the diagonal of a square matrix as a column."""

    fields = ("arg",)

    def _shape(self):
        return (require_square(self.arg, "diag"), 1)


class Kron(Expr):
    """The Kronecker product ``A kron B``."""

    fields = ("left", "right")

    def _shape(self):
        a, b = self.left.shape, self.right.shape
        return (product_dim(a[0], b[0]), product_dim(a[1], b[1]))


class Vec(Expr):
    """``vec(U)``: the columns of U stacked into one column."""

    fields = ("arg",)

    def _shape(self):
        return (product_dim(*self.arg.shape), 1)


class Commutation(Expr):
    """The commutation matrix K with ``K vec(U) = vec(U^T)`` for U of shape ``dims``."""

    fields = ("dims",)

    def _shape(self):
        n = product_dim(*self.dims)
        return (n, n)


# ---------------------------------------------------------------- non-linear


class Inverse(Expr):
    fields = ("arg",)

    def _shape(self):
        n = require_square(self.arg, "the inverse")
        return (n, n)


class MatPower(Expr):
    """``U^k`` for a square matrix and an integer k >= 2."""

    fields = ("arg", "exponent")

    def _shape(self):
        n = require_square(self.arg, "a matrix power")
        return (n, n)


class Power(Expr):
    """``s^p`` for a scalar s and a rational p."""

    fields = ("base", "exponent")

    def _shape(self):
        require_scalar(self.base, "a real power")
        return (1, 1)


class ElemPower(Expr):
    """``U .^ p``, element-wise."""

    fields = ("arg", "exponent")

    def _shape(self):
        return self.arg.shape


class Apply(Expr):
    """An element-wise function from ``functions.FUNCTIONS``."""

    fields = ("fn", "arg")

    def _shape(self):
        return self.arg.shape


class Det(Expr):
    fields = ("arg",)

    def _shape(self):
        require_square(self.arg, "det")
        return (1, 1)


class LogDet(Expr):
    fields = ("arg",)

    def _shape(self):
        require_square(self.arg, "logdet")
        return (1, 1)


class Norm(Expr):
    """The 2-norm of a vector, the Frobenius norm of a matrix."""

    fields = ("arg",)

    def _shape(self):
        return (1, 1)


class Softmax(Expr):
    fields = ("arg",)

    def _shape(self):
        require_column(self.arg, "softmax")
        return self.arg.shape


class LogSumExp(Expr):
    fields = ("arg",)

    def _shape(self):
        require_column(self.arg, "logsumexp")
        return (1, 1)


# ---------------------------------------------------------------- predicates


def is_scalar(e: Expr) -> bool:
    return is_scalar_shape(e.shape)


def const_value(e: Expr) -> Fraction | None:
    return e.value if isinstance(e, Const) else None


def is_scalar_product(e: Expr) -> bool:
    return isinstance(e, MatMul) and all(is_scalar(f) for f in e.factors)


def cached_on_node(fn):
    """Remember ``fn(e)`` on the node itself: nodes are immutable, and deep trees would
    otherwise be walked again for every parent (transpose and symmetry call each other)."""
    attribute = "_cache_" + fn.__name__

    @wraps(fn)
    def wrapper(e):
        try:
            return e.__dict__[attribute]
        except KeyError:
            value = fn(e)
            e.__dict__[attribute] = value
            return value

    return wrapper


@cached_on_node
def is_symmetric(e: Expr) -> bool:
    """True when ``e^T = e`` follows from the structure alone."""
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


def nodes(e: Expr):
    """Every distinct node of the DAG below ``e`` (``e`` included), each once, without recursion."""
    stack, seen = [e], set()
    while stack:
        node = stack.pop()
        if node not in seen:
            seen.add(node)
            yield node
            stack.extend(node.children())


def contains(e: Expr, d) -> bool:
    """Whether ``e`` holds the differential ``d`` (or one of a frozenset of them)."""
    return not d.isdisjoint(e.free) if isinstance(d, frozenset) else d in e.free


# ---------------------------------------------------------------- smart constructors

ONE = Const(Fraction(1))


def const(value) -> Expr:
    """A number; zero is ``Zero``, the one zero the constructors know (``sum(x - x)`` is it too)."""
    value = Fraction(value)
    return Zero((1, 1)) if value == 0 else Const(value)


def zero_like(e: Expr) -> Zero:
    return Zero(e.shape)


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
    return e


def broadcast_shape(terms, what: str):
    """The common shape of terms that NumPy would broadcast together."""
    dims = []
    for axis in (0, 1):
        sized = [t for t in terms if not is_one(t.shape[axis])]
        dim = sized[0].shape[axis] if sized else 1
        for t in sized[1:]:
            dim = unify(dim, t.shape[axis], lambda t=t, s=sized[0]: f"cannot {what} {_described(s)} and {_described(t)}")
        dims.append(dim)
    shape = tuple(dims)
    if not all(is_scalar(t) for t in terms) and not any(
        all(not is_one(t.shape[a]) or is_one(shape[a]) for a in (0, 1)) for t in terms
    ):
        a, b = terms[0], terms[1]
        raise ShapeError(f"cannot {what} {_described(a)} and {_described(b)}: a row and a column do not broadcast")
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


def add(*terms: Expr) -> Expr:
    flat = []
    for t in terms:
        c, rest = split_coefficient(t)
        if isinstance(rest, Add) and len(terms) > 1:  # a - (b - c) = a - b + c: a number distributes
            flat.extend(mul(Const(c), u) for u in rest.terms)
        else:
            flat.append(t)
    shape = broadcast_shape(flat, "add") if len(flat) > 1 else flat[0].shape
    coefficients: dict = {}
    representative: dict = {}
    for t in flat:
        t = broadcast_to(t, shape)
        if isinstance(t, Zero):
            continue
        c, rest = split_coefficient(t)
        k = _term_key(rest)
        coefficients[k] = coefficients.get(k, 0) + c
        representative.setdefault(k, rest)
    kept = [representative[k] if c == 1 else scale(Const(c), representative[k]) for k, c in coefficients.items() if c != 0]
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
    if isinstance(m, Scale):
        return scale(mul(s, m.coeff), m.arg)
    return Scale(s, m)


def _scalar_product(a: Expr, b: Expr) -> Expr:
    number = Fraction(1)
    exponents: dict = {}
    for f in (*(a.factors if is_scalar_product(a) else [a]), *(b.factors if is_scalar_product(b) else [b])):
        if isinstance(f, Zero):
            return Zero((1, 1))
        if isinstance(f, Const):
            number *= f.value
        elif isinstance(f, Power):
            exponents[f.base] = exponents.get(f.base, 0) + f.exponent
        else:
            exponents[f] = exponents.get(f, 0) + 1
    if number == 0:
        return Zero((1, 1))
    factors = [power(base, p) for base, p in exponents.items() if p != 0]
    factors = [f for f in factors if f != ONE]
    extra = [f for f in factors if isinstance(f, Const)]
    for f in extra:
        number *= f.value
    factors = [f for f in factors if not isinstance(f, Const)]
    # denominators last, as a fraction is written (and printed, so that the text parses back alike)
    factors.sort(key=lambda f: isinstance(f, Power) and f.exponent < 0)
    if number != 1 or not factors:
        factors.insert(0, Const(number))
    return factors[0] if len(factors) == 1 else MatMul(tuple(factors))


def _cancels(a: Expr, b: Expr) -> bool:
    return (isinstance(a, Inverse) and a.arg == b) or (isinstance(b, Inverse) and b.arg == a)


def mul(a: Expr, b: Expr) -> Expr:
    """The product ``a b``: a matrix product, or a scaling when either side is a scalar."""
    sa, sb = is_scalar(a), is_scalar(b)
    if sa and sb:
        return _scalar_product(a, b)
    if sa:
        return scale(a, b)
    if sb:
        return scale(b, a)
    unify(a.shape[1], b.shape[0], lambda: f"cannot multiply {_described(a)} by {_described(b)}")
    rows, cols = a.shape[0], b.shape[1]
    if isinstance(a, Zero) or isinstance(b, Zero):
        return Zero((rows, cols))
    coeff: Expr = ONE
    factors: list[Expr] = []
    for f in (a, b):
        if isinstance(f, Scale):
            coeff, f = mul(coeff, f.coeff), f.arg
        for g in f.factors if isinstance(f, MatMul) else [f]:
            if isinstance(g, Identity):
                continue
            if isinstance(g, Add) and all(split_coefficient(t)[0] < 0 for t in g.terms):
                coeff, g = mul(coeff, const(-1)), add(*map(neg, g.terms))  # (-A - B) C = -(A + B) C
            if factors and _cancels(factors[-1], g):
                factors.pop()
                continue
            if factors and isinstance(factors[-1], Ones) and isinstance(g, Ones) and is_one(g.shape[0]):
                g = Ones((factors.pop().shape[0], g.shape[1]))  # ones ones^T is the all-ones matrix
            elif factors and _ones_row(factors[-1]) and isinstance(g, DiagMatrix):
                factors.pop()  # ones^T diag(v) = v^T
                g = transpose(g.arg)
            elif factors and isinstance(factors[-1], DiagMatrix) and isinstance(g, Ones) and is_one(g.shape[1]):
                g = factors.pop().arg  # diag(v) ones = v
            elif factors and isinstance(factors[-1], Kron) and isinstance(g, Kron) and _mixed_product_fits(factors[-1], g):
                last = factors.pop()  # (A kron B)(C kron D) = AC kron BD
                g = kron(mul(last.left, g.left), mul(last.right, g.right))
            elif factors and _power_base(factors[-1]) == _power_base(g) and not is_one(g.shape[0]):
                g = power(_power_base(g), _power_exponent(factors.pop()) + _power_exponent(g))  # X X^2 = X^3
            factors.append(g)
    if not factors:
        product: Expr = Identity(rows)
    elif len(factors) == 1:
        product = factors[0]
    else:
        coeff, factors = _pull_scalar_chains(coeff, factors)
        product = factors[0] if len(factors) == 1 else MatMul(tuple(factors))
        if len(factors) == 2 and is_scalar(product):  # ones^T v = sum(v)
            for a, b in (factors, factors[::-1]):
                if isinstance(a, Ones):
                    product = sum_entries(b if is_one(b.shape[1]) else transpose(b))
    return mul(coeff, product) if coeff != ONE else product


def _ones_row(e: Expr) -> bool:
    return isinstance(e, Ones) and is_one(e.shape[0])


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


def _mixed_product_fits(a: Kron, b: Kron) -> bool:
    return resolve(a.left.shape[1]) == resolve(b.left.shape[0]) and resolve(a.right.shape[1]) == resolve(b.right.shape[0])


def _power_base(e: Expr) -> Expr:
    return e.arg if isinstance(e, MatPower) else e


def _power_exponent(e: Expr) -> int:
    return e.exponent if isinstance(e, MatPower) else 1


def matmul(*factors: Expr) -> Expr:
    return reduce(mul, factors)


@cached_on_node
def transpose(e: Expr) -> Expr:
    if is_scalar(e) or is_symmetric(e):
        return e
    if isinstance(e, Transpose):
        return e.arg
    if isinstance(e, MatMul):
        return matmul(*(transpose(f) for f in reversed(e.factors)))
    if isinstance(e, Scale):
        return scale(e.coeff, transpose(e.arg))
    if isinstance(e, (Zero, Ones)):
        return type(e)((e.shape[1], e.shape[0]))
    if isinstance(e, Kron):
        return kron(transpose(e.left), transpose(e.right))
    if isinstance(e, Commutation):
        return Commutation((e.dims[1], e.dims[0]))
    if isinstance(e, MatPower):
        return power(transpose(e.arg), e.exponent)
    return Transpose(e)


def inverse(e: Expr) -> Expr:
    if is_scalar(e):
        return power(e, -1)
    require_square(e, "the inverse")
    if isinstance(e, Inverse):
        return e.arg
    if isinstance(e, Identity):
        return e
    if isinstance(e, Scale):
        return scale(power(e.coeff, -1), inverse(e.arg))
    if isinstance(e, Transpose):
        return transpose(inverse(e.arg))
    return Inverse(e)


def power(base: Expr, p) -> Expr:
    """``base^p``: a real power of a scalar, or an integer power of a square matrix."""
    p = checked_number(Fraction(p))
    if not is_scalar(base):
        if p.denominator != 1:
            raise ShapeError(f"a matrix power needs an integer exponent, got {p} for {_text(base)}")
        require_square(base, "a matrix power (use .^ for element-wise powers)")
        k = int(p)
        if k == 0:
            return Identity(base.shape[0])
        if k < 0:
            return power(inverse(base), -k)
        if k == 1:
            return base
        if isinstance(base, MatPower):  # through power(), so that the product of exponents is checked
            return power(base.arg, base.exponent * k)
        return MatPower(base, k)
    if p == 0:
        return ONE
    if p == 1:
        return base
    if isinstance(base, Const):
        # the size of the result, estimated before anything is computed; |p| is capped so that
        # the product stays a float (a base of size 1 or more then exceeds the limit anyway)
        _require_small(_bits(base.value) * min(abs(p), _MAX_BITS + 1))
        folded = _exact_power(base.value, p) if abs(p) <= 64 else None
        if folded is not None:
            return const(folded)
    if isinstance(base, Power) and p.denominator == 1:
        return power(base.base, base.exponent * p)
    if is_scalar_product(base) and p.denominator == 1:
        return reduce(mul, (power(f, p) for f in base.factors))
    if isinstance(base, Zero):
        if p < 0:
            raise MatcalcError("division by zero")
        return base
    return Power(base, p)


def _exact_power(value: Fraction, p: Fraction) -> Fraction | None:
    if value == 0 and p < 0:
        raise MatcalcError("division by zero")
    if p.denominator == 1:
        return value ** int(p)
    if value < 0:
        return None
    root = [_integer_root(part, p.denominator) for part in (value.numerator, value.denominator)]
    if None in root:
        return None
    return Fraction(*root) ** p.numerator


def _integer_root(n: int, k: int) -> int | None:
    """The k-th root of n >= 0 when it is an integer, else None; in integers, as floats
    overflow past 2^1024."""
    if n < 2:
        return n
    if k >= n.bit_length():  # 1 < root < 2
        return None
    r = 1 << -(-n.bit_length() // k)  # 2^ceil(bits / k), above the root
    while True:  # Newton's method, from above, decreases to the root rounded down
        s = ((k - 1) * r + n // r ** (k - 1)) // k
        if s >= r:
            return r if r**k == n else None
        r = s


def div(a: Expr, b: Expr) -> Expr:
    if not is_scalar(b):
        raise ShapeError(f"cannot divide by {_described(b)}: divide by scalars, or use inv() or ./")
    return mul(power(b, -1), a) if is_scalar(a) else scale(power(b, -1), a)


def hadamard(a: Expr, b: Expr) -> Expr:
    if is_scalar(a) and is_scalar(b):
        return mul(a, b)
    shape = broadcast_shape([a, b], "multiply element-wise")
    coeff: Expr = ONE
    exponents: dict = {}
    for f in (broadcast_to(a, shape), broadcast_to(b, shape)):
        if isinstance(f, Zero):
            return Zero(shape)
        if isinstance(f, Scale):
            coeff, f = mul(coeff, f.coeff), f.arg
        for g in f.factors if isinstance(f, Hadamard) else [f]:
            if isinstance(g, Ones):
                continue
            base, p = (g.arg, g.exponent) if isinstance(g, ElemPower) else (g, Fraction(1))
            exponents[base] = exponents.get(base, 0) + p
    factors = [elem_power(base, p) for base, p in exponents.items() if p != 0]
    factors = [f for f in factors if not isinstance(f, Ones)]
    if not factors:
        product: Expr = Ones(shape)
    elif len(factors) == 1:
        product = factors[0]
    else:
        product = Hadamard(tuple(factors))
    return scale(coeff, product)


def elem_power(e: Expr, p) -> Expr:
    p = checked_number(Fraction(p))
    if is_scalar(e):
        return power(e, p)
    if p == 0 or isinstance(e, Ones):
        return Ones(e.shape)
    if p == 1:
        return e
    if isinstance(e, ElemPower) and p.denominator == 1:
        return elem_power(e.arg, e.exponent * p)
    if isinstance(e, Scale) and p.denominator == 1:
        return scale(power(e.coeff, p), elem_power(e.arg, p))
    return ElemPower(e, p)


def elem_div(a: Expr, b: Expr) -> Expr:
    return hadamard(a, elem_power(b, -1))


def apply(fn: str, e: Expr) -> Expr:
    return Apply(fn, e)


def det(e: Expr) -> Expr:
    require_square(e, "det")
    if is_scalar(e):
        return e
    if isinstance(e, Identity):
        return ONE
    if isinstance(e, Transpose):
        return det(e.arg)
    if isinstance(e, Inverse):
        return power(det(e.arg), -1)
    return Det(e)


def logdet(e: Expr) -> Expr:
    require_square(e, "logdet")
    if isinstance(e, Transpose):
        return logdet(e.arg)
    if isinstance(e, Identity):
        return Zero((1, 1))
    return LogDet(e)


def trace(e: Expr) -> Expr:
    require_square(e, "tr")
    if is_scalar(e):
        return e
    if isinstance(e, Zero):
        return Zero((1, 1))
    if isinstance(e, Scale):
        return mul(e.coeff, trace(e.arg))
    if isinstance(e, Transpose):
        return trace(e.arg)
    if isinstance(e, DiagMatrix):  # tr(diag(v)) = sum(v)
        return sum_entries(e.arg)
    if isinstance(e, Kron):  # tr(A kron B) = tr(A) tr(B)
        return mul(trace(e.left), trace(e.right))
    if isinstance(e, Add):
        return add(*(trace(t) for t in e.terms))
    if isinstance(e, MatMul):  # cyclic: tr(a b^T) = b^T a when some rotation is a scalar chain
        fs = e.factors
        for i in range(1, len(fs)):
            if is_one(fs[i].shape[0]) and is_one(fs[i - 1].shape[1]):
                return matmul(*fs[i:], *fs[:i])
    return Trace(e)


def sum_entries(e: Expr) -> Expr:
    if is_scalar(e):
        return e
    if isinstance(e, Zero):
        return Zero((1, 1))
    if isinstance(e, Scale):
        return mul(e.coeff, sum_entries(e.arg))
    if isinstance(e, Add):
        return add(*(sum_entries(t) for t in e.terms))
    if isinstance(e, DiagMatrix):  # sum(diag(v)) = sum(v)
        return sum_entries(e.arg)
    return Sum(e)


def norm(e: Expr) -> Expr:
    if is_scalar(e):
        return apply("abs", e)
    return Norm(e)


def diag(e: Expr) -> Expr:
    if isinstance(e, Ones) and is_column_shape(e.shape):
        return Identity(e.shape[0])
    if is_column_shape(e.shape):
        return DiagMatrix(e)
    require_square(e, "diag")
    if isinstance(e, DiagMatrix):
        return e.arg
    return DiagVector(e)


def softmax(e: Expr) -> Expr:
    return Softmax(e)


def logsumexp(e: Expr) -> Expr:
    return LogSumExp(e)


def kron(a: Expr, b: Expr) -> Expr:
    if is_scalar(a) or is_scalar(b):
        return mul(a, b)
    if isinstance(a, Identity) and isinstance(b, Identity):
        return Identity(product_dim(a.n, b.n))
    if isinstance(a, Zero) or isinstance(b, Zero):
        return Zero(Kron(a, b).shape)
    if isinstance(a, Scale) or isinstance(b, Scale):
        ca, a = (a.coeff, a.arg) if isinstance(a, Scale) else (ONE, a)
        cb, b = (b.coeff, b.arg) if isinstance(b, Scale) else (ONE, b)
        return scale(mul(ca, cb), kron(a, b))
    return Kron(a, b)


def vec(e: Expr) -> Expr:
    if is_one(e.shape[1]):
        return e
    if is_one(e.shape[0]):
        return transpose(e)
    if isinstance(e, Scale):
        return scale(e.coeff, vec(e.arg))
    if isinstance(e, (Zero, Ones)):
        return type(e)(Vec(e).shape)
    return Vec(e)


def commutation(dims) -> Expr:
    """K with K vec(U) = vec(U^T); the identity when U is a vector."""
    if is_one(dims[0]) or is_one(dims[1]):
        return Identity(product_dim(*dims))
    return Commutation(tuple(dims))


def inner(a: Expr, b: Expr) -> Expr:
    """``<a, b> = tr(a^T b)``, written the way a person would for scalars, vectors and matrices."""
    if is_scalar(a):
        return mul(a, b)
    if is_one(a.shape[1]) or is_one(a.shape[0]):
        return mul(transpose(a), b) if is_one(a.shape[1]) else mul(a, transpose(b))
    return trace(mul(transpose(a), b))


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
        Softmax: softmax, LogSumExp: logsumexp, Kron: kron,
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
        return apply(node.fn, kids[0])
    return node.map_children(dict(zip(node.children(), kids, strict=False)).get)
