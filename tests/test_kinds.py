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
    assert kinds.NAMES == ("scalar", "vector", "matrix", "symmetric")
    assert kinds.listing() == "scalar, vector, matrix or symmetric"
    assert kinds.is_kind("symmetric") and not kinds.is_kind("Symmetric")
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


@pytest.mark.parametrize("name", kinds.NAMES)
def test_every_kind_is_checked(name):
    r = matcalc.gradient("sum(exp(S)) + ||S||^2", wrt="S", declare={"S": name})
    assert r.check().ok, str(r.check())
    assert r.exact_check()


def test_rows_are_complete():
    for kind, column in itertools.product(TABLE.values(), ("dims", "value", "direction", "project", "entry")):
        assert callable(getattr(kind, column)), (kind.name, column)
    assert all((kind.projection is None) == (kind.project is TABLE["matrix"].project) for kind in TABLE.values())
