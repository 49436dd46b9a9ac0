"""Naming shared subexpressions, and the names the user defined in the input."""

import numpy as np
import pytest
from conftest import point_for

import matcalc
from matcalc.cse import share, symbol_for
from matcalc.evaluate import evaluate
from matcalc.parser import parse_program
from matcalc.printing import to_text

RESIDUAL = "H1 = tanh(W1 x); H2 = H1 + tanh(W2 H1); sum(H2)"
NETWORK = "FC = X W1 + b1^T; A = sigmoid(FC); Y = A W2 + b2^T; ||Y - T||_F^2"


def gradients(text, wrt):
    program = parse_program(text)
    results = matcalc.gradient(program.function, wrt=wrt)
    return program, {name: r.expr for name, r in results.items()}


def written(definitions, rewritten):
    return [f"{to_text(s)} = {to_text(v)}" for s, v in definitions], {k: to_text(v) for k, v in rewritten.items()}


def same_values(function, results, definitions, rewritten):
    """The definitions evaluated in order, then the rewritten results, equal the results."""
    values, sizes = point_for(function)
    known = dict(values)
    for symbol, value in definitions:
        known[symbol.name] = evaluate(value, known, sizes)
    for label, e in results.items():
        np.testing.assert_allclose(evaluate(rewritten[label], known, sizes), evaluate(e, values, sizes), rtol=1e-12)


# ------------------------------------------------------------------ automatic names


def test_shared_subexpressions_get_automatic_names():
    program, results = gradients("||sigmoid(X W1 + b1^T) W2 + b2^T - Y||_F^2", ["W1", "b1", "W2", "b2"])
    definitions, rewritten = share(results)
    assert [s.name for s, _ in definitions] == ["Z1", "Z2", "Z3"]
    same_values(program.function, results, definitions, rewritten)


def test_nothing_shared_nothing_named():
    _, results = gradients("x^T A x", ["x"])
    assert share(results) == ([], results)


# ------------------------------------------------------------------ given names


def test_the_layered_network_is_written_with_its_own_names():
    program, results = gradients(NETWORK, ["W1", "b1", "W2", "b2"])
    definitions, rewritten = share(results, given=program.definitions)
    lines, shown = written(definitions, rewritten)
    assert lines == ["FC = X W1 + b1^T", "A = sigmoid(FC)", "Y = A W2 + b2^T",
                     "Z1 = Y - T", "Z2 = (Z1 W2^T) .* A .* (1 - A)"]
    assert shown == {"W1": "2 X^T Z2", "b1": "2 Z2^T ones", "W2": "2 A^T Z1", "b2": "2 Z1^T ones"}
    same_values(program.function, results, definitions, rewritten)


def test_a_given_name_is_defined_though_it_occurs_once():
    program, results = gradients("h = W x; exp(h)^T b", ["b"])
    definitions, rewritten = share(results, given=program.definitions)
    assert written(definitions, rewritten) == (["h = W x"], {"b": "exp(h)"})


def test_a_given_name_that_does_not_occur_is_not_listed():
    program, results = gradients("u = A x; v = exp(u); sum(v) + x^T b", ["b"])
    definitions, rewritten = share(results, given=program.definitions)
    assert definitions == [] and to_text(rewritten["b"]) == "x"


def test_a_given_sum_is_found_among_the_terms_of_a_longer_one():
    program = parse_program("H1 = tanh(W1 x); H2 = H1 + tanh(W2 H1); H3 = H2 + tanh(W3 H2); ||H3||")
    definitions, rewritten = share({"f": program.function}, given=program.definitions)
    lines, shown = written(definitions, rewritten)
    assert lines == ["H1 = tanh(W1 x)", "H2 = H1 + tanh(W2 H1)", "H3 = H2 + tanh(W3 H2)"]
    assert shown == {"f": "||H3||"}
    same_values(program.function, {"f": program.function}, definitions, rewritten)


def test_a_given_sum_that_a_result_only_holds_in_parts_is_not_listed():
    program = parse_program(RESIDUAL)  # sum(H2) is written sum(H1) + sum(tanh(W2 H1))
    definitions, rewritten = share({"f": program.function}, given=program.definitions)
    assert written(definitions, rewritten) == (["H1 = tanh(W1 x)"], {"f": "sum(H1) + sum(tanh(W2 H1))"})


def test_a_given_product_is_found_as_a_run_of_factors():
    program = parse_program("h = W1 x; g = W2 h; g^T g")
    definitions, rewritten = share({"f": program.function}, given=program.definitions)
    assert written(definitions, rewritten) == (["h = W1 x", "g = W2 h"], {"f": "g^T g"})


def test_given_names_come_first_where_their_dependencies_allow():
    program, results = gradients(RESIDUAL, ["W1", "W2"])
    definitions, rewritten = share(results, given=program.definitions)
    names = [s.name for s, _ in definitions]
    assert names[0] == "H1"
    assert names.index("H1") < min(names.index(n) for n in names if n.startswith("z"))
    same_values(program.function, results, definitions, rewritten)


def test_definitions_are_in_dependency_order():
    program, results = gradients(
        "a = W x; b = exp(a) + a; c = tanh(b) .* b; sum(c) + sum(log(1 + exp(V y)))", ["W", "V"])
    definitions, rewritten = share(results, given=program.definitions)
    defined = set()
    for symbol, value in definitions:
        assert {s.name for s in value.free} - defined <= {"W", "x", "V", "y"}, to_text(value)
        defined.add(symbol.name)
    same_values(program.function, results, definitions, rewritten)


def test_automatic_names_avoid_the_given_ones():
    program, results = gradients("Z1 = X W1 + b1^T; z1 = sigmoid(Z1); ||z1 W2 + b2^T - Y||_F^2", ["W1", "W2"])
    definitions, rewritten = share(results, given=program.definitions)
    names = [s.name for s, _ in definitions]
    assert names[:2] == ["Z1", "z1"] and len(set(names)) == len(names)
    assert "Z2" in names
    same_values(program.function, results, definitions, rewritten)


def test_a_given_name_for_a_variable_or_a_number_is_not_used():
    program = parse_program("a = x; c = 2; s = x^T x; c a s")
    definitions, rewritten = share({"f": program.function}, given=program.definitions)
    assert written(definitions, rewritten) == (["s = x^T x"], {"f": "2 s x"})


def test_a_given_name_has_the_kind_and_shape_of_its_expression():
    program = parse_program("M = x y^T; v = A x; s = x^T x; r = x^T A; sum(M) + sum(v) + s + sum(r)")
    kinds = {name: (symbol_for(name, e).kind, symbol_for(name, e).shape == e.shape) for name, e in program.definitions}
    assert kinds == {"M": ("matrix", True), "v": ("vector", True), "s": ("scalar", True), "r": ("vector", True)}


def test_a_given_name_that_is_a_variable_of_the_results_is_refused():
    _, results = gradients("x^T A x", ["x"])
    with pytest.raises(ValueError, match="A"):
        share(results, given=[("A", parse_program("W x").function)])


def test_min_size_does_not_apply_to_given_names():
    program, results = gradients("s = x^T A x; exp(s)", ["x"])
    definitions, rewritten = share(results, min_size=50, given=program.definitions)
    assert written(definitions, rewritten) == (["s = x^T A x"], {"x": "exp(s) (A + A^T) x"})
