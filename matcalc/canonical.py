"""From a differential to a gradient: bring df to the canonical form <G, dX> = tr(G^T dX).

The walk goes from the outside of df inwards, carrying the cotangent ``C`` (what the
current subexpression is paired with) and peeling one linear operator at a time.  This
is the symbolic reverse pass: one adjoint rule per linear node.
"""

from __future__ import annotations

from functools import reduce

from . import expr as E
from .errors import DerivativeError, MatcalcError


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


def _hadamard(e, c, dx):
    """<C, U .* V> = <C .* V, U>."""
    return [(f, reduce(E.hadamard, (c, *e.factors[:i], *e.factors[i + 1:])))
            for i, f in enumerate(e.factors) if E.contains(f, dx)]


def _kron(e, c, dx):
    """<C, A kron dB> = <J^T vec(C), vec(dB)> with J the Jacobian of the product; for a column
    dB that vector is the cotangent itself (other shapes would need a reshape)."""
    from .jacobian import kron_permutation

    out = []
    perm_t = E.transpose(kron_permutation(e.left.shape, e.right.shape))
    for f, other, first in ((e.left, e.right, True), (e.right, e.left, False)):
        if not E.contains(f, dx):
            continue
        if not E.is_one(f.shape[1]):
            raise DerivativeError("a gradient through kron(A, B) needs the varying factor to be a column vector")
        identity = E.Identity(f.shape[0]) if not E.is_scalar(f) else E.ONE
        lift = E.kron(identity, E.vec(other)) if first else E.kron(E.vec(other), identity)
        out.append((f, E.mul(E.transpose(lift), E.mul(perm_t, E.vec(c)))))
    return out


# fmt: off
ADJOINT = {
    E.Add:        ("linearity",                                               "<C, U + V> = <C, U> + <C, V>", lambda e, c, dx: [(t, c) for t in e.terms]),
    E.MatMul:     ("moving the other factors of a product to the other side", "<C, L U R> = <L^T C R^T, U>",  _matmul),
    E.Scale:      ("moving a scalar factor",                                  "<C, a U> = <a C, U>",          _scale),
    E.Transpose:  ("moving a transpose",                                      "<C, U^T> = <C^T, U>",          lambda e, c, dx: [(e.arg, E.transpose(c))]),
    E.Hadamard:   ("moving an element-wise factor",                           "<C, U .* V> = <C .* V, U>",    _hadamard),
    E.Trace:      ("a trace as an inner product with I",                      "c tr U = <c I, U>",            lambda e, c, dx: [(e.arg, E.scale(c, E.Identity(e.arg.shape[0])))]),
    E.Sum:        ("a sum as an inner product with ones",                     "c sum U = <c ones, U>",        lambda e, c, dx: [(e.arg, E.scale(c, E.Ones(e.arg.shape)))]),
    E.DiagMatrix: ("moving diag",                                             "<C, diag(u)> = <diag(C), u>",  lambda e, c, dx: [(e.arg, E.diag(c))]),
    E.Kron:       ("moving a Kronecker factor",                               "<C, A kron dB> = <J^T vec(C), dB>",     _kron),
    E.DiagVector: ("moving diag",                                             "<c, diag(U)> = <diag(c), U>",  lambda e, c, dx: [(e.arg, E.diag(c))]),
}
# fmt: on


def peel(root: E.Expr, seed: E.Expr, rules: dict, targets, on_stage=None) -> list[tuple[E.Expr, E.Expr]]:
    """Walk an expression linear in dX from the outside in, one level of nodes per stage.

    The walk carries, next to each subexpression still holding dX, what it is multiplied by
    (a cotangent for a gradient, a left factor for a Jacobian); a rule of ``rules`` replaces a
    node by its children with their new carries.  ``targets`` is dX, or a frozenset of several
    differentials walked in one pass (backprop: every weight of a network at once).  Returns
    the pairs (differential, carry) that reach them; ``on_stage(state, rules used)`` sees every
    stage, for derivations."""
    is_target = (lambda e: e in targets) if isinstance(targets, frozenset) else (lambda e: e == targets)
    state, used = [(root, seed)], []
    while True:
        if on_stage is not None:
            on_stage(state, used)
        if all(is_target(e) for e, _ in state):
            return state
        following, used = [], []
        for e, c in state:
            if is_target(e):
                following.append((e, c))
            elif E.contains(e, targets):
                if type(e) not in rules:
                    raise DerivativeError(f"derivatives through {type(e).__name__.lower()} are not supported")
                words, identity, rule = rules[type(e)]
                used.append((words, identity))
                following.extend(rule(e, c, targets))
        state = following


def gradients_from_differential(df: E.Expr, dxs, on_stage=None) -> dict:
    """{dX: G} with df = sum <G, dX> over the differentials ``dxs``, for a scalar df."""
    if not E.is_scalar(df):
        raise MatcalcError("the canonical form <G, dX> needs a scalar differential")
    contributions: dict = {dx: [] for dx in dxs}
    for dx, c in peel(df, E.ONE, ADJOINT, frozenset(dxs), on_stage):
        contributions[dx].append(c)
    return {dx: E.add(*cs) if cs else E.Zero(dx.shape) for dx, cs in contributions.items()}


def gradient_from_differential(df: E.Expr, dx: E.Differential, on_stage=None) -> E.Expr:
    """G with df = <G, dX>, for a scalar df linear in dX."""
    return gradients_from_differential(df, [dx], on_stage)[dx]
