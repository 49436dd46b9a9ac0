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


def only(data):
    """The one result of a JSON document."""
    assert set(data) == {"schema", "command", "expression", "declarations", "results"}
    (result,) = data["results"]
    return result


def test_json(capsys):
    code, out, err = run(capsys, "grad", "x^T A x", "--wrt", "x", "--json")
    assert code == 0
    assert err == ""
    data = json.loads(out)
    assert data["schema"] == 1 and data["command"] == "grad" and data["declarations"] == {}
    assert data["expression"] == "x^T A x"
    r = only(data)
    assert set(r) == {"variable", "kind", "text", "latex", "shape", "notes"}
    assert r["variable"] == "x" and r["kind"] == "gradient"
    assert r["text"] == "(A + A^T) x"
    assert r["latex"] == r"\left(A + A^{\top}\right) x"
    assert r["shape"] == ["n", "1"]


def test_json_matrix_variable_shape(capsys):
    code, out, _ = run(capsys, "grad", "logdet(X)", "--wrt", "X", "--json")
    assert code == 0
    r = only(json.loads(out))
    assert r["text"] == "X^-T"
    assert r["shape"] == ["n", "n"]


def test_json_several_variables_is_a_list(capsys):
    code, out, _ = run(capsys, "grad", NET, "--wrt", "W1,b1", "--json")
    assert code == 0
    data = json.loads(out)["results"]
    assert [d["variable"] for d in data] == ["W1", "b1"]
    api = matcalc.gradient(NET, wrt=["W1", "b1"])
    for d in data:
        assert d["text"] == str(api[d["variable"]])
        assert d["shape"] == [str(n) for n in api[d["variable"]].shape]


