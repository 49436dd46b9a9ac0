"""Rule identities typeset as mathematics, and long lines cut to fit the page."""

import re
import shutil
import subprocess

import pytest

from matcalc import expr as E
from matcalc import kinds, pipeline
from matcalc.canonical import ADJOINT
from matcalc.differential import LEMMAS, RULES
from matcalc.jacobian import JACOBIAN
from matcalc.linear import DIAG_IDENTITIES
from matcalc.notation import FORMS, NotationError, broken, identity_latex, width


def every_identity() -> list[str]:
    found = [row[1] for table in (RULES, ADJOINT, JACOBIAN, DIAG_IDENTITIES) for row in table.values()]
    found += [identity for _, _, identity, _ in LEMMAS]
    found += [row.identity for rows in E.TABLES.values() for row in rows]
    found += [value[1] for name, value in vars(pipeline).items()
              if name.isupper() and isinstance(value, tuple) and len(value) == 2 and all(isinstance(v, str) for v in value)]
    found += [kind.projection[1] for kind in kinds.TABLE.values() if kind.projection]
    return list(dict.fromkeys(found))


def test_the_tables_are_all_found():
    identities = every_identity()
    assert len(identities) > 100
    for known in ("d(U V) = dU V + U dV", "<C, L U R> = <L^T C R^T, U>", "tr(A kron B) = tr(A) tr(B)",
                  "A x + A x = 2 A x", "vec(L U R) = (R^T kron L) vec(U)", "sym(G) = (G + G^T)/2",
                  "df = <G, dX> = tr(G^T dX) gives grad f = G"):
        assert known in identities


def test_written_forms_are_of_identities_that_exist():
    assert set(FORMS) <= set(every_identity())


@pytest.mark.parametrize("text, latex", [
    ("d(U V) = dU V + U dV", r"\mathrm{d} (U V) = \mathrm{d}U V + U \mathrm{d}V"),
    ("<C, L U R> = <L^T C R^T, U>", r"\langle C, L U R\rangle = \langle L^{\top} C R^{\top}, U\rangle"),
    ("tr(A kron B) = tr(A) tr(B)", r"\operatorname{tr} (A \otimes B) = \operatorname{tr} (A) \operatorname{tr} (B)"),
    ("A x + A x = 2 A x", "A x + A x = 2 A x"),
    ("vec(L U R) = (R^T kron L) vec(U)", r"\operatorname{vec} (L U R) = (R^{\top} \otimes L) \operatorname{vec} (U)"),
    ("d(U^k) = sum_i U^i dU U^(k-1-i)", r"\mathrm{d} (U^{k}) = \sum_i U^{i} \mathrm{d}U U^{k - 1 - i}"),
    ("d(U .^ p) = p U .^ (p-1) .* dU", r"\mathrm{d} (U^{\circ p}) = p U^{\circ (p - 1)} \circ \mathrm{d}U"),
    ("a b^T c d^T = (b^T c) a d^T", r"a b^{\top} c d^{\top} = (b^{\top} c) a d^{\top}"),  # d a name, not a differential
    ("(a A) kron (b B) = a b (A kron B)", r"(a A) \otimes (b B) = a b (A \otimes B)"),
    ("kron(I, I) = I", r"\operatorname{kron} (I, I) = I"),
    ("||a|| = |a|", r"\lVert a \rVert = \lvert a \rvert"),
    ("<C1, dX> + <C2, dX> = <C1 + C2, dX>",
     r"\langle C_{1}, \mathrm{d}X\rangle + \langle C_{2}, \mathrm{d}X\rangle = \langle C_{1} + C_{2}, \mathrm{d}X\rangle"),
    ("diag(p q^T) = p .* q, x = y", r"\operatorname{diag} (p q^{\top}) = p \circ q,\quad x = y"),
])
def test_conversions(text, latex):
    assert identity_latex(text) == latex


def test_unknown_characters_are_refused():
    with pytest.raises(NotationError):
        identity_latex("a @ b")
    with pytest.raises(NotationError):
        identity_latex(r"\input{secret}")


def test_words_are_text():
    assert identity_latex("x = the answer") == r"x = \text{the} \text{answer}"


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex is not installed (Debian: texlive-latex-base)")
def test_every_identity_compiles(tmp_path):
    """All identities in one document: pdflatex must accept every one, without error."""
    rows = "\n".join(rf"\item ${identity_latex(i)}$" for i in every_identity())
    (tmp_path / "ids.tex").write_text("\\documentclass{article}\n\\usepackage{amsmath}\n\\begin{document}\n"
                                      f"\\begin{{itemize}}\n{rows}\n\\end{{itemize}}\n\\end{{document}}\n")
    run = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "ids.tex"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout[-2000:]
    assert "Missing" not in run.stdout and "Undefined" not in run.stdout


def test_short_lines_stay_whole():
    assert broken(r"2 A x") == [r"2 A x"]


def _balanced(line: str) -> bool:
    opened = len(re.findall(r"\\left(?![a-z])", line))
    closed = len(re.findall(r"\\right(?![a-z])", line))
    return opened == closed and line.count("{") == line.count("}")


def test_long_lines_are_cut_between_terms_and_stay_balanced():
    terms = [rf"\left(w^{{\top}} A_{{{i}}} w\right) \left(B_{{{i}}} + B_{{{i}}}^{{\top}}\right) w" for i in range(12)]
    latex = r"\left(" + " + ".join(terms) + r"\right) \mathrm{d}w"
    lines = broken(latex)
    assert len(lines) > 2
    assert all(width(line) <= 62 for line in lines[:-1])
    assert all(_balanced(line) for line in lines), lines
    assert all(line.startswith(r"\left. + ") for line in lines[1:])


def test_no_cut_inside_braces():
    latex = r"\frac{" + " + ".join(f"a_{{{i}}}" for i in range(60)) + "}{2}"
    assert broken(latex) == [latex]


def test_the_square_root_of_a_scalar_is_typeset_with_a_radical():
    import matcalc
    from matcalc.printing import to_latex

    # of a scalar, sqrt(d) is \sqrt{d}; of a matrix it stays sqrt(X), the element-wise root
    assert to_latex(matcalc.parse("x / sqrt(d)", {"d": "scalar"})) == r"\frac{x}{\sqrt{d}}"
    assert to_latex(matcalc.parse("sqrt(X)")) == r"\operatorname{sqrt}\left(X\right)"
