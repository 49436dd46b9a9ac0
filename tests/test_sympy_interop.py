"""SymPy matrix expressions in and out: from_sympy -> gradient (hessian, jacobian, hvp) ->
to_sympy, each result compared with SymPy's own entry-by-entry derivative of the function
written out on explicit 2 x 2 (and 3 x 3) matrices; the cases where MatrixSymbol.diff returns 0
or an unevaluated derivative; numeric values against NumPy; sizes; bad input."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp
from hypothesis import HealthCheck, assume, given, settings
from strategies import scalar_cases
from sympy.matrices.expressions.diagonal import DiagMatrix, DiagonalOf

import matcalc
from matcalc import expr as E
from matcalc import registry
from matcalc.evaluate import evaluate
from matcalc.shapes import size_factors
from matcalc.sympy_interop import NOT_WRITTEN, WRITE, from_sympy, to_sympy
from matcalc.verify import domain_points

n = sp.Symbol("n", integer=True, positive=True)
X, A, B = (sp.MatrixSymbol(name, n, n) for name in "XAB")
x, y, c = (sp.MatrixSymbol(name, n, 1) for name in "xyc")
s, u = sp.Symbol("s"), sp.Symbol("u")


def worked_out(e, entries: dict):
    """``e`` with each key of ``entries`` replaced by its explicit matrix (or number), worked out
    node by node with SymPy (its doit alone leaves some traces and element-wise powers as they
    are); a 1 x 1 matrix is its entry."""

    def walk(node):
        if node in entries:
            return entries[node]
        if not node.args or isinstance(node, sp.Lambda):
            return node
        args = [walk(a) for a in node.args]
        if isinstance(node, DiagonalOf):  # SymPy's DiagonalOf fails on explicit matrices
            return sp.ImmutableMatrix([args[0][i, i] for i in range(args[0].rows)])
        out = node.func(*args).doit()
        if isinstance(out, sp.MatrixExpr) and not isinstance(out, sp.MatrixBase):
            out = out.as_explicit()
        return out

    out = walk(e)
    return out[0, 0] if isinstance(out, sp.MatrixBase) and out.shape == (1, 1) else out


def explicit(e, size: int):
    """``e`` with n = size and every MatrixSymbol an explicit matrix of real symbols, worked out;
    returns the value and {MatrixSymbol: explicit matrix}."""
    e = e.subs(n, size)
    entries = {m: sp.ImmutableMatrix(*m.shape, lambda i, j, m=m: sp.Symbol(f"{m.name}_{i}{j}", real=True))
               for m in e.atoms(sp.MatrixSymbol)}
    return worked_out(e, entries), entries


def entries_of(e, name: str, size: int) -> sp.Matrix:
    """The explicit matrix that stands for the MatrixSymbol ``name`` (as in ``explicit``)."""
    _, entries = explicit(e, size)
    return next(v for m, v in entries.items() if m.name == name)


def vec(m: sp.Matrix) -> list:
    return list(m.T)  # column-major, as matcalc's vec


def equal(a, b) -> bool:
    a, b = (sp.Matrix(v) if isinstance(v, sp.MatrixBase) else sp.Matrix([[v]]) for v in (a, b))
    return a.shape == b.shape and all(sp.simplify(d) == 0 for d in a - b)


def sympy_gradient(f, name: str, size: int) -> sp.Matrix:
    """SymPy's derivative of the explicit f with respect to each entry of the explicit variable."""
    value, _ = explicit(f, size)
    if name == str(s):
        return sp.diff(value, s)
    v = entries_of(f, name, size)
    return v.applyfunc(lambda entry: sp.diff(value, entry))


