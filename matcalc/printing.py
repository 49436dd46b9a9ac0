"""Printers: text (in the input grammar, so it parses back) and LaTeX.

One method per node type in a shared base class that owns precedence and parentheses;
the two printers differ only in the tokens they write.
"""

from __future__ import annotations

import re
from fractions import Fraction

from . import expr as E
from .errors import UnsupportedError
from .functions import shown_params
from .names import GREEK
from .registry import describe
from .shapes import fresh_labels, is_one, product_dim, size_factors

ADD, NEG, MUL, POW, ATOM = 1, 2, 3, 4, 5


def _number(value: Fraction) -> str:
    if value.denominator == 1:
        return str(value.numerator)
    return f"{value.numerator}/{value.denominator}"


def _number_precedence(v: Fraction) -> int:
    return ATOM if v.denominator == 1 and v >= 0 else (NEG if v.denominator == 1 else MUL)


def _parts(e: E.Expr) -> tuple[Fraction, tuple, E.Expr | None]:
    """A term or a coefficient read as (number, other scalar factors, matrix or None), the way
    ``split_coefficient`` splits it: ``-2 s A -> (-2, (s,), A)``, ``3 -> (3, (), None)``.  The
    printers show a sign, a fraction or a broadcast from these parts, building nothing."""
    arg = None
    if isinstance(e, E.Scale):
        e, arg = e.coeff, e.arg
    elif isinstance(e, E.Ones) or not E.is_scalar(e):
        return Fraction(1), (), e
    if isinstance(e, E.Const):
        return e.value, (), arg
    factors = e.factors if E.is_scalar_product(e) else (e,)
    if isinstance(factors[0], E.Const):
        return factors[0].value, factors[1:], arg
    return Fraction(1), factors, arg


def _lone(number: Fraction, factors: tuple, arg) -> E.Expr | None:
    """The one node the parts stand for when there is nothing else (number 1 and one factor)."""
    if number == 1 and len(factors) + (arg is not None) == 1:
        return factors[0] if factors else arg
    return None


