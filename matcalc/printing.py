"""Printers: text (in the input grammar, so it parses back) and LaTeX.

One method per node type in a shared base class that owns precedence and parentheses;
the two printers differ only in the tokens they write.
"""

from __future__ import annotations

import re
from fractions import Fraction

from . import expr as E
from .errors import UnsupportedError
from .registry import describe
from .shapes import is_one

ADD, NEG, MUL, POW, ATOM = 1, 2, 3, 4, 5

GREEK = {"alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa", "lambda", "mu",
         "nu", "xi", "pi", "rho", "sigma", "tau", "upsilon", "phi", "chi", "psi", "omega", "Gamma", "Delta",
         "Theta", "Lambda", "Xi", "Pi", "Sigma", "Upsilon", "Phi", "Psi", "Omega"}


def _number(value: Fraction) -> str:
    if value.denominator == 1:
        return str(value.numerator)
    return f"{value.numerator}/{value.denominator}"


def _sign_split(e: E.Expr) -> tuple[bool, E.Expr]:
    """(True, -e) when e carries a negative number in front."""
    c, rest = E.split_coefficient(e)
    if c < 0:
        return True, E.mul(E.Const(-c), rest) if E.is_scalar(rest) else E.scale(E.Const(-c), rest)
    return False, e


def _fraction_split(coeff: E.Expr) -> tuple[list[E.Expr], list[E.Expr]]:
    """Scalar factors above and below a fraction bar: ``3 ||x||^-1 -> ([3], [||x||])``."""
    factors = coeff.factors if E.is_scalar_product(coeff) else (coeff,)
    top, bottom = [], []
    for f in factors:
        if isinstance(f, E.Power) and f.exponent < 0:
            bottom.append(E.power(f.base, -f.exponent))
        elif isinstance(f, E.Const) and f.value.denominator != 1 and f.value.numerator == 1:
            bottom.append(E.Const(Fraction(f.value.denominator)))
        else:
            top.append(f)
    return top, bottom


def _broadcast_part(term: E.Expr) -> E.Expr | None:
    """What a broadcast term repeats: ``c`` of ``c ones``, ``b^T`` of ``ones b^T``; None otherwise,
    and None for a sum, which would parse back as several broadcast terms."""
    part = _repeated(term)
    return None if isinstance(part, E.Add) else part


def _repeated(term: E.Expr) -> E.Expr | None:
    if isinstance(term, E.Ones):
        return E.ONE
    if isinstance(term, E.Scale):  # c ones repeats c
        part = _repeated(term.arg)
        return None if part is None else E.mul(term.coeff, part)
    if isinstance(term, E.MatMul) and len(term.factors) == 2:
        first, last = term.factors
        if isinstance(first, E.Ones) and is_one(first.shape[1]) and is_one(last.shape[0]):
            return last
    # a column repeated across columns keeps its ones^T: 'x + sum(x) I' would read as a vector
    # added to a matrix, while 'X W + b^T' is how the notes write a bias added to every row
    return None


