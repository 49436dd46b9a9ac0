"""matcalc: symbolic matrix calculus: gradients of matrix expressions, checked numerically."""

from .api import Result, gradient, hessian, hvp, jacobian
from .derivation import Derivation, derive
from .errors import (
                     DeclarationError,
                     DerivativeError,
                     DomainError,
                     MatcalcError,
                     NumberTooLargeError,
                     ParseError,
                     ShapeError,
)
from .optimize import Objective, objective
from .parser import parse
from .verify import CheckReport

__version__ = "0.1.0"


def from_sympy(expr, declare: dict | None = None):
    """A SymPy matrix expression as a matcalc expression, which gradient, hessian, jacobian and hvp
    take in place of text (``sympy_interop``; SymPy is imported only when this is called)."""
    from .sympy_interop import from_sympy

    return from_sympy(expr, declare)


def load_ipython_extension(ipython):
    """``%load_ext matcalc``: the line magic ``%matcalc grad "x^T A x" --wrt x``."""
    from .display import load_ipython_extension

    load_ipython_extension(ipython)


__all__ = [
    "gradient", "hessian", "hvp", "jacobian", "objective", "Objective", "from_sympy", "derive", "Derivation", "parse", "Result", "CheckReport", "MatcalcError", "ParseError", "ShapeError",
    "DeclarationError", "DerivativeError", "DomainError", "NumberTooLargeError",
]
