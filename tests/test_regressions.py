"""Engine failures found by the property-based tests (test_properties.py, test_fuzz.py),
each pinned by its smallest known input.  Each test states what the README promises; it
fails for as long as the engine does not keep that promise.
"""

from __future__ import annotations

import subprocess
import sys
import time
from fractions import Fraction

import numpy as np
import pytest
from sizes import matches_up_to_sizes

import matcalc
from matcalc import expr as E
from matcalc.printing import to_latex
from matcalc.simplify import simplify, weight

X = np.array([0.3, -1.2, 0.7])
A = np.array([[2.1, 0.2, 0.1], [0.3, 1.8, -0.2], [0.1, 0.4, 2.3]])


def softmax(u):
    z = np.exp(u - u.max())
    return z / z.sum()


def sigmoid(t):
    return 1 / (1 + np.exp(-t))


# ------------------------------------------------------------------ Result.check() on correct results
# check() compares relative errors with no allowance for rounding: a derivative that is zero
# (or small next to the function's value) evaluates to rounding noise, and the check fails.


def test_check_passes_a_zero_gradient():
    # sum(softmax(x)) = 1: the gradient softmax(x) - sum(softmax(x)) softmax(x) is exactly 0;
    # check() reports FAILED (complex step 5.6e-09 against a tolerance of 1e-09)
    r = matcalc.gradient("sum(softmax(x))", wrt="x")
    np.testing.assert_allclose(r.evaluate({"x": X}), 0, atol=1e-15)
    assert r.check().ok, str(r.check())


@pytest.mark.parametrize("expression, wrt, reference", [
    # check() reports FAILED: central differences 3.8e-05, complex step 6.1e-12
    ("sigmoid(sum(A))", "A", lambda: sigmoid(A.sum()) * (1 - sigmoid(A.sum())) * np.ones((3, 3))),
    # check() reports FAILED: central differences 1.9e-03, complex step 5.4e-16
    ("x^T x + 1000000", "x", lambda: 2 * X),
])
def test_check_passes_a_correct_gradient_small_next_to_the_function(expression, wrt, reference):
    r = matcalc.gradient(expression, wrt=wrt)
    np.testing.assert_allclose(r.evaluate({"x": X, "A": A}), reference(), rtol=1e-12)
    assert r.check().ok, str(r.check())


def test_check_passes_a_zero_hessian():
    # the Hessian of the constant sum(softmax(x)) is 0; check() reports FAILED (complex step 4.7e-09)
    h = matcalc.hessian("sum(softmax(x))", wrt="x")
    np.testing.assert_allclose(h.evaluate({"x": X}), 0, atol=1e-15)
    assert h.check().ok, str(h.check())


def test_check_passes_a_zero_jacobian():
    # softmax is shift invariant: d softmax(x + a) / da = 0; check() reports FAILED
    # (central differences 3.7e-03, complex step 9.7e-09)
    j = matcalc.jacobian("softmax(x + a)", wrt="a", declare={"a": "scalar"})
    np.testing.assert_allclose(j.evaluate({"x": X, "a": 0.4}), 0, atol=1e-15)
    assert j.check().ok, str(j.check())


# ------------------------------------------------------------------ Result.check() cannot size its inputs
# check() draws values only for the symbols of the derivative and of what it differentiates; a
# size that occurs only in ones, I or 0 is then unknown: MatcalcError "the size n is not known
# from the values given".


def test_check_of_the_hessian_of_a_linear_function():
    h = matcalc.hessian("sum(x)", wrt="x")  # gradient ones, Hessian 0
    assert h.check().ok


def test_check_of_a_gradient_when_another_size_occurs_only_in_a_zero():
    r = matcalc.gradient("tr(C) + ||x - x||", wrt="C")  # gradient I
    assert r.check().ok


# ------------------------------------------------------------------ Jacobians and Hessians through diag


def test_jacobian_of_the_diagonal_of_a_matrix():
    # raises DerivativeError: derivatives through diagvector are not supported
    j = matcalc.jacobian("diag(A)", wrt="A")
    assert j.check().ok


def test_hessian_through_the_diagonal():
    # x^T diag(x) x = sum of x_i^3: the gradient is found (2 diag(x) x + diag(x x^T)),
    # the Hessian raises DerivativeError: derivatives through diagvector are not supported
    h = matcalc.hessian("x^T diag(x) x", wrt="x")
    np.testing.assert_allclose(h.evaluate({"x": X}), 6 * np.diag(X), rtol=1e-12)