class Printer:
    """Structure and precedence; subclasses supply the tokens."""

    def __call__(self, e: E.Expr) -> str:
        return self.print(e)[0]

    def print(self, e: E.Expr) -> tuple[str, int]:
        method = getattr(self, "_" + type(e).__name__, None)
        if method is None:
            raise UnsupportedError(f"printing of {describe(e)} is not supported")
        return method(e)

    def wrapped(self, e: E.Expr, above: int) -> str:
        """``e`` printed, in parentheses when it binds less tightly than ``above``."""
        text, prec = self.print(e)
        return self.parens(text) if prec < above else text

    # -- leaves
    def _Const(self, e):
        v = e.value
        prec = ATOM if v.denominator == 1 and v >= 0 else (NEG if v.denominator == 1 else MUL)
        return self.number(v), prec

    def _Symbol(self, e):
        return self.name(e.name), ATOM

    def _Differential(self, e):
        return self.differential(self.name(e.var.name)), ATOM

    def _DifferentialOf(self, e):
        return self.differential(self.parens(self.print(e.arg)[0])), ATOM

    def _Identity(self, e):
        return "I", ATOM

    def _Zero(self, e):
        return "0", ATOM

    def _Ones(self, e):
        rows, cols = (not is_one(e.shape[0])), (not is_one(e.shape[1]))
        one = self.ones()
        if rows and cols:
            return f"{one} {self.transpose_of(one)}", MUL
        return (one if rows or not cols else self.transpose_of(one)), (ATOM if rows or not cols else POW)

    # -- sums and products
    def _Add(self, e):
        parts = []
        for i, term in enumerate(e.terms):
            negative, term = _sign_split(term)
            text = self.wrapped(self._as_broadcast(term, e), ADD + 1) if not negative else self.wrapped(self._as_broadcast(term, e), MUL)
            if i == 0:
                parts.append(("-" + text) if negative else text)
            else:
                parts.append((" - " if negative else " + ") + text)
        return "".join(parts), ADD

    def _as_broadcast(self, term, whole):
        """A term the parser would broadcast back: ``1`` for ones, ``b^T`` for ``ones b^T``; only
        next to a term of the full shape, which is what gives the sum its shape when parsed."""
        if not any(_broadcast_part(t) is None for t in whole.terms if t is not term):
            return term
        part = _broadcast_part(term)
        return term if part is None else part

    def _MatMul(self, e):
        if E.is_scalar_product(e):
            return self._scaled(e, None)
        return self.product([self.factor(f) for f in e.factors]), MUL

    def factor(self, f: E.Expr) -> str:
        text, prec = self.print(f)
        return self.parens(text) if prec <= MUL and not (isinstance(f, E.Const) and prec == ATOM) else text

    def _Scale(self, e):
        return self._scaled(e.coeff, e.arg)

    def _scaled(self, coeff: E.Expr, arg: E.Expr | None):
        negative, coeff = _sign_split(coeff)
        top, bottom = _fraction_split(coeff)
        top = [f for f in top if f != E.ONE or (arg is None and not bottom and len(top) == 1)]
        alone = arg is None and len(top) == 1
        # a scalar chain such as x^T B x needs parentheses unless it stands alone
        parts = [self.print(f)[0] if alone and isinstance(f, E.MatMul) else self.factor(f) for f in top]
        if arg is not None:
            text, prec = self.print(arg)
            parts.append(self.parens(text) if prec < MUL else text)
        numerator = self.product(parts) if parts else "1"
        if bottom:
            if len(bottom) == 1:
                denominator, precedence = self.print(bottom[0])
                simple = precedence >= POW
            else:
                denominator, simple = self.product([self.factor(f) for f in bottom]), False
            text = self.fraction(numerator, denominator if simple else self.parens(denominator), denominator)
        else:
            text = numerator
        return ("-" + text, NEG) if negative else (text, MUL)

    def _Hadamard(self, e):
        text = ""
        for i, f in enumerate(e.factors):
            if isinstance(f, E.ElemPower) and f.exponent == -1:
                text += (self.ones_scalar() if i == 0 else "") + self.elem_div_op() + self.wrapped(f.arg, MUL + 1)
            else:
                text += (self.hadamard_op() if i else "") + self.wrapped(f, MUL + 1)
        return text, MUL

    def _Kron(self, e):
        return self.wrapped(e.left, MUL + 1) + self.kron_op() + self.wrapped(e.right, MUL + 1), MUL

    # -- powers
    def _Transpose(self, e):
        if isinstance(e.arg, E.Inverse):
            return self.wrapped(e.arg.arg, ATOM) + self.superscript("-T"), POW
        return self.transpose_of(self.wrapped(e.arg, ATOM)), POW

    def _Inverse(self, e):
        return self.wrapped(e.arg, ATOM) + self.superscript("-1"), POW

    def _MatPower(self, e):
        return self.wrapped(e.arg, ATOM) + self.superscript(str(e.exponent)), POW

    def _Power(self, e):
        return self.wrapped(e.base, ATOM) + self.superscript(self.exponent(e.exponent)), POW

    def _ElemPower(self, e):
        return self.wrapped(e.arg, ATOM) + self.elem_power(self.exponent(e.exponent)), POW

    # -- functions
    def _Apply(self, e):
        return self.call(e.fn, self.print(e.arg)[0]), ATOM

    def _Det(self, e):
        return self.call("det", self.print(e.arg)[0]), ATOM

    def _LogDet(self, e):
        return self.call("logdet", self.print(e.arg)[0]), ATOM

    def _Trace(self, e):
        return self.call("tr", self.print(e.arg)[0]), ATOM

    def _Sum(self, e):
        return self.call("sum", self.print(e.arg)[0]), ATOM

    def _DiagMatrix(self, e):
        return self.call("diag", self.print(e.arg)[0]), ATOM

    _DiagVector = _DiagMatrix

    def _Softmax(self, e):
        return self.call("softmax", self.print(e.arg)[0]), ATOM

    def _LogSumExp(self, e):
        return self.call("logsumexp", self.print(e.arg)[0]), ATOM

    def _Vec(self, e):
        return self.call("vec", self.print(e.arg)[0]), ATOM

    def _Commutation(self, e):
        return self.commutation(e.dims), ATOM

    def _Norm(self, e):
        frobenius = not (is_one(e.arg.shape[0]) or is_one(e.arg.shape[1]))
        return self.norm(self.print(e.arg)[0], frobenius), ATOM


