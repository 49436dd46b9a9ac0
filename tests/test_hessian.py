"""Hessians from the second differential, d^2 f = vec(dX)^T H vec(dX): the printed form, the
value against NumPy formulas written out here (vec stacks columns), symmetry, the numeric
check and, for a few small cases, the exact sympy check.

Every reference formula is itself compared with second differences of a NumPy version of f,
so a wrong reference cannot hide a wrong result.
"""

from __future__ import annotations

import numpy as np
import pytest
from reference import (
    commutation,
    derive_each,
    det,
    inv,
    invertible,
    logsumexp,
    result,
    sigmoid,
    softmax,
    softplus,
    spd,
    unvec,
    vec,
)

import matcalc


def basis(shape):
    """The matrices E_k with vec(E_k) = e_k."""
    size = int(np.prod(shape))
    return [unvec(e, shape) for e in np.eye(size)]


def from_bilinear(b, shape) -> np.ndarray:
    """H with vec(P)^T H vec(Q) = (b(P, Q) + b(Q, P)) / 2, from a bilinear form with d^2 f = b(dX, dX)."""
    es = basis(shape)
    h = np.array([[b(p, q) for q in es] for p in es])
    return (h + h.T) / 2


def fd_hessian(f, values: dict, name: str, h: float = 1e-4) -> np.ndarray:
    """Second central differences of the scalar f along pairs of entries of vec(values[name])."""
    x = np.asarray(values[name], dtype=float)
    steps = [h * e for e in basis(x.shape)]

    def at(d):
        return float(f({**values, name: x + d}))

    n = len(steps)
    out = np.empty((n, n))
    for k in range(n):
        for j in range(k, n):
            a, b = steps[k], steps[j]
            out[k, j] = out[j, k] = (at(a + b) - at(a - b) - at(b - a) + at(-a - b)) / (4 * h * h)
    return out


# ---------------------------------------------------------------------------------------
# References


def _rayleigh(v):
    x, a = v["x"], v["A"]
    s, q, r = a + a.T, x @ x, x @ a @ x
    sx = s @ x
    return (s / q - 2 * np.outer(sx, x) / q**2 - 2 * np.outer(x, sx) / q**2
            - 2 * r * np.eye(len(x)) / q**2 + 8 * r * np.outer(x, x) / q**3)


def _product_of_quadratics(v):
    x, a, b = v["x"], v["A"], v["B"]
    sa, sb = a + a.T, b + b.T
    return (np.outer(sa @ x, sb @ x) + np.outer(sb @ x, sa @ x) + (x @ b @ x) * sa + (x @ a @ x) * sb)


def _logdet_closed_form(x):
    """From d^2 logdet X = -tr(X^-1 dX X^-1 dX) = -vec(dX^T)^T vec(X^-1 dX X^-1)
    = -vec(dX)^T K (X^-T kron X^-1) vec(dX)."""
    xi = inv(x)
    n = x.shape[0]
    return -commutation(n, n) @ np.kron(xi.T, xi)


def _det_hessian(v):
    """d^2 det X = det X (tr(X^-1 dX)^2 - tr(X^-1 dX X^-1 dX))."""
    x = v["X"]
    g = vec(inv(x).T)
    return det(x) * (np.outer(g, g) + _logdet_closed_form(x))


def _x_inv_a_x_wrt_a(v):
    """f = x^T A^-1 x: d^2 f = 2 x^T A^-1 dA A^-1 dA A^-1 x."""
    x, ai = v["x"], inv(v["A"])
    return from_bilinear(lambda p, q: 2 * x @ ai @ p @ ai @ q @ ai @ x, v["A"].shape)


def _tr_inv(v):
    """f = tr(X^-1): d^2 f = 2 tr(X^-1 dX X^-1 dX X^-1)."""
    xi = inv(v["X"])
    return from_bilinear(lambda p, q: 2 * np.trace(xi @ p @ xi @ q @ xi), v["X"].shape)


