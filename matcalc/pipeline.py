"""One pipeline for every derivative: the input read with its definitions, then differential,
reverse walk, projection onto the variable's kind, simplification.

    text --read--> f --differential--> df (linear in dX) --linear.walk--> G or J --project--> --simplify--> result

The API, the command line and derivations are views of it.  A derivation passes ``steps``, a
list the pipeline fills with each stage as an equal expression and the rules that led to it:

1. ``df = d(f)``, expanded one level of the tree per line with the table of differentials;
2. the canonical form, walked one stage per line: ``df = <C, U>`` ... ``= <G, dX>``;
3. the identification ``grad f = G`` (for a symmetric variable, then ``sym(G)``);
4. at second order, the same for ``d(grad f)`` and ``vec(d grad f) = H vec(dX)``;
5. for the Hessian as a linear map, ``d(grad f)`` expanded, ``d^2 f = <dX, H[dX]>``, and
   ``H[D]``: ``d(grad f)`` is linear in ``dX``, so ``dX`` replaced by a direction ``D`` is the
   Hessian applied to ``D``, in matrix products (no Kronecker product is ever formed).
"""

from __future__ import annotations

from dataclasses import dataclass

from . import expr as E
from . import kinds
from .canonical import gradients_from_differential
from .cse import printed_length, share
from .differential import differential, row_for
from .errors import DeclarationError, DerivativeError
from .expr.recording import unrecorded
from .jacobian import jacobian_from_differential
from .parser import NAME_PATTERN, RESERVED, Program, parse_program, with_positions
from .printing import to_text
from .shapes import shape_str
from .simplify import rebuild_with, simplify, weight

Why = tuple[tuple[str, str], ...]  # (rule in words, identity)


@dataclass(frozen=True)
class Step:
    """One line: ``lhs = expr``, reached by the rules in ``why``.  ``lhs`` names what the line starts
    (f, df, grad, dgrad, hess); it is None on the lines that continue with ``=``."""

    lhs: str | None
    expr: E.Expr
    why: Why = ()


IDENTIFY_GRADIENT = ("identification", "df = <G, dX> = tr(G^T dX) gives grad f = G")
IDENTIFY_HESSIAN = ("second identification", "d^2 f = vec(dX)^T H vec(dX) gives hess f = H")
SECOND_DIFFERENTIAL = ("second differential", "d^2 f = <dX, d(grad f)> = <dX, H[dX]>")
APPLY_HESSIAN = ("the Hessian as a linear map", "d(grad f) = H[dX] is linear in dX: H[D] is d(grad f) at dX = D")
SIMPLIFY = ("simplification", "collecting terms")
COLLECT = ("collecting the terms around dX", "<C1, dX> + <C2, dX> = <C1 + C2, dX>")


def _unique(items) -> Why:
    return tuple(dict.fromkeys(items))


def _terms(e: E.Expr) -> tuple[E.Expr, ...]:
    return e.terms if isinstance(e, E.Add) else (e,)


# ------------------------------------------------------------------ the input


def read(expr, declare=None, scalar: bool = False) -> Program:
    """A text parsed with its definitions (parse refuses what is not text), or an expression as it
    is; ``scalar``: the function must be a scalar, which may fix the kinds of Greek names."""
    if isinstance(expr, E.Expr):
        if declare:
            raise DeclarationError("declare applies to text; an expression's symbols carry their kinds already "
                                   "(give declare to from_sympy)")
        return Program(expr, symbols=tuple(s for s in expr.free if isinstance(s, E.Symbol)))
    return parse_program(expr, declare, scalar)


SHORT_MESSAGE = 300  # characters of a function quoted in a message


def function_text(program: Program) -> str:
    """The function as text for a message: written with the text's own names where it has them,
    so that a function that reuses its parts (a residual stack) is not written out in full."""
    f = program.function
    if program.definitions:
        _, written = share({"f": f}, min_size=SHORT_MESSAGE, given=program.definitions)
        f = written["f"]
    return to_text(f) if printed_length(f, SHORT_MESSAGE) <= SHORT_MESSAGE else "the function"


def require_scalar(program: Program, what: str) -> None:
    f = program.function
    if not E.is_scalar(f):
        shape = with_positions(f"{shape_str(f.shape)}{E.declarations_in(f)}", dict(program.first_use))
        raise DerivativeError(f"f = {function_text(program)} is not a scalar (it is {shape}): a {what} needs a "
                              "scalar function; use jacobian for a vector- or matrix-valued one")


