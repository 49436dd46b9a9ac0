"""Structured Hessians and Jacobians: Kronecker products kept as operators on vec(V).

``(A kron B) vec(V) = vec(B V A^T)`` costs two small products instead of a dense
(pq x rs) matrix, and ``K vec(V) = vec(V^T)`` is a transpose.  An operator applies to
vectors (``op @ v``) and becomes the dense matrix on request (``op.dense()``).
"""

from __future__ import annotations

from functools import reduce

import numpy as np

from . import expr as E
from .evaluate import commutation_matrix, evaluate, size_of


class Operator:
    shape: tuple[int, int]

    def __matmul__(self, v):
        v = np.asarray(v)
        flat = v.ndim == 1
        out = self.apply(v.reshape(-1, 1) if flat else v)
        return out.reshape(-1) if flat else out

    def apply(self, v: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def dense(self) -> np.ndarray:
        raise NotImplementedError


class Dense(Operator):
    def __init__(self, matrix):
        self.matrix, self.shape = matrix, matrix.shape

    def apply(self, v):
        return self.matrix @ v

    def dense(self):
        return self.matrix


class Kronecker(Operator):
    """A kron B, applied as vec(B V A^T)."""

    def __init__(self, a, b):
        self.a, self.b = a, b
        self.shape = (a.shape[0] * b.shape[0], a.shape[1] * b.shape[1])

    def apply(self, v):
        columns = []
        for k in range(v.shape[1]):
            block = v[:, k].reshape(self.b.shape[1], self.a.shape[1], order="F")
            columns.append((self.b @ block @ self.a.T).reshape(-1, order="F"))
        return np.stack(columns, axis=1)

    def dense(self):
        return np.kron(self.a, self.b)


class Commutation(Operator):
    """K with K vec(U) = vec(U^T) for U of shape (rows, cols)."""

    def __init__(self, rows, cols):
        self.rows, self.cols = rows, cols
        self.shape = (rows * cols, rows * cols)

    def apply(self, v):
        return np.stack([v[:, k].reshape(self.rows, self.cols, order="F").T.reshape(-1, order="F")
                         for k in range(v.shape[1])], axis=1)

    def dense(self):
        return commutation_matrix(self.rows, self.cols)


class Sum(Operator):
    def __init__(self, terms):
        self.terms, self.shape = terms, terms[0].shape

    def apply(self, v):
        return reduce(np.add, (t.apply(v) for t in self.terms))

    def dense(self):
        return reduce(np.add, (t.dense() for t in self.terms))


class Scaled(Operator):
    def __init__(self, c, op):
        self.c, self.op, self.shape = c, op, op.shape

    def apply(self, v):
        return self.c * self.op.apply(v)

    def dense(self):
        return self.c * self.op.dense()


class Product(Operator):
    def __init__(self, factors):
        self.factors = factors
        self.shape = (factors[0].shape[0], factors[-1].shape[1])

    def apply(self, v):
        for f in reversed(self.factors):
            v = f.apply(v)
        return v

    def dense(self):
        return reduce(np.matmul, (f.dense() for f in self.factors))


def structured(e: E.Expr) -> bool:
    return any(isinstance(n, (E.Kron, E.Commutation)) for n in E.nodes(e))


def as_operator(e: E.Expr, values: dict, sizes: dict) -> Operator:
    """The value of ``e`` with every Kronecker product and commutation matrix kept structured."""
    if not structured(e):
        return Dense(evaluate(e, values, sizes))
    if isinstance(e, E.Kron):
        return Kronecker(evaluate(e.left, values, sizes), evaluate(e.right, values, sizes))
    if isinstance(e, E.Commutation):
        return Commutation(*(size_of(d, sizes) for d in e.dims))
    if isinstance(e, E.Add):
        return Sum([as_operator(t, values, sizes) for t in e.terms])
    if isinstance(e, E.Scale):
        return Scaled(evaluate(e.coeff, values, sizes)[0, 0], as_operator(e.arg, values, sizes))
    if isinstance(e, E.MatMul):
        return Product([as_operator(f, values, sizes) for f in e.factors])
    return Dense(evaluate(e, values, sizes))
