"""Exact numbers and their limits: every number in an expression is a Fraction of bounded size,
and powers of numbers are folded exactly (``4^(1/2) = 2``) or not at all (``2^(1/2)`` stays)."""

from __future__ import annotations

import math
from fractions import Fraction

from ..errors import MatcalcError, NumberTooLargeError

# Exact numbers past this many digits are refused rather than computed: folding them gets
# slow without bound (2^64^64^64^64), and str() refuses integers past 4300 digits.  Every
# literal the parser accepts (below 10^600) is far inside it.
MAX_DIGITS = 3000
MAX_BITS = MAX_DIGITS * math.log2(10)


def bits(value: Fraction) -> float:
    """log2 of the larger of |numerator| and denominator: 0 for -1, 0 and 1, else at least 1."""
    return math.log2(max(abs(value.numerator), value.denominator))


def require_small(size_in_bits: float) -> None:
    """The one limit on exact numbers, given log2 of a numerator's or denominator's size."""
    if size_in_bits > MAX_BITS:
        raise NumberTooLargeError(f"a number in the expression is too large: more than {MAX_DIGITS} digits")


def checked_number(value: Fraction) -> Fraction:
    require_small(bits(value))
    return value


def exact_power(value: Fraction, p: Fraction) -> Fraction | None:
    """``value^p`` when it is rational, else None."""
    if value == 0 and p < 0:
        raise MatcalcError("division by zero")
    if p.denominator == 1:
        return value ** int(p)
    if value < 0:
        return None
    root = [integer_root(part, p.denominator) for part in (value.numerator, value.denominator)]
    if None in root:
        return None
    return Fraction(*root) ** p.numerator


def integer_root(n: int, k: int) -> int | None:
    """The k-th root of n >= 0 when it is an integer, else None; in integers, as floats
    overflow past 2^1024."""
    if n < 2:
        return n
    if k >= n.bit_length():  # 1 < root < 2
        return None
    r = 1 << -(-n.bit_length() // k)  # 2^ceil(bits / k), above the root
    while True:  # Newton's method, from above, decreases to the root rounded down
        s = ((k - 1) * r + n // r ** (k - 1)) // k
        if s >= r:
            return r if r**k == n else None
        r = s
