"""What every public entry point does at the boundary with its caller: only ``MatcalcError``
escapes, whatever the input, and the passes over an expression get the recursion depth they
need for that call alone (the caller's interpreter keeps its own limit)."""

from __future__ import annotations

import functools
import sys
from contextlib import contextmanager

from .errors import MatcalcError

# The passes over an expression recurse once per level of nesting; expr.MAX_DEPTH and the
# parser's nesting limit bound the depth, and this lets them reach it (a 300-layer network).
RECURSION_LIMIT = 20000


@contextmanager
def recursion_room():
    """Python's recursion limit raised to RECURSION_LIMIT inside, and put back after."""
    before = sys.getrecursionlimit()
    if before >= RECURSION_LIMIT:
        yield
        return
    sys.setrecursionlimit(RECURSION_LIMIT)
    try:
        yield
    finally:
        sys.setrecursionlimit(before)


def user_errors(fn):
    """Let only MatcalcError out of a public function, whatever the input."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            with recursion_room():
                return fn(*args, **kwargs)
        except MatcalcError:
            raise
        except RecursionError:
            raise MatcalcError("the expression is too deeply nested") from None
        except Exception as err:  # a defect of matcalc's own, reported as one line all the same
            raise MatcalcError(f"internal error ({type(err).__name__}: {err})") from err

    return wrapper
