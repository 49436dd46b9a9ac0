"""Jacobians d vec(F) / d vec(X)^T: the printed form, the value against NumPy formulas written
out here (vec stacks columns), and the numeric check.

Every reference formula is itself compared with central differences of a NumPy forward
function, so a wrong reference cannot hide a wrong result.
"""

from __future__ import annotations

from itertools import permutations

import numpy as np
import pytest
from reference import commutation, derive_each, inv, invertible, result, sigmoid, softmax, vec

import matcalc


def fd_jacobian(forward, values: dict, name: str, h: float = 1e-6) -> np.ndarray:
    """Central differences of vec(forward(values)) along each entry of vec(values[name])."""
    x = np.asarray(values[name], dtype=float)
    columns = []
    for k in range(x.size):
        e = np.zeros(x.size)
        e[k] = h
        step = e.reshape(x.shape, order="F")
        plus = vec(forward({**values, name: x + step}))
        minus = vec(forward({**values, name: x - step}))
        columns.append((plus - minus) / (2 * h))
    return np.column_stack(columns)


def test_own_commutation_matrix():
    a = np.arange(12.0).reshape(3, 4)
    k = commutation(3, 4)
    np.testing.assert_array_equal(k @ vec(a), vec(a.T))
    np.testing.assert_array_equal(k.T @ k, np.eye(12))
    np.testing.assert_array_equal(commutation(4, 3), k.T)


# ---------------------------------------------------------------------------------------
# The cases: (id, expression, wrt, declare, accepted forms or None, values, forward, reference)
#   values(rng) -> dict of NumPy arrays; forward(v) -> F as a NumPy array; reference(v) -> J.


def _tanh_layer(v):
    return np.tanh(v["W"] @ v["x"] + v["b"])


def _mlp_values(rng):
    return {"W": rng.standard_normal((4, 3)), "x": rng.standard_normal(3), "b": rng.standard_normal(4)}


