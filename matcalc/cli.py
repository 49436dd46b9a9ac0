"""The command line: ``matcalc grad EXPR --wrt x [--let A=symmetric] [--latex] [--json] [--check]``."""

from __future__ import annotations

import argparse
import json
import sys

from .api import gradient
from .errors import DeclarationError, MatcalcError


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


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="matcalc", description="Symbolic matrix calculus: gradients of matrix expressions.")
    sub = p.add_subparsers(dest="command", required=True)
    g = sub.add_parser("grad", help="the gradient of a scalar expression")
    g.add_argument("expr", help='the expression, e.g. "x^T A x"')
    g.add_argument("--wrt", action="append", required=True, help="the variable(s): --wrt x, --wrt W1,b1")
    g.add_argument("--let", action="append", default=[], metavar="NAME=KIND",
                   help="declare a kind: scalar, vector, matrix or symmetric")
    g.add_argument("--latex", action="store_true", help="print LaTeX")
    g.add_argument("--json", action="store_true", help="print JSON")
    g.add_argument("--check", action="store_true", help="verify numerically at random points")
    return p


def run(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    names = _names(args.wrt)
    results = gradient(args.expr, wrt=names, declare=parse_lets(args.let))
    failed = False
    records = []
    for name, r in results.items():
        report = r.check() if args.check else None
        failed |= report is not None and not report.ok
        if args.json:
            records.append(r.to_dict() | ({"check": report.to_dict()} if report else {}))
            continue
        print(rf"\nabla_{{{name}}} f = {r.latex()}" if args.latex else f"grad_{name} f = {r}")
        if report is not None:
            print(f"check: {report}")
    if args.json:
        print(json.dumps(records[0] if len(records) == 1 else records, indent=2))
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    try:
        return run(sys.argv[1:] if argv is None else argv)
    except MatcalcError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