def test_jacobian_through_a_diagonal_matrix():
    # tr(diag(x)) x = sum(x) x: raises DerivativeError: derivatives through diagmatrix are not supported
    j = matcalc.jacobian("tr(diag(x)) x", wrt="x")
    np.testing.assert_allclose(j.evaluate({"x": X}), X.sum() * np.eye(3) + np.outer(X, np.ones(3)), rtol=1e-12)


# ------------------------------------------------------------------ printing: str(r) parses back to r.expr
# (up to the names of sizes, which text does not carry: see sizes.py)


@pytest.mark.parametrize("text, wrt, declare", [
    # printed 'cos(sum(x)) - sin(sum(x))': the ones were dropped and the gradient read as a scalar
    ("sin(sum(x)) + cos(sum(x))", "x", None),
    # 'exp(tr(A)) I' and 'exp(sum(x)) ones': parsed back, I and ones get sizes of their own
    ("exp(tr(A))", "A", None),
    ("exp(sum(x))", "x", None),
    # 'exp(a) x / ||x||' parsed back with the scalar factors as ||x||^-1 exp(a)
    ("exp(a) ||x||", "x", {"a": "scalar"}),
    # 'exp(C + (u + v))' parsed back as C + u ones^T + v ones^T, not C + (u + v) ones^T
    ("sum(exp(C + u + v))", "C", None),
    # 'u x^T': V is m x n in the function, n x m once parsed back
    ("x^T V^T u", "V", None),
])
def test_printed_gradient_parses_back(text, wrt, declare):
    r = matcalc.gradient(text, wrt=wrt, declare=declare)
    back = matcalc.parse(str(r), declare)
    assert matches_up_to_sizes(back, r.expr), f"{r} parses back as {back!r}"


@pytest.mark.parametrize("text", [
    "logsumexp(x - x)",  # the zero vector was printed '0', and 'logsumexp(0)' is a shape error
    "x + ones + ones",  # the two ones were not collected while sizes were placeholders: 'x + 1 + 1' is x + 2
    "logsumexp(x .* (sum(y) x))",  # printed 'logsumexp(sum(y) x .^ 2)': y is met first, its size becomes n
    "sum(x - x)",  # the zero of sum(0) was Zero, the '0' it prints parsed as the number 0
    # the two ones, of sizes unified only later, were not seen as equal: parsed back, .* became .^ 2
    "-sum(diag(log(1 + diag(x + ones) .* diag(x + ones))))",
])
def test_printed_expression_parses_back(text):
    e = matcalc.parse(text)
    assert matches_up_to_sizes(matcalc.parse(str(e)), e), f"{text} prints as {e}"


# ------------------------------------------------------------------ simplification


def test_parsing_collects_identities_and_simplify_does_not_grow_the_result():
    # the four I were collected to 4 I only by simplify, so the parsed tree (7 nodes) grew to 9
    e = matcalc.parse("det(I + (A + I + I + I + I)^T (A + I + I + I + I))")
    assert str(e) == "det(I + (A + 4 I)^T (A + 4 I))"
    assert weight(simplify(e)) <= weight(e), f"{e} -> {simplify(e)}"


def test_collecting_symbolic_weights_does_not_grow_the_written_gradient():
    # det(A) A^-T + A^-T -> (det(A) + 1) A^-T: fewer nodes written out, though one more distinct node
    r = matcalc.gradient("det(A) + logdet(A)", wrt="A")
    assert str(r) == "(det(A) + 1) A^-T"
    np.testing.assert_allclose(r.evaluate({"A": A}), (np.linalg.det(A) + 1) * np.linalg.inv(A).T, rtol=1e-12)


# ------------------------------------------------------------------ Result.check() on strongly curved functions


def test_check_of_a_softplus_far_below_zero():
    # softplus was evaluated as log(1 + exp(t)), which loses every digit of exp(t) far below 0:
    # central differences of log(softplus(t)^2) were off by 5e-5 and check() failed a right gradient
    r = matcalc.gradient("log(softplus(tr(-(W V)^T))^2)", wrt="V")
    assert r.check().ok, str(r.check())
    W = np.array([[3.0, 4.0], [5.0, 6.0]])
    V = np.array([[2.0, 1.0], [1.0, 3.0]])  # tr(W V) = 57: softplus(-57) = exp(-57) to 25 digits
    t = np.trace(W @ V)
    np.testing.assert_allclose(r.evaluate({"W": W, "V": V}), -2 * W.T / np.log1p(np.exp(-t)) / (1 + np.exp(t)), rtol=1e-10)


