"""matcalc: symbolic matrix calculus: gradients of matrix expressions, checked numerically."""

import sys

from .api import Result, gradient, hessian, jacobian
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
from .parser import parse
from .verify import CheckReport

__version__ = "0.1.0"

# The passes over an expression recurse once per level of nesting; expr.MAX_DEPTH and the
# parser's nesting limit bound the depth, this lets them reach it (a 300-layer network).
sys.setrecursionlimit(max(sys.getrecursionlimit(), 20000))

__all__ = [
    "gradient", "hessian", "jacobian", "derive", "Derivation", "parse", "Result", "CheckReport", "MatcalcError", "ParseError", "ShapeError",
    "DeclarationError", "DerivativeError", "DomainError", "NumberTooLargeError",
]
