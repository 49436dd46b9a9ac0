"""Structured Hessians: Kronecker operators agree with the dense matrices."""

import numpy as np
import pytest
from conftest import point_for

import matcalc
from matcalc.operators import Dense, Kronecker


@pytest.mark.parametrize("text, wrt", [
    ("tr(X^T A X)", "X"),
    ("logdet(X)", "X"),
    ("||T - U V^T||_F^2", "U"),
    ("tr(A X B X^T)", "X"),
    ("x^T A x", "x"),
])
def test_structured_equals_dense(text, wrt):
    h = matcalc.hessian(text, wrt=wrt)
    values, _ = point_for(h.function, seed=2)
    op = h.evaluate(values, structured=True)
    dense = h.evaluate(values)
    np.testing.assert_allclose(op.dense(), dense, rtol=1e-12, atol=1e-12)
    v = np.random.default_rng(0).standard_normal(dense.shape[1])
    np.testing.assert_allclose(op @ v, dense @ v, rtol=1e-10, atol=1e-12)


def test_kronecker_operator_never_builds_the_product():
    h = matcalc.hessian("||T - U V^T||_F^2", wrt="U")
    rng = np.random.default_rng(1)
    n, k = 200, 5
    values = {"T": rng.standard_normal((n, n)), "U": rng.standard_normal((n, k)), "V": rng.standard_normal((n, k))}
    op = h.evaluate(values, structured=True)
    assert op.shape == (n * k, n * k)
    kron = op.op if hasattr(op, "op") else op
    assert isinstance(kron, Kronecker) and kron.b.shape == (n, n) and kron.a.shape == (k, k)
    v = rng.standard_normal(n * k)
    expected = 2 * (v.reshape(n, k, order="F") @ (values["V"].T @ values["V"])).reshape(-1, order="F")
    np.testing.assert_allclose(op @ v, expected)


def test_unstructured_results_stay_dense():
    h = matcalc.hessian("||x||^3", wrt="x")
    assert isinstance(h.evaluate({"x": np.ones(3)}, structured=True), Dense)