CASES = [
    # the ones the notes and the README name
    ("A x", "A x", "x", None, {"A"},
     lambda r: {"A": r.standard_normal((4, 3)), "x": r.standard_normal(3)},
     lambda v: v["A"] @ v["x"],
     lambda v: v["A"]),
    ("tanh layer wrt x", "tanh(W x + b)", "x", None, {"diag(1 - tanh(W x + b) .^ 2) W"},
     _mlp_values, _tanh_layer,
     lambda v: np.diag(1 - _tanh_layer(v) ** 2) @ v["W"]),
    ("tanh layer wrt b", "tanh(W x + b)", "b", None, {"diag(1 - tanh(W x + b) .^ 2)"},
     _mlp_values, _tanh_layer,
     lambda v: np.diag(1 - _tanh_layer(v) ** 2)),
    ("softmax", "softmax(x)", "x", None, {"diag(softmax(x)) - softmax(x) softmax(x)^T"},
     lambda r: {"x": r.standard_normal(5)},
     lambda v: softmax(v["x"]),
     lambda v: np.diag(softmax(v["x"])) - np.outer(softmax(v["x"]), softmax(v["x"]))),
    ("hadamard", "x .* y", "x", None, {"diag(y)"},
     lambda r: {"x": r.standard_normal(4), "y": r.standard_normal(4)},
     lambda v: v["x"] * v["y"],
     lambda v: np.diag(v["y"])),
    ("sigmoid", "sigmoid(x)", "x", None, {"diag(sigmoid(x) .* (1 - sigmoid(x)))"},
     lambda r: {"x": r.standard_normal(4)},
     lambda v: sigmoid(v["x"]),
     lambda v: np.diag(sigmoid(v["x"]) * (1 - sigmoid(v["x"])))),
    ("A X B", "A X B", "X", None, {"kron(B^T, A)"},
     lambda r: {"A": r.standard_normal((2, 3)), "X": r.standard_normal((3, 4)), "B": r.standard_normal((4, 5))},
     lambda v: v["A"] @ v["X"] @ v["B"],
     lambda v: np.kron(v["B"].T, v["A"])),
    ("transpose", "X^T", "X", None, {"K[n, m]", "K[m, n]"},
     lambda r: {"X": r.standard_normal((3, 4))},
     lambda v: v["X"].T,
     lambda v: commutation(*v["X"].shape)),
    ("inverse", "inv(X)", "X", None, {"-kron(X^-T, X^-1)"},
     lambda r: {"X": invertible(r, 3)},
     lambda v: inv(v["X"]),
     lambda v: -np.kron(inv(v["X"]).T, inv(v["X"]))),
    ("inverse as a power", "X^-1", "X", None, {"-kron(X^-T, X^-1)"},
     lambda r: {"X": invertible(r, 3)},
     lambda v: inv(v["X"]),
     lambda v: -np.kron(inv(v["X"]).T, inv(v["X"]))),
    # Matrix Cookbook and machine learning
    ("Gram matrix", "X^T X", "X", None, None,
     lambda r: {"X": r.standard_normal((4, 3))},
     lambda v: v["X"].T @ v["X"],
     lambda v: np.kron(v["X"].T, np.eye(3)) @ commutation(4, 3) + np.kron(np.eye(3), v["X"].T)),
    ("A X", "A X", "X", None, {"kron(I, A)"},
     lambda r: {"A": r.standard_normal((2, 3)), "X": r.standard_normal((3, 4))},
     lambda v: v["A"] @ v["X"],
     lambda v: np.kron(np.eye(4), v["A"])),
    ("X A", "X A", "X", None, {"kron(A^T, I)"},
     lambda r: {"A": r.standard_normal((4, 2)), "X": r.standard_normal((3, 4))},
     lambda v: v["X"] @ v["A"],
     lambda v: np.kron(v["A"].T, np.eye(3))),
    ("X a", "X a", "X", None, None,
     lambda r: {"a": r.standard_normal(4), "X": r.standard_normal((3, 4))},
     lambda v: v["X"] @ v["a"],
     lambda v: np.kron(v["a"][None, :], np.eye(3))),
    ("outer product", "x x^T", "x", None, {"kron(x, I[n]) + kron(I[n], x)", "kron(I[n], x) + kron(x, I[n])"},
     lambda r: {"x": r.standard_normal(3)},
     lambda v: np.outer(v["x"], v["x"]),
     lambda v: np.kron(v["x"][:, None], np.eye(3)) + np.kron(np.eye(3), v["x"][:, None])),
    ("exp(A x)", "exp(A x)", "x", None, {"diag(exp(A x)) A"},
     lambda r: {"A": r.standard_normal((4, 3)), "x": r.standard_normal(3)},
     lambda v: np.exp(v["A"] @ v["x"]),
     lambda v: np.diag(np.exp(v["A"] @ v["x"])) @ v["A"]),
    ("log(x)", "log(x)", "x", None, {"diag(x .^ -1)", "diag(1 ./ x)"},
     lambda r: {"x": r.uniform(0.5, 2.0, 4)},
     lambda v: np.log(v["x"]),
     lambda v: np.diag(1 / v["x"])),
    ("sqrt(x)", "sqrt(x)", "x", None, None,
     lambda r: {"x": r.uniform(0.5, 2.0, 4)},
     lambda v: np.sqrt(v["x"]),
     lambda v: np.diag(0.5 / np.sqrt(v["x"]))),
    ("(x^T x) x", "(x^T x) x", "x", None, {"2 x x^T + (x^T x) I", "(x^T x) I + 2 x x^T"},
     lambda r: {"x": r.standard_normal(4)},
     lambda v: (v["x"] @ v["x"]) * v["x"],
     lambda v: 2 * np.outer(v["x"], v["x"]) + (v["x"] @ v["x"]) * np.eye(4)),
    ("||x|| x", "||x|| x", "x", None, {"x x^T / ||x|| + ||x|| I", "||x|| I + x x^T / ||x||"},
     lambda r: {"x": r.standard_normal(4)},
     lambda v: np.linalg.norm(v["x"]) * v["x"],
     lambda v: np.outer(v["x"], v["x"]) / np.linalg.norm(v["x"]) + np.linalg.norm(v["x"]) * np.eye(4)),
    ("normalisation", "x / ||x||", "x", None, None,
     lambda r: {"x": r.standard_normal(4)},
     lambda v: v["x"] / np.linalg.norm(v["x"]),
     lambda v: (np.eye(4) - np.outer(v["x"], v["x"]) / (v["x"] @ v["x"])) / np.linalg.norm(v["x"])),
    ("tied autoencoder", "W^T sigmoid(W x)", "x", None, {"W^T diag(sigmoid(W x) .* (1 - sigmoid(W x))) W"},
     lambda r: {"W": r.standard_normal((4, 3)), "x": r.standard_normal(3)},
     lambda v: v["W"].T @ sigmoid(v["W"] @ v["x"]),
     lambda v: v["W"].T @ np.diag(sigmoid(v["W"] @ v["x"]) * (1 - sigmoid(v["W"] @ v["x"]))) @ v["W"]),
    ("diag(x) A x", "diag(x) A x", "x", None, {"diag(A x) + diag(x) A", "diag(x) A + diag(A x)"},
     lambda r: {"A": r.standard_normal((4, 4)), "x": r.standard_normal(4)},
     lambda v: v["x"] * (v["A"] @ v["x"]),
     lambda v: np.diag(v["A"] @ v["x"]) + np.diag(v["x"]) @ v["A"]),
    ("softmax layer wrt W", "softmax(W x + b)", "W", None, None,
     lambda r: {"W": r.standard_normal((4, 3)), "x": r.standard_normal(3), "b": r.standard_normal(4)},
     lambda v: softmax(v["W"] @ v["x"] + v["b"]),
     lambda v: (lambda s: (np.diag(s) - np.outer(s, s)) @ np.kron(v["x"][None, :], np.eye(4)))(
         softmax(v["W"] @ v["x"] + v["b"]))),
    ("tanh layer wrt W", "tanh(W x + b)", "W", None, None,
     _mlp_values, _tanh_layer,
     lambda v: np.diag(1 - _tanh_layer(v) ** 2) @ np.kron(v["x"][None, :], np.eye(4))),
    ("relu layer wrt x", "relu(W x)", "x", None, {"diag(step(W x)) W"},
     lambda r: {"W": r.standard_normal((4, 3)), "x": r.standard_normal(3)},
     lambda v: np.maximum(v["W"] @ v["x"], 0),
     lambda v: np.diag((v["W"] @ v["x"] > 0).astype(float)) @ v["W"]),
    ("affine wrt b", "A x + b", "b", None, {"I"},
     lambda r: {"A": r.standard_normal((4, 3)), "x": r.standard_normal(3), "b": r.standard_normal(4)},
     lambda v: v["A"] @ v["x"] + v["b"],
     lambda v: np.eye(4)),
    ("hadamard of matrices", "X .* Y", "X", None, {"diag(vec(Y))"},
     lambda r: {"X": r.standard_normal((3, 4)), "Y": r.standard_normal((3, 4))},
     lambda v: v["X"] * v["Y"],
     lambda v: np.diag(vec(v["Y"]))),
    ("element-wise exp of a matrix", "exp(X)", "X", None, {"diag(vec(exp(X)))"},
     lambda r: {"X": r.standard_normal((3, 2))},
     lambda v: np.exp(v["X"]),
     lambda v: np.diag(vec(np.exp(v["X"])))),
    ("square of a matrix", "X^2", "X", None, {"kron(X^T, I[n]) + kron(I[n], X)", "kron(I[n], X) + kron(X^T, I[n])"},
     lambda r: {"X": r.standard_normal((3, 3))},
     lambda v: v["X"] @ v["X"],
     lambda v: np.kron(v["X"].T, np.eye(3)) + np.kron(np.eye(3), v["X"])),
    ("A inv(X) B", "A inv(X) B", "X", None, {"-kron(B^T X^-T, A X^-1)"},
     lambda r: {"A": r.standard_normal((2, 3)), "X": invertible(r, 3), "B": r.standard_normal((3, 4))},
     lambda v: v["A"] @ inv(v["X"]) @ v["B"],
     lambda v: -np.kron(v["B"].T @ inv(v["X"]).T, v["A"] @ inv(v["X"]))),
    ("kron(A, X)", "kron(A, X)", "X", None, None,
     lambda r: {"A": r.standard_normal((2, 3)), "X": r.standard_normal((2, 2))},
     lambda v: np.kron(v["A"], v["X"]),
     lambda v: np.column_stack([vec(np.kron(v["A"], e.reshape(v["X"].shape, order="F")))
                                for e in np.eye(v["X"].size)])),
    # through diag: diag(u) is the diagonal matrix of a vector, diag(U) the diagonal of a matrix
    ("diagonal of a matrix", "diag(X)", "X", None, {"kron(ones[n]^T, I[n]) diag(vec(I[n]))"},
     lambda r: {"X": r.standard_normal((3, 3))},
     lambda v: np.diag(v["X"]),
     lambda v: selection(3)),
    ("diagonal of a transpose", "diag(X^T)", "X", None, {"kron(ones[n]^T, I[n]) diag(vec(I[n]))"},
     lambda r: {"X": r.standard_normal((4, 4))},
     lambda v: np.diag(v["X"]),
     lambda v: selection(4)),
    ("diagonal matrix", "diag(x)", "x", None, {"diag(vec(I[n])) kron(ones[n], I[n])"},
     lambda r: {"x": r.standard_normal(3)},
     lambda v: np.diag(v["x"]),
     lambda v: selection(3).T),
    ("diag(u) w", "diag(u) w", "u", None, {"diag(w)"},
     lambda r: {"u": r.standard_normal(4), "w": r.standard_normal(4)},
     lambda v: np.diag(v["u"]) @ v["w"],
     lambda v: np.diag(v["w"])),
    ("w^T diag(u)", "w^T diag(u)", "u", None, {"diag(w)"},
     lambda r: {"u": r.standard_normal(4), "w": r.standard_normal(4)},
     lambda v: v["w"] @ np.diag(v["u"]),
     lambda v: np.diag(v["w"])),
    ("A diag(u) w", "A diag(u) w", "u", None, {"A diag(w)"},
     lambda r: {"A": r.standard_normal((2, 3)), "u": r.standard_normal(3), "w": r.standard_normal(3)},
     lambda v: v["A"] @ np.diag(v["u"]) @ v["w"],
     lambda v: v["A"] * v["w"][None, :]),
    ("diag inside a sum", "(diag(u) A + B) w", "u", None, {"diag(A w)"},
     lambda r: {"A": r.standard_normal((3, 3)), "B": r.standard_normal((3, 3)), "u": r.standard_normal(3),
                "w": r.standard_normal(3)},
     lambda v: (np.diag(v["u"]) @ v["A"] + v["B"]) @ v["w"],
     lambda v: np.diag(v["A"] @ v["w"])),
    ("diag(u) W", "diag(u) W", "u", None, {"diag(vec(W)) kron(ones[m], I[n])"},
     lambda r: {"u": r.standard_normal(3), "W": r.standard_normal((3, 4))},
     lambda v: np.diag(v["u"]) @ v["W"],
     # column i: only row i of W survives
     lambda v: np.column_stack([vec(np.where(np.arange(3)[:, None] == i, v["W"], 0)) for i in range(3)])),
    ("W diag(u)", "W diag(u)", "u", None, {"diag(vec(W)) kron(I[m], ones[n])"},
     lambda r: {"u": r.standard_normal(3), "W": r.standard_normal((4, 3))},
     lambda v: v["W"] @ np.diag(v["u"]),
     lambda v: np.column_stack([vec(np.where(np.arange(3)[None, :] == i, v["W"], 0)) for i in range(3)])),
    ("A diag(u) B", "A diag(u) B", "u", None, {"kron(B^T, A) diag(vec(I[n])) kron(ones[n], I[n])"},
     lambda r: {"A": r.standard_normal((2, 3)), "u": r.standard_normal(3), "B": r.standard_normal((3, 4))},
     lambda v: v["A"] @ np.diag(v["u"]) @ v["B"],
     lambda v: np.column_stack([vec(np.outer(v["A"][:, i], v["B"][i, :])) for i in range(3)])),
    ("diag inside kron", "kron(diag(x), a)", "x", None, None,
     lambda r: {"x": r.standard_normal(3), "a": r.standard_normal(2)},
     lambda v: np.kron(np.diag(v["x"]), v["a"][:, None]),
     lambda v: np.column_stack([vec(np.kron(np.diag(e), v["a"][:, None])) for e in np.eye(3)])),
    ("diagonal of an outer product", "diag(x x^T)", "x", None, {"2 diag(x)"},
     lambda r: {"x": r.standard_normal(4)},
     lambda v: np.diag(np.outer(v["x"], v["x"])),
     lambda v: 2 * np.diag(v["x"])),
    ("diagonal around a diagonal", "diag(A diag(u) B)", "u", None, {"A .* B^T"},
     lambda r: {"A": r.standard_normal((3, 3)), "u": r.standard_normal(3), "B": r.standard_normal((3, 3))},
     lambda v: np.diag(v["A"] @ np.diag(v["u"]) @ v["B"]),
     lambda v: v["A"] * v["B"].T),
    ("diag(A X B)", "diag(A X B)", "X", None, {"kron(ones[m]^T, I[m]) diag(vec(I[m])) kron(B^T, A)"},
     lambda r: {"A": r.standard_normal((3, 2)), "X": r.standard_normal((2, 4)), "B": r.standard_normal((4, 3))},
     lambda v: np.diag(v["A"] @ v["X"] @ v["B"]),
     # dX = e_j e_k^T gives diag(A e_j e_k^T B) = A[:, j] .* B[k, :]; vec order runs j first
     lambda v: np.column_stack([v["A"][:, j] * v["B"][k, :] for k in range(4) for j in range(2)])),
    ("trace of a diagonal matrix", "tr(diag(x)) x", "x", None,
     {"x ones^T + sum(x) I"},
     lambda r: {"x": r.standard_normal(3)},
     lambda v: np.trace(np.diag(v["x"])) * v["x"],
     lambda v: v["x"].sum() * np.eye(3) + np.outer(v["x"], np.ones(3))),
]

