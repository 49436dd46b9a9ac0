"""A corpus of gradients: Matrix Cookbook identities and machine-learning losses.

Every case is checked numerically by matcalc itself (central differences and the complex
step), and most are also compared, at random inputs drawn here with a fixed seed, with the
known closed form of the gradient written out in NumPy below, independently of matcalc.

Values are drawn from a spec ``name -> (kind, shape)``; kinds:
  gen     standard normal
  inv     2 I + 0.3 N (square, well conditioned, positive determinant)
  spd     M M^T / n + I (symmetric positive definite)
  pos     uniform in [0.5, 1.5] (where logs, square roots or divisions need it)
  sign    entries +-1 (binary labels)
  onehot  a one-hot column
  scalar  a plain Python float (declared scalars)
Vectors are columns ``(n, 1)`` for the closed forms; every other case hands them to
``evaluate`` as flat ``(n,)`` arrays to exercise both layouts.
"""

from __future__ import annotations

import zlib
from typing import Callable, NamedTuple

import numpy as np
import pytest
from reference import colsum, det, inv, relu_step, sigmoid, softmax

import matcalc


class Case(NamedTuple):
    id: str
    expr: str
    wrt: str
    declare: dict | None
    spec: dict
    closed: Callable | None  # values (vectors as columns) -> expected gradient, or None


# ---------------------------------------------------------------------------------------
# Closed forms of the two-layer networks, written as a backward pass by hand.


def mlp_sq(act, dact):
    """Gradients of ||act(X W1 + b1^T) W2 + b2^T - Y||_F^2, by hand."""

    def grads(v):
        z1 = v["X"] @ v["W1"] + v["b1"].T
        h = act(z1)
        r = h @ v["W2"] + v["b2"].T - v["Y"]
        dz2 = 2 * r                       # dL/d(output)
        dh = dz2 @ v["W2"].T
        dz1 = dh * dact(z1)
        return {"W1": v["X"].T @ dz1, "b1": colsum(dz1), "W2": h.T @ dz2, "b2": colsum(dz2)}

    return grads


def sig_d(z):
    return sigmoid(z) * (1 - sigmoid(z))


def tanh_d(z):
    return 1 - np.tanh(z) ** 2


MLP_SIG = mlp_sq(sigmoid, sig_d)
MLP_TANH = mlp_sq(np.tanh, tanh_d)
MLP_RELU = mlp_sq(lambda z: np.maximum(z, 0), relu_step)


def ce_one_sample(v):
    """Gradients of -y^T log(softmax(W2 tanh(W1 x + b1) + b2)) for one sample x, label y."""
    z1 = v["W1"] @ v["x"] + v["b1"]
    h = np.tanh(z1)
    p = softmax(v["W2"] @ h + v["b2"])
    g = p * v["y"].sum() - v["y"]     # dL/dz2 = sum(y) p - y  (= p - y for one-hot y)
    dz1 = (v["W2"].T @ g) * (1 - h ** 2)
    return {"W1": dz1 @ v["x"].T, "b1": dz1, "W2": g @ h.T, "b2": g, "x": v["W1"].T @ dz1}


def gaussian(v):
    """Gradients of logdet(S) + (x - mu)^T S^-1 (x - mu), S symmetric positive definite."""
    si = inv(v["S"])
    d = v["x"] - v["mu"]
    return {"mu": -2 * si @ d, "x": 2 * si @ d, "S": si - si @ d @ d.T @ si}


def softmax_reg(v):
    """Gradients of -y^T log(softmax(W x + b)) = -y^T z + sum(y) logsumexp(z), z = W x + b."""
    g = softmax(v["W"] @ v["x"] + v["b"]) * v["y"].sum() - v["y"]
    return {"W": g @ v["x"].T, "b": g, "x": v["W"].T @ g}


