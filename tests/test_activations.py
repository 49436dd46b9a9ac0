"""The notes' activation table through the whole engine: gradients of sum(f(W x + b)) and of a
layer's loss against derivatives written out here with NumPy and math (not from the function
table), against finite differences and, where the function is analytic, the complex step; the
printed forms; the kinks; parameters given as numbers and as declared scalars; the slides' slips."""

import math

import numpy as np
import pytest

import matcalc
from matcalc.cli import main
from matcalc.evaluate import as_matrix, bind_sizes, evaluate
from matcalc.functions import FUNCTIONS, numpy_function
from matcalc.verify import symbols_of

RNG = np.random.default_rng(7)
LAMBDA, ALPHA = 1.0507009873554804934193349852946, 1.6732632423543772848170429916717  # Klambauer et al. 2017
ERF = np.vectorize(math.erf)


def phi(z):  # the standard normal density and distribution, from math.erf
    return np.exp(-z * z / 2) / math.sqrt(2 * math.pi)


def Phi(z):
    return (1 + ERF(z / math.sqrt(2))) / 2


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def gelu_tanh_prime(z):
    c, k = math.sqrt(2 / math.pi), 0.044715
    u = np.tanh(c * (z + k * z**3))
    return (1 + u) / 2 + z * (1 - u**2) * c * (1 + 3 * k * z**2) / 2


# text: (the function, its derivative), by hand from the definitions in the papers
ACTIVATIONS = {
    "leaky_relu(Z, 0.1)": (lambda z: np.maximum(0.1 * z, z), lambda z: np.where(z > 0, 1, 0.1)),
    "leaky_relu(Z)": (lambda z: np.where(z > 0, z, 0.01 * z), lambda z: np.where(z > 0, 1, 0.01)),
    "elu(Z)": (lambda z: np.where(z > 0, z, np.exp(z) - 1), lambda z: np.where(z > 0, 1, np.exp(z))),
    "elu(Z, 0.5)": (lambda z: np.where(z > 0, z, 0.5 * (np.exp(z) - 1)), lambda z: np.where(z > 0, 1, 0.5 * np.exp(z))),
    "selu(Z)": (lambda z: LAMBDA * np.where(z > 0, z, ALPHA * (np.exp(z) - 1)),
                lambda z: LAMBDA * np.where(z > 0, 1, ALPHA * np.exp(z))),
    "gelu(Z)": (lambda z: z * Phi(z), lambda z: Phi(z) + z * phi(z)),
    "gelu_tanh(Z)": (lambda z: z / 2 * (1 + np.tanh(math.sqrt(2 / math.pi) * (z + 0.044715 * z**3))), gelu_tanh_prime),
    "logsigmoid(Z)": (lambda z: np.log(sigmoid(z)), lambda z: 1 - sigmoid(z)),
    "sinc(Z)": (lambda z: np.sin(z) / z, lambda z: (z * np.cos(z) - np.sin(z)) / z**2),
    "hardtanh(Z)": (lambda z: np.clip(z, -1, 1), lambda z: ((z > -1) & (z < 1)).astype(float)),
    "silu(Z)": (lambda z: z * sigmoid(z), lambda z: sigmoid(z) * (1 + z * (1 - sigmoid(z)))),
    "swish(Z)": (lambda z: z * sigmoid(z), lambda z: sigmoid(z) * (1 + z * (1 - sigmoid(z)))),
    "erf(Z)": (ERF, lambda z: 2 / math.sqrt(math.pi) * np.exp(-z * z)),
    "normcdf(Z)": (Phi, phi),
    "normpdf(Z)": (phi, lambda z: -z * phi(z)),
}
ANALYTIC = {"gelu(Z)", "gelu_tanh(Z)", "logsigmoid(Z)", "sinc(Z)", "silu(Z)", "swish(Z)", "erf(Z)", "normcdf(Z)",
            "normpdf(Z)"}


def value_of(text, values):
    """The value of an expression with NumPy values, through the engine's evaluate."""
    e = matcalc.parse(text)
    symbols = symbols_of(e)
    matrices = {s.name: as_matrix(s.name, values[s.name], s) for s in symbols}
    return evaluate(e, matrices, bind_sizes(symbols, matrices))


def layer_values(scale=1.5):
    return {"W": scale * RNG.standard_normal((4, 3)), "x": RNG.standard_normal(3), "b": RNG.standard_normal(4)}


