"""Shapes with symbolic dimensions, and their unification while an expression is built.

A shape is ``(rows, cols)``; a dimension is the integer 1, a name such as ``"n"``, or a
``Size``: a product such as ``n*m``, the rows of ``kron(x, y)``.
While text is parsed, unknown sizes are ``DimVar`` placeholders merged by a union-find
(``x^T A x`` ties the columns of A to the length of x), and a product may have placeholders
among its factors; once parsing ends, every class of merged placeholders gets one name and
the expression is rebuilt with it.  Outside parsing there is no unifier and sizes must
simply be equal.
"""

from __future__ import annotations

import contextvars
import itertools
from contextlib import contextmanager

from .errors import ShapeError

DIM_NAMES = ["n", "m", "p", "q", "r", "k", "l", "s", "t", "u", "v", "w"]


class DimVar:
    """A size not known yet; compared by identity."""

    _ids = itertools.count()
    __slots__ = ("id", "label")

    def __init__(self, label: str = "?"):
        self.id = next(DimVar._ids)
        self.label = label  # how error messages name it before sizes get their final names

    def __repr__(self):
        return self.label


class Size:
    """A product of sizes times a whole number, as ``n*m``: immutable, hashable, and equal to
    another exactly when the products are equal, as its factors are kept sorted (sizes commute).
    Made by ``product_dim``, which gives every size one form: 1*1 is 1 and n*1 is n, so a
    Size has two factors or more, or a number other than 1."""

    __slots__ = ("number", "factors", "placeholders", "_hash")

    def __init__(self, number: int, factors: tuple):
        setattr_ = object.__setattr__
        setattr_(self, "number", number)
        setattr_(self, "factors", factors)  # names, and while parsing placeholders, in _factor_order
        setattr_(self, "placeholders", any(isinstance(f, DimVar) for f in factors))
        setattr_(self, "_hash", hash((number, factors)))

    def __setattr__(self, name, value):
        raise AttributeError("sizes are immutable")

    def __reduce__(self):
        return Size, (self.number, self.factors)

    def __eq__(self, other):
        return self is other or (type(other) is Size and self._hash == other._hash
                                 and self.number == other.number and self.factors == other.factors)

    def __hash__(self):
        return self._hash

    def __str__(self):
        return "*".join(([str(self.number)] if self.number != 1 else []) + sorted(map(str, self.factors)))

    def __repr__(self):
        return f"Size({self})"


Dim = "int | str | DimVar | Size"


def _factor_order(f):
    """Names by name, then placeholders by identity: a multiset of factors has one order."""
    return (1, f.id, "") if isinstance(f, DimVar) else (0, 0, f)


def _product(number: int, factors) -> object:
    """``number`` times ``factors`` in its one form: an integer, a lone factor, or a Size."""
    if not factors:
        return number
    if number == 1 and len(factors) == 1:
        return factors[0]
    return Size(number, tuple(sorted(factors, key=_factor_order)))


def size_factors(d) -> tuple[int, tuple]:
    """A dimension as a whole number times its factors: (1, ()) for 1, (1, ("n",)) for n,
    (1, ("m", "n")) for m*n."""
    if isinstance(d, int):
        return d, ()
    if isinstance(d, Size):
        return d.number, d.factors
    return 1, (d,)


def _multiplied(dims, find) -> object:
    """The product of ``dims``, each first resolved by ``find``."""
    number, factors = 1, []
    for d in dims:
        n, fs = size_factors(find(d))
        number *= n
        factors.extend(fs)
    return _product(number, factors)