def variables(program: Program, wrt) -> list[E.Symbol]:
    """The symbols named by ``wrt`` (a name or a list of names), each one the text holds; one that
    cancels out of the function (``x - x``) is a variable too, of derivative zero (``cancelled``)."""
    names = [wrt] if isinstance(wrt, str) else list(wrt)
    if not names:
        raise DerivativeError("name at least one variable to differentiate with respect to")
    symbols = {s.name: s for s in (*program.symbols, *program.function.free) if isinstance(s, E.Symbol)}
    out = []
    for name in names:
        if name not in symbols:
            raise DerivativeError(f"{name} does not occur in {function_text(program)}: "
                                  "the derivative with respect to it is zero")
        fixed = kinds.kind_of(symbols[name]).fixed
        if fixed is not None:
            kind = symbols[name].kind
            raise DerivativeError(f"{name} is declared {kind}, whose values are {fixed}: there is no derivative "
                                  f"with respect to it; declare it a {'matrix' if name[0].isupper() else 'vector'} "
                                  "to differentiate with no assumption")
        out.append(symbols[name])
    return out


def cancelled(program: Program, x: E.Symbol) -> str | None:
    """The note for a variable the text holds but the function does not, once terms cancel."""
    if x in program.function.free:
        return None
    return f"{x.name} cancels out of the function: the derivative with respect to it is zero"


def direction(program: Program, x: E.Symbol, name: str | None = None) -> E.Symbol:
    """The symbol of a direction along ``x`` for the Hessian as a linear map: ``d`` + the
    variable's name unless ``name`` is given, of the variable's kind and sizes; a name the
    text uses already (a variable or a definition) is refused."""
    name = f"d{x.name}" if name is None else name
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name) or name in RESERVED:
        raise DeclarationError(f"cannot name the direction {name!r}: a name is letters, then digits or an "
                               "_subscript, and not I or ones")
    taken = {s.name for s in program.function.free if isinstance(s, E.Symbol)} | {n for n, _ in program.definitions}
    if name in taken:
        raise DeclarationError(f"the direction {name} clashes with the name {name} in the function: "
                               "name the direction otherwise (direction=..., --direction)")
    return E.Symbol(name, x.kind, x.dims)


# ------------------------------------------------------------------ the differential, shown


def _expand_once(e: E.Expr, variables: frozenset, used: list) -> E.Expr:
    """Expand every outermost d(U) of ``e`` by one rule of the table."""
    memo: dict = {}

    def d(child: E.Expr) -> E.Expr:
        if child in variables:
            return E.Differential(child)
        if variables.isdisjoint(child.free):
            return E.Zero(child.shape)
        return E.DifferentialOf(child)

    def walk(node: E.Expr) -> E.Expr:
        if node in memo:
            return memo[node]
        if isinstance(node, E.DifferentialOf):
            u = node.arg
            words, identity, rule = row_for(u)
            used.append((words, identity))
            out = rule(u, d)
        else:
            out = rebuild_with(node, walk)
        memo[node] = out
        return out

    return walk(e)


def _pending(e: E.Expr) -> bool:
    return any(isinstance(node, E.DifferentialOf) for node in E.nodes(e))


def _differential(f: E.Expr, variables: list[E.Symbol], lhs: str, steps: list | None) -> E.Expr:
    """df, with one line per level of the tree in ``steps`` when it is given."""
    if steps is None:
        return differential(f, variables)
    targets = frozenset(variables)
    current: E.Expr = E.DifferentialOf(f) if f not in targets else E.Differential(f)
    steps.append(Step(lhs, current))
    while _pending(current):
        used: list = []
        with E.recording() as fired:  # the identities of the normal form that shaped the line
            current = _expand_once(current, targets, used)
        steps.append(Step(None, current, _unique([*used, *fired])))
    return current


# ------------------------------------------------------------------ the reverse walk, shown


def _walked(walk, df, display, steps: list | None) -> dict:
    """``walk(df)``, {dX: what reaches it}, with its stages in ``steps``, each shown as one equal
    expression; a stage that looks the same as the line before passes its rules on to the next
    line that differs."""
    if steps is None:
        return walk(df)
    pending: list = []
    seen = 0  # of the identities fired, those already cited

    def on_stage(state, used):
        nonlocal seen
        if not used:
            return
        pending.extend([*used, *fired[seen:]])
        seen = len(fired)
        shown = _shown(state, display)
        if not _looks_alike(shown, steps[-1].expr):
            steps.append(Step(None, shown, _unique(pending)))
            pending.clear()

    with E.recording() as fired:
        reached = walk(df, on_stage)
    collected = E.add(*(display(dx, c) for dx, c in reached.items()))
    if not _looks_alike(collected, steps[-1].expr) or pending or fired[seen:]:
        steps.append(Step(None, collected, _unique([*pending, *fired[seen:], COLLECT])))
    return reached


@unrecorded
def _shown(state, display) -> E.Expr:
    """A stage of the walk as one expression; a carry that sums those of several parents is
    shown term by term, as each reached it (what is built to show it is no step of the walk)."""
    return E.add(*(display(e, t) for e, c in state for t in _terms(c))) if state else E.Zero((1, 1))


LOOKS_ALIKE_BELOW = 5000  # nodes written out: larger lines are compared as expressions, not printed


def _looks_alike(a: E.Expr, b: E.Expr) -> bool:
    """Whether two lines read the same (differently built expressions can print alike)."""
    if a == b:
        return True
    return weight(a) < LOOKS_ALIKE_BELOW and weight(b) < LOOKS_ALIKE_BELOW and to_text(a) == to_text(b)