def _broadcast_part(number: Fraction, factors: tuple, arg):
    """The parts of what a broadcast term repeats: ``c`` of ``c ones``, ``b^T`` of ``ones b^T``;
    None otherwise, and None for a sum, which would parse back as several broadcast terms."""
    if isinstance(arg, E.Ones):
        part = (number, factors, None)
    elif isinstance(arg, E.MatMul) and len(arg.factors) == 2:
        first, last = arg.factors
        if not (isinstance(first, E.Ones) and is_one(first.shape[1]) and is_one(last.shape[0])):
            return None
        part = (number, factors, last)
    else:
        # a column repeated across columns keeps its ones^T: 'x + sum(x) I' would read as a vector
        # added to a matrix, while 'X W + b^T' is how the notes write a bias added to every row
        return None
    return None if isinstance(_lone(*part), E.Add) else part


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
        return self.number(e.value), _number_precedence(e.value)

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
        return self.ones_of(e.shape)

    def ones_of(self, shape) -> tuple[str, int]:
        rows, cols = (not is_one(shape[0])), (not is_one(shape[1]))
        one = self.ones()
        if rows and cols:
            return f"{one} {self.transpose_of(one)}", MUL
        return (one if rows or not cols else self.transpose_of(one)), (ATOM if rows or not cols else POW)

    # -- sums and products
    def _Add(self, e):
        terms = [_parts(t) for t in e.terms]
        is_broadcast = [_broadcast_part(*t) is not None for t in terms]
        text = ""
        for i, (number, factors, arg) in enumerate(terms):
            negative, unsigned = number < 0, (abs(number), factors, arg)
            # a term the parser would broadcast back: '1' for ones, 'b^T' for 'ones b^T'; only next
            # to a term of the full shape, which is what gives the sum its shape when parsed
            part = _broadcast_part(*unsigned) if self.broadcasts(arg) else None
            if part is not None and not all(b for j, b in enumerate(is_broadcast) if j != i):
                unsigned = part
            body, prec = self.parts(*unsigned)
            body = self.parens(body) if prec < (MUL if negative else ADD + 1) else body
            sign = ("-" if negative else "") if i == 0 else (" - " if negative else " + ")
            text += sign + body
        return text, ADD

    def broadcasts(self, arg) -> bool:
        """Whether a term repeated by ones may be written as what it repeats (``X - b^T``)."""
        return True

    def parts(self, number: Fraction, factors: tuple, arg) -> tuple[str, int]:
        """``number factors arg`` printed as the node they make would be printed."""
        lone = _lone(number, factors, arg)
        if lone is not None:
            return self.print(lone)
        if not factors and arg is None:
            return self.number(number), _number_precedence(number)
        return self._scaled_parts(number, factors, arg)

    def _MatMul(self, e):
        if E.is_scalar_product(e):
            return self._scaled(e, None)
        return self.product([self.factor(f) for f in e.factors]), MUL

    def factor(self, f) -> str:
        """A factor of a product (a node, a number, or a power ``(base, p)``), in parentheses when it binds less tightly."""
        text, prec = self.part(f)
        return self.parens(text) if prec <= MUL else text

    def part(self, f) -> tuple[str, int]:
        if isinstance(f, Fraction):
            return self.number(f), _number_precedence(f)
        if isinstance(f, tuple):
            return self.power_of(*f)
        return self.print(f)

    def _Scale(self, e):
        return self._scaled(e.coeff, e.arg)

    def _scaled(self, coeff: E.Expr, arg: E.Expr | None):
        number, factors, _ = _parts(coeff)
        text, prec = self._scaled_parts(abs(number), factors, arg)
        return ("-" + text, NEG) if number < 0 else (text, prec)

    def _scaled_parts(self, number: Fraction, factors: tuple, arg: E.Expr | None):
        """A positive number times scalar factors (times ``arg``), the denominators under a
        fraction bar: ``3 ||x||^-1 x -> 3 x / ||x||``."""
        top, bottom = [], []
        for f in ((number,) if number != 1 or not factors else ()) + tuple(factors):
            if isinstance(f, Fraction) and f.denominator != 1 and f.numerator == 1:
                bottom.append(Fraction(f.denominator))
            elif isinstance(f, E.Power) and f.exponent < 0:
                bottom.append((f.base, -f.exponent))
            else:
                top.append(f)
        keep_one = arg is None and not bottom and len(top) == 1  # a lone 1, as in 1 / x
        top = [f for f in top if not (isinstance(f, Fraction) and f == 1) or keep_one]
        alone = arg is None and len(top) == 1
        # a scalar chain such as x^T B x needs parentheses unless it stands alone
        parts = [self.print(f)[0] if alone and isinstance(f, E.MatMul) else self.factor(f) for f in top]
        if arg is not None:
            text, prec = self.print(arg)
            parts.append(self.parens(text) if prec < MUL else text)
        numerator = self.product(parts) if parts else "1"
        if not bottom:
            return numerator, MUL
        if len(bottom) == 1:
            denominator, precedence = self.part(bottom[0])
            simple = precedence >= POW
        else:
            denominator, simple = self.product([self.factor(f) for f in bottom]), False
        return self.fraction(numerator, denominator if simple else self.parens(denominator), denominator), MUL

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
        if isinstance(e.arg, E.Inverse):  # a power of the inverse, as people write it: X^-2, not (X^-1)^2
            return self.wrapped(e.arg.arg, ATOM) + self.superscript(str(-e.exponent)), POW
        return self.wrapped(e.arg, ATOM) + self.superscript(str(e.exponent)), POW

    def _Power(self, e):
        return self.power_of(e.base, e.exponent)

    def power_of(self, base: E.Expr, p: Fraction) -> tuple[str, int]:
        """``base^p`` printed as the node Power(base, p) would be; for p = 1, the base."""
        if p == 1:
            return self.print(base)
        return self.wrapped(base, ATOM) + self.superscript(self.exponent(p)), POW

    def _ElemPower(self, e):
        return self.wrapped(e.arg, ATOM) + self.elem_power(self.exponent(e.exponent)), POW

    # -- functions
    def _Apply(self, e):
        args = [self.print(a)[0] for a in (e.arg, *shown_params(e.fn, e.params))]
        return self.call(e.fn, ", ".join(args)), ATOM

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

    def along_axis(self, e):
        """``mean(X)``, ``mean(X, 2)``: the axis written unless it is the default (all entries for a
        reduction, down a column vector or along the rows of a matrix for softmax and its kin)."""
        default = None if isinstance(e, (E.Mean, E.Var, E.Std)) else E.default_axis(e.arg)
        arg = self.print(e.arg)[0]
        return self.call(e.name, arg if e.axis == default else f"{arg}, {e.axis}"), ATOM

    _Softmax = _LogSoftmax = _LogSumExp = _Mean = _Var = _Std = along_axis

    def _Count(self, e):
        return self.count(e.n), ATOM

    def _Vec(self, e):
        return self.call("vec", self.operand(e, 0)), ATOM

    def operand(self, e: E.Expr, i: int) -> str:
        """Operand ``i`` of a vec or a Kronecker product, which multiply sizes (see ties.py)."""
        return self.print(e.children()[i])[0]

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
        # inside a norm, "a ||x||" would read as a norm closing after a: a nested norm
        # multiplied on its left keeps parentheses, as the syntax asks
        if self.norm_depth:
            parts = parts[:1] + [f"({p})" if p.startswith("||") else p for p in parts[1:]]
        return " ".join(parts)

    norm_depth = 0

    def _Norm(self, e):
        self.norm_depth += 1
        try:
            return super()._Norm(e)
        finally:
            self.norm_depth -= 1

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
        return f"kron({self.operand(e, 0)}, {self.operand(e, 1)})", ATOM

    def commutation(self, dims):
        return f"K[{self.size(dims[0])}, {self.size(dims[1])}]"  # sizes in brackets: K(x) is a product

    carriers: dict = {}  # a size name -> (a variable, its dimension 1 or 2 of that size)

    def _Count(self, e):
        """``size(X, 1)`` where a variable has the size, as MATLAB writes it; else ``size[n]`` (a bare n
        would parse back as a variable)."""
        number, names = size_factors(e.n)
        if not any(n in self.carriers for n in names):
            return f"size[{self.size(e.n)}]", ATOM
        names = sorted(names, key=lambda n: self.carriers.get(n, ("~", n)))  # size(X, 1) size(X, 2)
        parts = [str(number)] * (number != 1) + [
            f"size({self.carriers[n][0]}, {self.carriers[n][1]})" if n in self.carriers else f"size[{self.size(n)}]"
            for n in names]
        return " ".join(parts), (ATOM if len(parts) == 1 else MUL)

    # A size in brackets is read as the size of the variables the parser names so, in the order the
    # text shows them (see parser._tie_bracket_names): where the text has one, its sizes are written
    # under those names (``rename``), found by a first pass that records the variables (``order``).
    rename: dict = {}
    order: list | None = None

    def size(self, d) -> str:
        number, names = size_factors(d)
        return str(product_dim(number, *(self.rename.get(n, n) for n in names))) if self.rename else str(d)

    def _Symbol(self, e):
        if self.order is not None:
            self.order.append(e)
        return super()._Symbol(e)

    def _Zero(self, e):
        if E.is_scalar(e):
            return "0", ATOM
        return f"0 {self.ones_of(e.shape)[0]}", MUL  # '0' alone would parse back as a scalar


