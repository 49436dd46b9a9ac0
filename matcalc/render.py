"""Derivations as text, and as LaTeX or Markdown documents through jinja2 templates.

Templates use LaTeX-friendly delimiters (``\\VAR{...}``, ``\\BLOCK{...}``) so TeX's braces
need no escaping, run in jinja2's sandbox (a user's own template cannot reach Python),
and fail on any undefined value.  Documents are written to a temporary file and renamed,
so a failure never leaves half a file.
"""

from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from .cse import printed_length, share
from .derivation import Derivation, Step
from .errors import MatcalcError
from .notation import broken, identity_latex, width
from .printing import to_latex, to_text
from .resources import resource_dir

TEMPLATES = {"tex": "derivation.tex.j2", "md": "derivation.md.j2"}


def lhs_text(key: str, name: str, direction: str = "") -> str:
    return {"f": "f", "df": "df", "grad": f"grad_{name} f", "dgrad": f"d(grad_{name} f)", "hess": f"hess_{name} f",
            "d2f": "d^2 f", "hvp": f"hess_{name} f[{direction}]"}[key]


def lhs_latex(key: str, name: str, direction: str = "") -> str:
    return {"f": "f", "df": r"\mathrm{d}f", "grad": rf"\nabla_{{{name}}} f",
            "dgrad": rf"\mathrm{{d}}\left(\nabla_{{{name}}} f\right)", "hess": rf"\nabla^2_{{{name}}} f",
            "d2f": r"\mathrm{d}^2 f", "hvp": rf"\nabla^2_{{{name}}} f[{direction}]"}[key]


SHARE_ABOVE = 100  # characters: a derivation with a longer line names its shared subexpressions
SHARED_SIZE = 6  # nodes: smaller shared pieces (X W1, x^T A x) read better written out


def shared_steps(d: Derivation) -> tuple[list, list[Step]]:
    """(definitions, steps): long derivations name what their lines share; a line that then
    reads like the one before it is merged into it."""
    exprs = [step.expr for step in d.steps]
    given = d.result.definitions  # the names the text defined
    long = max(printed_length(e, SHARE_ABOVE) for e in exprs) > SHARE_ABOVE
    if not (long or given):
        return [], d.steps
    definitions, written = share(dict(enumerate(exprs)), min_size=SHARED_SIZE if long else math.inf, given=given)
    steps: list[Step] = []
    for i, step in enumerate(d.steps):
        e = written[i]
        if steps and step.lhs is None and to_text(e) == to_text(steps[-1].expr):
            steps[-1] = Step(steps[-1].lhs, steps[-1].expr, tuple(dict.fromkeys(steps[-1].why + step.why)))
        else:
            steps.append(Step(step.lhs, e, step.why))
    return definitions, steps


def to_text_lines(d: Derivation) -> list[str]:
    definitions, steps = shared_steps(d)
    lines = [f"where {to_text(name)} = {to_text(value)}" for name, value in definitions]
    for step in steps:
        e = step.expr
        head = lhs_text(step.lhs, d.variable.name, _direction(d, to_text)) if step.lhs else ""
        body = f"{head} = {to_text(e)}" if head else f"  = {to_text(e)}"
        why = "; ".join(f"{words}: {identity}" for words, identity in step.why)
        lines.append(f"{body}    [{why}]" if why else body)
    return lines


def _direction(d: Derivation, printer) -> str:
    """The direction D of a derivation of H[D], printed; empty for the others."""
    return printer(d.result.direction) if d.result.direction is not None else ""


def latex_escape(text: str) -> str:
    """Plain text made safe inside LaTeX (rule identities, anything not printed by the LaTeX printer)."""
    table = {"\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "$": r"\$", "&": r"\&", "#": r"\#", "%": r"\%",
             "_": r"\_", "^": r"\^{}", "~": r"\~{}", "<": r"\textless{}", ">": r"\textgreater{}"}
    return "".join(table.get(c, c) for c in text)


HEADING = 52  # characters, as ``width`` counts them: what fits a heading beside its words


def context(d: Derivation) -> dict:
    """What a template sees: LaTeX strings for every expression, and the rules of every step."""
    name = to_latex(d.variable)
    definitions, shown = shared_steps(d)
    steps = [{"lhs": lhs_latex(s.lhs, name, _direction(d, to_latex)) if s.lhs else "", "expr": to_latex(s.expr),
              "lines": broken(to_latex(s.expr)),
              "rules": [{"words": latex_escape(w), "identity": latex_escape(i), "identity_text": i,
                         "latex": identity_latex(i)} for w, i in s.why]}
             for s in shown]
    function = to_latex(d.function)
    return {"function": function, "variable": name, "order": d.order,
            # a function too wide for the heading is displayed under it, cut into lines
            "function_lines": broken(function) if width(function) > HEADING else None,
            "kind": "Hessian" if d.order == 2 else "gradient", "result": to_latex(d.result.expr), "steps": steps,
            "definitions": [{"name": to_latex(n), "value": to_latex(v), "lines": broken(to_latex(v))}
                            for n, v in definitions]}


def environment() -> SandboxedEnvironment:
    return SandboxedEnvironment(
        loader=jinja2.FileSystemLoader(str(resource_dir("templates"))),
        block_start_string=r"\BLOCK{", block_end_string="}",
        variable_start_string=r"\VAR{", variable_end_string="}",
        comment_start_string=r"\#{", comment_end_string="}",
        trim_blocks=True, lstrip_blocks=True, autoescape=False, undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )


def render(d: Derivation, fmt: str = "tex", template: str | None = None) -> str:
    """The document, from the built-in template for ``fmt`` or from a user's template file."""
    env = environment()
    try:
        if template is not None:
            try:
                source = Path(template).read_text()
            except OSError as err:
                raise MatcalcError(f"cannot read the template {template}: {err.strerror}") from None
            tpl = env.from_string(source)
        else:
            tpl = env.get_template(TEMPLATES[fmt])
        return tpl.render(**context(d))
    except jinja2.TemplateSyntaxError as err:
        raise MatcalcError(f"template error in {template or TEMPLATES[fmt]}, line {err.lineno}: {err.message}") from None
    except (jinja2.UndefinedError, jinja2.exceptions.SecurityError) as err:
        raise MatcalcError(f"template error in {template or TEMPLATES[fmt]}: {err}") from None


def write_atomically(path: str, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder, then rename."""
    target = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(dir=target.parent if str(target.parent) else ".", prefix=f".{target.name}.")
    except OSError as err:
        raise MatcalcError(f"cannot write {path}: {err.strerror}") from None
    try:
        with os.fdopen(fd, "w") as out:
            out.write(text)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it private; the document is not
        os.replace(tmp, target)
    except OSError as err:
        Path(tmp).unlink(missing_ok=True)
        raise MatcalcError(f"cannot write {path}: {err.strerror}") from None


def _umask() -> int:
    mask = os.umask(0)  # reading the umask means setting it: put it back at once
    os.umask(mask)
    return mask
