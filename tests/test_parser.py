"""The surface syntax: names, operators, functions, shape inference, printing back."""

from fractions import Fraction

import pytest
from sizes import matches_up_to_sizes

import matcalc
from matcalc.expr import Const
from matcalc.printing import to_latex
from matcalc.verify import symbols_of


def parse(text, declare=None):
    return matcalc.parse(text, declare)


def symbol(e, name):
    found = [s for s in symbols_of(e) if s.name == name]
    assert found, f"{name} is not a symbol of {e}"
    return found[0]


def names(e):
    return sorted(s.name for s in symbols_of(e))


# ------------------------------------------------------------------ names


@pytest.mark.parametrize(
    "text, name, kind",
    [
        ("x", "x", "vector"),
        ("A", "A", "matrix"),
        ("W1", "W1", "matrix"),
        ("b_2", "b_2", "vector"),
        ("X_F", "X_F", "matrix"),
        ("w12", "w12", "vector"),
        ("b_out", "b_out", "vector"),
    ],
)
def test_single_names_and_default_kinds(text, name, kind):
    e = parse(text)
    assert str(e) == name
    assert names(e) == [name]
    assert symbol(e, name).kind == kind


@pytest.mark.parametrize("text", ["x", "b_2", "w12"])
def test_lowercase_names_are_column_vectors(text):
    rows, cols = parse(text).shape
    assert cols == 1
    assert rows != 1


@pytest.mark.parametrize("text", ["A", "W1", "X_F"])
def test_uppercase_names_are_matrices_of_two_free_sizes(text):
    rows, cols = parse(text).shape
    assert rows != cols
    assert 1 not in (rows, cols)


@pytest.mark.parametrize(
    "run, spaced",
    [
        ("AXB", "A X B"),
        ("x^TAx", "x^T A x"),
        ("ABC", "A B C"),
        ("Ab1", "A b1"),
        ("AW1", "A W1"),
        ("W1x", "W1 x"),
        ("xy^T", "x y^T"),
        ("x^TA^Tx", "x^T A^T x"),
        ("det(AXB)", "det(A X B)"),
        ("tr(AB)", "tr(A B)"),
    ],
)
def test_runs_of_letters_are_products_of_one_letter_names(run, spaced):
    assert parse(run) == parse(spaced)
    assert str(parse(run)) == str(parse(spaced))


def test_a_run_of_letters_names_each_letter():
    assert names(parse("AXB")) == ["A", "B", "X"]


def test_declared_longer_name_is_one_symbol():
    e = parse("theta^T x", {"theta": "vector"})
    assert names(e) == ["theta", "x"]
    assert e.shape == (1, 1)
    assert symbol(e, "theta").shape == symbol(e, "x").shape


def test_undeclared_longer_name_is_split_into_letters():
    # x y z: a product of three column vectors cannot be formed
    with pytest.raises(matcalc.ShapeError):
        parse("xyz")


def test_declared_name_inside_a_longer_expression():
    e = parse("logdet(S) + (x - mu)^T inv(S) (x - mu)", {"S": "symmetric", "mu": "vector"})
    assert names(e) == ["S", "mu", "x"]
    assert e.shape == (1, 1)


@pytest.mark.parametrize(
    "name, kind",
    [("theta", "vector"), ("M", "vector"), ("a", "matrix"), ("s", "scalar"), ("S", "symmetric"), ("Sigma", "symmetric")],
)
def test_declared_kinds_override_the_default(name, kind):
    e = parse(name, {name: kind})
    assert symbol(e, name).kind == kind


def test_declared_scalar_has_shape_one_by_one():
    e = parse("s", {"s": "scalar"})
    assert e.shape == (1, 1)
    scaled = parse("s x", {"s": "scalar"})
    assert scaled.shape == parse("x").shape
    assert parse("x / s", {"s": "scalar"}).shape == parse("x").shape


def test_declared_vector_for_an_uppercase_name():
    e = parse("M", {"M": "vector"})
    assert e.shape[1] == 1


def test_declared_matrix_for_a_lowercase_name():
    rows, cols = parse("a", {"a": "matrix"}).shape
    assert rows != cols and 1 not in (rows, cols)


def test_declared_symmetric_is_square_and_its_own_transpose():
    d = {"S": "symmetric"}
    rows, cols = parse("S", d).shape
    assert rows == cols and rows != 1
    assert parse("S^T", d) == parse("S", d)
    assert parse("S'", d) == parse("S", d)
    assert str(parse("S^T", d)) == "S"


