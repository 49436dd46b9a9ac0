"""From a differential to a gradient: bring df to the canonical form <G, dX> = tr(G^T dX).

The walk goes from the outside of df inwards, carrying the cotangent ``C`` (what the
current subexpression is paired with) and peeling one linear operator at a time.  This
is the symbolic reverse pass: one adjoint rule per linear node.  Before the rules, a few
identities move ``diag`` towards dX (``L diag(du) r = L diag(r) du``), for this walk and
the Jacobian's alike.
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


def _diag_times_vector(e, dx):
    """L diag(u) r = L diag(r) u and l^T diag(u) R = u^T diag(l) R: on a vector, diag(u) is u .*,
    so u becomes an ordinary factor of the product."""
    fs = e.factors
    for i, f in enumerate(fs):
        if not (isinstance(f, E.DiagMatrix) and E.contains(f, dx)):
            continue
        left, right = fs[:i], fs[i + 1:]
        if right and E.is_one(right[-1].shape[1]):
            return E.matmul(*left, E.diag(E.matmul(*right)), f.arg)
        if left and E.is_one(left[0].shape[0]):
            return E.matmul(E.transpose(f.arg), E.diag(E.transpose(E.matmul(*left))), *right)
    return None


def _diag_around(left, u, right):
    """diag(L diag(u) R) = (L .* R^T) u; without L it is u .* diag(R), without R diag(L) .* u."""
    if not left:
        return E.hadamard(u, E.diag(E.matmul(*right)))
    if not right:
        return E.hadamard(E.diag(E.matmul(*left)), u)
    return E.mul(E.hadamard(E.matmul(*left), E.transpose(E.matmul(*right))), u)


def _diag_inwards(e, dx):
    """diag(U + V) = diag(U) + diag(V), diag(a U) = a diag(U), diag(U^T) = diag(U), diag of a
    product with a diagonal factor (``_diag_around``), and diag(p q^T) = p .* q for a product
    that splits into a column times a row."""
    u = e.arg
    if isinstance(u, E.Add):
        return E.add(*map(E.diag, u.terms))
    if isinstance(u, E.Scale):
        return E.mul(u.coeff, E.diag(u.arg))
    if isinstance(u, E.Transpose):
        return E.diag(u.arg)
    if isinstance(u, E.MatMul):
        fs = u.factors
        for i, f in enumerate(fs):
            # a diagonal factor at either end always leaves a plain element-wise product; one
            # inside is worth moving out only when it holds dX, which then leaves diag
            if isinstance(f, E.DiagMatrix) and (i in (0, len(fs) - 1) or E.contains(f, dx)):
                return _diag_around(fs[:i], f.arg, fs[i + 1:])
        for i in range(1, len(u.factors)):
            if E.is_one(u.factors[i - 1].shape[1]):
                return E.hadamard(E.matmul(*u.factors[:i]), E.transpose(E.matmul(*u.factors[i:])))
    return None


# Identities that move diag towards dX, tried before the rules of either walk (gradient or
# Jacobian): what they leave is an ordinary product or sum, which the rules write plainly.
# (tr(diag(u)) = sum(u) and sum(diag(u)) = sum(u) the constructors apply already.)
# Each returns the equal expression, or None where it does not apply.
# fmt: off
DIAG_IDENTITIES = {
    E.MatMul:     ("a diagonal matrix on a vector",  "L diag(u) r = L diag(r) u",                                   _diag_times_vector),
    E.DiagVector: ("moving diag inwards",            "diag(L diag(u) R) = (L .* R^T) u, diag(p q^T) = p .* q",      _diag_inwards),
}
# fmt: on


def _rewritten(e, targets):
    """(identity used, e rewritten) by DIAG_IDENTITIES, or None."""
    if type(e) not in DIAG_IDENTITIES:
        return None
    words, identity, rewrite = DIAG_IDENTITIES[type(e)]
    out = rewrite(e, targets)
    return None if out is None else ((words, identity), out)


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
                rewritten = _rewritten(e, targets)
                if rewritten is not None:
                    used.append(rewritten[0])
                    following.append((rewritten[1], c))
                    continue
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