def rayleigh(v):
    x, a = v["x"], v["A"]
    xx = (x.T @ x).item()
    xax = (x.T @ a @ x).item()
    return ((a + a.T) @ x * xx - 2 * xax * x) / xx ** 2


MLP_SPEC = {"X": ("gen", (6, 3)), "W1": ("gen", (3, 4)), "b1": ("gen", (4, 1)),
            "W2": ("gen", (4, 2)), "b2": ("gen", (2, 1)), "Y": ("gen", (6, 2))}
CE_SPEC = {"x": ("gen", (3, 1)), "W1": ("gen", (4, 3)), "b1": ("gen", (4, 1)),
           "W2": ("gen", (5, 4)), "b2": ("gen", (5, 1)), "y": ("onehot", (5, 1))}
SMR_SPEC = {"x": ("gen", (3, 1)), "W": ("gen", (4, 3)), "b": ("gen", (4, 1)), "y": ("onehot", (4, 1))}
SMR_SPEC_SOFT = {**SMR_SPEC, "y": ("pos", (4, 1))}  # labels that do not sum to one
GAUSS_SPEC = {"S": ("spd", (3, 3)), "x": ("gen", (3, 1)), "mu": ("gen", (3, 1))}
GAUSS_DECL = {"S": "symmetric", "mu": "vector"}

MLP = "||{a}(X W1 + b1^T) W2 + b2^T - Y||_F^2"
CE = "-y^T log(softmax(W2 tanh(W1 x + b1) + b2))"
SMR = "-y^T log(softmax(W x + b))"
GAUSS = "logdet(S) + (x - mu)^T inv(S) (x - mu)"
RIDGE = "||X w - y||^2 + lambda ||w||^2"
LOGREG = "sum(log(1 + exp(-y .* (X w))))"
BCE = "-sum(y .* log(sigmoid(X w)) + (1 - y) .* log(1 - sigmoid(X w)))"

