"""Rich display in Jupyter: derivations as aligned mathematics with their rules, several
results as one block, check reports as a small table; and the IPython extension
(``%load_ext matcalc``) with its line magic ``%matcalc``, which takes the command line's
arguments (``%matcalc grad "x^T A x" --wrt x``).

Only the magic needs IPython, and it imports it only when the extension is loaded.
"""

from __future__ import annotations

import html
import shlex


def aligned(d) -> str:
    """A derivation as one ``aligned`` block: its definitions, then each line with the rules that
    led to it on lines of their own (the rows of the Markdown document)."""
    from .render import context

    ctx = context(d)
    go_on = " \\\\\n  &\\qquad "  # a long line goes on under itself
    rows = [f"{item['name']} &= " + go_on.join(item["lines"]) for item in ctx["definitions"]]
    breaks = [" \\\\\n"] * len(rows)
    if rows:
        breaks[-1] = " \\\\[6pt]\n"  # a little space between the definitions and the derivation
    for step in ctx["steps"]:
        rows.append(f"{step['lhs']} &= " + go_on.join(step["lines"]))
        rows += [rf"  &\qquad \text{{{rule['words']}: }} {rule['latex']}" for rule in step["rules"]]
    breaks += [" \\\\\n"] * (len(rows) - len(breaks) - 1) + ["\n"]
    return "\\begin{aligned}\n" + "".join(r + b for r, b in zip(rows, breaks)) + "\\end{aligned}"


class Results(dict):
    """Several results, one a variable (``gradient(f, wrt=["W", "b"])``): a dict, shown in
    Jupyter as one aligned block."""

    def _repr_latex_(self) -> str:
        rows = [f"{r.label_latex()} &= {r.latex()}" for r in self.values()]  # a Hessian block: both names
        return "$$\\begin{aligned}\n" + " \\\\\n".join(rows) + "\n\\end{aligned}$$"

    def shared(self) -> str:
        """The results as the command line prints them, what they repeat named once for all of them
        (``api.shared_form``)."""
        from .api import shared_text
        from .guard import user_errors

        return user_errors(shared_text)(self)


def check_html(report) -> str:
    """A check report as a small HTML table."""
    cs = "n/a" if report.complex_step is None else f"{report.complex_step:.1e}"
    sizes = ", ".join(f"{k}={v}" for k, v in report.sizes.items()) or "none"
    rows = [("verdict", "ok" if report.ok else "FAILED"),
            ("largest relative error, central differences", f"{report.finite_differences:.1e}"),
            ("largest relative error, complex step", cs),
            ("random points", str(report.points)), ("sizes", sizes), *(("note", n) for n in report.notes)]
    cells = "".join(f"<tr><th style=\"text-align:left\">{html.escape(k)}</th><td>{html.escape(v)}</td></tr>"
                    for k, v in rows)
    return f"<table class=\"matcalc-check\">{cells}</table>"


def check_markdown(report) -> str:
    cs = "n/a" if report.complex_step is None else f"{report.complex_step:.1e}"
    sizes = ", ".join(f"{k}={v}" for k, v in report.sizes.items()) or "none"
    rows = [("verdict", "ok" if report.ok else "**FAILED**"),
            ("largest relative error, central differences", f"{report.finite_differences:.1e}"),
            ("largest relative error, complex step", cs), ("random points", str(report.points)), ("sizes", sizes),
            *(("note", n.replace("|", "\\|")) for n in report.notes)]
    return "| check | |\n| --- | --- |\n" + "".join(f"| {k} | {v} |\n" for k, v in rows)


# ------------------------------------------------------------------ the IPython extension


def magic(line: str):
    """``%matcalc ARGS``: the command line inside a notebook.  Without an option that chooses
    the output (``--json``, ``--latex``, ``--emit``, ``--check``, ``--no-share``, ``--tex``, ``--md``),
    the result is returned, for the notebook to show as mathematics; otherwise the command's
    output is printed as on a terminal.  Errors are one line, as on the command line."""
    import sys

    from . import api
    from .cli import COMMANDS, _names, build_parser, main, parse_lets
    from .derivation import derive
    from .errors import MatcalcError

    try:
        argv = shlex.split(line)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return None
    try:
        args = build_parser().parse_args(argv)
    except SystemExit:  # --help, --version, or a usage message argparse printed
        return None
    try:
        if args.command == "derive" and not (args.tex or args.md or args.json or args.check or args.template):
            return derive(args.expr, wrt=args.wrt, declare=parse_lets(args.let), order=args.order)
        if args.command in COMMANDS and args.expr != "-" and not (
                args.json or args.latex or args.emit or args.check or args.no_share):
            fn = {"grad": api.gradient, "hess": api.hessian, "jac": api.jacobian}[args.command]
            names = _names(args.wrt)
            return fn(args.expr, wrt=names[0] if len(names) == 1 else names, declare=parse_lets(args.let))
    except MatcalcError as err:
        print(f"error: {err}", file=sys.stderr)
        return None
    main(argv)
    return None


def load_ipython_extension(ipython) -> None:
    ipython.register_magic_function(magic, magic_kind="line", magic_name="matcalc")
