"""Logistic regression with scipy's trust-ncg and ridge regression in closed form, from matcalc's
derivatives, each checked against a solution computed apart in NumPy.

    pip install 'matcalc[scipy]'
    python examples/scipy_regression.py     # prints both solutions and their checks
"""

import numpy as np

import matcalc


def logistic_regression(X, y, lam):
    """min_w sum(softplus(X w)) - y^T X w + lam/2 ||w||^2 by trust-ncg, which takes the Hessian
    only as products H p (matcalc's Hessian-vector product: no d x d matrix is formed)."""
    objective = matcalc.objective("sum(softplus(X w)) - y^T X w + lam/2 ||w||^2", "w",
                                  values={"X": X, "y": y, "lam": lam}, declare={"lam": "scalar"})
    result = objective.minimize(np.zeros(X.shape[1]), method="trust-ncg", options={"gtol": 1e-8})
    assert result.success, result.message
    return result.x


def newton(X, y, lam, steps=25):
    """The reference: Newton's method with the gradient and Hessian written out in NumPy."""
    w = np.zeros(X.shape[1])
    for _ in range(steps):
        s = 1 / (1 + np.exp(-X @ w))
        gradient = X.T @ (s - y) + lam * w
        hessian = X.T @ ((s * (1 - s))[:, None] * X) + lam * np.eye(X.shape[1])
        w = w - np.linalg.solve(hessian, gradient)
    return w


def ridge(X, y, lam):
    """The ridge estimate from matcalc's gradient of ||X w - y||^2 + lam ||w||^2, which is linear
    in w: grad(w) = H w + grad(0) with H its (constant) Hessian, so grad = 0 is H w = -grad(0)."""
    objective = matcalc.objective("||X w - y||^2 + lam ||w||^2", "w", values={"X": X, "y": y, "lam": lam},
                                  declare={"lam": "scalar"})
    print("ridge: grad_w f =", matcalc.gradient("||X w - y||^2 + lam ||w||^2", "w", declare={"lam": "scalar"}))
    origin = np.zeros(X.shape[1])
    return np.linalg.solve(objective.hess(origin), -objective.jac(origin)), objective


def main(seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((200, 5))
    y = (rng.random(200) < 1 / (1 + np.exp(-X @ rng.standard_normal(5)))).astype(float)
    w = logistic_regression(X, y, lam=0.1)
    reference = newton(X, y, lam=0.1)
    print("logistic regression (trust-ncg):", np.round(w, 6))
    print("  largest difference from Newton's method in NumPy:", f"{np.abs(w - reference).max():.1e}")
    s = 1 / (1 + np.exp(-X @ w))
    print("  largest entry of X^T (s - y) + lam w there (grad = 0):", f"{np.abs(X.T @ (s - y) + 0.1 * w).max():.1e}")
    assert np.allclose(w, reference, atol=1e-8)
    assert np.abs(X.T @ (s - y) + 0.1 * w).max() < 1e-8

    t = X @ rng.standard_normal(5) + 0.1 * rng.standard_normal(200)
    w_ridge, objective = ridge(X, t, lam=2.0)
    closed = np.linalg.solve(X.T @ X + 2.0 * np.eye(5), X.T @ t)
    print("ridge regression:", np.round(w_ridge, 6))
    print("  largest difference from solve(X^T X + lam I, X^T y):", f"{np.abs(w_ridge - closed).max():.1e}")
    print("  largest entry of the gradient there:", f"{np.abs(objective.jac(w_ridge)).max():.1e}")
    assert np.allclose(w_ridge, closed, atol=1e-10)
    assert np.abs(objective.jac(w_ridge)).max() < 1e-8
    return w, w_ridge


if __name__ == "__main__":
    main()