def _logdet_gram(v):
    """f = logdet(X^T X), G = X^T X: df = 2 tr(G^-1 X^T dX),
    d^2 f = 2 tr(G^-1 dX^T dX) - 2 tr(G^-1 (dX^T X + X^T dX) G^-1 X^T dX)."""
    x = v["X"]
    gi = inv(x.T @ x)
    return from_bilinear(lambda p, q: 2 * np.trace(gi @ p.T @ q) - 2 * np.trace(gi @ (p.T @ x + x.T @ p) @ gi @ x.T @ q),
                         x.shape)


def _logistic_values(r):
    return {"X": r.standard_normal((6, 3)), "w": r.standard_normal(3), "y": r.standard_normal(6)}


def _logistic_f(v):
    return np.sum(np.log(1 + np.exp(-v["y"] * (v["X"] @ v["w"]))))


def _logistic_h(v):
    s = sigmoid(-v["y"] * (v["X"] @ v["w"]))
    return v["X"].T @ np.diag(v["y"] ** 2 * s * (1 - s)) @ v["X"]


# (id, expression, wrt, declare, accepted forms or None, values(rng), f(values), reference(values))
CASES = [
    ("cube of the norm", "||x||^3", "x", None, {"3 x x^T / ||x|| + 3 ||x|| I"},
     lambda r: {"x": r.standard_normal(4)},
     lambda v: np.linalg.norm(v["x"]) ** 3,
     lambda v: 3 * np.outer(v["x"], v["x"]) / np.linalg.norm(v["x"]) + 3 * np.linalg.norm(v["x"]) * np.eye(4)),
    ("quadratic form", "x^T A x", "x", None, {"A + A^T", "A^T + A"},
     lambda r: {"x": r.standard_normal(4), "A": r.standard_normal((4, 4))},
     lambda v: v["x"] @ v["A"] @ v["x"],
     lambda v: v["A"] + v["A"].T),
    ("symmetric quadratic form", "x^T A x", "x", {"A": "symmetric"}, {"2 A"},
     lambda r: {"x": r.standard_normal(4), "A": spd(r, 4)},
     lambda v: v["x"] @ v["A"] @ v["x"],
     lambda v: 2 * v["A"]),
    ("logistic loss", "sum(log(1 + exp(-y .* (X w))))", "w", None, None,
     _logistic_values, _logistic_f, _logistic_h),
    ("logsumexp", "logsumexp(x)", "x", None, {"diag(softmax(x)) - softmax(x) softmax(x)^T"},
     lambda r: {"x": r.standard_normal(5)},
     lambda v: logsumexp(v["x"]),
     lambda v: np.diag(softmax(v["x"])) - np.outer(softmax(v["x"]), softmax(v["x"]))),
    ("tr(X^T A X)", "tr(X^T A X)", "X", None, {"kron(I, A + A^T)", "kron(I, A^T + A)"},
     lambda r: {"X": r.standard_normal((3, 2)), "A": r.standard_normal((3, 3))},
     lambda v: np.trace(v["X"].T @ v["A"] @ v["X"]),
     lambda v: np.kron(np.eye(2), v["A"] + v["A"].T)),
    ("matrix factorisation", "||T - U V^T||_F^2", "U", None, {"2 kron(V^T V, I)"},
     lambda r: {"T": r.standard_normal((4, 3)), "U": r.standard_normal((4, 2)), "V": r.standard_normal((3, 2))},
     lambda v: np.sum((v["T"] - v["U"] @ v["V"].T) ** 2),
     lambda v: 2 * np.kron(v["V"].T @ v["V"], np.eye(4))),
    ("logdet", "logdet(X)", "X", None, None,
     lambda r: {"X": invertible(r, 3)},
     lambda v: np.log(det(v["X"])),
     lambda v: _logdet_closed_form(v["X"])),
    ("Rayleigh quotient", "(x^T A x)/(x^T x)", "x", None, None,
     lambda r: {"x": r.standard_normal(4), "A": r.standard_normal((4, 4))},
     lambda v: (v["x"] @ v["A"] @ v["x"]) / (v["x"] @ v["x"]),
     _rayleigh),
    ("product of quadratic forms", "(x^T A x)(x^T B x)", "x", None, None,
     lambda r: {"x": r.standard_normal(3), "A": r.standard_normal((3, 3)), "B": r.standard_normal((3, 3))},
     lambda v: (v["x"] @ v["A"] @ v["x"]) * (v["x"] @ v["B"] @ v["x"]),
     _product_of_quadratics),
    # Matrix Cookbook and machine-learning losses
    ("least squares", "||A x - b||^2", "x", None, {"2 A^T A"},
     lambda r: {"A": r.standard_normal((5, 3)), "x": r.standard_normal(3), "b": r.standard_normal(5)},
     lambda v: np.sum((v["A"] @ v["x"] - v["b"]) ** 2),
     lambda v: 2 * v["A"].T @ v["A"]),
    ("half least squares", "0.5 ||X w - y||^2", "w", None, {"X^T X"},
     lambda r: {"X": r.standard_normal((5, 3)), "w": r.standard_normal(3), "y": r.standard_normal(5)},
     lambda v: 0.5 * np.sum((v["X"] @ v["w"] - v["y"]) ** 2),
     lambda v: v["X"].T @ v["X"]),
    ("ridge", "||A x - b||^2 + lambda ||x||^2", "x", {"lambda": "scalar"}, {"2 A^T A + 2 lambda I"},
     lambda r: {"A": r.standard_normal((5, 3)), "x": r.standard_normal(3), "b": r.standard_normal(5), "lambda": 0.7},
     lambda v: np.sum((v["A"] @ v["x"] - v["b"]) ** 2) + v["lambda"] * v["x"] @ v["x"],
     lambda v: 2 * v["A"].T @ v["A"] + 2 * v["lambda"] * np.eye(3)),
    ("product of linear forms", "(a^T x)(x^T b)", "x", None, {"a b^T + b a^T", "b a^T + a b^T"},
     lambda r: {"a": r.standard_normal(4), "b": r.standard_normal(4), "x": r.standard_normal(4)},
     lambda v: (v["a"] @ v["x"]) * (v["x"] @ v["b"]),
     lambda v: np.outer(v["a"], v["b"]) + np.outer(v["b"], v["a"])),
    ("exp of a linear form", "exp(a^T x)", "x", None, {"exp(a^T x) a a^T"},
     lambda r: {"a": r.standard_normal(4), "x": r.standard_normal(4)},
     lambda v: np.exp(v["a"] @ v["x"]),
     lambda v: np.exp(v["a"] @ v["x"]) * np.outer(v["a"], v["a"])),
    ("cube of a linear form", "(a^T x)^3", "x", None, {"6 (a^T x) a a^T"},
     lambda r: {"a": r.standard_normal(4), "x": r.standard_normal(4)},
     lambda v: (v["a"] @ v["x"]) ** 3,
     lambda v: 6 * (v["a"] @ v["x"]) * np.outer(v["a"], v["a"])),
    ("log of a quadratic form", "log(x^T A x)", "x", None, None,
     lambda r: {"x": r.standard_normal(4), "A": spd(r, 4)},
     lambda v: np.log(v["x"] @ v["A"] @ v["x"]),
     lambda v: (lambda s, r: s / r - np.outer(s @ v["x"], s @ v["x"]) / r**2)(v["A"] + v["A"].T, v["x"] @ v["A"] @ v["x"])),
    ("fourth power of the norm", "||x||^4", "x", None, {"8 x x^T + 4 ||x||^2 I", "4 ||x||^2 I + 8 x x^T"},
     lambda r: {"x": r.standard_normal(4)},
     lambda v: (v["x"] @ v["x"]) ** 2,
     lambda v: 8 * np.outer(v["x"], v["x"]) + 4 * (v["x"] @ v["x"]) * np.eye(4)),
    ("norm", "||x||", "x", None, None,
     lambda r: {"x": r.standard_normal(4)},
     lambda v: np.linalg.norm(v["x"]),
     lambda v: (np.eye(4) - np.outer(v["x"], v["x"]) / (v["x"] @ v["x"])) / np.linalg.norm(v["x"])),
    ("sum of exponentials", "sum(exp(A x))", "x", None, {"A^T diag(exp(A x)) A"},
     lambda r: {"A": r.standard_normal((5, 3)), "x": r.standard_normal(3)},
     lambda v: np.sum(np.exp(v["A"] @ v["x"])),
     lambda v: v["A"].T @ np.diag(np.exp(v["A"] @ v["x"])) @ v["A"]),
    ("sum of softplus", "sum(softplus(A x))", "x", None, {"A^T diag(sigmoid(A x) .* (1 - sigmoid(A x))) A"},
     lambda r: {"A": r.standard_normal((5, 3)), "x": r.standard_normal(3)},
     lambda v: np.sum(softplus(v["A"] @ v["x"])),
     lambda v: (lambda s: v["A"].T @ np.diag(s * (1 - s)) @ v["A"])(sigmoid(v["A"] @ v["x"]))),
    ("sum of logs", "sum(log(x))", "x", None, {"-diag(x .^ -2)"},
     lambda r: {"x": r.uniform(0.5, 2.0, 4)},
     lambda v: np.sum(np.log(v["x"])),
     lambda v: -np.diag(v["x"] ** -2.0)),
    ("sum of sigmoids", "sum(sigmoid(x))", "x", None, None,
     lambda r: {"x": r.standard_normal(4)},
     lambda v: np.sum(sigmoid(v["x"])),
     lambda v: (lambda s: np.diag(s * (1 - s) * (1 - 2 * s)))(sigmoid(v["x"]))),
    ("softmax cross-entropy", "-y^T log(softmax(z))", "z", None, None,
     lambda r: {"y": r.uniform(0.0, 1.0, 4), "z": r.standard_normal(4)},
     lambda v: -v["y"] @ np.log(softmax(v["z"])),
     lambda v: (lambda s: v["y"].sum() * (np.diag(s) - np.outer(s, s)))(softmax(v["z"]))),
    ("logsumexp layer wrt W", "logsumexp(W x + b)", "W", None, None,
     lambda r: {"W": r.standard_normal((3, 2)), "x": r.standard_normal(2), "b": r.standard_normal(3)},
     lambda v: logsumexp(v["W"] @ v["x"] + v["b"]),
     lambda v: (lambda s: np.kron(np.outer(v["x"], v["x"]), np.diag(s) - np.outer(s, s)))(
         softmax(v["W"] @ v["x"] + v["b"]))),
    ("tr(A X B X^T)", "tr(A X B X^T)", "X", None, None,
     lambda r: {"A": r.standard_normal((3, 3)), "X": r.standard_normal((3, 2)), "B": r.standard_normal((2, 2))},
     lambda v: np.trace(v["A"] @ v["X"] @ v["B"] @ v["X"].T),
     lambda v: np.kron(v["B"].T, v["A"]) + np.kron(v["B"], v["A"].T)),
    ("det", "det(X)", "X", None, None,
     lambda r: {"X": invertible(r, 3)},
     lambda v: det(v["X"]),
     _det_hessian),
    ("least squares in a matrix", "||A X - B||_F^2", "X", None, {"2 kron(I, A^T A)"},
     lambda r: {"A": r.standard_normal((4, 3)), "X": r.standard_normal((3, 2)), "B": r.standard_normal((4, 2))},
     lambda v: np.sum((v["A"] @ v["X"] - v["B"]) ** 2),
     lambda v: 2 * np.kron(np.eye(2), v["A"].T @ v["A"])),
    ("Frobenius norm squared", "||X||_F^2", "X", None, {"2 I"},
     lambda r: {"X": r.standard_normal((3, 2))},
     lambda v: np.sum(v["X"] ** 2),
     lambda v: 2 * np.eye(6)),
    ("tr(X^2)", "tr(X^2)", "X", None, {"2 K[n, n]"},
     lambda r: {"X": r.standard_normal((3, 3))},
     lambda v: np.trace(v["X"] @ v["X"]),
     lambda v: 2 * commutation(3, 3)),
    ("x^T inv(A) x wrt A", "x^T inv(A) x", "A", None, None,
     lambda r: {"x": r.standard_normal(3), "A": invertible(r, 3)},
     lambda v: v["x"] @ inv(v["A"]) @ v["x"],
     _x_inv_a_x_wrt_a),
    ("tr(inv(X))", "tr(inv(X))", "X", None, None,
     lambda r: {"X": invertible(r, 3)},
     lambda v: np.trace(inv(v["X"])),
     _tr_inv),
    ("logdet of a Gram matrix", "logdet(X^T X)", "X", None, None,
     lambda r: {"X": r.standard_normal((4, 2))},
     lambda v: np.log(det(v["X"].T @ v["X"])),
     _logdet_gram),
    ("Gaussian quadratic term wrt mu", "(x - mu)^T inv(S) (x - mu)", "mu", {"S": "symmetric", "mu": "vector"},
     {"2 S^-1", "2 inv(S)"},
     lambda r: {"x": r.standard_normal(3), "mu": r.standard_normal(3), "S": spd(r, 3)},
     lambda v: (v["x"] - v["mu"]) @ inv(v["S"]) @ (v["x"] - v["mu"]),
     lambda v: 2 * inv(v["S"])),
    ("norm of a Kronecker product", "||kron(a, x)||^2", "x", None, None,
     lambda r: {"a": r.standard_normal(2), "x": r.standard_normal(3)},
     lambda v: np.sum(np.kron(v["a"], v["x"]) ** 2),
     lambda v: 2 * (v["a"] @ v["a"]) * np.eye(3)),
]