# (SymPy function, variable): the gradient of each, from_sympy -> gradient -> to_sympy, compared with SymPy
GRADIENTS = [
    (sp.log(sp.Determinant(X)), "X"),
    (sp.Determinant(X), "X"),
    (sp.Trace(X.I * A), "X"),
    (sp.Trace(A * X * B * X.T), "X"),
    (sp.Trace(X.T * X * X.T * X), "X"),
    (sp.Trace(X ** 3), "X"),
    (sp.Trace(sp.hadamard_product(X, X) * A), "X"),
    (sp.Trace(sp.HadamardPower(X, 3) * A), "X"),
    (sp.Trace(X.applyfunc(sp.tanh) * A), "X"),
    (sp.Trace(sp.KroneckerProduct(X, A) * sp.KroneckerProduct(B, X)), "X"),
    ((x.T * A * x) ** 2, "x"),
    (sp.Trace(x.T * A * x) * sp.Trace(y.T * x), "x"),
    (sp.Trace(sp.OneMatrix(1, n) * x.applyfunc(sp.exp)), "x"),
    (sp.log(sp.Trace(x.T * x)) + s * sp.Trace(c.T * x), "x"),
    (sp.Trace(DiagMatrix(x) * A) + sp.Trace(DiagonalOf(X).T * y), "x"),
    (sp.Trace(DiagMatrix(x) * A) + sp.Trace(DiagonalOf(X).T * y), "X"),
    (s ** 2 * sp.Trace(X.T * A) + sp.exp(2 * s) + sp.sqrt(s), "s"),
    (sp.Trace((X + 2 * sp.Identity(n)).I) - sp.Rational(1, 2) * sp.Trace(X.T * X), "X"),
    (sp.Trace(x.T * (A - A.T) * x) + sp.Trace(sp.OneMatrix(1, n) * (A * x).applyfunc(sp.sin)), "x"),
    (sp.Trace(A * X.applyfunc(sp.Lambda(u, u ** 2 * sp.tanh(u) + 3 * u + 1))), "X"),
    (sp.Trace(sp.OneMatrix(1, n) * (A * x).applyfunc(sp.Lambda(u, 1 / (1 + sp.exp(-u))))), "x"),
]


@pytest.mark.parametrize("f, name", GRADIENTS, ids=[f"{f} wrt {v}" for f, v in GRADIENTS])
def test_gradient_round_trip_agrees_with_sympy_entrywise(f, name):
    result = matcalc.gradient(matcalc.from_sympy(f), name)
    back = result.to_sympy(like=f)
    assert isinstance(back, sp.MatrixExpr) or name == "s"
    assert set(back.free_symbols) - {n} <= set(f.free_symbols) | set(f.atoms(sp.MatrixSymbol))  # f's own symbols
    for size in (2, 3) if name == "x" else (2,):  # 3 x 3 symbolic matrices make SymPy slow
        ours, _ = explicit(back, size)
        assert equal(ours, sympy_gradient(f, name, size)), (size, result)


@pytest.mark.parametrize("f, name", GRADIENTS, ids=[f"{f} wrt {v}" for f, v in GRADIENTS])
def test_written_results_read_back_to_the_same_values(f, name):
    g = matcalc.gradient(matcalc.from_sympy(f), name).expr
    back = matcalc.from_sympy(to_sympy(g))
    values, sizes = domain_points(g, 1, seed=5)[0]
    assert np.allclose(evaluate(back, values, sizes), evaluate(g, values, sizes), rtol=1e-10, atol=1e-12)


def test_where_sympy_returns_zero_or_an_unevaluated_derivative():
    # log det X: SymPy's MatrixSymbol.diff gives 0; matcalc gives X^-T, which agrees with SymPy entrywise
    f = sp.log(sp.Determinant(X))
    assert str(f.diff(X)) == "0"
    r = matcalc.gradient(matcalc.from_sympy(f), "X")
    assert str(r) == "X^-T" and r.to_sympy(like=f) == sp.Transpose(sp.Inverse(X))
    assert equal(explicit(X.I.T, 2)[0], sympy_gradient(f, "X", 2))
    # det X: SymPy leaves Derivative(Determinant(X), X); matcalc gives det(X) X^-T
    g = sp.Determinant(X)
    assert isinstance(g.diff(X), sp.Derivative)
    back = matcalc.gradient(matcalc.from_sympy(g), "X").to_sympy(like=g)
    assert back.has(sp.Determinant(X)) and back.has(sp.Inverse(X))  # det(X) X^-T
    assert equal(explicit(back, 2)[0], sympy_gradient(g, "X", 2))


def test_hessian_of_a_vector_variable_agrees_with_sympy():
    f = sp.Trace(x.T * A * x) ** 2 + sp.log(sp.Trace(x.T * x))
    h = matcalc.hessian(matcalc.from_sympy(f), "x").to_sympy(like=f)
    for size in (2, 3):
        value, _ = explicit(f, size)
        xs = vec(entries_of(f, "x", size))
        assert equal(explicit(h, size)[0], sp.hessian(value, xs))


def test_hessian_of_a_matrix_variable_in_vec_order_agrees_with_sympy():
    f = sp.Trace(X.T * A * X * B)
    h = matcalc.hessian(matcalc.from_sympy(f), "X").to_sympy(like=f)  # B^T kron A + B kron A^T
    assert h.has(sp.KroneckerProduct)
    value, _ = explicit(f, 2)
    xs = vec(entries_of(f, "X", 2))
    assert equal(explicit(h, 2)[0], sp.hessian(value, xs))


