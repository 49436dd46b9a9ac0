"""Derivations: every displayed step equals the one before it, numerically; documents compile."""

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import point_for

import matcalc
from matcalc import expr as E
from matcalc.cli import main
from matcalc.evaluate import evaluate
from matcalc.render import render

ROOT = Path(__file__).resolve().parent.parent
SEEDS = [
    ("(x^T A x)(x^T B x)", "x", {"A": "symmetric", "B": "symmetric"}, 1),
    ("||x||^3", "x", {}, 1),
    ("||x||^3", "x", {}, 2),
    ("det(AXB)", "X", {}, 1),
    ("-y^T log(softmax(W x + b))", "W", {}, 1),
    ("||sigmoid(X W1 + b1^T) W2 + b2^T - Y||_F^2", "W1", {}, 1),
    ("logdet(X)", "X", {}, 2),
    ("x^T S x", "S", {"S": "symmetric"}, 1),
    ("a^T S b", "S", {"S": "symmetric"}, 1),
    ("sum(log(1 + exp(-y .* (X w))))", "w", {}, 2),
]


def _value(e, values, sizes, name, h=1e-6):
    """Evaluate a step: d(U) by central differences along values['d' + name], dX from values."""
    pending = {}
    stack = [e]
    while stack:
        node = stack.pop()
        if isinstance(node, E.DifferentialOf) and node not in pending:
            u = node.arg
            plus = evaluate(u, {**values, name: values[name] + h * values["d" + name]}, sizes)
            minus = evaluate(u, {**values, name: values[name] - h * values["d" + name]}, sizes)
            pending[node] = (plus - minus) / (2 * h)
        else:
            stack.extend(node.children())
    if not pending:
        return evaluate(e, values, sizes)
    stand_ins = {node: E.Symbol(f"_pending{i}", "matrix", node.shape) for i, node in enumerate(pending)}
    replaced = _replace(e, stand_ins)
    return evaluate(replaced, {**values, **{s.name: pending[n] for n, s in stand_ins.items()}}, sizes)


def _replace(e, table):
    if e in table:
        return table[e]
    if not e.children():
        return e
    return e.map_children(lambda k: _replace(k, table))


def _vec(a):
    return np.real(a).reshape(-1, order="F")


@pytest.mark.parametrize("text, wrt, declare, order", SEEDS)
def test_every_step_equals_the_previous(text, wrt, declare, order):
    """A chain starts at df (or d(grad f)), evaluated by central differences along dX; each
    following line must have the same value, and the identification line G (or H) must give
    <G, dX> (or H vec(dX)) equal to the last line of the chain."""
    d = matcalc.derive(text, wrt=wrt, declare=declare, order=order)
    values, sizes = point_for(d.function, seed=3)
    direction = np.random.default_rng(5).standard_normal(values[wrt].shape)
    if d.variable.kind == "symmetric":
        direction = direction + direction.T
    values = {**values, "d" + wrt: direction}
    previous, compared = None, 0
    for step in d.steps:
        value = _value(step.expr, values, sizes, wrt)
        if step.lhs == "grad" or (step.lhs is None and previous is not None and previous[0] == "grad"):
            shown = ("grad", np.array([np.sum(np.real(value) * direction)]))  # <G, dX>
        elif step.lhs == "hess":
            shown = ("hess", np.real(value) @ _vec(direction))
        else:
            shown = ("d", _vec(value))
        if step.lhs in ("df", "dgrad"):
            previous = shown
            continue
        if step.lhs == "f":
            continue
        np.testing.assert_allclose(shown[1], previous[1], rtol=1e-5, atol=1e-8,
                                   err_msg=f"{text}: line {matcalc.printing.to_text(step.expr)}")
        compared += 1
        previous = shown
    assert compared >= 2


def test_derivation_matches_gradient():
    d = matcalc.derive("det(AXB)", wrt="X")
    assert str(d.result) == str(matcalc.gradient("det(AXB)", wrt="X"))
    assert [s.lhs for s in d.steps if s.lhs] == ["f", "df", "grad"]