@pytest.mark.parametrize("kind, text, wrt", [
    # NumPy's complex log1p is log(1 + u): the complex step through softplus lost the digits
    # that the real evaluation keeps, and check() failed right derivatives (1e-1, 1.5e-8)
    ("hessian", "softplus(x^T (W (-V)) x)^2", "x"),
    ("gradient", "softplus(3 (x^T W (-u)))^-1", "W"),
    ("gradient", "softplus(3 tr(-A))^2", "A"),
])
def test_complex_step_through_softplus(kind, text, wrt):
    r = getattr(matcalc, kind)(text, wrt=wrt)
    report = r.check()
    assert report.ok and report.complex_step < 1e-12, str(report)


def test_softplus_keeps_its_digits_far_below_zero():
    from matcalc.functions import numpy_function

    softplus = numpy_function("softplus")
    t = np.array([-800.0, -40.0, -1.0, 0.0, 1.0, 40.0, 800.0])
    expected = [0.0, 4.248354255291589e-18, 0.31326168751822286, np.log(2), 1.3132616875182228, 40.0, 800.0]
    np.testing.assert_allclose(softplus(t), expected, rtol=1e-15)
    z = -36 + 1e-20j  # the complex step: Im softplus(t + ih) / h = sigmoid(t)
    np.testing.assert_allclose(softplus(np.array([z])).imag / 1e-20, 1 / (1 + np.exp(36)), rtol=1e-14)


def test_check_of_a_jacobian_that_cancels_to_zero():
    # the Jacobian is truly 0 (softmax sums to one); rounding made its value 1e-10, above a fixed floor
    j = matcalc.jacobian("exp(softplus(-tr(-(C + C))) * softmax(-(3 (x - beta + ones))))", wrt="beta",
                         declare={"beta": "scalar"})
    assert j.check().ok, str(j.check())


def test_trace_of_a_kronecker_product():
    # was refused: "tr needs a square matrix, got kron(A, X) (n*p x m*q)"
    r = matcalc.gradient("tr(kron(A, X))", wrt="X")
    assert str(r) == "tr(A) I"
    B = np.array([[1.0, 2.0], [0.5, -1.0]])
    np.testing.assert_allclose(r.evaluate({"A": A, "X": B}), np.trace(A) * np.eye(2))
    assert r.check().ok


# ------------------------------------------------------------------ any input text


def test_fractional_power_of_a_large_number():
    # raises OverflowError (int too large to convert to float), not a MatcalcError;
    # so does 64^64^64^0.5
    try:
        matcalc.parse("(1e300 1e300)^0.5")
    except matcalc.MatcalcError:
        pass


def test_tower_of_powers_finishes_quickly():
    # (((9^64)^64)^64)^64 is folded to an exact integer of about 15 million digits: 16 s here,
    # and each further ^64 multiplies that (2^64^64^64^64^64^64 does not finish)
    code = "import matcalc\ntry:\n    matcalc.parse('9^64^64^64^64')\nexcept matcalc.MatcalcError:\n    pass\n"
    start = time.perf_counter()
    try:
        subprocess.run([sys.executable, "-c", code], timeout=30, check=True, capture_output=True)
    except subprocess.TimeoutExpired:
        pytest.fail("parse('9^64^64^64^64') did not finish within 30 s")
    elapsed = time.perf_counter() - start
    assert elapsed < 5, f"parse('9^64^64^64^64') took {elapsed:.1f} s"


def test_large_folded_number_prints():
    # str() raises ValueError: Exceeds the limit (4300 digits) for integer string conversion
    try:
        e = matcalc.parse("2^64^64^64")
    except matcalc.MatcalcError:
        return  # refusing the number is fine
    str(e)
    to_latex(e)


def test_gradient_of_a_large_folded_number_is_not_an_internal_error():
    # MatcalcError: internal error (ValueError: Exceeds the limit (4300 digits) for integer string conversion ...)
    with pytest.raises(matcalc.MatcalcError) as caught:
        matcalc.gradient("9^9^9^64", wrt="x")
    assert not str(caught.value).startswith("internal error"), str(caught.value)


