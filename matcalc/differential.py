"""The table of differentials: one rule per node type, read like the table in the notes.

``differential(e, x)`` walks the tree once (shared subtrees are differentiated once) and
returns an expression linear in ``dx``.  Each row names the rule in words and as the
identity it implements; its function receives the node and ``d``, the differential of any child.
"""

from __future__ import annotations

from functools import reduce

from . import expr as E
from .axes import centred, element_factors, repeated, standardisation, sums
from .functions import derivative, param_derivative
from .registry import rule_for


def _product_rule(e, factors, combine, d):
    """d(U1 U2 ... Uk) = dU1 U2 ... Uk + U1 dU2 ... Uk + ... (any associative product)."""
    terms = []
    for i, f in enumerate(factors):
        df = d(f)
        if not isinstance(df, E.Zero):
            terms.append(reduce(combine, (*factors[:i], df, *factors[i + 1:])))
    return E.add(*terms) if terms else E.Zero(e.shape)


def _softmax(e, d):
    """d softmax(u) = s .* du - s s^T du for a column; along an axis of a matrix each row (column)
    is one softmax: dS = S .* (dU - rowsums(S .* dU) ones^T)."""
    du = d(e.arg)
    if E.is_one(e.arg.shape[1]):
        return E.sub(E.hadamard(e, du), E.matmul(e, E.transpose(e), du))
    return E.hadamard(e, E.sub(du, repeated(sums(E.hadamard(e, du), e.axis), e.axis, e.shape)))


def _weighted_sums(e, d):
    """sums of softmax(U) .* dU along the axis: d logsumexp(U), and what d logsoftmax(U) subtracts."""
    du = d(e.arg)
    s = E.softmax(e.arg, e.axis)
    if E.is_one(e.arg.shape[1]):
        return E.mul(E.transpose(s), du)
    return sums(E.hadamard(s, du), e.axis)


def _logsoftmax(e, d):
    return E.sub(d(e.arg), repeated(_weighted_sums(e, d), e.axis, e.shape))


def _var(e, d):
    """d var(U) = 2 mean((U - mean(U)) .* dU): the deviations sum to zero, so the mean's own
    differential drops out."""
    return E.mul(E.const(2), E.mean(E.hadamard(centred(e.arg, e.axis), d(e.arg)), e.axis))


def _std(e, d):
    """d std(U) = mean((U - mean(U)) .* dU) ./ std(U)."""
    top = E.mean(E.hadamard(centred(e.arg, e.axis), d(e.arg)), e.axis)
    return E.div(top, e) if E.is_scalar(e) else E.elem_div(top, e)


def _grouped(e):
    """The factors of an element-wise product (or a scaled matrix), a standardisation among them
    (x̂ .* (ones g^T), g x̂) as one factor, so that its own rule below differentiates it; None when
    there is none, or when it is all of ``e``."""
    factors = element_factors(e)
    found = standardisation(factors)
    if found is None or found.node == e:
        return None
    rest = list(factors)
    rest.remove(found.deviations)
    rest.remove(found.reciprocal)
    return [found.node, *rest]


def _hadamard(e, d):
    return _product_rule(e, _grouped(e) or e.factors, E.hadamard, d)


def _scale(e, d):
    grouped = _grouped(e)
    if grouped is not None:
        return _product_rule(e, grouped, E.hadamard, d)
    return E.add(E.mul(d(e.coeff), e.arg), E.mul(e.coeff, d(e.arg)))


def _standardised(e, d):
    """d x̂ = (dU - mean(dU) - x̂ .* mean(x̂ .* dU)) ./ sigma for x̂ = (U - mean(U)) ./ sigma along an axis:
    the deviations' differential, less x̂ times d sigma / sigma, where d sigma = mean((U - mean(U)) .* dU) / sigma
    (see _std) puts the spread back into x̂; an offset that varies adds dc / (2 sigma) to the mean."""
    found = standardisation(element_factors(e))
    du, axis, shape = d(found.arg), found.axis, e.shape
    spread = E.mean(E.hadamard(e, du), axis)
    if found.offset is not None and not isinstance(dc := d(found.offset), E.Zero):
        spread = E.add(spread, E.elem_div(dc, E.mul(E.const(2), found.sigma)))
    deviations = E.sub(du, repeated(E.mean(du, axis), axis, shape))
    return E.hadamard(E.sub(deviations, E.hadamard(e, repeated(spread, axis, shape))), found.reciprocal)


def _matrix_power(e, d):
    u, k = e.arg, e.exponent
    return E.add(*(E.matmul(E.power(u, i), d(u), E.power(u, k - 1 - i)) for i in range(k)))


def _element_wise(e, d):
    """d f(U, a) = f'(U) .* dU + f_a(U) da: a parameter that varies (a scalar) adds its term."""
    out = E.hadamard(derivative(e.fn, e.arg, e.params), d(e.arg))
    for i, p in enumerate(e.params):
        dp = d(p)
        if not isinstance(dp, E.Zero):
            out = E.add(out, E.mul(dp, param_derivative(e.fn, i, e.arg, e.params)))
    return out