IDS = [c[0] for c in CASES]


def _case(case_id):
    return next(c for c in CASES if c[0] == case_id)


@pytest.fixture(scope="module")
def results():
    return derive_each(CASES, matcalc.hessian)


_result = result


def _values(case_id):
    return _case(case_id)[5](np.random.default_rng(sum(map(ord, case_id))))


@pytest.mark.parametrize("case_id", [c[0] for c in CASES if c[4] is not None])
def test_form(results, case_id):
    _, text, wrt, declare, forms, *_ = _case(case_id)
    r = _result(results, case_id)
    assert str(r) in forms, f"hess_{wrt} {text}: got {r!s}, expected one of {sorted(forms)}"
    assert r.kind == "hessian"


@pytest.mark.parametrize("case_id", IDS)
def test_value_against_numpy(results, case_id):
    _, text, wrt, declare, _, _, f, reference = _case(case_id)
    values = _values(case_id)
    expected = reference(values)
    n = np.size(values[wrt])
    assert expected.shape == (n, n)
    # the hand-written reference is right: it matches second differences of f
    fd = fd_hessian(f, values, wrt)
    np.testing.assert_allclose(expected, fd, rtol=1e-5, atol=1e-5 * max(1.0, np.abs(expected).max()))
    got = _result(results, case_id).evaluate(values)
    assert got.shape == (n, n)
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-11 * max(1.0, np.abs(expected).max()))


