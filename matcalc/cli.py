"""The command line: ``matcalc grad|hess|hvp|jac EXPR --wrt x [--let A=symmetric] [--latex] [--json] [--check]``.

``-`` stands for standard input as the expression, and for standard output as a file to write
(``derive --tex -``).  Options that contradict each other, or that would be ignored, are refused."""

from __future__ import annotations

import argparse
import json
import os
import sys

from .api import LABELS, gradient, hessian, hvp, jacobian, shared_form
from .codegen import BACKENDS, results_source
from .derivation import derive
from .errors import DeclarationError, MatcalcError, UsageError
from .guard import recursion_room
from .kinds import listing
from .output import document, result_record, step_records
from .printing import to_latex, to_text
from .render import render, write_atomically



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


EXAMPLES = {
    "grad": """examples:
  matcalc grad "x^T A x" --wrt x --let A=symmetric
  matcalc grad "||X W + b^T - Y||_F^2" --wrt W,b --check
  matcalc grad "logdet(X)" --wrt X --json
  echo "det(AXB)" | matcalc grad - --wrt X --emit numpy""",
    "hess": """examples:
  matcalc hess "||x||^3" --wrt x
  matcalc hess "tr(X^T A X)" --wrt X --latex
  matcalc hess "sum(log(1 + exp(-y .* (X w))))" --wrt w --check --json""",
    "hvp": """examples:
  matcalc hvp "||T - U V^T||_F^2" --wrt U
  matcalc hvp "logdet(X)" --wrt X --direction D --check""",
    "jac": """examples:
  matcalc jac "softmax(x)" --wrt x
  matcalc jac "tanh(W x + b)" --wrt x,b --latex""",
    "derive": """examples:
  matcalc derive "det(AXB)" --wrt X
  matcalc derive "||x||^3" --wrt x --order 2 --tex norm.tex
  matcalc derive "x^T A x" --wrt x --md - > derivation.md
  matcalc derive "x^T A x" --wrt x --json""",
    "serve": """examples:
  matcalc serve
  matcalc serve --port 8000 --open""",
}


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("matcalc")
    except PackageNotFoundError:  # a source tree that was never installed
        from . import __version__

        return __version__


def _subparser(sub, name: str, help_text: str) -> argparse.ArgumentParser:
    return sub.add_parser(name, help=help_text, description=help_text, epilog=EXAMPLES[name],
                          formatter_class=argparse.RawDescriptionHelpFormatter)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="matcalc", description="Symbolic matrix calculus: derivatives of matrix expressions.")
    p.add_argument("--version", action="version", version=f"matcalc {_version()}")
    sub = p.add_subparsers(dest="command", required=True)
    for name, (_, help_text) in COMMANDS.items():
        g = _subparser(sub, name, help_text)
        g.add_argument("expr", help='the expression, e.g. "x^T A x"; - reads it from standard input')
        g.add_argument("--wrt", action="append", required=True, help="the variable(s): --wrt x, --wrt W1,b1")
        g.add_argument("--let", action="append", default=[], metavar="NAME=KIND",
                       help=f"declare a kind: {listing()}")
        g.add_argument("--latex", action="store_true", help="print LaTeX")
        g.add_argument("--json", action="store_true", help="print JSON")
        g.add_argument("--check", action="store_true", help="verify numerically at random points")
        g.add_argument("--no-share", action="store_true",
                       help="write every result in full instead of naming shared subexpressions")
        g.add_argument("--emit", choices=BACKENDS, help="print Python source computing the result(s), for arrays of any "
                       "library (numpy, jax and array-api give the same source)")
        if name == "hvp":
            g.add_argument("--direction", metavar="NAME", help="the name of the direction D of H[D] (default: d + the variable)")
    d = _subparser(sub, "derive", "the derivation step by step, as text, LaTeX or Markdown")
    d.add_argument("expr", help='the expression, e.g. "x^T A x"; - reads it from standard input')
    d.add_argument("--wrt", required=True, help="the variable")
    d.add_argument("--let", action="append", default=[], metavar="NAME=KIND",
                   help=f"declare a kind: {listing()}")
    d.add_argument("--order", type=int, choices=(1, 2), default=1, help="1: gradient (default), 2: Hessian")
    d.add_argument("--hvp", action="store_true", help="with --order 2: the Hessian as a linear map, H[dX]")
    d.add_argument("--direction", metavar="NAME", help="with --hvp: the name of the direction (default: d + the variable)")
    d.add_argument("--tex", metavar="FILE", help="write a standalone LaTeX document (- for standard output)")
    d.add_argument("--md", metavar="FILE", help="write Markdown with $$ math (- for standard output)")
    d.add_argument("--template", metavar="FILE", help="render your own jinja2 template (with --tex or --md)")
    d.add_argument("--json", action="store_true", help="print JSON: the result with its steps")
    d.add_argument("--check", action="store_true", help="verify the result numerically at random points")
    s = _subparser(sub, "serve", "a web page for all of this on a local server (loopback by default)")
    s.add_argument("--host", default="127.0.0.1", help="the address to listen on (default 127.0.0.1, this machine only)")
    s.add_argument("--port", type=int, default=0, help="the port (default 0: a free one, printed)")
    s.add_argument("--open", action="store_true", help="open the page in the default browser")
    return p


