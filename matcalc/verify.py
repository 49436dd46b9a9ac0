"""Numeric verification: random points in the expression's domain, central differences, complex step.

A gradient G of f at X is checked along random directions V: <G, V> must match
(f(X + hV) - f(X - hV)) / 2h (central differences) and Im f(X + ihV) / h (the complex step,
exact to rounding where every function involved is analytic).  Directions for a variable
declared symmetric are symmetric.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import expr as E
from .errors import DomainError
from .evaluate import evaluate
from .functions import FUNCTIONS

FD_TOLERANCE = 1e-5
COMPLEX_TOLERANCE = 1e-9
DEFAULT_SIZES = [3, 4, 2, 5, 6, 7]
MAX_CONDITION = 1e6


def symbols_of(e: E.Expr) -> list[E.Symbol]:
    return sorted((s for s in e.free if isinstance(s, E.Symbol)), key=lambda s: s.name)


def dims_of(symbols) -> list[str]:
    names = []
    for s in symbols:
        for d in s.dims:
            if isinstance(d, str) and "*" not in d and d not in names:
                names.append(d)
    return names


def analytic(e: E.Expr) -> bool:
    """True when the complex step applies: no relu, abs or other non-analytic function inside."""
    return not any(isinstance(node, E.Apply) and not FUNCTIONS[node.fn].analytic for node in E.nodes(e))


def random_point(symbols, rng: np.random.Generator, positive: bool, equal_sizes: bool) -> tuple[dict, dict]:
    """Values for the symbols: square matrices well conditioned with positive determinant,
    symmetric ones positive definite, and everything positive when ``positive``.
    Sizes differ from each other (to catch a misplaced transpose) unless ``equal_sizes``
    (needed where a product of rectangular matrices must be invertible, as in det(A X B))."""
    names = dims_of(symbols)
    sizes = {d: 3 if equal_sizes else DEFAULT_SIZES[i % len(DEFAULT_SIZES)] + i // len(DEFAULT_SIZES)
             for i, d in enumerate(names)}
    values = {}
    for s in symbols:
        shape = tuple(d if isinstance(d, int) else sizes[d] for d in s.dims)
        draw = rng.uniform(0.5, 1.5, shape) if positive else rng.standard_normal(shape)
        if s.kind == "symmetric":
            n = shape[0]
            m = rng.standard_normal((n, n))
            draw = m @ m.T / n + np.eye(n)
        elif shape[0] == shape[1] and shape[0] > 1:
            draw = 2 * np.eye(shape[0]) + 0.3 * rng.standard_normal(shape)
        values[s.name] = draw
    return values, sizes


def random_direction(variable: E.Symbol, value: np.ndarray, rng) -> np.ndarray:
    v = rng.standard_normal(value.shape)
    return (v + v.T) / 2 if variable.kind == "symmetric" else v


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

    def to_dict(self) -> dict:
        return {"ok": self.ok, "finite_differences": self.finite_differences, "complex_step": self.complex_step,
                "points": self.points, "sizes": self.sizes, "notes": self.notes}


def _relative(a, b) -> float:
    a, b = np.atleast_1d(a), np.atleast_1d(b)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(a), np.linalg.norm(b), 1e-8))


def well_conditioned(e: E.Expr, values: dict, sizes: dict) -> bool:
    """Every matrix that is inverted, or whose determinant is taken, is far from singular."""
    return all(np.linalg.cond(evaluate(node.arg, values, sizes)) <= MAX_CONDITION for node in E.nodes(e)
               if isinstance(node, (E.Inverse, E.Det, E.LogDet)) and not E.is_scalar(node.arg))


def domain_points(function: E.Expr, count: int, seed: int, extra=()):
    """Random points where ``function`` (and the ``extra`` expressions) evaluate to finite numbers."""
    symbols = symbols_of(function)
    for e in extra:
        symbols = sorted(set(symbols) | set(symbols_of(e)), key=lambda s: s.name)
    rng = np.random.default_rng(seed)
    found, tries = [], 0
    while len(found) < count:
        tries += 1
        if tries > 40:
            raise DomainError(f"could not find a point where {function} is defined (tried {tries - 1} random points)")
        values, sizes = random_point(symbols, rng, positive=tries % 2 == 0, equal_sizes=tries > 10)
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
                     points: int = 3, seed: int = 0) -> CheckReport:
    """Check a derivative of ``of`` along random directions V at random points of the domain.

    gradient: <G, V> against the directional derivative of the scalar ``of``;
    jacobian and hessian: J vec(V) against vec of the directional derivative of ``of``
    (for a Hessian, ``of`` is the gradient); a Hessian must also be symmetric."""
    worst_fd, worst_cs = 0.0, 0.0
    use_complex = analytic(of)
    notes = [] if use_complex else ["the complex step does not apply to non-analytic functions (relu, abs, ...)"]
    sizes: dict = {}
    for values, sizes in domain_points(of, points, seed, extra=(derivative,)):
        rng = np.random.default_rng(seed + 1)
        x = values.get(variable.name)
        if x is None:  # the variable does not occur: the derivative is zero
            continue
        d = evaluate(derivative, values, sizes)
        if kind == "hessian" and _relative(d, d.T) > 1e-8:
            worst_fd = max(worst_fd, _relative(d, d.T))
            notes.append("the Hessian is not symmetric")

        def at(point, values=values, sizes=sizes):
            return _vec(evaluate(of, {**values, variable.name: point}, sizes))

        for _ in range(2):
            v = random_direction(variable, x, rng)
            predicted = np.sum(d * v) if kind == "gradient" else d @ _vec(v)
            h = 1e-6 * max(1.0, float(np.abs(x).max()))
            fd = np.real(at(x + h * v) - at(x - h * v)) / (2 * h)
            worst_fd = max(worst_fd, _relative(np.real(predicted), fd))
            if use_complex:
                cs = np.imag(at(x + 1e-20j * v)) / 1e-20
                worst_cs = max(worst_cs, _relative(np.real(predicted), cs))
    return CheckReport(worst_fd, worst_cs if use_complex else None, points, dict(sizes), notes)


def check_gradient(function: E.Expr, variable: E.Symbol, gradient: E.Expr, points: int = 3, seed: int = 0) -> CheckReport:
    return check_derivative(function, variable, gradient, "gradient", points, seed)