@pytest.mark.parametrize("case_id", IDS)
def test_symmetric_at_a_random_point(results, case_id):
    got = _result(results, case_id).evaluate(_values(case_id))
    np.testing.assert_allclose(got, got.T, rtol=1e-10, atol=1e-12 * max(1.0, np.abs(got).max()))


@pytest.mark.parametrize("case_id", IDS)
def test_numeric_check(results, case_id):
    r = _result(results, case_id)
    report = r.check()
    assert report, f"hess_{r.variable.name} of {r.function}: {r}; check: {report}"


# ---------------------------------------------------------------------------------------
# Worked cases in more detail


def test_logistic_loss_with_labels_plus_minus_one():
    """With y in {-1, 1}, y^2 = 1 and the Hessian is X^T diag(s (1 - s)) X."""
    rng = np.random.default_rng(5)
    x, w = rng.standard_normal((8, 3)), rng.standard_normal(3)
    y = rng.choice([-1.0, 1.0], size=8)
    s = sigmoid(-y * (x @ w))
    h = matcalc.hessian("sum(log(1 + exp(-y .* (X w))))", wrt="w")
    got = h.evaluate({"X": x, "w": w, "y": y})
    np.testing.assert_allclose(got, x.T @ np.diag(s * (1 - s)) @ x, rtol=1e-10)
    # and s (1 - s) does not depend on the sign of the margin
    p = sigmoid(x @ w)
    np.testing.assert_allclose(got, x.T @ np.diag(p * (1 - p)) @ x, rtol=1e-10)
    # positive semidefinite, as a convex loss must be
    assert np.linalg.eigvalsh(got).min() > -1e-12


