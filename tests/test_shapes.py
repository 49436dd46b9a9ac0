"""Sizes as values: products of named sizes, and products of placeholders while text is parsed."""

import pickle

import numpy as np
import pytest

import matcalc
import matcalc.expr as E
from matcalc.evaluate import size_of
from matcalc.shapes import DimVar, Size, Unifier, product_dim, shape_str, size_factors

# ------------------------------------------------------------------ Size


def test_products_commute():
    assert product_dim("n", "m") == product_dim("m", "n")
    assert hash(product_dim("n", "m")) == hash(product_dim("m", "n"))
    assert product_dim(product_dim("n", "m"), "p") == product_dim("m", product_dim("p", "n"))
    assert product_dim("n", "m") != product_dim("n", "p")
    assert product_dim("n", "n") != "n"


def test_a_product_has_one_form():
    assert product_dim(1, 1) == 1
    assert product_dim("n", 1) == "n"  # a name stays a name
    assert product_dim(1, "n") == "n"
    assert isinstance(product_dim("n", "m"), Size)


def test_products_print_sorted():
    assert str(product_dim("n", "m")) == "m*n"
    assert str(product_dim("n", "n")) == "n*n"
    assert str(product_dim(2, "q", "p")) == "2*p*q"
    assert f"{product_dim('n', 'm')}" == "m*n"
    assert shape_str((product_dim("n", "n"), 1)) == "n*n x 1"


def test_size_factors():
    assert size_factors(1) == (1, ())
    assert size_factors("n") == (1, ("n",))
    assert size_factors(product_dim("n", "m")) == (1, ("m", "n"))
    assert size_factors(product_dim(3, "n", "n")) == (3, ("n", "n"))


def test_sizes_are_immutable_values():
    s = product_dim("n", "m")
    with pytest.raises(AttributeError):
        s.number = 2
    assert pickle.loads(pickle.dumps(s)) == s
    assert {s: 1}[product_dim("m", "n")] == 1


def test_size_of_a_product():
    assert size_of(product_dim("n", "m"), {"n": 3, "m": 4}) == 12
    assert size_of(product_dim(2, "n"), {"n": 3}) == 6
    with pytest.raises(matcalc.MatcalcError, match="the size m is not known"):
        size_of(product_dim("n", "m"), {"n": 3})


# ------------------------------------------------------------------ products of placeholders


def test_equal_products_of_placeholders_unify():
    u, a, b, c = Unifier(), DimVar("a"), DimVar("b"), DimVar("c")
    assert u.unify(product_dim(a, b), product_dim(b, a)) is not None
    d = DimVar("d")
    assert u.unify(product_dim(a, d), product_dim(d, c)) is not None  # equal as multisets of what they stand for
    assert str(u.find(product_dim(c, d))) in ("a*d", "c*d")


def test_common_factors_cancel():
    # sizes are whole numbers above 0: a*b = c*b only when a = c, so that ties them
    u, a, b, c, d = Unifier(), DimVar("a"), DimVar("b"), DimVar("c"), DimVar("d")
    assert u.unify(product_dim(a, b), product_dim(c, b)) is not None
    assert u.find(a) is u.find(c)
    assert u.unify(product_dim(a, d), product_dim(b, b)) is None  # no factor in common: refused
    assert u.unify(product_dim(d, d), product_dim(b, b)) is not None  # equal squares: d = b
    assert u.find(d) is u.find(b)


def test_a_placeholder_is_bound_to_a_product():
    u, a, b, c = Unifier(), DimVar("a"), DimVar("b"), DimVar("c")
    ab = product_dim(a, b)
    assert u.unify(c, ab) == ab
    assert u.find(c) == ab
    u.unify(a, b)  # what a product stands for follows its factors
    assert u.find(c) == u.find(product_dim(b, b))


def test_products_that_only_some_sizes_make_equal_are_refused():
    u, a, b, c, d = Unifier(), DimVar("a"), DimVar("b"), DimVar("c"), DimVar("d")
    assert u.unify(product_dim(a, b), product_dim(c, d)) is None
    assert u.unify(a, product_dim(a, b)) is None  # a = a*b only if b = 1
    assert u.unify(product_dim(a, b), 1) is None


