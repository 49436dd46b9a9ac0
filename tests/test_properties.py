"""Property-based tests: random well-typed expressions (``strategies.py``) against the
promises of the README.

1. gradients pass ``Result.check()`` (central differences and the complex step), and agree
   with an independent complex-step derivative taken here;
2. printing and parsing back gives an equal expression (up to the names of sizes), for the
   input and for its gradient,
   and the LaTeX printer never fails;
3. simplification keeps the value and never makes an expression bigger;
4. Hessians (vector variables) and Jacobians (vector-valued expressions) pass ``check()``.

Profiles: ``MATCALC_HYPOTHESIS_PROFILE=ci`` (the default, about 150 examples a property) or
``nightly`` (2000).  The last test prints what the drawn examples covered.
"""

from __future__ import annotations

import os
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from sizes import matches_up_to_sizes, variable_ties
from strategies import COVERAGE, Case, hessian_cases, jacobian_cases, node_label, scalar_cases

import matcalc
import matcalc.expr as E
from matcalc.canonical import gradients_from_differential
from matcalc.differential import differential
from matcalc.evaluate import evaluate
from matcalc.printing import to_latex
from matcalc.shapes import size_factors
from matcalc.simplify import simplify, weight
from matcalc.verify import domain_points, symbols_of

_COMMON = dict(deadline=None, print_blob=True,
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much])
settings.register_profile("ci", max_examples=150, derandomize=True, **_COMMON)  # the same examples every run
settings.register_profile("nightly", max_examples=2000, **_COMMON)
PROFILE = os.environ.get("MATCALC_HYPOTHESIS_PROFILE", "ci")
SETTINGS = settings.get_profile(PROFILE)

# the independent check: the complex step with a step far below rounding, compared with a
# relative tolerance and a floor for the rounding of a gradient that is (nearly) zero
COMPLEX_STEP = 1e-30
INDEPENDENT_TOLERANCE = 1e-5
ROUNDING_FLOOR = 1e-8


# ------------------------------------------------------------------ helpers


def parsed(prop: str, case: Case) -> E.Expr:
    """The case's expression, parsed (which must not fail: the generator only writes
    well-typed text), recorded for the coverage summary."""
    e = None
    try:
        e = matcalc.parse(case.text, case.declare)
        event(f"{prop}: the root is {node_label(e)}")
        return e
    finally:
        COVERAGE.record(prop, case, e)


def variable(prop: str, e: E.Expr, case: Case) -> E.Symbol:
    """The variable; when the expression's own normal form cancelled it (``x - x``), the
    derivative is not asked for and the example is skipped (and counted)."""
    found = [s for s in symbols_of(e) if s.name == case.wrt]
    if not found:
        COVERAGE.outcome(prop, "variable cancelled by the normal form (skipped)")
        event("variable cancelled")
        assume(False)
    return found[0]


def skip_domain(prop: str, err: matcalc.DomainError):
    COVERAGE.outcome(prop, "DomainError (skipped)")
    event("DomainError")
    assume(False)


def _vec(a: np.ndarray) -> np.ndarray:
    return a.reshape(-1, order="F")


def independent_error(of: E.Expr, var: E.Symbol, derivative: E.Expr, kind: str, function: E.Expr | None = None,
                      seed: int = 11) -> float:
    """The largest error of the derivative against the complex step of ``of`` along random
    directions, at random points of the domain (other points than ``check()`` uses).  Errors
    are relative, with a floor proportional to the size of ``of`` and of ``function`` (what a
    Hessian's gradient came from): a derivative that is zero evaluates to rounding noise."""
    worst = 0.0
    scaled = [of] if function is None else [of, function]
    for values, sizes in domain_points(of, 2, seed, extra=(derivative, *scaled[1:])):
        d = evaluate(derivative, values, sizes)
        scale = 1.0 + max(float(np.abs(evaluate(e, values, sizes)).max(initial=0.0)) for e in scaled)
        if var.name not in values:  # the variable does not occur in what is differentiated
            worst = max(worst, float(np.abs(d).max(initial=0.0)) / scale)
            continue
        x = values[var.name]
        rng = np.random.default_rng(seed)
        for _ in range(2):
            v = rng.standard_normal(x.shape)
            if var.kind == "symmetric":
                v = (v + v.T) / 2
            predicted = np.sum(d * v) if kind == "gradient" else d @ _vec(v)
            step = np.imag(_vec(evaluate(of, {**values, var.name: x + COMPLEX_STEP * 1j * v}, sizes))) / COMPLEX_STEP
            step = step.sum() if kind == "gradient" else step
            error = np.linalg.norm(np.atleast_1d(predicted - step))
            size_ = max(np.linalg.norm(np.atleast_1d(predicted)), np.linalg.norm(np.atleast_1d(step)))
            worst = max(worst, error / max(size_, ROUNDING_FLOOR * scale * np.linalg.norm(v)))
    return worst


