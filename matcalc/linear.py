"""The reverse walk over an expression linear in dX: the symbolic reverse pass.

An expression linear in some differentials is a DAG: the differential of a shared
subexpression (softmax's ``s .* du - s s^T du``, a residual ``x + f(x)``) is one node with
several parents.  The walk visits the nodes holding dX parents first (reverse topological
order), sums the carries that reach each node, then applies the node's rule once, as
reverse-mode automatic differentiation sums the cotangents of a variable before it moves on.
So its cost is linear in the size of the DAG, however many paths run through it.

What a node carries depends on the table of rules: a cotangent ``C`` with
``df = <C, U>`` for gradients (``canonical.ADJOINT``), a left factor ``M`` with
``vec(dF) = M vec(U)`` for Jacobians (``jacobian.JACOBIAN``).  A rule maps a node and its
carry to the pairs (child, carry of the child); carries add.

Before the walk, identities that move ``diag`` towards dX (``L diag(du) r = L diag(r) du``)
rewrite the expression, for either table: what they leave is an ordinary product or sum,
which the rules write plainly.
"""

from __future__ import annotations

from . import expr as E
from .registry import rule_for


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


# Each returns the equal expression, or None where it does not apply.
# (tr(diag(u)) = sum(u) and sum(diag(u)) = sum(u) the constructors apply already.)
# fmt: off
DIAG_IDENTITIES = {
    E.MatMul:     ("a diagonal matrix on a vector",  "L diag(u) r = L diag(r) u",                                   _diag_times_vector),
    E.DiagVector: ("moving diag inwards",            "diag(L diag(u) R) = (L .* R^T) u, diag(p q^T) = p .* q",      _diag_inwards),
}
# fmt: on


def _diag_moved(root: E.Expr, targets: frozenset, used: list) -> E.Expr:
    """``root`` with DIAG_IDENTITIES applied wherever they hold dX, from the outside in as the
    walk meets the nodes (a rewrite outside can make those inside moot), each shared node
    once; the identities used are appended to ``used``."""
    memo: dict = {}

    def moved(node: E.Expr) -> E.Expr:
        if node in memo:
            return memo[node]
        out = node
        row = DIAG_IDENTITIES.get(type(out))
        while row is not None and (rewritten := row[2](out, targets)) is not None:
            used.append(row[:2])
            out = rewritten
            row = DIAG_IDENTITIES.get(type(out))
        kids = out.children()
        new = [moved(k) if E.contains(k, targets) else k for k in kids]
        if any(a is not b for a, b in zip(kids, new, strict=True)):
            out = E.rebuild(out, new)
        memo[node] = out
        return out

    return moved(root)


def _parents(root: E.Expr, targets: frozenset) -> dict:
    """For each node below ``root`` that holds a target, how many distinct parents holding
    one refer to it."""
    parents: dict = {root: 0}
    stack = [root]
    while stack:
        node = stack.pop()
        if node in targets:
            continue
        for kid in dict.fromkeys(node.children()):
            if E.contains(kid, targets):
                if kid not in parents:
                    parents[kid] = 0
                    stack.append(kid)
                parents[kid] += 1
    return parents


def walk(root: E.Expr, seed: E.Expr, rules: dict, targets, on_stage=None) -> dict:
    """The carries that reach each target, summed: {target: carry}.

    ``root`` is linear in ``targets`` (dX, or a frozenset of differentials walked in one
    pass, as backprop reaches every weight of a network at once); ``seed`` is the carry of
    the root.  The walk goes in stages: each stage applies the rule of every node whose
    parents have all passed their carries on.  ``on_stage(state, rules used)`` sees the
    state before each stage: the pairs (node, carry) still to walk, whose inner products
    (or products) add up to the root's at every stage, which derivations print."""
    targets = targets if isinstance(targets, frozenset) else frozenset([targets])
    used: list = []
    root = _diag_moved(root, targets, used)
    if not E.contains(root, targets):
        return {}
    waiting = _parents(root, targets)  # parents that have not yet passed their carries on
    # Each carry has a place: the path of rule outputs that led to it.  Carries are summed in
    # the order of their places, which for a tree is the order of its leaves, left to right,
    # so that terms come out in the order the expression has them whatever order nodes are walked in.
    carries: dict = {root: [((), seed)]}

    def summed(node):
        pairs = carries[node]
        if len(pairs) == 1:  # most nodes have one parent: nothing to add
            return pairs[0][1]
        return E.add(*(c for _, c in sorted(pairs, key=_place)))

    while True:
        if on_stage is not None:
            on_stage([(node, summed(node)) for node in sorted(carries, key=lambda n: min(map(_place, carries[n])))], used)
        ready = [node for node in carries if node not in targets and waiting[node] == 0]
        if not ready:
            return {node: summed(node) for node in carries}
        used = []
        for node in ready:
            carry, place = summed(node), min(map(_place, carries[node]))
            del carries[node]
            words, identity, rule = rule_for(rules, node, "the reverse walk (a gradient or Jacobian through it)")
            used.append((words, identity))
            for i, (kid, c) in enumerate(rule(node, carry, targets)):
                carries.setdefault(kid, []).append((place + (i,), c))
            for kid in dict.fromkeys(node.children()):
                if kid in waiting:
                    waiting[kid] -= 1


def _place(pair):
    return pair[0]
