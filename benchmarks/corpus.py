"""The derivation corpus: gradients and Hessians from the Matrix Cookbook and machine learning.

Each case is written twice: in matcalc's input grammar, and (where SymPy's matrix
expressions can say it) as a SymPy ``MatrixSymbol`` expression.  The SymPy form is the
most direct one SymPy accepts; where two direct forms exist (``log(1 + exp(t))`` applied
through one ``Lambda`` or as ``log`` of ``1 + exp``), the one SymPy copes with is kept.
``sympy=None`` means SymPy's matrix expressions have no way to write the function.

Variables are given as ``"A[n,n] x[n] lam[]"``: a matrix, a column vector, a scalar.
Dimensions are names; the numeric check gives them the sizes in ``DEFAULT_SIZES`` (all
different, so that a misplaced transpose shows) unless a case sets ``sizes``.  Names in
``spd`` get symmetric positive definite values; square matrices get ``2 I + 0.3 N(0, 1)``
(well conditioned, positive determinant); with ``positive`` every other entry is drawn
from [0.5, 1.5].

Cookbook numbers refer to Petersen and Pedersen, *The Matrix Cookbook* (version of
November 15, 2012).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable

import sympy as sp
from sympy import (
    Determinant,
    HadamardPower,
    HadamardProduct,
    Inverse,
    KroneckerProduct,
    OneMatrix,
    Rational,
    Trace,
    exp,
    log,
    sqrt,
    tanh,
)

DEFAULT_SIZES = {"n": 3, "m": 4, "p": 2, "k": 5}


@dataclass(frozen=True)
class Case:
    name: str
    text: str  # matcalc's input
    wrt: str
    variables: str  # "A[n,n] x[n] lam[]"
    sympy: Callable | None  # namespace -> SymPy expression, or None: not expressible
    kind: str = "gradient"  # or "hessian"
    source: str = ""
    declare: dict = field(default_factory=dict)
    spd: tuple = ()
    positive: bool = False
    sizes: dict = field(default_factory=dict)

    def shapes(self) -> dict:
        """name -> (rows, cols) with dimension names or 1."""
        out = {}
        for name, dims in re.findall(r"(\w+)\[([^\]]*)\]", self.variables):
            parts = [d.strip() for d in dims.split(",") if d.strip()]
            if not parts:
                out[name] = (1, 1)
            elif len(parts) == 1:
                out[name] = (parts[0], 1)
            else:
                out[name] = (parts[0], parts[1])
        return out

    def dim_sizes(self) -> dict:
        return {**DEFAULT_SIZES, **self.sizes}


# ------------------------------------------------------------------ SymPy helpers

tr, det, inv, had, kron = Trace, Determinant, Inverse, HadamardProduct, KroneckerProduct


def ones(rows, cols):
    return OneMatrix(rows, cols)


def total(M):
    """sum of all entries as a 1x1 matrix expression."""
    return ones(1, M.rows) * M * ones(M.cols, 1)


def sq(M):
    """squared Frobenius (or 2-) norm."""
    return tr(M.T * M)


_t = sp.Symbol("t", real=True)
sigmoid = sp.Lambda(_t, 1 / (1 + exp(-_t)))
softplus = sp.Lambda(_t, log(1 + exp(_t)))
relu = sp.Lambda(_t, sp.Max(0, _t))


def ew(M, f):
    """element-wise application."""
    return M.applyfunc(f)


# ------------------------------------------------------------------ gradients

G = "gradient"
H = "hessian"

CASES: list[Case] = [
    # traces (Cookbook 2.5)
    Case("tr(AX)", "tr(A X)", "X", "A[n,n] X[n,n]", lambda s: tr(s.A * s.X), source="Cookbook (100)"),
    Case("tr(X^T A)", "tr(X^T A)", "X", "X[n,m] A[n,m]", lambda s: tr(s.X.T * s.A), source="Cookbook (101)"),
    Case("tr(AXB)", "tr(A X B)", "X", "A[m,n] X[n,p] B[p,m]", lambda s: tr(s.A * s.X * s.B), source="Cookbook (102)"),
    Case("tr(AX^TB)", "tr(A X^T B)", "X", "A[m,p] X[n,p] B[n,m]", lambda s: tr(s.A * s.X.T * s.B),
         source="Cookbook (103)"),
    Case("tr(X^T A X)", "tr(X^T A X)", "X", "X[n,m] A[n,n]", lambda s: tr(s.X.T * s.A * s.X), source="Cookbook (108)"),
    Case("tr(X A X^T)", "tr(X A X^T)", "X", "X[n,m] A[m,m]", lambda s: tr(s.X * s.A * s.X.T), source="Cookbook (109)"),
    Case("tr(X^T X)", "tr(X^T X)", "X", "X[n,m]", lambda s: tr(s.X.T * s.X), source="Cookbook (104)"),
    Case("tr(X B X^T C)", "tr(X B X^T C)", "X", "X[n,m] B[m,m] C[n,n]", lambda s: tr(s.X * s.B * s.X.T * s.C),
         source="Cookbook (116)"),
    Case("tr(X^T B X C)", "tr(X^T B X C)", "X", "X[n,m] B[n,n] C[m,m]", lambda s: tr(s.X.T * s.B * s.X * s.C),
         source="Cookbook (117)"),
    Case("tr(A X B X)", "tr(A X B X)", "X", "A[n,n] X[n,n] B[n,n]", lambda s: tr(s.A * s.X * s.B * s.X),
         source="Cookbook (115)"),
    Case("tr(X^2)", "tr(X^2)", "X", "X[n,n]", lambda s: tr(s.X ** 2), source="Cookbook (106)"),
    Case("tr(X^3)", "tr(X^3)", "X", "X[n,n]", lambda s: tr(s.X ** 3), source="Cookbook (107)"),
    Case("tr(A X^-1 B)", "tr(A X^-1 B)", "X", "A[m,n] X[n,n] B[n,m]", lambda s: tr(s.A * inv(s.X) * s.B),
         source="Cookbook (124)"),
    Case("tr(X^-1)", "tr(inv(X))", "X", "X[n,n]", lambda s: tr(inv(s.X)), source="Cookbook (124)"),
    Case("tr(inv(A + X))", "tr(inv(A + X))", "X", "A[n,n] X[n,n]", lambda s: tr(inv(s.A + s.X)), spd=("A",)),
    Case("tr(kron(A, X))", "tr(kron(A, X))", "X", "A[m,m] X[n,n]", lambda s: tr(kron(s.A, s.X)), source="Cookbook (126)"),
    # determinants (Cookbook 2.1)
    Case("det(X)", "det(X)", "X", "X[n,n]", lambda s: det(s.X), source="Cookbook (49)"),
    Case("logdet(X)", "logdet(X)", "X", "X[n,n]", lambda s: log(det(s.X)), source="Cookbook (57)"),
    Case("det(AXB)", "det(A X B)", "X", "A[n,n] X[n,n] B[n,n]", lambda s: det(s.A * s.X * s.B), source="Cookbook (51)"),
    Case("det(X^T A X)", "det(X^T A X)", "X", "X[n,n] A[n,n]", lambda s: det(s.X.T * s.A * s.X), spd=("A",),
         source="Cookbook (53)"),
    Case("logdet(X^T X)", "logdet(X^T X)", "X", "X[n,m]", lambda s: log(det(s.X.T * s.X)), sizes={"n": 5, "m": 3},
         source="Cookbook (55)"),
    Case("det(X^2)", "det(X^2)", "X", "X[n,n]", lambda s: det(s.X ** 2), source="Cookbook (56)"),
    # inverses (Cookbook 2.2)
    Case("a^T X^-1 b", "a^T X^-1 b", "X", "a[n] X[n,n] b[n]", lambda s: s.a.T * inv(s.X) * s.b, source="Cookbook (61)"),
    Case("x^T A^-1 x (wrt A)", "x^T A^-1 x", "A", "x[n] A[n,n]", lambda s: s.x.T * inv(s.A) * s.x),
    # norms (Cookbook 2.6)
    Case("||x||", "||x||", "x", "x[n]", lambda s: sqrt(s.x.T * s.x), source="Cookbook (131)"),
    Case("||x||^3", "||x||^3", "x", "x[n]", lambda s: (s.x.T * s.x) ** Rational(3, 2)),
    Case("||x - y||", "||x - y||", "x", "x[n] y[n]", lambda s: sqrt((s.x - s.y).T * (s.x - s.y)), source="Cookbook (129)"),
    Case("||X||_F", "||X||_F", "X", "X[n,m]", lambda s: sqrt(tr(s.X.T * s.X))),
    Case("||X||_F^2", "||X||_F^2", "X", "X[n,m]", lambda s: sq(s.X), source="Cookbook (132)"),
    Case("||Ax - b||^2", "||A x - b||^2", "x", "A[m,n] x[n] b[m]", lambda s: (s.A * s.x - s.b).T * (s.A * s.x - s.b),
         source="least squares"),
    Case("||XW - Y||_F^2", "||X W - Y||_F^2", "W", "X[n,m] W[m,p] Y[n,p]", lambda s: sq(s.X * s.W - s.Y),
         source="multi-output least squares"),
    Case("||AXB - C||_F^2", "||A X B - C||_F^2", "X", "A[m,n] X[n,p] B[p,k] C[m,k]",
         lambda s: sq(s.A * s.X * s.B - s.C)),
    # quadratic and bilinear forms (Cookbook 2.4)
    Case("x^T A x", "x^T A x", "x", "x[n] A[n,n]", lambda s: s.x.T * s.A * s.x, source="Cookbook (81)"),
    Case("x^T A x, A symmetric", "x^T A x", "x", "x[n] A[n,n]", lambda s: s.x.T * s.A * s.x, declare={"A": "symmetric"},
         spd=("A",), source="Cookbook (81)"),
    Case("a^T X b", "a^T X b", "X", "a[n] X[n,m] b[m]", lambda s: s.a.T * s.X * s.b, source="Cookbook (70)"),
    Case("a^T X^T b", "a^T X^T b", "X", "a[m] X[n,m] b[n]", lambda s: s.a.T * s.X.T * s.b, source="Cookbook (71)"),
    Case("b^T X^T X c", "b^T X^T X c", "X", "b[m] X[n,m] c[m]", lambda s: s.b.T * s.X.T * s.X * s.c,
         source="Cookbook (77)"),
    Case("b^T X^T D X c", "b^T X^T D X c", "X", "b[m] X[n,m] D[n,n] c[m]", lambda s: s.b.T * s.X.T * s.D * s.X * s.c,
         source="Cookbook (78)"),
    Case("(Xb + c)^T D (Xb + c)", "(X b + c)^T D (X b + c)", "X", "X[n,m] b[m] c[n] D[n,n]",
         lambda s: (s.X * s.b + s.c).T * s.D * (s.X * s.b + s.c), source="Cookbook (84)"),
    Case("x^T A y (wrt A)", "x^T A y", "A", "x[n] A[n,m] y[m]", lambda s: s.x.T * s.A * s.y),
    Case("(x - mu)^T S (x - mu)", "(x - mu)^T S (x - mu)", "mu", "x[n] mu[n] S[n,n]",
         lambda s: (s.x - s.mu).T * s.S * (s.x - s.mu), declare={"mu": "vector"}, source="Cookbook (86)"),
    Case("(x^T A x)(x^T B x)", "(x^T A x)(x^T B x)", "x", "x[n] A[n,n] B[n,n]",
         lambda s: (s.x.T * s.A * s.x) * (s.x.T * s.B * s.x)),
    Case("x^T A x / x^T x", "x^T A x / (x^T x)", "x", "x[n] A[n,n]",
         lambda s: (s.x.T * s.A * s.x) * (s.x.T * s.x) ** -1, source="Rayleigh quotient"),
    Case("log(x^T A x)", "log(x^T A x)", "x", "x[n] A[n,n]", lambda s: log(s.x.T * s.A * s.x), spd=("A",)),
    Case("exp(a^T X b)", "exp(a^T X b)", "X", "a[n] X[n,m] b[m]", lambda s: exp(s.a.T * s.X * s.b)),
    # element-wise products and functions
    Case("x^T (A .* B) x (wrt A)", "x^T (A .* B) x", "A", "x[n] A[n,n] B[n,n]", lambda s: s.x.T * had(s.A, s.B) * s.x),
    Case("sum(X .* (A X))", "sum(X .* (A X))", "X", "X[n,m] A[n,n]", lambda s: total(had(s.X, s.A * s.X))),
    Case("sum(exp(X))", "sum(exp(X))", "X", "X[n,m]", lambda s: total(ew(s.X, exp))),
    Case("sum(x .^ 3)", "sum(x .^ 3)", "x", "x[n]", lambda s: total(HadamardPower(s.x, 3))),
    Case("sum(tanh(W x + b)) (wrt W)", "sum(tanh(W x + b))", "W", "W[n,m] x[m] b[n]", lambda s: total(ew(s.W * s.x + s.b, tanh))),
    # machine-learning losses
    Case("logistic loss", "sum(log(1 + exp(-y .* (X w))))", "w", "X[n,m] w[m] y[n]",
         lambda s: total(ew(had(-s.y, s.X * s.w), softplus)), source="logistic regression"),
    Case("softplus - y^T X w", "sum(softplus(X w)) - y^T X w", "w", "X[n,m] w[m] y[n]",
         lambda s: total(ew(s.X * s.w, softplus)) - s.y.T * s.X * s.w, source="logistic regression, 0/1 labels"),
    Case("Poisson regression", "sum(exp(X w)) - y^T X w", "w", "X[n,m] w[m] y[n]",
         lambda s: total(ew(s.X * s.w, exp)) - s.y.T * s.X * s.w, source="Poisson GLM"),
    Case("ridge", "||X w - y||^2 + lam ||w||^2", "w", "X[n,m] w[m] y[n] lam[]",
         lambda s: (s.X * s.w - s.y).T * (s.X * s.w - s.y) + s.lam * (s.w.T * s.w), declare={"lam": "scalar"},
         positive=True, source="ridge regression"),
    Case("hinge (relu)", "sum(relu(1 - y .* (X w)))", "w", "X[n,m] w[m] y[n]",
         lambda s: total(ew(ones(s.n, 1) - had(s.y, s.X * s.w), relu)), source="SVM hinge loss"),
    Case("softmax cross-entropy (wrt W)", "-y^T log(softmax(W x + b))", "W", "W[n,m] x[m] b[n] y[n]",
         lambda s: -s.y.T * (s.W * s.x + s.b) + total(s.y) * log(total(ew(s.W * s.x + s.b, exp))),
         source="multinomial logistic regression"),
    Case("logsumexp(W x) (wrt x)", "logsumexp(W x)", "x", "W[n,m] x[m]", lambda s: log(total(ew(s.W * s.x, exp)))),
    Case("Gaussian NLL (wrt S)", "logdet(S) + (x - mu)^T inv(S) (x - mu)", "S", "x[n] mu[n] S[n,n]",
         lambda s: log(det(s.S)) + tr((s.x - s.mu).T * inv(s.S) * (s.x - s.mu)), declare={"S": "symmetric", "mu": "vector"},
         spd=("S",), source="Gaussian log-likelihood"),
    Case("Gaussian NLL (wrt mu)", "logdet(S) + (x - mu)^T inv(S) (x - mu)", "mu", "x[n] mu[n] S[n,n]",
         lambda s: log(det(s.S)) + tr((s.x - s.mu).T * inv(s.S) * (s.x - s.mu)), declare={"S": "symmetric", "mu": "vector"},
         spd=("S",), source="Gaussian log-likelihood"),
    Case("matrix factorisation (wrt U)", "||T - U V^T||_F^2", "U", "T[n,m] U[n,k] V[m,k]", lambda s: sq(s.T - s.U * s.V.T),
         source="Laue et al. 2018"),
    Case("2-layer MLP (wrt W1)", "||sigmoid(X W1 + b1^T) W2 + b2^T - Y||_F^2", "W1", "X[n,m] W1[m,k] b1[k] W2[k,p] b2[p] Y[n,p]",
         lambda s: sq(ew(s.X * s.W1 + ones(s.n, 1) * s.b1.T, sigmoid) * s.W2 + ones(s.n, 1) * s.b2.T - s.Y),
         source="neural network"),
    Case("relu layer ||relu(XW) - Y||_F^2", "||relu(X W) - Y||_F^2", "W", "X[n,m] W[m,p] Y[n,p]",
         lambda s: sq(ew(s.X * s.W, relu) - s.Y), source="neural network"),
    # batched layers: rows are examples, softmax along each row (SymPy's matrix expressions have no
    # softmax or log-sum-exp of each row of a matrix)
    Case("batched softmax cross-entropy (wrt W)", "-sum(Y .* logsoftmax(X W + ones b^T))", "W",
         "X[n,m] W[m,p] b[p] Y[n,p]", None, source="multinomial logistic regression, batched"),
    Case("batched softmax cross-entropy (wrt b)", "-sum(Y .* logsoftmax(X W + ones b^T))", "b",
         "X[n,m] W[m,p] b[p] Y[n,p]", None, source="multinomial logistic regression, batched"),
    Case("attention (wrt W_q)", "Q = X W_q; K = X W_k; V = X W_v; A = softmax(Q K^T / sqrt(d)); sum(G .* (A V))",
         "W_q", "X[n,m] W_q[m,k] W_k[m,k] W_v[m,p] G[n,p] d[]", None, declare={"d": "scalar"},
         source="Vaswani et al. 2017"),
    Case("attention (wrt W_v)", "Q = X W_q; K = X W_k; V = X W_v; A = softmax(Q K^T / sqrt(d)); sum(G .* (A V))",
         "W_v", "X[n,m] W_q[m,k] W_k[m,k] W_v[m,p] G[n,p] d[]", None, declare={"d": "scalar"},
         source="Vaswani et al. 2017"),
    Case("layer norm (wrt X)", "Xh = (X - mean(X, 2) ones^T) ./ (sqrt(var(X, 2) + eps) ones^T); "
         "sum(G .* (Xh .* (ones g^T) + ones b^T))", "X", "X[n,m] G[n,m] g[m] b[m] eps[]", None,
         declare={"eps": "scalar"}, source="Ba et al. 2016"),
    # ------------------------------------------------------------------ Hessians
    Case("x^T A x", "x^T A x", "x", "x[n] A[n,n]", lambda s: s.x.T * s.A * s.x, kind=H, source="Laue et al. 2018"),
    Case("||x||", "||x||", "x", "x[n]", lambda s: sqrt(s.x.T * s.x), kind=H),
    Case("||x||^3", "||x||^3", "x", "x[n]", lambda s: (s.x.T * s.x) ** Rational(3, 2), kind=H),
    Case("||Ax - b||^2", "||A x - b||^2", "x", "A[m,n] x[n] b[m]", lambda s: (s.A * s.x - s.b).T * (s.A * s.x - s.b),
         kind=H),
    Case("(x^T A x)(x^T B x)", "(x^T A x)(x^T B x)", "x", "x[n] A[n,n] B[n,n]",
         lambda s: (s.x.T * s.A * s.x) * (s.x.T * s.B * s.x), kind=H),
    Case("x^T A x / x^T x", "x^T A x / (x^T x)", "x", "x[n] A[n,n]",
         lambda s: (s.x.T * s.A * s.x) * (s.x.T * s.x) ** -1, kind=H),
    Case("log(x^T A x)", "log(x^T A x)", "x", "x[n] A[n,n]", lambda s: log(s.x.T * s.A * s.x), spd=("A",), kind=H),
    Case("logistic loss", "sum(log(1 + exp(-y .* (X w))))", "w", "X[n,m] w[m] y[n]",
         lambda s: total(ew(had(-s.y, s.X * s.w), softplus)), kind=H, source="Laue et al. 2018"),
    Case("Poisson regression", "sum(exp(X w)) - y^T X w", "w", "X[n,m] w[m] y[n]",
         lambda s: total(ew(s.X * s.w, exp)) - s.y.T * s.X * s.w, kind=H),
    Case("logsumexp(x)", "logsumexp(x)", "x", "x[n]", lambda s: log(total(ew(s.x, exp))), kind=H),
    Case("tr(X^T A X)", "tr(X^T A X)", "X", "X[n,m] A[n,n]", lambda s: tr(s.X.T * s.A * s.X), kind=H),
    Case("||XW - Y||_F^2", "||X W - Y||_F^2", "W", "X[n,m] W[m,p] Y[n,p]", lambda s: sq(s.X * s.W - s.Y), kind=H),
    Case("matrix factorisation (wrt U)", "||T - U V^T||_F^2", "U", "T[n,m] U[n,k] V[m,k]", lambda s: sq(s.T - s.U * s.V.T),
         kind=H, source="Laue et al. 2018"),
    Case("logdet(X)", "logdet(X)", "X", "X[n,n]", lambda s: log(det(s.X)), kind=H),
    Case("det(X)", "det(X)", "X", "X[n,n]", lambda s: det(s.X), kind=H),
    Case("tr(X^-1)", "tr(inv(X))", "X", "X[n,n]", lambda s: tr(inv(s.X)), kind=H),
    Case("a^T X^-1 b", "a^T X^-1 b", "X", "a[n] X[n,n] b[n]", lambda s: s.a.T * inv(s.X) * s.b, kind=H),
    Case("tr(X^3)", "tr(X^3)", "X", "X[n,n]", lambda s: tr(s.X ** 3), kind=H),
    Case("tr(A X B X)", "tr(A X B X)", "X", "A[n,n] X[n,n] B[n,n]", lambda s: tr(s.A * s.X * s.B * s.X), kind=H),
]

GRADIENTS = [c for c in CASES if c.kind == G]
HESSIANS = [c for c in CASES if c.kind == H]