# ------------------------------------------------------------------ products and transposes


@pytest.mark.parametrize(
    "left, right",
    [
        ("A*B", "A B"),
        ("A * x", "A x"),
        ("2*x", "2 x"),
        ("x^T * A * x", "x^T A x"),
        ("A'", "A^T"),
        ("x' A x", "x^T A x"),
        ("(A B)'", "(A B)^T"),
        ("A^-1", "inv(A)"),
        ("A^-1 x", "inv(A) x"),
        ("A^-T", "inv(A)^T"),
        ("A^-T", "(A^-1)^T"),
        ("A^-T", "(A^T)^-1"),
        ("A A", "A^2"),
        ("A A A", "A^3"),
        ("A^2 A", "A^3"),
        ("A^0", "I"),
        ("x^T^T", "x"),
        ("x''", "x"),
        ("x ^ T", "x^T"),
        ("A x + y", "(A x) + y"),
        ("-x^T x", "-(x^T x)"),
        ("2 x + y", "(2 x) + y"),
    ],
)
def test_equivalent_spellings(left, right):
    assert parse(left) == parse(right)


def test_transpose_swaps_the_shape():
    a = parse("A")
    at = parse("A^T")
    assert at.shape == (a.shape[1], a.shape[0])
    assert parse("x^T").shape == (1, parse("x").shape[0])


def test_integer_matrix_power_is_square():
    for text in ("A^2", "A^3", "A^-2", "A^{2}"):
        rows, cols = parse(text).shape
        assert rows == cols, text


def test_products_associate_left_to_right_and_tie_sizes():
    e = parse("A B C")
    a, b, c = symbol(e, "A"), symbol(e, "B"), symbol(e, "C")
    assert a.shape[1] == b.shape[0]
    assert b.shape[1] == c.shape[0]
    assert e.shape == (a.shape[0], c.shape[1])


# ------------------------------------------------------------------ powers of scalars


def test_norm_cubed():
    e = parse("||x||^3")
    assert e.shape == (1, 1)
    assert str(e) == "||x||^3"


@pytest.mark.parametrize("text", ["(x^T x)^(3/2)", "(x^T x)^{3/2}", "(x^T x)^1.5"])
def test_real_power_of_a_scalar(text):
    e = parse(text)
    assert e.shape == (1, 1)
    assert e == parse("(x^T x)^(3/2)")
    assert str(e) == "(x^T x)^(3/2)"


def test_negative_and_fractional_powers_of_scalars():
    assert parse("||x||^-1") == parse("1 / ||x||")
    assert parse("(x^T x)^(-1/2)").shape == (1, 1)
    assert parse("(x^T x)^(1/2)") == parse("(x^T x)^0.5")


def test_number_powers_fold():
    assert parse("2^3") == parse("8")
    assert parse("4^(1/2)") == parse("2")
    assert parse("2^-1 x") == parse("x / 2")


# ------------------------------------------------------------------ sums, signs and numbers


@pytest.mark.parametrize(
    "left, right",
    [
        ("-x", "(-1) x"),
        ("-x", "-1 x"),
        ("--x", "x"),
        ("+x", "x"),
        ("x - y", "x + (-y)"),
        ("x - y", "x + -y"),
        ("x / 2", "0.5 x"),
        ("x / 2", "(1/2) x"),
        ("x / 2", ".5 x"),
        ("1e-3 x", "x / 1000"),
        ("1.5e2 x", "150 x"),
        ("2 3 x", "6 x"),
        ("x + x", "2 x"),
        ("x - x + y", "y"),
    ],
)
def test_signs_numbers_and_division(left, right):
    assert parse(left) == parse(right)


@pytest.mark.parametrize(
    "text, value",
    [
        ("2", Fraction(2)),
        ("0.5", Fraction(1, 2)),
        ("1e-3", Fraction(1, 1000)),
        ("1E3", Fraction(1000)),
        ("2.5e+1", Fraction(25)),
        (".25", Fraction(1, 4)),
        ("-3", Fraction(-3)),
        ("1/3", Fraction(1, 3)),
    ],
)
def test_numbers_are_exact(text, value):
    e = parse(text)
    assert isinstance(e, Const)
    assert e.value == value
    assert e.shape == (1, 1)


