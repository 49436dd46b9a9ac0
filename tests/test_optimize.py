"""matcalc.objective: fun, jac, hess and hessp on flat parameter vectors, as scipy.optimize.minimize
takes them.  Values against NumPy written by hand and central differences, the Hessian against
the Hessian-vector product, the column-major flattening, several variables, scipy's minimize on
logistic and ridge regression against solutions computed apart, laziness and bad input."""

from __future__ import annotations

import numpy as np
import pytest

import matcalc
from matcalc.optimize import Objective

rng = np.random.default_rng(11)
LOGISTIC = "sum(softplus(X w)) - y^T X w + lam/2 ||w||^2"


def softplus(t):
    return np.logaddexp(0, t)


def sigmoid(t):
    return 1 / (1 + np.exp(-t))


def logistic_data(n=40, d=4, seed=3):
    r = np.random.default_rng(seed)
    X = r.standard_normal((n, d))
    y = (r.random(n) < sigmoid(X @ r.standard_normal(d))).astype(float)
    return X, y


def logistic(X, y, lam):
    """f, its gradient and Hessian in NumPy, by hand."""
    def f(w):
        return softplus(X @ w).sum() - y @ X @ w + lam / 2 * w @ w

    def g(w):
        return X.T @ (sigmoid(X @ w) - y) + lam * w

    def h(w):
        s = sigmoid(X @ w)
        return X.T @ ((s * (1 - s))[:, None] * X) + lam * np.eye(X.shape[1])

    return f, g, h


def central(f, x, h=1e-6):
    """The central-difference derivative of f (scalar- or array-valued) at the flat x: one column per entry."""
    return np.stack([(np.asarray(f(x + h * e)) - np.asarray(f(x - h * e))) / (2 * h) for e in np.eye(x.size)], axis=-1)


def logistic_objective(lam=0.5):
    X, y = logistic_data()
    return matcalc.objective(LOGISTIC, "w", {"X": X, "y": y, "lam": lam}, declare={"lam": "scalar"}), (X, y, lam)


def test_logistic_values_against_numpy_by_hand():
    obj, (X, y, lam) = logistic_objective()
    f, g, h = logistic(X, y, lam)
    w, p = rng.standard_normal(4), rng.standard_normal(4)
    assert isinstance(obj.fun(w), float)
    assert obj.fun(w) == pytest.approx(f(w), rel=1e-12)
    assert obj.jac(w).shape == (4,) and np.allclose(obj.jac(w), g(w), rtol=1e-12, atol=1e-12)
    assert obj.hess(w).shape == (4, 4) and np.allclose(obj.hess(w), h(w), rtol=1e-12, atol=1e-12)
    assert obj.hessp(w, p).shape == (4,) and np.allclose(obj.hessp(w, p), h(w) @ p, rtol=1e-12, atol=1e-12)


def test_logistic_derivatives_against_central_differences():
    obj, _ = logistic_objective()
    w, p = rng.standard_normal(4), rng.standard_normal(4)
    assert np.allclose(obj.jac(w), central(obj.fun, w), rtol=1e-6, atol=1e-6)
    assert np.allclose(obj.hess(w), central(obj.jac, w), rtol=1e-6, atol=1e-6)
    along = (obj.jac(w + 1e-6 * p) - obj.jac(w - 1e-6 * p)) / 2e-6
    assert np.allclose(obj.hessp(w, p), along, rtol=1e-6, atol=1e-6)
    assert np.allclose(obj.hess(w) @ p, obj.hessp(w, p), rtol=1e-12, atol=1e-12)


# A matrix variable: ||A W B - C||_F^2 + tr(W^T W W^T W), its gradient by hand, and a square one
MATRIX = "||A W B - C||_F^2 + tr(W^T W W^T W)"


def matrix_case():
    A, B, C = rng.standard_normal((5, 3)), rng.standard_normal((2, 4)), rng.standard_normal((5, 4))
    obj = matcalc.objective(MATRIX, "W", {"A": A, "B": B, "C": C})

    def gradient(W):
        return 2 * A.T @ (A @ W @ B - C) @ B.T + 4 * W @ W.T @ W

    return obj, gradient