def test_json_gradient_parses_back(capsys):
    code, out, _ = run(capsys, "grad", "x^T A x", "--wrt", "x", "--let", "A=symmetric", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["declarations"] == {"A": "symmetric"}
    r = only(data)
    assert r["text"] == "2 A x"
    assert matcalc.parse(r["text"], {"A": "symmetric"}) == matcalc.parse("2 A x", {"A": "symmetric"})


@pytest.mark.parametrize("command, expr, wrt, kind", [
    ("hess", "||x||^3", "x", "hessian"), ("jac", "softmax(x)", "x", "jacobian")])
def test_json_of_every_command(capsys, command, expr, wrt, kind):
    code, out, _ = run(capsys, command, expr, "--wrt", wrt, "--json", "--check")
    assert code == 0
    data = json.loads(out)
    assert data["command"] == command
    r = only(data)
    assert r["kind"] == kind and r["check"]["passed"] is True


def test_json_derivation_holds_its_steps(capsys):
    code, out, _ = run(capsys, "derive", "det(AXB)", "--wrt", "X", "--json", "--check")
    assert code == 0
    data = json.loads(out)
    assert data["command"] == "derive"
    r = only(data)
    assert r["text"] == "det(A X B) A^T (A X B)^-T B^T" and r["check"]["passed"] is True
    assert [s["lhs"] for s in r["steps"] if s["lhs"]] == ["f", "df", "grad"]
    rules = [rule for s in r["steps"] for rule in s["rules"]]
    assert {"words": "product rule", "identity": "d(U V) = dU V + U dV",
            "latex": r"\mathrm{d} (U V) = \mathrm{d}U V + U \mathrm{d}V"} in rules


def test_a_failing_check_is_in_the_json():
    """A CheckReport that failed is falsy: its record must be there all the same, passed false."""
    from matcalc.output import result_record
    from matcalc.verify import CheckReport

    report = CheckReport(finite_differences=0.5, complex_step=None, points=3, sizes={"n": 3})
    assert not report
    record = result_record(matcalc.gradient("x^T x", wrt="x"), report)
    assert record["check"]["passed"] is False and record["check"]["finite_differences"] == 0.5


def test_json_validates_against_the_shipped_schema(capsys):
    jsonschema = pytest.importorskip("jsonschema", reason="jsonschema is not installed (pip install '.[test]')")
    from matcalc.output import result_record, schema

    validator = jsonschema.Draft202012Validator(schema())
    validator.check_schema(schema())
    for argv in (["grad", "x^T A x", "--wrt", "x", "--let", "A=symmetric", "--json", "--check"],
                 ["grad", NET, "--wrt", "W1,b1", "--json"],
                 ["hess", "logdet(X)", "--wrt", "X", "--json"],
                 ["hess", "sum(relu(A x))", "--wrt", "x", "--json"],
                 ["jac", "tanh(W x + b)", "--wrt", "x,b", "--json", "--check"],
                 ["derive", "||x||^3", "--wrt", "x", "--order", "2", "--json", "--check"]):
        code, out, _ = run(capsys, *argv)
        assert code == 0, argv
        validator.validate(json.loads(out))
    from matcalc.output import document
    from matcalc.verify import CheckReport

    failed = result_record(matcalc.gradient("x^T x", wrt="x"), CheckReport(0.5, None, 3, {"n": 3}))
    validator.validate(document("grad", "x^T x", {}, [failed]))
    with pytest.raises(jsonschema.ValidationError):
        validator.validate(document("grad", "x^T x", {}, []))


# ------------------------------------------------------------------ conventions


def test_version(capsys):
    from importlib.metadata import version

    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == f"matcalc {version('matcalc')}"


def test_expression_from_standard_input(capsys, monkeypatch):
    import io

    monkeypatch.setattr(sys, "stdin", io.StringIO("q = x^T A x\nq + 1\n"))
    code, out, _ = run(capsys, "grad", "-", "--wrt", "x", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["expression"] == "q = x^T A x\nq + 1" and only(data)["text"] == "(A + A^T) x"
    monkeypatch.setattr(sys, "stdin", io.StringIO("det(AXB)"))
    code, out, _ = run(capsys, "derive", "-", "--wrt", "X")
    assert code == 0 and "grad_X f = det(A X B) A^T (A X B)^-T B^T" in out


def test_empty_standard_input_is_refused(capsys, monkeypatch):
    import io

    monkeypatch.setattr(sys, "stdin", io.StringIO("  \n"))
    code, _, err = run(capsys, "grad", "-", "--wrt", "x")
    assert code == 2 and err == "error: no expression on standard input\n"


def test_documents_to_standard_output(capsys):
    from matcalc.render import render

    code, out, err = run(capsys, "derive", "x^T A x", "--wrt", "x", "--tex", "-")
    assert code == 0 and err == ""
    assert out == render(matcalc.derive("x^T A x", wrt="x"), "tex")
    code, out, _ = run(capsys, "derive", "x^T A x", "--wrt", "x", "--md", "-")
    assert code == 0 and out == render(matcalc.derive("x^T A x", wrt="x"), "md")


def test_a_file_beside_standard_output_is_reported_on_stderr(capsys, tmp_path):
    target = tmp_path / "d.md"
    code, out, err = run(capsys, "derive", "x^T A x", "--wrt", "x", "--tex", "-", "--md", str(target))
    assert code == 0 and out.startswith(r"\documentclass") and err == f"wrote {target}\n"
    assert target.read_text().startswith("## The gradient")


@pytest.mark.parametrize("argv, message", [
    (["grad", "x^T x", "--wrt", "x", "--json", "--latex"], "--json and --latex do not go together"),
    (["grad", "x^T x", "--wrt", "x", "--emit", "numpy", "--check"], "--emit and --check do not go together"),
    (["grad", "x^T x", "--wrt", "x", "--emit", "numpy", "--json"], "--emit and --json do not go together"),
    (["grad", "x^T x", "--wrt", "x", "--emit", "numpy", "--latex"], "--emit and --latex do not go together"),
    (["grad", "x^T x", "--wrt", "x", "--emit", "numpy", "--no-share"], "--emit and --no-share do not go together"),
    (["hess", "x^T x", "--wrt", "x", "--json", "--no-share"], "--json and --no-share do not go together"),
    (["derive", "x^T x", "--wrt", "x", "--json", "--tex", "a.tex"], "--json and --tex do not go together"),
    (["derive", "x^T x", "--wrt", "x", "--json", "--md", "a.md"], "--json and --md do not go together"),
    (["derive", "x^T x", "--wrt", "x", "--tex", "-", "--md", "-"], "would both write to standard output"),
])
def test_contradictory_options_are_refused(capsys, argv, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert err.startswith("error: ") and message in err and err.count("\n") == 1
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("command", ["grad", "hess", "jac", "derive"])
def test_help_shows_examples(capsys, command):
    with pytest.raises(SystemExit):
        main([command, "--help"])
    out = capsys.readouterr().out
    assert "examples:" in out and f"matcalc {command} " in out.split("examples:")[1]


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
    check = only(json.loads(out))["check"]
    assert check["passed"] is True and check["points"] == 3


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


def test_the_readme_documents_the_json():
    jsonschema = pytest.importorskip("jsonschema", reason="jsonschema is not installed (pip install '.[test]')")
    import re

    from matcalc.output import schema

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    (block,) = re.findall(r"```json\n(.*?)```", readme, flags=re.S)
    shown = json.loads(block)
    jsonschema.Draft202012Validator(schema()).validate(shown)
    code = main(["grad", shown["expression"], "--wrt", "x", "--let", "A=symmetric", "--json", "--check"])
    assert code == 0


def test_derive_check(capsys, tmp_path):
    code, out, _ = run(capsys, "derive", "det(AXB)", "--wrt", "X", "--check")
    assert code == 0 and lines(out)[-1].startswith("check: ok")
    code, out, err = run(capsys, "derive", "det(AXB)", "--wrt", "X", "--check", "--tex", "-")
    assert code == 0 and out.startswith(r"\documentclass") and err.startswith("check: ok")


@pytest.mark.parametrize("argv", [
    ["hess", "a^T softmax(softmax(t))", "--wrt", "t"],
    ["jac", "softmax(softmax(softmax(x)))", "--wrt", "x"],
])
def test_hessians_and_jacobians_name_what_they_share(capsys, argv):
    code, out = run(capsys, *argv)[:2]
    assert code == 0
    assert out.count("softmax(t)") + out.count("softmax(x)") == 1, out  # named once, then referred to
    assert len(out) < 600, out
    code, full = run(capsys, *argv, "--no-share")[:2]
    assert full.count("softmax(") > 3
