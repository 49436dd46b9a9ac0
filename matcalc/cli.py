"""The command line: ``matcalc grad|hess|hvp|jac EXPR --wrt x [--let A=symmetric] [--latex] [--json] [--check]``."""

from __future__ import annotations

import argparse
import json
import math
import os
import sys

from .api import LABELS, gradient, hessian, hvp, jacobian
from .codegen import MODULES, source
from .cse import printed_length, share
from .derivation import derive
from .errors import DeclarationError, MatcalcError, UsageError
from .guard import recursion_room
from .kinds import listing
from .printing import to_latex, to_text
from .render import render, write_atomically

SHARE_ABOVE = 160  # characters of plain output above which shared subexpressions get names


def parse_lets(lets: list[str]) -> dict[str, str]:
    """``["A=symmetric", "s=scalar,B=symmetric"]`` to a declaration dict."""
    out = {}
    for item in lets:
        for part in item.split(","):
            name, eq, kind = part.partition("=")
            if not eq or not name.strip() or not kind.strip():
                raise DeclarationError(f"malformed --let {part!r}: write NAME=KIND, e.g. A=symmetric")
            out[name.strip()] = kind.strip()
    return out


def _names(wrt: list[str]) -> list[str]:
    return [n.strip() for item in wrt for n in item.split(",") if n.strip()]


COMMANDS = {
    "grad": (gradient, "the gradient of a scalar expression"),
    "hess": (hessian, "the Hessian of a scalar expression (vec form for a matrix variable)"),
    "hvp": (hvp, "the Hessian of a scalar expression as a linear map, H[dX], in matrix products"),
    "jac": (jacobian, "the Jacobian d vec(F) / d vec(X)^T of a vector- or matrix-valued expression"),
}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="matcalc", description="Symbolic matrix calculus: derivatives of matrix expressions.")
    sub = p.add_subparsers(dest="command", required=True)
    for name, (_, help_text) in COMMANDS.items():
        g = sub.add_parser(name, help=help_text, description=help_text)
        g.add_argument("expr", help='the expression, e.g. "x^T A x"')
        g.add_argument("--wrt", action="append", required=True, help="the variable(s): --wrt x, --wrt W1,b1")
        g.add_argument("--let", action="append", default=[], metavar="NAME=KIND",
                       help=f"declare a kind: {listing()}")
        g.add_argument("--latex", action="store_true", help="print LaTeX")
        g.add_argument("--json", action="store_true", help="print JSON")
        g.add_argument("--check", action="store_true", help="verify numerically at random points")
        g.add_argument("--no-share", action="store_true",
                       help="write every result in full instead of naming shared subexpressions")
        g.add_argument("--emit", choices=sorted(MODULES), help="print Python source computing the result(s)")
        if name == "hvp":
            g.add_argument("--direction", metavar="NAME", help="the name of the direction D of H[D] (default: d + the variable)")
    d = sub.add_parser("derive", help="the derivation step by step, as text, LaTeX or Markdown",
                       description="the derivation step by step, as text, LaTeX or Markdown")
    d.add_argument("expr", help='the expression, e.g. "x^T A x"')
    d.add_argument("--wrt", required=True, help="the variable")
    d.add_argument("--let", action="append", default=[], metavar="NAME=KIND",
                   help=f"declare a kind: {listing()}")
    d.add_argument("--order", type=int, choices=(1, 2), default=1, help="1: gradient (default), 2: Hessian")
    d.add_argument("--hvp", action="store_true", help="with --order 2: the Hessian as a linear map, H[dX]")
    d.add_argument("--direction", metavar="NAME", help="with --hvp: the name of the direction (default: d + the variable)")
    d.add_argument("--tex", metavar="FILE", help="write a standalone LaTeX document")
    d.add_argument("--md", metavar="FILE", help="write Markdown with $$ math")
    d.add_argument("--template", metavar="FILE", help="render your own jinja2 template (with --tex or --md)")
    return p


def run_derive(args) -> int:
    derivation = derive(args.expr, wrt=args.wrt, declare=parse_lets(args.let), order=args.order, hvp=args.hvp,
                        direction=args.direction)
    outputs = [(path, fmt) for path, fmt in ((args.tex, "tex"), (args.md, "md")) if path]
    if args.template and not outputs:
        raise UsageError("--template needs --tex FILE or --md FILE to write to")
    for path, fmt in outputs:
        write_atomically(path, render(derivation, fmt, args.template))
        print(f"wrote {path}")
    if not outputs:
        print(derivation)
    return 0


def _results(args) -> dict:
    """{variable: Result} of the command, one Hessian applied to a direction per variable for hvp."""
    names, declare = _names(args.wrt), parse_lets(args.let)
    if args.command != "hvp":
        return COMMANDS[args.command][0](args.expr, wrt=names, declare=declare)
    if args.direction is not None and len(names) != 1:
        raise UsageError("--direction names the direction of one variable: give one --wrt with it")
    return {name: hvp(args.expr, wrt=name, direction=args.direction, declare=declare) for name in names}


def run(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "derive":
        return run_derive(args)
    results = _results(args)
    if args.emit:
        first = next(iter(results.values()))
        inputs = sorted({s for r in results.values() for s in r.inputs()}, key=lambda s: s.name)
        name = "hvp" if first.kind == "hvp" else LABELS[first.kind][0]
        print(source({name: r.expr for name, r in results.items()}, inputs, args.emit, name=name))
        return 0
    failed = False
    records = []
    definitions, written = [], {name: r.expr for name, r in results.items()}
    given = next(iter(results.values())).definitions  # the names the text defined
    long = sum(printed_length(r.expr, SHARE_ABOVE) for r in results.values()) > SHARE_ABOVE
    if not args.json and not args.no_share and (long or given):
        # short results get only the text's own names; long ones names for what they share too
        definitions, written = share(written, min_size=1 if long else math.inf, given=given)
    printer = to_latex if args.latex else to_text
    said: set = set()
    for symbol, value in definitions:
        print(f"{printer(symbol)} = {printer(value)}")
    for name, r in results.items():
        report = r.check() if args.check else None
        failed |= report is not None and not report.ok
        if args.json:
            records.append(r.to_dict() | ({"check": report.to_dict()} if report else {}))
            continue
        label = r.label_latex(printer) if args.latex else r.label
        print(f"{label} = {printer(written[name])}")
        for note in r.notes:
            if note not in said:  # a note on the text is said once, not for every variable
                print(f"note: {note}")
                said.add(note)
        if report is not None:
            print(f"check: {report}")
    if args.json:
        print(json.dumps(records[0] if len(records) == 1 else records, indent=2))
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    try:
        with recursion_room():
            return run(sys.argv[1:] if argv is None else argv)
    except MatcalcError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # the reader stopped early (| head): not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
