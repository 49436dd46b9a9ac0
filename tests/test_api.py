"""The public surface: gradient(), Result's printing, evaluation and checks."""

import numpy as np
import pytest

import matcalc


def test_documented_surface(rng):
    r = matcalc.gradient("x^T A x", wrt="x", declare={"A": "symmetric"})
    assert str(r) == "2 A x"
    assert matcalc.parse(str(r), {"A": "symmetric"}) == r.expr
    assert r.latex() == "2 A x"
    assert r._repr_latex_() == r"$\nabla_{x} f = 2 A x$"
    x = rng.standard_normal(4)
    m = rng.standard_normal((4, 4))
    a = m + m.T
    value = r.evaluate({"x": x, "A": a})
    assert value.shape == (4,)
    np.testing.assert_allclose(value, 2 * a @ x)
    assert r.evaluate({"x": x.reshape(4, 1), "A": a}).shape == (4, 1)
    assert r.check()


def test_several_variables_give_each_gradient():
    results = matcalc.gradient("||X W + b^T - Y||_F^2", wrt=["W", "b"])
    assert set(results) == {"W", "b"}
    assert str(results["W"]) == "2 X^T (X W + b^T - Y)"
    assert str(results["b"]) == "2 (X W + b^T - Y)^T ones"
    assert all(r.check() for r in results.values())


def test_gradient_wrt_symmetric_matrix_is_sym_of_g(rng):
    # on symmetric matrices the gradient is sym(G) = (G + G^T)/2, not G + G^T - diag(G)
    r = matcalc.gradient("a^T S b", wrt="S", declare={"S": "symmetric"})
    n = 3
    a, b = rng.standard_normal((n, 1)), rng.standard_normal((n, 1))
    g = r.evaluate({"a": a, "b": b, "S": np.eye(n)})
    np.testing.assert_allclose(g, (a @ b.T + b @ a.T) / 2)
    old_table = a @ b.T + b @ a.T - np.diag(np.diag(a @ b.T))
    s = rng.standard_normal((n, n))
    v = rng.standard_normal((n, n))
    v = v + v.T  # a symmetric perturbation
    h = 1e-6
    f = lambda S: (a.T @ S @ b).item()  # noqa: E731
    fd = (f(s + s.T + h * v) - f(s + s.T - h * v)) / (2 * h)
    assert np.isclose(np.sum(g * v), fd)
    assert not np.isclose(np.sum(old_table * v), fd)
    assert r.check()
    assert r.exact_check()


@pytest.mark.parametrize(
    "text, wrt, declare",
    [
        ("x^T A x", "x", {}),
        ("det(A X B)", "X", {}),
        ("logdet(X)", "X", {}),
        ("||x||^3", "x", {}),
        ("logdet(S)", "S", {"S": "symmetric"}),
        ("sum(log(1 + exp(-y .* (X w))))", "w", {}),
        ("tr(X^T A X)", "X", {}),
    ],
)
def test_exact_check_with_sympy(text, wrt, declare):
    assert matcalc.gradient(text, wrt=wrt, declare=declare).exact_check()


def _twice_a_x(r):
    """2 A x with the symbols (and sizes) of r's function: the gradient only when A is symmetric."""
    from matcalc import expr as E

    a, x = sorted((s for s in r.function.free), key=lambda s: s.name)
    return E.scale(E.const(2), E.mul(a, x))


def test_exact_check_catches_a_wrong_gradient():
    from matcalc.exact import exact_check

    r = matcalc.gradient("x^T A x", wrt="x")
    assert not exact_check(r.function, r.variable, _twice_a_x(r))


def test_check_report_catches_a_wrong_gradient():
    from matcalc.verify import check_gradient

    r = matcalc.gradient("x^T A x", wrt="x")
    report = check_gradient(r.function, r.variable, _twice_a_x(r))
    assert not report
    assert str(report).startswith("FAILED")


def test_missing_value_is_a_clear_error():
    r = matcalc.gradient("x^T A x", wrt="x")
    with pytest.raises(matcalc.MatcalcError, match="missing values for A"):
        r.evaluate({"x": np.ones(3)})


def test_sizes_must_agree():
    r = matcalc.gradient("x^T A x", wrt="x")
    with pytest.raises(matcalc.ShapeError):
        r.evaluate({"x": np.ones(3), "A": np.ones((4, 4))})


def test_relu_check_notes_the_complex_step():
    report = matcalc.gradient("sum(relu(A x))", wrt="x").check()
    assert report and report.complex_step is None
    assert "complex step does not apply" in str(report)


def test_to_dict():
    d = matcalc.gradient("a^T X b", wrt="X").to_dict()
    assert d == {"expression": "a^T X b", "variable": "X", "gradient": "a b^T", "latex": r"a b^{\top}", "shape": ["n", "m"]}


@pytest.mark.parametrize("text, wrt, values, cause", [
    ("sum(log(x))", "x", {"x": np.array([1.0, -2.0, 3.0])}, "log needs positive entries"),
    ("sum(sqrt(x))", "x", {"x": np.array([1.0, -2.0, 3.0])}, "sqrt needs positive entries"),
    ("logdet(X)", "X", {"X": -np.eye(3)}, "logdet needs a positive determinant"),
    ("a^T inv(X) b", "X", {"a": np.ones(2), "b": np.ones(2), "X": np.ones((2, 2))}, "singular"),
])
def test_evaluation_outside_the_domain_says_why(text, wrt, values, cause):
    with pytest.raises(matcalc.DomainError, match=cause):
        matcalc.gradient(text, wrt=wrt).evaluate(values)


def test_shared_names_what_a_hessian_repeats():
    h = matcalc.hessian("a^T softmax(softmax(t))", wrt="t")  # (sum(softmax(u)) is 1: no Hessian)
    text = h.shared()
    assert str(h).count("softmax(t)") > 10
    assert text.count("softmax(t)") == 1, text
    assert text.splitlines()[-1].startswith("hess_t f = ")
    assert len(text) < len(str(h)) / 2
    g = matcalc.gradient("x^T A x", wrt="x")
    assert g.shared() == "grad_x f = (A + A^T) x"  # nothing repeated: as str() writes it