def test_sum_and_difference_tie_sizes():
    e = parse("x + y - z")
    sizes = {symbol(e, n).shape for n in "xyz"}
    assert len(sizes) == 1
    assert e.shape == symbol(e, "x").shape


def test_division_by_a_scalar_expression():
    e = parse("x / (x^T x)")
    assert e.shape == parse("x").shape
    assert parse("A / ||A||_F").shape == parse("A").shape


# ------------------------------------------------------------------ element-wise operators


@pytest.mark.parametrize("text, printed", [("x .* y", "x .* y"), ("x ./ y", "x ./ y"), ("x .^ 2", "x .^ 2")])
def test_elementwise_operators(text, printed):
    e = parse(text)
    assert str(e) == printed
    assert e.shape == symbol(e, "x").shape
    if "y" in text:
        assert symbol(e, "y").shape == symbol(e, "x").shape


def test_elementwise_operators_on_matrices():
    e = parse("A .* B")
    assert symbol(e, "A").shape == symbol(e, "B").shape == e.shape
    assert parse("A .^ 3").shape == parse("A").shape
    assert parse("A ./ B").shape == parse("A").shape


def test_elementwise_square_equals_hadamard_with_itself():
    assert parse("x .^ 2") == parse("x .* x")
    assert parse("x ./ y") == parse("x .* y .^ -1")


# ------------------------------------------------------------------ functions


ELEMENTWISE = ["exp", "log", "sin", "cos", "tanh", "sigmoid", "softplus", "sqrt", "relu"]


@pytest.mark.parametrize("fn", ELEMENTWISE)
def test_elementwise_functions_keep_the_shape(fn):
    for arg in ("x", "X", "A x + b"):
        e = parse(f"{fn}({arg})")
        assert e.shape == parse(arg).shape, (fn, arg)
    assert str(parse(f"{fn}(x)")) == f"{fn}(x)"


@pytest.mark.parametrize("fn", ["det", "logdet", "tr"])
def test_square_functions_give_a_scalar_and_make_the_argument_square(fn):
    e = parse(f"{fn}(A)")
    assert e.shape == (1, 1)
    a = symbol(e, "A")
    assert a.shape[0] == a.shape[1]
    assert str(e) == f"{fn}(A)"


def test_trace_of_a_product_ties_the_outer_sizes():
    e = parse("tr(A B)")
    a, b = symbol(e, "A"), symbol(e, "B")
    assert a.shape[0] == b.shape[1]
    assert a.shape[1] == b.shape[0]


@pytest.mark.parametrize(
    "text, shape_of",
    [
        ("sum(x)", "scalar"),
        ("sum(A)", "scalar"),
        ("logsumexp(x)", "scalar"),
        ("softmax(x)", "x"),
        ("softmax(W x + b)", "b"),
    ],
)
def test_reductions_and_softmax(text, shape_of):
    e = parse(text)
    if shape_of == "scalar":
        assert e.shape == (1, 1)
    else:
        assert e.shape == symbol(e, shape_of).shape


def test_diag_of_a_vector_is_square_and_of_a_matrix_is_a_vector():
    dv = parse("diag(x)")
    assert dv.shape == (symbol(dv, "x").shape[0],) * 2
    dm = parse("diag(A)")
    a = symbol(dm, "A")
    assert a.shape[0] == a.shape[1]
    assert dm.shape == (a.shape[0], 1)


def test_every_function_of_the_list_parses():
    for fn in ["det", "logdet", "tr"]:
        parse(f"{fn}(A)")
    for fn in ["sum", "softmax", "logsumexp", "diag", *ELEMENTWISE]:
        parse(f"{fn}(x)")


def test_function_arguments_may_be_whole_expressions():
    e = parse("sum(log(1 + exp(-y .* (X w))))")
    assert e.shape == (1, 1)
    assert names(e) == ["X", "w", "y"]


# ------------------------------------------------------------------ norms


def test_vector_norms():
    assert parse("||x||").shape == (1, 1)
    assert parse("||x||_2") == parse("||x||")
    assert parse("||x - y||").shape == (1, 1)


def test_frobenius_norm():
    e = parse("||X||_F")
    assert e.shape == (1, 1)
    assert names(e) == ["X"]
    assert parse("||X||_F^2").shape == (1, 1)
    assert parse("||A - B||_F").shape == (1, 1)


