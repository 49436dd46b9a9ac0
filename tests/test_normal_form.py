"""Every identity row of the normal form, checked on an example: the example is built from the
raw node classes (no constructor), its constructor is applied, and the row must fire and the
value stay the same at a random point.  A row without an example fails here, by name."""

from fractions import Fraction

import numpy as np
import pytest

from matcalc import expr as E
from matcalc.evaluate import evaluate
from matcalc.verify import domain_points

n, m = "n", "m"
x, y, z = (E.Symbol(name, "vector", (n, 1)) for name in "xyz")
u = E.Symbol("u", "vector", (m, 1))
s = E.Symbol("s", "scalar", (1, 1))
A, B = (E.Symbol(name, "matrix", (n, n)) for name in "AB")
C, D = (E.Symbol(name, "matrix", (m, m)) for name in "CD")
S = E.Symbol("S", "symmetric", (n, n))
X, W = (E.Symbol(name, "matrix", (n, m)) for name in "XW")
# assumptions, drawn of their kinds at the random points
onehot, p = E.Symbol("e", "onehot", (n, 1)), E.Symbol("p", "probability", (n, 1))
Y, P = E.Symbol("Y", "onehot_rows", (n, m)), E.Symbol("P", "stochastic_rows", (n, m))
signs, bits = E.Symbol("l", "pm1", (n, 1)), E.Symbol("b", "binary", (n, m))
Q, positive = E.Symbol("Q", "orthogonal", (n, n)), E.Symbol("q", "positive", (n, 1))


def T(e):
    return E.Transpose(e)


def c(value):
    return E.Const(Fraction(value))


def minus(e):
    return E.Scale(c(-1), e)


def exp(e):
    return E.Apply("exp", e)


