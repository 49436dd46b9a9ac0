"""Definitions in the input: ``NAME = expression`` statements before the function."""

import re
import time
from pathlib import Path

import pytest

import matcalc
from matcalc.errors import ParseError
from matcalc.expr import nodes
from matcalc.parser import Program, parse_program
from matcalc.verify import symbols_of

RESIDUAL = "H1 = tanh(W1 x); H2 = H1 + tanh(W2 H1); sum(H2)"
RESIDUAL_INLINE = "sum(tanh(W1 x) + tanh(W2 tanh(W1 x)))"
NETWORK = "FC = X W1 + b1^T; A = sigmoid(FC); Y = A W2 + b2^T; ||Y - T||_F^2"
NETWORK_INLINE = "||sigmoid(X W1 + b1^T) W2 + b2^T - T||_F^2"


def parse(text, declare=None):
    return matcalc.parse(text, declare)


def residual_stack(depth: int) -> str:
    lines = ["H0 = x"] + [f"H{i} = H{i - 1} + tanh(W{i} H{i - 1})" for i in range(1, depth + 1)]
    return "\n".join([*lines, f"sum(H{depth})"])


def error(text, declare=None) -> ParseError:
    with pytest.raises(ParseError) as info:
        parse(text, declare)
    return info.value


def check_caret(err: ParseError, text: str):
    """The message's second line is the offending line of the text, the third a caret under the column."""
    first, shown, caret = str(err).splitlines()
    assert shown == "  " + text.split("\n")[err.line - 1]
    assert caret == "  " + " " * (err.column - 1) + "^"


# ------------------------------------------------------------------ the function, with definitions substituted


def test_the_examples_are_the_inline_expression():
    three_lines = RESIDUAL.replace("; ", "\n")
    assert parse(RESIDUAL) == parse(three_lines) == parse(RESIDUAL_INLINE)


def test_the_layered_network_of_the_notes():
    assert parse(NETWORK) == parse(NETWORK_INLINE)
    assert parse(NETWORK.replace("; ", "\n")) == parse(NETWORK_INLINE)


def test_program_holds_the_function_the_definitions_and_the_notes():
    program = parse_program(RESIDUAL)
    assert isinstance(program, Program)
    assert program.function == parse(RESIDUAL)
    assert [name for name, _ in program.definitions] == ["H1", "H2"]
    assert program.definitions[0][1] == parse("tanh(W1 x)")
    assert program.definitions[1][1] == parse("tanh(W1 x) + tanh(W2 tanh(W1 x))")
    assert program.notes == ()
    with pytest.raises(AttributeError):
        program.function = None


def test_a_text_without_definitions_is_a_program_of_its_function_alone():
    program = parse_program("x^T A x")
    f = parse("x^T A x")
    assert program == Program(f, (), (), program.symbols)
    assert set(program.symbols) == set(f.free)


def test_a_defined_name_stands_for_the_same_node():
    program = parse_program(RESIDUAL)
    h1 = program.definitions[0][1]
    assert any(node is h1 for node in nodes(program.function))
    assert any(node is h1 for node in nodes(program.definitions[1][1]))


def test_definitions_share_their_sizes_with_the_function():
    program = parse_program("h = W x; h^T A h")
    (_, h), f = program.definitions[0], program.function
    a = next(s for s in symbols_of(f) if s.name == "A")
    assert a.shape == (h.shape[0], h.shape[0])
    assert h.shape == ("n", 1)


def test_a_defined_name_takes_its_shape_from_its_expression():
    assert parse_program("H1 = tanh(W1 x); H1").function.shape[1] == 1  # a vector, although uppercase
    assert parse("s = x^T x; s x").shape == parse("x").shape  # a scalar, although lowercase
    assert parse("s = x^T x; s").shape == (1, 1)
    assert parse("M = x x^T; M x") == parse("x x^T x")


@pytest.mark.parametrize("name", ["h", "H", "FC", "fc", "Theta", "mu_hat", "layer2", "softmaxed"])
def test_defined_names_of_any_case_and_length(name):
    assert parse(f"{name} = W x; sum({name})") == parse("sum(W x)")


# ------------------------------------------------------------------ depth: a DAG, not a tree


def test_a_residual_stack_of_depth_64_parses_fast():
    text = residual_stack(64)
    start = time.perf_counter()
    f = parse(text)
    assert time.perf_counter() - start < 1.0
    assert f.shape == (1, 1)


