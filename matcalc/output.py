"""The JSON the command line prints: one schema for ``grad``, ``hess``, ``jac`` and ``derive``.

    {"schema": 1, "command": "grad", "expression": "x^T A x", "declarations": {"A": "symmetric"},
     "results": [{"variable": "x", "kind": "gradient", "text": "2 A x", "latex": "2 A x",
                  "shape": ["n", "1"], "notes": [], "check": {"passed": true, ...}}]}

``results`` is always a list, one result a variable; ``check`` is there whenever a check was
asked for, passed or not; a derivation's result holds its ``steps``.  ``matcalc/output.schema.json``
is the JSON Schema of this document (``SCHEMA_VERSION`` is its ``schema``).
"""

from __future__ import annotations

import json
from importlib import resources

from .notation import identity_latex
from .printing import to_latex, to_text

SCHEMA_VERSION = 1
SCHEMA_FILE = "output.schema.json"


def schema() -> dict:
    """The JSON Schema of the documents ``document`` makes."""
    return json.loads((resources.files("matcalc") / SCHEMA_FILE).read_text())


def check_record(report) -> dict:
    return {"passed": report.ok, **report.to_dict()}


def result_record(result, report=None) -> dict:
    out = {"variable": result.variable.name, "kind": result.kind, "text": str(result),
           "latex": to_latex(result.expr), "shape": [str(d) for d in result.shape], "notes": list(result.notes)}
    if report is not None:
        out["check"] = check_record(report)
    return out


def step_records(derivation) -> list[dict]:
    return [{"lhs": step.lhs, "text": to_text(step.expr), "latex": to_latex(step.expr),
             "rules": [{"words": words, "identity": identity, "latex": identity_latex(identity)}
                       for words, identity in step.why]}
            for step in derivation.steps]


def document(command: str, expression: str, declarations: dict, records: list[dict]) -> dict:
    return {"schema": SCHEMA_VERSION, "command": command, "expression": expression,
            "declarations": dict(declarations), "results": records}


def command_document(command: str, text: str, wrt: list[str], declarations: dict, check: bool = False,
                     order: int = 1) -> dict:
    """The document of ``matcalc COMMAND TEXT --wrt ... --let ... --json [--check]``, computed."""
    from .api import gradient, hessian, jacobian
    from .derivation import derive
    from .errors import DerivativeError

    if command == "derive":
        if len(wrt) != 1:
            raise DerivativeError("a derivation is with respect to one variable")
        derivation = derive(text, wrt=wrt[0], declare=declarations, order=order)
        report = derivation.result.check() if check else None
        record = result_record(derivation.result, report) | {"steps": step_records(derivation)}
        return document("derive", text, declarations, [record])
    results = {"grad": gradient, "hess": hessian, "jac": jacobian}[command](text, wrt=wrt, declare=declarations)
    return document(command, text, declarations,
                    [result_record(r, r.check() if check else None) for r in results.values()])
