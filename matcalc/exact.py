"""The exact check: expand every symbol into an explicit sympy matrix of small size and compare
the gradient with sympy's entry-by-entry derivative, symbolically."""

from __future__ import annotations

from collections import Counter
from functools import reduce

import sympy as sp

from . import expr as E
from .evaluate import commutation_matrix
from .functions import FUNCTIONS, param_symbols, symbols
from .kinds import kind_of
from .registry import rule_for
from .shapes import size_factors
from .verify import symbols_of


def _dim(d, size: int) -> int:
    """A dimension's value when every size name has the value ``size``."""
    number, names = size_factors(d)
    return number * size ** len(names)


def _explicit(symbol: E.Symbol, size: int) -> sp.Matrix:
    rows, cols = (_dim(d, size) for d in symbol.dims)
    if kind_of(symbol).explicit is not None:  # a kind whose entries are tied (one-hot, orthogonal, diagonal)
        return kind_of(symbol).explicit(symbol.name, rows, cols)
    entry = kind_of(symbol).entry  # positions holding the same entry share one sympy symbol
    return sp.Matrix(rows, cols, lambda i, j: sp.Symbol("{}_{}{}".format(symbol.name, *entry(i, j)), real=True))


def _applied(fn: str, a, params: list):
    """A row's definition at the entry ``a``, with its parameters' values."""
    return FUNCTIONS[fn].definition.subs({symbols()[0]: a, **dict(zip(param_symbols(len(params)), params, strict=True))})



def _along(u: sp.Matrix, axis, f) -> list:
    """``f`` of each row (axis 2), each column (axis 1) or all entries (None) of u, as lists."""
    if axis is None:
        return [f(list(u))]
    return [f(list(u.row(i))) for i in range(u.rows)] if axis == 2 else [f(list(u.col(j))) for j in range(u.cols)]


def _shaped(values, axis) -> sp.Matrix:
    """Per-row values (axis 2) as a column, per-column ones (axis 1) as a row, one as 1 x 1; a
    list of lists (a softmax of each row or column) back into the matrix they came from."""
    if isinstance(values[0], list):
        m = sp.Matrix(values)
        return m if axis == 2 else m.T
    return sp.Matrix(values) if axis == 2 else sp.Matrix([values])


def _softmax(entries):
    z = [sp.exp(a) for a in entries]
    return [a / sum(z) for a in z]


def _logsumexp(entries):
    return sp.log(sum(sp.exp(a) for a in entries))


def _mean(entries):
    return sum(entries) / len(entries)


def _var(entries):
    m = _mean(entries)
    return sum((a - m) ** 2 for a in entries) / len(entries)


def _axis_rule(f):
    """The row of SYMPY for a node along an axis that applies ``f`` to each row, column or all."""
    return lambda e, v: _shaped(_along(v[0], e.axis, f), e.axis)


# fmt: off
SYMPY = {
    E.Add:        lambda e, v: reduce(lambda a, b: a + b, v),
    E.MatMul:     lambda e, v: reduce(lambda a, b: a * b, v),
    E.Scale:      lambda e, v: v[0][0, 0] * v[1],
    E.Transpose:  lambda e, v: v[0].T,
    E.Hadamard:   lambda e, v: reduce(lambda a, b: a.multiply_elementwise(b), v),
    E.Kron:       lambda e, v: sp.kronecker_product(v[0], v[1]),
    E.Trace:      lambda e, v: sp.Matrix([[v[0].trace()]]),
    E.Sum:        lambda e, v: sp.Matrix([[sum(v[0])]]),
    E.DiagMatrix: lambda e, v: sp.diag(*v[0]),
    E.DiagVector: lambda e, v: sp.Matrix([v[0][i, i] for i in range(v[0].rows)]),
    E.Inverse:    lambda e, v: v[0].inv(),
    E.MatPower:   lambda e, v: v[0] ** e.exponent,
    E.Power:      lambda e, v: sp.Matrix([[v[0][0, 0] ** sp.Rational(e.exponent.numerator, e.exponent.denominator)]]),
    E.ElemPower:  lambda e, v: v[0].applyfunc(lambda a: a ** sp.Rational(e.exponent.numerator, e.exponent.denominator)),
    E.Apply:      lambda e, v: v[0].applyfunc(lambda a: _applied(e.fn, a, [p[0, 0] for p in v[1:]])),
    E.Det:        lambda e, v: sp.Matrix([[v[0].det()]]),
    E.LogDet:     lambda e, v: sp.Matrix([[sp.log(v[0].det())]]),
    E.Norm:       lambda e, v: sp.Matrix([[sp.sqrt(sum(a**2 for a in v[0]))]]),
    E.Vec:        lambda e, v: sp.Matrix(list(v[0].T)),
    E.Softmax:    _axis_rule(_softmax),
    E.LogSoftmax: _axis_rule(lambda entries: [a - _logsumexp(entries) for a in entries]),
    E.LogSumExp:  _axis_rule(_logsumexp),
    E.Mean:       _axis_rule(_mean),
    E.Var:        _axis_rule(_var),
    E.Std:        _axis_rule(lambda entries: sp.sqrt(_var(entries))),
}
# fmt: on