def test_jacobian_agrees_with_sympy():
    F = A * x.applyfunc(sp.tanh) + s * x
    j = matcalc.jacobian(matcalc.from_sympy(F), "x").to_sympy(like=F)
    for size in (2, 3):
        value, _ = explicit(F, size)
        xs = vec(entries_of(F, "x", size))
        assert equal(explicit(j, size)[0], sp.Matrix(vec(value)).jacobian(xs))


def test_hessian_vector_product_agrees_with_sympy():
    f = sp.Trace(X.T * X * A * X.T * X)
    r = matcalc.hvp(matcalc.from_sympy(f), "X")
    applied = r.to_sympy(like=f)
    d = sp.MatrixSymbol("dX", n, n)
    assert d in applied.atoms(sp.MatrixSymbol)
    value, entries = explicit(f + sp.Trace(d.T * X) * 0, 2)
    xs = vec(entries_of(f, "X", 2))
    ours, ours_entries = explicit(applied + 0 * X, 2)
    dv = next(v for m, v in ours_entries.items() if m.name == "dX")
    assert equal(sp.Matrix(vec(ours)), sp.hessian(value, xs) * sp.Matrix(vec(dv)))


def test_values_of_a_read_function_against_numpy():
    # numeric sizes stay numbers; the result evaluates as a result of text does
    W, v = sp.MatrixSymbol("W", 3, 2), sp.MatrixSymbol("v", 2, 1)
    t = sp.MatrixSymbol("t", 3, 1)
    f = sp.Trace(sp.OneMatrix(1, 3) * (W * v - t).applyfunc(lambda u: u ** 2))
    e = matcalc.from_sympy(f)
    assert e.shape == (1, 1) and {(s_.name, s_.dims) for s_ in e.free} == {("W", (3, 2)), ("v", (2, 1)), ("t", (3, 1))}
    rng = np.random.default_rng(2)
    values = {"W": rng.standard_normal((3, 2)), "v": rng.standard_normal(2), "t": rng.standard_normal(3)}
    g = matcalc.gradient(e, "W").evaluate(values)
    assert np.allclose(g, 2 * np.outer(values["W"] @ values["v"] - values["t"], values["v"]))


def test_text_and_sympy_give_the_same_result():
    f = sp.Trace(X.T * A * X) + sp.log(sp.Determinant(X))
    assert str(matcalc.gradient(matcalc.from_sympy(f), "X")) == str(matcalc.gradient("tr(X^T A X) + logdet(X)", "X"))
    assert matcalc.gradient(matcalc.from_sympy(f), "X").check().ok


def test_a_size_in_the_expression_is_the_number_not_a_variable():
    # n in Trace(X)/n is the size of X: its value is fixed by X, and nothing is differentiated along it
    e = matcalc.from_sympy(sp.Trace(X) / n + s * n)
    assert {sym.name for sym in e.free} == {"X", "s"}
    assert str(matcalc.gradient(e, "s")) == "size[n]"
    values = {"X": np.diag([1.0, 2.0, 6.0]), "s": 2.0}
    assert matcalc.gradient(e, "X").evaluate(values) == pytest.approx(np.eye(3) / 3)
    # a Symbol named n that is not a size is a scalar like any other
    assert {sym.name for sym in matcalc.from_sympy(sp.Symbol("n") * sp.Trace(X)).free} == {"X", "n"}


def test_declared_kinds_and_shape_checks():
    S = sp.MatrixSymbol("S", n, n)
    e = matcalc.from_sympy(sp.Trace(x.T * S * x), declare={"S": "symmetric"})
    assert str(matcalc.gradient(e, "S")) == "x x^T"
    with pytest.raises(matcalc.MatcalcError, match=r"from_sympy: x is declared symmetric, but it is n x 1"):
        matcalc.from_sympy(x.T * x, declare={"x": "symmetric"})
    with pytest.raises(matcalc.MatcalcError, match=r"from_sympy: declared B, which the expression does not contain"):
        matcalc.from_sympy(x.T * x, declare={"B": "matrix"})
    with pytest.raises(matcalc.MatcalcError, match=r"declare applies to text"):
        matcalc.gradient(e, "x", declare={"S": "symmetric"})


def test_every_node_type_is_written_or_refused_by_name():
    written = {t for t, ops in registry.SUPPORTS.items() if "exact" in ops}
    assert written - NOT_WRITTEN <= set(WRITE)
    kron_hessian = matcalc.hessian("x^T x x^T x", "x")
    assert to_sympy(kron_hessian.expr) is not None
    with pytest.raises(matcalc.MatcalcError, match=r"^to_sympy of vec\(\.\.\.\) is not supported$"):
        to_sympy(E.vec(E.Symbol("X", "matrix", ("n", "m"))))


