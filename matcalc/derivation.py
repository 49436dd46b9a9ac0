"""Step-by-step derivations, the way the lecture notes write them.

A derivation is a list of steps; each holds an expression (never a string) and the rules,
in words and as identities, that led to it from the line before:

1. ``df = d(f)``, expanded one level of the tree per line with the table of differentials;
2. the canonical form, peeled one level per line: ``df = <C, U>`` ... ``= <G, dX>``;
3. the identification ``grad f = G`` (for a symmetric variable, ``sym(G)``);
4. at second order, the same for ``d(grad f)`` and ``vec(d grad f) = H vec(dX)``.

Printing, and the LaTeX and Markdown documents, are separate (``render``).
"""

from __future__ import annotations

from dataclasses import dataclass

from . import expr as E
from .api import Result, _parsed, _require_scalar, _variables, user_errors
from .canonical import gradient_from_differential
from .differential import RULES
from .errors import DerivativeError
from .jacobian import jacobian_from_differential
from .kinds import kind_of, project
from .printing import to_text
from .simplify import rebuild_with, simplify

Why = tuple[tuple[str, str], ...]  # (rule in words, identity)


@dataclass(frozen=True)
class Step:
    """One line: ``lhs = expr``, reached by the rules in ``why``.  ``lhs`` names what the line starts
    (f, df, grad, dgrad, hess); it is None on the lines that continue with ``=``."""

    lhs: str | None
    expr: E.Expr
    why: Why = ()


@dataclass
class Derivation:
    function: E.Expr
    variable: E.Symbol
    order: int
    steps: list[Step]
    result: Result

    def __str__(self) -> str:
        from .render import to_text_lines

        return "\n".join(to_text_lines(self))


def _unique(items) -> Why:
    return tuple(dict.fromkeys(items))


def _expand_once(e: E.Expr, x: E.Symbol, dx: E.Differential, used: list) -> E.Expr:
    """Expand every outermost d(U) of ``e`` by one rule of the table."""
    memo: dict = {}

    def d(child: E.Expr) -> E.Expr:
        if child == x:
            return dx
        if x not in child.free:
            return E.Zero(child.shape)
        return E.DifferentialOf(child)

    def walk(node: E.Expr) -> E.Expr:
        if node in memo:
            return memo[node]
        if isinstance(node, E.DifferentialOf):
            u = node.arg
            words, identity, rule = RULES[type(u)]
            used.append((words, identity))
            out = rule(u, d)
        else:
            out = rebuild_with(node, walk)
        memo[node] = out
        return out

    return walk(e)


def _pending(e: E.Expr) -> bool:
    return any(isinstance(node, E.DifferentialOf) for node in E.nodes(e))


def _differential_steps(f: E.Expr, x: E.Symbol, lhs: str, steps: list[Step]) -> E.Expr:
    dx = E.Differential(x)
    current: E.Expr = E.DifferentialOf(f) if f != x else dx
    steps.append(Step(lhs, current))
    while _pending(current):
        used: list = []
        current = _expand_once(current, x, dx, used)
        steps.append(Step(None, current, _unique(used)))
    return current


def _peel_steps(df, dx, walk, display, steps: list[Step]) -> E.Expr:
    """The stages of the canonical-form walk, each shown as one equal expression; a stage that
    looks the same as the line before passes its rules on to the next line that differs."""
    pending: list = []

    def on_stage(state, used):
        if not used:
            return
        pending.extend(used)
        shown = E.add(*(display(e, c) for e, c in state)) if state else E.Zero((1, 1))
        if to_text(shown) != to_text(steps[-1].expr):
            steps.append(Step(None, shown, _unique(pending)))
            pending.clear()

    raw = walk(df, dx, on_stage=on_stage)
    collected = display(dx, raw)
    if to_text(collected) != to_text(steps[-1].expr) or pending:
        steps.append(Step(None, collected, _unique([*pending, COLLECT])))
    return raw


IDENTIFY_GRADIENT = ("identification", "df = <G, dX> = tr(G^T dX) gives grad f = G")
IDENTIFY_HESSIAN = ("second identification", "d^2 f = vec(dX)^T H vec(dX) gives hess f = H")
SIMPLIFY = ("simplification", "collecting terms")
COLLECT = ("collecting the terms around dX", "<C1, dX> + <C2, dX> = <C1 + C2, dX>")


def _gradient_steps(f, x, steps) -> E.Expr:
    dx = E.Differential(x)
    df = _differential_steps(f, x, "df", steps)
    raw = _peel_steps(df, dx, gradient_from_differential, lambda e, c: E.inner(c, e), steps)
    g = simplify(raw)
    if g != raw:
        steps.append(Step(None, E.inner(g, dx), (SIMPLIFY,)))
    steps.append(Step("grad", g, (IDENTIFY_GRADIENT,)))
    projected = project(x, g)  # sym(G) on symmetric matrices
    if projected != g:
        g = simplify(projected)
        steps.append(Step(None, g, (kind_of(x).projection,)))
    return g


@user_errors
def derive(expr, wrt: str, declare: dict | None = None, order: int = 1) -> Derivation:
    """The derivation of the gradient (order 1) or of the Hessian (order 2) of a scalar expression."""
    if order not in (1, 2):
        raise DerivativeError(f"order must be 1 (gradient) or 2 (Hessian), got {order}")
    f = _parsed(expr, declare)
    _require_scalar(f, "derivation")
    (x,) = _variables(f, [wrt])
    steps = [Step("f", f)]
    g = _gradient_steps(f, x, steps)
    if order == 1:
        return Derivation(f, x, 1, steps, Result(f, x, g))
    if not kind_of(x).hessian:
        raise DerivativeError(f"the Hessian with respect to the {kind_of(x).noun} {x.name} is not supported")
    dx = E.Differential(x)
    dg = _differential_steps(g, x, "dgrad", steps)
    raw = _peel_steps(dg, dx, jacobian_from_differential, lambda e, m: E.mul(m, E.vec(e)), steps)
    h = simplify(raw)
    if h != raw:
        steps.append(Step(None, E.mul(h, E.vec(dx)), (SIMPLIFY,)))
    steps.append(Step("hess", h, (IDENTIFY_HESSIAN,)))
    return Derivation(f, x, 2, steps, Result(f, x, h, "hessian", of=g))
