"""From a differential to a gradient: bring df to the canonical form <G, dX> = tr(G^T dX).

The reverse walk (``linear.walk``) goes from the outside of df inwards, carrying the
cotangent ``C`` (what the current subexpression is paired with) and peeling one linear
operator at a time: one adjoint rule per linear node, in the table below.
"""

from __future__ import annotations

from functools import reduce

from . import expr as E
from .axes import count, repeated
from .errors import MatcalcError
from .jacobian import kron_permutation, unvec
from .linear import walk


def _matmul(e, c, dx):
    """<C, L U R> = <L^T C R^T, U>."""
    out = []
    for i, f in enumerate(e.factors):
        if E.contains(f, dx):
            left = E.transpose(E.matmul(*e.factors[:i])) if i else None
            right = E.transpose(E.matmul(*e.factors[i + 1:])) if i + 1 < len(e.factors) else None
            ci = c if right is None else E.mul(c, right)
            out.append((f, ci if left is None else E.mul(left, ci)))
    return out


def _scale(e, c, dx):
    """<C, a U> = <a C, U> and <C, da U> = <C, U> da."""
    out = []
    if E.contains(e.arg, dx):
        out.append((e.arg, E.mul(e.coeff, c)))
    if E.contains(e.coeff, dx):
        out.append((e.coeff, E.inner(c, e.arg)))
    return out


def _transposed(c):
    """C^T, term by term when C sums the carries of several parents: (a^T + b^T)^T = a + b."""
    return E.add(*map(E.transpose, c.terms)) if isinstance(c, E.Add) else E.transpose(c)


def _hadamard(e, c, dx):
    """<C, U .* V> = <C .* V, U>."""
    return [(f, reduce(E.hadamard, (c, *e.factors[:i], *e.factors[i + 1:])))
            for i, f in enumerate(e.factors) if E.contains(f, dx)]


def _kron_vector_factor(e, c, f, other, first):
    """<C, A kron dB> for a row or column dB: <J^T vec(C), vec(dB)> with J = P (vec(A) kron I) the
    Jacobian of the product (J = P (I kron vec(B)) for dA), J^T vec(C) put back into dB's shape."""
    identity = E.Identity(E.vec(f).shape[0]) if not E.is_scalar(f) else E.ONE
    lift = E.kron(identity, E.vec(other)) if first else E.kron(E.vec(other), identity)
    perm_t = E.transpose(kron_permutation(e.left.shape, e.right.shape))
    return unvec(E.mul(E.transpose(lift), E.mul(perm_t, E.vec(c))), f.shape)


def _kron_matrix_factor(e, c, first):
    """<C, A kron B> for A m x n, B p x q, with C_ij the p x q block (i, j) of C: the gradient wrt B
    is sum_ij A_ij C_ij = (vec(A)^T kron I_p)(I_n kron C)(vec(I_n) kron I_q); wrt A it is the
    partial trace of D = C (I_n kron B^T) over its p x p blocks, entry (i, j) tr(D_ij) = <C_ij, B>:
    (I_m kron vec(I_p)^T)(D kron I_p)(I_n kron vec(I_p))."""
    a, b = e.left, e.right
    (m, n), (p, q) = a.shape, b.shape
    if first:
        d = E.mul(c, E.kron(E.Identity(n), E.transpose(b)))
        vec_i = E.vec(E.Identity(p))
        return E.matmul(E.kron(E.Identity(m), E.transpose(vec_i)), E.kron(d, E.Identity(p)), E.kron(E.Identity(n), vec_i))
    return E.matmul(E.kron(E.transpose(E.vec(a)), E.Identity(p)), E.kron(E.Identity(n), c),
                    E.kron(E.vec(E.Identity(n)), E.Identity(q)))


def _kron(e, c, dx):
    """<C, A kron dB>: through the Jacobian of the product for a vector factor (which then reads as
    a person writes it), through the blocks of C for a matrix one."""
    out = []
    for f, other, first in ((e.left, e.right, True), (e.right, e.left, False)):
        if not E.contains(f, dx):
            continue
        vector = E.is_one(f.shape[0]) or E.is_one(f.shape[1])
        matrix = not (E.is_one(other.shape[0]) or E.is_one(other.shape[1]))
        g = _kron_matrix_factor(e, c, first) if not vector and matrix else _kron_vector_factor(e, c, f, other, first)
        out.append((f, g))
    return out


# fmt: off
ADJOINT = {
    E.Add:        ("linearity",                                               "<C, U + V> = <C, U> + <C, V>", lambda e, c, dx: [(t, c) for t in e.terms]),
    E.MatMul:     ("moving the other factors of a product to the other side", "<C, L U R> = <L^T C R^T, U>",  _matmul),
    E.Scale:      ("moving a scalar factor",                                  "<C, a U> = <a C, U>",          _scale),
    E.Transpose:  ("moving a transpose",                                      "<C, U^T> = <C^T, U>",          lambda e, c, dx: [(e.arg, _transposed(c))]),
    E.Hadamard:   ("moving an element-wise factor",                           "<C, U .* V> = <C .* V, U>",    _hadamard),
    E.Trace:      ("a trace as an inner product with I",                      "c tr U = <c I, U>",            lambda e, c, dx: [(e.arg, E.scale(c, E.Identity(e.arg.shape[0])))]),
    E.Sum:        ("a sum as an inner product with ones",                     "c sum U = <c ones, U>",        lambda e, c, dx: [(e.arg, E.scale(c, E.Ones(e.arg.shape)))]),
    E.DiagMatrix: ("moving diag",                                             "<C, diag(u)> = <diag(C), u>",  lambda e, c, dx: [(e.arg, E.diag(c))]),
    E.Kron:       ("moving a Kronecker factor",                               "<C, A kron dB> = <J^T vec(C), dB>",     _kron),
    E.DiagVector: ("moving diag",                                             "<c, diag(U)> = <diag(c), U>",  lambda e, c, dx: [(e.arg, E.diag(c))]),
    E.Mean:       ("a mean as an inner product with ones / count",           "<C, mean(U)> = <C ones ones^T / (m n), U>", lambda e, c, dx: [(e.arg, E.div(repeated(c, e.axis, e.arg.shape), count(e.arg, e.axis)))]),
    E.Vec:        ("moving vec",                                              "<c, vec(U)> = <unvec(c), U>",  lambda e, c, dx: [(e.arg, unvec(c, e.arg.shape))]),
}
# fmt: on


def gradients_from_differential(df: E.Expr, dxs, on_stage=None) -> dict:
    """{dX: G} with df = sum <G, dX> over the differentials ``dxs``, for a scalar df."""
    if not E.is_scalar(df):
        raise MatcalcError("the canonical form <G, dX> needs a scalar differential")
    reached = walk(df, E.ONE, ADJOINT, frozenset(dxs), on_stage)
    return {dx: reached.get(dx, E.Zero(dx.shape)) for dx in dxs}


def gradient_from_differential(df: E.Expr, dx: E.Differential, on_stage=None) -> E.Expr:
    """G with df = <G, dX>, for a scalar df linear in dX."""
    return gradients_from_differential(df, [dx], on_stage)[dx]