# fmt: off
EXAMPLES = {  # (table, identity): an input made of raw nodes on which the row fires
    ("SUM_IDENTITIES", "a - (b - c) = a - b + c"):                   E.Add((x, E.Scale(c(-2), E.Add((y, E.Scale(c(-3), z)))))),
    ("SUM_IDENTITIES", "A + (A - A^T)^T = A + A^T - A"):             E.Add((A, T(E.Add((A, minus(T(A))))), minus(T(A)), B)),
    ("SUM_IDENTITIES", "A x + A x = 2 A x"):                         E.Add((E.MatMul((A, x)), minus(y), E.Scale(c(3), E.MatMul((A, x))))),
    ("SCALE_IDENTITIES", "a (b U) = (a b) U"):                       E.Scale(s, E.Scale(E.Norm(x), X)),
    ("SCALE_IDENTITIES", "U ones ones^T / n = mean(U, 2) ones^T"):  E.Scale(E.Power(E.Count(m), -1), E.MatMul((X, E.Ones((m, m))))),
    ("SCALAR_PRODUCT_IDENTITIES", "size[m] size[n] = size[m*n]"):   E.MatMul((E.Count(m), E.Trace(E.MatMul((T(X), W))), E.Count(n))),
    ("SCALAR_PRODUCT_IDENTITIES", "s^p s^q = s^(p+q)"):              E.MatMul((E.Power(E.Norm(x), Fraction(3)), s, E.Power(E.Norm(x), Fraction(-1, 2)))),
    ("PRODUCT_FACTOR_IDENTITIES", "(-A - B) C = -(A + B) C"):        E.MatMul((E.Add((minus(A), E.Scale(c(-2), B))), X)),
    ("PRODUCT_PAIR_IDENTITIES", "I U = U"):                          E.MatMul((E.Identity(n), E.Scale(c(2), A), X)),
    ("PRODUCT_PAIR_IDENTITIES", "U I = U"):                          E.MatMul((T(X), E.Identity(n), A)),
    ("PRODUCT_PAIR_IDENTITIES", "U^-1 U = I"):                       E.MatMul((E.Inverse(A), A, x)),
    ("PRODUCT_PAIR_IDENTITIES", "U U^-1 = I"):                       E.MatMul((T(X), A, E.Inverse(A), B)),
    ("PRODUCT_PAIR_IDENTITIES", "ones ones^T = the all-ones matrix"): E.MatMul((E.Ones((n, 1)), E.Ones((1, m)), C)),
    ("PRODUCT_PAIR_IDENTITIES", "M (r kron B) = r kron (M B)"):      E.MatMul((A, E.Kron(T(u), B))),
    ("PRODUCT_PAIR_IDENTITIES", "K(m,n) K(n,m) = I"):                E.MatMul((E.Kron(A, C), E.Commutation((n, m)), E.Commutation((m, n)))),
    ("PRODUCT_PAIR_IDENTITIES", "diag(vec(I)) diag(vec(B)) = diag(vec(I .* B))"): E.MatMul((E.DiagMatrix(E.Vec(E.Identity(n))), E.DiagMatrix(E.Vec(exp(A))))),
    ("PRODUCT_CHAIN_IDENTITIES", "K(p,m) (A kron B) K(n,q) = B kron A"): E.MatMul((E.Commutation((m, n)), E.Kron(X, T(X)), E.Commutation((m, n)))),
    ("PRODUCT_PAIR_IDENTITIES", "ones^T diag(v) = v^T"):             E.MatMul((E.Ones((1, n)), E.DiagMatrix(exp(x)), A)),
    ("PRODUCT_PAIR_IDENTITIES", "diag(v) ones = v"):                 E.MatMul((A, E.DiagMatrix(x), E.Ones((n, 1)))),
    ("PRODUCT_PAIR_IDENTITIES", "(A kron B)(C kron D) = AC kron BD"): E.MatMul((E.Kron(A, C), E.Kron(B, D))),
    ("PRODUCT_PAIR_IDENTITIES", "U^j U^k = U^(j+k)"):                E.MatMul((E.MatPower(A, 2), A, B)),
    ("PRODUCT_PAIR_IDENTITIES", "(A kron B) vec(V) = vec(B V A^T)"): E.MatMul((E.Kron(C, A), E.Vec(X))),
    ("PRODUCT_PAIR_IDENTITIES", "vec(V)^T (A kron B) = vec(B^T V A)^T"): E.MatMul((T(E.Vec(X)), E.Kron(C, A))),
    ("PRODUCT_PAIR_IDENTITIES", "K vec(V) = vec(V^T)"):              E.MatMul((E.Commutation((n, m)), E.Vec(X))),
    ("PRODUCT_PAIR_IDENTITIES", "vec(V)^T K = vec(V^T)^T"):          E.MatMul((T(E.Vec(X)), E.Commutation((m, n)))),
    ("PRODUCT_PAIR_IDENTITIES", "(A kron B) ones = A ones kron B ones"): E.MatMul((E.Kron(A, X), E.Ones((E.Kron(A, X).shape[1], 1)))),
    ("KRON_IDENTITIES", "kron(ones, ones) = ones"):                  E.Kron(E.Ones((n, 1)), E.Ones((1, m))),
    ("PRODUCT_PAIR_IDENTITIES", "K ones = ones"):                    E.MatMul((E.Commutation((n, m)), E.Ones((E.Vec(X).shape[0], 1)))),
    ("PRODUCT_PAIR_IDENTITIES", "ones^T K = ones^T"):                E.MatMul((E.Ones((1, E.Vec(X).shape[0])), E.Commutation((n, m)))),
    ("PRODUCT_CHAIN_IDENTITIES", "a b^T c d^T = (b^T c) a d^T"):     E.MatMul((x, T(y), z, T(u))),
    ("PRODUCT_CHAIN_IDENTITIES", "ones^T v = v^T ones = sum(v)"):    E.MatMul((E.Ones((1, n)), E.Hadamard((x, y)))),
    ("PRODUCT_CHAIN_IDENTITIES", "(ones ones^T)(ones ones^T) = n ones ones^T"): E.MatMul((X, E.Ones((m, m)), E.Ones((m, n)))),
    ("TRANSPOSE_IDENTITIES", "a^T = a"):                             T(E.MatMul((T(x), A, y))),
    ("TRANSPOSE_IDENTITIES", "S^T = S"):                             T(E.MatMul((T(X), S, X))),
    ("TRANSPOSE_IDENTITIES", "(U^T)^T = U"):                         T(T(E.MatMul((A, X)))),
    ("TRANSPOSE_IDENTITIES", "(U V)^T = V^T U^T"):                   T(E.MatMul((A, X))),
    ("TRANSPOSE_IDENTITIES", "(a U)^T = a U^T"):                     T(E.Scale(s, X)),
    ("TRANSPOSE_IDENTITIES", "(ones ones^T)^T = ones ones^T"):       T(E.Ones((n, m))),
    ("TRANSPOSE_IDENTITIES", "(A kron B)^T = A^T kron B^T"):         T(E.Kron(X, C)),
    ("TRANSPOSE_IDENTITIES", "K(m,n)^T = K(n,m)"):                   T(E.Commutation((n, m))),
    ("TRANSPOSE_IDENTITIES", "(U^k)^T = (U^T)^k"):                   T(E.MatPower(A, 3)),
    ("TRANSPOSE_IDENTITIES", "(U^T - V^T)^T = U - V"):              T(E.Add((E.MatMul((T(x), T(A))), minus(T(y))))),
    ("INVERSE_IDENTITIES", "inv(a) = a^-1"):                         E.Inverse(E.MatMul((T(x), S, x))),
    ("INVERSE_IDENTITIES", "(U^-1)^-1 = U"):                         E.Inverse(E.Inverse(E.MatMul((A, B)))),
    ("INVERSE_IDENTITIES", "I^-1 = I"):                              E.Inverse(E.Identity(n)),
    ("INVERSE_IDENTITIES", "(a U)^-1 = a^-1 U^-1"):                  E.Inverse(E.Scale(E.Norm(x), A)),
    ("INVERSE_IDENTITIES", "(U^T)^-1 = (U^-1)^T"):                   E.Inverse(T(A)),
    ("INVERSE_IDENTITIES", "(U^k)^-1 = U^-k"):                       E.Inverse(E.MatPower(E.MatMul((A, B)), 3)),
    ("INVERSE_IDENTITIES", "(A kron B)^-1 = A^-1 kron B^-1"):        E.Inverse(E.Kron(A, C)),
    ("MATRIX_POWER_IDENTITIES", "U^-k = (U^-1)^k"):                  E.MatPower(A, -2),
    ("MATRIX_POWER_IDENTITIES", "(U^j)^k = U^(j k)"):                E.MatPower(E.MatPower(A, 2), 3),
    ("POWER_IDENTITIES", "(s^p)^k = s^(p k)"):                       E.Power(E.Power(E.Norm(x), Fraction(1, 2)), Fraction(-4)),
    ("POWER_IDENTITIES", "size[n]^2 = size[n*n]"):                   E.Power(E.Count(n), Fraction(2)),
    ("POWER_IDENTITIES", "(a b)^k = a^k b^k"):                       E.Power(E.MatMul((s, E.Trace(A))), Fraction(3)),
    ("HADAMARD_IDENTITIES", "a .* b = a b"):                         E.Hadamard((s, E.Trace(A))),
    ("HADAMARD_FACTOR_IDENTITIES", "ones ones^T .* U = U"):          E.Hadamard((E.Ones((n, m)), exp(X))),
    ("HADAMARD_FACTOR_IDENTITIES", "U .^ p .* U .^ q = U .^ (p+q)"): E.Hadamard((E.ElemPower(exp(X), Fraction(2)), W, exp(X))),
    ("ELEM_POWER_IDENTITIES", "a .^ p = a^p"):                       E.ElemPower(E.Trace(A), Fraction(3)),
    ("ELEM_POWER_IDENTITIES", "ones .^ p = ones"):                   E.ElemPower(E.Ones((n, m)), Fraction(1, 2)),
    ("ELEM_POWER_IDENTITIES", "(U .^ p) .^ k = U .^ (p k)"):         E.ElemPower(E.ElemPower(exp(X), Fraction(1, 2)), Fraction(4)),
    ("ELEM_POWER_IDENTITIES", "(a U) .^ k = a^k U .^ k"):            E.ElemPower(E.Scale(s, X), Fraction(3)),
    ("DET_IDENTITIES", "det(a) = a"):                                E.Det(E.MatMul((T(x), A, y))),
    ("DET_IDENTITIES", "det(I) = 1"):                                E.Det(E.Identity(n)),
    ("DET_IDENTITIES", "det(U^T) = det U"):                          E.Det(T(E.MatMul((A, B)))),
    ("DET_IDENTITIES", "det(U^-1) = 1 / det U"):                     E.Det(E.Inverse(A)),
    ("LOGDET_IDENTITIES", "logdet(U^T) = logdet U"):                 E.LogDet(T(E.Add((S, E.MatMul((X, T(X))))))),
    ("LOGDET_IDENTITIES", "logdet(I) = 0"):                          E.LogDet(E.Identity(n)),
    ("TRACE_IDENTITIES", "tr(a) = a"):                               E.Trace(E.MatMul((T(x), A, x))),
    ("TRACE_IDENTITIES", "tr(a U) = a tr(U)"):                       E.Trace(E.Scale(s, A)),
    ("TRACE_IDENTITIES", "tr(U^T) = tr(U)"):                         E.Trace(T(E.MatMul((X, T(W))))),
    ("TRACE_IDENTITIES", "tr(diag(v)) = sum(v)"):                    E.Trace(E.DiagMatrix(exp(x))),
    ("TRACE_IDENTITIES", "tr(I) = n"):                               E.Trace(E.Identity(n)),
    ("TRACE_IDENTITIES", "tr(A kron B) = tr(A) tr(B)"):              E.Trace(E.Kron(A, C)),
    ("TRACE_IDENTITIES", "tr(U + V) = tr(U) + tr(V)"):               E.Trace(E.Add((A, T(B)))),
    ("TRACE_IDENTITIES", "tr(a b^T) = b^T a"):                       E.Trace(E.MatMul((A, x, T(y)))),
    ("SUM_ENTRIES_IDENTITIES", "sum(a) = a"):                        E.Sum(E.Trace(A)),
    ("SUM_ENTRIES_IDENTITIES", "sum(a U) = a sum(U)"):               E.Sum(E.Scale(s, X)),
    ("SUM_ENTRIES_IDENTITIES", "sum(U + V) = sum(U) + sum(V)"):      E.Sum(E.Add((X, minus(W)))),
    ("SUM_ENTRIES_IDENTITIES", "sum(diag(v)) = sum(v)"):             E.Sum(E.DiagMatrix(x)),
    ("SUM_ENTRIES_IDENTITIES", "sum(ones) = n"):                     E.Sum(E.Ones((n, m))),
    ("NORM_IDENTITIES", "||a|| = |a|"):                              E.Norm(E.MatMul((T(x), y))),
    ("DIAG_IDENTITIES", "diag(0) = 0"):                              E.DiagMatrix(E.Zero((n, 1))),
    ("DIAG_IDENTITIES", "diag(ones) = I"):                           E.DiagMatrix(E.Ones((n, 1))),
    ("DIAG_IDENTITIES", "diag(diag(v)) = v"):                        E.DiagVector(E.DiagMatrix(exp(x))),
    ("KRON_IDENTITIES", "a kron B = a B"):                           E.Kron(E.Trace(A), X),
    ("KRON_IDENTITIES", "kron(I, I) = I"):                           E.Kron(E.Identity(n), E.Identity(m)),
    ("KRON_IDENTITIES", "(a A) kron (b B) = a b (A kron B)"):        E.Kron(E.Scale(s, A), E.Scale(c(2), C)),
    ("VEC_IDENTITIES", "vec(v) = v"):                                E.Vec(E.MatMul((A, x))),
    ("VEC_IDENTITIES", "vec(v^T) = v"):                              E.Vec(E.MatMul((T(x), X))),
    ("VEC_IDENTITIES", "vec(a U) = a vec(U)"):                       E.Vec(E.Scale(s, X)),
    ("VEC_IDENTITIES", "vec(ones ones^T) = ones"):                   E.Vec(E.Ones((n, m))),
    ("COMMUTATION_IDENTITIES", "K(n,1) = K(1,n) = I"):               E.Commutation((n, 1)),
    ("SUM_ENTRIES_IDENTITIES", "sum(y) = 1"):                        E.Sum(p),
    ("DIAG_IDENTITIES", "diag(a b^T) = a .* b"):                     E.DiagVector(E.MatMul((A, x, T(y), B))),
    ("TRACE_IDENTITIES", "tr(Q^T A Q) = tr(A)"):                     E.Trace(E.MatMul((T(Q), A, B, Q))),
    ("DET_IDENTITIES", "det(Q^T A Q) = det(A)"):                     E.Det(E.MatMul((Q, A, T(Q)))),
    ("LOGDET_IDENTITIES", "logdet(Q^T A Q) = logdet(A)"):            E.LogDet(E.MatMul((T(Q), S, Q))),
    ("NORM_IDENTITIES", "||Q x|| = ||x||"):                          E.Norm(E.MatMul((T(Q), A, x))),
    ("SUM_ENTRIES_IDENTITIES", "sum(softmax(u)) = 1"):               E.Sum(E.Softmax(E.MatMul((A, x)), 1)),
    ("PRODUCT_PAIR_IDENTITIES", "Q^T Q = I"):                        E.MatMul((A, T(Q), Q, x)),
    ("PRODUCT_PAIR_IDENTITIES", "Q Q^T = I"):                        E.MatMul((T(x), Q, T(Q))),
    ("PRODUCT_PAIR_IDENTITIES", "Y ones = ones"):                    E.MatMul((A, P, E.Ones((m, 1)))),
    ("PRODUCT_PAIR_IDENTITIES", "ones^T Y^T = ones^T"):              E.MatMul((E.Ones((1, m)), T(Y), A)),
    ("INVERSE_IDENTITIES", "Q^-1 = Q^T"):                            E.Inverse(Q),
    ("ELEM_POWER_IDENTITIES", "y .^ 2 = ones"):                      E.ElemPower(signs, Fraction(-4)),
    ("ELEM_POWER_IDENTITIES", "y .^ k = y"):                         E.ElemPower(bits, Fraction(3, 2)),
    ("APPLY_IDENTITIES", "abs(y) = relu(y) = y"):         E.Apply("relu", p),
    ("APPLY_IDENTITIES", "sign(y) = ones"):                E.Apply("sign", positive),
    ("APPLY_IDENTITIES", "sign(y) = y, abs(y) = ones"): E.Apply("abs", signs),
}
# fmt: on

