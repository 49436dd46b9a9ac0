"""From a differential to a Jacobian: bring dF to the canonical form vec(dF) = J vec(dX).

The reverse walk (``linear.walk``) goes from the outside of dF inwards, as for a gradient,
but carries the linear map instead of a cotangent: each linear node contributes one factor, read off the
identities of Magnus and Neudecker:
vec(L U R) = (R^T kron L) vec(U), vec(U^T) = K vec(U), vec(a .* U) = diag(vec(a)) vec(U).
For vectors the Kronecker products collapse: J(A dx) = A, J(a .* dx) = diag(a).
diag goes through D, the n^2 x n matrix with vec(diag(u)) = D u, and its transpose, the
selection diag(U) = D^T vec(U); where a neighbouring factor allows, D is written away
(J(diag(du) w) = diag(w)).
"""

from __future__ import annotations

from functools import reduce

from . import expr as E
from .axes import count
from .linear import walk


def _side(e: E.Expr | None, size) -> E.Expr:
    """A missing factor of a product is the identity of the right size (a scalar 1 for size 1)."""
    if e is not None:
        return e
    return E.ONE if size == 1 else E.Identity(size)


def _matmul(e, m, dx):
    """vec(L U R) = (R^T kron L) vec(U)."""
    out = []
    for i, f in enumerate(e.factors):
        if E.contains(f, dx):
            left = E.matmul(*e.factors[:i]) if i else None
            right = E.matmul(*e.factors[i + 1:]) if i + 1 < len(e.factors) else None
            right_t = _side(E.transpose(right) if right is not None else None, f.shape[1])
            out.append((f, E.mul(m, E.kron(right_t, _side(left, f.shape[0])))))
    return out


def _scale(e, m, dx):
    """vec(a U) = a vec(U), and vec(da U) = vec(U) da."""
    out = []
    if E.contains(e.arg, dx):
        out.append((e.arg, E.mul(m, e.coeff)))
    if E.contains(e.coeff, dx):
        out.append((e.coeff, E.mul(m, E.vec(e.arg))))
    return out


def _hadamard(e, m, dx):
    """vec(a .* U) = diag(vec(a)) vec(U)."""
    return [(f, E.mul(m, E.diag(E.vec(reduce(E.hadamard, e.factors[:i] + e.factors[i + 1:])))))
            for i, f in enumerate(e.factors) if E.contains(f, dx)]


def diag_embedding(n) -> E.Expr:
    """D (n^2 x n) with vec(diag(u)) = D u, its columns vec(e_i e_i^T): diag(u) = I .* (u ones^T)
    gives D = diag(vec(I)) kron(ones, I); D^T is the selection with diag(U) = D^T vec(U)."""
    return E.mul(E.diag(E.vec(E.Identity(n))), E.kron(E.Ones((n, 1)), E.Identity(n)))


def _without_embedding(a, b) -> E.Expr | None:
    """(a kron b) D written without D where a row or an identity allows it, as a person writes
    vec(L diag(u) r), vec(l^T diag(u) R), vec(diag(u) R) = vec((u ones^T) .* R), vec(L diag(u))."""
    if E.is_one(a.shape[0]):  # (r^T kron L) D = L diag(r)
        return E.mul(b, E.diag(E.transpose(a)))
    if E.is_one(b.shape[0]):  # (R^T kron l^T) D = R^T diag(l)
        return E.mul(a, E.diag(E.transpose(b)))
    if isinstance(b, E.Identity):  # (R^T kron I) D = diag(vec(R)) (ones kron I)
        return E.mul(E.diag(E.vec(E.transpose(a))), E.kron(E.Ones((a.shape[0], 1)), b))
    if isinstance(a, E.Identity):  # (I kron L) D = diag(vec(L)) (I kron ones)
        return E.mul(E.diag(E.vec(b)), E.kron(a, E.Ones((b.shape[0], 1))))
    return None


def _diag_matrix(e, m, dx):
    """vec(diag(u)) = D u, with D absorbed into a carry that ends in a Kronecker product it allows
    (into each term of a carry that sums those of several parents)."""
    terms = m.terms if isinstance(m, E.Add) else (m,)
    return [(e.arg, E.add(*(_embedded(e, t) for t in terms)))]


def _embedded(e, m):
    """m D, written without D where m allows it."""
    coeff, rest = (m.coeff, m.arg) if isinstance(m, E.Scale) else (E.ONE, m)
    *head, last = rest.factors if isinstance(rest, E.MatMul) else (rest,)
    # (a kron b) vec(U) = vec(b U a^T) reads the n x n diag(u) only when a and b both have n columns
    n = E.resolve(e.shape[0])
    fits = isinstance(last, E.Kron) and E.resolve(last.left.shape[1]) == n == E.resolve(last.right.shape[1])
    plain = _without_embedding(last.left, last.right) if fits else None
    if plain is None:
        return E.mul(m, diag_embedding(e.shape[0]))
    return E.mul(coeff, E.matmul(*head, plain))