def test_norms_inside_products_and_sums():
    assert parse("||x|| x").shape == parse("x").shape
    assert parse("||x|| + ||y||").shape == (1, 1)
    assert parse("x / ||x||").shape == parse("x").shape
    assert parse("(||x||)^2") == parse("||x||^2")


# ------------------------------------------------------------------ I, ones, broadcasting


def test_identity_and_ones():
    i = parse("I")
    assert i.shape[0] == i.shape[1]
    ones = parse("ones")
    assert ones.shape[1] == 1
    assert parse("I x") == parse("x")
    assert parse("ones^T x").shape == (1, 1)
    assert parse("x + ones").shape == parse("x").shape
    assert str(parse("I")) == "I"
    assert str(parse("ones")) == "ones"


def test_identity_takes_the_size_of_its_partner():
    e = parse("A + I")
    a = symbol(e, "A")
    assert a.shape[0] == a.shape[1]
    assert e.shape == a.shape


def test_scalar_broadcasts_over_a_vector():
    e = parse("1 + exp(x)")
    assert e.shape == parse("x").shape
    assert parse("exp(x) - 1").shape == parse("x").shape
    assert parse("x^T x + x").shape == parse("x").shape


def test_row_broadcasts_over_a_matrix():
    e = parse("X W + b^T")
    assert e.shape == parse("X W").shape
    w, b = symbol(e, "W"), symbol(e, "b")
    assert b.shape[0] == w.shape[1]


def test_two_layer_network_shape():
    e = parse("sigmoid(X W1 + b1^T) W2 + b2^T")
    x, w2 = symbol(e, "X"), symbol(e, "W2")
    assert e.shape == (x.shape[0], w2.shape[1])


# ------------------------------------------------------------------ shape inference


def test_quadratic_form_makes_the_matrix_square():
    e = parse("x^T A x")
    a, x = symbol(e, "A"), symbol(e, "x")
    assert e.shape == (1, 1)
    assert a.shape[0] == a.shape[1]
    assert a.shape[0] == x.shape[0]


def test_matrix_vector_sum_ties_sizes():
    e = parse("A x + y")
    a, x, y = symbol(e, "A"), symbol(e, "x"), symbol(e, "y")
    assert a.shape[1] == x.shape[0]
    assert a.shape[0] == y.shape[0]
    assert e.shape == y.shape
    assert a.shape[0] != a.shape[1]


def test_row_times_matrix_is_a_row():
    e = parse("x^T A")
    a, x = symbol(e, "A"), symbol(e, "x")
    assert e.shape[0] == 1
    assert e.shape == (1, a.shape[1])
    assert a.shape[0] == x.shape[0]
    # nothing forces A to be square
    assert a.shape[0] != a.shape[1]


def test_bilinear_form_leaves_the_matrix_rectangular():
    e = parse("x^T A y")
    a, x, y = symbol(e, "A"), symbol(e, "x"), symbol(e, "y")
    assert e.shape == (1, 1)
    assert a.shape == (x.shape[0], y.shape[0])
    assert x.shape[0] != y.shape[0]


def test_outer_product():
    e = parse("x y^T")
    assert e.shape == (symbol(e, "x").shape[0], symbol(e, "y").shape[0])


def test_sizes_are_named_in_order_of_appearance():
    assert parse("x").shape == ("n", 1)
    assert parse("A").shape == ("n", "m")
    assert parse("x^T A").shape == (1, "m")


def test_parsed_expressions_are_hashable_and_immutable():
    a, b = parse("x^T A x"), parse("x^T A x")
    assert a == b and hash(a) == hash(b)
    assert len({a, b, parse("x^T x")}) == 2
    with pytest.raises(AttributeError):
        a.shape = (2, 2)


# ------------------------------------------------------------------ round trip and LaTeX


