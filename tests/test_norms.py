"""The 1-norm: ||x||_1 of a vector and the entry-wise ||X||_1 of a matrix (as matrixcalculus.org
reads it), with sign(...) in the gradient and a note on the kink; lasso and elastic net against
their gradients written out with NumPy and against finite differences."""

import numpy as np
import pytest

import matcalc
from matcalc import ParseError
from matcalc.cli import main

RNG = np.random.default_rng(5)


def test_the_one_norm_of_a_vector_is_the_sum_of_absolute_values():
    e = matcalc.parse("||x||_1")
    assert e == matcalc.parse("sum(abs(x))")
    r = matcalc.gradient("||x||_1", wrt="x")
    assert str(r) == "sign(x)"
    x = RNG.standard_normal(5)
    np.testing.assert_array_equal(r.evaluate({"x": x}), np.sign(x))
    assert "abs is not differentiable at 0: the result holds away from there" in r.notes


def test_the_one_norm_of_a_matrix_is_entry_wise_and_says_so():
    r = matcalc.gradient("||A X - B||_1", wrt="X")
    assert str(r) == "A^T sign(A X - B)"
    assert ("read ||A X - B||_1 as the entry-wise 1-norm sum(abs(A X - B)), not the induced 1-norm "
            "(the largest column sum)") in r.notes
    A, X, B = RNG.standard_normal((4, 3)), RNG.standard_normal((3, 2)), RNG.standard_normal((4, 2))
    np.testing.assert_allclose(r.evaluate({"A": A, "X": X, "B": B}), A.T @ np.sign(A @ X - B))
    assert r.check().ok


def lasso_values():
    return {"X": RNG.standard_normal((6, 4)), "w": RNG.standard_normal(4), "y": RNG.standard_normal(6), "lambda": 0.3}


def test_lasso():
    r = matcalc.gradient("||X w - y||^2 + lambda ||w||_1", wrt="w")
    assert str(r) == "2 X^T (X w - y) + lambda sign(w)"  # the subgradient of the lasso objective
    v = lasso_values()
    expected = 2 * v["X"].T @ (v["X"] @ v["w"] - v["y"]) + v["lambda"] * np.sign(v["w"])
    np.testing.assert_allclose(r.evaluate(v), expected, rtol=1e-12)
    assert r.check().ok


def test_lasso_as_a_mean_over_2N():
    r = matcalc.gradient("||X w - y||^2 / 2N + lambda ||w||_1", wrt="w")
    assert str(r) == "X^T (X w - y) / N + lambda sign(w)"
    v = lasso_values() | {"N": 6.0}
    expected = v["X"].T @ (v["X"] @ v["w"] - v["y"]) / 6 + v["lambda"] * np.sign(v["w"])
    np.testing.assert_allclose(r.evaluate(v), expected, rtol=1e-12)


def test_elastic_net():
    text = "1/2 ||X w - y||^2 + lambda1 ||w||_1 + lambda2/2 ||w||^2"
    r = matcalc.gradient(text, wrt="w")
    assert str(r) == "X^T (X w - y) + lambda1 sign(w) + lambda2 w"
    v = lasso_values() | {"lambda1": 0.2, "lambda2": 0.7}
    del v["lambda"]
    expected = v["X"].T @ (v["X"] @ v["w"] - v["y"]) + 0.2 * np.sign(v["w"]) + 0.7 * v["w"]
    np.testing.assert_allclose(r.evaluate(v), expected, rtol=1e-12)
    assert r.check().ok


def test_the_hessian_of_the_lasso_notes_the_sign():
    h = matcalc.hessian("||X w - y||^2 + lambda ||w||_1", wrt="w")
    v = lasso_values()
    np.testing.assert_allclose(h.evaluate(v), 2 * v["X"].T @ v["X"], rtol=1e-12)
    assert any("sign(...)" in n for n in h.notes)


@pytest.mark.parametrize("text, message", [
    ("||x||_3", "unsupported norm '||.||_3' at column 6: use ||x||, ||x||_1, ||x||_2 or ||X||_F"),
    ("||x||_inf", "unsupported norm '||.||_inf' at column 6: use ||x||, ||x||_1, ||x||_2 or ||X||_F"),
])
def test_other_norms_are_refused_at_their_position(text, message):
    with pytest.raises(ParseError) as info:
        matcalc.parse(text)
    assert str(info.value).splitlines()[0] == message


def test_lasso_on_the_command_line(capsys):
    assert main(["grad", "||X w - y||^2 + lambda ||w||_1", "--wrt", "w", "--let", "lambda=scalar"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "grad_w f = 2 X^T (X w - y) + lambda sign(w)",
        "note: abs is not differentiable at 0: the result holds away from there"]
    assert main(["grad", "||x||_3", "--wrt", "x"]) == 2