def test_gradient_of_bytes_is_not_an_internal_error():
    # parse(b"x") says "an expression must be a string, got bytes"; gradient(b"x") says
    # "internal error (AttributeError: 'bytes' object has no attribute 'shape')"
    with pytest.raises(matcalc.MatcalcError) as caught:
        matcalc.gradient(b"x", wrt="x")
    assert not str(caught.value).startswith("internal error"), str(caught.value)


def test_a_nested_norm_multiplied_on_its_left_keeps_its_parentheses():
    """||a (||x||) x|| printed as ||a ||x|| x|| reads back as ||a|| ||x|| x: inside a norm, a
    norm that a factor multiplies on its left is printed in parentheses, as the syntax asks."""
    e = matcalc.parse("||a (||x||) x||", {"a": "scalar"})
    assert str(e) == "||a (||x||) x||"
    assert matcalc.parse(str(e), {"a": "scalar"}) == e
    assert str(matcalc.parse("||x|| x")) == "||x|| x"  # outside a norm nothing is ambiguous


# ------------------------------------------------------------------ terms that cancel


def _parses_back(r):
    back = matcalc.parse(str(r))
    assert matches_up_to_sizes(back, r.expr) or matches_up_to_sizes(r.expr, back), (str(r), str(back))


@pytest.mark.parametrize("text, wrt, declare, values", [
    # derived sum(ones); evaluating it was an internal error (TypeError)
    ("sum(b + kron(y, w))", "b", {"b": "scalar"}, {"b": 0.5, "y": np.ones(2), "w": np.arange(3.0)}),
    ("sum(1 + kron(y, w)) + a", "a", {"a": "scalar"}, {"a": 0.5, "y": np.ones(2), "w": np.arange(3.0)}),
])
def test_gradient_of_a_kron_broadcast_evaluates(text, wrt, declare, values):
    r = matcalc.gradient(text, wrt=wrt, declare=declare)
    assert r.check().ok
    np.testing.assert_allclose(np.ravel(r.evaluate(values)), [6.0] if wrt == "b" else [1.0])
    _parses_back(r)


@pytest.mark.parametrize("kind, text, wrt, declare", [
    ("gradient", "sum(x - x)", "x", None),
    ("gradient", "tr(A - A) + tr(B)", "A", None),
    ("jacobian", "x - x + a", "x", {"a": "vector"}),
    ("hessian", "sum(x - x) + x^T y - x^T y", "x", None),
])
def test_a_derivative_that_cancels_is_zero(kind, text, wrt, declare):
    # was refused: "x does not occur in 0: the derivative with respect to it is zero"
    r = getattr(matcalc, kind)(text, wrt=wrt, declare=declare)
    assert isinstance(r.expr, matcalc.expr.Zero), str(r)
    assert any("cancels" in note for note in r.notes), r.notes
    assert r.check().ok
    values = {"x": X, "A": A, "B": A, "a": X}
    out = r.evaluate({k: v for k, v in values.items() if k in text})
    assert not np.any(out)
    _parses_back(r)


def test_a_variable_not_in_the_text_is_still_refused():
    with pytest.raises(matcalc.DerivativeError, match="does not occur"):
        matcalc.gradient("sum(x - x)", wrt="y")


@pytest.mark.parametrize("kind, text, wrt, values", [
    # "the size n is not known from the values given" although every value was passed
    ("gradient", "||y - y||^2 + tr(B)", "B", {"y": X[:2], "B": A}),
    ("jacobian", "(C - C) + x^T", "x", {"C": np.ones((1, 3)), "x": X}),
    ("hessian", "x^T (Y u) - logsumexp(t - t)", "Y", {"x": X, "Y": A[:, :2], "u": X[:2], "t": X}),
])
def test_sizes_of_cancelled_terms_bind(kind, text, wrt, values):
    r = getattr(matcalc, kind)(text, wrt=wrt)
    assert r.check().ok
    out = r.evaluate(values)
    if kind == "gradient":
        np.testing.assert_allclose(out, np.eye(3))
    elif kind == "jacobian":
        np.testing.assert_allclose(out, np.eye(3))
    else:
        np.testing.assert_allclose(out, np.zeros((6, 6)))
    _parses_back(r)


# ------------------------------------------------------------------ printed Jacobians and Hessians parse back