IDS = [c[0] for c in CASES]


def selection(n: int) -> np.ndarray:
    """S (n x n^2) with S vec(U) = diag(U): U[i, i] sits at i + n i in vec(U)."""
    s = np.zeros((n, n * n))
    for i in range(n):
        s[i, i + n * i] = 1.0
    return s


def _case(case_id):
    return next(c for c in CASES if c[0] == case_id)


@pytest.fixture(scope="module")
def results():
    return derive_each(CASES, matcalc.jacobian)


_result = result


@pytest.mark.parametrize("case_id", [c[0] for c in CASES if c[4] is not None])
def test_form(results, case_id):
    _, text, wrt, declare, forms, *_ = _case(case_id)
    r = _result(results, case_id)
    assert str(r) in forms, f"J_{wrt} {text}: got {r!s}, expected one of {sorted(forms)}"
    assert r.kind == "jacobian"


@pytest.mark.parametrize("case_id", IDS)
def test_value_against_numpy(results, case_id):
    _, text, wrt, declare, _, make, forward, reference = _case(case_id)
    values = make(np.random.default_rng(sum(map(ord, case_id))))
    expected = reference(values)
    # the hand-written reference is right: it matches differences of the forward function
    np.testing.assert_allclose(expected, fd_jacobian(forward, values, wrt), rtol=1e-6, atol=1e-7)
    r = _result(results, case_id)
    got = r.evaluate(values)
    assert got.shape == (vec(forward(values)).size, np.size(values[wrt]))
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("case_id", IDS)
def test_numeric_check(results, case_id):
    r = _result(results, case_id)
    report = r.check()
    assert report, f"J_{r.variable.name} of {r.function}: {r}; check: {report}"