def raw_gradient(f: E.Expr, x: E.Symbol) -> E.Expr:
    """The gradient before simplification (as ``matcalc.api`` builds it)."""
    dx = E.Differential(x)
    g = gradients_from_differential(differential(f, [x]), [dx])[dx]
    if x.kind == "symmetric" and E.transpose(g) != g:
        g = E.scale(E.Const(Fraction(1, 2)), E.add(g, E.transpose(g)))
    return g


def close(a: np.ndarray, b: np.ndarray, rtol: float = 1e-7) -> bool:
    if a.shape != b.shape or not np.all(np.isfinite(b)):
        return False
    return float(np.linalg.norm(a - b)) <= rtol * max(float(np.linalg.norm(a)), float(np.linalg.norm(b)), 1.0)


# ------------------------------------------------------------------ 1. gradients


@SETTINGS
@given(case=scalar_cases(max_leaves=10))
def test_gradient_passes_check(case):
    f = parsed("gradient", case)
    x = variable("gradient", f, case)
    r = matcalc.gradient(case.text, wrt=case.wrt, declare=case.declare)
    try:
        report = r.check()
        independent = independent_error(r.function, x, r.expr, "gradient")
    except matcalc.DomainError as err:
        skip_domain("gradient", err)
    assert independent <= INDEPENDENT_TOLERANCE, (
        f"grad_{case.wrt} of {case.text} = {r} disagrees with the complex step: relative error {independent:.2e}")
    COVERAGE.outcome("gradient", "ok" if report.ok else "check() FAILED")
    assert report.ok, f"grad_{case.wrt} of {case.text} = {r}: check() says {report}"


# ------------------------------------------------------------------ 2. printing


@SETTINGS
@given(case=scalar_cases(max_leaves=10))
def test_print_parse_round_trip(case):
    e = parsed("round trip", case)
    text = str(e)
    back = matcalc.parse(text, case.declare)
    assert matches_up_to_sizes(back, e), f"{case.text!r} prints as {text!r}, which parses as {back!r}"
    to_latex(e)

    x = variable("round trip", e, case)
    r = matcalc.gradient(e, wrt=x.name)
    gradient_text = str(r)
    gradient_back = matcalc.parse(gradient_text, case.declare)
    assert matches_up_to_sizes(gradient_back, r.expr), (
        f"the gradient of {case.text!r} prints as {gradient_text!r}, which parses as {gradient_back!r}")
    r.latex()
    r._repr_latex_()


# ------------------------------------------------------------------ 3. simplification


@SETTINGS
@given(case=scalar_cases(max_leaves=10))
def test_simplify_keeps_value_and_never_grows(case):
    f = parsed("simplify", case)
    x = variable("simplify", f, case)
    raw = raw_gradient(f, x)
    final = matcalc.gradient(f, wrt=x.name).expr
    pairs = [("expression", f, simplify(f)), ("raw gradient", raw, simplify(raw)), ("gradient", final, simplify(final))]
    # bigger as written out: the nodes of the tree as printed (simplify.weight), not of the DAG,
    # where det(A) A^-T + A^-T, holding A^-T twice, counts fewer nodes than (det(A) + 1) A^-T
    for what, before, after in pairs:
        assert weight(after) <= weight(before), f"simplify grows the {what} of {case.text}: {before} -> {after}"
    try:
        points = domain_points(f, 2, seed=5, extra=(raw,))
    except matcalc.DomainError as err:
        skip_domain("simplify", err)
    for values, sizes in points:
        for what, before, after in pairs:
            a, b = evaluate(before, values, sizes), evaluate(after, values, sizes)
            assert close(a, b), f"simplify changes the value of the {what} of {case.text}: {before} -> {after}"
    COVERAGE.outcome("simplify", "ok")


# ------------------------------------------------------------------ 4. Hessians and Jacobians


@SETTINGS
@given(case=hessian_cases(max_leaves=5))
def test_hessian_passes_check(case):
    f = parsed("hessian", case)
    x = variable("hessian", f, case)
    h = matcalc.hessian(case.text, wrt=case.wrt, declare=case.declare)
    try:
        report = h.check()
        independent = independent_error(h.of, x, h.expr, "hessian", function=h.function)
    except matcalc.DomainError as err:
        skip_domain("hessian", err)
    assert independent <= INDEPENDENT_TOLERANCE, (
        f"hess_{case.wrt} of {case.text} = {h} disagrees with the complex step on its gradient {h.of}: {independent:.2e}")
    COVERAGE.outcome("hessian", "ok" if report.ok else "check() FAILED")
    assert report.ok, f"hess_{case.wrt} of {case.text} = {h}: check() says {report}"


