"""Numeric evaluation of expressions with NumPy, real or complex (for the complex step).

Every value is a 2-D array: a scalar is 1x1, a vector is a column.  Transposes never
conjugate and norms never take absolute values, so that f(x + i h v) stays analytic.
"""

from __future__ import annotations

from fractions import Fraction
from functools import reduce
from math import inf, prod

import numpy as np

from . import expr as E
from .errors import MatcalcError, ShapeError
from .functions import FUNCTIONS, numpy_function
from .registry import rule_for
from .shapes import shape_str, size_factors


def as_float(value: Fraction) -> float:
    """The nearest float; past the float range that is +-inf, as float("1e400") is."""
    try:
        return float(value)
    except OverflowError:
        return inf if value > 0 else -inf


def _exactly(a):
    return a


# Each helper rounds its intermediate values with ``r`` (as is: exactly): verify's rounding
# estimate rounds them at random, since a softmax's cancellation happens inside the node.
def _softmax(u, axis, r=_exactly):
    z = r(np.exp(r(u - u.real.max(axis=axis, keepdims=True))))
    return z / r(z.sum(axis=axis, keepdims=True))


def _logsumexp(u, axis, r=_exactly):
    m = u.real.max(axis=axis, keepdims=True)
    return m + r(np.log(r(r(np.exp(r(u - m))).sum(axis=axis, keepdims=True))))


def _var(u, axis, r=_exactly):
    """The population variance; no conjugate, so that the complex step stays analytic."""
    c = r(u - r(u.mean(axis=axis, keepdims=True)))
    return r(c * c).mean(axis=axis, keepdims=True)


def _scalar(x):
    return np.array([[x]])


# fmt: off
NUMPY = {
    E.Add:        lambda e, v: reduce(np.add, v),
    E.MatMul:     lambda e, v: reduce(np.matmul, v),
    E.Scale:      lambda e, v: v[0][0, 0] * v[1],
    E.Transpose:  lambda e, v: v[0].T,
    E.Hadamard:   lambda e, v: reduce(np.multiply, v),
    E.Kron:       lambda e, v: np.kron(v[0], v[1]),
    E.Trace:      lambda e, v: _scalar(np.trace(v[0])),
    E.Sum:        lambda e, v: _scalar(v[0].sum()),
    E.DiagMatrix: lambda e, v: np.diag(v[0][:, 0]),
    E.DiagVector: lambda e, v: np.diag(v[0]).reshape(-1, 1).copy(),
    E.Inverse:    lambda e, v: np.linalg.inv(v[0]),
    E.MatPower:   lambda e, v: np.linalg.matrix_power(v[0], e.exponent),
    E.Power:      lambda e, v: v[0] ** as_float(e.exponent),
    E.ElemPower:  lambda e, v: v[0] ** as_float(e.exponent),
    E.Apply:      lambda e, v: np.asarray(numpy_function(e.fn)(*v), dtype=np.result_type(*v)) * np.ones_like(v[0]),
    E.Det:        lambda e, v: _scalar(np.linalg.det(v[0])),
    E.LogDet:     lambda e, v: _scalar(np.log(np.linalg.det(v[0]))),
    E.Norm:       lambda e, v: _scalar(np.sqrt((v[0] * v[0]).sum())),
    E.Vec:        lambda e, v: v[0].reshape(-1, 1, order="F"),
    E.Softmax:    lambda e, v, r=_exactly: _softmax(v[0], e.numpy_axis, r),
    E.LogSoftmax: lambda e, v, r=_exactly: v[0] - r(_logsumexp(v[0], e.numpy_axis, r)),
    E.LogSumExp:  lambda e, v, r=_exactly: _logsumexp(v[0], e.numpy_axis, r),
    E.Mean:       lambda e, v: v[0].mean(axis=e.numpy_axis, keepdims=True),
    E.Var:        lambda e, v, r=_exactly: _var(v[0], e.numpy_axis, r),
    E.Std:        lambda e, v, r=_exactly: np.sqrt(r(_var(v[0], e.numpy_axis, r))),
}
# fmt: on