# fmt: off
RULES = {
    E.Add:        ("sum rule",                                  "d(U + V) = dU + dV",                  lambda e, d: E.add(*map(d, e.terms))),
    E.MatMul:     ("product rule",                              "d(U V) = dU V + U dV",                lambda e, d: _product_rule(e, e.factors, E.mul, d)),
    E.Scale:      ("product rule for a scalar factor",          "d(a U) = da U + a dU",                _scale),
    E.Transpose:  ("transpose rule",                            "d(U^T) = (dU)^T",                     lambda e, d: E.transpose(d(e.arg))),
    E.Inverse:    ("differential of the inverse",               "d(U^-1) = -U^-1 dU U^-1",             lambda e, d: E.neg(E.matmul(e, d(e.arg), e))),
    E.MatPower:   ("differential of a matrix power",            "d(U^k) = sum_i U^i dU U^(k-1-i)",     _matrix_power),
    E.Power:      ("power rule",                                "d(a^p) = p a^(p-1) da",               lambda e, d: E.mul(E.mul(E.Const(e.exponent), E.power(e.base, e.exponent - 1)), d(e.base))),
    E.Hadamard:   ("product rule for the element-wise product", "d(U .* V) = dU .* V + U .* dV",       _hadamard),
    E.ElemPower:  ("element-wise power rule",                   "d(U .^ p) = p U .^ (p-1) .* dU",      lambda e, d: E.hadamard(E.mul(E.Const(e.exponent), E.elem_power(e.arg, e.exponent - 1)), d(e.arg))),
    E.Apply:      ("chain rule for an element-wise function",   "d f(U) = f'(U) .* dU",                _element_wise),
    E.Det:        ("differential of the determinant (Jacobi)",  "d det U = det U tr(U^-1 dU)",         lambda e, d: E.mul(e, E.trace(E.mul(E.inverse(e.arg), d(e.arg))))),
    E.LogDet:     ("differential of the log-determinant",       "d logdet U = tr(U^-1 dU)",            lambda e, d: E.trace(E.mul(E.inverse(e.arg), d(e.arg)))),
    E.Trace:      ("linearity of the trace",                    "d tr U = tr dU",                      lambda e, d: E.trace(d(e.arg))),
    E.Sum:        ("linearity of the sum",                      "d sum U = sum dU",                    lambda e, d: E.sum_entries(d(e.arg))),
    E.Norm:       ("differential of the norm",                  "d ||U|| = <U, dU> / ||U||",           lambda e, d: E.div(E.inner(e.arg, d(e.arg)), e)),
    E.DiagMatrix: ("linearity of diag",                         "d diag(u) = diag(du)",                lambda e, d: E.diag(d(e.arg))),
    E.DiagVector: ("linearity of diag",                         "d diag(U) = diag(dU)",                lambda e, d: E.diag(d(e.arg))),
    E.Softmax:    ("differential of softmax",                   "d softmax(U) = S .* (dU - (S .* dU) ones ones^T)", _softmax),
    E.LogSumExp:  ("differential of log-sum-exp",               "d logsumexp(U) = (softmax(U) .* dU) ones", _weighted_sums),
    E.LogSoftmax: ("differential of log-softmax",               "d logsoftmax(U) = dU - (softmax(U) .* dU) ones ones^T", _logsoftmax),
    E.Mean:       ("linearity of the mean",                     "d mean(U) = mean(dU)",                lambda e, d: E.mean(d(e.arg), e.axis)),
    E.Var:        ("differential of the variance",              "d var(U) = 2 mean((U - mean(U)) .* dU)", _var),
    E.Std:        ("differential of the standard deviation",    "d std(U) = mean((U - mean(U)) .* dU) / std(U)", _std),
    E.Kron:       ("product rule for the Kronecker product",    "d(U kron V) = dU kron V + U kron dV", lambda e, d: _product_rule(e, (e.left, e.right), E.kron, d)),
    E.Vec:        ("linearity of vec",                          "d vec(U) = vec(dU)",                  lambda e, d: E.vec(d(e.arg))),
}
# fmt: on

# Compound forms differentiated as a whole, in the form the literature writes their rule; a node of
# such a form takes its lemma's row instead of its type's.
# fmt: off
LEMMAS = (
    (lambda e: isinstance(e, (E.Hadamard, E.Scale)) and (s := standardisation(element_factors(e))) is not None and s.node == e,
     "differential of a standardisation H of U by its spread", "d H = (dU - mean(dU) - H .* mean(H .* dU)) ./ s", _standardised),
)
# fmt: on


def row_for(node: E.Expr) -> tuple:
    """(words, identity, rule) that differentiates ``node``: its lemma's, else its type's."""
    for applies, *row in LEMMAS:
        if applies(node):
            return tuple(row)
    return rule_for(RULES, node, "the differential")


def differential(e: E.Expr, variables) -> E.Expr:
    """``d e`` with respect to one variable or several at once: an expression linear in their
    differentials (``dW1``, ``db1``, ...), each shared subtree differentiated once."""
    variables = frozenset([variables] if isinstance(variables, E.Symbol) else variables)
    memo: dict = {}

    def d(node: E.Expr) -> E.Expr:
        if node in memo:
            return memo[node]
        if variables.isdisjoint(node.free):
            out: E.Expr = E.Zero(node.shape)
        elif node in variables:
            out = E.Differential(node)
        else:
            out = row_for(node)[2](node, d)
        memo[node] = out
        return out

    return d(e)