@SETTINGS
@given(case=hessian_cases(max_leaves=5))
def test_hessian_as_a_linear_map_passes_check(case):
    """H[D] against the gradient's differences along D and the dense Hessian times vec(D)."""
    f = parsed("hvp", case)
    variable("hvp", f, case)
    r = matcalc.hvp(case.text, wrt=case.wrt, declare=case.declare)
    try:
        report = r.check()
    except matcalc.DomainError as err:
        skip_domain("hvp", err)
    COVERAGE.outcome("hvp", "ok" if report.ok else "check() FAILED")
    assert report.ok, f"hess_{case.wrt} f[{r.direction.name}] of {case.text} = {r}: check() says {report}"


@SETTINGS
@given(case=jacobian_cases(max_leaves=6))
def test_jacobian_passes_check(case):
    f = parsed("jacobian", case)
    x = variable("jacobian", f, case)
    j = matcalc.jacobian(case.text, wrt=case.wrt, declare=case.declare)
    try:
        report = j.check()
        independent = independent_error(j.function, x, j.expr, "jacobian")
    except matcalc.DomainError as err:
        skip_domain("jacobian", err)
    assert independent <= INDEPENDENT_TOLERANCE, (
        f"jac_{case.wrt} of {case.text} = {j} disagrees with the complex step: relative error {independent:.2e}")
    COVERAGE.outcome("jacobian", "ok" if report.ok else "check() FAILED")
    assert report.ok, f"jac_{case.wrt} of {case.text} = {j}: check() says {report}"


def _parses_back(kind: str, r, declare) -> None:
    """A printed Jacobian or Hessian parses back to the same expression up to the names of its sizes,
    equal in value, and ties no sizes of its variables that the result keeps apart: where nothing else
    ties a size (the n^2 x n embedding of diag), the print writes it, diag(vec(I[n])) kron(ones[n], I[n]),
    and where only a product of sizes meets a variable's shape, the shape, diag(vec(I[n] exp(V)))."""
    text = str(r)
    back = matcalc.parse(text, declare)
    COVERAGE.outcome(f"{kind} parse back", "ok")
    assert variable_ties(back) <= variable_ties(r.expr), f"{kind} {text!r} parses as {back!r}, with other ties"
    if matches_up_to_sizes(back, r.expr) or matches_up_to_sizes(r.expr, back):
        return
    # the normal form may order a long product otherwise when built again: then equal in value
    from matcalc.evaluate import bind_sizes

    for values, sizes in domain_points(r.expr, 2, seed=5, extra=(r.function,)):
        bound = bind_sizes(symbols_of(back), values)
        unbound = {n for node in E.nodes(back) for d in node.shape for n in size_factors(d)[1]} - set(bound)
        assert not unbound, f"{kind} {text!r} parses as {back!r}, its sizes {unbound} tied to no variable"
        np.testing.assert_allclose(evaluate(back, values, bound), evaluate(r.expr, values, sizes), rtol=1e-8,
                                   atol=1e-10, err_msg=f"{kind} {text!r} parses as {back!r}")


@SETTINGS
@given(case=hessian_cases(max_leaves=5))
def test_hessian_prints_and_parses_back(case):
    parsed("hessian parse back", case)
    _parses_back("hessian", matcalc.hessian(case.text, wrt=case.wrt, declare=case.declare), case.declare)


@SETTINGS
@given(case=jacobian_cases(max_leaves=6))
def test_jacobian_prints_and_parses_back(case):
    parsed("jacobian parse back", case)
    _parses_back("jacobian", matcalc.jacobian(case.text, wrt=case.wrt, declare=case.declare), case.declare)


@SETTINGS
@given(case=jacobian_cases(max_leaves=6, wrt_kinds=("M",)))
def test_jacobian_wrt_a_matrix_prints_and_parses_back(case):
    """The shape of a matrix variable is what a Jacobian's text may meet only as a product of sizes
    (kron(W^T, A) diag(vec(exp(V))))."""
    parsed("jacobian wrt a matrix parse back", case)
    _parses_back("jacobian", matcalc.jacobian(case.text, wrt=case.wrt, declare=case.declare), case.declare)


# ------------------------------------------------------------------ coverage


def test_zz_coverage_summary(capsys, request):
    """Runs last in this module: what the drawn examples covered, and that skips stayed rare."""
    if os.environ.get("MATCALC_COVERAGE_SUMMARY") or request.config.getoption("capture") == "no":
        with capsys.disabled():
            print("\n" + COVERAGE.summary())
    drawn = sum(COVERAGE.examples.values())
    if drawn < 200:  # the module ran in part (-k, a single test)
        pytest.skip(f"only {drawn} examples drawn")
    skipped = sum(n for (_, what), n in COVERAGE.outcomes.items() if "skipped" in what)
    assert skipped <= 0.1 * drawn, f"{skipped} of {drawn} examples skipped: the generator leaves the domain too often"
    assert len(COVERAGE.pairs) >= 60, f"only {len(COVERAGE.pairs)} parent/child pairs of node types covered"
