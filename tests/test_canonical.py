"""The canonical form <G, dX>: every adjoint rule is exercised by gradients that check numerically."""

import pytest

import matcalc
from matcalc import expr as E
from matcalc.canonical import ADJOINT, gradient_from_differential
from matcalc.differential import differential

CASES = [
    ("x^T A x + b^T x", "x", {}),
    ("tr(A X B)", "X", {}),
    ("(x^T x) (a^T x)", "x", {}),
    ("sum((X .* A) B)", "X", {}),
    ("a^T X^T b", "X", {}),
    ("tr(diag(x) A)", "x", {}),
    ("sum(diag(X) .* a)", "X", {}),
    ("sum(exp(X))", "X", {}),
    ("sum(X W + b^T)", "b", {}),
    ("sum(kron(a, x)) + sum(kron(x, a) .^ 2)", "x", {}),
    ("sum(exp(vec(X)))", "X", {}),
    ("mean(exp(X)) + b^T mean(X, 2) + mean(X W, 1) a", "X", {}),
]


@pytest.mark.parametrize("text, name, declare", CASES)
def test_gradient_checks(text, name, declare):
    r = matcalc.gradient(text, wrt=name, declare=declare)
    report = r.check()
    assert report, f"{text}: {r} -> {report}"


def test_every_adjoint_rule_is_used():
    used = set()
    for text, name, declare in CASES:
        f = matcalc.parse(text, declare)
        x = next(s for s in f.free if isinstance(s, E.Symbol) and s.name == name)
        gradient_from_differential(differential(f, x), E.Differential(x),
                                   on_stage=lambda state, _: used.update(type(e) for e, _ in state))
    # the constructors pull scalars out of sums and products, so Scale has its own test below
    assert set(ADJOINT) - {E.Scale} <= used, f"adjoint rules never exercised: {set(ADJOINT) - used}"


def test_scale_rule_directly():
    """<1, sum((dx^T x) a)> = <sum(a) x, dx>; built without the constructors, which pull scalars outward."""
    import numpy as np

    from matcalc.evaluate import evaluate

    f = matcalc.parse("x^T x + a^T a")
    x, a = sorted((s for s in f.free if isinstance(s, E.Symbol)), key=lambda s: s.name)[::-1]
    dx = E.Differential(x)
    df = E.Sum(E.Scale(E.MatMul((E.Transpose(dx), x)), a))
    g = gradient_from_differential(df, dx)
    rng = np.random.default_rng(0)
    values = {"x": rng.standard_normal((3, 1)), "a": rng.standard_normal((3, 1))}
    np.testing.assert_allclose(evaluate(g, values, {"n": 3}), values["a"].sum() * values["x"])


def test_gradient_has_the_shape_of_the_variable():
    assert matcalc.gradient("a^T X b", wrt="X").shape == ("n", "m")
    assert matcalc.gradient("a^T X b", wrt="b").shape == ("m", 1)
