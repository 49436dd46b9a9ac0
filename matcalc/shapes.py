"""Shapes with symbolic dimensions, and their unification while an expression is built.

A shape is ``(rows, cols)``; a dimension is the integer 1 or a name such as ``"n"``.
While text is parsed, unknown sizes are ``DimVar`` placeholders merged by a union-find
(``x^T A x`` ties the columns of A to the length of x); once parsing ends, every class
of merged placeholders gets one name and the expression is rebuilt with it.
Outside parsing there is no unifier and sizes must simply be equal.
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


Dim = "int | str | DimVar"


class Unifier:
    """Union-find over the placeholders of one parse."""

    def __init__(self):
        self.parent: dict[DimVar, object] = {}

    def find(self, d):
        while isinstance(d, DimVar) and d in self.parent:
            d = self.parent[d]
        return d

    def unify(self, a, b):
        a, b = self.find(a), self.find(b)
        if a is b or (not isinstance(a, DimVar) and a == b):
            return a
        if isinstance(b, DimVar) and not isinstance(a, DimVar):
            a, b = b, a
        if isinstance(a, DimVar) and b != 1:
            self.parent[a] = b
            return b
        return None  # a real conflict: 1 against a size, or two different sizes

    def names(self, dims_in_order) -> dict:
        """Give each class of placeholders a readable name, in order of first appearance."""
        naming, fresh = {}, fresh_labels()
        for d in dims_in_order:
            root = self.find(d)
            if isinstance(root, DimVar) and root not in naming:
                naming[root] = next(fresh)
        return naming


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
    if common is None:
        raise ShapeError(describe())
    return common


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
    """The size of a Kronecker product or a vec along one axis: ``n*m``, factors sorted so that
    equal products compare equal (sizes are numbers, their product commutes)."""
    number, names = 1, []
    for d in dims:
        d = resolve(d)
        if isinstance(d, int):
            number *= d
        elif isinstance(d, DimVar):
            names.append(d)
        else:
            for part in d.split("*"):
                if part.isdigit():
                    number *= int(part)
                else:
                    names.append(part)
    if not names:
        return number
    if any(isinstance(n, DimVar) for n in names):
        return DimVar("*".join(map(str, names)))  # unknown while parsing; fixed when the tree is rebuilt
    parts = ([str(number)] if number != 1 else []) + sorted(names)
    return "*".join(parts)
