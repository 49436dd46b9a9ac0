"""Every node type against every table: a row missing (or one too many) fails, naming the pair."""

import pytest

import matcalc.expr as E
from matcalc import canonical, codegen, differential, evaluate, exact, printing
from matcalc.errors import MatcalcError, UnsupportedError
from matcalc.jacobian import JACOBIAN
from matcalc.registry import OPERATIONS, SUPPORTS, rule_for


def _subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


NODE_TYPES = sorted(set(_subclasses(E.Expr)), key=lambda t: t.__name__)


def _method(cls, node_type) -> bool:
    return hasattr(cls, "_" + node_type.__name__)


# what each table holds, read off the table itself
HAS = {
    "differential": lambda t: t in differential.RULES,
    "adjoint": lambda t: t in canonical.ADJOINT,
    "vec": lambda t: t in JACOBIAN,
    "evaluate": lambda t: t in evaluate.NUMPY or t in evaluate.LEAVES,
    "text": lambda t: _method(printing.TextPrinter, t),
    "latex": lambda t: _method(printing.LatexPrinter, t),
    "code": lambda t: t in codegen.CODE or t in codegen.HELPERS or _method(codegen._Generator, t),
    "exact": lambda t: t in exact.SYMPY or t in exact.LEAVES,
}


def test_every_operation_has_a_table():
    assert set(HAS) == set(OPERATIONS)


def test_every_node_type_is_registered():
    missing = [t.__name__ for t in NODE_TYPES if t not in SUPPORTS]
    assert not missing, f"node types without a row in registry.SUPPORTS: {missing}"


@pytest.mark.parametrize("operation", OPERATIONS)
@pytest.mark.parametrize("node_type", NODE_TYPES, ids=lambda t: t.__name__)
def test_table_matches_the_registry(node_type, operation):
    expected = operation in SUPPORTS.get(node_type, set())
    actual = HAS[operation](node_type)
    assert actual == expected, (
        f"{node_type.__name__} / {operation}: the registry says {'supported' if expected else 'unsupported'}, "
        f"the table {'has' if actual else 'lacks'} a row")


def test_the_check_fails_when_a_row_is_removed(monkeypatch):
    """The completeness check is not vacuous: a table without Trace's row is caught."""
    monkeypatch.delitem(canonical.ADJOINT, E.Trace)
    assert HAS["adjoint"](E.Trace) != ("adjoint" in SUPPORTS[E.Trace])


def test_an_unsupported_pair_is_a_clear_error():
    with pytest.raises(UnsupportedError, match=r"the reverse walk .* of an inverse is not supported"):
        rule_for(canonical.ADJOINT, E.Inverse(E.Symbol("X", "matrix", ("n", "n"))), "the reverse walk (a gradient or Jacobian through it)")
    assert issubclass(UnsupportedError, MatcalcError)


def test_evaluating_a_pending_differential_is_a_clear_error():
    x = E.Symbol("x", "vector", ("n", 1))
    with pytest.raises(UnsupportedError, match="numeric evaluation of an unexpanded differential"):
        evaluate.evaluate(E.DifferentialOf(E.apply("exp", x)), {"x": [[1.0]]}, {"n": 1})
