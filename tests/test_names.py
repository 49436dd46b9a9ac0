"""How names and divisions are read: Greek letters are names, a name before '(' is a function,
a denominator is the shortest run of juxtaposed factors that is a scalar, a number written
together with a name is one factor; where a reading could surprise, a note says how the text
was read."""

import numpy as np
import pytest

import matcalc
from matcalc import DeclarationError, ParseError, ShapeError
from matcalc.cli import main
from matcalc.names import GREEK, closest, greek_stem
from matcalc.printing import to_latex

RNG = np.random.default_rng(11)


def symbols(e):
    return {s.name: s for s in e.free if isinstance(s, matcalc.expr.Symbol)}


# ------------------------------------------------------------------ Greek names


@pytest.mark.parametrize("name", ["alpha", "beta", "gamma", "delta", "epsilon", "eps", "lambda", "mu", "sigma",
                                  "theta", "tau", "rho", "eta", "omega", "alpha_1", "theta2"])
def test_a_greek_name_is_one_scalar_name(name):
    e = matcalc.parse(f"{name} x")
    assert set(symbols(e)) == {name, "x"}
    assert symbols(e)[name].kind == "scalar"
    stem = greek_stem(name)
    assert to_latex(symbols(e)[name]).startswith(GREEK[stem])


def test_a_run_that_only_begins_like_a_greek_name_is_still_split():
    assert set(symbols(matcalc.parse("alphax", {"a": "scalar", "l": "scalar", "p": "scalar", "h": "scalar"}))) \
        == {"a", "l", "p", "h", "x"}


def test_eps_prints_as_varepsilon():
    assert to_latex(matcalc.parse("eps x")) == r"\varepsilon x"


def test_a_capital_greek_name_is_a_matrix():
    e = matcalc.parse("x^T Sigma x")
    assert symbols(e)["Sigma"].kind == "matrix"
    assert to_latex(symbols(e)["Sigma"]) == r"\Sigma"


def test_ridge_with_lambda_value_and_note():
    r = matcalc.gradient("||X w - y||^2 + lambda ||w||^2", wrt="w")
    assert "read lambda as a scalar, the only kind that fits (declare it to say otherwise)" in r.notes
    X, y, w, lam = RNG.standard_normal((5, 3)), RNG.standard_normal(5), RNG.standard_normal(3), 0.7
    expected = 2 * X.T @ (X @ w - y) + 2 * lam * w  # the ridge gradient by hand
    np.testing.assert_allclose(r.evaluate({"X": X, "y": y, "w": w, "lambda": lam}), expected, rtol=1e-12)
    assert r.check().ok


def test_gradient_with_respect_to_a_greek_scalar():
    r = matcalc.gradient("alpha x^T x + alpha^2", wrt="alpha")
    x, a = RNG.standard_normal(4), 0.3
    assert np.isclose(r.evaluate({"x": x, "alpha": a}), x @ x + 2 * a)


def test_a_greek_vector_is_inferred_where_the_expression_fixes_it():
    r = matcalc.gradient("theta^T x + sum(exp(theta))", wrt="theta")
    assert "read theta as a vector, the only kind that fits (declare it to say otherwise)" in r.notes
    x, t = RNG.standard_normal(3), RNG.standard_normal(3)
    np.testing.assert_allclose(r.evaluate({"x": x, "theta": t}), x + np.exp(t), rtol=1e-12)


@pytest.mark.parametrize("text, name", [("||X theta - y||^2", "theta"), ("sum(exp(-||x - mu||^2))", "mu")])
def test_a_greek_name_whose_kind_is_not_fixed_asks_for_a_declaration(text, name):
    with pytest.raises(DeclarationError) as info:
        matcalc.gradient(text, wrt="x" if name == "mu" else name)
    line = str(info.value).splitlines()[0]
    assert line.startswith(f"the kind of {name} is not fixed by the expression (it reads as a scalar or a vector)")
    assert f"--let {name}=vector" in line
    declared = matcalc.gradient(text, wrt="x" if name == "mu" else name, declare={name: "vector"})
    assert declared.check().ok


def test_the_declaration_wins_over_the_guess():
    e = matcalc.parse("alpha^T x", {"alpha": "vector"})
    assert symbols(e)["alpha"].kind == "vector"


