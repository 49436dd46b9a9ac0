"""Kronecker products of factors of any shape: square totals, traces, diagonals and powers of
them, and gradients through factors that are not columns; each value checked against finite
differences (``Result.check``) and against a direct NumPy computation."""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from sizes import matches_up_to_sizes

import matcalc
import matcalc.expr as E
from matcalc.errors import ShapeError

RNG = np.random.default_rng(7)


def _checked(r):
    report = r.check()
    assert report.ok, f"{r}: {report}"
    return r


def _parses_back(r):
    back = matcalc.parse(str(r))
    assert matches_up_to_sizes(back, r.expr) or matches_up_to_sizes(r.expr, back), (str(r), str(back))


# ------------------------------------------------------------------ a Kronecker product is square when its totals are


@pytest.mark.parametrize("text, wrt", [
    ("tr(kron(y, x^T))", "x"),
    ("tr(kron(y, x^T))", "y"),
    ("sum(diag(kron(v^T, v)))", "v"),
    ("sum((kron(z, y^T)^T)^2)", "z"),
    ("sum((kron(z, y^T)^T)^2)", "y"),
])
def test_square_totals_with_factors_that_are_not_square(text, wrt):
    _parses_back(_checked(matcalc.gradient(text, wrt=wrt)))


@pytest.mark.parametrize("text, wrt, printed", [
    ("tr(kron(y, x^T))", "x", "y"),  # tr(kron(y, x^T)) = y^T x
    ("sum(diag(kron(v^T, v)))", "v", "2 v"),  # the diagonal of v v^T
    ("sum(kron(x^T, x))", "x", "2 sum(x) ones[n]"),  # sum(x x^T) = sum(x)^2; ones has the size of x
])
def test_vector_factors_read_as_written(text, wrt, printed):
    r = _checked(matcalc.gradient(text, wrt=wrt))
    assert str(r) == printed
    _parses_back(r)


def test_trace_of_kron_with_non_square_factors_is_not_the_product_of_traces():
    # tr(A kron B) = tr(A) tr(B) holds for square factors only; tr(C X) makes C n x m and X m x n,
    # and kron(C, X) is then square (n*m x m*n) with factors that are not: checked entry by entry
    r = _checked(matcalc.gradient("tr(C X) + tr(kron(C, X))", wrt="C"))
    assert "tr(X) I" not in str(r)
    C, X = RNG.standard_normal((3, 2)), RNG.standard_normal((2, 3))
    eps = 1e-6
    expected = np.zeros_like(C)
    for i in range(3):
        for j in range(2):
            E = np.zeros_like(C)
            E[i, j] = eps
            f = lambda c: np.trace(c @ X) + np.trace(np.kron(c, X))  # noqa: E731
            expected[i, j] = (f(C + E) - f(C - E)) / (2 * eps)
    np.testing.assert_allclose(r.evaluate({"C": C, "X": X}), expected, rtol=1e-6, atol=1e-8)


def test_trace_of_kron_of_square_factors_is_the_product_of_traces():
    r = _checked(matcalc.gradient("tr(kron(C, X))", wrt="C"))
    assert str(r) == "tr(X) I"


def test_trace_of_kron_of_a_column_by_a_matrix_still_refused():
    with pytest.raises(ShapeError, match="tr needs a square matrix"):
        matcalc.parse("tr(kron(I, y))")


# ------------------------------------------------------------------ gradients through any factor


@pytest.mark.parametrize("text, wrt", [
    ("sum(kron(A, B))", "A"),
    ("sum(kron(A, B))", "B"),
    ("sum(kron(x^T, x))", "x"),
    ("sum(kron(A, B) .* kron(A, B))", "A"),
    ("tr(kron(A, B) C)", "B"),
    ("sum(kron(x^T, Y))", "Y"),
    ("sum(kron(x^T, Y))", "x"),
    ("||kron(A, x^T) - Z||_F^2", "A"),
])
def test_gradient_through_a_factor_that_is_not_a_column(text, wrt):
    _checked(matcalc.gradient(text, wrt=wrt))


def test_gradient_through_kron_against_blocks():
    # <C, A kron B>: the gradient wrt A has entries <C_ij, B>, wrt B it is sum_ij A_ij C_ij
    ra = matcalc.gradient("tr(C^T kron(A, B))", wrt="A")
    rb = matcalc.gradient("tr(C^T kron(A, B))", wrt="B")
    A, B = RNG.standard_normal((2, 3)), RNG.standard_normal((4, 2))
    C = RNG.standard_normal((8, 6))
    blocks = [[C[4 * i:4 * i + 4, 2 * j:2 * j + 2] for j in range(3)] for i in range(2)]
    ga = np.array([[np.sum(blocks[i][j] * B) for j in range(3)] for i in range(2)])
    gb = sum(A[i, j] * blocks[i][j] for i in range(2) for j in range(3))
    values = {"A": A, "B": B, "C": C}
    np.testing.assert_allclose(ra.evaluate(values), ga, rtol=1e-12)
    np.testing.assert_allclose(rb.evaluate(values), gb, rtol=1e-12)


# ------------------------------------------------------------------ property: random Kronecker products

VECTOR_FACTORS = ["x", "x^T", "y", "y^T", "(x + y)", "exp(y)^T"]
MATRIX_FACTORS = ["A", "B^T", "A B", "(A + ones ones^T)"]
OUTER = ["sum({k})", "sum({k} .* {k})", "tr({k})", "sum(diag({k}))", "sum(exp({k}))", "||{k}||_F^2", "sum({k}^T {k})"]
CANCELLED = ["", " + sum(z - z)", " + tr({k} - {k})", " + (z^T z - z^T z) sum({k})", " - sum(C - C)"]


@st.composite
def kron_cases(draw):
    pool = draw(st.sampled_from(["vector", "matrix", "mixed"]))
    left_pool = VECTOR_FACTORS if pool == "vector" else MATRIX_FACTORS if pool == "matrix" else VECTOR_FACTORS
    right_pool = VECTOR_FACTORS if pool == "vector" else MATRIX_FACTORS
    k = f"kron({draw(st.sampled_from(left_pool))}, {draw(st.sampled_from(right_pool))})"
    if draw(st.booleans()):
        k = f"{k}^T"
    text = draw(st.sampled_from(OUTER)).format(k=k) + draw(st.sampled_from(CANCELLED)).format(k=k)
    names = sorted(set(re.findall(r"\b[xyzABC]\b", text)))
    return text, draw(st.sampled_from(names)), pool


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(case=kron_cases())
def test_gradients_of_random_kronecker_products(case):
    text, wrt, pool = case
    try:
        r = matcalc.gradient(text, wrt=wrt)
    except ShapeError:
        assume(False)  # tr or diag of a product that cannot be square (kron(x, A) of a column by a matrix)
    report = r.check()
    assert report.ok, f"{text} wrt {wrt}: {r}: {report}"
    if all(s.name != wrt for s in r.function.free):
        assert any("cancels" in note for note in r.notes)
    vectors_only = all(E.is_one(f.shape[0]) or E.is_one(f.shape[1])
                       for k in E.nodes(r.function) if isinstance(k, E.Kron) for f in (k.left, k.right))
    if vectors_only:
        # products of vectors only: the printed result parses back (with a matrix factor it may hold
        # a commutation matrix or I's that only products of sizes would tie, which parse refuses)
        back = matcalc.parse(str(r))
        assert matches_up_to_sizes(back, r.expr) or matches_up_to_sizes(r.expr, back), (text, str(r), str(back))
