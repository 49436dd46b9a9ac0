"""Imported once by the process that ``matcalc serve`` forks its workers from: a computation of each
kind, so that every worker starts with the parser built, the lazy imports done and the tables filled."""

from __future__ import annotations

from .errors import MatcalcError
from .serve import answer

WARM_UP = [
    {"op": "variables", "expr": "x^T A x"},
    {"op": "grad", "expr": "||sigmoid(X W1 + b1^T) W2 + b2^T - Y||_F^2 + logdet(S) + det(A S B)", "wrt": "W1,b1,S",
     "let": "S=symmetric", "check": "1"},
    {"op": "hess", "expr": "sum(log(1 + exp(-y .* (X w)))) + ||w||^3", "wrt": "w", "check": "1"},
    {"op": "jac", "expr": "tanh(W x + b) + softmax(x)", "wrt": "x,b", "check": "1"},
    {"op": "derive", "expr": "det(AXB) + tr(X^T X)", "wrt": "X"},
    {"op": "derive", "expr": "||x||^3", "wrt": "x", "order": "2"},
    {"op": "forms", "of": "grad", "expr": "||sigmoid(X W1 + b1^T) W2 + b2^T - Y||_F^2", "wrt": "W1,b1,W2,b2"},
    {"op": "grad", "expr": "x^T A (x", "wrt": "x"},
]

for _query in WARM_UP:
    try:
        answer(_query)
    except MatcalcError:
        pass