BAD = [
    ("x^T x", r"^from_sympy takes a SymPy expression; give text to gradient, hessian, jacobian or hvp directly$"),
    (3.0, r"^from_sympy takes a SymPy expression, got float$"),
    (sp.Matrix([[1, 2]]), r"^from_sympy takes a SymPy expression, got MutableDenseMatrix$"),
    (X[0, 1], r"^from_sympy: entries such as X\[0, 1\] \(MatrixElement\) are not supported"),
    ((x.T * A * x)[0, 0], r"^from_sympy: SymPy's Sum is not supported: .* write the 1 x 1 product as Trace"),
    (sp.Trace(sp.Adjoint(X)), r"^from_sympy: SymPy's Adjoint is not supported"),
    (sp.besselj(1, s), r"^from_sympy: SymPy's besselj is not supported|^from_sympy: the function besselj is not supported"),
    (sp.Trace(X.applyfunc(sp.Lambda(sp.Symbol("u"), sp.besselj(0, sp.Symbol("u"))))),
     r"^from_sympy: the function besselj is not supported \(matcalc's functions: exp, log"),
    (sp.exp(X), r"^from_sympy: exp\(X\) of a matrix is not read as element-wise .* write X.applyfunc\(exp\)$"),
    (s ** sp.Symbol("k"), r"^from_sympy: an exponent must be a number, got k$"),
    (sp.pi * s, r"^from_sympy: the number pi \(Pi\) is not supported"),
    (sp.Trace(sp.MatrixSymbol("M", n + 1, n + 1)), r"^from_sympy: the size n \+ 1 of M is not supported"),
    (sp.Trace(sp.MatrixSymbol("I", n, n)), r"^from_sympy: cannot read the symbol 'I'"),
    (sp.Symbol("exp") * s, r"^from_sympy: cannot read the symbol 'exp'"),
    (sp.Trace(sp.MatrixSymbol("X", n, n)) + sp.Trace(sp.MatrixSymbol("X", 2, 2)),
     r"^from_sympy: two different symbols are named X"),
    (sp.Trace(sp.MatrixSymbol("x'", n, n)), r"^from_sympy: cannot read the symbol \"x'\""),
]


@pytest.mark.parametrize("expr, message", BAD, ids=[m for _, m in BAD])
def test_bad_input_is_one_clear_line(expr, message):
    with pytest.raises(matcalc.MatcalcError, match=message) as err:
        from_sympy(expr)
    assert "\n" not in str(err.value)


def test_an_objective_takes_a_read_expression():
    w, Xs, t = sp.MatrixSymbol("w", 3, 1), sp.MatrixSymbol("X", 5, 3), sp.MatrixSymbol("t", 5, 1)
    f = sp.Trace((Xs * w - t).T * (Xs * w - t)) + s * sp.Trace(w.T * w)
    rng = np.random.default_rng(4)
    X_, t_ = rng.standard_normal((5, 3)), rng.standard_normal(5)
    obj = matcalc.objective(matcalc.from_sympy(f), "w", values={"X": X_, "t": t_, "s": 0.5})
    closed = np.linalg.solve(X_.T @ X_ + 0.5 * np.eye(3), X_.T @ t_)
    assert np.abs(obj.jac(closed)).max() < 1e-10
    assert np.allclose(obj.hess(closed), 2 * (X_.T @ X_ + 0.5 * np.eye(3)), rtol=1e-12)


# ------------------------------------------------------------------ random expressions