def test_relu_is_checked_without_the_complex_step():
    report = matcalc.jacobian("relu(W x)", wrt="x").check()
    assert report.ok
    assert report.complex_step is None
    assert any("complex step" in note for note in report.notes)


def test_analytic_jacobian_uses_the_complex_step():
    report = matcalc.jacobian("tanh(W x + b)", wrt="x").check()
    assert report.ok
    assert report.complex_step is not None and report.complex_step <= 1e-9


def test_structured_evaluation_matches_the_dense_one():
    rng = np.random.default_rng(7)
    values = {"A": rng.standard_normal((2, 3)), "X": rng.standard_normal((3, 4)), "B": rng.standard_normal((4, 5))}
    r = matcalc.jacobian("A X B", wrt="X")
    op = r.evaluate(values, structured=True)
    v = rng.standard_normal(12)
    np.testing.assert_allclose(op @ v, np.kron(values["B"].T, values["A"]) @ v, rtol=1e-12)
    np.testing.assert_allclose(op.dense(), r.evaluate(values), rtol=1e-12)


def test_several_variables_in_one_call():
    results = matcalc.jacobian("tanh(W x + b)", wrt=["x", "b"])
    assert set(results) == {"x", "b"}
    assert str(results["x"]) == "diag(1 - tanh(W x + b) .^ 2) W"
    assert str(results["b"]) == "diag(1 - tanh(W x + b) .^ 2)"