@pytest.mark.parametrize("kind, text, wrt, printed", [
    # README's own example: kron(x^T, I) had sizes that did not tie
    ("jacobian", "tanh(W x + b)", "W", "kron(x^T, diag(1 - tanh(W x + b) .^ 2))"),  # x^T kron D, the Cookbook's form
    ("jacobian", "X^T", "X", "K[n, m]"),  # was K(n,m), which parsed as a product
    ("hessian", "logdet(X)", "X", "-kron(X^-1, X^-T) K[n, n]"),
    ("hessian", "tr(X^2)", "X", "2 K[n, n]"),
    ("jacobian", "W x + vec(Y)", "Y", None),  # vec(...) was not in the grammar
])
def test_printed_jacobians_and_hessians_parse_back(kind, text, wrt, printed):
    r = getattr(matcalc, kind)(text, wrt=wrt)
    assert r.check().ok
    if printed is not None:
        assert str(r) == printed
    _parses_back(r)


@pytest.mark.parametrize("text, wrt", [("sum(exp(vec(X)))", "X"), ("||vec(A X) - y||^2", "X"), ("y^T vec(X^T)", "X")])
def test_gradient_through_vec(text, wrt):
    r = matcalc.gradient(text, wrt=wrt)
    assert r.check().ok


def test_a_product_that_comes_out_of_an_identity_joins_the_chain():
    """diag(v) ones = v with v a product left a product nested in a product, x^T (A diag(x + a) x),
    which printed and parsed back flattened (found by the long property run)."""
    r = matcalc.gradient("exp((diag(x + a) x)^T A (diag(x + a) x))", wrt="a", declare={"a": "scalar"})
    assert matcalc.parse(str(r), {"a": "scalar"}) == r.expr
    assert r.check()


# ------------------------------------------------------------------ transposes of sums
# A function written the way SymPy expands it, (W v - t)^T as v^T W^T - t^T, must come out as a
# person writes it, and a transposed sum whose terms cancel must cancel.


def test_the_transpose_of_a_sum_of_transposes_is_taken_term_by_term():
    rng = np.random.default_rng(3)
    W, v, t = rng.normal(size=(3, 2)), rng.normal(size=(2, 1)), rng.normal(size=(3, 1))
    r = matcalc.gradient("(v^T W^T - t^T)(W v - t)", wrt="W")
    assert str(r) == "2 (W v - t) v^T"
    assert np.allclose(r.evaluate({"W": W, "v": v, "t": t}), 2 * (W @ v - t) @ v.T)


def test_a_transposed_sum_whose_terms_cancel_cancels():
    r = matcalc.gradient("x^T (A - A^T) x", wrt="x")  # x^T (A - A^T) x = 0 for every x
    assert str(r) == "0 ones"
    assert str(matcalc.gradient("(W x + b)^T (W x + b)", wrt="W")) == "2 (W x + b) x^T"  # kept whole


def test_a_power_of_a_size_reads_back_as_the_same_size():
    # sum(1 + S .^ 2) holds sum(ones) of an n x n matrix, size[n*n]; printed size(S, 1) size(S, 1) and
    # read again it was size[n]^2, another tree for the same number
    from matcalc.printing import to_text

    e = matcalc.parse("log(sum(1 + S .^ 2))", {"S": "symmetric"})
    assert matches_up_to_sizes(e, matcalc.parse(to_text(e), {"S": "symmetric"}))
    assert to_text(matcalc.parse("size(S, 1)^2", {"S": "symmetric"})) == "size[n*n]"


def test_a_repeated_sum_of_scalars_reads_back_as_the_same_terms():
    # the gradient held 2 exp(u) + 4 (sum(u) + a size(u, 1)) ones as two terms; the text, a vector plus a
    # number times a sum, reads as a vector plus each of the sum's terms repeated: another tree, one value
    r = matcalc.gradient("(sum(exp(u)) + (1 + sum(u + a)^2))^2", wrt="u", declare={"a": "scalar"})
    assert matches_up_to_sizes(matcalc.parse(str(r), {"a": "scalar"}), r.expr), str(r)
    assert r.check().ok
    u, a = X, 0.4
    s = np.exp(u).sum() + 1 + (u.sum() + a * u.size) ** 2
    expected = 2 * s * (np.exp(u) + 2 * (u.sum() + a * u.size))  # d(s^2) = 2 s ds, written out by hand
    np.testing.assert_allclose(r.evaluate({"u": u, "a": a}).ravel(), expected, rtol=1e-12)