# fmt: off
CASES = [
    # ---- traces (Matrix Cookbook, section 2.5)
    Case("tr(AX)", "tr(A X)", "X", None, {"A": ("gen", (3, 4)), "X": ("gen", (4, 3))},
         lambda v: v["A"].T),
    Case("tr(X^T A)", "tr(X^T A)", "X", None, {"A": ("gen", (3, 4)), "X": ("gen", (3, 4))},
         lambda v: v["A"]),
    Case("tr(AXB)", "tr(A X B)", "X", None, {"A": ("gen", (2, 3)), "X": ("gen", (3, 4)), "B": ("gen", (4, 2))},
         lambda v: v["A"].T @ v["B"].T),
    Case("tr(X^T A X)", "tr(X^T A X)", "X", None, {"A": ("gen", (3, 3)), "X": ("gen", (3, 4))},
         lambda v: (v["A"] + v["A"].T) @ v["X"]),
    Case("tr(X A X^T)", "tr(X A X^T)", "X", None, {"A": ("gen", (3, 3)), "X": ("gen", (4, 3))},
         lambda v: v["X"] @ (v["A"] + v["A"].T)),
    Case("tr(X^2)", "tr(X^2)", "X", None, {"X": ("gen", (3, 3))},
         lambda v: 2 * v["X"].T),
    Case("tr(X^3)", "tr(X^3)", "X", None, {"X": ("gen", (3, 3))},
         lambda v: 3 * (v["X"] @ v["X"]).T),
    Case("tr(X^-1 A)", "tr(X^-1 A)", "X", None, {"X": ("inv", (3, 3)), "A": ("gen", (3, 3))},
         lambda v: -(inv(v["X"]) @ v["A"] @ inv(v["X"])).T),
    Case("tr(A X^-1 B)", "tr(A X^-1 B)", "X", None,
         {"A": ("gen", (2, 3)), "X": ("inv", (3, 3)), "B": ("gen", (3, 2))},
         lambda v: -(inv(v["X"]) @ v["B"] @ v["A"] @ inv(v["X"])).T),
    Case("tr(X^-1)", "tr(X^-1)", "X", None, {"X": ("inv", (3, 3))},
         lambda v: -(inv(v["X"]) @ inv(v["X"])).T),
    Case("tr(X A X B)", "tr(X A X B)", "X", None, {"X": ("gen", (3, 3)), "A": ("gen", (3, 3)), "B": ("gen", (3, 3))},
         lambda v: (v["A"] @ v["X"] @ v["B"]).T + (v["B"] @ v["X"] @ v["A"]).T),
    Case("tr(AX), X symmetric", "tr(A X)", "X", {"X": "symmetric"}, {"A": ("gen", (3, 3)), "X": ("spd", (3, 3))},
         lambda v: (v["A"] + v["A"].T) / 2),
    Case("tr(X^T A X), A symmetric", "tr(X^T A X)", "X", {"A": "symmetric"},
         {"A": ("spd", (3, 3)), "X": ("gen", (3, 2))},
         lambda v: 2 * v["A"] @ v["X"]),
    # ---- determinants (Cookbook, section 2.1)
    Case("det(X)", "det(X)", "X", None, {"X": ("inv", (3, 3))},
         lambda v: det(v["X"]) * inv(v["X"]).T),
    Case("logdet(X)", "logdet(X)", "X", None, {"X": ("inv", (4, 4))},
         lambda v: inv(v["X"]).T),
    Case("logdet(S), S symmetric", "logdet(S)", "S", {"S": "symmetric"}, {"S": ("spd", (3, 3))},
         lambda v: inv(v["S"])),
    Case("det(AXB) square", "det(AXB)", "X", None, {"A": ("inv", (3, 3)), "X": ("inv", (3, 3)), "B": ("inv", (3, 3))},
         lambda v: det(v["A"] @ v["X"] @ v["B"]) * inv(v["X"]).T),
    Case("det(AXB) rectangular", "det(AXB)", "X", None,
         {"A": ("gen", (3, 4)), "X": ("gen", (4, 5)), "B": ("gen", (5, 3))},
         lambda v: det(v["A"] @ v["X"] @ v["B"]) * v["A"].T @ inv(v["A"] @ v["X"] @ v["B"]).T @ v["B"].T),
    Case("det(X^T A X)", "det(X^T A X)", "X", None, {"A": ("inv", (4, 4)), "X": ("gen", (4, 2))},
         lambda v: det(v["X"].T @ v["A"] @ v["X"]) * (
             v["A"] @ v["X"] @ inv(v["X"].T @ v["A"] @ v["X"]) + v["A"].T @ v["X"] @ inv(v["X"].T @ v["A"].T @ v["X"]))),
    Case("det(X^T A X) square, A symmetric", "det(X^T A X)", "X", {"A": "symmetric"},
         {"A": ("spd", (3, 3)), "X": ("inv", (3, 3))},
         lambda v: 2 * det(v["X"].T @ v["A"] @ v["X"]) * inv(v["X"]).T),
    Case("logdet(X^T X)", "logdet(X^T X)", "X", None, {"X": ("gen", (5, 3))},
         lambda v: 2 * v["X"] @ inv(v["X"].T @ v["X"])),
    # ---- inverses and bilinear forms
    Case("a^T X^-1 b", "a^T X^-1 b", "X", None, {"a": ("gen", (3, 1)), "X": ("inv", (3, 3)), "b": ("gen", (3, 1))},
         lambda v: -inv(v["X"]).T @ v["a"] @ v["b"].T @ inv(v["X"]).T),
    Case("a^T X b", "a^T X b", "X", None, {"a": ("gen", (3, 1)), "X": ("gen", (3, 4)), "b": ("gen", (4, 1))},
         lambda v: v["a"] @ v["b"].T),
    Case("a^T X b, X symmetric", "a^T X b", "X", {"X": "symmetric"},
         {"a": ("gen", (3, 1)), "X": ("spd", (3, 3)), "b": ("gen", (3, 1))},
         lambda v: (v["a"] @ v["b"].T + v["b"] @ v["a"].T) / 2),
    Case("a^T X^T X b", "a^T X^T X b", "X", None, {"a": ("gen", (3, 1)), "X": ("gen", (4, 3)), "b": ("gen", (3, 1))},
         lambda v: v["X"] @ (v["a"] @ v["b"].T + v["b"] @ v["a"].T)),
    Case("x^T A^-1 x wrt A", "x^T A^-1 x", "A", None, {"x": ("gen", (3, 1)), "A": ("inv", (3, 3))},
         lambda v: -inv(v["A"]).T @ v["x"] @ v["x"].T @ inv(v["A"]).T),
    Case("x^T A^2 x wrt A", "x^T A^2 x", "A", None, {"x": ("gen", (3, 1)), "A": ("gen", (3, 3))},
         lambda v: v["x"] @ (v["A"] @ v["x"]).T + (v["A"].T @ v["x"]) @ v["x"].T),
    # ---- norms
    Case("||x||", "||x||", "x", None, {"x": ("gen", (4, 1))},
         lambda v: v["x"] / np.linalg.norm(v["x"])),
    Case("||x||^2", "||x||^2", "x", None, {"x": ("gen", (4, 1))},
         lambda v: 2 * v["x"]),
    Case("||x||^3", "||x||^3", "x", None, {"x": ("gen", (4, 1))},
         lambda v: 3 * np.linalg.norm(v["x"]) * v["x"]),
    Case("(x^T x)^(3/2)", "(x^T x)^(3/2)", "x", None, {"x": ("gen", (4, 1))},
         lambda v: 3 * np.linalg.norm(v["x"]) * v["x"]),
    Case("||Ax - b||^2", "||A x - b||^2", "x", None, {"A": ("gen", (5, 3)), "x": ("gen", (3, 1)), "b": ("gen", (5, 1))},
         lambda v: 2 * v["A"].T @ (v["A"] @ v["x"] - v["b"])),
    Case("||Ax - b||", "||A x - b||", "x", None, {"A": ("gen", (5, 3)), "x": ("gen", (3, 1)), "b": ("gen", (5, 1))},
         lambda v: v["A"].T @ (v["A"] @ v["x"] - v["b"]) / np.linalg.norm(v["A"] @ v["x"] - v["b"])),
    Case("||X||_F^2", "||X||_F^2", "X", None, {"X": ("gen", (3, 4))},
         lambda v: 2 * v["X"]),
    Case("||X||_F", "||X||_F", "X", None, {"X": ("gen", (3, 4))},
         lambda v: v["X"] / np.linalg.norm(v["X"])),
    Case("||AXB - C||_F^2", "||A X B - C||_F^2", "X", None,
         {"A": ("gen", (4, 3)), "X": ("gen", (3, 2)), "B": ("gen", (2, 5)), "C": ("gen", (4, 5))},
         lambda v: 2 * v["A"].T @ (v["A"] @ v["X"] @ v["B"] - v["C"]) @ v["B"].T),
    Case("||X^T X - I||_F^2", "||X^T X - I||_F^2", "X", None, {"X": ("gen", (4, 3))},
         lambda v: 4 * v["X"] @ (v["X"].T @ v["X"] - np.eye(3))),
    Case("||U V^T - T||_F^2 wrt U", "||U V^T - T||_F^2", "U", None,
         {"U": ("gen", (4, 2)), "V": ("gen", (5, 2)), "T": ("gen", (4, 5))},
         lambda v: 2 * (v["U"] @ v["V"].T - v["T"]) @ v["V"]),
    Case("||U V^T - T||_F^2 wrt V", "||U V^T - T||_F^2", "V", None,
         {"U": ("gen", (4, 2)), "V": ("gen", (5, 2)), "T": ("gen", (4, 5))},
         lambda v: 2 * (v["U"] @ v["V"].T - v["T"]).T @ v["U"]),
    # ---- quadratic forms
    Case("x^T A x", "x^T A x", "x", None, {"A": ("gen", (3, 3)), "x": ("gen", (3, 1))},
         lambda v: (v["A"] + v["A"].T) @ v["x"]),
    Case("x' A x", "x' A x", "x", None, {"A": ("gen", (3, 3)), "x": ("gen", (3, 1))},
         lambda v: (v["A"] + v["A"].T) @ v["x"]),
    Case("x^T A x, A symmetric", "x^T A x", "x", {"A": "symmetric"}, {"A": ("spd", (3, 3)), "x": ("gen", (3, 1))},
         lambda v: 2 * v["A"] @ v["x"]),
    Case("x^T inv(A) x", "x^T inv(A) x", "x", None, {"A": ("inv", (3, 3)), "x": ("gen", (3, 1))},
         lambda v: (inv(v["A"]) + inv(v["A"]).T) @ v["x"]),
    Case("(x^T A x)(x^T B x)", "(x^T A x)(x^T B x)", "x", None,
         {"A": ("gen", (3, 3)), "B": ("gen", (3, 3)), "x": ("gen", (3, 1))},
         lambda v: (v["x"].T @ v["B"] @ v["x"]).item() * (v["A"] + v["A"].T) @ v["x"]
         + (v["x"].T @ v["A"] @ v["x"]).item() * (v["B"] + v["B"].T) @ v["x"]),
    Case("(a^T x)(b^T x)", "(a^T x) (b^T x)", "x", None, {"a": ("gen", (3, 1)), "b": ("gen", (3, 1)), "x": ("gen", (3, 1))},
         lambda v: (v["b"].T @ v["x"]).item() * v["a"] + (v["a"].T @ v["x"]).item() * v["b"]),
    Case("Rayleigh (x^T A x)/(x^T x)", "(x^T A x)/(x^T x)", "x", None, {"A": ("gen", (3, 3)), "x": ("gen", (3, 1))},
         rayleigh),
    Case("log(x^T A x)", "log(x^T A x)", "x", None, {"A": ("spd", (3, 3)), "x": ("gen", (3, 1))},
         lambda v: (v["A"] + v["A"].T) @ v["x"] / (v["x"].T @ v["A"] @ v["x"]).item()),
    Case("exp(a^T x)", "exp(a^T x)", "x", None, {"a": ("gen", (3, 1)), "x": ("gen", (3, 1))},
         lambda v: np.exp((v["a"].T @ v["x"]).item()) * v["a"]),
    # ---- element-wise
    Case("sum(x .^ 3)", "sum(x .^ 3)", "x", None, {"x": ("gen", (4, 1))},
         lambda v: 3 * v["x"] ** 2),
    Case("sum(x ./ y) wrt y", "sum(x ./ y)", "y", None, {"x": ("gen", (4, 1)), "y": ("pos", (4, 1))},
         lambda v: -v["x"] / v["y"] ** 2),
    Case("sum(sqrt(x))", "sum(sqrt(x))", "x", None, {"x": ("pos", (4, 1))},
         lambda v: 0.5 / np.sqrt(v["x"])),
    Case("sum(tanh(A x))", "sum(tanh(A x))", "x", None, {"A": ("gen", (4, 3)), "x": ("gen", (3, 1))},
         lambda v: v["A"].T @ (1 - np.tanh(v["A"] @ v["x"]) ** 2)),
    Case("sum(exp(X))", "sum(exp(X))", "X", None, {"X": ("gen", (3, 2))},
         lambda v: np.exp(v["X"])),
    # ---- ML losses
    Case("least squares", "||X w - y||^2", "w", None, {"X": ("gen", (6, 3)), "w": ("gen", (3, 1)), "y": ("gen", (6, 1))},
         lambda v: 2 * v["X"].T @ (v["X"] @ v["w"] - v["y"])),
    Case("ridge wrt w", RIDGE, "w", {"lambda": "scalar"},
         {"X": ("gen", (6, 3)), "w": ("gen", (3, 1)), "y": ("gen", (6, 1)), "lambda": ("scalar", ())},
         lambda v: 2 * v["X"].T @ (v["X"] @ v["w"] - v["y"]) + 2 * v["lambda"] * v["w"]),
    Case("ridge wrt lambda", RIDGE, "lambda", {"lambda": "scalar"},
         {"X": ("gen", (6, 3)), "w": ("gen", (3, 1)), "y": ("gen", (6, 1)), "lambda": ("scalar", ())},
         lambda v: np.sum(v["w"] ** 2)),
    Case("logistic regression wrt w", LOGREG, "w", None,
         {"X": ("gen", (6, 3)), "w": ("gen", (3, 1)), "y": ("sign", (6, 1))},
         lambda v: -v["X"].T @ (v["y"] / (1 + np.exp(v["y"] * (v["X"] @ v["w"]))))),
    Case("logistic regression wrt X", LOGREG, "X", None,
         {"X": ("gen", (6, 3)), "w": ("gen", (3, 1)), "y": ("sign", (6, 1))},
         lambda v: -(v["y"] / (1 + np.exp(v["y"] * (v["X"] @ v["w"])))) @ v["w"].T),
    Case("binary cross-entropy wrt w", BCE, "w", None,
         {"X": ("gen", (6, 3)), "w": ("gen", (3, 1)), "y": ("pos", (6, 1))},
         lambda v: v["X"].T @ (sigmoid(v["X"] @ v["w"]) - v["y"])),
    Case("sum(softplus(X w))", "sum(softplus(X w))", "w", None, {"X": ("gen", (6, 3)), "w": ("gen", (3, 1))},
         lambda v: v["X"].T @ sigmoid(v["X"] @ v["w"])),
    Case("softmax regression wrt W", SMR, "W", None, SMR_SPEC, lambda v: softmax_reg(v)["W"]),
    Case("softmax regression wrt b", SMR, "b", None, SMR_SPEC, lambda v: softmax_reg(v)["b"]),
    Case("softmax regression wrt x", SMR, "x", None, SMR_SPEC, lambda v: softmax_reg(v)["x"]),
    Case("softmax regression wrt W, y not summing to 1", SMR, "W", None, SMR_SPEC_SOFT, lambda v: softmax_reg(v)["W"]),
    Case("logsumexp(x)", "logsumexp(x)", "x", None, {"x": ("gen", (4, 1))},
         lambda v: softmax(v["x"])),
    Case("logsumexp(A x)", "logsumexp(A x)", "x", None, {"A": ("gen", (5, 3)), "x": ("gen", (3, 1))},
         lambda v: v["A"].T @ softmax(v["A"] @ v["x"])),
    Case("logsumexp form of softmax loss wrt W", "logsumexp(W x + b) - y^T (W x + b)", "W", None, SMR_SPEC,
         lambda v: softmax_reg(v)["W"]),
    Case("Gaussian wrt mu", GAUSS, "mu", GAUSS_DECL, GAUSS_SPEC, lambda v: gaussian(v)["mu"]),
    Case("Gaussian wrt x", GAUSS, "x", GAUSS_DECL, GAUSS_SPEC, lambda v: gaussian(v)["x"]),
    Case("Gaussian wrt S", GAUSS, "S", GAUSS_DECL, GAUSS_SPEC, lambda v: gaussian(v)["S"]),
    Case("sigmoid MLP wrt W1", MLP.format(a="sigmoid"), "W1", None, MLP_SPEC, lambda v: MLP_SIG(v)["W1"]),
    Case("sigmoid MLP wrt b1", MLP.format(a="sigmoid"), "b1", None, MLP_SPEC, lambda v: MLP_SIG(v)["b1"]),
    Case("sigmoid MLP wrt W2", MLP.format(a="sigmoid"), "W2", None, MLP_SPEC, lambda v: MLP_SIG(v)["W2"]),
    Case("sigmoid MLP wrt b2", MLP.format(a="sigmoid"), "b2", None, MLP_SPEC, lambda v: MLP_SIG(v)["b2"]),
    Case("tanh MLP wrt W1", MLP.format(a="tanh"), "W1", None, MLP_SPEC, lambda v: MLP_TANH(v)["W1"]),
    Case("tanh MLP wrt b1", MLP.format(a="tanh"), "b1", None, MLP_SPEC, lambda v: MLP_TANH(v)["b1"]),
    Case("tanh MLP wrt W2", MLP.format(a="tanh"), "W2", None, MLP_SPEC, lambda v: MLP_TANH(v)["W2"]),
    Case("tanh MLP wrt b2", MLP.format(a="tanh"), "b2", None, MLP_SPEC, lambda v: MLP_TANH(v)["b2"]),
    Case("relu MLP wrt W1", MLP.format(a="relu"), "W1", None, MLP_SPEC, lambda v: MLP_RELU(v)["W1"]),
    Case("relu MLP wrt b1", MLP.format(a="relu"), "b1", None, MLP_SPEC, lambda v: MLP_RELU(v)["b1"]),
    Case("relu MLP wrt W2", MLP.format(a="relu"), "W2", None, MLP_SPEC, lambda v: MLP_RELU(v)["W2"]),
    Case("relu MLP wrt b2", MLP.format(a="relu"), "b2", None, MLP_SPEC, lambda v: MLP_RELU(v)["b2"]),
    Case("cross-entropy one sample wrt W1", CE, "W1", None, CE_SPEC, lambda v: ce_one_sample(v)["W1"]),
    Case("cross-entropy one sample wrt b1", CE, "b1", None, CE_SPEC, lambda v: ce_one_sample(v)["b1"]),
    Case("cross-entropy one sample wrt W2", CE, "W2", None, CE_SPEC, lambda v: ce_one_sample(v)["W2"]),
    Case("cross-entropy one sample wrt b2", CE, "b2", None, CE_SPEC, lambda v: ce_one_sample(v)["b2"]),
    Case("cross-entropy one sample wrt x", CE, "x", None, CE_SPEC, lambda v: ce_one_sample(v)["x"]),
    # ---- cases checked numerically only
    Case("sum(diag(X))", "sum(diag(X))", "X", None, {"X": ("gen", (3, 3))}, None),
    Case("tr(diag(x) A)", "tr(diag(x) A)", "x", None, {"x": ("gen", (3, 1)), "A": ("gen", (3, 3))}, None),
    Case("sum(abs(x))", "sum(abs(x))", "x", None, {"x": ("gen", (4, 1))}, None),
    Case("theta^T x", "theta^T x", "theta", {"theta": "vector"}, {"theta": ("gen", (3, 1)), "x": ("gen", (3, 1))}, None),
    Case("sum(x .^ 2) / c", "sum(x .^ 2) / c", "x", {"c": "scalar"}, {"x": ("gen", (3, 1)), "c": ("scalar", ())}, None),
    Case("tr(S^-1 A), S symmetric", "tr(S^-1 A)", "S", {"S": "symmetric"}, {"S": ("spd", (3, 3)), "A": ("gen", (3, 3))}, None),
]
# fmt: on

