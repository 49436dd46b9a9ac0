"""The table of differentials: one rule per node type, read like the table in the notes.

``differential(e, x)`` walks the tree once (shared subtrees are differentiated once) and
returns an expression linear in ``dx``.  Each rule receives the node and ``d``, the
differential of any child, and may say which identity it applied through ``record``.
"""

from __future__ import annotations

from functools import reduce

from . import expr as E
from .errors import MatcalcError
from .functions import derivative


def _product_rule(e, factors, combine, d):
    """d(U1 U2 ... Uk) = dU1 U2 ... Uk + U1 dU2 ... Uk + ... (any associative product)."""
    terms = []
    for i, f in enumerate(factors):
        df = d(f)
        if not isinstance(df, E.Zero):
            terms.append(reduce(combine, (*factors[:i], df, *factors[i + 1:])))
    return E.add(*terms) if terms else E.Zero(e.shape)


def _matrix_power(e, d):
    u, k = e.arg, e.exponent
    return E.add(*(E.matmul(E.power(u, i), d(u), E.power(u, k - 1 - i)) for i in range(k)))


# fmt: off
RULES = {
    E.Add:        ("d(U + V) = dU + dV",                      lambda e, d: E.add(*map(d, e.terms))),
    E.MatMul:     ("d(U V) = dU V + U dV",                    lambda e, d: _product_rule(e, e.factors, E.mul, d)),
    E.Scale:      ("d(a U) = da U + a dU",                    lambda e, d: E.add(E.mul(d(e.coeff), e.arg), E.mul(e.coeff, d(e.arg)))),
    E.Transpose:  ("d(U^T) = (dU)^T",                         lambda e, d: E.transpose(d(e.arg))),
    E.Inverse:    ("d(U^-1) = -U^-1 dU U^-1",                 lambda e, d: E.neg(E.matmul(e, d(e.arg), e))),
    E.MatPower:   ("d(U^k) = sum_i U^i dU U^(k-1-i)",         _matrix_power),
    E.Power:      ("d(a^p) = p a^(p-1) da",                   lambda e, d: E.mul(E.mul(E.Const(e.exponent), E.power(e.base, e.exponent - 1)), d(e.base))),
    E.Hadamard:   ("d(U .* V) = dU .* V + U .* dV",           lambda e, d: _product_rule(e, e.factors, E.hadamard, d)),
    E.ElemPower:  ("d(U .^ p) = p U .^ (p-1) .* dU",          lambda e, d: E.hadamard(E.mul(E.Const(e.exponent), E.elem_power(e.arg, e.exponent - 1)), d(e.arg))),
    E.Apply:      ("d f(U) = f'(U) .* dU",                    lambda e, d: E.hadamard(derivative(e.fn, e.arg), d(e.arg))),
    E.Det:        ("d det U = det U tr(U^-1 dU)",             lambda e, d: E.mul(e, E.trace(E.mul(E.inverse(e.arg), d(e.arg))))),
    E.LogDet:     ("d logdet U = tr(U^-1 dU)",                lambda e, d: E.trace(E.mul(E.inverse(e.arg), d(e.arg)))),
    E.Trace:      ("d tr U = tr dU",                          lambda e, d: E.trace(d(e.arg))),
    E.Sum:        ("d sum U = sum dU",                        lambda e, d: E.sum_entries(d(e.arg))),
    E.Norm:       ("d ||U|| = <U, dU> / ||U||",               lambda e, d: E.div(E.inner(e.arg, d(e.arg)), e)),
    E.DiagMatrix: ("d diag(u) = diag(du)",                    lambda e, d: E.diag(d(e.arg))),
    E.DiagVector: ("d diag(U) = diag(dU)",                    lambda e, d: E.diag(d(e.arg))),
    E.Softmax:    ("d softmax(u) = s .* du - s s^T du",       lambda e, d: E.sub(E.hadamard(e, d(e.arg)), E.matmul(e, E.transpose(e), d(e.arg)))),
    E.LogSumExp:  ("d logsumexp(u) = softmax(u)^T du",        lambda e, d: E.mul(E.transpose(E.softmax(e.arg)), d(e.arg))),
    E.Kron:       ("d(U kron V) = dU kron V + U kron dV",     lambda e, d: _product_rule(e, (e.left, e.right), E.kron, d)),
}
# fmt: on


def differential(e: E.Expr, variable: E.Symbol, record=None) -> E.Expr:
    """``d e`` with respect to ``variable``: an expression linear in ``d variable``."""
    dx = E.Differential(variable)
    memo: dict = {}

    def d(node: E.Expr) -> E.Expr:
        if node in memo:
            return memo[node]
        if variable not in node.free:
            out: E.Expr = E.Zero(node.shape)
        elif node == variable:
            out = dx
        elif type(node) in RULES:
            name, rule = RULES[type(node)]
            out = rule(node, d)
            if record is not None:
                record(name, node, out)
        else:
            raise MatcalcError(f"no differential rule for {type(node).__name__}")
        memo[node] = out
        return out

    return d(e)
