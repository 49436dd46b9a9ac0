"""Operations along an axis, written with the nodes there are: sums along an axis are products
with ``ones``, and a value per row or column is repeated back across them the same way.

The convention is MATLAB's: an axis is the dimension an operation runs along, numbered from 1.
Along axis 2 (each row) of an m x n matrix U, ``U ones`` sums each row and ``c ones^T``
repeats a column c across the n columns; along axis 1 (each column), ``ones^T U`` and
``ones r``; over all entries (axis None), ``sum(U)`` and ``s ones ones^T``.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import expr as E


def sums(u: E.Expr, axis) -> E.Expr:
    """The sums of ``u`` along ``axis``: ``U ones`` (each row), ``ones^T U`` (each column), ``sum(U)``."""
    if axis is None:
        return E.sum_entries(u)
    if axis == 2:
        return E.mul(u, E.Ones((u.shape[1], 1)))
    return E.mul(E.transpose(E.Ones((u.shape[0], 1))), u)


def repeated(c: E.Expr, axis, shape) -> E.Expr:
    """``c``, one value per row (axis 2), per column (axis 1) or one in all (None), repeated to ``shape``."""
    if axis is None:
        return E.scale(c, E.Ones(shape)) if not E.is_scalar(E.Ones(shape)) else c
    if axis == 2:
        return E.mul(c, E.transpose(E.Ones((shape[1], 1))))
    return E.mul(E.Ones((shape[0], 1)), c)


def count(u: E.Expr, axis) -> E.Expr:
    """How many entries an operation along ``axis`` runs over, as a number."""
    return E.count(E.run_length(u, axis))


def centred(u: E.Expr, axis) -> E.Expr:
    """``U`` minus its means along ``axis``, repeated: the deviations var and std are made of."""
    return E.sub(u, repeated(E.mean(u, axis), axis, u.shape))


@dataclass(frozen=True)
class Standardisation:
    """``(U - mean(U)) ./ sigma`` along ``axis``, with ``sigma = sqrt(var(U) + c)`` (``c`` None for std(U)):
    a normalisation layer's x̂, found among the factors of an element-wise product."""

    deviations: E.Expr  # U - mean(U), repeated
    reciprocal: E.Expr  # 1 ./ sigma, repeated
    arg: E.Expr
    axis: int | None
    sigma: E.Expr
    offset: E.Expr | None

    @property
    def node(self) -> E.Expr:
        return E.hadamard(self.deviations, self.reciprocal)


def _near(e: E.Expr, depth: int = 3):
    """``e`` and the nodes at most ``depth`` levels below it: where a repeated mean or spread sits in
    its deviations or its reciprocal (a whole walk would make every product's rule cost its subtree)."""
    yield e
    if depth:
        for k in e.children():
            yield from _near(k, depth - 1)


def _spreads(u: E.Expr, axis, within: E.Expr):
    """The spreads of ``u`` along ``axis`` written in ``within``: (std(u), None) and (sqrt(var(u) + c), c)."""
    for node in _near(within):
        if isinstance(node, E.Std) and node.arg == u and node.axis == axis:
            yield node, None
        elif isinstance(node, E.Apply) and node.fn == "sqrt" and not node.params and isinstance(node.arg, E.Add):
            rest = [t for t in node.arg.terms if t != E.var(u, axis)]
            if len(rest) == len(node.arg.terms) - 1:
                yield node, E.add(*rest)


def element_factors(e: E.Expr) -> list:
    """What multiplies entry by entry in ``e``: an element-wise product's factors, a scaled matrix's
    scalar factors and its matrix's; ``(x - mean(x)) / std(x) -> [std(x)^-1, x - mean(x)]``."""
    if isinstance(e, E.Hadamard):
        return list(e.factors)
    if isinstance(e, E.Scale):
        scalars = list(e.coeff.factors) if E.is_scalar_product(e.coeff) else [e.coeff]
        return scalars + element_factors(e.arg)
    return [e]


def standardisation(factors) -> Standardisation | None:
    """Two of ``factors`` that are ``U - mean(U)`` and ``1 ./ sigma``, both along one axis and repeated
    (over all entries, ``1 / sigma`` is a scalar factor)."""
    for deviations in factors:
        if not isinstance(deviations, E.Add):
            continue
        for mean in (n for n in _near(deviations) if isinstance(n, E.Mean)):
            u, axis = mean.arg, mean.axis
            if deviations != centred(u, axis):
                continue
            shape = deviations.shape
            for reciprocal in factors:
                for sigma, offset in _spreads(u, axis, reciprocal):
                    forms = (E.elem_power(repeated(sigma, axis, shape), -1), repeated(E.elem_power(sigma, -1), axis, shape))
                    if reciprocal in forms or (E.is_scalar(sigma) and reciprocal == E.power(sigma, -1)):
                        return Standardisation(deviations, reciprocal, u, axis, sigma, offset)
    return None