WITH_CLOSED_FORM = [c for c in CASES if c.closed is not None]


def test_corpus_size():
    assert len(CASES) >= 45
    assert len(WITH_CLOSED_FORM) >= 25
    assert len({c.id for c in CASES}) == len(CASES)


def draw(spec: dict, seed: int) -> dict:
    """Values for a case, vectors as columns."""
    rng = np.random.default_rng(seed)
    values = {}
    for name in sorted(spec):
        kind, shape = spec[name]
        if kind == "gen":
            values[name] = rng.standard_normal(shape)
        elif kind == "inv":
            values[name] = 2 * np.eye(shape[0]) + 0.3 * rng.standard_normal(shape)
        elif kind == "spd":
            m = rng.standard_normal(shape)
            values[name] = m @ m.T / shape[0] + np.eye(shape[0])
        elif kind == "pos":
            values[name] = rng.uniform(0.5, 1.5, shape)
        elif kind == "sign":
            values[name] = rng.choice([-1.0, 1.0], size=shape)
        elif kind == "onehot":
            values[name] = np.zeros(shape)
            values[name][rng.integers(shape[0]), 0] = 1.0
        elif kind == "scalar":
            values[name] = float(rng.uniform(0.5, 1.5))
        else:
            raise ValueError(kind)
    return values