def test_text_names_rules_in_words():
    text = str(matcalc.derive("det(AXB)", wrt="X"))
    assert "differential of the determinant (Jacobi): d det U = det U tr(U^-1 dU)" in text
    assert "grad_X f = det(A X B) A^T (A X B)^-T B^T" in text


def test_long_derivations_name_shared_subexpressions():
    text = str(matcalc.derive("||sigmoid(X W1 + b1^T) W2 + b2^T - Y||_F^2", wrt="W1"))
    assert text.startswith("where Z1 = X W1 + b1^T")


# derivations with the longest lines: sums of many terms, sums inside traces and parentheses
LONG = [
    ("(x^T A x)(x^T B x)", "x", {}, 2),
    ("sum(log(1 + exp(-y .* (X w)))) + ||w||^2 + (w^T A w)(w^T B w)", "w", {}, 2),
    ("tr(X^T A X B X^T C X)", "X", {}, 1),
    ("logdet(S) + (x - mu)^T inv(S) (x - mu)", "mu", {"S": "symmetric", "mu": "vector"}, 2),
    ("||sigmoid(X W1 + b1^T) W2 + b2^T - Y||_F^2", "b1", {}, 1),
]
needs_pdflatex = pytest.mark.skipif(shutil.which("pdflatex") is None,
                                    reason="pdflatex is not installed (Debian: texlive-latex-base)")


def compile_fits(tex_source: str, folder: Path) -> None:
    """pdflatex accepts the document and nothing runs off the page (no overfull box)."""
    tex = folder / "derivation.tex"
    tex.write_text(tex_source)
    run = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", tex.name],
                         cwd=folder, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout[-2000:]
    assert (folder / "derivation.pdf").stat().st_size > 1000
    log = (folder / "derivation.log").read_text(errors="replace")
    overfull = [line for line in log.splitlines() if line.startswith("Overfull \\hbox")]
    assert not overfull, overfull


@needs_pdflatex
@pytest.mark.parametrize("text, wrt, declare, order", SEEDS + LONG)
def test_latex_document_compiles_and_fits_the_page(text, wrt, declare, order, tmp_path):
    compile_fits(render(matcalc.derive(text, wrt=wrt, declare=declare, order=order), "tex"), tmp_path)


@needs_pdflatex
@pytest.mark.parametrize("path", sorted((ROOT / "examples").glob("*.tex")), ids=lambda p: p.name)
def test_examples_compile_and_fit_the_page(path, tmp_path):
    compile_fits(path.read_text(), tmp_path)


def test_rules_are_typeset_as_mathematics():
    d = matcalc.derive("det(AXB)", wrt="X")
    tex, md = render(d, "tex"), render(d, "md")
    assert r"\text{\small product rule: $\mathrm{d} (U V) = \mathrm{d}U V + U \mathrm{d}V$}" in tex
    assert "texttt" not in tex and "textless" not in tex
    assert r"\text{product rule: } \mathrm{d} (U V) = \mathrm{d}U V + U \mathrm{d}V" in md


def test_the_rule_of_the_last_line_has_a_line_of_its_own():
    tex = render(matcalc.derive("x^T A x", wrt="x"), "tex")
    result_line = next(line for line in tex.splitlines() if line.startswith(r"\nabla_{x} f &="))
    assert result_line.endswith(r"\\") and "identification" not in result_line


def test_markdown_is_one_aligned_block():
    md = render(matcalc.derive("det(AXB)", wrt="X"), "md")
    assert md.count(r"\begin{aligned}") == 1 and md.count("$$") == 2
    block = md.split("$$")[1]
    assert block.strip().startswith(r"\begin{aligned}") and block.strip().endswith(r"\end{aligned}")
    assert r"\nabla_{X} f &=" in block and "identification" in block


def test_long_lines_are_broken_in_documents():
    d = matcalc.derive(*LONG[1][:2], declare=LONG[1][2], order=LONG[1][3])
    tex = render(d, "tex")
    assert r"\\" + "\n  &\\qquad " in tex