ROWS = [(table, row) for table, rows in E.TABLES.items() for row in rows]


def built(raw: E.Expr) -> E.Expr:
    """The raw node built again by its constructor, from the same children."""
    if isinstance(raw, E.Vec):  # vec and K are not rebuilt by rebuild(), which keeps them as they are
        return E.vec(raw.arg)
    if isinstance(raw, E.Commutation):
        return E.commutation(raw.dims)
    return E.rebuild(raw, list(raw.children()))


@pytest.mark.parametrize("table, row", ROWS, ids=[f"{t}: {r.identity}" for t, r in ROWS])
def test_row_fires_and_keeps_the_value(table, row):
    key = (table, row.identity)
    assert key in EXAMPLES, f"the row '{row.words}: {row.identity}' of {table} has no example in EXAMPLES"
    raw = EXAMPLES[key]
    with E.recording() as fired:
        out = built(raw)
    assert (row.words, row.identity) in fired, f"{row.identity} did not fire on {raw!r}; fired: {fired}"
    assert out != raw
    for values, sizes in domain_points(raw, 2, seed=3, extra=(out,)):
        before, after = evaluate(raw, values, sizes), evaluate(out, values, sizes)
        assert before.shape == after.shape
        np.testing.assert_allclose(after, before, rtol=1e-9, atol=1e-12)


