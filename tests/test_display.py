"""Rich display in Jupyter, and the IPython extension with its %matcalc magic."""

import shutil
import subprocess

import pytest

import matcalc
from matcalc.display import Results, aligned
from matcalc.render import render
from matcalc.verify import CheckReport

NET = "||sigmoid(X W1 + b1^T) W2 + b2^T - Y||_F^2"


def test_derivation_displays_as_aligned_mathematics_with_its_rules():
    d = matcalc.derive("det(AXB)", wrt="X")
    latex = d._repr_latex_()
    assert latex.startswith("$$\\begin{aligned}\n") and latex.endswith("\\end{aligned}$$")
    assert r"\text{product rule: } \mathrm{d} (U V) = \mathrm{d}U V + U \mathrm{d}V \\" in latex
    assert latex.count("&=") == len(d.steps)
    assert d._repr_markdown_() == render(d, "md")


def test_definitions_come_first_in_the_display():
    latex = matcalc.derive(NET, wrt="W1")._repr_latex_()
    assert latex.startswith("$$\\begin{aligned}\nZ_{1} &= X W_{1} + b_{1}^{\\top} \\\\\n")
    assert "\\\\[6pt]\nf &=" in latex


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex is not installed (Debian: texlive-latex-base)")
def test_displayed_derivations_compile(tmp_path):
    body = "\n".join(f"\\[{aligned(matcalc.derive(t, wrt=w, order=o))}\\]"
                     for t, w, o in [(NET, "W1", 1), ("||x||^3", "x", 2), ("det(AXB)", "X", 1)])
    (tmp_path / "d.tex").write_text(f"\\documentclass{{article}}\n\\usepackage{{amsmath}}\n\\begin{{document}}\n{body}\n\\end{{document}}\n")
    run = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "d.tex"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout[-2000:]


def test_several_results_display_as_one_block():
    r = matcalc.gradient("x^T A x", wrt=["x", "A"])
    assert isinstance(r, Results) and isinstance(r, dict) and list(r) == ["x", "A"]
    assert r._repr_latex_() == ("$$\\begin{aligned}\n\\nabla_{x} f &= \\left(A + A^{\\top}\\right) x \\\\\n"
                                "\\nabla_{A} f &= x x^{\\top}\n\\end{aligned}$$")
    h = matcalc.hessian("||x||^3 + y^T y", wrt=["x", "y"])
    assert isinstance(h, Results) and "\\nabla^2_{y} f &= 2 I" in h._repr_latex_()


def test_a_single_result_is_still_a_result():
    assert isinstance(matcalc.gradient("x^T x", wrt="x"), matcalc.Result)


def test_check_report_as_a_table():
    ok = matcalc.gradient("x^T A x", wrt="x").check()
    table = ok._repr_html_()
    assert table.startswith('<table class="matcalc-check">') and "<td>ok</td>" in table and "<td>n=3</td>" in table
    assert ok._repr_markdown_().splitlines()[:3] == ["| check | |", "| --- | --- |", "| verdict | ok |"]
    failed = CheckReport(finite_differences=0.5, complex_step=None, points=3, sizes={}, notes=["a <note>"])
    assert "<td>FAILED</td>" in failed._repr_html_() and "<td>n/a</td>" in failed._repr_html_()
    assert "a &lt;note&gt;" in failed._repr_html_()
    assert "| verdict | **FAILED** |" in failed._repr_markdown_()


def test_expressions_display_as_latex():
    assert matcalc.parse("x^T A x")._repr_latex_() == "$x^{\\top} A x$"
    assert matcalc.gradient("x^T A x", wrt="x").expr._repr_latex_() == "$\\left(A + A^{\\top}\\right) x$"


# ------------------------------------------------------------------ the IPython extension


@pytest.fixture
def shell():
    pytest.importorskip("IPython", reason="IPython is not installed (pip install '.[notebook]')")
    from IPython.core.interactiveshell import InteractiveShell

    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "matcalc")
    yield ip
    InteractiveShell.clear_instance()


def test_the_magic_returns_results(shell):
    r = shell.run_line_magic("matcalc", 'grad "x^T A x" --wrt x --let A=symmetric')
    assert isinstance(r, matcalc.Result) and str(r) == "2 A x"
    several = shell.run_line_magic("matcalc", f'grad "{NET}" --wrt W1,b1')
    assert isinstance(several, Results) and list(several) == ["W1", "b1"]
    d = shell.run_line_magic("matcalc", 'derive "det(AXB)" --wrt X')
    assert isinstance(d, matcalc.Derivation)
    assert shell.run_line_magic("matcalc", 'jac "softmax(x)" --wrt x').kind == "jacobian"


def test_the_magic_prints_what_the_command_line_prints(shell, capsys):
    assert shell.run_line_magic("matcalc", 'grad "x^T A x" --wrt x --check') is None
    out = capsys.readouterr().out
    assert out.startswith("grad_x f = (A + A^T) x\ncheck: ok")
    assert shell.run_line_magic("matcalc", 'hess "||x||^3" --wrt x --json') is None
    assert '"command": "hess"' in capsys.readouterr().out


def test_the_magic_says_errors_in_one_line(shell, capsys):
    assert shell.run_line_magic("matcalc", 'grad "x + * y" --wrt x') is None
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "unexpected '*'" in err
    assert shell.run_line_magic("matcalc", 'grad "x^T x" --wrt x --json --latex') is None
    assert capsys.readouterr().err == "error: --json and --latex do not go together: JSON holds the LaTeX already\n"
    assert shell.run_line_magic("matcalc", 'grad "x^T x') is None
    assert capsys.readouterr().err.startswith("error: ")


def test_the_magic_shows_help(shell, capsys):
    assert shell.run_line_magic("matcalc", "grad --help") is None
    assert "examples:" in capsys.readouterr().out