def test_logdet_hessian_two_ways():
    """d^2 logdet X = -tr(X^-1 dX X^-1 dX): the engine's Hessian against differences of the
    gradient X^-T, against the closed form -K (X^-T kron X^-1), and as a quadratic form."""
    rng = np.random.default_rng(17)
    x = invertible(rng, 3)
    h = matcalc.hessian("logdet(X)", wrt="X")
    got = h.evaluate({"X": x})
    # differences of the gradient X^-T, column by column in vec order
    step = 1e-6
    columns = [(vec(inv(x + step * e).T) - vec(inv(x - step * e).T)) / (2 * step) for e in basis(x.shape)]
    np.testing.assert_allclose(got, np.column_stack(columns), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(got, _logdet_closed_form(x), rtol=1e-10, atol=1e-12)
    for _ in range(3):
        v = rng.standard_normal((3, 3))
        xi = inv(x)
        assert np.isclose(vec(v) @ got @ vec(v), -np.trace(xi @ v @ xi @ v), rtol=1e-10)
    assert h.check()


def test_matrix_factorisation_hessian_in_vec_order():
    """||T - U V^T||_F^2: d^2 f = 2 ||dU V^T||^2 = 2 vec(dU)^T (V^T V kron I) vec(dU)."""
    rng = np.random.default_rng(23)
    t, u, v = rng.standard_normal((5, 4)), rng.standard_normal((5, 2)), rng.standard_normal((4, 2))
    got = matcalc.hessian("||T - U V^T||_F^2", wrt="U").evaluate({"T": t, "U": u, "V": v})
    assert got.shape == (10, 10)
    np.testing.assert_allclose(got, 2 * np.kron(v.T @ v, np.eye(5)), rtol=1e-12)
    du = rng.standard_normal((5, 2))
    assert np.isclose(vec(du) @ got @ vec(du), 2 * np.sum((du @ v.T) ** 2))
    # row-major order would give kron(I, V^T V) instead: not the same matrix
    assert not np.allclose(got, 2 * np.kron(np.eye(5), v.T @ v))


def test_structured_evaluation_matches_the_dense_one():
    rng = np.random.default_rng(29)
    values = {"X": rng.standard_normal((3, 4)), "A": rng.standard_normal((3, 3))}
    h = matcalc.hessian("tr(X^T A X)", wrt="X")
    op = h.evaluate(values, structured=True)
    v = rng.standard_normal(12)
    dense = h.evaluate(values)
    np.testing.assert_allclose(op @ v, dense @ v, rtol=1e-12)
    np.testing.assert_allclose(op.dense(), dense, rtol=1e-12)


@pytest.mark.parametrize(
    "text, wrt",
    [("||x||^3", "x"), ("x^T A x", "x"), ("logsumexp(x)", "x"), ("(x^T A x)(x^T B x)", "x")],
)
def test_exact_check_with_sympy(text, wrt):
    assert matcalc.hessian(text, wrt=wrt).exact_check()


def test_exact_check_rejects_a_wrong_hessian():
    """A Hessian with a wrong term is caught by the exact check."""
    from matcalc import expr as E
    from matcalc.exact import exact_check

    h = matcalc.hessian("x^T A x", wrt="x")
    wrong = E.scale(E.const(2), h.expr.terms[0]) if isinstance(h.expr, E.Add) else E.scale(E.const(2), h.expr)
    assert not exact_check(h.of, h.variable, wrong, "hessian")


def test_cli_prints_the_hessian(capsys):
    from matcalc.cli import main

    assert main(["hess", "||x||^3", "--wrt", "x"]) == 0
    assert capsys.readouterr().out.splitlines() == ["hess_x f = 3 x x^T / ||x|| + 3 ||x|| I"]


def test_cli_check_of_a_matrix_hessian(capsys):
    from matcalc.cli import main

    assert main(["hess", "||T - U V^T||_F^2", "--wrt", "U", "--check"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "hess_U f = 2 kron(V^T V, I)"
    assert lines[1].startswith("check: ok")


# ---------------------------------------------------------------------------------------
# Bad input and kinks


def test_hessian_of_a_non_scalar():
    with pytest.raises(matcalc.DerivativeError, match="scalar"):
        matcalc.hessian("A x", wrt="x")


def test_hessian_wrt_a_missing_variable():
    with pytest.raises(matcalc.DerivativeError, match="does not occur"):
        matcalc.hessian("x^T A x", wrt="y")


def test_hessian_wrt_a_symmetric_matrix_is_refused():
    with pytest.raises(matcalc.DerivativeError):
        matcalc.hessian("x^T S x", wrt="S", declare={"S": "symmetric"})


def test_relu_hessian_carries_a_note():
    h = matcalc.hessian("sum(relu(A x))", wrt="x")
    assert h.notes
    assert any("step" in note for note in h.notes)
    rng = np.random.default_rng(31)
    got = h.evaluate({"A": rng.standard_normal((4, 3)), "x": rng.standard_normal(3)})
    np.testing.assert_array_equal(got, np.zeros((3, 3)))
    assert h.check()


def test_smooth_hessian_has_no_note():
    assert matcalc.hessian("||x||^3", wrt="x").notes == []


def test_relu_hessian_note_on_the_command_line(capsys):
    from matcalc.cli import main

    assert main(["hess", "sum(relu(A x))", "--wrt", "x"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("hess_x f = ")
    assert any(line.startswith("note:") and "step" in line for line in out)


def test_cli_hessian_of_a_non_scalar_fails_with_one_line(capsys):
    from matcalc.cli import main

    assert main(["hess", "A x", "--wrt", "x"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and len(err.strip().splitlines()) == 1


def test_softmax_regression_hessian_in_kronecker_form():
    """hess_W of -y^T log(softmax(W x + b)) = sum(y) (x x^T) kron (diag(s) - s s^T), s = softmax(W x + b)
    (W is k x n, vec stacks columns): the mixed product, a product into a Kronecker product with a
    row, and Kronecker products collected by their shared factor."""
    h = matcalc.hessian("-y^T log(softmax(W x + b))", wrt="W")
    assert str(h) == "sum(y) kron(x x^T, diag(softmax(W x + b)) - softmax(W x + b) softmax(W x + b)^T)"
    rng = np.random.default_rng(2)
    W, x, b, y = rng.standard_normal((4, 3)), rng.standard_normal((3, 1)), rng.standard_normal((4, 1)), rng.random((4, 1))
    s = softmax(W @ x + b)
    expected = y.sum() * np.kron(x @ x.T, np.diag(s[:, 0]) - s @ s.T)
    np.testing.assert_allclose(h.evaluate({"W": W, "x": x, "b": b, "y": y}), expected, rtol=1e-10)
    assert h.check().ok


def test_kronecker_products_sharing_a_factor_are_collected():
    """a kron(A, B) + b kron(A, C) = kron(A, a B + b C), by bilinearity (a rewrite of simplify)."""
    from matcalc import expr as E
    from matcalc.evaluate import evaluate
    from matcalc.printing import to_text
    from matcalc.simplify import simplify
    from matcalc.verify import domain_points

    A, D = (E.Symbol(name, "matrix", ("n", "n")) for name in "AD")
    B, C = (E.Symbol(name, "matrix", ("m", "m")) for name in "BC")
    e = E.add(E.kron(A, B), E.neg(E.scale(E.Const(2), E.kron(A, C))), E.kron(D, B))
    out = simplify(e)
    assert to_text(out) in ("kron(A, B - 2 C) + kron(D, B)", "kron(D, B) + kron(A, B - 2 C)")
    for values, sizes in domain_points(e, 2, seed=1, extra=(out,)):
        np.testing.assert_allclose(evaluate(out, values, sizes), evaluate(e, values, sizes), rtol=1e-12)