def test_a_residual_stack_has_a_linear_number_of_distinct_nodes():
    count = {depth: len(list(nodes(parse(residual_stack(depth))))) for depth in (8, 16, 32, 64)}
    steps = {count[16] - count[8], (count[32] - count[16]) // 2, (count[64] - count[32]) // 4}
    assert len(steps) == 1, count  # the same number of nodes for each layer
    assert count[64] < 10 * 64


# ------------------------------------------------------------------ derivatives of a text with definitions


@pytest.mark.parametrize("text, wrt", [
    (RESIDUAL, ["W1", "W2", "x"]),
    (NETWORK, ["W1", "b1", "W2", "b2"]),
    ("s = x^T A x; t = exp(-s / 2); t x^T b", ["x", "b"]),
    (residual_stack(3), ["W1", "W3", "x"]),
])
def test_gradients_of_texts_with_definitions_check(text, wrt):
    results = matcalc.gradient(text, wrt=wrt)
    for r in results.values():
        assert r.check().ok, (text, r.variable, str(r))


def test_gradient_is_that_of_the_inline_text():
    defined = matcalc.gradient(NETWORK, wrt="W1")
    inline = matcalc.gradient(NETWORK_INLINE, wrt="W1")
    assert str(defined) == str(inline)


# ------------------------------------------------------------------ separators and line breaks


@pytest.mark.parametrize("text", [
    "a = W x; sum(a)",
    "a = W x\nsum(a)",
    "a = W x;\nsum(a)",
    "a = W x\r\nsum(a)\r\n",
    "\n\na = W x\n\n\nsum(a)\n\n",
    "a = W x;; sum(a);",
    "; a = W x; sum(a) ;;",
    "  a = W x  \n\t sum(a)  ",
])
def test_separators_may_repeat_lead_and_trail(text):
    assert parse(text) == parse("sum(W x)")


@pytest.mark.parametrize("text, inline", [
    ("a = (W\nx)\nsum(a)", "sum(W x)"),
    ("a = exp(\nW x\n)\nsum(a)", "sum(exp(W x))"),
    ("a = ||x\n- y||\nsum(a x)", "sum(||x - y|| x)"),
    ("a = W x +\ny\nsum(a)", "sum(W x + y)"),
    ("a = W x\n+ y\nsum(a)", "sum(W x + y)"),
    ("a = W x\n\n  + y\nsum(a)", "sum(W x + y)"),
    ("a = W x\n- y\nsum(a)", "sum(W x - y)"),
    ("a = W *\nx\n.* y\nsum(a)", "sum(W x .* y)"),
    ("a = (W x + y)\n'\nsum(a)", "sum((W x + y)')"),
    ("a = (W x)\n^T\nsum(a)", "sum((W x)^T)"),
    ("a\n= W x\nsum(a)", "sum(W x)"),
])
def test_a_line_break_inside_brackets_or_next_to_an_operator_is_a_space(text, inline):
    assert parse(text) == parse(inline)


def test_a_line_break_in_a_single_expression_next_to_an_operator():
    assert parse("x^T A x\n+ 2 x^T b\n- c^T x") == parse("x^T A x + 2 x^T b - c^T x")
    assert parse("sum(\n  exp(x)\n)") == parse("sum(exp(x))")
    assert parse("x^T *\nA x") == parse("x^T A x")


# ------------------------------------------------------------------ defined names are never split


def test_a_defined_name_is_not_split_into_letters():
    assert parse("FC = X W1; sum(FC)") == parse("sum(X W1)")
    assert parse("sum(F C)") == parse("sum(FC)")  # undefined, FC is the product F C


def test_a_defined_name_is_one_name_everywhere_and_letters_around_it_still_split():
    assert parse("AB = X W; sum(AB) + sum(A B)") == parse("sum(X W) + sum(A B)")
    # a run of letters is still split into letters, each of which may be defined
    assert parse("x = W z; sum(Ax)") == parse("x = W z; sum(A x)")


def test_a_transpose_exponent_is_not_a_defined_t():
    assert parse("T = W x; T^T T") == parse("(W x)^T (W x)")


def test_a_name_defined_later_is_not_split_where_it_is_used_first():
    err = error("G = FC + 1; FC = X W; sum(G)")
    assert err.cause.startswith("FC is used at column 5 before its definition at column 13")


# ------------------------------------------------------------------ unused definitions


def test_an_unused_definition_gets_a_note():
    program = parse_program("H1 = tanh(W1 x); H2 = H1 + tanh(W2 H1); sum(H1)")
    assert program.notes == ("H2 is defined but never used",)
    assert program.function == parse("sum(tanh(W1 x))")


def test_a_definition_only_unused_ones_use_gets_a_note():
    program = parse_program("a = W x; b = exp(a); c = b + a; sum(x)")
    assert program.notes == ("a is used only by definitions the function does not use (b, c)",
                             "b is used only by definitions the function does not use (c)",
                             "c is defined but never used")


def test_a_definition_used_through_another_is_used():
    assert parse_program("a = W x; b = exp(a); sum(b)").notes == ()


def test_an_unused_definition_does_not_rename_the_sizes_of_the_function():
    assert parse("U = A B; x^T x").shape == (1, 1)
    assert parse("U = A B; x").shape == ("n", 1)
    assert parse_program("U = A B; x").definitions[0][1].shape == ("m", "q")  # after x's n


# ------------------------------------------------------------------ errors


@pytest.mark.parametrize("text, line, column, cause", [
    ("H = x; H = y; sum(H)", 1, 8, "H is defined twice, at column 1 and at column 8: each name is defined once"),
    ("H = x\nH = y\nsum(H)", 2, 1, "H is defined twice, at line 1, column 1 and at line 2, column 1"),
    ("a = a + 1", 1, 5, "a is used in its own definition at column 5: a definition can use only names defined "
                        "before it (so definitions cannot form a cycle)"),
    ("FC = FC W; sum(FC)", 1, 6, "FC is used in its own definition at column 6"),
    ("a = b; b = a; a", 1, 5, "b is used at column 5 before its definition at column 8: a name must be defined before "
                              "its first use, and a variable cannot be redefined (so definitions cannot form a cycle)"),
    ("y = x + 1\nx = W z\nsum(y)", 1, 5, "x is used at line 1, column 5 before its definition at line 2, column 1"),
    ("G = Ax; x = W z; sum(G)", 1, 6, "x is used at column 6 before its definition at column 9"),
    ("exp = x; sum(exp)", 1, 1, "cannot define exp at column 1: it is a function"),
    ("tr = x; x", 1, 1, "cannot define tr at column 1: it is a function"),
    ("I = x; I", 1, 1, "cannot define I at column 1: it is the identity matrix"),
    ("x = W z\nones = x\nsum(x)", 2, 1, "cannot define ones at line 2, column 1: it is the all-ones vector"),
    ("H = W x;", 1, 9, "the text ends with a definition at column 9: the last statement must be the function, "
                       "an expression"),
    ("H = W x", 1, 8, "the text ends with a definition at column 8"),
    ("H = W x\n\n", 1, 8, "the text ends with a definition at column 8"),  # trailing line breaks make no line
    ("a = W x\nb = a +", 2, 8, "the expression ends too early at line 2, column 8"),
    ("x; y", 1, 4, "unexpected 'y' at column 4: only the last statement is an expression, those before it must be "
                   "definitions NAME = expression"),
    ("x^T A\nx", 2, 1, "a product written by juxtaposition cannot go on to the next line: write '*'"),
    ("x + y = 3", 1, 7, "unexpected '=' at column 7: a definition is one name, '=' and an expression, at the start "
                        "of a statement"),
    ("a = b = c; a", 1, 7, "unexpected '='"),
    ("(a = x) + a", 1, 4, "unexpected '='"),
    ("(x; y)", 1, 3, "missing ')' before ';' at column 3, for the '(' at column 1"),
    ("a = W x\nsum(a +)", 2, 8, "expected an expression before ')' at line 2, column 8"),
    ("a = W x\nfoo(a)", 2, 1, "unknown function 'foo' at line 2, column 1"),
    ("a = W x\nb = a @ a", 2, 7, "unexpected character '@' at line 2, column 7"),
    ("x +;", 1, 4, "unexpected ';' at column 4; expected an expression"),
])
def test_errors_name_the_column_and_the_line(text, line, column, cause):
    err = error(text)
    assert cause in err.cause, err.cause
    assert (err.line, err.column) == (line, column)
    assert "\n" not in err.cause
    check_caret(err, text)


def test_a_declared_name_cannot_be_defined():
    err = error("A = W x; x^T A", {"A": "symmetric"})
    assert err.cause == "cannot define A at column 1: it is a declared variable (symmetric)"


@pytest.mark.parametrize("text", [";", ";;", " ; \n ;"])
def test_separators_alone_are_empty(text):
    assert error(text).cause == "empty expression"


def test_a_single_line_error_keeps_its_columns_only():
    err = error("x + * y")
    assert err.cause == "unexpected '*' at column 5; expected an expression"
    assert err.line == 1


def test_the_readme_example_is_the_inline_network():
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    block = re.search(r"\*\*Definitions\.\*\*.*?```\n(.*?)```", readme, flags=re.S).group(1)
    assert parse(block) == parse(NETWORK_INLINE)