def test_every_example_names_a_row():
    known = {(table, row.identity) for table, row in ROWS}
    assert set(EXAMPLES) <= known, sorted(set(EXAMPLES) - known)


def test_identities_are_named_once_per_table():
    for table, rows in E.TABLES.items():
        identities = [row.identity for row in rows]
        assert len(identities) == len(set(identities)), table


def test_nothing_is_recorded_outside_a_recording():
    with E.recording() as fired:
        pass
    E.trace(E.Kron(A, C))
    assert fired == []


def test_rows_are_listed_in_the_order_they_complete():
    with E.recording() as fired:
        E.trace(E.Scale(s, E.DiagMatrix(x)))
    assert fired == [("the trace of a diagonal matrix", "tr(diag(v)) = sum(v)"),
                     ("a scalar factor leaves the trace", "tr(a U) = a tr(U)")]


def test_a_recording_inside_another_passes_on_what_it_saw():
    with E.recording() as outer:
        E.trace(E.Kron(A, C))
        with E.recording() as inner:
            E.det(E.Identity(n))
    assert inner == [("the determinant of the identity", "det(I) = 1")]
    assert outer == [("the trace of a Kronecker product", "tr(A kron B) = tr(A) tr(B)"), *inner]


def test_a_remembered_transpose_cites_its_identities_again():
    product = E.MatMul((A, X))
    assert E.transpose(product) == E.mul(E.transpose(X), E.transpose(A))  # computed, and remembered, unrecorded
    for _ in range(2):
        with E.recording() as fired:
            E.transpose(product)
        assert fired == [("the transpose of a product reverses it", "(U V)^T = V^T U^T")]


