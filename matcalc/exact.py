"""The exact check: expand every symbol into an explicit sympy matrix of small size and compare
the gradient with sympy's entry-by-entry derivative, symbolically."""

from __future__ import annotations

from functools import reduce

import sympy as sp

from . import expr as E
from .evaluate import commutation_matrix
from .functions import FUNCTIONS, symbols
from .registry import rule_for
from .verify import symbols_of


def _explicit(symbol: E.Symbol, size: int) -> sp.Matrix:
    rows, cols = (size if isinstance(d, str) else d for d in symbol.dims)
    if symbol.kind == "symmetric":
        return sp.Matrix(rows, cols, lambda i, j: sp.Symbol(f"{symbol.name}_{min(i, j)}{max(i, j)}", real=True))
    return sp.Matrix(rows, cols, lambda i, j: sp.Symbol(f"{symbol.name}_{i}{j}", real=True))


def _softmax(u):
    z = u.applyfunc(sp.exp)
    return z / sum(z)


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
    E.Apply:      lambda e, v: v[0].applyfunc(lambda a: FUNCTIONS[e.fn].definition.subs(symbols()[0], a)),
    E.Det:        lambda e, v: sp.Matrix([[v[0].det()]]),
    E.LogDet:     lambda e, v: sp.Matrix([[sp.log(v[0].det())]]),
    E.Norm:       lambda e, v: sp.Matrix([[sp.sqrt(sum(a**2 for a in v[0]))]]),
    E.Vec:        lambda e, v: sp.Matrix(list(v[0].T)),
    E.Softmax:    lambda e, v: _softmax(v[0]),
    E.LogSumExp:  lambda e, v: sp.Matrix([[sp.log(sum(sp.exp(a) for a in v[0]))]]),
}
# fmt: on


# fmt: off
LEAVES = {
    E.Symbol:      lambda e, values, dim: values[e.name],
    E.Const:       lambda e, values, dim: sp.Matrix([[sp.Rational(e.value.numerator, e.value.denominator)]]),
    E.Identity:    lambda e, values, dim: sp.eye(dim(e.n)),
    E.Commutation: lambda e, values, dim: sp.Matrix(commutation_matrix(*(dim(d) for d in e.dims)).astype(int)),
    E.Ones:        lambda e, values, dim: sp.ones(*(dim(d) for d in e.dims)),
    E.Zero:        lambda e, values, dim: sp.zeros(*(dim(d) for d in e.dims)),
}
# fmt: on


def to_sympy(e: E.Expr, values: dict, size: int) -> sp.Matrix:
    """The value of ``e`` as an explicit sympy matrix; every dimension name has size ``size``."""
    memo: dict = {}

    def dim(d):
        return d if isinstance(d, int) else size ** (d.count("*") + 1)

    def ev(node):
        if node in memo:
            return memo[node]
        leaf = LEAVES.get(type(node))
        if leaf is not None:
            out = leaf(node, values, dim)
        else:
            out = rule_for(SYMPY, node, "the exact check")(node, [ev(k) for k in node.children()])
        memo[node] = out
        return out

    return ev(e)


def exact_check(of: E.Expr, variable: E.Symbol, derivative: E.Expr, kind: str = "gradient", size: int = 2) -> bool:
    """True when the derivative equals sympy's entry-by-entry derivative of ``of`` for explicit
    ``size`` x ``size`` symbolic inputs.  For a gradient, a symmetric variable shares
    x_ij = x_ji, so its off-diagonal partial derivatives count both entries: df/dx_ij = 2 G_ij.
    For a Jacobian or Hessian (``of`` is then the function or the gradient), column k of J is
    vec(d of / d x_k) with x_k the k-th entry of vec(X)."""
    values = {s.name: _explicit(s, size) for s in set(symbols_of(of)) | set(symbols_of(derivative)) | {variable}}
    f = to_sympy(of, values, size)
    d = to_sympy(derivative, values, size)
    x = values[variable.name]
    for j in range(x.cols):
        for i in range(x.rows):
            if kind == "gradient":
                if variable.kind == "symmetric" and j < i:
                    continue
                weight = 2 if variable.kind == "symmetric" and i != j else 1
                differences = [sp.diff(f[0, 0], x[i, j]) - weight * d[i, j]]
            else:
                column = d[:, j * x.rows + i]
                differences = [sp.diff(a, x[i, j]) - b for a, b in zip(f.T, column)]  # f.T iterates vec(f)
            if any(sp.simplify(difference) != 0 for difference in differences):
                return False
    return True