# fmt: off
LEAVES = {
    E.Symbol:      lambda e, values, sizes: values[e.name],
    E.Differential: lambda e, values, sizes: values["d" + e.var.name],  # dX is given as values["dX"]
    E.Const:       lambda e, values, sizes: np.array([[as_float(e.value)]]),
    E.Identity:    lambda e, values, sizes: np.eye(size_of(e.n, sizes)),
    E.Count:       lambda e, values, sizes: np.array([[float(size_of(e.n, sizes))]]),
    E.Commutation: lambda e, values, sizes: commutation_matrix(*(size_of(d, sizes) for d in e.dims)),
    E.Ones:        lambda e, values, sizes: np.ones(tuple(size_of(d, sizes) for d in e.dims)),
    E.Zero:        lambda e, values, sizes: np.zeros(tuple(size_of(d, sizes) for d in e.dims)),
}
# fmt: on


def commutation_matrix(rows: int, cols: int) -> np.ndarray:
    """K with K vec(A) = vec(A^T) for A of shape (rows, cols), vec stacking columns."""
    k = np.zeros((rows * cols, rows * cols))
    for i in range(rows):
        for j in range(cols):
            k[i * cols + j, j * rows + i] = 1
    return k


def size_of(dim, sizes: dict) -> int:
    number, names = size_factors(dim)
    for name in names:
        if name not in sizes:
            raise MatcalcError(f"the size {name} is not known from the values given")
    return number * prod(sizes[name] for name in names)


def as_matrix(name: str, value, symbol: E.Symbol) -> np.ndarray:
    """A user's value as a 2-D array: vectors may come as (n,), scalars as numbers."""
    a = np.asarray(value)
    if a.dtype.kind not in "fiuc" and a.dtype.kind != "b":
        raise ShapeError(f"the value of {name} is not numeric")
    if a.ndim == 0:
        a = a.reshape(1, 1)
    elif a.ndim == 1:
        a = a.reshape(1, -1) if E.is_scalar(symbol) else a.reshape(-1, 1)
    if a.ndim != 2:
        raise ShapeError(f"the value of {name} has {a.ndim} dimensions; give a scalar, a vector or a matrix")
    return a if a.dtype.kind in "fc" else a.astype(float)


def bind_sizes(symbols, values: dict) -> dict:
    """The size of every dimension name, read from the values and checked for agreement."""
    sizes: dict = {}
    for s in symbols:
        for dim, actual in zip(s.dims, values[s.name].shape, strict=False):
            if isinstance(dim, str):
                sizes.setdefault(dim, actual)
    for s in symbols:  # then every size, products (the n*m rows of c in c - kron(x, y)) included
        a = values[s.name]
        for dim, actual in zip(s.dims, a.shape, strict=False):
            known = all(name in sizes for name in size_factors(dim)[1])
            if known and size_of(dim, sizes) != actual:
                raise ShapeError(f"{s.name} has shape {a.shape}, but its sizes {shape_str(s.dims)} disagree with "
                                 "the other values")
    return sizes


def undefined_at(e: E.Expr, values: dict, sizes: dict) -> str | None:
    """Why ``e`` has no value at this point, naming the first subexpression that fails
    (a log of a non-positive entry, a singular matrix), or None where it is defined."""
    memo: dict = {}
    for node in reversed(list(E.nodes(e))):  # children before parents
        if not node.children():
            continue
        try:
            value = evaluate(node, values, sizes, memo)
        except np.linalg.LinAlgError:
            return f"{node} is not defined here: a matrix is singular"
        inputs_finite = all(np.all(np.isfinite(memo[k])) for k in node.children() if k in memo)
        if inputs_finite and not np.all(np.isfinite(value)):
            return f"{node} is not defined here: {_why(node)}"
    return None


def _why(node: E.Expr) -> str:
    if isinstance(node, E.Apply) and FUNCTIONS[node.fn].domain == "positive":
        return f"{node.fn} needs positive entries"
    if isinstance(node, E.LogDet):
        return "logdet needs a positive determinant"
    if isinstance(node, (E.Power, E.ElemPower)):
        return "a fractional power needs non-negative entries, a negative power non-zero ones"
    return "its value is not finite"


def evaluate(e: E.Expr, values: dict, sizes: dict, memo: dict | None = None) -> np.ndarray:
    """The value of ``e`` where ``values`` maps names to 2-D arrays and ``sizes`` names to ints."""
    memo = {} if memo is None else memo

    def ev(node):
        if node in memo:
            return memo[node]
        leaf = LEAVES.get(type(node))
        if leaf is not None:
            out = leaf(node, values, sizes)
        else:
            out = rule_for(NUMPY, node, "numeric evaluation")(node, [ev(k) for k in node.children()])
        memo[node] = out
        return out

    with np.errstate(all="ignore"):
        return ev(e)