def test_engine_commutation_matrix_is_the_one_written_here():
    """vec(X^T) = K vec(X): the commutation matrix of the engine is the one written here."""
    rng = np.random.default_rng(11)
    x = rng.standard_normal((2, 5))
    np.testing.assert_array_equal(matcalc.jacobian("X^T", wrt="X").evaluate({"X": x}), commutation(2, 5))


def test_jacobian_chain_rule_composes():
    """J of softmax(W x + b) wrt x is the softmax Jacobian times W."""
    rng = np.random.default_rng(3)
    values = {"W": rng.standard_normal((4, 3)), "x": rng.standard_normal(3), "b": rng.standard_normal(4)}
    s = softmax(values["W"] @ values["x"] + values["b"])
    r = matcalc.jacobian("softmax(W x + b)", wrt="x")
    np.testing.assert_allclose(r.evaluate(values), (np.diag(s) - np.outer(s, s)) @ values["W"], rtol=1e-10)
    assert r.check()


def test_own_selection_matrix():
    u = np.arange(9.0).reshape(3, 3)
    np.testing.assert_array_equal(selection(3) @ vec(u), np.diag(u))
    np.testing.assert_array_equal(selection(3).T @ np.array([1.0, 2.0, 3.0]), vec(np.diag([1.0, 2.0, 3.0])))


