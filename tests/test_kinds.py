"""The table of kinds: each row says all that depends on a symbol's kind."""

import itertools
from dataclasses import replace

import numpy as np
import pytest

import matcalc
import matcalc.expr as E
from matcalc import kinds
from matcalc.kinds import TABLE, kind_of, project


def test_the_kinds():
    assert kinds.NAMES == ("scalar", "vector", "matrix", "symmetric", "posdef", "diagonal", "positive", "orthogonal",
                           "onehot", "probability", "onehot_rows", "stochastic_rows", "pm1", "binary")
    assert kinds.listing().startswith("scalar, vector, matrix, symmetric, ") and kinds.listing().endswith(" or binary")
    assert kinds.is_kind("symmetric") and not kinds.is_kind("Symmetric")
    assert kinds.is_kind("spd") and kind_of("spd") is TABLE["posdef"] and kind_of("sign") is TABLE["pm1"]
    assert not kinds.is_kind(None) and not kinds.is_kind(["matrix"])  # unhashable: no TypeError


@pytest.mark.parametrize("name, dims", [("scalar", (1, 1)), ("vector", ("n", 1)), ("matrix", ("n", "m")),
                                        ("symmetric", ("n", "n"))])
def test_shapes_from_fresh_sizes(name, dims):
    fresh = iter(["n", "m"]).__next__
    assert TABLE[name].dims(fresh) == dims
    assert matcalc.parse("S", {"S": name}).shape == dims


def test_symmetric_symbols():
    assert E.is_symmetric(matcalc.parse("S", {"S": "symmetric"}))
    assert not E.is_symmetric(matcalc.parse("S", {"S": "matrix"}))
    assert str(matcalc.parse("S^T", {"S": "symmetric"})) == "S"


def test_projection_of_a_gradient():
    a = E.Symbol("A", "matrix", ("n", "n"))
    s = matcalc.parse("S", {"S": "symmetric"})
    assert project("matrix", a) is a
    assert str(project(s, a)) == "(A + A^T) / 2"
    assert project("symmetric", s) is s  # already symmetric


def test_random_values_and_directions():
    rng = np.random.default_rng(0)
    v = kind_of("symmetric").value(rng, rng.standard_normal((4, 4)))
    np.testing.assert_allclose(v, v.T)
    assert np.all(np.linalg.eigvalsh(v) > 0)
    d = kind_of("symmetric").direction(rng.standard_normal((4, 4)))
    np.testing.assert_allclose(d, d.T)
    square = kind_of("matrix").value(rng, rng.standard_normal((4, 4)))
    assert np.linalg.det(square) > 0
    entries = rng.standard_normal((4, 3))
    assert kind_of("matrix").value(rng, entries) is entries


def test_entries_of_explicit_matrices():
    assert kind_of("matrix").entry(2, 1) == (2, 1)
    assert kind_of("symmetric").entry(2, 1) == (1, 2) == kind_of("symmetric").entry(1, 2)


def test_hessian_support_and_its_message():
    with pytest.raises(matcalc.DerivativeError, match="the Hessian with respect to the symmetric matrix S"):
        matcalc.hessian("x^T S x", wrt="S", declare={"S": "symmetric"})


def test_derivation_names_the_projection():
    d = matcalc.derive("a^T S b", wrt="S", declare={"S": "symmetric"})
    assert any(rule == kind_of("symmetric").projection for step in d.steps for rule in step.why)


def test_a_new_kind_is_one_row(monkeypatch):
    """A square matrix of no other structure: added to the table, it is parsed, differentiated
    and checked (numerically and exactly) with no change elsewhere."""
    square = replace(TABLE["matrix"], name="square", noun="square matrix", dims=TABLE["symmetric"].dims)
    monkeypatch.setitem(TABLE, "square", square)
    r = matcalc.gradient("logdet(Q) + a^T Q b", wrt="Q", declare={"Q": "square"})
    assert str(r) == "Q^-T + a b^T"
    assert r.variable.shape[0] == r.variable.shape[1]
    assert r.check().ok
    assert r.exact_check()


