"""Forms a person writes: element-wise terms collected, powers of inverses as X^-2, and the
shared-subexpression form of every kind of result; each checked for its value as well."""

import numpy as np
import pytest

import matcalc
from matcalc.evaluate import evaluate
from matcalc.simplify import simplify
from matcalc.verify import domain_points


def _same_value(a, b, points=3):
    for values, sizes in domain_points(a, points, seed=7, extra=(b,)):
        np.testing.assert_allclose(*np.broadcast_arrays(evaluate(a, values, sizes), evaluate(b, values, sizes)),
                                   rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("text, expected", [
    ("(1 - y) .* s - y .* (1 - s)", "s - y"),
    ("(1 - s) .* (1 + s) + s .* s", "ones"),
    ("x .* (y + z) - z .* x", "x .* y"),
    ("(x + y) .* (x - y) + y .^ 2", "x .^ 2"),
    ("2 (a .* (b + c)) - 2 (c .* a) + b", "2 a .* b + b"),
])
def test_element_wise_terms_are_collected(text, expected):
    e = matcalc.parse(text)
    out = simplify(e)
    assert str(out) == expected
    _same_value(e, out)


@pytest.mark.parametrize("text", ["x .* (A x + b)", "(x + y) .* z", "exp(x) .* (1 - sigmoid(x)) + y"])
def test_a_product_of_sums_stays_when_opening_it_collects_nothing(text):
    e = matcalc.parse(text)
    assert simplify(e) == e


def _sigmoid(t):
    return 1 / (1 + np.exp(-t))


def test_logistic_regression_written_with_both_logs():
    """The cross-entropy of sigmoid(X w) and labels y, written out as the textbooks write it:
    the gradient X^T (sigmoid(X w) - y), checked against the formula in numpy and numerically."""
    r = matcalc.gradient("-sum(y .* log(sigmoid(X w)) + (1 - y) .* log(1 - sigmoid(X w)))", wrt="w")
    assert str(r) == "X^T (sigmoid(X w) - y)"
    assert r.check().ok
    rng = np.random.default_rng(8)
    X, w, y = rng.standard_normal((6, 3)), rng.standard_normal((3, 1)), rng.uniform(0, 1, (6, 1))
    np.testing.assert_allclose(r.evaluate({"X": X, "w": w, "y": y}), X.T @ (_sigmoid(X @ w) - y))


@pytest.mark.parametrize("text, expected", [
    ("X^-2", "X^-2"),
    ("inv(X) inv(X)", "X^-2"),
    ("inv(X^3)", "X^-3"),
    ("inv(X)^2 X", "X^-2 X"),
    ("inv(X^-3)", "X^3"),
    ("inv(A B)^2", "(A B)^-2"),
])
def test_powers_of_inverses_are_written_with_negative_exponents(text, expected):
    e = matcalc.parse(text)
    assert str(e) == expected
    assert matcalc.parse(str(e)) == e  # and they parse back
    rng = np.random.default_rng(9)
    x, a, b = (2 * np.eye(3) + 0.3 * rng.standard_normal((3, 3)) for _ in range(3))
    values = {"X": x, "A": a, "B": b}
    inv, power = np.linalg.inv, np.linalg.matrix_power
    by_hand = {"X^-2": power(inv(x), 2), "inv(X) inv(X)": inv(x) @ inv(x), "inv(X^3)": inv(power(x, 3)),
               "inv(X)^2 X": inv(x) @ inv(x) @ x, "inv(X^-3)": power(x, 3), "inv(A B)^2": power(inv(a @ b), 2)}
    np.testing.assert_allclose(evaluate(e, values, {"n": 3}), by_hand[text], rtol=1e-10)


def test_the_gradient_of_the_trace_of_an_inverse_square():
    """d tr(X^-2) = -tr(X^-1 dX X^-2) - tr(X^-2 dX X^-1) = -2 tr(X^-3 dX): grad = -2 (X^-3)^T
    (the Matrix Cookbook, (2.5))."""
    r = matcalc.gradient("tr(X^-2)", wrt="X")
    assert str(r) == "-2 (X^-T)^3"
    assert r.check().ok
    rng = np.random.default_rng(10)
    x = 2 * np.eye(3) + 0.3 * rng.standard_normal((3, 3))
    np.testing.assert_allclose(r.evaluate({"X": x}), -2 * np.linalg.matrix_power(np.linalg.inv(x), 3).T)


SOFTMAX_ENTROPY = "sum(softmax(W x + b) .* log(softmax(W x + b)))"


def _cli(capsys, *argv):
    from matcalc.cli import main

    assert main(list(argv)) == 0
    return capsys.readouterr().out.rstrip("\n")


DEFINED = "H = tanh(W x); sum(H .* H)"
SOFTMAX_TANH = "softmax(W x + b) .* tanh(W x + b)"


@pytest.mark.parametrize("make, command, text, wrt", [
    (matcalc.gradient, "grad", SOFTMAX_ENTROPY, "W"),
    (matcalc.gradient, "grad", SOFTMAX_ENTROPY, ["W", "b"]),
    (matcalc.hessian, "hess", SOFTMAX_ENTROPY, "b"),
    (matcalc.jacobian, "jac", SOFTMAX_TANH, "b"),
    (matcalc.hvp, "hvp", SOFTMAX_ENTROPY, "b"),
    (matcalc.gradient, "grad", DEFINED, "W"),
    (matcalc.gradient, "grad", "x^T A x", "x"),
])
def test_the_shared_form_is_what_the_command_line_prints(capsys, make, command, text, wrt):
    r = make(text, wrt=wrt)
    assert r.shared() == _cli(capsys, command, text, "--wrt", wrt if isinstance(wrt, str) else ",".join(wrt))


@pytest.mark.parametrize("make, text, declare", [
    (matcalc.hessian, SOFTMAX_ENTROPY, {}),
    (matcalc.hvp, SOFTMAX_ENTROPY, {"db": "vector"}),
    (matcalc.jacobian, SOFTMAX_TANH + " .* sigmoid(W x + b)", {}),
    (matcalc.gradient, DEFINED, {}),
])
def test_the_shared_form_read_back_has_the_value_of_the_result(make, text, declare):
    """Its definitions and last line read as a text with definitions give the result again."""
    r = make(text, wrt="b" if "b" in text else "W")
    lines = r.shared().splitlines()
    assert len(lines) > 1
    program = "; ".join([*lines[:-1], lines[-1].split(" = ", 1)[1]])
    _same_value(r.expr, matcalc.parse(program, declare))


def _softmax(u):
    e = np.exp(u - u.max())
    return e / e.sum()


def test_the_gradient_of_the_negative_entropy_of_a_softmax():
    """sum(p .* log p) for p = softmax(u): the gradient p .* log p - (p^T log p) p, where sum(p) = 1
    and the element-wise terms collected remove the p - p that the product rule leaves."""
    r = matcalc.gradient("sum(softmax(u) .* log(softmax(u)))", wrt="u")
    assert str(r) == "log(softmax(u)) .* softmax(u) - (log(softmax(u))^T softmax(u)) softmax(u)"
    assert r.check().ok
    u = np.random.default_rng(11).standard_normal((5, 1))
    p = _softmax(u)
    np.testing.assert_allclose(r.evaluate({"u": u}), p * np.log(p) - (p * np.log(p)).sum() * p)


def test_softmax_sums_to_one():
    assert str(matcalc.parse("sum(softmax(W x)) + ones^T softmax(z) x")) == "1 + x"


def test_a_scalar_weight_of_every_term_is_taken_out_of_the_sum():
    # the mean of the logistic loss: X^T (sigmoid(X w) - y) / N, as a person writes it
    rng = np.random.default_rng(11)
    X, w, y = rng.normal(size=(5, 3)), rng.normal(size=(3, 1)), (rng.random((5, 1)) < 0.5).astype(float)
    r = matcalc.gradient("-mean(y .* log(sigmoid(X w)) + (1 - y) .* log(1 - sigmoid(X w)))", wrt="w")
    assert str(r) == "X^T (sigmoid(X w) - y) / size(X, 1)"
    assert np.allclose(r.evaluate({"X": X, "w": w, "y": y}), X.T @ (1 / (1 + np.exp(-X @ w)) - y) / 5)
    r = matcalc.gradient("a x^T x + a b^T x", wrt="x", declare={"a": "scalar"})
    assert str(r) == "a (2 x + b)"
    assert r.check().ok