class Unifier:
    """Union-find over the placeholders of one parse."""

    def __init__(self):
        self.parent: dict[DimVar, object] = {}
        # products of placeholders not known to be equal yet (m*n = p*p), with the message that
        # refuses them: what the rest of the text ties later may settle them (see ``settle``)
        self.pending: list = []

    def find(self, d):
        """What ``d`` stands for so far: a product's placeholders are resolved in turn, so
        products compare as multisets of what their factors stand for."""
        while isinstance(d, DimVar) and d in self.parent:
            d = self.parent[d]
        if isinstance(d, Size) and d.placeholders:
            return _multiplied(d.factors, self.find)
        return d

    def unify(self, a, b):
        a, b = self.find(a), self.find(b)
        if a is b or (not isinstance(a, DimVar) and a == b):
            return a
        if isinstance(b, DimVar) and not isinstance(a, DimVar):
            a, b = b, a
        # n = n*m would need m = 1, which no placeholder stands for
        if isinstance(a, DimVar) and b != 1 and not (isinstance(b, Size) and a in b.factors):
            self.parent[a] = b
            return b
        if isinstance(a, Size) and isinstance(b, Size) and a.number == b.number:
            # sizes are whole numbers above 0, so common factors cancel: m*p = m*n ties p to n
            rest_a, rest_b = list(a.factors), list(b.factors)
            for f in a.factors:
                if f in rest_b:
                    rest_a.remove(f)
                    rest_b.remove(f)
            if len(rest_a) < len(a.factors) and self.unify(_product(1, rest_a), _product(1, rest_b)) is not None:
                return self.find(a)
            # and equal powers have equal bases: n*n = p*p ties n to p (K[n, n] beside kron(X, X))
            if len(set(rest_a)) == 1 and len(set(rest_b)) == 1 and len(rest_a) == len(rest_b) > 1:
                if self.unify(rest_a[0], rest_b[0]) is not None:
                    return self.find(a)
        # a real conflict: 1 against a size, two different sizes, or two products that only
        # some choice of sizes would make equal (n*m and p*q): refused rather than guessed
        return None

    def settle(self):
        """Unify the pending products again until nothing changes; one still unequal is refused."""
        progress = True
        while self.pending and progress:
            waiting, self.pending, progress = self.pending, [], False
            for a, b, describe in waiting:
                if self.unify(a, b) is None:
                    self.pending.append((a, b, describe))
                else:
                    progress = True
        if self.pending:
            raise ShapeError(self.pending[0][2]())

    def names(self, dims_in_order) -> dict:
        """Give each class of placeholders a readable name, in order of first appearance."""
        naming, fresh = {}, fresh_labels()
        for d in dims_in_order:
            root = self.find(d)
            if isinstance(root, DimVar) and root not in naming:
                naming[root] = next(fresh)
        return naming

    def final_sizes(self, dims_in_order):
        """The function from a dimension to its size once parsing ends: each placeholder its
        class's name (see ``names``), a product the product of those names."""
        naming = self.names(dims_in_order)

        def final(d):
            d = self.find(d)
            if isinstance(d, DimVar):
                return naming[d]
            if isinstance(d, Size) and d.placeholders:
                return _multiplied(d.factors, lambda f: naming.get(f, f))
            return d

        return final


_unifier: contextvars.ContextVar[Unifier | None] = contextvars.ContextVar("unifier", default=None)


@contextmanager
def unifying(unifier: Unifier):
    token = _unifier.set(unifier)
    try:
        yield unifier
    finally:
        _unifier.reset(token)


def resolve(d):
    u = _unifier.get()
    return u.find(d) if u else d


def unify(a, b, describe) -> object:
    """Return the common size of a and b, or raise ShapeError with ``describe()`` as the cause."""
    u = _unifier.get()
    common = u.unify(a, b) if u else (a if a == b else None)
    if common is None and u is not None and _undecided(u.find(a)) and _undecided(u.find(b)):
        u.pending.append((a, b, describe))  # decided once the text is read
        return a
    if common is None:
        raise ShapeError(describe())
    return common


def unified_now(a, b) -> object | None:
    """The common size of a and b if they unify as the text stands (nothing deferred), else None."""
    u = _unifier.get()
    return u.unify(a, b) if u else (a if a == b else None)


def _undecided(d) -> bool:
    return isinstance(d, Size) and d.placeholders


def dim_str(d) -> str:
    d = resolve(d)
    return d.label if isinstance(d, DimVar) else str(d)


def shape_str(shape) -> str:
    return f"{dim_str(shape[0])} x {dim_str(shape[1])}"


def fresh_labels():
    return itertools.chain(DIM_NAMES, (f"n{i}" for i in itertools.count(1)))


def is_one(d) -> bool:
    # a placeholder never stands for 1 (unify refuses to tie one to 1), so nothing needs resolving
    return d == 1


def is_scalar_shape(shape) -> bool:
    return shape[0] == 1 and shape[1] == 1


def is_column_shape(shape) -> bool:
    return is_one(shape[1]) and not is_one(shape[0])


def is_row_shape(shape) -> bool:
    return is_one(shape[0]) and not is_one(shape[1])


def product_dim(*dims):
    """The size of a Kronecker product or a vec along one axis: the product of ``dims``, in the
    one form of each size (``n*m`` for m*n, n for n*1, 1 for 1*1)."""
    return _multiplied(dims, resolve)
