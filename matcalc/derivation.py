"""Step-by-step derivations, the way the lecture notes write them: the pipeline's steps,
recorded as it derives (``pipeline`` says which lines there are).  Each step holds an
expression (never a string) and the rules, in words and as identities, that led to it from
the line before.  Printing, and the LaTeX and Markdown documents, are separate (``render``).
"""

from __future__ import annotations

from dataclasses import dataclass

from . import expr as E
from . import pipeline
from .api import Result
from .errors import DerivativeError
from .guard import user_errors
from .pipeline import Step


@dataclass
class Derivation:
    function: E.Expr
    variable: E.Symbol
    order: int
    steps: list[Step]
    result: Result

    def __str__(self) -> str:
        from .render import to_text_lines

        return "\n".join(to_text_lines(self))

    def _repr_latex_(self) -> str:
        from .display import aligned

        return f"$${aligned(self)}$$"

    def _repr_markdown_(self) -> str:
        from .render import render

        return render(self, "md")


@user_errors
def derive(expr, wrt: str, declare: dict | None = None, order: int = 1, hvp: bool = False,
           direction: str | None = None) -> Derivation:
    """The derivation of the gradient (order 1) or of the Hessian (order 2) of a scalar expression;
    with ``hvp``, of the Hessian as a linear map H[D] (the direction named ``direction``)."""
    if order not in (1, 2):
        raise DerivativeError(f"order must be 1 (gradient) or 2 (Hessian), got {order}")
    if (hvp or direction is not None) and order != 2:
        raise DerivativeError("the Hessian as a linear map (hvp, direction) is a derivation of order 2")
    program = pipeline.read(expr, declare, scalar=True)
    pipeline.require_scalar(program, "derivation")
    f = program.function
    (x,) = pipeline.variables(program, [wrt])
    steps = [Step("f", f)]
    if order == 1:
        g = pipeline.gradients(f, [x], steps)[x]
        return Derivation(f, x, 1, steps, Result(f, x, g, program=program))
    if hvp or direction is not None:
        d = pipeline.direction(program, x, direction)
        g, h = pipeline.hvp(f, x, d, steps)
        return Derivation(f, x, 2, steps, Result(f, x, h, "hvp", of=g, program=program, direction=d))
    g, h = pipeline.hessian(f, x, steps)
    return Derivation(f, x, 2, steps, Result(f, x, h, "hessian", of=g, program=program))