CORPUS = [
    ("x", None),
    ("A", None),
    ("W1 x + b_2", None),
    ("x^T A x", None),
    ("AXB", None),
    ("x^TAx", None),
    ("theta^T x", {"theta": "vector"}),
    ("s x", {"s": "scalar"}),
    ("x^T S x", {"S": "symmetric"}),
    ("A^-1 x", None),
    ("inv(A) x", None),
    ("A^-T", None),
    ("A^3", None),
    ("A'", None),
    ("x' y", None),
    ("||x||^3", None),
    ("(x^T x)^(3/2)", None),
    ("||x||_2", None),
    ("||X||_F", None),
    ("||X||_F^2", None),
    ("1 + exp(x)", None),
    ("X W + b^T", None),
    ("b^T + X W", None),
    ("-x", None),
    ("a - b", None),
    ("x / 2", None),
    ("2 x", None),
    ("0.5 x", None),
    ("1e-3 x", None),
    ("x .* y", None),
    ("x ./ y", None),
    ("x .^ 2", None),
    ("det(A)", None),
    ("logdet(X)", None),
    ("tr(A B)", None),
    ("sum(x)", None),
    ("softmax(W x + b)", None),
    ("logsumexp(x)", None),
    ("diag(x)", None),
    ("diag(A)", None),
    ("exp(x)", None),
    ("log(x)", None),
    ("sin(x) + cos(x)", None),
    ("tanh(x)", None),
    ("sigmoid(x)", None),
    ("softplus(x)", None),
    ("sqrt(x)", None),
    ("relu(x)", None),
    ("I", None),
    ("ones", None),
    ("ones^T x", None),
    ("A + I", None),
    ("x^T (A + B) y", None),
    ("-y^T log(softmax(W x + b))", None),
    ("sum(log(1 + exp(-y .* (X w))))", None),
    ("||sigmoid(X W1 + b1^T) W2 + b2^T - Y||_F^2", None),
    ("logdet(S) + (x - mu)^T inv(S) (x - mu)", {"S": "symmetric", "mu": "vector"}),
    ("(x^T A x)(x^T B x)", None),
    ("det(AXB)", None),
    ("x^T x / (1 + x^T x)", None),
    ("2^(1/2) x", None),
    ("exp(-x^T x / 2)", None),
    ("(A B)^-1", None),
    ("(A B)^-T", None),
    ("x^T A^2 x", None),
    ("1 / ||x||", None),
    ("(X W + b^T)^T", None),
    ("(x^T A)^T", None),
    ("(A x)^T", None),
    ("(A B)^T", None),
    ("y^T (A B)^T x", None),
]


def _id(case):
    text, declare = case
    return text if declare is None else f"{text} with {declare}"


@pytest.mark.parametrize("case", CORPUS, ids=[_id(c) for c in CORPUS])
def test_round_trip(case):
    text, declare = case
    e = parse(text, declare)
    printed = str(e)
    again = parse(printed, declare)
    assert matches_up_to_sizes(again, e), (
        f"{text!r} printed as {printed!r} parses to something else: "
        f"sizes {sorted((s.name, s.shape) for s in symbols_of(e))} became "
        f"{sorted((s.name, s.shape) for s in symbols_of(again))}"
    )


@pytest.mark.parametrize("case", CORPUS, ids=[_id(c) for c in CORPUS])
def test_printing_is_stable(case):
    text, declare = case
    printed = str(parse(text, declare))
    assert str(parse(printed, declare)) == printed


@pytest.mark.parametrize("case", CORPUS, ids=[_id(c) for c in CORPUS])
def test_latex_never_raises(case):
    text, declare = case
    latex = to_latex(parse(text, declare))
    assert isinstance(latex, str) and latex.strip()
    assert "\n" not in latex


def test_corpus_is_large_enough():
    assert len(CORPUS) >= 30


@pytest.mark.parametrize("text, shape", [
    ("vec(A) + x", "m*n x 1"),
    ("K[n, m] x", "n*m x 1"),
    ("K[2, 3]", "6 x 6"),
])
def test_vec_and_the_commutation_matrix_parse(text, shape):
    from matcalc.shapes import shape_str

    e = matcalc.parse(text)
    assert shape_str(e.shape).replace("m*n", "n*m") == shape.replace("m*n", "n*m")


def test_the_commutation_matrix_transposes_vec():
    import numpy as np

    from matcalc.evaluate import evaluate

    e = matcalc.parse("K[2, 3] x")
    x = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(evaluate(e, {"x": x.reshape(-1, 1, order="F")}, {}), x.T.reshape(-1, 1, order="F"))


@pytest.mark.parametrize("text, message", [
    ("J[n, m]", "only K\\[m, n\\] .* take sizes in brackets"),
    ("K[0, n]", "a size is a name or a whole number"),
    ("K[1.5, n]", "a size is a name or a whole number"),
])
def test_sizes_in_brackets_refused(text, message):
    with pytest.raises(matcalc.ParseError, match=message):
        matcalc.parse(text)
