"""Numeric verification: random points in the expression's domain, central differences, complex step.

A gradient G of f at X is checked along random directions V: <G, V> must match
(f(X + hV) - f(X - hV)) / 2h (central differences) and Im f(X + ihV) / h (the complex step,
exact to rounding where every function involved is analytic).  Directions for a variable
declared symmetric are symmetric.

The two sides must agree to a relative tolerance, or else to within the rounding error they
carry: a zero derivative evaluates to rounding noise, and central differences cannot resolve
a derivative smaller than about eps |f| / h.  That error is estimated, where a comparison
would fail without it, by evaluating again with every node's value perturbed as rounding
would (Monte Carlo arithmetic), so that a wrong derivative still fails wherever the
arithmetic could tell it from the right one."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import expr as E
from .errors import DomainError
from .evaluate import NUMPY, evaluate, size_of
from .functions import FUNCTIONS
from .kinds import kind_of
from .shapes import size_factors

FD_TOLERANCE = 1e-5
COMPLEX_TOLERANCE = 1e-9
SYMMETRY_TOLERANCE = 1e-8
EPS = float(np.finfo(float).eps)
ROUNDING_SAMPLES = 3  # evaluations with random rounding, for the rounding error of a value
ROUNDING_SCALE = 16  # random rounding is made this many times larger, its effect scaled back (_round_randomly)
# three random samples can all fall short of the actual error, and a node is rounded once where a
# product or a library's function (erf) rounds many times: the zero derivatives of softmax,
# logsumexp, var and std of u + a ones came out up to 2x their estimate (11 such, 25 seeds), a
# central difference through erf and softmax 6x, a Jacobian of x / ||x - log(exp(x))|| (a norm
# of rounding alone) 12x.  A wrong derivative's error is of the order of the derivative.
ROUNDING_MARGIN = 16
ROUNDED_INSIDE = (E.Softmax, E.LogSoftmax, E.LogSumExp, E.Var, E.Std)  # evaluate's helpers round each step
DEFAULT_SIZES = [3, 4, 2, 5, 6, 7]
MAX_CONDITION = 1e6


def symbols_of(e: E.Expr) -> list[E.Symbol]:
    return sorted((s for s in e.free if isinstance(s, E.Symbol)), key=lambda s: s.name)


def symbols_of_all(exprs) -> list[E.Symbol]:
    return sorted(set().union(*(symbols_of(e) for e in exprs)), key=lambda s: s.name)


def _names(dim) -> tuple[str, ...]:
    """The size names in a dimension: none in 1, n in n, m and n in the product m*n."""
    return size_factors(dim)[1]


def dims_of(exprs) -> list[str]:
    """Every size name in the expressions: those of the symbols first, in order (so that the
    sizes drawn for them do not depend on the rest), then those that occur only in ones, I, 0
    or K, which need a size as much as the symbols do (tr(C) + ||0_m|| still needs m)."""
    names = [n for s in symbols_of_all(exprs) for d in s.dims for n in _names(d)]
    others = {n for e in exprs for node in E.nodes(e) for d in _node_dims(node) for n in _names(d)}
    return list(dict.fromkeys(names)) + sorted(others - set(names))


def _node_dims(node: E.Expr):
    if isinstance(node, E.Count):  # a size as a number, 1 x 1 itself
        return (node.n,)
    return node.dims if isinstance(node, E.Commutation) else node.shape


def analytic(e: E.Expr) -> bool:
    """True when the complex step applies: no relu, abs or other non-analytic function inside."""
    return not any(isinstance(node, E.Apply) and not FUNCTIONS[node.fn].analytic for node in E.nodes(e))


def random_point(symbols, names, rng: np.random.Generator, positive: bool, equal_sizes: bool) -> tuple[dict, dict]:
    """Values for the symbols, each as its kind draws them (square matrices well conditioned
    with positive determinant, symmetric ones positive definite), from entries positive when
    ``positive``.
    Sizes differ from each other (to catch a misplaced transpose) unless ``equal_sizes``
    (needed where a product of rectangular matrices must be invertible, as in det(A X B)).
    ``names`` are the size names to draw."""
    sizes = {d: 3 if equal_sizes else DEFAULT_SIZES[i % len(DEFAULT_SIZES)] + i // len(DEFAULT_SIZES)
             for i, d in enumerate(names)}
    values = {}
    for s in symbols:
        shape = tuple(size_of(d, sizes) for d in s.dims)
        entries = rng.uniform(0.5, 1.5, shape) if positive else rng.standard_normal(shape)
        values[s.name] = kind_of(s).value(rng, entries)
    return values, sizes


def random_direction(variable: E.Symbol, value: np.ndarray, rng) -> np.ndarray:
    return kind_of(variable).direction(rng.standard_normal(value.shape))


@dataclass
class CheckReport:
    """What a numeric check found: the largest relative errors and where it looked."""

    finite_differences: float
    complex_step: float | None
    points: int
    sizes: dict
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.finite_differences <= FD_TOLERANCE and (
            self.complex_step is None or self.complex_step <= COMPLEX_TOLERANCE
        )

    def __bool__(self):
        return self.ok

    def __str__(self):
        sizes = ", ".join(f"{k}={v}" for k, v in self.sizes.items())
        cs = "n/a" if self.complex_step is None else f"{self.complex_step:.1e}"
        head = "ok" if self.ok else "FAILED"
        text = (f"{head}: largest relative error {self.finite_differences:.1e} (central differences), "
                f"{cs} (complex step) at {self.points} random points" + (f" with {sizes}" if sizes else ""))
        return "; ".join([text, *self.notes])

    def _repr_html_(self) -> str:
        from .display import check_html

        return check_html(self)

    def _repr_markdown_(self) -> str:
        from .display import check_markdown

        return check_markdown(self)

    def to_dict(self) -> dict:
        return {"ok": self.ok, "finite_differences": self.finite_differences, "complex_step": self.complex_step,
                "points": self.points, "sizes": self.sizes, "notes": self.notes}


def _relative(a, b, tolerance: float, noise) -> float:
    """The relative difference of a and b, where a difference that rounding alone can make
    counts as at most ``tolerance``: a and b must agree to ``tolerance`` relative to their size,
    or to within ``noise()``, the rounding error a - b may carry (asked for only where the
    relative difference alone is too large, as it takes evaluations)."""
    a, b = np.atleast_1d(a), np.atleast_1d(b)
    difference, size = float(np.linalg.norm(a - b)), float(max(np.linalg.norm(a), np.linalg.norm(b)))
    if difference <= tolerance * size:
        return difference / size if difference else 0.0
    return difference / max(size, noise() / tolerance)


def rounding_error(e: E.Expr, values: dict, sizes: dict, then=lambda value: value, part=np.real) -> float:
    """An estimate of the rounding error in ``part`` (real or imaginary) of ``then(value of e)``,
    by Monte Carlo arithmetic: e is evaluated again with each node's value off by a random
    relative error of up to eps, as if rounded once more.  Such errors travel as rounding errors
    do: through terms that cancel (the zero gradient of sum(softmax(x)) comes out as eps times
    the size of its terms) and through whatever amplifies them (a large factor, exp), which a
    bound of the form eps times the value cannot see.  The largest change over a few
    evaluations, with a margin for the chance that all of them came out small, stands for the
    error of the value itself."""
    rng = np.random.default_rng(0)
    plain = part(then(evaluate(e, values, sizes)))
    changes = [(part(then(_perturbed(e, values, sizes, rng))) - plain) / ROUNDING_SCALE for _ in range(ROUNDING_SAMPLES)]
    return ROUNDING_MARGIN * max(float(np.linalg.norm(np.where(np.isfinite(c), c, 0))) for c in changes)


def _perturbed(e: E.Expr, values: dict, sizes: dict, rng) -> np.ndarray:
    """The value of ``e`` with every node's value, the inputs' too, rounded once more at random,
    and the steps inside a node along an axis too: a softmax's outputs cancel inside it (its
    complex step along a ones), which no rounding of its input or output shows when it is
    nearly one-hot, where its Jacobian is nearly zero."""
    memo: dict = {}

    def rounded(a):
        return _round_randomly(a, rng)

    for node in sorted(E.nodes(e), key=lambda n: n.depth):  # children first
        if type(node) in ROUNDED_INSIDE:
            value = NUMPY[type(node)](node, [memo[k] for k in node.children()], rounded)
        else:
            value = evaluate(node, values, sizes, memo)
        memo[node] = rounded(value)
    return memo[e]


def _round_randomly(a: np.ndarray, rng) -> np.ndarray:
    """``a`` with each entry, and its real and imaginary parts apart, off by up to ROUNDING_SCALE
    eps, at random.  Not eps itself: a * (1 + eps u) most often rounds back to a (1 + eps u to 1),
    and a perturbation of one unit in the last place is undone by the next one as often (both
    seen: a saturated sigmoid's 1 - s, known to 1%, seemed exact); ROUNDING_SCALE times larger,
    the rounding of the perturbed values is small beside it, and the change is scaled back."""
    if np.iscomplexobj(a):
        return _round_randomly(a.real, rng) + 1j * _round_randomly(a.imag, rng)
    return a * (1 + ROUNDING_SCALE * EPS * rng.uniform(-1, 1, np.shape(a)))


def well_conditioned(e: E.Expr, values: dict, sizes: dict) -> bool:
    """Every matrix that is inverted, or whose determinant is taken, is far from singular."""
    return all(np.linalg.cond(evaluate(node.arg, values, sizes)) <= MAX_CONDITION for node in E.nodes(e)
               if isinstance(node, (E.Inverse, E.Det, E.LogDet)) and not E.is_scalar(node.arg))


def domain_points(function: E.Expr, count: int, seed: int, extra=()):
    """Random points where ``function`` (and the ``extra`` expressions) evaluate to finite numbers."""
    symbols, names = symbols_of_all((function, *extra)), dims_of((function, *extra))
    rng = np.random.default_rng(seed)
    found, tries = [], 0
    while len(found) < count:
        tries += 1
        if tries > 40:
            raise DomainError(f"could not find a point where {function} is defined (tried {tries - 1} random points)")
        values, sizes = random_point(symbols, names, rng, positive=tries % 2 == 0, equal_sizes=tries > 10)
        try:
            defined = all(np.all(np.isfinite(evaluate(e, values, sizes))) for e in (function, *extra))
            defined = defined and well_conditioned(function, values, sizes)
        except np.linalg.LinAlgError:  # a singular matrix: not in the domain
            defined = False
        if defined:
            found.append((values, sizes))
    return found


def _vec(a: np.ndarray) -> np.ndarray:
    return a.reshape(-1, order="F")


def check_derivative(of: E.Expr, variable: E.Symbol, derivative: E.Expr, kind: str,
                     points: int = 3, seed: int = 0, direction: E.Symbol | None = None,
                     dense: E.Expr | None = None) -> CheckReport:
    """Check a derivative of ``of`` along random directions V at random points of the domain.

    gradient: <G, V> against the directional derivative of the scalar ``of``;
    jacobian and hessian: J vec(V) against vec of the directional derivative of ``of``
    (for a Hessian, ``of`` is the gradient); a Hessian must also be symmetric;
    hvp: H[V], the derivative with the ``direction`` symbol given the value V, against the
    directional derivative of the gradient ``of`` along V, and against ``dense``, the Hessian
    H, applied to vec(V) (where it is given; a symmetric variable has none).
    The variable gets a value even where ``of`` does not depend on it: its derivative is then
    zero, which is checked like any other."""
    worst_fd, worst_cs = 0.0, 0.0
    use_complex = analytic(of)
    notes = [] if use_complex else ["the complex step does not apply to non-analytic functions (relu, abs, ...)"]
    sizes: dict = {}
    if kind == "hvp":
        return _check_hvp(of, variable, derivative, direction, dense, points, seed, use_complex, notes)
    for values, sizes in domain_points(of, points, seed, extra=(derivative, variable)):
        d = evaluate(derivative, values, sizes)
        if kind == "hessian":
            asymmetry = _relative(d, d.T, SYMMETRY_TOLERANCE,
                                  lambda v=values, s=sizes: rounding_error(derivative, v, s, lambda h: h - h.T))
            if asymmetry > SYMMETRY_TOLERANCE:
                worst_fd = max(worst_fd, asymmetry)
                notes.append("the Hessian is not symmetric")
        rng = np.random.default_rng(seed + 1)
        for _ in range(2):
            v = random_direction(variable, values[variable.name], rng)
            fd, cs = _compare_along(of, variable, derivative, d, kind, v, values, sizes, use_complex)
            worst_fd, worst_cs = max(worst_fd, fd), max(worst_cs, cs)
    return CheckReport(worst_fd, worst_cs if use_complex else None, points, dict(sizes), notes)


def _compare_along(of, variable, derivative, d, kind, v, values, sizes, use_complex) -> tuple[float, float]:
    """The relative errors of ``d``, the derivative's value, along the direction V, by central
    differences and by the complex step (0 where it does not apply).

    Both sides of a comparison carry rounding error.  The prediction carries that of d.  The
    central difference carries that of the values of ``of``, divided by h: a derivative
    small next to ``of`` (x^T x + 1e6) is known only to about eps |of| / h.  The
    complex step carries that of the imaginary parts of ``of`` (the derivative's own terms,
    times h) divided by h: tiny, but not zero where those terms cancel."""
    x = values[variable.name]

    def at(point):
        return {**values, variable.name: point}

    def predict(value):
        if kind == "hvp":  # the value is H[V] itself
            return np.real(_vec(value))
        return np.real(np.sum(value * v) if kind == "gradient" else value @ _vec(v))

    def noise(*points, part=np.real, step=1.0):
        """The rounding error in the prediction less a measurement made from the values of
        ``of`` at ``points`` (their ``part``) divided by ``step``."""
        return rounding_error(derivative, values, sizes, predict) + sum(
            rounding_error(of, at(point), sizes, part=part) for point in points) / step

    predicted = predict(d)
    h = 1e-6 * max(1.0, float(np.abs(x).max()))
    plus, minus = x + h * v, x - h * v  # truncation error h^2/6 times the third derivative: far inside the tolerance
    fd = np.real(_vec(evaluate(of, at(plus), sizes) - evaluate(of, at(minus), sizes))) / (2 * h)
    fd_error = _relative(predicted, fd, FD_TOLERANCE, lambda: noise(plus, minus, step=2 * h))
    if not use_complex:
        return fd_error, 0.0
    step = 1e-20
    stepped = x + step * 1j * v
    cs = np.imag(_vec(evaluate(of, at(stepped), sizes))) / step
    return fd_error, _relative(predicted, cs, COMPLEX_TOLERANCE, lambda: noise(stepped, part=np.imag, step=step))


def _check_hvp(of, variable, derivative, direction, dense, points, seed, use_complex, notes) -> CheckReport:
    """H[V] at random points and directions V (symmetric for a symmetric variable): against the
    directional derivative of the gradient along V, and against the dense Hessian times vec(V)."""
    worst_fd, worst_cs = 0.0, 0.0
    sizes: dict = {}
    # the points of the Hessian's own check: the direction is no symbol to draw a value for
    extra = tuple(e for e in (dense, variable) if e is not None)
    for values, sizes in domain_points(of, points, seed, extra=extra):
        rng = np.random.default_rng(seed + 1)
        for _ in range(2):
            v = random_direction(variable, values[variable.name], rng)
            at = {**values, direction.name: v}
            applied = _vec(evaluate(derivative, at, sizes))
            fd, cs = _compare_along(of, variable, derivative, applied, "hvp", v, at, sizes, use_complex)
            worst_fd, worst_cs = max(worst_fd, fd), max(worst_cs, cs)
            if dense is not None:
                h = evaluate(dense, values, sizes)
                error = _relative(applied, h @ _vec(v), FD_TOLERANCE,
                                  lambda a=at, s=sizes: rounding_error(derivative, a, s, _vec))
                if error > FD_TOLERANCE and "H[D] differs from the dense Hessian times vec(D)" not in notes:
                    notes.append("H[D] differs from the dense Hessian times vec(D)")
                worst_fd = max(worst_fd, error)
    if dense is None:
        notes.append("checked against the gradient's differences alone (no dense Hessian with respect to a "
                     f"{kind_of(variable).noun})")
    return CheckReport(worst_fd, worst_cs if use_complex else None, points, dict(sizes), notes)


def check_gradient(function: E.Expr, variable: E.Symbol, gradient: E.Expr, points: int = 3, seed: int = 0) -> CheckReport:
    return check_derivative(function, variable, gradient, "gradient", points, seed)