def _refuse(args, pairs) -> None:
    """A one-line error for the first pair of options given together that do not go together."""
    for first, second, why in pairs:
        if getattr(args, first.lstrip("-").replace("-", "_")) and getattr(args, second.lstrip("-").replace("-", "_")):
            raise UsageError(f"{first} and {second} do not go together: {why}")


def _expression(text: str) -> str:
    if text != "-":
        return text
    read = sys.stdin.read().strip()
    if not read:
        raise UsageError("no expression on standard input")
    return read


def run_derive(args) -> int:
    _refuse(args, [("--json", "--tex", "--json prints the derivation; --tex writes a document"),
                   ("--json", "--md", "--json prints the derivation; --md writes a document"),
                   ("--json", "--template", "a template renders a document, not JSON")])
    if args.tex == "-" and args.md == "-":
        raise UsageError("--tex - and --md - would both write to standard output: choose one")
    text, declare = _expression(args.expr), parse_lets(args.let)
    derivation = derive(text, wrt=args.wrt, declare=declare, order=args.order, hvp=args.hvp, direction=args.direction)
    outputs = [(path, fmt) for path, fmt in ((args.tex, "tex"), (args.md, "md")) if path]
    if args.template and not outputs:
        raise UsageError("--template needs --tex FILE or --md FILE to write to")
    report = derivation.result.check() if args.check else None
    if args.json:
        record = result_record(derivation.result, report) | {"steps": step_records(derivation)}
        print(json.dumps(document("derive", text, declare, [record]), indent=2))
    for path, fmt in outputs:
        rendered = render(derivation, fmt, args.template)
        if path == "-":
            sys.stdout.write(rendered)
        else:
            write_atomically(path, rendered)
            print(f"wrote {path}", file=sys.stderr if "-" in (args.tex, args.md) else sys.stdout)
    if not outputs and not args.json:
        print(derivation)
    if report is not None and not args.json:
        print(f"check: {report}", file=sys.stderr if "-" in (args.tex, args.md) else sys.stdout)
    return 1 if report is not None and not report.ok else 0


CONTRADICTIONS = [
    ("--json", "--latex", "JSON holds the LaTeX already"),
    ("--emit", "--json", "--emit prints source code"),
    ("--emit", "--latex", "--emit prints source code"),
    ("--emit", "--check", "--emit prints source code and checks nothing"),
    ("--emit", "--no-share", "generated code always computes shared subexpressions once"),
    ("--json", "--no-share", "JSON writes every result in full already"),
]


def _results(args, text: str, declare: dict) -> dict:
    """{variable: Result} of the command, one Hessian applied to a direction per variable for hvp."""
    names = _names(args.wrt)
    if args.command != "hvp":
        return COMMANDS[args.command][0](text, wrt=names, declare=declare)
    if args.direction is not None and len(names) != 1:
        raise UsageError("--direction names the direction of one variable: give one --wrt with it")
    return {name: hvp(text, wrt=name, direction=args.direction, declare=declare) for name in names}


def run(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "derive":
        return run_derive(args)
    if args.command == "serve":
        from .serve import serve

        return serve(args.host, args.port, args.open)
    _refuse(args, CONTRADICTIONS)
    text, declare = _expression(args.expr), parse_lets(args.let)
    results = _results(args, text, declare)
    if args.emit:
        first = next(iter(results.values()))
        print(results_source(results, "hvp" if first.kind == "hvp" else LABELS[first.kind][0], args.emit))
        return 0
    failed = False
    records = []
    definitions, written = [], {name: r.expr for name, r in results.items()}
    if not args.json and not args.no_share:
        definitions, written = shared_form(results)
    printer = to_latex if args.latex else to_text
    said: set = set()
    for symbol, value in definitions:
        print(f"{printer(symbol)} = {printer(value)}")
    for name, r in results.items():
        report = r.check() if args.check else None
        failed |= report is not None and not report.ok
        if args.json:
            records.append(result_record(r, report))
            continue
        label = r.label_latex(printer) if args.latex else r.label
        # a result in full is written with the sizes it needs to read back (kron(v, I[n]))
        value = str(r) if printer is to_text and written[name] is r.expr else printer(written[name])
        print(f"{label} = {value}")
        for note in r.notes:
            if note not in said:  # a note on the text is said once, not for every variable
                print(f"note: {note}")
                said.add(note)
        if report is not None:
            print(f"check: {report}")
    if args.json:
        print(json.dumps(document(args.command, text, declare, records), indent=2))
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
