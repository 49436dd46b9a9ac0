"""The kinds a symbol can be declared: one row of ``TABLE`` each, saying all that depends on it.

A kind fixes a symbol's shape (from fresh sizes), whether it equals its transpose, how the
numeric check draws a value and a direction of it, how a gradient is projected onto the
matrices of the kind, and how the exact check writes it as an explicit matrix.  The rest
of matcalc asks this table rather than compare a symbol's kind with a name, so that a new
kind is one more row.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from . import expr as E  # the projections build expressions; expr asks only `symmetric` of this module


@dataclass(frozen=True)
class Kind:
    name: str
    noun: str  # in messages: "the Hessian with respect to the symmetric matrix S"
    dims: Callable  # (fresh) -> (rows, cols), fresh() giving a new size
    symmetric: bool  # X^T = X for every value
    value: Callable  # (rng, entries) -> a random value, from entries drawn plainly (positive when asked)
    direction: Callable  # (v) -> a direction along which a value of the kind can change, from random v
    project: Callable  # (G) -> the gradient among the kind's matrices, for df = <G, dX> with dX of the kind
    projection: tuple[str, str] | None  # the words and identity of that step in a derivation
    entry: Callable  # (i, j) -> the entry that position (i, j) holds: (j, i) for i > j when symmetric
    hessian: bool  # whether a Hessian with respect to it is supported


def _one(fresh):
    return (1, 1)


def _column(fresh):
    return (fresh(), 1)


def _rectangular(fresh):
    rows = fresh()
    return (rows, fresh())


def _square(fresh):
    n = fresh()
    return (n, n)


def _as_drawn(rng, entries):
    return entries


def _well_conditioned_if_square(rng, entries):
    """A square matrix near 2I: invertible, with a positive determinant, as logdet and inv need."""
    n, m = entries.shape
    return 2 * np.eye(n) + 0.3 * rng.standard_normal((n, n)) if n == m > 1 else entries


def _positive_definite(rng, entries):
    n = entries.shape[0]
    m = rng.standard_normal((n, n))
    return m @ m.T / n + np.eye(n)


def _any(v):
    return v


def _symmetric_direction(v):
    return (v + v.T) / 2


def _unchanged(g: E.Expr) -> E.Expr:
    return g


def _symmetric_part(g: E.Expr) -> E.Expr:
    """sym(G) = (G + G^T)/2: for a symmetric dX, <G, dX> = <sym(G), dX>, and sym(G) is the one
    symmetric matrix with that property."""
    gt = E.transpose(g)
    return g if gt == g else E.scale(E.Const(Fraction(1, 2)), E.add(g, gt))


def _own(i, j):
    return (i, j)


def _upper(i, j):
    return (min(i, j), max(i, j))


SYM = ("gradient on symmetric matrices", "sym(G) = (G + G^T)/2")

# fmt: off
TABLE = {kind.name: kind for kind in [
    #    name         noun                dims          symmetric  value                        direction             project          projection  entry    hessian
    Kind("scalar",    "scalar",           _one,         True,      _as_drawn,                   _any,                 _unchanged,      None,       _own,    True),
    Kind("vector",    "vector",           _column,      False,     _as_drawn,                   _any,                 _unchanged,      None,       _own,    True),
    Kind("matrix",    "matrix",           _rectangular, False,     _well_conditioned_if_square, _any,                 _unchanged,      None,       _own,    True),
    Kind("symmetric", "symmetric matrix", _square,      True,      _positive_definite,          _symmetric_direction, _symmetric_part, SYM,        _upper,  False),
]}
# fmt: on

NAMES = tuple(TABLE)


def kind_of(of) -> Kind:
    """The row of a kind, given its name or a symbol."""
    return TABLE[of if isinstance(of, str) else of.kind]


def is_kind(name) -> bool:
    return isinstance(name, str) and name in TABLE


def listing(last: str = "or") -> str:
    """The kinds in words: "scalar, vector, matrix or symmetric"."""
    return f"{', '.join(NAMES[:-1])} {last} {NAMES[-1]}"


def project(of, g: E.Expr) -> E.Expr:
    """The gradient ``g`` projected onto the matrices of the kind of ``of`` (a kind or a symbol)."""
    return kind_of(of).project(g)