_LATEX_FUNCTIONS = {"exp": r"\exp", "log": r"\log", "sin": r"\sin", "cos": r"\cos", "tan": r"\tan",
                    "sinh": r"\sinh", "cosh": r"\cosh", "tanh": r"\tanh", "det": r"\det", "sigmoid": r"\sigma",
                    "logdet": r"\log\det", "abs": None, "leaky_relu": r"\operatorname{LeakyReLU}",
                    "elu": r"\operatorname{ELU}", "selu": r"\operatorname{SELU}", "dselu": r"\operatorname{SELU}'",
                    "gelu": r"\operatorname{GELU}", "gelu_tanh": r"\operatorname{GELU}_{\tanh}",
                    "dgelu_tanh": r"\operatorname{GELU}_{\tanh}'", "logsigmoid": r"\log\sigma",
                    "dsinc": r"\operatorname{sinc}'", "erf": r"\operatorname{erf}", "normcdf": r"\Phi", "normpdf": r"\phi"}


class LatexPrinter(Printer):
    def number(self, v):
        if v.denominator == 1:
            return str(v.numerator)
        sign = "-" if v < 0 else ""
        return rf"{sign}\frac{{{abs(v.numerator)}}}{{{v.denominator}}}"

    def name(self, n):
        m = re.fullmatch(r"([A-Za-z]+)(?:_?([A-Za-z0-9]+))?", n)
        stem, sub = (m.group(1), m.group(2)) if m else (n, None)
        stem = GREEK.get(stem) or (stem if len(stem) == 1 else rf"\mathit{{{stem}}}")
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
        head = _LATEX_FUNCTIONS.get(fn) or rf"\operatorname{{{fn}}}".replace("_", r"\_")
        return rf"{head}\left({arg}\right)"

    def norm(self, text, frobenius):
        return rf"\left\lVert {text}\right\rVert" + ("_F" if frobenius else "")

    def commutation(self, dims):
        return rf"K_{{{dims[0]},{dims[1]}}}"

    def count(self, n):
        return str(n).replace("*", " ")

    def _Apply(self, e):
        if e.fn == "sqrt" and E.is_scalar(e.arg):  # of a matrix it stays sqrt(X): element-wise, not the matrix root
            return self.sqrt(self.print(e.arg)[0]), ATOM
        return super()._Apply(e)

    def power_of(self, base, p):
        if p == Fraction(1, 2):
            return self.sqrt(self.print(base)[0]), ATOM
        if p < 0:
            bottom = self.power_of(base, -p)[0]
            return self.fraction("1", bottom, bottom), ATOM
        return super().power_of(base, p)