def seed_of(case: Case) -> int:
    return zlib.crc32(case.id.encode())


def flat_vectors(values: dict) -> dict:
    """The same values with column vectors given as flat (n,) arrays."""
    return {k: (v.reshape(-1) if isinstance(v, np.ndarray) and v.ndim == 2 and v.shape[1] == 1 else v)
            for k, v in values.items()}


def _gradient(case: Case):
    return matcalc.gradient(case.expr, wrt=case.wrt, declare=case.declare)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_numeric_check(case):
    r = _gradient(case)
    report = r.check()
    assert report, f"{case.expr} wrt {case.wrt} (declare={case.declare}): gradient {r}; check: {report}"


@pytest.mark.parametrize("case", WITH_CLOSED_FORM, ids=[c.id for c in WITH_CLOSED_FORM])
def test_closed_form(case):
    r = _gradient(case)
    values = draw(case.spec, seed_of(case))
    expected = np.asarray(case.closed(values), dtype=float)
    given = flat_vectors(values) if [c.id for c in CASES].index(case.id) % 2 else values
    got = np.asarray(r.evaluate(given), dtype=float)
    assert got.shape == np.shape(given[case.wrt]), f"{case.expr} wrt {case.wrt}: shape {got.shape}"
    np.testing.assert_allclose(
        got.reshape(np.shape(expected)), expected, rtol=1e-8, atol=1e-10,
        err_msg=f"{case.expr} wrt {case.wrt} (declare={case.declare}): matcalc gives {r}")