# (expression, accepted forms, f, its gradient, its Hessian), each written out here
HESSIANS_THROUGH_DIAG = [
    ("x^T diag(x) x", {"6 diag(x)"},
     lambda v: np.sum(v["x"] ** 3),
     lambda v: 3 * v["x"] ** 2,
     lambda v: 6 * np.diag(v["x"])),
    ("x^T diag(x) A x", {" + ".join(p) for p in permutations(["2 diag(A x)", "2 diag(x) A", "2 A^T diag(x)"])},
     lambda v: v["x"] ** 2 @ (v["A"] @ v["x"]),
     lambda v: 2 * v["x"] * (v["A"] @ v["x"]) + v["A"].T @ v["x"] ** 2,
     lambda v: 2 * np.diag(v["A"] @ v["x"]) + 2 * np.diag(v["x"]) @ v["A"] + 2 * v["A"].T @ np.diag(v["x"])),
    ("sum(diag(x) A diag(x))", {"A + A^T"},
     lambda v: v["x"] @ v["A"] @ v["x"],
     lambda v: (v["A"] + v["A"].T) @ v["x"],
     lambda v: v["A"] + v["A"].T),
    ("a^T diag(x x^T)", {"2 diag(a)"},
     lambda v: v["a"] @ v["x"] ** 2,
     lambda v: 2 * v["a"] * v["x"],
     lambda v: 2 * np.diag(v["a"])),
]


