"""The worked examples of the lecture notes (the seed documents), in the form a person
writes them and against NumPy formulas written out here.

Where a slide is wrong (see the seeds' README) the tests pin the correct result and show
that the slide's version differs from it numerically.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from reference import det, inv, invertible, sigmoid, softmax, spd

import matcalc


@pytest.fixture
def rng():
    return np.random.default_rng(20201125)


def grad(expr, wrt, declare=None):
    return matcalc.gradient(expr, wrt=wrt, declare=declare)


def assert_form(r, accepted, declare=None):
    """The gradient is printed as one of the accepted human forms, and that text parses back."""
    accepted = {accepted} if isinstance(accepted, str) else set(accepted)
    assert str(r) in accepted, f"got {r!s}, expected one of {sorted(accepted)}"
    assert str(matcalc.parse(str(r), declare)) == str(r)


def assert_checked(r):
    report = r.check()
    assert report, f"grad_{r.variable.name} of {r.function}: {r}; check: {report}"


# ---------------------------------------------------------------------------------------
# 001: table of differentials, d<Ax, x> = <(A + A^T) x, dx>, and 2 <Ax, dx> for A = A^T


def test_quadratic_form(rng):
    r = grad("x^T A x", "x")
    assert_form(r, "(A + A^T) x")
    a, x = rng.standard_normal((4, 4)), rng.standard_normal((4, 1))
    np.testing.assert_allclose(r.evaluate({"x": x, "A": a}), (a + a.T) @ x, rtol=1e-10)
    assert_checked(r)


def test_quadratic_form_symmetric(rng):
    declare = {"A": "symmetric"}
    r = grad("x^T A x", "x", declare)
    assert_form(r, "2 A x", declare)
    a, x = spd(rng, 4), rng.standard_normal(4)
    got = r.evaluate({"x": x, "A": a})
    assert got.shape == (4,)
    np.testing.assert_allclose(got, 2 * a @ x, rtol=1e-10)
    assert_checked(r)


def test_trace_of_a_times_x(rng):
    # d<A, X> = <A, dX>: the gradient of a^T X b = <a b^T, X> is a b^T
    r = grad("a^T X b", "X")
    assert_form(r, "a b^T")
    a, b, x = rng.standard_normal((3, 1)), rng.standard_normal((5, 1)), rng.standard_normal((3, 5))
    np.testing.assert_allclose(r.evaluate({"a": a, "b": b, "X": x}), a @ b.T, rtol=1e-10)
    assert_checked(r)


def test_trace_quadratic(rng):
    r = grad("tr(X^T A X)", "X")
    assert_form(r, "(A + A^T) X")
    a, x = rng.standard_normal((3, 3)), rng.standard_normal((3, 4))
    np.testing.assert_allclose(r.evaluate({"A": a, "X": x}), (a + a.T) @ x, rtol=1e-10)
    assert_checked(r)


def test_logdet(rng):
    # d det(X) = det(X) <X^-T, dX>, so d logdet(X) = <X^-T, dX>
    r = grad("logdet(X)", "X")
    assert_form(r, "X^-T")
    x = invertible(rng, 4)
    np.testing.assert_allclose(r.evaluate({"X": x}), inv(x).T, rtol=1e-10)
    assert_checked(r)


def test_det(rng):
    r = grad("det(X)", "X")
    assert_form(r, {"det(X) X^-T"})
    x = invertible(rng, 3)
    np.testing.assert_allclose(r.evaluate({"X": x}), det(x) * inv(x).T, rtol=1e-10)
    assert_checked(r)


# ---------------------------------------------------------------------------------------
# 001, example 1: (x^T A x)(x^T B x) with A, B symmetric

EXAMPLE_1 = "(x^T A x)(x^T B x)"
SYMMETRIC_AB = {"A": "symmetric", "B": "symmetric"}


def example_1_values(rng, n=4):
    return {"A": spd(rng, n), "B": spd(rng, n), "x": rng.standard_normal((n, 1))}


def test_example_1_form_and_value(rng):
    r = grad(EXAMPLE_1, "x", SYMMETRIC_AB)
    assert_form(r, {"2 (x^T B x) A x + 2 (x^T A x) B x", "2 (x^T A x) B x + 2 (x^T B x) A x"}, SYMMETRIC_AB)
    v = example_1_values(rng)
    a, b, x = v["A"], v["B"], v["x"]
    expected = 2 * (x.T @ b @ x).item() * a @ x + 2 * (x.T @ a @ x).item() * b @ x
    np.testing.assert_allclose(r.evaluate(v), expected, rtol=1e-10)
    assert_checked(r)


def test_example_1_slide_has_a_stray_factor(rng):
    # the slide: grad f = 2((x^T B x) A x + 2 (x^T A x) B x), a factor 2 too many on the second term
    r = grad(EXAMPLE_1, "x", SYMMETRIC_AB)
    v = example_1_values(rng)
    a, b, x = v["A"], v["B"], v["x"]
    slide = 2 * ((x.T @ b @ x).item() * a @ x + 2 * (x.T @ a @ x).item() * b @ x)
    got = r.evaluate(v)
    assert not np.allclose(got, slide, rtol=1e-3)
    # and the slide's formula is not the derivative: compare with a central difference
    f = lambda z: (z.T @ a @ z).item() * (z.T @ b @ z).item()  # noqa: E731
    d = rng.standard_normal((4, 1))
    h = 1e-6
    fd = (f(x + h * d) - f(x - h * d)) / (2 * h)
    assert np.isclose(np.sum(got * d), fd, rtol=1e-6)
    assert not np.isclose(np.sum(slide * d), fd, rtol=1e-3)


def test_example_1_general_matrices(rng):
    r = grad(EXAMPLE_1, "x")
    a, b, x = rng.standard_normal((3, 3)), rng.standard_normal((3, 3)), rng.standard_normal((3, 1))
    expected = (x.T @ b @ x).item() * (a + a.T) @ x + (x.T @ a @ x).item() * (b + b.T) @ x
    np.testing.assert_allclose(r.evaluate({"A": a, "B": b, "x": x}), expected, rtol=1e-10)
    assert_checked(r)


# ---------------------------------------------------------------------------------------
# 001, example 2: ||x||_2^3 and its Hessian


@pytest.mark.parametrize("text", ["||x||^3", "||x||_2^3"])
def test_example_2(rng, text):
    r = grad(text, "x")
    assert_form(r, "3 ||x|| x")
    x = rng.standard_normal((5, 1))
    np.testing.assert_allclose(r.evaluate({"x": x}), 3 * np.linalg.norm(x) * x, rtol=1e-10)
    assert_checked(r)


def test_example_2_via_power_of_x_t_x(rng):
    # d (x^T x)^(3/2) = 3/2 (x^T x)^(1/2) 2 x^T dx, the slide's own route
    r = grad("(x^T x)^(3/2)", "x")
    assert_form(r, {"3 ||x|| x", "3 sqrt(x^T x) x", "3 (x^T x)^(1/2) x"})
    x = rng.standard_normal((5, 1))
    np.testing.assert_allclose(r.evaluate({"x": x}), 3 * np.linalg.norm(x) * x, rtol=1e-10)
    assert_checked(r)


def test_example_2_hessian(rng):
    h = matcalc.hessian("||x||^3", wrt="x")
    assert str(h) in {"3 x x^T / ||x|| + 3 ||x|| I", "3 ||x|| I + 3 x x^T / ||x||"}, str(h)
    x = rng.standard_normal((4, 1))
    n = np.linalg.norm(x)
    np.testing.assert_allclose(h.evaluate({"x": x}), 3 * x @ x.T / n + 3 * n * np.eye(4), rtol=1e-10)
    assert h.check(), str(h.check())


# ---------------------------------------------------------------------------------------
# 001, example 3: det(AXB)


def test_example_3_form_and_value_rectangular(rng):
    r = grad("det(AXB)", "X")
    assert_form(r, "det(A X B) A^T (A X B)^-T B^T")
    a, x, b = rng.standard_normal((3, 4)), rng.standard_normal((4, 5)), rng.standard_normal((5, 3))
    m = a @ x @ b
    np.testing.assert_allclose(r.evaluate({"A": a, "X": x, "B": b}), det(m) * a.T @ inv(m).T @ b.T, rtol=1e-9)
    assert_checked(r)


def test_example_3_square_is_det_times_x_inverse_transpose(rng):
    # for square invertible A, X, B: det(AXB) X^-T (Matrix Cookbook)
    r = grad("det(AXB)", "X")
    a, x, b = invertible(rng, 3), invertible(rng, 3), invertible(rng, 3)
    np.testing.assert_allclose(r.evaluate({"A": a, "X": x, "B": b}), det(a @ x @ b) * inv(x).T, rtol=1e-9)


# ---------------------------------------------------------------------------------------
# 001: softmax regression, L = -log p_y with p = softmax(W x + b)

SOFTMAX_REGRESSION = "-y^T log(softmax(W x + b))"


def softmax_regression_values(rng, one_hot=True):
    k, d = 4, 3
    y = np.zeros((k, 1))
    y[rng.integers(k), 0] = 1.0
    if not one_hot:
        y = rng.uniform(0.5, 1.5, (k, 1))
    return {"W": rng.standard_normal((k, d)), "x": rng.standard_normal((d, 1)), "b": rng.standard_normal((k, 1)), "y": y}


@pytest.mark.parametrize("one_hot", [True, False])
def test_softmax_regression_wrt_w(rng, one_hot):
    r = grad(SOFTMAX_REGRESSION, "W")
    assert "diag" not in str(r)
    v = softmax_regression_values(rng, one_hot)
    p = softmax(v["W"] @ v["x"] + v["b"])
    expected = (p * v["y"].sum() - v["y"]) @ v["x"].T
    np.testing.assert_allclose(r.evaluate(v), expected, rtol=1e-10, atol=1e-12)
    if one_hot:
        np.testing.assert_allclose(r.evaluate(v), (p - v["y"]) @ v["x"].T, rtol=1e-10, atol=1e-12)
    assert_checked(r)


def test_softmax_regression_wrt_b_and_x(rng):
    # grad_b L = grad_z L, grad_x L = W^T grad_z L
    rs = grad(SOFTMAX_REGRESSION, ["b", "x"])
    v = softmax_regression_values(rng)
    g = softmax(v["W"] @ v["x"] + v["b"]) * v["y"].sum() - v["y"]
    for name, expected in (("b", g), ("x", v["W"].T @ g)):
        assert "diag" not in str(rs[name])
        np.testing.assert_allclose(rs[name].evaluate(v), expected, rtol=1e-10, atol=1e-12)
        assert_checked(rs[name])


# ---------------------------------------------------------------------------------------
# 004: the sigmoid neuron f = sigmoid(x_0 w_0 + x_1 w_1 + b) at the slide's numbers

NEURON = "sigmoid(w^T x + b)"
NEURON_DECLARE = {"b": "scalar"}
# the slide pairs x_0 = -1 with w_0 = 4 and x_1 = -2 with w_1 = -4: q = (-2)(-4) + (-1)(4) - 3 = 1
NEURON_VALUES = {"x": np.array([-1.0, -2.0]), "w": np.array([4.0, -4.0]), "b": -3.0}
SIGMA_1 = 1.0 / (1.0 + math.exp(-1.0))
DSIGMA_1 = SIGMA_1 * (1.0 - SIGMA_1)   # sigma'(q) at q = 1, about 0.1966


def test_neuron_pre_activation_is_one():
    v = NEURON_VALUES
    assert v["w"] @ v["x"] + v["b"] == 1.0


def test_neuron_wrt_b():
    r = grad(NEURON, "b", NEURON_DECLARE)
    assert_form(r, {"sigmoid(w^T x + b) (1 - sigmoid(w^T x + b))"}, NEURON_DECLARE)
    got = float(np.squeeze(r.evaluate(NEURON_VALUES)))
    assert got == pytest.approx(DSIGMA_1, rel=1e-12)
    assert got == pytest.approx(0.19661193324148185, rel=1e-12)
    # the slide's (1 - f)/f gives 1/e here
    slide = (1 - SIGMA_1) / SIGMA_1
    assert slide == pytest.approx(1 / math.e)
    assert got != pytest.approx(slide, rel=1e-3)
    assert_checked(r)


def test_neuron_wrt_w_and_x():
    rs = grad(NEURON, ["w", "x"], NEURON_DECLARE)
    v = NEURON_VALUES
    gw, gx = rs["w"].evaluate(v), rs["x"].evaluate(v)
    assert gw.shape == (2,) and gx.shape == (2,)
    np.testing.assert_allclose(gw, DSIGMA_1 * v["x"], rtol=1e-12)   # df/dw_i = f (1 - f) x_i
    np.testing.assert_allclose(gx, DSIGMA_1 * v["w"], rtol=1e-12)   # df/dx_i = f (1 - f) w_i
    # the slide: df/dw_0 = -1/e, df/dx_1 = -4/e
    assert gw[0] != pytest.approx(-1 / math.e, rel=1e-3)
    assert gx[1] != pytest.approx(-4 / math.e, rel=1e-3)
    assert gx[1] == pytest.approx(-4 * DSIGMA_1, rel=1e-12)
    for r in rs.values():
        assert_checked(r)


def test_sigmoid_rule_any_shape(rng):
    # 003: dL(sigma(Z))/dZ = dL/dsigma .* sigma(Z) .* (1 - sigma(Z)), for any shape
    r = grad("sum(G .* sigmoid(Z))", "Z")
    g, z = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    np.testing.assert_allclose(r.evaluate({"G": g, "Z": z}), g * sigmoid(z) * (1 - sigmoid(z)), rtol=1e-10)
    assert_checked(r)


# ---------------------------------------------------------------------------------------
# 004: the linear layer u = W v + b, backward pass dL/dv = W^T delta


def test_linear_layer_backward(rng):
    rs = grad("g^T (W v + b)", ["v", "W", "b"])
    assert_form(rs["v"], "W^T g")
    assert_form(rs["W"], "g v^T")
    assert_form(rs["b"], "g")
    w, v = rng.standard_normal((3, 4)), rng.standard_normal((4, 1))
    b, g = rng.standard_normal((3, 1)), rng.standard_normal((3, 1))
    values = {"W": w, "v": v, "b": b, "g": g}
    np.testing.assert_allclose(rs["v"].evaluate(values), w.T @ g, rtol=1e-12)
    np.testing.assert_allclose(rs["W"].evaluate(values), g @ v.T, rtol=1e-12)
    np.testing.assert_allclose(rs["b"].evaluate(values), g, rtol=1e-12)
    for r in rs.values():
        assert_checked(r)


# ---------------------------------------------------------------------------------------
# 000 / 002 / 003: the batched dense layer Z = X W + b (b added to every row)
# dL/dX = dL/dZ W^T, dL/dW = X^T dL/dZ, dL/db = (dL/dZ)^T ones (column sums)

BATCH, FEATURES, OUTPUTS = 5, 3, 2


def dense_values(rng):
    return {"X": rng.standard_normal((BATCH, FEATURES)), "W": rng.standard_normal((FEATURES, OUTPUTS)),
            "b": rng.standard_normal((OUTPUTS, 1)), "Y": rng.standard_normal((BATCH, OUTPUTS)),
            "G": rng.standard_normal((BATCH, OUTPUTS))}


def dense_z(v):
    z = np.empty((BATCH, OUTPUTS))
    for i in range(BATCH):  # row by row, as the slides write it: y_i = x_i W + b
        for j in range(OUTPUTS):
            z[i, j] = sum(v["X"][i, k] * v["W"][k, j] for k in range(FEATURES)) + v["b"][j, 0]
    return z


def check_backprop_rules(rs, values, dz):
    np.testing.assert_allclose(rs["W"].evaluate(values), values["X"].T @ dz, rtol=1e-10)
    np.testing.assert_allclose(rs["X"].evaluate(values), dz @ values["W"].T, rtol=1e-10)
    np.testing.assert_allclose(rs["b"].evaluate(values), dz.sum(axis=0).reshape(-1, 1), rtol=1e-10)
    assert rs["W"].evaluate(values).shape == (FEATURES, OUTPUTS)
    assert rs["X"].evaluate(values).shape == (BATCH, FEATURES)
    assert rs["b"].evaluate(values).shape == (OUTPUTS, 1)
    for r in rs.values():
        assert_checked(r)


def test_dense_layer_linear_loss(rng):
    # L = <G, X W + b^T>: dL/dZ = G
    rs = grad("sum(G .* (X W + b^T))", ["W", "X", "b"])
    assert_form(rs["W"], "X^T G")
    assert_form(rs["X"], "G W^T")
    assert_form(rs["b"], "G^T ones")
    v = dense_values(rng)
    check_backprop_rules(rs, v, v["G"])


def test_dense_layer_squared_loss(rng):
    # L = ||X W + b^T - Y||_F^2: dL/dZ = 2 (Z - Y)
    rs = grad("||X W + b^T - Y||_F^2", ["W", "X", "b"])
    assert_form(rs["W"], "2 X^T (X W + b^T - Y)")
    assert_form(rs["X"], "2 (X W + b^T - Y) W^T")
    assert_form(rs["b"], "2 (X W + b^T - Y)^T ones")
    v = dense_values(rng)
    check_backprop_rules(rs, v, 2 * (dense_z(v) - v["Y"]))


def test_dense_layer_bias_gradient_is_not_the_mean(rng):
    # 003 scales by 1/|X| (a batch mean); for the plain sum loss the gradient has no such factor
    r = grad("sum(G .* (X W + b^T))", "b")
    v = dense_values(rng)
    got = r.evaluate(v)
    assert not np.allclose(got, v["G"].mean(axis=0).reshape(-1, 1))
    np.testing.assert_allclose(got, v["G"].sum(axis=0).reshape(-1, 1), rtol=1e-12)


def test_two_layer_sigmoid_net(rng):
    # 003: L = ||sigmoid(X W1 + b1^T) W2 + b2^T - Y||_F^2, the backward pass written by hand
    rs = grad("||sigmoid(X W1 + b1^T) W2 + b2^T - Y||_F^2", ["W1", "b1", "W2", "b2"])
    x, y = rng.standard_normal((5, 3)), rng.standard_normal((5, 2))
    w1, b1 = rng.standard_normal((3, 4)), rng.standard_normal((4, 1))
    w2, b2 = rng.standard_normal((4, 2)), rng.standard_normal((2, 1))
    v = {"X": x, "Y": y, "W1": w1, "b1": b1, "W2": w2, "b2": b2}
    h = sigmoid(x @ w1 + b1.T)
    dz2 = 2 * (h @ w2 + b2.T - y)
    dz1 = (dz2 @ w2.T) * h * (1 - h)
    expected = {"W1": x.T @ dz1, "b1": dz1.sum(0).reshape(-1, 1), "W2": h.T @ dz2, "b2": dz2.sum(0).reshape(-1, 1)}
    for name, want in expected.items():
        np.testing.assert_allclose(rs[name].evaluate(v), want, rtol=1e-10, err_msg=name)
        assert_checked(rs[name])
