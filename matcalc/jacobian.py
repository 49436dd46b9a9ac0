"""From a differential to a Jacobian: bring dF to the canonical form vec(dF) = J vec(dX).

The walk goes from the outside of dF inwards, like the gradient's, but carries the linear
map instead of a cotangent: each linear node contributes one factor, read off the
identities of Magnus and Neudecker:
vec(L U R) = (R^T kron L) vec(U), vec(U^T) = K vec(U), vec(a .* U) = diag(vec(a)) vec(U).
For vectors the Kronecker products collapse: J(A dx) = A, J(a .* dx) = diag(a).
"""

from __future__ import annotations

from functools import reduce

from . import expr as E
from .errors import MatcalcError


def _side(e: E.Expr | None, size) -> E.Expr:
    """A missing factor of a product is the identity of the right size (a scalar 1 for size 1)."""
    if e is not None:
        return e
    return E.ONE if size == 1 else E.Identity(size)


def _matmul(e, jac):
    out = []
    for i, f in enumerate(e.factors):
        if f.free & e.free and _has_dx(f):
            left = E.matmul(*e.factors[:i]) if i else None
            right = E.matmul(*e.factors[i + 1:]) if i + 1 < len(e.factors) else None
            right_t = _side(E.transpose(right) if right is not None else None, f.shape[1])
            out.append(E.mul(E.kron(right_t, _side(left, f.shape[0])), jac(f)))
    return out


def _scale(e, jac):
    out = []
    if _has_dx(e.arg):
        out.append(E.mul(e.coeff, jac(e.arg)))
    if _has_dx(e.coeff):
        out.append(E.mul(E.vec(e.arg), jac(e.coeff)))
    return out


def _hadamard(e, jac):
    out = []
    for i, f in enumerate(e.factors):
        if _has_dx(f):
            others = reduce(E.hadamard, e.factors[:i] + e.factors[i + 1:])
            out.append(E.mul(E.diag(E.vec(others)), jac(f)))
    return out


def _has_dx(e: E.Expr) -> bool:
    return any(isinstance(s, E.Differential) for s in e.free)


# fmt: off
JACOBIAN = {
    E.Add:       ("vec(U + V) = vec(U) + vec(V)",               lambda e, jac: [jac(t) for t in e.terms if _has_dx(t)]),
    E.MatMul:    ("vec(L U R) = (R^T kron L) vec(U)",           _matmul),
    E.Scale:     ("vec(a U) = a vec(U) + vec(U) da",             _scale),
    E.Transpose: ("vec(U^T) = K vec(U)",                        lambda e, jac: [E.mul(E.commutation(e.arg.shape), jac(e.arg))]),
    E.Hadamard:  ("vec(a .* U) = diag(vec(a)) vec(U)",          _hadamard),
    E.Trace:     ("tr(U) = vec(I)^T vec(U)",                    lambda e, jac: [E.mul(E.transpose(E.vec(E.Identity(e.arg.shape[0]))), jac(e.arg))]),
    E.Sum:       ("sum(U) = ones^T vec(U)",                     lambda e, jac: [E.mul(E.Ones((1, E.vec(e.arg).shape[0])), jac(e.arg))]),
    E.Vec:       ("vec(vec(U)) = vec(U)",                       lambda e, jac: [jac(e.arg)]),
}
# fmt: on


def jacobian_from_differential(dF: E.Expr, dx: E.Differential, record=None) -> E.Expr:
    """J with vec(dF) = J vec(dX), for dF linear in dX."""
    memo: dict = {}

    def jac(e: E.Expr) -> E.Expr:
        if e in memo:
            return memo[e]
        if e == dx:
            out = E.Identity(E.vec(dx).shape[0]) if not E.is_scalar(dx) else E.ONE
        elif type(e) in JACOBIAN:
            name, rule = JACOBIAN[type(e)]
            parts = rule(e, jac)
            out = E.add(*parts) if parts else E.Zero((E.vec(e).shape[0], E.vec(dx).shape[0]))
            if record is not None:
                record(name, e, out)
        else:
            raise MatcalcError(f"the Jacobian through {type(e).__name__} is not supported")
        memo[e] = out
        return out

    if not _has_dx(dF):
        return E.Zero((E.vec(dF).shape[0], E.vec(dx).shape[0]))
    return jac(dF)