@pytest.mark.parametrize("text", sorted(ACTIVATIONS))
def test_gradients_of_a_layer_against_the_derivative_by_hand(text):
    f, fprime = ACTIVATIONS[text]
    expression = f"sum({text.replace('Z', 'W x + b')})"
    grads = matcalc.gradient(expression, wrt=["W", "x", "b"])
    v = layer_values()
    z = v["W"] @ v["x"] + v["b"]
    np.testing.assert_allclose(grads["W"].evaluate(v), np.outer(fprime(z), v["x"]), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(grads["x"].evaluate(v), v["W"].T @ fprime(z), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(grads["b"].evaluate(v), fprime(z), rtol=1e-10, atol=1e-12)
    assert np.isclose(value_of(expression, v).item(), f(z).sum(), rtol=1e-12)
    for name in ("W", "x"):
        report = grads[name].check()
        assert report.ok, str(report)
        assert (report.complex_step is not None) == (text in ANALYTIC), str(report)


@pytest.mark.parametrize("text", ["leaky_relu(Z, 0.1)", "elu(Z, 0.5)", "gelu(Z)", "selu(Z)", "hardtanh(Z)", "sinc(Z)"])
def test_a_two_layer_loss(text):
    """||f(X W1 + 1 b1^T) W2 - Y||_F^2 wrt W1 against backprop written out."""
    f, fprime = ACTIVATIONS[text]
    r = matcalc.gradient(f"||{text.replace('Z', 'X W1 + ones b1^T')} W2 - Y||_F^2", wrt="W1")
    X, W1, b1 = RNG.standard_normal((5, 3)), RNG.standard_normal((3, 4)), RNG.standard_normal(4)
    W2, Y = RNG.standard_normal((4, 2)), RNG.standard_normal((5, 2))
    z = X @ W1 + b1
    delta = (2 * (f(z) @ W2 - Y) @ W2.T) * fprime(z)
    got = r.evaluate({"X": X, "W1": W1, "b1": b1, "W2": W2, "Y": Y})
    np.testing.assert_allclose(got, X.T @ delta, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("text, form", [
    ("sum(leaky_relu(x, 0.1))", "1/10 + (9/10) step(x)"),
    ("sum(elu(x))", "1 + elu(x) - step(x) .* elu(x)"),  # elu' = 1 for x > 0, elu(x) + 1 below: collected
    ("sum(gelu(x))", "x .* normpdf(x) + normcdf(x)"),
    ("sum(logsigmoid(x))", "1 - sigmoid(x)"),
    ("sum(hardtanh(x))", "step(1 + x) - step(x - 1)"),
    ("sum(selu(x))", "dselu(x)"),
    ("sum(sinc(x))", "dsinc(x)"),
    ("sum(silu(x))", "swish(x) + (1 - swish(x)) .* sigmoid(x)"),
    ("sum(erf(x))", "2 sqrt(2) normpdf(sqrt(2) x)"),
])
def test_printed_forms(text, form):
    r = matcalc.gradient(text, wrt="x")
    assert str(r) == form
    assert matcalc.parse(form) == r.expr  # and it parses back


def test_gelu_gradient_is_the_papers_phi_plus_x_density():
    # Hendrycks & Gimpel: GELU(x) = x Phi(x), GELU'(x) = Phi(x) + x phi(x)
    assert str(matcalc.gradient("gelu(s)", wrt="s", declare={"s": "scalar"})) == "s normpdf(s) + normcdf(s)"


def test_leaky_relu_with_a_declared_scalar_slope_and_its_gradient():
    grads = matcalc.gradient("sum(leaky_relu(W x, a))", wrt=["W", "a"], declare={"a": "scalar"})
    v = layer_values() | {"a": 0.2}
    z = v["W"] @ v["x"]
    np.testing.assert_allclose(grads["W"].evaluate(v), np.outer(np.where(z > 0, 1, 0.2), v["x"]), rtol=1e-12)
    assert np.isclose(grads["a"].evaluate(v), np.minimum(z, 0).sum())  # d/da of a z for z < 0
    assert str(grads["a"]) == "sum(W x) - sum(relu(W x))"
    assert grads["a"].check().ok


def test_elu_alpha_as_a_greek_scalar_and_its_gradient():
    grads = matcalc.gradient("sum(elu(W x, alpha))", wrt=["W", "alpha"])
    assert "read alpha as a scalar, the only kind that fits (declare it to say otherwise)" in grads["alpha"].notes
    v = layer_values() | {"alpha": 0.7}
    z = v["W"] @ v["x"]
    assert np.isclose(grads["alpha"].evaluate(v), np.where(z > 0, 0, np.exp(z) - 1).sum())
    np.testing.assert_allclose(grads["W"].evaluate(v), np.outer(np.where(z > 0, 1, 0.7 * np.exp(z)), v["x"]), rtol=1e-12)
    for r in grads.values():
        assert r.check().ok


def test_elu_without_alpha_is_alpha_one():
    assert matcalc.parse("elu(x)") == matcalc.parse("elu(x, 1)")
    assert str(matcalc.parse("elu(x, 1)")) == "elu(x)"
    assert str(matcalc.parse("leaky_relu(x, 0.2)")) == "leaky_relu(x, 1/5)"


def test_silu_is_swish():
    assert matcalc.parse("silu(x)") == matcalc.parse("swish(x)")


def test_a_hessian_through_gelu_and_elu():
    h = matcalc.hessian("sum(gelu(W x))", wrt="x")
    v = layer_values()
    z = v["W"] @ v["x"]
    second = 2 * phi(z) - z * z * phi(z)  # (Phi + z phi)' = phi + phi - z^2 phi
    np.testing.assert_allclose(h.evaluate(v), v["W"].T @ np.diag(second) @ v["W"], rtol=1e-10)
    assert h.check().ok
    assert matcalc.hessian("sum(elu(W x, 2))", wrt="x").check().ok


# ------------------------------------------------------------------ kinks


@pytest.mark.parametrize("text, note", [
    ("sum(leaky_relu(W x, 0.1))", "leaky_relu with slope = 1/10 is not differentiable at 0"),
    ("sum(hardtanh(W x))", "hardtanh is not differentiable at -1 and 1"),
    ("sum(elu(W x, 2))", "elu with alpha = 2 is not differentiable at 0"),
    ("sum(relu(W x))", "relu is not differentiable at 0"),
    ("sum(selu(W x))", "selu is not differentiable at 0"),
])
def test_a_kink_gets_a_note(text, note):
    notes = matcalc.gradient(text, wrt="x").notes
    assert f"{note}: the result holds away from there" in notes


@pytest.mark.parametrize("text", ["sum(elu(W x))", "sum(gelu(W x))", "sum(sinc(W x))"])
def test_smooth_functions_have_no_kink_note(text):
    assert matcalc.gradient(text, wrt="x").notes == []


def test_the_hessian_of_a_kinked_function_says_where_it_holds():
    notes = matcalc.hessian("sum(hardtanh(A x)) + x^T x", wrt="x").notes
    assert any("step(...)" in n and "holds only away from those points" in n for n in notes)


# ------------------------------------------------------------------ numbers at the edges


def test_sinc_and_its_derivative_at_and_near_zero():
    sinc, dsinc = numpy_function("sinc"), numpy_function("dsinc")
    assert sinc(np.array(0.0)) == 1.0 and dsinc(np.array(0.0)) == 0.0
    for z in (1e-4, -3e-4, 2e-3):
        assert np.isclose(dsinc(np.array(z)), (z * math.cos(z) - math.sin(z)) / z**2, rtol=1e-6, atol=1e-12)


def test_logsigmoid_is_stable_far_from_zero():
    f = numpy_function("logsigmoid")
    assert f(np.array(-800.0)) == -800.0  # log(sigmoid(-800)) = -800 - log1p(e^-800)
    assert f(np.array(800.0)) == 0.0 and np.isclose(f(np.array(40.0)), -math.exp(-40), rtol=1e-12)


def test_erf_matches_math_erf_everywhere():
    z = np.linspace(-9, 9, 3601)
    np.testing.assert_allclose(numpy_function("erf")(z), ERF(z), rtol=0, atol=4e-15)


def test_elu_does_not_overflow_for_large_inputs():
    with np.errstate(all="raise"):
        assert numpy_function("elu")(np.array(1000.0), 1.0) == 1000.0
        assert numpy_function("selu")(np.array(1000.0)) == LAMBDA * 1000.0


# ------------------------------------------------------------------ the slides' slips


def test_elu_is_alpha_times_exp_minus_one_not_the_slides_exp_of_x_over_alpha():
    # one slide of seed 001 writes alpha (e^(x/alpha) - 1) for x <= 0; ELU is alpha (e^x - 1) (Clevert et al.)
    value = matcalc.gradient("elu(s, 2)", wrt="s", declare={"s": "scalar"}).evaluate({"s": -1.0})  # the slope at -1
    assert np.isclose(value, 2 * math.exp(-1))
    assert not np.isclose(value, math.exp(-1 / 2))
    value = numpy_function("elu")(np.array(-1.0), 2.0)
    assert np.isclose(value, 2 * (math.exp(-1) - 1))
    assert not np.isclose(value, 2 * (math.exp(-1 / 2) - 1))


def test_leaky_relu_is_the_slides_max_for_slopes_below_one():
    z = np.linspace(-3, 3, 13)
    np.testing.assert_allclose(numpy_function("leaky_relu")(z, 0.1), np.maximum(0.1 * z, z))


def test_logsigmoid_is_negative_everywhere_not_zero_at_the_origin():
    # seed 001 draws log-sigmoid as zero at the origin, growing to infinity: it is -log 2 at 0 and tends to 0
    f = numpy_function("logsigmoid")
    assert np.isclose(f(np.array(0.0)), -math.log(2))
    assert np.all(f(np.linspace(-5, 30, 50)) < 0)


def test_the_activation_table_is_complete():
    names = {"leaky_relu", "elu", "selu", "gelu", "gelu_tanh", "logsigmoid", "sinc", "hardtanh", "swish", "erf",
             "sigmoid", "tanh", "relu", "softplus", "softsign", "mish", "step"}
    assert names <= set(FUNCTIONS)
    assert matcalc.parser.CALLS["silu"] is not None


def test_activation_on_the_command_line(capsys):
    assert main(["grad", "sum(leaky_relu(W x, 0.01))", "--wrt", "W", "--check"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "grad_W f = (1/100 + (99/100) step(W x)) x^T"
    assert out[1] == "note: leaky_relu is not differentiable at 0: the result holds away from there"
    assert out[2].startswith("check: ok")


@pytest.mark.parametrize("kind, text, wrt, declare", [
    ("gradient", "sum(leaky_relu(W x, 0.2)) + sum(hardtanh(W x)) + sum(sinc(W x)) + sum(selu(W x))", "W", {}),
    ("gradient", "sum(elu(W x, a)) + sum(gelu(W x)) + sum(gelu_tanh(W x))", "a", {"a": "scalar"}),
    ("gradient", "sum(logsigmoid(W x)) + sum(erf(W x)) + sum(silu(W x))", "x", {}),
    ("hessian", "sum(gelu(W x)) + sum(elu(W x, 2))", "x", {}),
    ("jacobian", "leaky_relu(W x, a)", "a", {"a": "scalar"}),
])
def test_generated_code_of_the_activations_matches_evaluate(kind, text, wrt, declare):
    r = getattr(matcalc, kind)(text, wrt=wrt, declare=declare)
    values = {"W": 1.5 * RNG.standard_normal((4, 3)), "x": RNG.standard_normal(3), "a": 0.3}
    values = {k: v for k, v in values.items() if k in {s.name for s in symbols_of(r.function)}}
    np.testing.assert_allclose(r.to_numpy()(**values), r.evaluate(values), rtol=1e-12, atol=1e-14, err_msg=r.source())


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_every_function_has_latex_that_katex_can_read(name):
    from matcalc.printing import to_latex

    args = ", ".join(["x", *("2" for _ in FUNCTIONS[name].params)])
    latex = to_latex(matcalc.parse(f"{name}({args})"))
    head = latex.split(r"\left(")[0]
    assert "_" not in head.replace("_{", "") or r"\_" in head, latex  # a bare _ inside a name would be a subscript


def test_normcdf_and_gelu_keep_their_digits_far_below_zero():
    z = np.linspace(-37, 8, 901)
    exact = np.array([0.5 * math.erfc(-v / math.sqrt(2)) for v in z])  # erfc: no digits lost in the lower tail
    np.testing.assert_allclose(numpy_function("normcdf")(z), exact, rtol=1e-12)
    np.testing.assert_allclose(numpy_function("gelu")(z), z * exact, rtol=1e-12)


def test_gelu_tanh_keeps_its_digits_far_below_zero():
    for v in (-4.0, -6.0, -9.0):
        u = math.sqrt(2 / math.pi) * (v + 0.044715 * v**3)
        s = math.exp(2 * u) / (1 + math.exp(2 * u))  # (1 + tanh(u)) / 2 without cancellation
        assert np.isclose(numpy_function("gelu_tanh")(np.array(v)), v * s, rtol=1e-12, atol=0)


@pytest.mark.parametrize("text", ["gelu_tanh(-W diag(C))", "gelu(-3 W diag(C))", "normcdf(-3 W diag(C))",
                                  "erf(diag(inv(inv(A + (I + A^T A)))))"])
def test_jacobians_in_the_tails_pass_their_checks(text):
    r = matcalc.jacobian(text, wrt="C" if "C" in text else "A")
    for seed in range(4):
        report = r.check(seed=seed)
        assert report.ok, str(report)