@pytest.mark.parametrize("kind, text, wrt, declare", [
    ("jacobian", "softmax(-(-C .* (C^T + I) u + a))", "a", {"a": "scalar"}),
    ("jacobian", "softmax(-((C + I + I) u + a))", "a", {"a": "scalar"}),  # nearly one-hot at check's point
    ("gradient", "(-softmax(softmax(mu + z - a) + beta))^T ((-log(exp(B)))^T + softmax(sqrt(exp(x))))^2 "
                 "((sqrt(sigmoid(S'))^T + I) * (softmax(mu) / 2))", "a",
     {"S": "symmetric", "mu": "vector", "a": "scalar", "beta": "scalar"}),
])
def test_a_derivative_zero_by_the_shift_invariance_of_softmax_passes_check(kind, text, wrt, declare):
    # softmax(u + a ones) does not depend on a: the derivative is exactly zero, and the complex step
    # gives rounding error made inside softmax, which check() must count as rounding
    r = getattr(matcalc, kind)(text, wrt, declare=declare)
    assert str(r) in ("0", "0 ones")
    report = r.check()
    assert report.ok, str(report)
    assert report.finite_differences < 1e-6  # the central differences see the zero too


@pytest.mark.parametrize("text", ["softmax(-((C + I + I) u + a))", "softmax(5 X + a, 2)", "logsoftmax(5 x + a)"])
def test_rounding_inside_a_softmax_is_counted_at_every_seed(text):
    # a nearly one-hot softmax has a nearly zero Jacobian: rounding its input or its output at
    # random hid the rounding made inside it (exp, sum, division), 84x larger; its steps are
    # rounded at random now, and the exactly-zero derivative passes at every seed
    r = matcalc.jacobian(text, "a", declare={"a": "scalar"})
    assert [seed for seed in range(12) if not r.check(seed=seed).ok] == []


def test_a_product_a_join_makes_joins_the_factor_before_it():
    # u e^T times kron(I, ...) joined e^T with the Kronecker product into kron(ones^T, e^T), and u
    # stayed outside: u kron(ones^T, e^T), which the text reads as kron(ones^T, u e^T), another tree,
    # and printed without its sizes it did not read back at all
    r = matcalc.jacobian("u / sum(exp(x) + exp(diag(A)))", wrt="A")
    assert matches_up_to_sizes(matcalc.parse(str(r)), r.expr), str(r)
    assert str(r).startswith("-kron(ones[m]^T, u exp(diag(A))^T) diag(vec(I[m]))"), str(r)
    assert r.check().ok


def test_a_size_of_a_variable_that_simplified_away_is_not_named_as_another_variables():
    # tr(diag(softmax(x)) ...) is 1 and tr(I) the size of x, which the expression no longer holds;
    # printed size[n], it read back as the size of y, the first variable the text shows
    e = matcalc.parse("tr(diag(softmax(x)) / ||y||^2 + I)")
    assert str(e) == "||y||^-2 + size[m]"
    back = matcalc.parse(str(e))
    assert matches_up_to_sizes(back, e)
    count, = (n for n in E.nodes(back) if isinstance(n, E.Count))
    y, = (n for n in E.nodes(back) if isinstance(n, E.Symbol))
    assert count.n != y.dims[0]  # a size of its own, not y's


def test_powers_of_a_scaled_matrix_that_add_leave_no_scale_inside_an_elementwise_product():
    # (a U) .^ (1/2) .* (a U) .^ (-3/2) added to (a U) .^ -1 = a^-1 U .^ -1, a scaled factor inside
    # the product, where exp(x) .^ -1 .* exp(x) then never met to cancel: the Jacobian of
    # log((||A|| exp(x)) .^ (1/2)) wrt A held ((exp(x) .^ -1 / ||A||) .* exp(x)) vec(A)^T / (2 ||A||)
    e = matcalc.parse("(a exp(x)) .^ (1/2) .* (a exp(x)) .^ (-3/2)", declare={"a": "scalar"})
    assert str(e) == "exp(x) .^ -1 / a"
    r = matcalc.jacobian("log((||A|| exp(x)) .^ (1/2))", wrt="A")
    assert str(r) == "ones vec(A)^T / (2 ||A||^2)"
    A, x = np.arange(1.0, 7.0).reshape(2, 3), np.array([0.3, -1.2, 2.0, 0.5])
    # log(||A||^(1/2) exp(x / 2)) = log(||A||) / 2 + x / 2: each row is vec(A)^T / (2 ||A||^2)
    expected = np.tile(A.reshape(-1, order="F") / (2 * (A * A).sum()), (4, 1))
    np.testing.assert_allclose(r.evaluate({"A": A, "x": x}), expected, rtol=1e-12)
    assert r.check().ok