def test_what_a_predicate_builds_is_not_recorded():
    # telling that X^T S X is symmetric transposes its factors (S^T = S among them): not part of the result
    with E.recording() as fired:
        E.transpose(E.mul(E.mul(E.transpose(X), S), X))
    assert fired == [("a symmetric matrix is its own transpose", "S^T = S")]



def test_kronecker_forms_as_magnus_and_neudecker_write_them():
    """K(p,m) (A kron B) K(n,q) = B kron A, K(m,n) K(n,m) = I and (A kron B)^-1 = A^-1 kron B^-1,
    as printed text and as values."""
    from matcalc.parser import parse
    from matcalc.printing import to_text

    P = E.Symbol("P", "matrix", (m, n))  # A = X is n x m, B = P is m x n: K(m,n) (X kron P) K(m,n)
    raw = E.MatMul((E.Commutation((m, n)), E.Kron(X, P), E.Commutation((m, n))))
    swapped = E.mul(E.mul(E.commutation((m, n)), E.kron(X, P)), E.commutation((m, n)))
    assert to_text(swapped) == "kron(P, X)"
    cancelled = E.mul(E.mul(E.kron(X, P), E.commutation((m, n))), E.commutation((n, m)))
    assert to_text(cancelled) == "kron(X, P)"
    for values, sizes in domain_points(raw, 2, seed=2, extra=(swapped, P)):
        np.testing.assert_allclose(evaluate(swapped, values, sizes), evaluate(raw, values, sizes), rtol=1e-12)
    inverse = parse("inv(kron(A, B))")
    assert to_text(inverse) == "kron(A^-1, B^-1)"
    raw_inverse = E.Inverse(E.Kron(*(s for s in sorted(inverse.free, key=lambda s: s.name))))
    for values, sizes in domain_points(raw_inverse, 2, seed=2, extra=(inverse,)):
        np.testing.assert_allclose(evaluate(inverse, values, sizes), evaluate(raw_inverse, values, sizes), rtol=1e-10)