@pytest.mark.parametrize(
    "expr, wrt, declare",
    [(MLP.format(a="sigmoid"), ["W1", "b1", "W2", "b2"], None), (GAUSS, ["mu", "S"], GAUSS_DECL),
     (SMR, ["W", "b"], None), (CE, ["W1", "b1", "W2", "b2"], None)],
)
def test_several_variables_match_one_at_a_time(expr, wrt, declare):
    together = matcalc.gradient(expr, wrt=wrt, declare=declare)
    assert set(together) == set(wrt)
    for name in wrt:
        alone = matcalc.gradient(expr, wrt=name, declare=declare)
        assert together[name].expr == alone.expr, name
        assert together[name].check(), f"{expr} wrt {name}: {together[name].check()}"


def structure(e):
    """The tree of an expression without its symbolic sizes, whose names (n, m, ...) a parse
    of the text alone assigns afresh and which the text cannot carry (X square in 2 X^T)."""
    leaf = (getattr(e, "name", None), getattr(e, "kind", None), getattr(e, "fn", None), getattr(e, "exponent", None),
            str(e) if not e.children() else None)
    return (type(e).__name__, leaf, tuple(structure(c) for c in e.children()))


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_result_round_trips_through_the_parser(case):
    r = _gradient(case)
    parsed = matcalc.parse(str(r), case.declare)
    assert str(parsed) == str(r)
    assert structure(parsed) == structure(r.expr), f"{case.expr} wrt {case.wrt}: {r} parses to another tree"