@pytest.mark.parametrize("text, forms, f, grad, hess", HESSIANS_THROUGH_DIAG, ids=[c[0] for c in HESSIANS_THROUGH_DIAG])
def test_hessian_through_diag(text, forms, f, grad, hess):
    rng = np.random.default_rng(5)
    values = {"x": rng.standard_normal(4), "A": rng.standard_normal((4, 4)), "a": rng.standard_normal(4)}
    # the written gradient and Hessian are right: they match differences of f and of the gradient
    np.testing.assert_allclose(grad(values), fd_jacobian(lambda v: np.array([f(v)]), values, "x")[0], rtol=1e-6)
    np.testing.assert_allclose(hess(values), fd_jacobian(grad, values, "x"), rtol=1e-6, atol=1e-7)
    h = matcalc.hessian(text, wrt="x")
    assert str(h) in forms, f"hess_x {text}: got {h}, expected one of {sorted(forms)}"
    np.testing.assert_allclose(h.evaluate(values), hess(values), rtol=1e-10, atol=1e-12)
    assert h.check()


@pytest.mark.parametrize("text, form, reference", [
    # the identities that move diag towards dx serve the gradient's walk too
    ("x^T diag(x) x", "3 diag(x) x", lambda v: 3 * v["x"] ** 2),
    ("a^T diag(x) b", "diag(b) a", lambda v: v["a"] * v["b"]),
    ("tr(diag(x))", "ones", lambda v: np.ones(4)),
])
def test_gradient_through_diag(text, form, reference):
    rng = np.random.default_rng(6)
    values = {"x": rng.standard_normal(4), "a": rng.standard_normal(4), "b": rng.standard_normal(4)}
    r = matcalc.gradient(text, wrt="x")
    assert str(r) == form
    np.testing.assert_allclose(r.evaluate(values), reference(values), rtol=1e-12)
    assert r.check()


def test_cli_prints_both_jacobians(capsys):
    from matcalc.cli import main

    assert main(["jac", "tanh(W x + b)", "--wrt", "x,b"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "jac_x f = diag(1 - tanh(W x + b) .^ 2) W" in lines
    assert "jac_b f = diag(1 - tanh(W x + b) .^ 2)" in lines


# ---------------------------------------------------------------------------------------
# Bad input


def test_jacobian_of_a_scalar_is_a_gradient():
    with pytest.raises(matcalc.DerivativeError, match="gradient"):
        matcalc.jacobian("x^T x", wrt="x")


def test_jacobian_of_a_scalar_via_cli(capsys):
    from matcalc.cli import main

    assert main(["jac", "x^T A x", "--wrt", "x"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "gradient" in err


def test_jacobian_wrt_a_missing_variable():
    with pytest.raises(matcalc.DerivativeError, match="does not occur"):
        matcalc.jacobian("A x", wrt="y")