# inputs refused while a product of placeholders was a fresh placeholder of its own
ACCEPTED = [
    ("kron(w, w) + 2", "n*n x 1"),
    ("c - kron(w, w)", "n*n x 1"),
    ("exp(kron(x, y)) + 1", "m*n x 1"),
    ("sum(kron(z, y^T) A)", "1 x 1"),
    ("kron(x, y^T) + C", "n x m"),
    ("kron(Y, z) u", "n*p x 1"),
    ("w^T kron(y, u)", "1 x 1"),
    ("kron(x, y) + kron(y, x)", "m*n x 1"),
    ("kron(x, y) + kron(x, z)", "m*n x 1"),  # common factors cancel: y and z are one size
]


@pytest.mark.parametrize("text, shape", ACCEPTED)
def test_products_of_placeholders_are_sizes(text, shape):
    e = matcalc.parse(text)
    assert shape_str(e.shape) == shape
    assert matcalc.parse(str(e)) == e


def test_a_placeholder_bound_to_a_product_is_named_as_one():
    e = matcalc.parse("c - kron(w, w)")
    c = next(s for s in e.free if isinstance(s, E.Symbol) and s.name == "c")
    assert c.dims == (product_dim("n", "n"), 1)


GRADIENTS = [
    ("||kron(w, w) + 2||^2", "w", "(2 kron(I, w^T) + 2 kron(w^T, I)) (kron(w, w) + 2)"),
    ("||c - kron(w, w)||^2", "c", "2 (c - kron(w, w))"),
    ("||c - kron(w, w)||^2", "w", "-(2 kron(I, w^T) + 2 kron(w^T, I)) (c - kron(w, w))"),
    ("sum(exp(kron(x, y)) + 1)", "x", "kron(I, y^T) exp(kron(x, y))"),
    ("sum(exp(kron(x, y)) + 1)", "y", "kron(x^T, I) exp(kron(x, y))"),
    ("sum(kron(z, y^T) A)", "A", "kron(z^T, y) (ones ones^T)"),
    ("sum(kron(z, y^T) A)", "z", None),
    ("sum(kron(x, y^T) + C)", "C", "ones ones^T"),
    ("sum(kron(x, y^T) + C)", "x", None),
    ("sum(kron(Y, z) u)", "u", "sum(z) Y^T ones"),
    ("sum(kron(Y, z) u)", "z", None),
    ("w^T kron(y, u)", "w", "kron(y, u)"),
    ("w^T kron(y, u)", "y", "kron(I, u^T) w"),
    ("w^T kron(y, u)", "u", "kron(y^T, I) w"),
]


@pytest.mark.parametrize("text, wrt, expected", GRADIENTS)
def test_gradients_through_products_of_sizes(text, wrt, expected):
    r = matcalc.gradient(text, wrt=wrt)
    if expected is not None:
        assert str(r) == expected
    assert r.check().ok, str(r.check())


def test_jacobian_of_a_product_of_sizes():
    r = matcalc.jacobian("kron(w, w) + 2", wrt="w")
    assert str(r) == "kron(I[n], w) + kron(w, I[n])"  # the size of I written: nothing else ties it
    assert r.check().ok
    w = np.array([1.0, 2.0, -1.0])
    np.testing.assert_allclose(r.to_numpy()(w=w), np.kron(np.eye(3), w[:, None]) + np.kron(w[:, None], np.eye(3)))


@pytest.mark.parametrize("text, cause", [
    ("kron(x, y) + kron(z, w)", "cannot add kron(x, y) (m*n x 1) and kron(z, w) (p*q x 1)"),
    ("w - kron(w, w)", "cannot add w (n x 1) and -kron(w, w) (n*n x 1)"),
    ("kron(x, y)^T kron(z, w)", "cannot multiply"),
])
def test_products_not_known_to_be_equal_are_refused(text, cause):
    with pytest.raises(matcalc.ShapeError) as err:
        matcalc.parse(text)
    assert cause in str(err.value)


def test_generated_code_sizes_products_from_the_inputs():
    r = matcalc.hessian("||kron(w, w) + 2||^2", wrt="w")
    assert r.check().ok
    w = np.array([1.0, 2.0, -1.0])
    np.testing.assert_allclose(r.to_numpy()(w=w), r.evaluate({"w": w}))
    assert r.exact_check()
