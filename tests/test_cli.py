"""The command line: output formats, several variables, declarations, and errors on stderr."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import matcalc
from matcalc.cli import main


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def lines(text):
    return [line for line in text.splitlines() if line.strip()]


# ------------------------------------------------------------------ plain output


def test_grad_prints_one_line(capsys):
    code, out, err = run(capsys, "grad", "x^T A x", "--wrt", "x")
    assert code == 0
    assert err == ""
    assert lines(out) == ["grad_x f = (A + A^T) x"]


@pytest.mark.parametrize(
    "expr, wrt, expected",
    [
        ("x^T x", "x", "grad_x f = 2 x"),
        ("||x||^3", "x", "grad_x f = 3 ||x|| x"),
        ("logdet(X)", "X", "grad_X f = X^-T"),
        ("det(AXB)", "X", "grad_X f = det(A X B) A^T (A X B)^-T B^T"),
        ("a^T X b", "X", "grad_X f = a b^T"),
        ("tr(A X B)", "X", "grad_X f = A^T B^T"),
    ],
)
def test_grad_output_format(capsys, expr, wrt, expected):
    code, out, _ = run(capsys, "grad", expr, "--wrt", wrt)
    assert code == 0
    assert lines(out) == [expected]


def test_printed_gradient_parses_back(capsys):
    code, out, _ = run(capsys, "grad", "sum(log(1 + exp(-y .* (X w))))", "--wrt", "w")
    assert code == 0
    label, _, value = lines(out)[0].partition(" = ")
    assert label == "grad_w f"
    expected = matcalc.gradient("sum(log(1 + exp(-y .* (X w))))", wrt="w")
    assert matcalc.parse(value) == expected.expr


def test_let_symmetric(capsys):
    code, out, err = run(capsys, "grad", "x^T A x", "--wrt", "x", "--let", "A=symmetric")
    assert code == 0
    assert err == ""
    assert lines(out) == ["grad_x f = 2 A x"]


def test_let_several_names_in_one_option_and_in_several(capsys):
    expr = "(x^T A x)(x^T B x)"
    code, out, _ = run(capsys, "grad", expr, "--wrt", "x", "--let", "A=symmetric,B=symmetric")
    assert code == 0
    one = lines(out)
    code, out, _ = run(capsys, "grad", expr, "--wrt", "x", "--let", "A=symmetric", "--let", "B=symmetric")
    assert code == 0
    assert lines(out) == one
    assert one == ["grad_x f = 2 (x^T B x) A x + 2 (x^T A x) B x"]


def test_let_a_longer_name(capsys):
    code, out, _ = run(capsys, "grad", "theta^T x", "--wrt", "theta", "--let", "theta=vector")
    assert code == 0
    assert lines(out) == ["grad_theta f = x"]


def test_let_scalar(capsys):
    code, out, _ = run(capsys, "grad", "s x^T x", "--wrt", "s", "--let", "s=scalar")
    assert code == 0
    assert lines(out) == ["grad_s f = x^T x"]


# ------------------------------------------------------------------ several variables


NET = "||sigmoid(X W1 + b1^T) W2 + b2^T - Y||_F^2"


def _gradients(out):
    found = {}
    for line in lines(out):
        label, eq, value = line.partition(" = ")
        assert eq, line
        if label.startswith("grad_"):
            found[label] = value
    return found


def test_several_variables_with_a_comma(capsys):
    code, out, err = run(capsys, "grad", "-y^T log(softmax(W x + b))", "--wrt", "W,b")
    assert code == 0
    assert err == ""
    assert lines(out) == [
        "grad_W f = (sum(y) softmax(W x + b) - y) x^T",
        "grad_b f = sum(y) softmax(W x + b) - y",
    ]


def test_several_variables_W1_b1(capsys):
    code, out, _ = run(capsys, "grad", NET, "--wrt", "W1,b1")
    assert code == 0
    grads = _gradients(out)
    assert list(grads) == ["grad_W1 f", "grad_b1 f"]
    assert all(v.strip() for v in grads.values())


def test_repeated_wrt_equals_comma_list(capsys):
    code, out_comma, _ = run(capsys, "grad", NET, "--wrt", "W1,b1")
    assert code == 0
    code, out_repeat, _ = run(capsys, "grad", NET, "--wrt", "W1", "--wrt", "b1")
    assert code == 0
    assert out_comma == out_repeat


def test_several_variables_match_the_api(capsys):
    code, out, _ = run(capsys, "grad", NET, "--wrt", "W1,b1,W2,b2", "--no-share")
    assert code == 0
    grads = _gradients(out)
    api = matcalc.gradient(NET, wrt=["W1", "b1", "W2", "b2"])
    assert grads == {f"grad_{name} f": str(r) for name, r in api.items()}


def test_shared_subexpressions_are_defined_before_use(capsys):
    code, out, _ = run(capsys, "grad", NET, "--wrt", "W1,b1,W2,b2")
    assert code == 0
    seen = lines(out)
    labels = [line.split(" = ")[0] for line in seen]
    assert labels[-4:] == ["grad_W1 f", "grad_b1 f", "grad_W2 f", "grad_b2 f"]
    for line in seen[:-4]:
        assert line.split(" = ")[0].startswith("Z")


# ------------------------------------------------------------------ LaTeX and JSON


def test_latex(capsys):
    code, out, _ = run(capsys, "grad", "x^T A x", "--wrt", "x", "--latex")
    assert code == 0
    assert lines(out) == [r"\nabla_{x} f = \left(A + A^{\top}\right) x"]


def test_latex_with_let(capsys):
    code, out, _ = run(capsys, "grad", "x^T A x", "--wrt", "x", "--let", "A=symmetric", "--latex")
    assert code == 0
    assert lines(out) == [r"\nabla_{x} f = 2 A x"]


def test_json(capsys):
    code, out, err = run(capsys, "grad", "x^T A x", "--wrt", "x", "--json")
    assert code == 0
    assert err == ""
    data = json.loads(out)
    assert set(data) >= {"expression", "variable", "gradient", "latex", "shape"}
    assert data["expression"] == "x^T A x"
    assert data["variable"] == "x"
    assert data["gradient"] == "(A + A^T) x"
    assert data["latex"] == r"\left(A + A^{\top}\right) x"
    assert data["shape"] == ["n", "1"]


def test_json_matrix_variable_shape(capsys):
    code, out, _ = run(capsys, "grad", "logdet(X)", "--wrt", "X", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["gradient"] == "X^-T"
    assert data["shape"] == ["n", "n"]


def test_json_several_variables_is_a_list(capsys):
    code, out, _ = run(capsys, "grad", NET, "--wrt", "W1,b1", "--json")
    assert code == 0
    data = json.loads(out)
    assert isinstance(data, list)
    assert [d["variable"] for d in data] == ["W1", "b1"]
    api = matcalc.gradient(NET, wrt=["W1", "b1"])
    for d in data:
        assert set(d) >= {"expression", "variable", "gradient", "latex", "shape"}
        assert d["gradient"] == str(api[d["variable"]])
        assert d["shape"] == [str(n) for n in api[d["variable"]].shape]


def test_json_gradient_parses_back(capsys):
    code, out, _ = run(capsys, "grad", "x^T A x", "--wrt", "x", "--let", "A=symmetric", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["gradient"] == "2 A x"
    assert matcalc.parse(data["gradient"], {"A": "symmetric"}) == matcalc.parse("2 A x", {"A": "symmetric"})


# ------------------------------------------------------------------ --check


def test_check(capsys):
    code, out, err = run(capsys, "grad", "x^T A x", "--wrt", "x", "--check")
    assert code == 0
    assert err == ""
    out_lines = lines(out)
    assert out_lines[0] == "grad_x f = (A + A^T) x"
    assert any(line.startswith("check: ok") for line in out_lines), out


@pytest.mark.parametrize(
    "expr, wrt",
    [("||x||^3", "x"), ("logdet(X)", "X"), ("sum(log(1 + exp(-y .* (X w))))", "w"), ("-y^T log(softmax(W x + b))", "W,b")],
)
def test_check_passes_on_known_gradients(capsys, expr, wrt):
    code, out, _ = run(capsys, "grad", expr, "--wrt", wrt, "--check")
    assert code == 0
    checks = [line for line in lines(out) if line.startswith("check:")]
    assert len(checks) == len(wrt.split(","))
    assert all(line.startswith("check: ok") for line in checks), checks


def test_check_with_json(capsys):
    code, out, _ = run(capsys, "grad", "x^T A x", "--wrt", "x", "--check", "--json")
    assert code == 0
    data = json.loads(out)
    assert "check" in data


# ------------------------------------------------------------------ errors


BAD = [
    (["grad", "x + * y", "--wrt", "x"], "unexpected '*'"),
    (["grad", "(x", "--wrt", "x"], "missing ')'"),
    (["grad", "x)", "--wrt", "x"], "unmatched ')'"),
    (["grad", "||x", "--wrt", "x"], "missing closing '||'"),
    (["grad", "foo(x)", "--wrt", "x"], "unknown function 'foo'"),
    (["grad", "x @ y", "--wrt", "x"], "unexpected character '@'"),
    (["grad", "", "--wrt", "x"], "empty"),
    (["grad", "   ", "--wrt", "x"], "empty"),
    (["grad", "A x y", "--wrt", "x"], "cannot multiply"),
    (["grad", "x + y^T", "--wrt", "x"], "cannot add"),
    (["grad", "det(x)", "--wrt", "x"], "square"),
    (["grad", "A x", "--wrt", "x"], "not a scalar"),
    (["grad", "x^T x", "--wrt", "z"], "zero"),
    (["grad", "x^T x", "--wrt", "x,z"], "zero"),
    (["grad", "1e99999 x^T x", "--wrt", "x"], "out of range"),
    (["grad", "(" * 10000 + "x" + ")" * 10000, "--wrt", "x"], "nest"),
    (["grad", "x + " * 50000 + "x", "--wrt", "x"], "limit"),
    (["grad", "x^T A x", "--wrt", "x", "--let", "A=bogus"], "unknown kind"),
    (["grad", "x^T A x", "--wrt", "x", "--let", "exp=matrix"], "reserved"),
    (["grad", "x^T A x", "--wrt", "x", "--let", "1A=matrix"], "cannot declare"),
]


@pytest.mark.parametrize("argv, cause", BAD, ids=[f"{i}-{c}" for i, (_, c) in enumerate(BAD)])
def test_bad_input_exits_2_with_one_error_line(capsys, argv, cause):
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert out == ""
    assert err.startswith("error:"), err
    assert cause in err.splitlines()[0]
    assert "Traceback" not in err


def test_syntax_error_shows_the_caret(capsys):
    code, _, err = run(capsys, "grad", "x + * y", "--wrt", "x")
    assert code == 2
    err_lines = err.splitlines()
    assert err_lines[0].startswith("error: unexpected '*' at column 5")
    assert err_lines[1] == "  x + * y"
    assert err_lines[2].index("^") == 2 + 4


@pytest.mark.parametrize("let", ["A", "A=", "=matrix", "=", "A=symmetric,", ",", "A:symmetric", " = "])
def test_malformed_let_exits_2(capsys, let):
    code, out, err = run(capsys, "grad", "x^T A x", "--wrt", "x", "--let", let)
    assert code == 2
    assert out == ""
    assert err.startswith("error:"), err
    assert "--let" in err.splitlines()[0] or "declare" in err.splitlines()[0]


def test_malformed_let_message_shows_the_form(capsys):
    code, _, err = run(capsys, "grad", "x^T A x", "--wrt", "x", "--let", "A")
    assert code == 2
    assert err.splitlines()[0] == "error: malformed --let 'A': write NAME=KIND, e.g. A=symmetric"


@pytest.mark.parametrize(
    "expr",
    ["2^64^64^64 x^T x", "1e300 " * 15 + "x^T x", "x^T x" + " 2" * 16000],
    ids=["tower", "product-of-1e300", "product-of-2s"],
)
def test_huge_numbers_give_an_error_or_an_answer(capsys, expr):
    code = main(["grad", expr, "--wrt", "x"])
    out, err = capsys.readouterr()
    assert code in (0, 2)
    if code == 2:
        assert err.startswith("error:")


# ------------------------------------------------------------------ the installed console script


def _script():
    """The console script installed beside the running interpreter (a venv's bin/ need not be on
    PATH: `venv/bin/python -m pytest` must find the venv's script), else the one on PATH."""
    beside = Path(sys.executable).parent / ("matcalc.exe" if os.name == "nt" else "matcalc")
    path = str(beside) if beside.is_file() else shutil.which("matcalc")
    assert path, "the matcalc console script is not installed"
    return path


def test_console_script_prints_the_gradient():
    out = subprocess.run(
        [_script(), "grad", "x^T A x", "--wrt", "x", "--let", "A=symmetric"],
        capture_output=True, text=True, timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "grad_x f = 2 A x"
    assert out.stderr == ""


@pytest.mark.parametrize(
    "expr, let",
    [
        ("x + * y", None),
        ("foo(x)", None),
        ("A x", None),
        ("x^T A x", "A"),
        ("x^T A x", "A=bogus"),
        ("(" * 2000 + "x" + ")" * 2000, None),
    ],
    ids=["syntax", "unknown-function", "not-scalar", "malformed-let", "bad-kind", "deep"],
)
def test_console_script_errors_have_no_traceback(expr, let):
    argv = [_script(), "grad", expr, "--wrt", "x"] + (["--let", let] if let else [])
    out = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert out.returncode == 2, out.stderr
    assert out.stdout == ""
    assert out.stderr.startswith("error:"), out.stderr
    assert "Traceback" not in out.stderr


@pytest.mark.parametrize("expr", ["2^64^64^64 x^T x", "1e300 " * 15 + "x^T x"], ids=["tower", "product-of-1e300"])
def test_console_script_huge_numbers_have_no_traceback(expr):
    out = subprocess.run([_script(), "grad", expr, "--wrt", "x"], capture_output=True, text=True, timeout=120)
    assert "Traceback" not in out.stderr, out.stderr[-600:]
    assert out.returncode in (0, 2)


def test_module_entry_point():
    out = subprocess.run(
        [sys.executable, "-m", "matcalc", "grad", "x^T x", "--wrt", "x"], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "grad_x f = 2 x"


@pytest.mark.parametrize("argv", [
    ["hess", "sum(softmax(softmax(t)))", "--wrt", "t"],
    ["jac", "softmax(softmax(softmax(x)))", "--wrt", "x"],
])
def test_hessians_and_jacobians_name_what_they_share(capsys, argv):
    code, out = run(capsys, *argv)[:2]
    assert code == 0
    assert out.count("softmax(t)") + out.count("softmax(x)") == 1, out  # named once, then referred to
    assert len(out) < 600, out
    code, full = run(capsys, *argv, "--no-share")[:2]
    assert full.count("softmax(") > 3