def test_a_matrix_variable_is_flattened_column_major():
    obj, gradient = matrix_case()
    assert obj.shapes == {"W": (3, 2)} and obj.size == 6
    W = rng.standard_normal((3, 2))
    x = obj.pack(W)
    assert np.array_equal(x, W.ravel(order="F")) and np.array_equal(x, np.concatenate([W[:, 0], W[:, 1]]))
    assert np.array_equal(obj.unpack(x)["W"], W)
    assert np.allclose(obj.jac(x), gradient(W).ravel(order="F"), rtol=1e-12, atol=1e-12)
    assert np.allclose(obj.unpack(obj.jac(x))["W"], gradient(W), rtol=1e-12, atol=1e-12)
    # entry k of x is W[k % 3, k // 3]: perturbing W[i, j] moves f by the jac entry j * 3 + i
    for i, j in [(2, 0), (0, 1), (1, 1)]:
        E = np.zeros((3, 2))
        E[i, j] = 1e-6
        fd = (obj.fun(obj.pack(W + E)) - obj.fun(obj.pack(W - E))) / 2e-6
        assert fd == pytest.approx(obj.jac(x)[j * 3 + i], rel=1e-6, abs=1e-6)


def test_a_matrix_variable_hessian_and_hvp_agree_with_differences():
    obj, _ = matrix_case()
    x, p = rng.standard_normal(6), rng.standard_normal(6)
    H = obj.hess(x)
    assert np.allclose(H, H.T, atol=1e-10)
    assert np.allclose(H, central(obj.jac, x), rtol=1e-6, atol=1e-5)
    assert np.allclose(H @ p, obj.hessp(x, p), rtol=1e-10, atol=1e-10)
    # the same matrix matcalc derives, in vec order: no permutation between the two
    values = obj.constants | {"W": obj.unpack(x)["W"]}
    assert np.allclose(H, matcalc.hessian(MATRIX, "W").evaluate(values), rtol=1e-12, atol=1e-12)
    assert np.allclose(obj.hessp(x, p), obj.pack(matcalc.hvp(MATRIX, "W").evaluate(values | {"dW": obj.unpack(p)["W"]})))


def test_a_scalar_variable():
    obj = matcalc.objective("(a - 3)^2 + exp(a)", "a", declare={"a": "scalar"})
    assert obj.size == 1
    a = np.array([0.7])
    assert obj.fun(a) == pytest.approx((0.7 - 3) ** 2 + np.exp(0.7))
    assert np.allclose(obj.jac(a), [2 * (0.7 - 3) + np.exp(0.7)])
    assert np.allclose(obj.hess(a), [[2 + np.exp(0.7)]])
    assert obj.unpack(a) == {"a": 0.7} and np.array_equal(obj.pack(0.7), a)


# Several variables: a linear layer, vec(W1) then b1
LAYER = "||tanh(X W1 + ones b1^T) - Y||_F^2 + mu b1^T b1"


def layer_case():
    X, Y = rng.standard_normal((6, 3)), rng.standard_normal((6, 2))
    obj = matcalc.objective(LAYER, ["W1", "b1"], {"X": X, "Y": Y, "mu": 0.3}, declare={"mu": "scalar"})

    def f(x):
        W1, b1 = x[:6].reshape((3, 2), order="F"), x[6:]
        return ((np.tanh(X @ W1 + b1) - Y) ** 2).sum() + 0.3 * b1 @ b1

    return obj, f


def test_several_variables_are_concatenated_in_the_given_order():
    obj, f = layer_case()
    assert obj.shapes == {"W1": (3, 2), "b1": (2, 1)} and obj.size == 8
    assert repr(obj) == "<Objective f = ||tanh(X W1 + b1^T) - Y||^2 + mu (b1^T b1), x = vec(W1) (6) then vec(b1) (2)>"
    W1, b1 = rng.standard_normal((3, 2)), rng.standard_normal(2)
    x = obj.pack({"W1": W1, "b1": b1})
    assert np.array_equal(x, np.concatenate([W1.ravel(order="F"), b1]))
    assert np.array_equal(obj.pack([W1, b1]), x)
    back = obj.unpack(x)
    assert np.array_equal(back["W1"], W1) and np.array_equal(back["b1"], b1)
    assert obj.fun(x) == pytest.approx(f(x), rel=1e-12)
    assert np.allclose(obj.jac(x), central(f, x), rtol=1e-6, atol=1e-6)
    reordered = matcalc.objective(LAYER, ["b1", "W1"], obj.constants, declare={"mu": "scalar"})
    y = np.concatenate([b1, W1.ravel(order="F")])
    assert np.allclose(reordered.jac(y), np.concatenate([obj.jac(x)[6:], obj.jac(x)[:6]]), rtol=1e-12)