def test_examples_are_up_to_date(tmp_path):
    sys.path.insert(0, str(ROOT / "examples"))
    try:
        import build
    finally:
        sys.path.pop(0)
    for path in build.build(tmp_path):
        assert path.read_text() == (ROOT / "examples" / path.name).read_text(), f"run python examples/build.py ({path.name})"


def test_cli_writes_tex_and_md(tmp_path, capsys):
    tex, md = tmp_path / "d.tex", tmp_path / "d.md"
    assert main(["derive", "||x||^3", "--wrt", "x", "--order", "2", "--tex", str(tex), "--md", str(md)]) == 0
    assert r"\begin{align*}" in tex.read_text()
    assert r"\nabla^2_{x} f" in tex.read_text()
    assert "$$" in md.read_text()
    assert main(["derive", "||x||^3", "--wrt", "x"]) == 0
    assert "grad_x f = 3 ||x|| x" in capsys.readouterr().out


def test_written_documents_get_the_permissions_of_any_new_file(tmp_path):
    # they were written through a private temporary file, and kept its mode 0600
    previous = os.umask(0o022)
    try:
        tex = tmp_path / "d.tex"
        assert main(["derive", "x^T A x", "--wrt", "x", "--tex", str(tex)]) == 0
        assert stat.S_IMODE(tex.stat().st_mode) == 0o644
    finally:
        os.umask(previous)


def test_user_template(tmp_path):
    template = tmp_path / "mine.j2"
    template.write_text(r"result: \VAR{result} in \VAR{steps|length} steps")
    out = tmp_path / "out.tex"
    assert main(["derive", "x^T A x", "--wrt", "x", "--template", str(template), "--tex", str(out)]) == 0
    assert out.read_text().startswith(r"result: \left(A + A^{\top}\right) x in ")


def test_template_error_names_the_line(tmp_path, capsys):
    template = tmp_path / "bad.j2"
    template.write_text("line one\n\\BLOCK{for x in }\n")
    assert main(["derive", "x^T A x", "--wrt", "x", "--template", str(template), "--tex", str(tmp_path / "o.tex")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: template error in") and "line 2" in err
    assert not (tmp_path / "o.tex").exists()


def test_template_is_sandboxed(tmp_path, capsys):
    template = tmp_path / "evil.j2"
    template.write_text(r"\VAR{result.__class__.__mro__[1].__subclasses__()}")
    assert main(["derive", "x^T A x", "--wrt", "x", "--template", str(template), "--md", str(tmp_path / "o.md")]) == 2
    assert "error: template error" in capsys.readouterr().err


def test_undefined_template_value_is_an_error(tmp_path, capsys):
    template = tmp_path / "undefined.j2"
    template.write_text(r"\VAR{no_such_value}")
    assert main(["derive", "x^T A x", "--wrt", "x", "--template", str(template), "--md", str(tmp_path / "o.md")]) == 2
    assert "no_such_value" in capsys.readouterr().err


def test_unwritable_file_is_a_clear_error(tmp_path, capsys):
    target = tmp_path / "missing-folder" / "d.tex"
    assert main(["derive", "x^T A x", "--wrt", "x", "--tex", str(target)]) == 2
    assert "cannot write" in capsys.readouterr().err
    assert not target.exists()


def test_names_are_escaped_in_latex():
    d = matcalc.derive("theta_1^T A theta_1", wrt="theta_1", declare={"theta_1": "vector"})
    latex = render(d, "tex")
    assert r"\theta_{1}" in latex


def test_derivations_cite_the_identities_of_the_normal_form():
    """dx^T A x + x^T A dx becomes 2 x^T A dx as the line is built (A symmetric): the steps say
    which identities did it, every time (identities remembered on nodes are cited again)."""
    for _ in range(2):
        d = matcalc.derive("x^T A x", wrt="x", declare={"A": "symmetric"})
        identities = [identity for step in d.steps for _, identity in step.why]
        assert "A x + A x = 2 A x" in identities, identities
        assert "S^T = S" in identities, identities
        assert str(d.result) == "2 A x" and d.result.check()
