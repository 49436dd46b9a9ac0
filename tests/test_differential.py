"""Every rule of the differential table, checked against central differences on random inputs."""

import numpy as np
import pytest
from conftest import directional_fd, point_for, variable

import matcalc
from matcalc import expr as E
from matcalc.differential import LEMMAS, RULES, differential, row_for
from matcalc.evaluate import evaluate
from matcalc.functions import FUNCTIONS

# (expression, variable, declarations): at least one case per rule of the table
CASES = [
    ("x + A x", "x", {}),
    ("A X B", "X", {}),
    ("X^T X", "X", {}),
    ("(x^T x) A x", "x", {}),
    ("s A", "s", {"s": "scalar"}),
    ("X^T A", "X", {}),
    ("inv(X)", "X", {}),
    ("inv(A X B)", "X", {}),
    ("X^3", "X", {}),
    ("X^-2", "X", {}),
    ("(x^T x)^(3/2)", "x", {}),
    ("(x^T A x)^-1", "x", {}),
    ("x .* (A x)", "x", {}),
    ("X .* X .* A", "X", {}),
    ("x .^ 3", "x", {}),
    ("exp(x) .^ (1/2)", "x", {}),
    ("exp(A x)", "x", {}),
    ("det(X)", "X", {}),
    ("det(A X B)", "X", {}),
    ("logdet(X)", "X", {}),
    ("logdet(X^T X)", "X", {}),
    ("tr(A X)", "X", {}),
    ("sum(X .* X)", "X", {}),
    ("||x||", "x", {}),
    ("||A X - B||_F", "X", {}),
    ("diag(x) A", "x", {}),
    ("diag(X)", "X", {}),
    ("softmax(A x)", "x", {}),
    ("logsumexp(A x)", "x", {}),
    ("softmax(X W)", "W", {}),
    ("softmax(X W, 1)", "X", {}),
    ("logsoftmax(A x)", "x", {}),
    ("logsoftmax(X W)", "X", {}),
    ("logsoftmax(X, 1)", "X", {}),
    ("logsumexp(X W)", "W", {}),
    ("logsumexp(X, 1)", "X", {}),
    ("mean(X .* X)", "X", {}),
    ("mean(X W, 1)", "X", {}),
    ("mean(exp(X), 2)", "X", {}),
    ("var(x)", "x", {}),
    ("var(X W)", "W", {}),
    ("var(X, 1)", "X", {}),
    ("var(X, 2)", "X", {}),
    ("std(X)", "X", {}),
    ("std(X, 1)", "X", {}),
    ("std(X W, 2)", "W", {}),
    ("kron(X, A)", "X", {}),
    ("vec(X A)", "X", {}),
    ("X .^ 2 ./ (1 + exp(X))", "X", {}),
]

# (expression, variable, declarations): cases of each lemma, a compound form with a rule of its own
LEMMA_CASES = [
    ("(X - mean(X, 2) ones^T) ./ (std(X, 2) ones^T)", "X", {}),  # layer norm's x̂
    ("(X - ones mean(X, 1)) ./ (ones sqrt(var(X, 1) + eps))", "X", {"eps": "scalar"}),  # batch norm's
    ("(X W - mean(X W, 2)) ./ sqrt(var(X W, 2) + 0.1) .* (ones g^T)", "W", {}),  # of a product, scaled
    ("(X - mean(X)) ./ std(X)", "X", {}),  # over all entries
    ("(X - mean(X, 2)) ./ sqrt(var(X, 2) + eps ones)", "eps", {"eps": "scalar"}),  # the offset varies
    ("(X - mean(X, 2)) ./ sqrt(var(X, 2) + e)", "X", {"e": "vector"}),  # an offset per row
]


def check_differential(text, name, declare, seed=0):
    f = matcalc.parse(text, declare)
    x = variable(f, name)
    df = differential(f, x)
    values, sizes = point_for(f, seed)
    rng = np.random.default_rng(seed + 7)
    v = rng.standard_normal(values[name].shape)
    predicted = evaluate(df, {**values, "d" + name: v}, sizes)
    numeric = directional_fd(f, values, sizes, name, v)
    assert predicted.shape == numeric.shape
    np.testing.assert_allclose(predicted, numeric, rtol=1e-5, atol=1e-7, err_msg=f"d({text}) = {df}")
    return f


@pytest.mark.parametrize("text, name, declare", CASES)
def test_rule_matches_finite_differences(text, name, declare):
    for seed in range(2):
        check_differential(text, name, declare, seed)


def test_every_rule_has_a_case():
    covered = set()
    for text, _name, declare in CASES:
        stack = [matcalc.parse(text, declare)]
        while stack:
            node = stack.pop()
            covered.add(type(node))
            stack.extend(node.children())
    assert set(RULES) <= covered, f"rules without a numeric test: {set(RULES) - covered}"


@pytest.mark.parametrize("text, name, declare", LEMMA_CASES)
def test_lemma_matches_finite_differences(text, name, declare):
    for seed in range(2):
        check_differential(text, name, declare, seed)


def lemmas_applied(f) -> set:
    return {words for node in E.nodes(f) for applies, words, _, _ in LEMMAS if applies(node)}


def test_every_lemma_has_a_case_it_applies_to():
    applied = set().union(*(lemmas_applied(matcalc.parse(text, declare)) for text, _, declare in LEMMA_CASES))
    assert {words for _, words, _, _ in LEMMAS} <= applied


@pytest.mark.parametrize("text", [
    "(X - mean(X, 2) ones^T) ./ (ones std(X, 1))",  # centred along one axis, spread along the other
    "(X - mean(X, 2)) ./ std(Y, 2)",  # the spread of another matrix
    "(X - mean(X, 2)) ./ sqrt(var(X, 2) .^ 2)",  # not the spread
    "(X - mean(Y, 2)) ./ std(X, 2)",  # centred on another matrix's mean
])
def test_other_ratios_are_not_standardisations(text):
    f = matcalc.parse(text)
    assert not lemmas_applied(f)
    check_differential(text, "X", {})  # and the ordinary rules differentiate them


@pytest.mark.parametrize("fn", sorted(FUNCTIONS))
def test_elementwise_rule_for_each_function(fn):
    inner = "exp(A x)" if FUNCTIONS[fn].domain == "positive" else "A x + 0.1"
    check_differential(f"{fn}({inner})", "x", {})


def test_differential_is_linear_in_dx():
    f = matcalc.parse("x^T A x")
    df = differential(f, variable(f, "x"))
    assert str(df) == "dx^T A x + x^T A dx"


def test_rule_names_read_like_the_table():
    assert RULES[E.Inverse][:2] == ("differential of the inverse", "d(U^-1) = -U^-1 dU U^-1")
    assert RULES[E.Det][1] == "d det U = det U tr(U^-1 dU)"
