"""The errors matcalc reports to its users: one class, one line of cause each."""


class MatcalcError(Exception):
    """Base of every error meant for the user; nothing else escapes the public API."""


class ParseError(MatcalcError):
    """The text is not an expression: the message names the column (and the line, in a text of
    several) and shows that line with a caret under the column."""

    def __init__(self, message: str, text: str = "", column: int | None = None, line: int | None = 1):
        line = line or 1
        self.cause = message
        self.column = column
        self.line = line if column is not None else None
        lines = text.split("\n")
        shown = lines[line - 1].rstrip("\r") if column is not None and 1 <= line <= len(lines) else ""
        if shown and len(shown) <= 200:
            message = f"{message}\n  {shown}\n  {' ' * (column - 1)}^"
        super().__init__(message)


class ShapeError(MatcalcError):
    """Sizes that cannot fit together (a product, a sum, a square-only function)."""


class DeclarationError(MatcalcError):
    """A malformed declaration of a name's kind."""


class DerivativeError(MatcalcError):
    """The derivative asked for does not exist in the requested form (not a scalar, no such variable)."""


class NumberTooLargeError(MatcalcError):
    """An exact number, written or folded (``2^64^64^64``), too long to compute with."""


class DomainError(MatcalcError):
    """No valid point could be found to evaluate or check an expression."""


class UnsupportedError(MatcalcError):
    """An operation that an expression's node does not support (``registry`` lists what each does)."""


class UsageError(MatcalcError):
    """Options that do not go together."""
