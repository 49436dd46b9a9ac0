"""Expression trees: immutable, hashable nodes whose shape is known when they are built, kept
in a normal form by the constructors that build them.

* ``nodes``: the node classes and their shape rules;
* ``numbers``: exact numbers and their limits;
* ``predicates``: questions asked of a tree (is it a scalar, its nodes, ...);
* ``normal_form``: the smart constructors (``add``, ``mul``, ``transpose``, ...) and the
  tables of named identities they apply;
* ``tables`` and ``recording``: what a row of those tables is, and which rows fire.

Everything is imported from here: ``from matcalc import expr as E``, then ``E.mul``, ``E.Add``.
"""

from ..shapes import is_one, resolve
from .nodes import (
    MAX_DEPTH,
    Add,
    AlongAxis,
    Apply,
    Commutation,
    Const,
    Count,
    Det,
    DiagMatrix,
    DiagVector,
    Differential,
    DifferentialOf,
    ElemPower,
    Expr,
    Hadamard,
    Identity,
    Inverse,
    Kron,
    LogDet,
    LogSoftmax,
    LogSumExp,
    MatMul,
    MatPower,
    Mean,
    Norm,
    Ones,
    Power,
    Scale,
    Softmax,
    Std,
    Sum,
    Symbol,
    Trace,
    Transpose,
    Var,
    Vec,
    Zero,
    require_column,
    require_scalar,
    require_square,
    declarations_in,
    same_shape,
)
from .normal_form import (
    ALONG_AXIS,
    ONE,
    TABLES,
    _term_key,
    add,
    apply,
    broadcast_shape,
    broadcast_to,
    commutation,
    const,
    count,
    default_axis,
    det,
    diag,
    div,
    elem_div,
    elem_power,
    hadamard,
    inner,
    inverse,
    is_diagonal,
    is_symmetric,
    kron,
    logdet,
    logsoftmax,
    logsumexp,
    matmul,
    mean,
    mul,
    neg,
    norm,
    power,
    rebuild,
    run_length,
    scale,
    softmax,
    split_coefficient,
    std,
    sub,
    sum_entries,
    trace,
    transpose,
    var,
    vec,
    zero_like,
)
from .numbers import MAX_DIGITS, checked_number
from .predicates import cached_on_node, const_value, contains, is_scalar, is_scalar_product, is_square, nodes
from .recording import recording
from .tables import Row

__all__ = [
    "ALONG_AXIS", "MAX_DEPTH", "MAX_DIGITS", "ONE", "TABLES",
    "AlongAxis", "Count", "LogSoftmax", "Mean", "Std", "Var", "count", "default_axis", "logsoftmax", "mean", "run_length", "std",
    "var",
    "Add", "Apply", "Commutation", "Const", "Det", "DiagMatrix", "DiagVector", "Differential", "DifferentialOf",
    "ElemPower", "Expr", "Hadamard", "Identity", "Inverse", "Kron", "LogDet", "LogSumExp", "MatMul", "MatPower",
    "Norm", "Ones", "Power", "Row", "Scale", "Softmax", "Sum", "Symbol", "Trace", "Transpose", "Vec", "Zero",
    "_term_key", "add", "apply", "broadcast_shape", "broadcast_to", "cached_on_node", "checked_number",
    "commutation", "const", "const_value", "contains", "declarations_in", "det", "diag", "div", "elem_div", "elem_power",
    "hadamard", "inner", "inverse", "is_one", "is_scalar", "is_scalar_product", "is_square", "is_diagonal", "is_symmetric", "kron",
    "logdet", "logsumexp", "matmul", "mul", "neg", "nodes", "norm", "power", "rebuild", "recording",
    "require_column", "require_scalar", "require_square", "resolve", "same_shape", "scale", "softmax",
    "split_coefficient", "sub", "sum_entries", "trace", "transpose", "vec", "zero_like",
]
