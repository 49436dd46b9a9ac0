"""The element-wise function table: hand-written derivatives agree with sympy, gradients with numbers."""

import numpy as np
import pytest
import sympy as sp

import matcalc
from matcalc.functions import FUNCTIONS, derivative_form, numpy_function, param_symbols, symbols

t, f = symbols()
PARAMS = (sp.Rational(3, 10), sp.Rational(17, 10), sp.Integer(1))  # values tried for a row's parameters


def _expand(expr, name):
    """Replace f and references to other rows by their definitions."""
    expr = expr.subs(f, FUNCTIONS[name].definition)
    for other in FUNCTIONS:
        def defined(*args, other=other):
            params = dict(zip(param_symbols(len(args) - 1), args[1:]))
            values = dict(zip(param_symbols(len(FUNCTIONS[other].params)), (p.default for p in FUNCTIONS[other].params)))
            return FUNCTIONS[other].definition.subs({t: args[0], **values, **params})
        expr = expr.replace(sp.Function(other), defined)
    return expr


def _settings(name):
    """The parameter values a row is tested at: each of PARAMS for each parameter, or none."""
    count = len(FUNCTIONS[name].params)
    return [dict(zip(param_symbols(count), (v,) * count)) for v in PARAMS] if count else [{}]


def _points(name):
    return [0.3, 0.7, 1.9] + ([] if FUNCTIONS[name].domain == "positive" else [-0.4, -1.3])


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_derivative_agrees_with_sympy(name):
    for values in _settings(name):
        stated = _expand(derivative_form(name), name).subs(values)
        exact = sp.diff(FUNCTIONS[name].definition, t).subs(values)
        for p in _points(name):
            assert np.isclose(float(stated.subs(t, p)), float(exact.subs(t, p)), rtol=1e-12, atol=1e-12), (name, p, values)


@pytest.mark.parametrize("name", sorted(n for n in FUNCTIONS if FUNCTIONS[n].params))
def test_derivative_with_respect_to_a_parameter_agrees_with_sympy(name):
    row = FUNCTIONS[name]
    for i, a in enumerate(param_symbols(len(row.params))):
        for values in _settings(name):
            stated = _expand(row.param_derivatives[i], name).subs(values)
            exact = sp.diff(row.definition, a).subs(values)
            for p in _points(name):
                assert np.isclose(float(stated.subs(t, p)), float(exact.subs(t, p)), rtol=1e-12, atol=1e-12), (name, p)


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_numpy_implementation_matches_definition(name):
    fn = numpy_function(name)
    for values in _settings(name):
        for p in [0.3, 1.7, 7.5] + ([] if FUNCTIONS[name].domain == "positive" else [-0.8, -7.5]):
            expected = float(FUNCTIONS[name].definition.subs(values).subs(t, p))
            assert np.isclose(float(fn(np.array(p), *map(float, values.values()))), expected, rtol=1e-13, atol=1e-15), (name, p)


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