# fmt: off
LEAVES = {
    E.Symbol:      lambda e, values, dim: values[e.name],
    E.Const:       lambda e, values, dim: sp.Matrix([[sp.Rational(e.value.numerator, e.value.denominator)]]),
    E.Identity:    lambda e, values, dim: sp.eye(dim(e.n)),
    E.Count:       lambda e, values, dim: sp.Matrix([[dim(e.n)]]),
    E.Commutation: lambda e, values, dim: sp.Matrix(commutation_matrix(*(dim(d) for d in e.dims)).astype(int)),
    E.Ones:        lambda e, values, dim: sp.ones(*(dim(d) for d in e.dims)),
    E.Zero:        lambda e, values, dim: sp.zeros(*(dim(d) for d in e.dims)),
}
# fmt: on


def to_sympy(e: E.Expr, values: dict, size: int) -> sp.Matrix:
    """The value of ``e`` as an explicit sympy matrix; every dimension name has size ``size``."""
    memo: dict = {}

    def ev(node):
        if node in memo:
            return memo[node]
        leaf = LEAVES.get(type(node))
        if leaf is not None:
            out = leaf(node, values, lambda d: _dim(d, size))
        else:
            out = rule_for(SYMPY, node, "the exact check")(node, [ev(k) for k in node.children()])
        memo[node] = out
        return out

    return ev(e)


def exact_check(of: E.Expr, variable: E.Symbol, derivative: E.Expr, kind: str = "gradient", size: int = 2) -> bool:
    """True when the derivative equals sympy's entry-by-entry derivative of ``of`` for explicit
    ``size`` x ``size`` symbolic inputs.  For a gradient, positions that hold one entry share
    its symbol (x_ij = x_ji when symmetric), so the partial derivative counts each of them:
    df/dx_ij = 2 G_ij off the diagonal of a symmetric matrix.
    For a Jacobian or Hessian (``of`` is then the function or the gradient), column k of J is
    vec(d of / d x_k) with x_k the k-th entry of vec(X)."""
    values = {s.name: _explicit(s, size) for s in set(symbols_of(of)) | set(symbols_of(derivative)) | {variable}}
    f = to_sympy(of, values, size)
    d = to_sympy(derivative, values, size)
    x = values[variable.name]
    entry = kind_of(variable).entry
    sharing = Counter(entry(i, j) for i in range(x.rows) for j in range(x.cols))
    for j in range(x.cols):
        for i in range(x.rows):
            if not isinstance(x[i, j], sp.Symbol):  # an entry the kind fixes (off the diagonal of a diagonal D)
                continue
            if kind == "gradient":
                if entry(i, j) != (i, j):  # another position holds this entry: it is checked there
                    continue
                differences = [sp.diff(f[0, 0], x[i, j]) - sharing[i, j] * d[i, j]]
            else:
                column = d[:, j * x.rows + i]
                differences = [sp.diff(a, x[i, j]) - b for a, b in zip(f.T, column)]  # f.T iterates vec(f)
            if any(sp.simplify(difference) != 0 for difference in differences):
                return False
    return True