@pytest.mark.parametrize("name", [name for name in kinds.NAMES if TABLE[name].fixed is None])
def test_every_kind_is_checked(name):
    r = matcalc.gradient("sum(exp(S)) + ||S||^2", wrt="S", declare={"S": name})
    assert r.check().ok, str(r.check())
    assert r.exact_check()


def test_rows_are_complete():
    for kind, column in itertools.product(TABLE.values(), ("dims", "value", "direction", "project", "entry")):
        assert callable(getattr(kind, column)), (kind.name, column)
    assert all((kind.projection is None) == (kind.project is TABLE["matrix"].project) for kind in TABLE.values())


# ---------------------------------------------------------------- assumptions as kinds


@pytest.mark.parametrize("name, dims", [
    ("posdef", ("n", "n")), ("diagonal", ("n", "n")), ("orthogonal", ("n", "n")), ("onehot", ("n", 1)),
    ("probability", ("n", 1)), ("onehot_rows", ("n", "m")), ("stochastic_rows", ("n", "m")),
])
def test_shapes_of_the_assumptions(name, dims):
    assert matcalc.parse("S", {"S": name}).shape == dims


@pytest.mark.parametrize("name", ["positive", "pm1", "binary"])
def test_labels_and_positive_entries_are_shaped_by_the_name_as_undeclared_names_are(name):
    assert matcalc.parse("y", {"y": name}).shape == ("n", 1)
    assert matcalc.parse("Y", {"Y": name}).shape == ("n", "m")


def _drawn(name, shape, seed=0):
    rng = np.random.default_rng(seed)
    return kind_of(name).value(rng, rng.standard_normal(shape))


def test_values_are_drawn_of_their_kind():
    for seed in range(5):
        y = _drawn("onehot", (5, 1), seed)
        assert sorted(y.ravel()) == [0, 0, 0, 0, 1]
        rows = _drawn("onehot_rows", (6, 3), seed)
        assert np.all(np.sort(rows, axis=1) == [0, 0, 1])
        p = _drawn("probability", (4, 1), seed)
        assert np.all(p > 0) and np.isclose(p.sum(), 1)
        s = _drawn("stochastic_rows", (4, 3), seed)
        assert np.all(s > 0) and np.allclose(s.sum(axis=1), 1)
        assert set(_drawn("pm1", (20, 1), seed).ravel()) == {-1, 1}
        assert set(_drawn("binary", (20, 2), seed).ravel()) == {0, 1}
        assert np.all(_drawn("positive", (3, 4), seed) > 0)
        q = _drawn("orthogonal", (4, 4), seed)
        np.testing.assert_allclose(q.T @ q, np.eye(4), atol=1e-12)
        np.testing.assert_allclose(q @ q.T, np.eye(4), atol=1e-12)
        a = _drawn("posdef", (4, 4), seed)
        np.testing.assert_allclose(a, a.T)
        assert np.all(np.linalg.eigvalsh(a) > 0)
        d = _drawn("diagonal", (4, 4), seed)
        assert np.count_nonzero(d - np.diag(np.diag(d))) == 0 and np.all(np.abs(np.diag(d)) >= 0.5)


def test_orthogonal_values_are_spread_over_the_group():
    """Q of a QR factorisation with R's signs fixed is Haar distributed: the mean of its entries is
    0 and each entry has variance 1/n."""
    qs = np.array([_drawn("orthogonal", (3, 3), seed) for seed in range(400)])
    assert abs(qs.mean()) < 0.03
    assert abs(qs.var() - 1 / 3) < 0.03


@pytest.mark.parametrize("name", [name for name in kinds.NAMES if TABLE[name].fixed is not None])
def test_no_derivative_with_respect_to_a_fixed_kind(name):
    with pytest.raises(matcalc.DerivativeError, match=f"Y is declared {name}, whose values are .*: there is no "
                                                      "derivative with respect to it; declare it a matrix"):
        matcalc.gradient("sum(exp(Y))", wrt="Y", declare={"Y": name})


