"""The element-wise function table: hand-written derivatives agree with sympy, gradients with numbers."""

import numpy as np
import pytest
import sympy as sp

import matcalc
from matcalc.functions import FUNCTIONS, derivative_form, numpy_function, symbols

t, f = symbols()


def _expand(expr, name):
    """Replace f and references to other rows by their definitions."""
    expr = expr.subs(f, FUNCTIONS[name].definition)
    for other in FUNCTIONS:
        expr = expr.replace(sp.Function(other), lambda arg, other=other: FUNCTIONS[other].definition.subs(t, arg))
    return expr


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_derivative_agrees_with_sympy(name):
    stated = sp.lambdify(t, _expand(derivative_form(name), name), "numpy")
    exact = sp.diff(FUNCTIONS[name].definition, t)
    points = [0.3, 0.7, 1.9] + ([] if FUNCTIONS[name].domain == "positive" else [-0.4, -1.3])
    for p in points:
        assert np.isclose(float(stated(p)), float(exact.subs(t, p)), rtol=1e-12, atol=1e-12), (name, p)


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_numpy_implementation_matches_definition(name):
    fn = numpy_function(name)
    for p in [0.3, 1.7] + ([] if FUNCTIONS[name].domain == "positive" else [-0.8]):
        assert np.isclose(float(fn(np.array(p))), float(FUNCTIONS[name].definition.subs(t, p)))


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_gradient_of_each_function(name):
    inner = "exp(A x)" if FUNCTIONS[name].domain == "positive" else "A x + 0.1"
    r = matcalc.gradient(f"sum({name}({inner}))", wrt="x")
    report = r.check()
    assert report, str(report)


def test_sigmoid_derivative_is_f_one_minus_f_not_the_slide():
    # seed 004 writes (1 - f)/f; the derivative is f (1 - f)
    sigma = FUNCTIONS["sigmoid"].definition
    at_one = float(sp.diff(sigma, t).subs(t, 1))
    s1 = 1 / (1 + np.exp(-1))
    assert np.isclose(at_one, s1 * (1 - s1))
    assert not np.isclose(at_one, (1 - s1) / s1)
    assert str(matcalc.gradient("sigmoid(q)", wrt="q", declare={"q": "scalar"})) == "sigmoid(q) (1 - sigmoid(q))"