def test_several_variables_hessian_blocks_and_hvp():
    obj, f = layer_case()
    x, p = rng.standard_normal(8), rng.standard_normal(8)
    H = obj.hess(x)
    assert H.shape == (8, 8) and np.allclose(H, H.T, atol=1e-10)
    assert np.allclose(H, central(obj.jac, x), rtol=1e-6, atol=1e-5)
    assert np.allclose(H @ p, obj.hessp(x, p), rtol=1e-10, atol=1e-10)


def test_second_derivatives_are_derived_only_when_asked_for():
    obj, _ = logistic_objective()
    w = rng.standard_normal(4)
    obj.fun(w)
    obj.jac(w)
    assert not {"_hess", "_hessp"} & set(vars(obj))
    obj.hessp(w, w)
    assert "_hessp" in vars(obj) and "_hess" not in vars(obj)


def test_hessp_at_the_same_point_reuses_what_does_not_depend_on_p():
    """Newton-CG's many products at one x: the part of H[p] free of p is computed once per x, and
    again as soon as x changes (in place too: the point is copied)."""
    own = np.random.default_rng(21)
    obj, (X, y, lam) = logistic_objective()
    _, _, h = logistic(X, y, lam)
    x, p, q = own.standard_normal(4), own.standard_normal(4), own.standard_normal(4)
    assert np.allclose(obj.hessp(x, p), h(x) @ p, rtol=1e-12)
    maps = obj._point[1]
    assert np.allclose(obj.hessp(x.copy(), q), h(x) @ q, rtol=1e-12)
    assert obj._point[1] is maps  # the same point: nothing computed again but the product
    x[0] += 0.5  # moved in place
    assert np.allclose(obj.hessp(x, p), h(x) @ p, rtol=1e-12)
    assert obj._point[1] is not maps


def test_several_variables_at_one_point():
    own = np.random.default_rng(22)
    obj = matcalc.objective(LAYER, ["W1", "b1"], {"X": own.standard_normal((6, 3)), "Y": own.standard_normal((6, 2)),
                                                  "mu": 0.3}, declare={"mu": "scalar"})
    x = own.standard_normal(8)
    H = central(obj.jac, x)
    for _ in range(3):
        p = own.standard_normal(8)
        assert np.allclose(obj.hessp(x, p), H @ p, rtol=1e-6, atol=1e-5)


def test_the_hessian_as_a_linear_operator():
    pytest.importorskip("scipy", reason="scipy is not installed")
    from scipy.sparse.linalg import LinearOperator, cg

    obj, (X, y, lam) = logistic_objective()
    _, g, h = logistic(X, y, lam)
    own = np.random.default_rng(23)
    x = own.standard_normal(4)
    op = obj.hess_operator(x)
    assert isinstance(op, LinearOperator) and op.shape == (4, 4)
    p = own.standard_normal(4)
    assert np.allclose(op @ p, h(x) @ p, rtol=1e-12) and np.allclose(op.T @ p, h(x) @ p, rtol=1e-12)
    step, info = cg(op, -g(x), rtol=1e-12, atol=0.0)  # the Newton step, by conjugate gradients
    assert info == 0 and np.allclose(step, np.linalg.solve(h(x), -g(x)), rtol=1e-8)
    with pytest.raises(matcalc.MatcalcError, match="x must be a 1-D array of 4 entries") as err:
        obj.hess_operator(np.ones(5))
    assert "\n" not in str(err.value)


def test_trust_constr_with_the_hessian_operator():
    pytest.importorskip("scipy", reason="scipy is not installed")
    obj, (X, y, lam) = logistic_objective()
    result = obj.minimize(np.zeros(4), method="trust-constr", options={"gtol": 1e-10})
    from scipy.optimize import minimize

    by_operator = minimize(obj.fun, np.zeros(4), jac=obj.jac, hess=obj.hess_operator, method="trust-constr",
                           options={"gtol": 1e-10})
    assert np.allclose(by_operator.x, newton(X, y, lam), atol=1e-7) and np.allclose(result.x, by_operator.x, atol=1e-7)


# ------------------------------------------------------------------ scipy.optimize.minimize


def newton(X, y, lam, steps=30):
    """Logistic regression by Newton's method in NumPy: the reference solution."""
    f, g, h = logistic(X, y, lam)
    w = np.zeros(X.shape[1])
    for _ in range(steps):
        w = w - np.linalg.solve(h(w), g(w))
    return w


