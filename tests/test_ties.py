"""Printed results read back with their sizes tied: the size of an I or ones that nothing else ties
is written in brackets (I[n], ones[n]), and a name in brackets is the size of the variables the
parser names so (n, m, p, ... in order of appearance)."""

import numpy as np
import pytest
from sizes import variable_ties

import matcalc
import matcalc.expr as E
from matcalc.evaluate import bind_sizes, evaluate
from matcalc.shapes import size_factors
from matcalc.verify import domain_points, symbols_of


def read_back_equal(r, declare=None):
    """str(r) parses back to an expression whose sizes all come from its variables, equal in value."""
    text = str(r)
    back = matcalc.parse(text, declare)
    for values, sizes in domain_points(r.expr, 2, seed=3, extra=(r.function,)):
        bound = bind_sizes(symbols_of(back), values)
        if not symbols_of(back):  # no variable to read sizes from: the names in brackets are its own
            bound = sizes
        needed = {n for node in E.nodes(back) for d in node.shape for n in size_factors(d)[1]}
        assert needed <= set(bound), f"{text!r}: the sizes {needed - set(bound)} are tied to no variable"
        np.testing.assert_allclose(evaluate(back, values, bound), evaluate(r.expr, values, sizes), rtol=1e-10,
                                   atol=1e-12, err_msg=text)
    return text


@pytest.mark.parametrize("kind, text, wrt, declare, printed", [
    ("jacobian", "tanh(W x + b)", "W", None, "kron(x^T, diag(1 - tanh(W x + b) .^ 2))"),  # README's
    ("jacobian", "v v^T", "v", None, "kron(v, I[n]) + kron(I[n], v)"),
    ("jacobian", "b Y", "b", {"b": "scalar"}, "vec(Y)"),
    ("jacobian", "exp(A^T) x", "A", None, "kron(x^T, I[p]) diag(vec(exp(A^T))) K[n, p]"),
    ("jacobian", "diag(X)", "X", None, "kron(ones[n]^T, I[n]) diag(vec(I[n]))"),
    ("jacobian", "W exp(diag(C))", "C", None, None),
    ("jacobian", "u .* diag(exp(C))", "C", None, "kron(ones[n]^T, diag(u)) diag(vec(I[n] .* exp(C)))"),
    ("gradient", "sum(kron(x^T, x))", "x", None, "2 sum(x) ones[n]"),
    ("gradient", "var(X W)", "W", None, "2 X^T (X W - mean(X W)) / (size(W, 2) size(X, 1))"),
    ("hessian", "x^T x x^T x", "x", None, None),
    ("hessian", "sum(exp(C + u^T))", "u", None, None),  # printed while its sizes were placeholders
])
def test_printed_results_read_back_with_their_sizes(kind, text, wrt, declare, printed):
    r = getattr(matcalc, kind)(text, wrt=wrt, declare=declare)
    got = read_back_equal(r, declare)
    if printed is not None:
        assert got == printed


@pytest.mark.parametrize("kind, text, wrt", [
    # diag() makes exp(V) W square: V's rows are W's columns, which the Jacobian meets only as n*m = p*q
    ("jacobian", "diag(exp(V) W)", "V"),
    ("jacobian", "diag(W exp(V))", "V"),
    ("jacobian", "diag(exp(V)^T W)", "V"),
    ("jacobian", "diag(A exp(V) W) .* x", "V"),
    # B square, which the Jacobian meets only as the n*n of vec(A), A gone from it
    ("jacobian", "diag(diag(diag(B (-A + I + (z + ones)^T))))", "A"),
    # the trace of a product: vec(W^T)^T against vec(exp(V)), no identity to write a size on
    ("jacobian", "tr(exp(V) W) x", "V"),
    ("jacobian", "tr(A exp(V) W) x", "V"),
    # V's shape met only by the columns of a Kronecker product, kron(W^T, A)
    ("jacobian", "A exp(V) W", "V"),
    ("jacobian", "W^T exp(V) u", "V"),
    ("jacobian", "sum(A exp(V) W) x", "V"),
])
def test_a_shape_met_only_through_a_product_of_sizes_is_written(kind, text, wrt):
    r = getattr(matcalc, kind)(text, wrt=wrt)
    assert r.check().ok
    got = read_back_equal(r)
    assert variable_ties(matcalc.parse(got)) == variable_ties(r.expr), got  # the same ties, no more, no fewer


@pytest.mark.parametrize("kind, text, wrt, apart", [
    # sum(W) - sum(z ones^T) ties no size of W to z, but V's shape is written
    ("jacobian", "gelu(sigmoid(sqrt(1 + V .* V))) logsigmoid(softmax(y) (-sum(-W + -z)))", "V", {"W", "z"}),
    # nor sum(sigmoid(S)) S to x, but A's shape is written
    ("hessian", "sum(sigmoid(-sigmoid(A) + diag(x + b)) + sigmoid(S))^-1", "x", {"S"}),
    ("hessian", "exp(sum(sin(diag(z)) + A))", "z", {"A"}),
])
def test_a_text_that_cannot_tie_every_size_still_reads_back(kind, text, wrt, apart):
    r = getattr(matcalc, kind)(text, wrt=wrt)
    assert r.check().ok
    got = read_back_equal(r)
    back = matcalc.parse(got)
    assert variable_ties(back) <= variable_ties(r.expr), got
    # the ties it lacks are those of a variable that only a scalar holds
    assert all({a[0], b[0]} & apart for a, b in variable_ties(r.expr) - variable_ties(back)), got


def test_a_size_of_its_own_is_named_apart_from_the_variables():
    # size[..] is the length of v, which the Jacobian does not hold: a name no variable of the text has,
    # while K's sizes are C's, and u's length is C's rows, not its columns
    r = matcalc.jacobian("sum(softmax(v) + 3) exp(C)^T u", wrt="C")
    assert r.check().ok
    text = str(r)
    back = matcalc.parse(text)
    assert variable_ties(back) == variable_ties(r.expr) == {(("C", 1), ("u", 1))}, text
    count = next(n for n in E.nodes(back) if isinstance(n, E.Count))
    assert count.n not in {d for s in symbols_of(back) for d in s.dims}, text


def test_ordinary_results_stay_as_they_were():
    assert str(matcalc.gradient("x^T A x", "x")) == "(A + A^T) x"
    assert str(matcalc.gradient("sum(x)", "x")) == "ones"
    assert str(matcalc.jacobian("A x", "x")) == "A"
    assert str(matcalc.gradient("sum(X W + ones b^T)", "b")) == "size[n] ones"


def test_names_in_brackets_are_the_sizes_of_the_variables():
    # n is the first size the text shows, x's: the identity has its size
    e = matcalc.parse("kron(x, I[n]) + kron(I[n], x)")
    assert e.shape[1] == "n" and str(e.shape[0]) == "n*n"
    assert matcalc.parse("x + ones[n]").shape == ("n", 1)
    # a name no variable's size has is a size of its own, tied by the rest as usual
    assert matcalc.parse("K[p, q] x").shape[1] == 1
    with pytest.raises(matcalc.ShapeError, match="the size n in brackets is the size n of the variables"):
        matcalc.parse("kron(x, x) + ones[n]")  # n is x's size, not n*n


def test_a_size_of_a_variable_not_in_the_result_is_its_own():
    # the size of A, which the gradient does not hold: named, and tied to nothing else
    assert str(matcalc.gradient("logdet(||x||^2 A)", "x")) == "2 size[m] x / ||x||^2"
