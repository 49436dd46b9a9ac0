"""Every node type once, with what it supports.

A node type has a row in several tables, each kept beside the code that applies it: its
differential (``differential.RULES``), its adjoint (``canonical.ADJOINT``) and vec rule
(``jacobian.JACOBIAN``) when it is linear, its value with NumPy (``evaluate``) and with sympy
(``exact``), its text and LaTeX (``printing``) and its generated code (``codegen``).  This
table says which of them it must have; ``tests/test_registry.py`` checks every table against
it, so a new node type cannot be half added.  Where an expression still reaches a node that
an operation does not support, ``rule_for`` says so in words (``UnsupportedError``).
"""

from __future__ import annotations

from . import expr as E
from .errors import UnsupportedError

OPERATIONS = ("differential", "adjoint", "vec", "evaluate", "text", "latex", "code", "exact")

VALUE = {"evaluate", "text", "latex", "code", "exact"}  # every value a user can meet
LEAF = VALUE  # d of a leaf is dX or 0, which the differential knows without a row
LINEAR = VALUE | {"differential", "adjoint", "vec"}  # may hold dX in a differential
NONLINEAR = VALUE | {"differential"}  # never holds dX: d f(U) is written in terms of dU

# fmt: off
SUPPORTS = {
    E.Symbol: LEAF, E.Const: LEAF, E.Count: LEAF, E.Identity: LEAF, E.Ones: LEAF, E.Zero: LEAF, E.Commutation: LEAF,
    E.Differential:   {"evaluate", "text", "latex"},  # dX, given a value as values["dX"]
    E.DifferentialOf: {"text", "latex"},  # d(U) not yet expanded, in derivations only
    E.Add: LINEAR, E.MatMul: LINEAR, E.Scale: LINEAR, E.Transpose: LINEAR, E.Hadamard: LINEAR,
    E.Trace: LINEAR, E.Sum: LINEAR, E.DiagMatrix: LINEAR, E.DiagVector: LINEAR, E.Kron: LINEAR,
    E.Mean: LINEAR,
    E.Vec: LINEAR,  # <c, vec(U)> = <unvec(c), U>, unvec written with Kronecker products
    E.Inverse: NONLINEAR, E.MatPower: NONLINEAR, E.Power: NONLINEAR, E.ElemPower: NONLINEAR,
    E.Apply: NONLINEAR, E.Det: NONLINEAR, E.LogDet: NONLINEAR, E.Norm: NONLINEAR,
    E.Softmax: NONLINEAR, E.LogSumExp: NONLINEAR, E.LogSoftmax: NONLINEAR, E.Var: NONLINEAR, E.Std: NONLINEAR,
}
# fmt: on

def rule_for(table: dict, node: E.Expr, operation: str):
    """``table``'s row for the type of ``node``, or an UnsupportedError naming both."""
    try:
        return table[type(node)]
    except KeyError:
        raise UnsupportedError(f"{operation} of {describe(node)} is not supported") from None


def describe(node: E.Expr) -> str:
    """A node type in a user's words: ``vec(...)``, ``a Kronecker product``."""
    return NAMES.get(type(node), type(node).__name__)


NAMES = {
    E.Add: "a sum", E.MatMul: "a matrix product", E.Scale: "a scaled matrix", E.Transpose: "a transpose",
    E.Hadamard: "an element-wise product", E.Trace: "tr(...)", E.Sum: "sum(...)", E.DiagMatrix: "diag(vector)",
    E.DiagVector: "diag(matrix)", E.Kron: "a Kronecker product", E.Vec: "vec(...)", E.Inverse: "an inverse",
    E.MatPower: "a matrix power", E.Power: "a power", E.ElemPower: "an element-wise power",
    E.Apply: "an element-wise function", E.Det: "det(...)", E.LogDet: "logdet(...)", E.Norm: "a norm",
    E.Softmax: "softmax(...)", E.LogSumExp: "logsumexp(...)", E.Commutation: "a commutation matrix",
    E.LogSoftmax: "logsoftmax(...)", E.Mean: "mean(...)", E.Var: "var(...)", E.Std: "std(...)",
    E.Count: "a size", E.Differential: "a differential", E.DifferentialOf: "an unexpanded differential",
}