@pytest.mark.parametrize("method, options", [
    ("trust-ncg", {"gtol": 1e-10}), ("trust-krylov", {"gtol": 1e-10}), ("trust-exact", {"gtol": 1e-10}),
    ("newton-cg", {"xtol": 1e-12}), ("BFGS", {"gtol": 1e-7}),
])
def test_minimize_solves_logistic_regression(method, options):
    pytest.importorskip("scipy", reason="scipy is not installed (pip install 'matcalc[scipy]')")
    obj, (X, y, lam) = logistic_objective(lam=0.1)
    result = obj.minimize(np.zeros(4), method=method, options=options)
    assert result.success
    reference = newton(X, y, lam)
    assert np.allclose(result.x, reference, atol=1e-6)
    assert np.abs(logistic(X, y, lam)[1](reference)).max() < 1e-8  # the reference is a stationary point


def test_scipy_minimize_takes_the_callables_as_they_are():
    scipy_optimize = pytest.importorskip("scipy.optimize", reason="scipy is not installed")
    obj, (X, y, lam) = logistic_objective(lam=0.1)
    result = scipy_optimize.minimize(obj.fun, np.zeros(4), jac=obj.jac, hessp=obj.hessp, method="trust-ncg",
                                     options={"gtol": 1e-10})
    assert result.success and np.allclose(result.x, newton(X, y, lam), atol=1e-6)


def test_ridge_regression_gradient_zero_is_the_closed_form():
    pytest.importorskip("scipy", reason="scipy is not installed")
    own = np.random.default_rng(11)
    X, y = own.standard_normal((30, 5)), own.standard_normal(30)
    lam = 0.7
    obj = matcalc.objective("||X w - y||^2 + lam ||w||^2", "w", {"X": X, "y": y, "lam": lam}, declare={"lam": "scalar"})
    closed = np.linalg.solve(X.T @ X + lam * np.eye(5), X.T @ y)
    assert np.abs(obj.jac(closed)).max() < 1e-10
    assert np.allclose(obj.hess(closed), 2 * (X.T @ X + lam * np.eye(5)), rtol=1e-12)
    result = obj.minimize(np.zeros(5), method="trust-ncg", options={"gtol": 1e-9})
    # the solution, not result.success: at a quadratic's minimum, within rounding of gtol, SciPy's
    # trust-ncg may stop with "a bad approximation caused failure to predict improvement" (for
    # about half of the random problems, whatever computes the Hessian)
    assert np.allclose(result.x, closed, atol=1e-9)


def test_minimize_on_a_matrix_variable_returns_a_packed_solution():
    pytest.importorskip("scipy", reason="scipy is not installed")
    A, B = rng.standard_normal((6, 3)), rng.standard_normal((6, 2))
    obj = matcalc.objective("||A W - B||_F^2", "W", {"A": A, "B": B})
    result = obj.minimize(np.zeros((3, 2)), options={"gtol": 1e-10})
    assert np.allclose(obj.unpack(result.x)["W"], np.linalg.lstsq(A, B, rcond=None)[0], atol=1e-8)