@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(scalar_cases(max_leaves=8))
def test_random_functions_and_gradients_written_and_read_back_keep_their_values(case):
    """Every node the generator draws, written as SymPy and read back, keeps its value: the
    function and its gradient (a gradient holding vec or K, which SymPy cannot write, is refused)."""
    f = matcalc.parse(case.text, case.declare)
    g = matcalc.gradient(case.text, case.wrt, declare=case.declare).expr
    values, sizes = domain_points(f, 1, seed=3)[0]
    assume(all(name in sizes for e in (f, g) for node in E.nodes(e) for d in node.shape for name in size_factors(d)[1]))
    for e in (f, g):
        if any(type(node) in NOT_WRITTEN for node in E.nodes(e)):
            with pytest.raises(matcalc.MatcalcError, match=r"^to_sympy of (vec\(\.\.\.\)|a commutation matrix) is not supported$"):
                to_sympy(e)
            continue
        written = to_sympy(e)
        back = from_sympy(written)
        assert back.shape == e.shape
        expected = evaluate(e, values, sizes)
        tolerance = {"rtol": 1e-9, "atol": 1e-9 * (1 + np.abs(expected).max())}
        assert np.allclose(evaluate(back, values, sizes), expected, **tolerance)
        # and SymPy's own value of what was written, at the same point
        sized = written.xreplace({d: sizes[d.name] for d in written.free_symbols if d.name in sizes})
        numbers = {m: sp.ImmutableMatrix(values[m.name]) if m.name in values else m for m in sized.atoms(sp.MatrixSymbol)}
        numbers |= {v: sp.Float(values[v.name][0, 0]) for v in sized.free_symbols if isinstance(v, sp.Symbol) and v.name in values}
        value = np.array(sp.Matrix([[worked_out(sized, numbers)]]) if E.is_scalar(e) else worked_out(sized, numbers),
                         dtype=float)
        assert np.allclose(value.reshape(expected.shape), expected, **tolerance)


@pytest.mark.parametrize("text", ["mean(X, 2)", "mean(X, 1)", "mean(X)", "var(X, 2)", "std(X, 1)", "var(x)",
                                  "softmax(X)", "softmax(X, 1)", "logsoftmax(X)", "logsumexp(X)", "logsumexp(X, 1)",
                                  "size(x, 1) x", "softmax(x)", "logsoftmax(x)"])
def test_operations_along_an_axis_are_written_with_ones(text):
    """What to_sympy writes for an operation along an axis, worked out by SymPy, is what NumPy
    computes for it by hand (numpy's own axis functions, not matcalc's evaluation)."""
    rng = np.random.default_rng(5)
    Xv, xv = rng.normal(size=(3, 2)), rng.normal(size=(3, 1))

    def softmax(u, axis):
        z = np.exp(u - u.max(axis=axis, keepdims=True))
        return z / z.sum(axis=axis, keepdims=True)

    by_hand = {"mean(X, 2)": Xv.mean(axis=1, keepdims=True), "mean(X, 1)": Xv.mean(axis=0, keepdims=True),
               "mean(X)": Xv.mean().reshape(1, 1), "var(X, 2)": Xv.var(axis=1, keepdims=True),
               "std(X, 1)": Xv.std(axis=0, keepdims=True), "var(x)": xv.var().reshape(1, 1),
               "softmax(X)": softmax(Xv, 1), "softmax(X, 1)": softmax(Xv, 0), "logsoftmax(X)": np.log(softmax(Xv, 1)),
               "logsumexp(X)": np.log(np.exp(Xv).sum(axis=1, keepdims=True)),
               "logsumexp(X, 1)": np.log(np.exp(Xv).sum(axis=0, keepdims=True)),
               "size(x, 1) x": 3 * xv, "softmax(x)": softmax(xv, 0), "logsoftmax(x)": np.log(softmax(xv, 0))}[text]
    written = to_sympy(matcalc.parse(text))
    sizes = {"n": 3, "m": 2}
    sized = written.xreplace({d: sizes[d.name] for d in written.free_symbols if d.name in sizes})
    numbers = {m: sp.ImmutableMatrix({"X": Xv, "x": xv}[m.name]) for m in sized.atoms(sp.MatrixSymbol)}
    value = np.array(worked_out(sized, numbers), dtype=float)
    assert np.allclose(value.reshape(by_hand.shape), by_hand, rtol=1e-10)


@pytest.mark.parametrize("text", ["relu(a)", "selu(a)", "normpdf(a)", "leaky_relu(a, 0.1)", "leaky_relu(x, a)",
                                  "hardtanh(x)", "gelu(a)", "elu(a)", "2 relu(a) + 1", "sum(selu(x))"])
def test_functions_written_out_read_back_as_the_functions(text):
    """to_sympy writes relu as its Piecewise and normpdf with pi; from_sympy finds the row again."""
    e = matcalc.parse(text, {"a": "scalar"})
    back = from_sympy(to_sympy(e))
    values = {"a": np.array([[-0.7]]), "x": np.array([[0.4], [-1.3], [2.2]])}
    assert np.allclose(evaluate(back, values, {"n": 3}), evaluate(e, values, {"n": 3}), rtol=1e-12)


def test_a_piecewise_that_is_no_function_of_the_table_is_refused_in_one_line():
    with pytest.raises(matcalc.MatcalcError, match=r"^from_sympy: SymPy's Piecewise is not supported unless"):
        from_sympy(sp.Piecewise((s, s > 1), (0, True)))