def _mean(e, m, dx):
    """vec(mean(U)) = ones^T vec(U) / (m n); along the rows vec(U ones / n) = (ones^T kron I) vec(U) / n,
    down the columns vec(ones^T U / m) = (I kron ones^T) vec(U) / m."""
    u = e.arg
    rows, cols = u.shape
    if e.axis is None:
        sums = E.Ones((1, E.vec(u).shape[0]))
    elif e.axis == 2:
        sums = E.kron(E.transpose(E.Ones((cols, 1))), _side(None, rows))
    else:
        sums = E.kron(_side(None, cols), E.transpose(E.Ones((rows, 1))))
    return [(u, E.mul(m, E.div(sums, count(u, e.axis))))]


def kron_permutation(a_shape, b_shape) -> E.Expr:
    """P with vec(A kron B) = P (vec(A) kron vec(B)): I_n kron K(q,m) kron I_p for A m x n, B p x q
    (Magnus and Neudecker, theorem 3.10)."""
    (m, n), (p, q) = a_shape, b_shape
    return E.kron(_side(None, n), E.kron(E.commutation((q, m)), _side(None, p)))


def unvec(v: E.Expr, shape) -> E.Expr:
    """The matrix of ``shape`` (m x n) whose stacked columns are v, written with the nodes there are:
    (vec(I_n)^T kron I_m)(I_n kron v), as its j-th column (vec(I_n)^T kron I_m)(e_j kron v) picks
    the j-th block of v."""
    rows, cols = shape
    if E.is_one(cols):
        return v
    if E.is_one(rows):
        return E.transpose(v)
    return E.mul(E.kron(E.transpose(E.vec(E.Identity(cols))), _side(None, rows)), E.kron(E.Identity(cols), v))


def _kron(e, m, dx):
    """vec(dA kron B) = P (I kron vec(B)) vec(dA), vec(A kron dB) = P (vec(A) kron I) vec(dB)."""
    a, b = e.left, e.right
    perm = E.mul(m, kron_permutation(a.shape, b.shape))
    out = []
    if E.contains(a, dx):
        out.append((a, E.mul(perm, E.kron(_side(None, E.vec(a).shape[0]), E.vec(b)))))
    if E.contains(b, dx):
        out.append((b, E.mul(perm, E.kron(E.vec(a), _side(None, E.vec(b).shape[0])))))
    return out


# fmt: off
JACOBIAN = {
    E.Add:        ("linearity of vec",                        "vec(U + V) = vec(U) + vec(V)",      lambda e, m, dx: [(t, m) for t in e.terms]),
    E.MatMul:     ("vec of a product",                        "vec(L U R) = (R^T kron L) vec(U)",  _matmul),
    E.Scale:      ("vec of a scaled matrix",                  "vec(a U) = a vec(U) + vec(U) da",   _scale),
    E.Transpose:  ("vec of a transpose (commutation matrix)", "vec(U^T) = K vec(U)",               lambda e, m, dx: [(e.arg, E.mul(m, E.commutation(e.arg.shape)))]),
    E.Hadamard:   ("vec of an element-wise product",          "vec(a .* U) = diag(vec(a)) vec(U)", _hadamard),
    E.Trace:      ("a trace as an inner product with vec(I)", "tr(U) = vec(I)^T vec(U)",           lambda e, m, dx: [(e.arg, E.mul(m, E.transpose(E.vec(E.Identity(e.arg.shape[0])))))]),
    E.Sum:        ("a sum as an inner product with ones",     "sum(U) = ones^T vec(U)",            lambda e, m, dx: [(e.arg, E.mul(m, E.Ones((1, E.vec(e.arg).shape[0]))))]),
    E.Kron:       ("vec of a Kronecker product", "vec(A kron B) = (I kron K kron I)(vec(A) kron vec(B))", _kron),
    E.Mean:       ("a mean as an inner product with ones / count", "mean(U) = ones^T vec(U) / (m n)", _mean),
    E.Vec:        ("vec of a vec",                            "vec(vec(U)) = vec(U)",              lambda e, m, dx: [(e.arg, m)]),
    E.DiagMatrix: ("vec of a diagonal matrix",                "vec(diag(u)) = D u",                _diag_matrix),
    E.DiagVector: ("the diagonal as a selection",             "diag(U) = D^T vec(U)",              lambda e, m, dx: [(e.arg, E.mul(m, E.transpose(diag_embedding(e.shape[0]))))]),
}
# fmt: on


def jacobian_from_differential(dF: E.Expr, dx: E.Differential, on_stage=None) -> E.Expr:
    """J with vec(dF) = J vec(dX), for dF linear in dX."""
    shape = (E.vec(dF).shape[0], E.vec(dx).shape[0])
    reached = walk(dF, _side(None, shape[0]), JACOBIAN, dx, on_stage)
    return reached.get(dx, E.Zero(shape))
