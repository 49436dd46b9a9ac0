"""The kinds a symbol can be declared: one row of ``TABLE`` each, saying all that depends on it.

A kind fixes a symbol's shape (from fresh sizes), whether it equals its transpose, how the
numeric check draws a value and a direction of it, how a gradient is projected onto the
matrices of the kind, and how the exact check writes it as an explicit matrix.  The rest
of matcalc asks this table rather than compare a symbol's kind with a name, so that a new
kind is one more row.

A kind may also be an assumption about the values (one-hot labels, ±1 labels, an orthogonal
matrix): its ``facts`` license identities of the normal form (``sum(y) = 1`` for a one-hot y,
``Q^T Q = I`` for an orthogonal Q), each a named row there that asks ``declared(e, fact)``.
The values of such a kind form a discrete set or a surface (``fixed`` says which), so no
derivative is taken with respect to a symbol of it; it is data the function depends on.
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
    facts: frozenset = frozenset()  # what every value satisfies, for the identities it licenses
    fixed: str | None = None  # why there is no derivative with respect to it: what its values are confined to
    explicit: Callable | None = None  # (name, rows, cols) -> an explicit sympy matrix of the kind, if not plain entries


# The facts a kind's values satisfy, each licensing identities of the normal form.
SUMS_TO_ONE = "its entries sum to one"
ROWS_SUM_TO_ONE = "each of its rows sums to one"
SIGNS = "its entries are -1 or 1"
ZERO_ONE = "its entries are 0 or 1"
NONNEGATIVE = "its entries are non-negative"
POSITIVE = "its entries are positive"
ORTHOGONAL = "it is orthogonal"


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


def _by_name(fresh):
    """No shape of its own: a capital name a matrix, another a vector, as undeclared names are."""
    return None


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


def _one_hot(rng, entries):
    """A unit column: one entry 1, the others 0."""
    out = np.zeros(entries.shape)
    out[rng.integers(entries.shape[0]), 0] = 1.0
    return out


def _one_hot_rows(rng, entries):
    """Each row a unit row."""
    rows, cols = entries.shape
    out = np.zeros((rows, cols))
    out[np.arange(rows), rng.integers(cols, size=rows)] = 1.0
    return out


def _probabilities(rng, entries):
    """Positive entries summing to one."""
    p = rng.uniform(0.1, 1.0, entries.shape)
    return p / p.sum()


def _stochastic_rows(rng, entries):
    """Positive entries, each row summing to one."""
    p = rng.uniform(0.1, 1.0, entries.shape)
    return p / p.sum(axis=1, keepdims=True)


def _signs(rng, entries):
    return rng.choice([-1.0, 1.0], size=entries.shape)


def _zeros_and_ones(rng, entries):
    return rng.integers(0, 2, size=entries.shape).astype(float)


def _positive(rng, entries):
    return rng.uniform(0.5, 1.5, entries.shape)


def _orthogonal(rng, entries):
    """Q of the QR factorisation of a Gaussian matrix, its columns' signs fixed by R's diagonal:
    a uniformly random orthogonal matrix."""
    q, r = np.linalg.qr(rng.standard_normal(entries.shape))
    return q * np.sign(np.diag(r))


def _diagonal(rng, entries):
    """A diagonal matrix from the drawn diagonal, kept away from zero (so that it is invertible)."""
    d = np.diag(entries).copy()
    return np.diag(np.sign(d) * (0.5 + np.abs(d)) + (d == 0))


def _any(v):
    return v


def _symmetric_direction(v):
    return (v + v.T) / 2


def _diagonal_direction(v):
    return np.diag(np.diag(v))


def _unchanged(g: E.Expr) -> E.Expr:
    return g


def _symmetric_part(g: E.Expr) -> E.Expr:
    """sym(G) = (G + G^T)/2: for a symmetric dX, <G, dX> = <sym(G), dX>, and sym(G) is the one
    symmetric matrix with that property."""
    # term by term: a symmetric term is its own part (S^-1 - (A + A^T)/2, not (S^-1 + S^-T - A - A^T)/2)
    terms = g.terms if isinstance(g, E.Add) else (g,)
    kept = [t for t in terms if E.is_symmetric(t)]
    rest = [t for t in terms if not E.is_symmetric(t)]
    if not rest:
        return g
    both = E.add(*rest, *map(E.transpose, rest))
    return E.add(*kept, E.scale(E.Const(Fraction(1, 2)), both))


def _diagonal_part(g: E.Expr) -> E.Expr:
    """diag(diag(G)): for a diagonal dX, <G, dX> sees only the diagonal of G; term by term, a
    diagonal term (D^-1) kept as it is."""
    terms = g.terms if isinstance(g, E.Add) else (g,)
    return E.add(*(t if E.is_diagonal(t) else E.diag(E.diag(t)) for t in terms))


def _own(i, j):
    return (i, j)


def _upper(i, j):
    return (min(i, j), max(i, j))


def _explicit_entries(make):
    """An explicit sympy matrix from ``make(sp, name, i, j, rows, cols)``, one entry each."""

    def explicit(name, rows, cols):
        import sympy as sp

        return sp.Matrix(rows, cols, lambda i, j: make(sp, name, i, j, rows, cols))

    return explicit


def _entry(sp, name, i, j, **assumptions):
    return sp.Symbol(f"{name}_{i}{j}", real=True, **assumptions)


# Values of a fixed kind in the exact check: a point of the set (a one-hot e_1, alternating signs),
# or the set itself where it has a symbolic form (the last entry of a probability vector is 1
# minus the others; a rotation by a symbolic angle in the first two coordinates).
_ONE_HOT = _explicit_entries(lambda sp, name, i, j, rows, cols: int(i == 0))
_ONE_HOT_ROWS = _explicit_entries(lambda sp, name, i, j, rows, cols: int(j == i % cols))
_SIGNS = _explicit_entries(lambda sp, name, i, j, rows, cols: (-1) ** (i + j))
_ZERO_ONE = _explicit_entries(lambda sp, name, i, j, rows, cols: (i + j + 1) % 2)
_POSITIVE = _explicit_entries(lambda sp, name, i, j, rows, cols: _entry(sp, name, i, j, positive=True))
_DIAGONAL = _explicit_entries(lambda sp, name, i, j, rows, cols: _entry(sp, name, i, j) if i == j else 0)


def _probability_entry(sp, name, i, j, rows, cols):
    """Down the column: the last entry is 1 minus the others."""
    if i < rows - 1:
        return _entry(sp, name, i, j, positive=True)
    return 1 - sum(_entry(sp, name, k, j, positive=True) for k in range(rows - 1))


def _stochastic_entry(sp, name, i, j, rows, cols):
    """Along each row: the last entry is 1 minus the others."""
    if j < cols - 1:
        return _entry(sp, name, i, j, positive=True)
    return 1 - sum(_entry(sp, name, i, k, positive=True) for k in range(cols - 1))


_PROBABILITIES = _explicit_entries(_probability_entry)
_STOCHASTIC_ROWS = _explicit_entries(_stochastic_entry)


def _rotation(name, rows, cols):
    import sympy as sp

    t = sp.Symbol(f"{name}_angle", real=True)
    q = sp.eye(rows)
    if rows > 1:
        q[0, 0], q[0, 1], q[1, 0], q[1, 1] = sp.cos(t), -sp.sin(t), sp.sin(t), sp.cos(t)
    return q


SYM = ("gradient on symmetric matrices", "sym(G) = (G + G^T)/2")
DIAG = ("gradient on diagonal matrices", "diag(diag(G))")
DISCRETE = "a discrete set"

# fmt: off
TABLE = {kind.name: kind for kind in [
    #    name         noun                dims          symmetric  value                        direction             project          projection  entry    hessian
    Kind("scalar",    "scalar",           _one,         True,      _as_drawn,                   _any,                 _unchanged,      None,       _own,    True),
    Kind("vector",    "vector",           _column,      False,     _as_drawn,                   _any,                 _unchanged,      None,       _own,    True),
    Kind("matrix",    "matrix",           _rectangular, False,     _well_conditioned_if_square, _any,                 _unchanged,      None,       _own,    True),
    Kind("symmetric", "symmetric matrix", _square,      True,      _positive_definite,          _symmetric_direction, _symmetric_part, SYM,        _upper,  False),
    Kind("posdef",    "positive definite matrix", _square, True,   _positive_definite,          _symmetric_direction, _symmetric_part, SYM,        _upper,  False),
    Kind("diagonal",  "diagonal matrix",  _square,      True,      _diagonal,                   _diagonal_direction,  _diagonal_part,  DIAG,       _own,    False,
         explicit=_DIAGONAL),
    Kind("positive",  "positive",         _by_name,     False,     _positive,                   _any,                 _unchanged,      None,       _own,    True,
         facts=frozenset({POSITIVE, NONNEGATIVE}), explicit=_POSITIVE),
    Kind("orthogonal", "orthogonal matrix", _square,    False,     _orthogonal,                 _any,                 _unchanged,      None,       _own,    False,
         facts=frozenset({ORTHOGONAL}), fixed="the orthogonal matrices (Q^T Q = I)", explicit=_rotation),
    Kind("onehot",    "one-hot vector",   _column,      False,     _one_hot,                    _any,                 _unchanged,      None,       _own,    False,
         facts=frozenset({SUMS_TO_ONE, ZERO_ONE, NONNEGATIVE}), fixed=DISCRETE, explicit=_ONE_HOT),
    Kind("probability", "probability vector", _column,  False,     _probabilities,              _any,                 _unchanged,      None,       _own,    False,
         facts=frozenset({SUMS_TO_ONE, NONNEGATIVE}), fixed="the probability vectors (their entries sum to one)", explicit=_PROBABILITIES),
    Kind("onehot_rows", "matrix of one-hot rows", _rectangular, False, _one_hot_rows,           _any,                 _unchanged,      None,       _own,    False,
         facts=frozenset({ROWS_SUM_TO_ONE, ZERO_ONE, NONNEGATIVE}), fixed=DISCRETE, explicit=_ONE_HOT_ROWS),
    Kind("stochastic_rows", "row-stochastic matrix", _rectangular, False, _stochastic_rows,     _any,                 _unchanged,      None,       _own,    False,
         facts=frozenset({ROWS_SUM_TO_ONE, NONNEGATIVE}), fixed="the row-stochastic matrices (each row sums to one)", explicit=_STOCHASTIC_ROWS),
    Kind("pm1",       "labels of -1 and 1", _by_name, False,    _signs,                      _any,                 _unchanged,      None,       _own,    False,
         facts=frozenset({SIGNS}), fixed=DISCRETE, explicit=_SIGNS),
    Kind("binary",    "labels of 0 and 1", _by_name, False,     _zeros_and_ones,             _any,                 _unchanged,      None,       _own,    False,
         facts=frozenset({ZERO_ONE, NONNEGATIVE}), fixed=DISCRETE, explicit=_ZERO_ONE),
]}
ALIASES = {"spd": "posdef", "sign": "pm1", "stochastic": "stochastic_rows"}  # other names a person types
# fmt: on

NAMES = tuple(TABLE)


def kind_of(of) -> Kind:
    """The row of a kind, given its name (or another name for it) or a symbol."""
    return TABLE[canonical(of) if isinstance(of, str) else of.kind]


def is_kind(name) -> bool:
    return isinstance(name, str) and (name in TABLE or name in ALIASES)


def canonical(name: str) -> str:
    """The name of the row a kind's name, or another name for it (``spd``), stands for."""
    return ALIASES.get(name, name)


def dims_of(name: str, kind: str, fresh):
    """The shape of a symbol named ``name`` of the kind: the kind's own, or where the kind has
    none (positive, labels), a matrix for a capital name and a vector for another."""
    dims = kind_of(kind).dims(fresh)
    if dims is None:
        return kind_of("matrix" if name[0].isupper() else "vector").dims(fresh)
    return dims


def declared(e, fact: str) -> bool:
    """Whether ``e`` is a symbol (or, for a fact that its transpose shares, its transpose) declared
    of a kind whose values satisfy ``fact``."""
    if fact not in (SUMS_TO_ONE, ROWS_SUM_TO_ONE) and isinstance(e, E.Transpose):  # Q^T is orthogonal too
        e = e.arg
    return isinstance(e, E.Symbol) and fact in TABLE[e.kind].facts


def listing(last: str = "or") -> str:
    """The kinds in words: "scalar, vector, matrix or symmetric"."""
    return f"{', '.join(NAMES[:-1])} {last} {NAMES[-1]}"


def project(of, g: E.Expr) -> E.Expr:
    """The gradient ``g`` projected onto the matrices of the kind of ``of`` (a kind or a symbol)."""
    return kind_of(of).project(g)