def test_greek_names_on_the_command_line(capsys):
    assert main(["grad", "||X w - y||^2 + lambda ||w||^2", "--wrt", "w"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "grad_w f = 2 X^T (X w - y) + 2 lambda w"
    assert out[1] == "note: read lambda as a scalar, the only kind that fits (declare it to say otherwise)"
    assert main(["grad", "||X theta - y||^2", "--wrt", "theta"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("error: the kind of theta is not fixed")


def test_greek_name_in_a_definition_is_the_defined_name():
    r = matcalc.gradient("alpha = 2; alpha x^T x", wrt="x")
    x = RNG.standard_normal(3)
    np.testing.assert_allclose(r.evaluate({"x": x}), 4 * x)


# ------------------------------------------------------------------ names before a bracket


@pytest.mark.parametrize("name, expected", [("ELU", ["elu"]), ("Tr", ["tr"]), ("DET", ["det"]), ("ReLU", ["relu"]),
                                            ("Softmax", ["softmax"]), ("log_sigmoid", ["logsigmoid"])])
def test_closest_names_ignore_case_and_underscores(name, expected):
    assert closest(name, matcalc.parser.CALLS) == expected


def test_log_softmax_suggests_a_softmax():
    with pytest.raises(ParseError) as info:
        matcalc.parse("sum(log_softmax(x))")
    line = str(info.value).splitlines()[0]
    assert line.startswith("unknown function 'log_softmax' at column 5: did you mean") and "softmax" in line


@pytest.mark.parametrize("text", ["sum(ELU(x))", "sum(Tr(A) x)", "ac (x^T x)"])
def test_a_misspelt_function_exits_with_status_two(text, capsys):
    assert main(["grad", text, "--wrt", "x"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("error: unknown function")
    assert len(err) == 3  # the line, the text and the caret


# ------------------------------------------------------------------ divisions


def rayleigh(v):
    A, x = v["A"], v["x"]
    return ((A + A.T) @ x) / (x @ x) - 2 * (x @ A @ x) * x / (x @ x) ** 2


def test_a_rayleigh_quotient_divides_by_the_whole_juxtaposed_product():
    r = matcalc.gradient("x^T A x / x^T x", wrt="x")
    assert r.expr == matcalc.gradient("(x^T A x) / (x^T x)", wrt="x").expr
    assert "read x^T A x / x^T x as (x^T A x) / (x^T x): a denominator runs over juxtaposed factors until it is " \
           "a scalar" in r.notes
    v = {"A": RNG.standard_normal((3, 3)), "x": RNG.standard_normal(3)}
    np.testing.assert_allclose(r.evaluate(v), rayleigh(v), rtol=1e-12)


def test_a_mean_squared_error_over_2N():
    r = matcalc.gradient("||X W - Y||_F^2 / 2N", wrt="W")
    assert str(r) == "X^T (X W - Y) / N"
    assert r.notes == ["read N as a scalar: a scalar is divided by it (declare it to say otherwise)",
                       "read ||X W - Y||^2 / 2 N as (||X W - Y||^2) / (2 N): a number written together with a name is "
                       "one factor"]
    X, W, Y, N = RNG.standard_normal((6, 3)), RNG.standard_normal((3, 2)), RNG.standard_normal((6, 2)), 6.0
    np.testing.assert_allclose(r.evaluate({"X": X, "W": W, "Y": Y, "N": N}), X.T @ (X @ W - Y) / N, rtol=1e-12)
    assert matcalc.gradient("||X W - Y||_F^2 / (2 N)", wrt="W", declare={"N": "scalar"}).expr == r.expr


def test_one_half_is_a_fraction_that_binds_tightest():
    r = matcalc.gradient("1/2 ||A x - b||^2", wrt="x")
    assert str(r) == "A^T (A x - b)"
    assert not r.notes
    A, b, x = RNG.standard_normal((4, 3)), RNG.standard_normal(4), RNG.standard_normal(3)
    np.testing.assert_allclose(r.evaluate({"A": A, "b": b, "x": x}), A.T @ (A @ x - b), rtol=1e-12)
    assert matcalc.parse("3/4 x^T x") == matcalc.parse("(3/4) (x^T x)")


@pytest.mark.parametrize("text, same_as", [
    ("1/2N ||x||^2", "(1 / (2 N)) ||x||^2"),  # 2N written together is one factor
    ("1/N sum(x)", "(1 / N) sum(x)"),
    ("lambda/N ||w||^2", "(lambda / N) ||w||^2"),
    ("lambda/2 ||w||^2", "(lambda / 2) ||w||^2"),
    ("2/3^2 x^T x", "(2 / 9) (x^T x)"),
    ("x^T x / 1/2", "(x^T x / 1) / 2"),  # left to right
    ("x^T x / 2 * 3", "(x^T x / 2) * 3"),
    ("x^T x / x^T x .* 3", "((x^T x) / (x^T x)) .* 3"),  # an explicit operator ends the run
    ("a / b c + d", "(a / b) c + d"),  # a scalar denominator: left to right, as ever
    ("a b / c / d e", "(((a b) / c) / d) e"),
    ("x^T A x / x^T x c", "((x^T A x) / (x^T x)) c"),  # the run stops where it is a scalar
    ("2N^2", "2 (N^2)"),
])
def test_where_a_denominator_ends(text, same_as):
    declare = {n: "scalar" for n in ["a", "b", "c", "d", "e", "N", "lambda"]}
    assert matcalc.parse(text, declare) == matcalc.parse(same_as, declare)


def test_a_denominator_that_is_never_a_scalar_is_refused():
    with pytest.raises(ShapeError):
        matcalc.parse("x^T A x / x y")


def test_a_vector_divided_by_a_vector_is_still_refused():
    with pytest.raises(ShapeError):
        matcalc.parse("x / y")


def test_a_greek_name_spelt_with_declared_letters_is_refused_as_ambiguous():
    with pytest.raises(ParseError) as info:
        matcalc.parse("mu x", {"m": "scalar", "u": "scalar"})
    assert str(info.value).splitlines()[0] == ("'mu' at column 1 is a Greek letter's name, and its letters are declared "
                                               "names: declare mu to mean the name, or write m u for the product")
    assert set(symbols(matcalc.parse("m u x", {"m": "scalar", "u": "scalar"}))) == {"m", "u", "x"}
    assert set(symbols(matcalc.parse("mu x", {"m": "scalar", "u": "scalar", "mu": "scalar"}))) == {"mu", "x"}


@pytest.mark.parametrize("text, note", [
    ("x^T x / 2 lambda", "read x^T x / 2 lambda as (x^T x / 2) lambda: the denominator ends where it is a scalar"),
    ("lambda/2 ||w||^2", "read lambda / 2 ||w||^2 as (lambda / 2) ||w||^2: the denominator ends where it is a scalar"),
])
def test_factors_after_a_scalar_denominator_are_noted(text, note):
    r = matcalc.gradient(text, wrt="x" if "x" in text else "w")
    assert note in r.notes


def test_a_coefficient_over_a_number_has_no_note():
    assert matcalc.gradient("1/2 ||A x - b||^2 + 1/N sum(x)", wrt="x", declare={"N": "scalar"}).notes == []


@pytest.mark.parametrize("text, message", [
    ("sum(leaky_relu(x, alpha=0.1))", "unexpected '=' at column 24: a function's parameters are given by position, "
                                      "without names, as in leaky_relu(z, 0.1)"),
    ("norm(x, 1)", "norm takes 1 argument, got 2 at column 1: write ||x||_1 for the 1-norm, ||x|| for the 2-norm"),
])
def test_other_spellings_of_parameters_say_what_to_write(text, message):
    with pytest.raises(ParseError) as info:
        matcalc.parse(text)
    assert str(info.value).splitlines()[0] == message


def test_a_shape_error_names_the_runs_of_letters_read_as_products():
    # Wq is the product W q (README: an undeclared run of letters is a product); where the shapes
    # then do not fit, the message says so and how to write one name
    with pytest.raises(matcalc.MatcalcError) as err:
        matcalc.gradient("tr(softmax(X Wq Wk^T X^T) X Wv)", wrt="X")
    message = str(err.value)
    assert "\n" not in message and "(Wq was read as the product W q; Wk was read as the product W k: " \
                                   "for one name write W_q or declare Wq)" in message
    assert str(matcalc.gradient("tr(softmax(X W_q W_k^T X^T) X W_v)", wrt="W_v")).startswith("X^T")


def test_a_denominator_that_is_not_a_scalar_says_how_to_declare_one():
    # attention's Q K^T / sqrt(d) with d undeclared (a vector by its case): x / y may mean x ./ y, so
    # no guess, but the message says what to declare; under a scalar, 1 / sqrt(d) reads d as one
    with pytest.raises(ShapeError) as err:
        matcalc.gradient("A = softmax(Q K^T / sqrt(d)); sum(G .* (A V))", wrt="Q")
    assert str(err.value).endswith("; for a scalar d, declare it (--let d=scalar)") and "\n" not in str(err.value)
    r = matcalc.gradient("sum(x) / sqrt(d)", wrt="x")
    assert "read d as a scalar: a scalar is divided by it (declare it to say otherwise)" in r.notes
    assert r.check().ok