def renaming(order: list, names: set) -> dict:
    """The names the parser gives the sizes when it reads a text that shows the variables in
    ``order``: n, m, p, ... to their sizes in that order, rows before columns; other sizes keep
    their own names, or take names after those."""
    rename, labels = {}, fresh_labels()
    for s in order:
        for d in s.dims:
            if isinstance(d, str) and d not in rename:
                rename[d] = next(labels)
    taken = set(rename.values())
    for name in sorted(names - set(rename), key=str):  # while parsing, sizes are placeholders
        rename[name] = name if name not in taken else next(n for n in labels if n not in taken)
        taken.add(rename[name])
    return rename


def size_names(e: E.Expr) -> set:
    """Every size name of the leaves of ``e``, a size written as a number (``size[n]``) too."""
    return {name for n in E.nodes(e) if not n.children()
            for d in (*n.shape, *((n.n,) if isinstance(n, E.Count) else ())) for name in size_factors(d)[1]}


def carriers_of(e: E.Expr) -> dict:
    """For each size name a variable of ``e`` has, one such variable and its dimension (1 or 2)."""
    out: dict = {}
    for s in sorted((n for n in E.nodes(e) if isinstance(n, E.Symbol)), key=lambda s: s.name):
        for axis, d in enumerate(s.dims, start=1):
            if isinstance(d, str):
                out.setdefault(d, (s.name, axis))
    return out


def printed_in_order(printer_class, e: E.Expr, **options) -> str:
    """``e`` printed with its sizes under the names the text gives them when it is read (two passes:
    the first finds the order of the variables, the second prints)."""
    first = printer_class(**options)
    first.order = []
    first(e)
    second = printer_class(**options)
    second.rename = renaming(first.order, size_names(e))
    second.carriers = carriers_of(e)
    return second(e)


_plain_text = TextPrinter()


def to_text(e: E.Expr) -> str:
    """The input grammar: what it prints parses back to an equal expression."""
    if any(isinstance(n, (E.Count, E.Commutation)) for n in E.nodes(e)):
        return printed_in_order(TextPrinter, e)
    return _plain_text(e)


to_latex = LatexPrinter()