def _inner_display(e, c):
    return E.inner(c, e)


def _vec_display(e, m):
    return E.mul(m, E.vec(e))


# ------------------------------------------------------------------ the derivatives


def _simplified(e: E.Expr, steps) -> tuple[E.Expr, Why]:
    """simplify(e), and for a derivation the identities it used."""
    if steps is None:
        return simplify(e), ()
    with E.recording() as fired:
        out = simplify(e)
    return out, _unique([*fired, SIMPLIFY])


def gradients(f: E.Expr, variables: list[E.Symbol], steps: list | None = None) -> dict:
    """{x: gradient of the scalar f} for every variable, from one differential and one reverse
    walk, as backprop does."""
    if steps is not None and len(variables) != 1:
        raise DerivativeError("a derivation is written for one variable at a time")
    dxs = [E.Differential(x) for x in variables]
    df = _differential(f, variables, "df", steps)
    raw = _walked(lambda e, on_stage=None: gradients_from_differential(e, dxs, on_stage), df, _inner_display, steps)
    out = {}
    for x, dx in zip(variables, dxs, strict=True):
        g, why = _simplified(raw[dx], steps)
        if steps is not None:
            if g != raw[dx]:
                steps.append(Step(None, E.inner(g, dx), why))
            steps.append(Step("grad", g, (IDENTIFY_GRADIENT,)))
        projected = kinds.project(x, g)  # sym(G) on symmetric matrices
        if projected != g:
            g = simplify(projected)
            if steps is not None:
                steps.append(Step(None, g, (kinds.kind_of(x).projection,)))
        out[x] = g
    return out


def jacobian(f: E.Expr, x: E.Symbol, steps: list | None = None, lhs: str = "df") -> E.Expr:
    """J with vec(dF) = J vec(dX)."""
    dx = E.Differential(x)
    df = _differential(f, [x], lhs, steps)
    raw = _walked(lambda e, on_stage=None: {dx: jacobian_from_differential(e, dx, on_stage)}, df, _vec_display, steps)[dx]
    j, why = _simplified(raw, steps)
    if steps is not None and j != raw:
        steps.append(Step(None, E.mul(j, E.vec(dx)), why))
    return j


def _require_hessian(x: E.Symbol) -> None:
    if not kinds.kind_of(x).hessian:
        raise DerivativeError(f"the Hessian with respect to the {kinds.kind_of(x).noun} {x.name} is not supported; "
                              "declare it a matrix, or take the Hessian as a linear map (hvp)")


def hessian(f: E.Expr, x: E.Symbol, steps: list | None = None) -> tuple[E.Expr, E.Expr]:
    """(gradient, Hessian) of the scalar f: the Hessian is the Jacobian of the gradient, from the
    second differential d^2 f = vec(dX)^T H vec(dX)."""
    _require_hessian(x)
    g = gradients(f, [x], steps)[x]
    h = jacobian(g, x, steps, lhs="dgrad")
    if steps is not None:
        steps.append(Step("hess", h, (IDENTIFY_HESSIAN,)))
    return g, h


def hessian_blocks(f: E.Expr, xs: list[E.Symbol]) -> tuple[dict, dict]:
    """({x: gradient}, {(x, y): block}) of the scalar f: every block of the Hessian with respect
    to the variables together, H_xy = d vec(grad_x f) / d vec(y)^T, from the gradients of one
    reverse walk; H_yx is H_xy^T."""
    for x in xs:
        _require_hessian(x)
    gs = gradients(f, xs)
    return gs, {(x, y): jacobian(gs[x], y) for x in xs for y in xs}


def substitute(e: E.Expr, old: E.Expr, new: E.Expr) -> E.Expr:
    """``e`` with every ``old`` replaced by ``new`` (of the same shape), rebuilt through the
    smart constructors; shared subtrees are rebuilt once."""
    memo: dict = {}

    def walk(node: E.Expr) -> E.Expr:
        if node in memo:
            return memo[node]
        out = new if node == old else rebuild_with(node, walk)
        memo[node] = out
        return out

    return walk(e)


def hvp(f: E.Expr, x: E.Symbol, direction: E.Symbol, steps: list | None = None) -> tuple[E.Expr, E.Expr]:
    """(gradient, H[D]) of the scalar f: the directional derivative of the gradient along the
    direction D, the differential of the gradient with dX replaced by D.  For a symmetric
    variable the gradient is already sym(G), so H[D] is sym of the Hessian applied to D."""
    g = gradients(f, [x], steps)[x]
    dx = E.Differential(x)
    dg = _differential(g, [x], "dgrad", steps)
    h, why = _simplified(substitute(dg, dx, direction), steps)
    if steps is not None:
        steps.append(Step("d2f", E.inner(dx, substitute(h, direction, dx)), _unique([*why, SECOND_DIFFERENTIAL])))
        steps.append(Step("hvp", h, (APPLY_HESSIAN,)))
    return g, h