def test_minimize_without_scipy_says_how_to_install_it(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_scipy(name, *args, **kwargs):
        if name.startswith("scipy"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    obj, _ = logistic_objective()
    monkeypatch.setattr(builtins, "__import__", no_scipy)
    with pytest.raises(matcalc.MatcalcError, match=r"scipy is not installed: pip install 'matcalc\[scipy\]'"):
        obj.minimize(np.zeros(4))


# ------------------------------------------------------------------ bad input

X0, Y0 = logistic_data()
BAD = [
    (lambda: matcalc.objective(LOGISTIC, "w", {"X": X0, "lam": 1}, declare={"lam": "scalar"}),
     r"missing values for y"),
    (lambda: matcalc.objective(LOGISTIC, "w", {"X": X0, "y": Y0, "lam": 1, "z": 2}, declare={"lam": "scalar"}),
     r"values give z, which .* does not contain"),
    (lambda: matcalc.objective(LOGISTIC, "w", {"X": X0, "y": Y0, "lam": 1, "w": np.ones(4)}, declare={"lam": "scalar"}),
     r"w is a variable: give its starting point"),
    (lambda: matcalc.objective(LOGISTIC, "v", {"X": X0, "y": Y0, "lam": 1}, declare={"lam": "scalar"}),
     r"v does not occur"),
    (lambda: matcalc.objective("X w", "w", {"X": X0}), r"is not a scalar"),
    (lambda: matcalc.objective("x^T S x", "S", {"x": np.ones(2)}, declare={"S": "symmetric"}),
     r"S is declared symmetric: an objective's variables are free entries"),
    (lambda: matcalc.objective("||w||^2", "w"), r"the shape of w is not fixed by the values: give it, e\.g\. shapes=\{'w': \(3,\)\}"),
    (lambda: matcalc.objective("||A W||_F^2", "W", {"A": np.ones((2, 3))}, shapes={"W": (2, 2)}),
     r"shapes\['W'\] is \(2, 2\), but the values make W \(3, n\)|shapes\['W'\] is \(2, 2\)"),
    (lambda: matcalc.objective("||w||^2", "w", shapes={"w": "three"}), r"shapes\['w'\] must be a tuple of positive sizes"),
    (lambda: matcalc.objective("||w||^2", "w", shapes={"v": (3,)}), r"shapes give v, which is not a variable"),
    (lambda: matcalc.objective("||X w - y||^2", "w", {"X": X0, "y": np.ones(3)}), r"disagree"),
    (lambda: matcalc.objective("||X w||^2", "w", {"X": X0 * 1j}), r"the value of X is complex"),
    (lambda: matcalc.objective("||w||^2", ["w", "w"], shapes={"w": (2,)}), r"wrt names a variable twice"),
    (lambda: matcalc.objective("||w||^2", 3), r"wrt is a name or a list of names"),
]


@pytest.mark.parametrize("make, message", BAD, ids=[m for _, m in BAD])
def test_bad_input_to_objective_is_one_clear_line(make, message):
    with pytest.raises(matcalc.MatcalcError, match=message) as err:
        make()
    assert "\n" not in str(err.value)


def test_bad_points_are_one_clear_line():
    obj, _ = logistic_objective()
    assert isinstance(obj, Objective)
    for call, message in [
        (lambda: obj.fun(np.ones(3)), r"x must be a 1-D array of 4 entries \(vec\(w\) \(4\), column-major: use pack\), got shape \(3,\)"),
        (lambda: obj.jac(np.ones((4, 1))), r"x must be a 1-D array of 4 entries"),
        (lambda: obj.hess(np.ones(4) * 1j), r"x must be a real array"),
        (lambda: obj.hessp(np.ones(4), np.ones(5)), r"p must be a 1-D array of 4 entries"),
        (lambda: obj.fun("abc"), r"x must be a real array"),
        (lambda: obj.fun(np.ones(4, dtype=bool)), r"x must be a real array, got dtype bool"),
        (lambda: obj.pack(np.ones(3)), r"the value of w has shape \(3,\); expected \(4,\) or \(4, 1\)"),
    ]:
        with pytest.raises(matcalc.MatcalcError, match=message) as err:
            call()
        assert "\n" not in str(err.value)
    layer, _ = layer_case()
    with pytest.raises(matcalc.MatcalcError, match=r"vec\(W1\) \(6\) then vec\(b1\) \(2\)"):
        layer.fun(np.ones(3))
    with pytest.raises(matcalc.MatcalcError, match=r"pack needs a value for b1"):
        layer.pack({"W1": np.ones((3, 2))})


def test_the_example_solves_both_regressions_and_checks_them(capsys):
    pytest.importorskip("scipy", reason="scipy is not installed")
    import runpy
    from pathlib import Path

    example = runpy.run_path(str(Path(__file__).resolve().parent.parent / "examples" / "scipy_regression.py"))
    w, w_ridge = example["main"]()  # it asserts against Newton's method and the closed form itself
    assert w.shape == (5,) and w_ridge.shape == (5,)
    assert "ridge: grad_w f = 2 X^T (X w - y) + 2 lam w" in capsys.readouterr().out


def test_directions_never_clash_with_the_functions_names():
    obj = matcalc.objective("||w||^2 + ||dw||^4 + w^T dw2", ["w", "dw"], {"dw2": np.ones(2)},
                            declare={"dw": "vector", "dw2": "vector"}, shapes={"dw": (2,)})
    assert [d.name for d in obj.directions] == ["dw3", "ddw"]
    x, p = np.array([1.0, 2.0, 0.5, -1.0]), np.array([0.0, 1.0, 2.0, 3.0])
    dw = x[2:]
    by_hand = np.concatenate([2 * p[:2], 4 * (dw @ dw) * p[2:] + 8 * (dw @ p[2:]) * dw])  # H of ||dw||^4 is 4|dw|^2 I + 8 dw dw^T
    assert np.allclose(obj.hessp(x, p), by_hand, rtol=1e-12) and np.allclose(obj.hess(x) @ p, by_hand, rtol=1e-12)