class TextPrinter(Printer):
    """The input grammar: what it prints parses back to an equal expression."""

    def number(self, v):
        return _number(v)

    def name(self, n):
        return n

    def differential(self, n):
        return "d" + n

    def ones(self):
        return "ones"

    def ones_scalar(self):
        return "1"

    def transpose_of(self, text):
        return text + "^T"

    def superscript(self, p):
        return "^" + p

    def exponent(self, p: Fraction):
        return _number(p) if p.denominator == 1 else f"({_number(p)})"

    def elem_power(self, p):
        return " .^ " + p

    def parens(self, text):
        return f"({text})"

    def product(self, parts):
        return " ".join(parts)

    def fraction(self, top, bottom, bare_bottom):
        return f"{top} / {bottom}"

    def hadamard_op(self):
        return " .* "

    def elem_div_op(self):
        return " ./ "

    def kron_op(self):
        return " kron "

    def call(self, fn, arg):
        return f"{fn}({arg})"

    def norm(self, text, frobenius):
        return f"||{text}||"

    def _Kron(self, e):
        return f"kron({self.print(e.left)[0]}, {self.print(e.right)[0]})", ATOM

    def commutation(self, dims):
        return f"K({dims[0]},{dims[1]})"

    def _Zero(self, e):
        if E.is_scalar(e):
            return "0", ATOM
        return f"0 {self._Ones(E.Ones(e.shape))[0]}", MUL  # '0' alone would parse back as a scalar


_LATEX_FUNCTIONS = {"exp": r"\exp", "log": r"\log", "sin": r"\sin", "cos": r"\cos", "tan": r"\tan",
                    "sinh": r"\sinh", "cosh": r"\cosh", "tanh": r"\tanh", "det": r"\det", "sigmoid": r"\sigma",
                    "logdet": r"\log\det", "abs": None}


class LatexPrinter(Printer):
    def number(self, v):
        if v.denominator == 1:
            return str(v.numerator)
        sign = "-" if v < 0 else ""
        return rf"{sign}\frac{{{abs(v.numerator)}}}{{{v.denominator}}}"

    def name(self, n):
        m = re.fullmatch(r"([A-Za-z]+)(?:_?([A-Za-z0-9]+))?", n)
        stem, sub = (m.group(1), m.group(2)) if m else (n, None)
        stem = "\\" + stem if stem in GREEK else (stem if len(stem) == 1 else rf"\mathit{{{stem}}}")
        return f"{stem}_{{{sub}}}" if sub else stem

    def differential(self, n):
        return rf"\mathrm{{d}}{n}"

    def ones(self):
        return r"\mathbf{1}"

    def ones_scalar(self):
        return r"\mathbf{1}"

    def transpose_of(self, text):
        return text + r"^{\top}"

    def superscript(self, p):
        return "^{" + p.replace("-T", r"-\top") + "}"

    def exponent(self, p: Fraction):
        return str(p.numerator) if p.denominator == 1 else f"{p.numerator}/{p.denominator}"

    def elem_power(self, p):
        return r"^{\circ " + p + "}"

    def parens(self, text):
        return rf"\left({text}\right)"

    def product(self, parts):
        return " ".join(parts)

    def fraction(self, top, bottom, bare_bottom):
        return rf"\frac{{{top}}}{{{bare_bottom}}}"

    def hadamard_op(self):
        return r" \circ "

    def elem_div_op(self):
        return r" \oslash "

    def kron_op(self):
        return r" \otimes "

    def sqrt(self, text):
        return rf"\sqrt{{{text}}}"

    def call(self, fn, arg):
        if fn == "abs":
            return rf"\left|{arg}\right|"
        head = _LATEX_FUNCTIONS.get(fn) or rf"\operatorname{{{fn}}}"
        return rf"{head}\left({arg}\right)"

    def norm(self, text, frobenius):
        return rf"\left\lVert {text}\right\rVert" + ("_F" if frobenius else "")

    def commutation(self, dims):
        return rf"K_{{{dims[0]},{dims[1]}}}"

    def _Power(self, e):
        if e.exponent == Fraction(1, 2):
            return self.sqrt(self.print(e.base)[0]), ATOM
        if e.exponent < 0:
            bottom = self.print(E.power(e.base, -e.exponent))[0]
            return self.fraction("1", bottom, bottom), ATOM
        return super()._Power(e)


to_text = TextPrinter()
to_latex = LatexPrinter()