def test_the_command_line_takes_the_kinds_and_refuses_a_fixed_variable(capsys):
    from matcalc.cli import main

    assert main(["grad", "-(y^T log(softmax(W x)))", "--wrt", "W", "--let", "y=onehot"]) == 0
    assert capsys.readouterr().out.strip() == "grad_W f = (softmax(W x) - y) x^T"
    assert main(["grad", "sum(y .* x)", "--wrt", "y", "--let", "y=onehot"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "y is declared onehot" in err


def test_a_declaration_that_contradicts_the_shape_is_a_one_line_error(capsys):
    from matcalc.cli import main

    assert main(["grad", "-(y^T log(softmax(W x)))", "--wrt", "W", "--let", "y=onehot_rows"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "y is declared onehot_rows (n x m), used first at column 3)" in err, err
    assert main(["grad", "x^T x + sum(diag(Q) x)", "--wrt", "x", "--let", "Q=orthogonal"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == ("error: cannot multiply diag(Q) (m x 1; Q is declared orthogonal (m x m), used first at column 18) "
                   "by x (n x 1)"), err


def _softmax(u):
    e = np.exp(u - u.max())
    return e / e.sum()


def test_softmax_regression_with_one_hot_labels():
    """The cross-entropy of softmax(W x) and a one-hot y: the W-gradient (softmax(W x) - y) x^T of
    the textbooks, where sum(y) = 1 collapses sum(y) softmax(W x) - y; checked at one-hot points,
    against finite differences of the loss written in numpy."""
    r = matcalc.gradient("-(y^T log(softmax(W x)))", wrt="W", declare={"y": "onehot"})
    assert str(r) == "(softmax(W x) - y) x^T"
    assert r.check().ok and r.exact_check()
    rng = np.random.default_rng(1)
    w, x, y = rng.standard_normal((4, 3)), rng.standard_normal((3, 1)), np.eye(4)[:, [2]]

    def loss(w):
        return -(y.T @ np.log(_softmax(w @ x))).item()

    h, fd = 1e-6, np.zeros_like(w)
    for i, j in itertools.product(range(4), range(3)):
        e = np.zeros_like(w)
        e[i, j] = h
        fd[i, j] = (loss(w + e) - loss(w - e)) / (2 * h)
    np.testing.assert_allclose(r.evaluate({"W": w, "x": x, "y": y}), fd, rtol=1e-6, atol=1e-9)
    plain = matcalc.gradient("-(y^T log(softmax(W x)))", wrt="W")
    assert str(plain) == "(sum(y) softmax(W x) - y) x^T"  # without the assumption the sum stays


def test_logistic_regression_with_sign_labels():
    r = matcalc.gradient("sum(log(1 + exp(-y .* (X w))))", wrt="w", declare={"y": "pm1"})
    assert str(r) == "-X^T (y .* sigmoid(-y .* (X w)))"
    assert r.check().ok
    h = matcalc.hessian("sum(log(1 + exp(-y .* (X w))))", wrt="w", declare={"y": "pm1"})
    # y .* y = ones: the labels leave the Hessian X^T diag(s .* (1 - s)) X, s = sigmoid(-y .* (X w))
    assert "y .* y" not in str(h) and str(h).startswith("X^T diag(")
    assert h.check().ok
    rng = np.random.default_rng(2)
    X, w, y = rng.standard_normal((5, 3)), rng.standard_normal((3, 1)), rng.choice([-1.0, 1.0], (5, 1))
    s = 1 / (1 + np.exp(y * (X @ w)))
    np.testing.assert_allclose(h.evaluate({"X": X, "w": w, "y": y}), X.T @ np.diag((s * (1 - s)).ravel()) @ X)


def test_gradients_on_diagonal_positive_definite_and_positive_kinds():
    r = matcalc.gradient("a^T D b", wrt="D", declare={"D": "diagonal"})
    assert str(r) == "diag(a .* b)"  # the diagonal of a b^T: dD has no other entries
    assert r.check().ok and r.exact_check()
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((3, 1)), rng.standard_normal((3, 1))
    np.testing.assert_allclose(r.evaluate({"a": a, "b": b, "D": np.eye(3)}), np.diag((a * b).ravel()))
    r = matcalc.gradient("logdet(D) + a^T D b", wrt="D", declare={"D": "diagonal"})
    assert str(r) == "D^-1 + diag(a .* b)"  # D^-1 is diagonal: the projection keeps it
    assert r.check().ok and r.exact_check()
    assert str(matcalc.gradient("logdet(S) + a^T S a", wrt="S", declare={"S": "spd"})) == "S^-1 + a a^T"
    r = matcalc.gradient("sum(abs(x)) + sum(log(x))", wrt="x", declare={"x": "positive"})
    assert str(r) == "1 + x .^ -1"  # abs(x) = x for positive x: no sign(x) and its kink
    assert r.check().ok and r.exact_check()


def test_orthogonal_matrices_cancel_their_transposes():
    r = matcalc.gradient("||Q^T Q x - b||^2 + tr(A Q^T Q)", wrt="x", declare={"Q": "orthogonal"})
    assert str(r) == "2 (x - b)"
    assert r.check().ok and r.exact_check()
    g = matcalc.gradient("tr(A inv(Q) B Q)", wrt="B", declare={"Q": "orthogonal"})
    assert str(g) == "Q A^T Q^T"
    rng = np.random.default_rng(4)
    a, q = rng.standard_normal((3, 3)), np.linalg.qr(rng.standard_normal((3, 3)))[0]
    np.testing.assert_allclose(g.evaluate({"A": a, "Q": q, "B": a}), (q @ a @ np.linalg.inv(q)).T)  # d tr(A Q^-1 B Q) = <(Q A Q^-1)^T, dB>
    assert g.check().ok and g.exact_check()


def test_an_orthogonal_change_of_basis_keeps_traces_determinants_and_norms():
    declare = {"Q": "orthogonal"}
    f = matcalc.parse("tr(Q^T A Q) + logdet(Q^T S Q) + ||Q (x - b)||^2", declare | {"S": "spd"})
    assert str(f) == "tr(A) + logdet(S) + ||x - b||^2"
    r = matcalc.gradient("||Q x - Q b||^2", wrt="x", declare=declare)
    assert str(r) == "2 (x - b)"  # Q^T Q = I in 2 Q^T (Q x - Q b)
    assert r.check().ok
    rng = np.random.default_rng(12)
    q = np.linalg.qr(rng.standard_normal((4, 4)))[0]
    a, m = rng.standard_normal((4, 4)), rng.standard_normal((4, 4))
    s = m @ m.T + np.eye(4)
    assert np.isclose(np.trace(q.T @ a @ q), np.trace(a))
    assert np.isclose(np.linalg.slogdet(q.T @ s @ q)[1], np.linalg.slogdet(s)[1])


def test_the_check_draws_values_of_the_kind():
    """Without the value drawn of its kind, an identity the kind licenses is false: the check of a
    gradient that used sum(y) = 1 fails at a y that does not sum to one."""
    r = matcalc.gradient("-(y^T log(softmax(W x)))", wrt="W", declare={"y": "probability"})
    assert r.check().ok
    as_vector = matcalc.gradient("-(y^T log(softmax(W x)))", wrt="W")
    collapsed = matcalc.parse(str(r))  # the same text, its y a plain vector
    from matcalc.verify import check_gradient

    assert check_gradient(as_vector.function, as_vector.variable, as_vector.expr).ok
    assert not check_gradient(as_vector.function, as_vector.variable, collapsed).ok


def test_derivations_cite_the_assumption_where_it_is_used():
    d = matcalc.derive("-(y^T log(softmax(W x)))", wrt="W", declare={"y": "onehot"})
    cited = [rule for step in d.steps for rule in step.why]
    assert ("a one-hot or probability vector sums to one", "sum(y) = 1") in cited
    assert "sum(y) = 1" in str(d)


@pytest.mark.parametrize("text, declare, expected", [
    ("sum(y) + ones^T y + y^T ones", {"y": "onehot"}, "3"),
    ("x (ones^T p) + sum(p) z", {"p": "probability"}, "x + z"),
    ("Y ones + P ones - ones^T P^T x", {"Y": "onehot_rows", "P": "stochastic_rows"}, "2 ones - sum(x) ones"),
    ("y .^ 2 + y .* y + y .^ 3 .* x", {"y": "pm1"}, "2 + y .* x"),
    ("y .* y .* x + y .^ 3", {"y": "binary"}, "y .* x + y"),
    ("e .* e - e .^ 4", {"e": "onehot"}, "0 ones"),
    ("Q^T Q x + Q Q^T x + inv(Q) A Q y", {"Q": "orthogonal"}, "2 x + Q^T A Q y"),
    ("D^T A D + S^T", {"D": "diagonal", "S": "spd"}, "D A D + S"),
    ("abs(x) + relu(x) + sign(x) .* z", {"x": "positive"}, "2 x + z"),
    ("sign(y) + abs(y)", {"y": "sign"}, "y + 1"),
])
def test_identities_an_assumption_licenses_keep_the_value_at_points_of_the_kind(text, declare, expected):
    from matcalc.evaluate import bind_sizes, evaluate
    from matcalc.parser import parse_program
    from matcalc.verify import dims_of, random_point

    program, plain = parse_program(text, declare), parse_program(text)
    assert str(program.function) == expected
    rng = np.random.default_rng(5)
    for _ in range(3):  # every symbol of the text drawn of its kind, those the identities removed too
        values, _ = random_point(program.symbols, dims_of(program.symbols), rng, positive=False, equal_sizes=True)
        at = [evaluate(p.function, values, bind_sizes(p.symbols, values)) for p in (program, plain)]
        np.testing.assert_allclose(*np.broadcast_arrays(*at), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kind", ["symmetric", "posdef"])
def test_the_symmetric_part_keeps_symmetric_terms_whole(kind):
    """sym(S^-1 - A^T) = S^-1 - (A + A^T)/2: the gradient of logdet(S) - tr(S A) on symmetric S, as
    the Matrix Cookbook's (57) and the symmetric-gradient papers write it."""
    r = matcalc.gradient("logdet(S) - tr(S A)", wrt="S", declare={"S": kind})
    assert str(r) == "S^-1 - A / 2 - A^T / 2"
    assert r.check().ok and r.exact_check()
    rng = np.random.default_rng(13)
    m, a = rng.standard_normal((3, 3)), rng.standard_normal((3, 3))
    s = m @ m.T + np.eye(3)
    np.testing.assert_allclose(r.evaluate({"S": s, "A": a}), np.linalg.inv(s) - (a + a.T) / 2)


def test_batched_softmax_cross_entropy_with_one_hot_rows():
    """The cross-entropy of a batch, the row-wise log-softmax written out: with one-hot rows of Y,
    Y ones = ones removes the row sums of Y, and the gradient is X^T (S - Y) for S the row-wise
    softmax of X W (its rows exp(X W) divided by their sums)."""
    text = "M = X W; -sum(Y .* (M - log(exp(M) ones) ones^T))"
    r = matcalc.gradient(text, wrt="W", declare={"Y": "onehot_rows"})
    assert str(r) == "X^T (((exp(X W) ones) .^ -1 ones^T) .* exp(X W) - Y)"
    assert "Y ones" in str(matcalc.gradient(text, wrt="W"))  # without the assumption the row sums stay
    assert r.check().ok
    rng = np.random.default_rng(14)
    X, W = rng.standard_normal((5, 3)), rng.standard_normal((3, 4))
    Y = np.eye(4)[rng.integers(4, size=5)]
    e = np.exp(X @ W)
    np.testing.assert_allclose(r.evaluate({"X": X, "W": W, "Y": Y}), X.T @ (e / e.sum(axis=1, keepdims=True) - Y))


def test_the_hessian_as_a_linear_map_on_diagonal_matrices():
    """H[dD] of logdet(D) + a^T D D b on diagonal D: the gradient D^-1 + diag(a .* (D b)) + diag((D a) .* b)
    differentiated along a diagonal dD, checked along diagonal directions."""
    r = matcalc.hvp("logdet(D) + a^T D D b", wrt="D", declare={"D": "diagonal"})
    report = r.check()
    assert report.ok and "no dense Hessian with respect to a diagonal matrix" in str(report)
    rng = np.random.default_rng(15)
    d, dd = np.diag(rng.uniform(1, 2, 3)), np.diag(rng.standard_normal(3))
    a, b = rng.standard_normal((3, 1)), rng.standard_normal((3, 1))
    expected = -np.linalg.inv(d) @ dd @ np.linalg.inv(d) + np.diag((a * (dd @ b) + (dd @ a) * b).ravel())
    np.testing.assert_allclose(r.evaluate({"D": d, "dD": dd, "a": a, "b": b}), expected)