def test_a_derivative_through_a_saturated_sigmoid_passes_check():
    # at one of check()'s points sigmoid(32.1) rounds to 1 - 1.1e-14, so 1 - s in the gradient is
    # known only to 1% and the complex step (exact) differs from it by 0.8%: rounding, which the
    # estimate missed because a * (1 + eps u) most often rounds back to a; found by the long run
    r = matcalc.gradient("sigmoid(logsumexp(log(||S||) W ((u + ones + ones) .* (-u + 2)))) + v^T C v", "u",
                         declare={"S": "symmetric"})
    assert all(r.check(seed=seed).ok for seed in range(4))


def test_a_derivative_small_beside_its_function_passes_check():
    # f = logsumexp(-x - 5/2) + exp(... - ||sqrt(exp(S)) + I||): the derivative wrt B is 1e-8 beside
    # f = -1.2, known to central differences only to eps |f| / h; the rounding estimate came out
    # exactly 0 as one-ulp perturbations of a node and of its sum undid each other; found by the long run
    r = matcalc.gradient("logsumexp(--(-x - 2) - 0.5) + exp(logsigmoid(-sigmoid(3) + sigmoid(sum(B))) "
                         "- ||(sqrt(exp(S)) + I)^T||_F)", "B", declare={"S": "symmetric"})
    assert all(r.check(seed=seed).ok for seed in range(4))


@pytest.mark.parametrize("text, wrt, declare", [
    ("x^T A x", "x", {}),
    ("sigmoid(logsumexp(log(||S||) W ((u + ones + ones) .* (-u + 2)))) + v^T C v", "u", {"S": "symmetric"}),
    ("sum(softmax(W u + a))", "a", {"a": "scalar"}),  # exactly zero
])
def test_check_tells_a_derivative_a_little_off_from_the_right_one(text, wrt, declare):
    # the rounding allowance never swallows a wrong derivative: off by 1e-7 of its size (or, where it
    # is zero, by 1e-9 ones) it fails, through the complex step
    from matcalc.verify import check_gradient

    r = matcalc.gradient(text, wrt, declare=declare)
    assert check_gradient(r.function, r.variable, r.expr).ok
    if str(r) in ("0", "0 ones"):
        off = E.add(r.expr, E.mul(E.Const(Fraction(1, 10**9)), E.Ones(r.expr.shape)))
    else:
        off = E.mul(E.Const(1 + Fraction(1, 10**7)), r.expr)
    assert not check_gradient(r.function, r.variable, off).ok


def test_a_differential_through_the_diagonal_matrix_of_a_zero_is_zero():
    # d softmax(x + beta ones) = 0 along beta, and diag(0) stayed a diagonal matrix of zeros: the
    # reverse walk met a term without the differential and stopped with an internal error
    assert str(matcalc.parse("diag(0 x)")) == "0 ones ones^T" and str(matcalc.parse("diag(0 A)")) == "0 ones"
    r = matcalc.gradient("beta / ||diag(softmax(x + beta))||", "beta", declare={"beta": "scalar"})
    assert str(r) == "||diag(softmax(x + beta))||^-1"  # the norm does not depend on beta
    x, beta = np.array([0.2, -1.0, 0.7]), 0.3
    s = np.exp(x + beta) / np.exp(x + beta).sum()
    np.testing.assert_allclose(r.evaluate({"x": x, "beta": beta}), 1 / np.linalg.norm(s), rtol=1e-12)
    assert r.check().ok


@pytest.mark.parametrize("kind, text, wrt", [
    ("gradient", "erf(cos(softmax(diag(C)) + ones + ones)^T C cos(softmax(diag(C)) + ones + ones))", "C"),
    ("jacobian", "x / ||x + -log(exp(x))||", "x"),
])
def test_rounding_the_model_does_not_see_passes_check(kind, text, wrt):
    # erf and a product round many times where the estimate rounds their result once: the central
    # differences of the first came out 6x the estimate; the second divides by a norm of rounding
    # alone (x - log(exp(x))), 12x; both within the margin of 16 (found by the long property run)
    r = getattr(matcalc, kind)(text, wrt)
    assert all(r.check(seed=seed).ok for seed in range(6))
