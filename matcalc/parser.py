"""Text to expression: the lark grammar in ``grammar/matcalc.lark``, a post-lexer, and a builder.

The builder runs inside the LALR parser (lark's ``transformer=`` option), so no recursion
depends on the input's length; nesting depth is capped with a clear message instead.
Sizes are unified while the tree is built and named (n, m, p, ...) at the end.

A text may define names before its function (``H = tanh(W x); sum(H)``).  A defined name
stands for the very node its definition built, so the function is a DAG: a residual stack
of depth k has O(k) distinct nodes, not 2^k.
"""

from __future__ import annotations

import contextvars
import dataclasses
import itertools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from functools import cache, partial, reduce

from lark import Lark, Token, Transformer
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken
from lark.lark import PostLex
from lark.lexer import PatternStr

from . import expr as E
from . import kinds
from .axes import sums
from .errors import DeclarationError, MatcalcError, ParseError, ShapeError
from .expr.nodes import described, text_of
from .functions import ALIASES, FUNCTIONS
from .guard import recursion_room
from .names import alternatives, closest, greek_stem
from .resources import resource_text
from .shapes import DimVar, Unifier, fresh_labels, product_dim, shape_str, unifying

MAX_INPUT = 100_000
MAX_NESTING = 500
MAX_SIZE = 10**6  # a size written as a number, in K[m, n]
MAX_EXPONENT = 300  # literals stay below 10^(2 * 300), far inside E.MAX_DIGITS

# fmt: off
CALLS = {
    "det": E.det, "logdet": E.logdet, "tr": E.trace, "trace": E.trace, "inv": E.inverse,
    "sum": E.sum_entries, "softmax": E.softmax, "logsumexp": E.logsumexp, "diag": E.diag,
    "norm": E.norm, "kron": E.kron, "vec": E.vec, "logsoftmax": E.logsoftmax, "mean": E.mean, "var": E.var,
    "std": E.std, "size": None,  # size(X, k), read by _size_of
    **{name: partial(E.apply, name) for name in FUNCTIONS},
    **{alias: partial(E.apply, name) for alias, name in ALIASES.items()},
}
ARITY = {"kron": 2, "size": 2}
# the functions that take an axis after their argument, f(U, 1) or f(U, 2) (MATLAB's numbering:
# the dimension the operation runs along), each with what it does along one
ALONG_AXIS = {"sum": sums, "mean": E.mean, "var": E.var, "std": E.std,
              "softmax": E.softmax, "logsoftmax": E.logsoftmax, "logsumexp": E.logsumexp}
AXIS_WORDS = {1: "down each column", 2: "along each row"}
# fmt: on
RESERVED = {"I", "ones"}
# names of other tools (lowercase, without underscores) -> how the notation writes the same
_ROWWISE = "(X - mean(X, 2)) ./ sqrt(var(X, 2) + eps)"
NOTATION = {"norm1": "||x||_1", "norm2": "||x||", "fro": "||X||_F", "transpose": "x^T", "inverse": "inv(X)",
            "layernorm": _ROWWISE, "batchnorm": "(X - mean(X, 1)) ./ sqrt(var(X, 1) + eps)",
            "normalize": _ROWWISE, "standardize": _ROWWISE, "zscore": "(X - mean(X, 2)) ./ std(X, 2)"}
NAME_PATTERN = re.compile(r"[A-Za-z]+(_[A-Za-z0-9]+|[0-9]+)?")
DEFINED = re.compile(r"(?:^|[;\n])\s*([A-Za-z]+(?:_[A-Za-z0-9]+|[0-9]+)?)\s*=")  # the names a text defines
LETTER_PIECE = re.compile(r"[A-Za-z](_[A-Za-z0-9]+|[0-9]+)?")
OPERAND_END = {"NAME", "NUMBER", "RPAR", "RBRACE", "RSQB", "QUOTE", "NORM_CLOSE", "NORM_SUB"}
# Terminals that are not literals, and those the post-lexer makes, in words; literals are shown quoted.
DESCRIPTIONS = {
    "NAME": "a name", "NUMBER": "a number", "COEFFICIENT": "a number", "NORM_SUB": "a norm subscript", "FUNC": "a function",
    "NORM_CLOSE": "closing '||'", "NEWLINE": "a line break", "$END": "the end of the input",
}
SEPARATORS = {"SEMICOLON", "NEWLINE"}  # between statements; the post-lexer keeps only the line breaks that separate
RESERVED_MEANING = {"I": "the identity matrix", "ones": "the all-ones vector"}
# What closes each open group; CALL is the '(' of a function call, the only group that takes ','.
CLOSER = {"LPAR": "RPAR", "CALL": "RPAR", "LBRACE": "RBRACE", "NORM_OPEN": "NORM_CLOSE"}
CLOSING = set(CLOSER.values())


class _Context:
    """What one parse knows: declared kinds, the symbols made so far, the size unifier, and the
    definitions: where each name is defined (found by the post-lexer before parsing), the
    values of those read so far, and which statement refers to which defined name."""

    def __init__(self, declare: dict[str, str], guessed: Mapping[str, str] | None = None):
        self.declare = declare
        self.guessed = guessed or {}  # kinds tried for undeclared lowercase Greek names (scalar by default)
        self.readings: list[str] = []  # notes on how a text that could surprise was read
        self.coefficients: set[E.Expr] = set()  # the factors written as 2N
        self.symbols: dict[str, E.Symbol] = {}
        self.size_names: dict[str, DimVar] = {}
        self.unifier = Unifier()
        self.dims: list[DimVar] = []
        self.labels = fresh_labels()
        self.defined_at: dict[str, Token] = {}
        self.values: dict[str, E.Expr] = {}
        self.references: list[tuple[int, str]] = []  # (statement, name); statement k follows k definitions
        self.split_runs: list[str] = []  # runs of letters read as products (AXB), named when the shapes do not fit
        self.first_use: dict[str, Token] = {}  # where each variable first occurs, for a message about its declaration
        self.variable_labels: dict = {}  # (variable, dimension 1 or 2) -> the name a size in brackets calls it

    def dim(self) -> DimVar:
        d = DimVar(next(self.labels))
        self.dims.append(d)
        return d

    def size_named(self, name: str) -> DimVar:
        """The size a name stands for in K[m, n]: one placeholder per name in the text."""
        if name not in self.size_names:
            self.size_names[name] = self.dim()
        return self.size_names[name]

    def symbol(self, name: str) -> E.Expr:
        if name == "I":
            return E.Identity(self.dim())
        if name == "ones":
            return E.Ones((self.dim(), 1))
        if name not in self.symbols:
            kind = self.declare.get(name) or self._default_kind(name)
            self.symbols[name] = E.Symbol(name, kind, kinds.dims_of(name, kind, self.dim))
        return self.symbols[name]

    def _default_kind(self, name: str) -> str:
        if name in self.guessed:
            return self.guessed[name]
        if name[0].isupper():
            return "matrix"
        return "scalar" if greek_stem(name) else "vector"

    def value_of(self, tok: Token) -> E.Expr:
        """What a name stands for: a definition read before it, or else a variable.  Every
        statement before the one being read is a definition, so their count numbers it."""
        name = str(tok)
        if name in self.values:
            self.references.append((len(self.values), name))
            return self.values[name]
        site = self.defined_at.get(name)
        if site is not None:
            # a site before the use whose definition is not complete is the use's own statement
            if site.start_pos < tok.start_pos:
                raise _error(f"{name} is used in its own definition {_at(tok)}: a definition can use only names "
                             "defined before it (so definitions cannot form a cycle)", tok)
            raise _error(f"{name} is used {_at(tok)} before its definition {_at(site)}: a name must be defined before "
                         "its first use, and a variable cannot be redefined (so definitions cannot form a cycle)", tok)
        self.first_use.setdefault(name, tok)
        return self.symbol(name)

    def define(self, tok: Token, value: E.Expr) -> None:
        name = str(tok)
        if name in self.values:
            first = self.defined_at[name]
            raise _error(f"{name} is defined twice, {_at(first)} and {_at(tok)}: each name is defined once", tok)
        meaning = ("a function" if name in CALLS else RESERVED_MEANING.get(name)
                   or (f"a declared variable ({self.declare[name]})" if name in self.declare else None))
        if meaning:
            raise _error(f"cannot define {name} {_at(tok)}: it is {meaning}", tok)
        self.values[name] = value

    def divisors(self, factors) -> None:
        """A scalar divided by a run of factors none of whose beginnings is a scalar (||r||^2 / 2N,
        1/N sum(x), 1 / sqrt(d)): the first undeclared name standing as a factor (or as 2N, or as
        the argument of an element-wise function) can only be meant as a scalar, so the text is
        read again with it one."""
        for f in factors:
            name = f.arg if isinstance(f, (E.Scale, E.Apply)) else f
            if isinstance(name, E.Symbol) and name.name not in self.declare and name.name not in self.guessed:
                raise _ReadAgain([name.name])

    def undeclared_in(self, e: E.Expr) -> list[str]:
        """The names of ``e`` that took their kind from their case, not from a declaration."""
        return sorted(s.name for s in E.nodes(e) if isinstance(s, E.Symbol) and s.name in self.symbols
                      and s.name not in self.declare and s.name not in self.guessed)

    def read_as(self, note: str) -> None:
        if note not in self.readings:
            self.readings.append(note)

    def notes(self) -> tuple[str, ...]:
        """A note for each definition the function does not depend on, directly or through others."""
        names = list(self.values)
        uses: dict[int, set[str]] = {}
        for statement, name in self.references:
            uses.setdefault(statement, set()).add(name)
        needed, stack = set(), [len(names)]  # the function is the statement after the definitions
        while stack:
            for name in uses.get(stack.pop(), ()):
                if name not in needed:
                    needed.add(name)
                    stack.append(names.index(name))
        notes = []
        for name in names:
            if name in needed:
                continue
            users = [names[s] for s, used in sorted(uses.items()) if name in used]
            notes.append(f"{name} is defined but never used" if not users else
                         f"{name} is used only by definitions the function does not use ({', '.join(users)})")
        return tuple(notes)


class _ReadAgain(Exception):  # noqa: N818 - not an error: a request to read the text again
    """Names that can only be scalars, found while reading: the text is read again with them so."""

    def __init__(self, names: list[str]):
        super().__init__(names)
        self.names = names


_context: contextvars.ContextVar[_Context] = contextvars.ContextVar("parse_context")


class _PostLexer(PostLex):
    """Splits runs of letters into names, marks function names and the closing bars of norms,
    keeps the line breaks that separate statements and drops the others."""

    always_accept = ()

    def process(self, stream):
        ctx, text = _context.get(), _text.get()
        tokens = list(stream)
        ctx.defined_at = _definition_sites(tokens)
        depth, open_norms, previous = 0, [], None
        for i, tok in enumerate(tokens):
            following = tokens[i + 1] if i + 1 < len(tokens) else None
            if tok.type == "NEWLINE":
                if depth == 0 and not open_norms and _ends_statement(previous, _next_line(tokens, i)):
                    previous = tok
                    yield tok
                continue
            if tok.type == "NAME":
                for piece in self._names(tok, following, ctx, text):
                    yield piece
                previous = tok
                continue
            if tok.type == "NUMBER":
                self._check_number(tokens, i, text)
                if following is not None and following.type == "NAME" and following.start_pos == tok.end_pos:
                    tok = Token.new_borrow_pos("COEFFICIENT", tok.value, tok)  # 2N: one factor
            if tok.type in ("LPAR", "LBRACE"):
                depth += 1
                if depth > MAX_NESTING:
                    raise _error(f"parentheses nest deeper than {MAX_NESTING} levels {_at(tok)}", tok)
            elif tok.type in ("RPAR", "RBRACE"):
                depth -= 1
            elif tok.type == "NORM_OPEN":
                if previous is not None and previous.type in OPERAND_END and open_norms and open_norms[-1] == depth:
                    open_norms.pop()
                    tok = Token.new_borrow_pos("NORM_CLOSE", tok.value, tok)
                else:
                    open_norms.append(depth)
                    if len(open_norms) > MAX_NESTING:
                        raise _error(f"norms nest deeper than {MAX_NESTING} levels", tok)
            previous = tok
            yield tok

    @staticmethod
    def _check_number(tokens, i, text):
        """A number touching the next one can only be a second decimal point (1.2.3, 2..5, 1e5.5):
        refused, since reading it as a product of numbers is surely not what was meant."""
        end = i
        while end + 1 < len(tokens) and tokens[end + 1].type == "NUMBER" and tokens[end + 1].start_pos == tokens[end].end_pos:
            end += 1  # 1.2.3.4 is named whole
        if end > i:
            tok = tokens[i]
            run = text[tok.start_pos:tokens[end].end_pos]
            raise _error(f"malformed number '{run}' {_at(tok)}", tok)

    @staticmethod
    def _names(tok, following, ctx, text):
        name = tok.value
        if following is not None and following.type == "EQUAL":
            return [tok]  # the name being defined, whole, whatever it is: the builder says if it may be
        if name in BRACKETED and following is not None and following.type == "LSQB":
            return [tok]  # size[n]
        if name in CALLS:
            return [Token.new_borrow_pos("FUNC", name, tok)]
        if name in ctx.defined_at or name in ctx.declare or name in RESERVED:
            return [tok]
        if following is not None and following.type == "LPAR" and not LETTER_PIECE.fullmatch(name):
            raise _error(_unknown_function(tok, ctx, text, following), tok)
        if LETTER_PIECE.fullmatch(name):
            return [tok]
        if greek_stem(name):
            letters = [m.group(0) for m in LETTER_PIECE.finditer(name)]
            if all(p in ctx.declare for p in letters):  # mu with m and u declared: the product, or the letter?
                raise _error(f"'{name}' {_at(tok)} is a Greek letter's name, and its letters are declared names: "
                             f"declare {name} to mean the name, or write {' '.join(letters)} for the product", tok)
            return [tok]
        ctx.split_runs.append(name)
        pieces = []
        for m in LETTER_PIECE.finditer(name):
            piece = Token("NAME", m.group(0), start_pos=tok.start_pos + m.start(), line=tok.line,
                          column=tok.column + m.start(), end_line=tok.line, end_column=tok.column + m.end(),
                          end_pos=tok.start_pos + m.end())
            pieces.append(piece)
        return pieces


_text: contextvars.ContextVar[str] = contextvars.ContextVar("parse_text", default="")

SHORT_ARGUMENT = 40  # characters of a bracket quoted in a message


def _unknown_function(tok: Token, ctx: _Context, text: str, bracket: Token) -> str:
    """Why a name before '(' is refused: an undeclared run of letters there is a function's name,
    never a product, so say which functions it is close to, or how to write the product."""
    name = tok.value
    cause = f"unknown function '{name}' {_at(tok)}"
    group = _bracket_text(text, bracket.start_pos)
    notation = NOTATION.get(name.lower().replace("_", ""))
    close = [notation] if notation else closest(name, CALLS)
    letters = [m.group(0) for m in LETTER_PIECE.finditer(name)]
    if greek_stem(name):
        product = f"{name} * {group}"
    elif name.isupper() or all(p in ctx.declare for p in letters):
        product = f"{' '.join(letters)} {group}"
    else:
        product = None
    if close:
        return cause + f": did you mean {alternatives(close)}?" + (f" (for a product, write {product})" if product else "")
    return cause + (f": write {product} for a product" if product else "")


def _bracket_text(text: str, start: int) -> str:
    """The bracket opening at ``start`` as written, shortened to (...) when long or unclosed."""
    depth = 0
    for i in range(start, min(len(text), start + SHORT_ARGUMENT)):
        depth += {"(": 1, ")": -1}.get(text[i], 0)
        if depth == 0:
            return " ".join(text[start:i + 1].split())
    return "(...)"


def _definition_sites(tokens) -> dict[str, Token]:
    """Where each name is first defined: a name followed by '='.  The grammar allows '=' only
    after the name that begins a statement, so in a text that parses these are its definitions;
    the post-lexer keeps these names whole wherever they stand."""
    sites: dict[str, Token] = {}
    for tok, following in zip(tokens, tokens[1:]):
        if tok.type == "NAME" and following.type == "EQUAL":
            sites.setdefault(tok.value, tok)
    return sites


def _next_line(tokens, i: int):
    """The first token after the line break at ``i`` and any blank lines, None at the end."""
    for tok in tokens[i + 1:]:
        if tok.type != "NEWLINE":
            return tok
    return None


def _ends_statement(previous, following) -> bool:
    """Whether a line break (outside brackets and norms) separates statements: it follows an
    operand and the next line begins something new, not with an operator continuing this one."""
    return (previous is not None and previous.type in OPERAND_END
            and following is not None and following.type not in _continuing())


def _at(where) -> str:
    """Where a token stands, in words: its column, and its line when the text has several."""
    several = "\n" in _text.get().rstrip()
    return f"at line {where.line}, column {where.column}" if several else f"at column {where.column}"


def _error(cause: str, where) -> ParseError:
    return ParseError(cause, _text.get(), where.column, where.line)


def _position(text: str, pos: int) -> Token:
    """A token with the line and column of position ``pos`` of ``text``: where the text ends."""
    line_start = text.rfind("\n", 0, pos) + 1
    return Token("$END", "", start_pos=pos, line=text.count("\n", 0, pos) + 1, column=pos - line_start + 1)


def _number(tok) -> Fraction:
    """A literal as an exact fraction; absurd exponents are refused rather than computed."""
    mantissa, _, exponent = str(tok).lower().partition("e")
    # an exponent longer than a sign and the digits of MAX_EXPONENT is out of range unread
    too_long = len(exponent) > len(str(MAX_EXPONENT)) + 1
    if exponent and (too_long or abs(int(exponent)) > MAX_EXPONENT) or len(mantissa) > MAX_EXPONENT:
        raise _error(f"the number {str(tok)[:20]} is out of range {_at(tok)}", tok)
    return Fraction(str(tok))


def _exponent_value(e: E.Expr) -> Fraction:
    if not isinstance(e, E.Const):
        raise ParseError(f"an exponent must be a number, ^T or ^-T, got {e}")
    return e.value


@dataclass(frozen=True)
class _Juxtaposed:
    """The juxtaposed factors after a '/', which the division splits into its denominator and the
    factors that multiply the quotient."""

    factors: tuple[E.Expr, ...]

    @staticmethod
    def factors_of(e) -> tuple[E.Expr, ...]:
        return e.factors if isinstance(e, _Juxtaposed) else (e,)


def _short(e: E.Expr, bracketed: bool = True) -> str:
    """An operand as text for a note: short, in parentheses where it is a sum (if ``bracketed``)."""
    from .printing import to_text

    text = to_text(e)
    text = text if len(text) <= SHORT_ARGUMENT else text[:SHORT_ARGUMENT] + "..."
    return f"({text})" if bracketed and isinstance(e, E.Add) else text


class _Builder(Transformer):
    """One method per rule alias of the grammar; each calls a smart constructor."""

    def start(self, children):
        return [c for c in children if isinstance(c, E.Expr)][-1]  # the function; definitions are in the context

    def definition(self, children):
        name, value = children
        _context.get().define(name, value)
        return name

    def number(self, children):
        return E.const(_number(children[0]))

    def coefficient(self, c):
        """2N: a number written together with a name, one factor."""
        number, factor = c
        out = E.mul(E.const(_number(number)), factor)
        _context.get().coefficients.add(out)
        return out

    def name(self, children):
        return _context.get().value_of(children[0])

    def commutation(self, c):
        name, rows, cols = c
        if str(name) not in TWO_SIZES:
            raise _bracket_error(name)
        return TWO_SIZES[str(name)](rows, cols)

    def sized(self, c):
        name, n = c
        if str(name) not in ONE_SIZE:
            raise _bracket_error(name)
        return ONE_SIZE[str(name)](n)

    def size(self, c):
        ctx = _context.get()
        dims = []
        for tok in c:
            if tok.type == "NUMBER" and not (str(tok).isdigit() and 0 < int(tok) <= MAX_SIZE):
                raise _error(f"a size is a name or a whole number from 1 to {MAX_SIZE}, got {tok} {_at(tok)}", tok)
            dims.append(int(tok) if tok.type == "NUMBER" else ctx.size_named(str(tok)))
        return product_dim(*dims)

    def add(self, c):
        return E.add(c[0], c[1])

    def sub(self, c):
        return E.sub(c[0], c[1])

    def mul(self, c):
        return E.mul(c[0], c[1])

    def div(self, c):
        """top / f1 f2 ...: the denominator is the shortest run f1 ... fk that is a scalar, and the
        factors after it multiply the quotient; with none, the whole run (a scalar divided by names
        that are not scalars reads the first of them as a scalar, reading the text again)."""
        top, run = c
        factors = _Juxtaposed.factors_of(run)
        products = list(itertools.accumulate(factors, E.mul))
        k = next((k for k, p in enumerate(products, 1) if E.is_scalar(p)), None)
        if k is None:
            if E.is_scalar(top):
                _context.get().divisors(factors)
            k = len(factors)
        ctx = _context.get()
        if k > 1:
            written = " ".join(map(_short, factors[:k]))
            ctx.read_as(f"read {_short(top)} / {written} as ({_short(top)}) / ({written}): a denominator runs over "
                        "juxtaposed factors until it is a scalar")
        elif factors[0] in ctx.coefficients:
            ctx.read_as(f"read {_short(top)} / {_short(factors[0])} as ({_short(top)}) / ({_short(factors[0])}): a "
                        "number written together with a name is one factor")
        if k < len(factors) and not isinstance(top, E.Const):  # 1/2 x is a coefficient, x / 2 y could surprise
            rest = " ".join(map(_short, factors[k:]))
            ctx.read_as(f"read {_short(top)} / {' '.join(map(_short, factors))} as ({_short(top)} / "
                        f"{' '.join(map(_short, factors[:k]))}) {rest}: the denominator ends where it is a scalar")
        try:
            quotient = E.div(top, products[k - 1])
        except ShapeError as err:  # x / y with vectors may mean x ./ y: no guess, but say how to mean a scalar
            names = ctx.undeclared_in(products[k - 1])
            if not names:
                raise
            raise ShapeError(f"{err}; for a scalar {names[0]}, declare it (--let {names[0]}=scalar)") from None
        return reduce(E.mul, factors[k:], quotient)

    def juxtaposed(self, c):
        """A factor after the first of a denominator's run: x in x^T A x / x^T x."""
        left, right = c
        return _Juxtaposed((*_Juxtaposed.factors_of(left), right))

    def hadamard(self, c):
        return E.hadamard(c[0], c[1])

    def elem_div(self, c):
        return E.elem_div(c[0], c[1])

    def neg(self, c):
        return E.neg(c[0])

    def transpose(self, c):
        return E.transpose(c[0])

    def exponent_name(self, c):
        return self._letter_exponent(c[0], "T")

    def exponent_neg_name(self, c):
        return self._letter_exponent(c[0], "-T")

    @staticmethod
    def _letter_exponent(tok, meaning):
        if str(tok) != "T":
            raise _error(f"unknown exponent '^{tok}' {_at(tok)}: use ^T, ^-T, ^-1 or a number", tok)
        return meaning

    def exponent_number(self, c):
        return _number(c[0])

    def exponent_neg_number(self, c):
        return -_number(c[0])

    def exponent_group(self, c):
        return _exponent_value(c[0])

    def power(self, c):
        base, p = c
        if p == "T":
            return E.transpose(base)
        if p == "-T":
            return E.transpose(E.inverse(base))
        return E.power(base, p)

    def elem_power(self, c):
        base, p = c
        if isinstance(p, str):
            raise ParseError(f"'.^{p}' is not an element-wise power: use ^{p}")
        return E.elem_power(base, p)

    def call(self, c):
        fn, args = str(c[0]), c[1:]
        if fn in ALONG_AXIS and len(args) == 2:
            return _along_axis(fn, args[0], args[1], c[0])
        if fn in ALONG_AXIS and len(args) != 1:
            raise _error(f"{fn} takes 1 argument, or 2 with an axis ({fn}(X, 1) or {fn}(X, 2)), got {len(args)}", c[0])
        row = FUNCTIONS.get(ALIASES.get(fn, fn))
        if row is not None and row.params:
            return _with_params(c[0], row, args)
        if len(args) != ARITY.get(fn, 1):
            n = ARITY.get(fn, 1)
            hint = ": write ||x||_1 for the 1-norm, ||x|| for the 2-norm" if fn == "norm" else ""
            raise _error(f"{fn} takes {n} argument{'s' * (n > 1)}, got {len(args)} {_at(c[0])}{hint}", c[0])
        if fn == "size":
            return _size_of(args[0], args[1], c[0])
        return CALLS[fn](*args)

    def norm(self, c):
        inner = [x for x in c if isinstance(x, E.Expr)][0]
        sub = [x for x in c if isinstance(x, Token) and x.type == "NORM_SUB"]
        matrix = not E.is_scalar(inner) and not (E.is_one(inner.shape[1]) or E.is_one(inner.shape[0]))
        if sub:
            which = str(sub[0])[1:]
            if which not in ("1", "2", "F", "fro"):
                raise _error(f"unsupported norm '||.||{sub[0]}' {_at(sub[0])}: use ||x||, ||x||_1, ||x||_2 or ||X||_F", sub[0])
            if which == "2" and matrix:
                raise ParseError("the spectral norm ||X||_2 of a matrix is not supported: use ||X||_F")
            if which == "1":
                # the 1-norm of the entries, as of a vector's: the induced norm of a matrix is another one
                if matrix:
                    written = _short(inner, bracketed=False)
                    _context.get().read_as(f"read ||{written}||_1 as the entry-wise 1-norm sum(abs({written})), "
                                           "not the induced 1-norm (the largest column sum)")
                return E.sum_entries(E.apply("abs", inner))
        return E.norm(inner)


# the names that take sizes in brackets, with one size or two
ONE_SIZE = {"I": E.Identity, "ones": lambda n: E.Ones((n, 1)), "size": E.count}
TWO_SIZES = {"K": lambda m, n: E.commutation((m, n)), "ones": lambda m, n: E.Ones((m, n))}
BRACKETED = {"K", "I", "ones", "size"}


def _bracket_error(name) -> ParseError:
    return _error(f"only K[m, n] (the commutation matrix), I[n], ones[n], ones[m, n] and size[n] take sizes in "
                  f"brackets, got {name}[...] {_at(name)}", name)


def _literal_axis(axis: E.Expr, tok, cause: str) -> int:
    """An axis argument, which must be a literal 1 or 2; ``cause`` says what it is for."""
    value = E.const_value(axis)
    if value not in (1, 2):
        raise _error(f"{cause}, got {text_of(axis) if value is None else value}", tok)
    return int(value)


def _size_of(u: E.Expr, axis: E.Expr, tok) -> E.Expr:
    """``size(X, 1)``, the number of rows of X, and ``size(X, 2)`` of its columns, as MATLAB writes them."""
    axis = _literal_axis(axis, tok, f"size(X, k) {_at(tok)} takes dimension 1 (the rows) or 2 (the columns)")
    return E.count(u.shape[axis - 1])


def _along_axis(fn: str, u: E.Expr, axis: E.Expr, tok) -> E.Expr:
    """``f(U, axis)``: the axis a literal 1 or 2, along a dimension of U with more than one entry."""
    axis = _literal_axis(axis, tok, f"{fn}(..., axis) {_at(tok)} runs along dimension 1 ({AXIS_WORDS[1]}) or 2 "
                                    f"({AXIS_WORDS[2]})")
    if E.is_scalar(u):
        raise _error(f"{fn}({text_of(u)}, {axis}) {_at(tok)}: a scalar has no dimension to run along", tok)
    if E.is_one(u.shape[axis - 1]):
        raise _error(f"{fn}({text_of(u)}, {axis}) {_at(tok)} runs over one entry at a time ({described(u)}): "
                     f"write {fn}({text_of(u)})", tok)
    return ALONG_AXIS[fn](u, axis)


def _with_params(tok: Token, row, args: list) -> E.Expr:
    """A function of the table with scalar parameters after its argument: leaky_relu(z, 0.01),
    elu(z, a) with a declared scalar; those not given take their defaults (elu(z) is alpha = 1)."""
    words = [p.word for p in row.params]
    if not 1 <= len(args) <= 1 + len(words):
        takes = " and ".join(["the argument", *(f"its {w}" for w in words)])
        raise _error(f"{tok} takes {takes} ({_count(1, 1 + len(words))}), got {len(args)} {_at(tok)}", tok)
    for word, p in zip(words, args[1:]):
        if not E.is_scalar(p):
            hint = f": declare {p.name} a scalar (--let {p.name}=scalar)" if isinstance(p, E.Symbol) else ""
            raise ShapeError(f"the {word} of {tok} {_at(tok)} must be a number or a scalar, got {_short(p)} "
                             f"({shape_str(p.shape)}){hint}")
    return E.apply(row.name, args[0], args[1:])


def _count(low: int, high: int) -> str:
    return f"{low} or {high} arguments" if high == low + 1 else f"{low} to {high} arguments"


@cache
def _lark() -> Lark:
    return Lark(grammar_text(), parser="lalr", lexer="basic", postlex=_PostLexer(), transformer=_Builder(),
                maybe_placeholders=False)


def grammar_text() -> str:
    return resource_text("grammar", "matcalc.lark")


def check_declarations(declare: Mapping | None) -> dict[str, str]:
    if declare is None:
        return {}
    if not isinstance(declare, Mapping):
        raise DeclarationError(f"declarations must map names to kinds, e.g. {{'A': 'symmetric'}}; got the "
                               f"{type(declare).__name__} {declare!r:.60}")
    declare = dict(declare)
    for name, kind in declare.items():
        if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
            raise DeclarationError(f"cannot declare {name!r}: a name is letters, then digits or an _subscript")
        if name in CALLS or name in RESERVED:
            raise DeclarationError(f"cannot declare {name!r}: it is a reserved word")
        if not kinds.is_kind(kind):
            raise DeclarationError(f"unknown kind {kind!r} for {name}: choose one of {', '.join(kinds.NAMES)}")
        declare[name] = kinds.canonical(kind)
    return declare


@dataclass(frozen=True)
class Program:
    """A parsed text: the function, with each defined name replaced by its expression; the
    definitions ``(name, value)`` in the text's order, each value substituted alike (the same
    nodes as in the function); notes on definitions the function does not use; and every symbol
    the text holds, with its sizes, those that cancel out of the function (``x - x``) included."""

    function: E.Expr
    definitions: tuple[tuple[str, E.Expr], ...] = ()
    notes: tuple[str, ...] = ()
    symbols: tuple[E.Symbol, ...] = ()
    first_use: tuple[tuple[str, str], ...] = field(default=(), compare=False)  # (name, where the text first uses it)
    # (variable, dimension 1 or 2) -> the name by which a size in brackets means that size
    variable_labels: Mapping = field(default_factory=dict, compare=False, hash=False)


def parse(text: str, declare: dict | None = None) -> E.Expr:
    """Parse ``text`` into an expression whose sizes are named n, m, p, ... in order of appearance;
    names the text defines are replaced by their expressions."""
    return parse_program(text, declare).function


def parse_program(text: str, declare: dict | None = None, scalar: bool = False) -> Program:
    """Parse ``text``, definitions ``NAME = expression`` separated by ';' or line breaks, then the
    function: the function, the definitions and the notes on the unused ones and on readings that
    could surprise.  ``scalar``: the function must be a scalar (a gradient's), which may fix the
    kinds of undeclared Greek names."""
    return _parse(text, declare, scalar)


def variable_labels(text: str, declare: dict | None = None) -> dict:
    """How ``text`` names the sizes of its variables for sizes in brackets, ``{(variable, 1 or 2): name}``,
    read before the sizes in brackets tie (so even where the text needs them tied to read at all)."""
    return _parse(text, declare, labels_only=True)


def _parse(text: str, declare: dict | None, scalar: bool = False, labels_only: bool = False):
    if not isinstance(text, str):
        raise ParseError(f"an expression must be a string, got {type(text).__name__}")
    if len(text) > MAX_INPUT:
        raise ParseError(f"the expression is {len(text)} characters long; the limit is {MAX_INPUT}")
    if not text.strip(" \t\f\r\n;"):
        raise ParseError("empty expression")
    declare = check_declarations(declare)
    defined = set(DEFINED.findall(text))
    greek = sorted({m.group(0) for m in NAME_PATTERN.finditer(text) if greek_stem(m.group(0))
                    and m.group(0)[0].islower() and m.group(0) not in declare and m.group(0) not in defined})
    if labels_only:  # the labels do not depend on the kinds of Greek names: read them as scalars
        return _parse_once(text, declare, dict.fromkeys(greek, "scalar"), labels_only=True)
    if not greek:
        return _parse_once(text, declare, {})
    return _parse_guessing(text, declare, greek, scalar)


GUESSED_KINDS = ("scalar", "vector")  # what an undeclared lowercase Greek name may be, the usual first
MAX_GUESSED = 4  # undeclared Greek names whose kinds are found by trying each reading


def _parse_guessing(text: str, declare: dict, greek: list[str], scalar: bool) -> Program:
    """The reading of a text with undeclared lowercase Greek names (alpha, lambda, theta) in which
    they have the only kinds that make it valid (and a scalar, when ``scalar``); more than one such
    reading is refused with a request to declare.  A name is guessed only if the text uses it as a
    variable, so readings that differ only in the others are one."""
    if len(greek) > MAX_GUESSED:
        raise DeclarationError(f"declare the kinds of {', '.join(greek)}: more than {MAX_GUESSED} undeclared Greek "
                               "names are not guessed (--let theta=vector, or declare={'theta': 'vector'})")
    readings: dict[tuple, Program] = {}
    first_error = None
    for kinds_tried in itertools.product(GUESSED_KINDS, repeat=len(greek)):
        guessed = dict(zip(greek, kinds_tried, strict=True))
        try:
            program = _parse_once(text, declare, guessed)
        except ShapeError as err:  # a reading in which the sizes do not fit: try the next
            first_error = first_error or err
            continue
        if scalar and not E.is_scalar(program.function):
            first_error = first_error or ShapeError("the function is not a scalar")
            continue
        used = tuple((s.name, s.kind) for s in program.symbols if s.name in guessed)
        readings.setdefault(used, program)
    if not readings:
        raise first_error
    if len(readings) > 1:
        names = sorted({name for used in readings for name, _ in used
                        if len({dict(u).get(name) for u in readings}) > 1})
        ways = " or ".join(f"a {kind}" for kind in sorted({kind for used in readings for name, kind in used
                                                          if name in names}))
        raise DeclarationError(f"the kind of {alternatives(names).replace(' or ', ' and ')} is not fixed by the "
                               f"expression (it reads as {ways}): declare it, e.g. --let {names[0]}=vector, "
                               f"or declare={{'{names[0]}': 'vector'}}")
    ((used, program),) = readings.items()
    notes = tuple(f"read {name} as a {kind}, the only kind that fits (declare it to say otherwise)"
                  for name, kind in used)
    return dataclasses.replace(program, notes=(*notes, *program.notes))


def _parse_once(text: str, declare: dict, guessed: dict, labels_only: bool = False) -> Program:
    """One reading, with the names a scalar is divided by read as scalars (each time the reader
    meets more, it reads the text again: at most once per name)."""
    divisors: list[str] = []
    while True:
        try:
            program = _read(text, declare, guessed | dict.fromkeys(divisors, "scalar"), labels_only)
        except _ReadAgain as again:
            divisors += again.names
            continue
        if labels_only:
            return program
        notes = tuple(f"read {name} as a scalar: a scalar is divided by it (declare it to say otherwise)"
                      for name in divisors)
        return dataclasses.replace(program, notes=(*notes, *program.notes)) if notes else program


def _read(text: str, declare: dict, guessed: dict, labels_only: bool = False) -> Program:
    ctx = _Context(declare, guessed)
    ctx_token, text_token = _context.set(ctx), _text.set(text)
    try:
        with unifying(ctx.unifier), recursion_room():
            function = _lark().parse(text)
            _tie_bracket_names(ctx)
            if labels_only:
                return ctx.variable_labels
            ctx.unifier.settle()
            notes = ctx.notes()
            dims = _variable_dims(ctx) + ctx.dims
            dims = _function_dims_first(ctx, function, dims) if notes else dims
            final_size = ctx.unifier.final_sizes(dims)
            first_use = tuple((name, _at(tok)) for name, tok in ctx.first_use.items())
    except UnexpectedInput as err:
        raise _syntax_error(err, text) from None
    except ShapeError as err:
        raise _with_declared_positions(err, ctx) from None
    except RecursionError:
        raise MatcalcError("the expression is too deeply nested") from None
    finally:
        _context.reset(ctx_token)
        _text.reset(text_token)
    with recursion_room():
        function, *rest = _with_names([function, *ctx.values.values(), *ctx.symbols.values()], final_size)
    values, symbols = rest[:len(ctx.values)], rest[len(ctx.values):]
    return Program(function, tuple(zip(ctx.values, values, strict=True)), (*ctx.readings, *notes), tuple(symbols),
                   first_use, ctx.variable_labels)


def _with_declared_positions(err: ShapeError, ctx: _Context) -> ShapeError:
    message = with_positions(str(err), {name: _at(tok) for name, tok in ctx.first_use.items()})
    return ShapeError(message + _split_runs_hint(ctx.split_runs))


def _split_runs_hint(runs: list[str]) -> str:
    """Where shapes do not fit, the runs of letters read as products, which may have been meant as
    one name (Wq for W_q): a hint how to write that."""
    def one_name(run):
        letters = [m.group(0) for m in LETTER_PIECE.finditer(run)]
        return f"{letters[0]}_{''.join(letters[1:])}" if len(letters) > 1 and run[0].isalpha() else run

    runs = list(dict.fromkeys(runs))[:2]
    if not runs:
        return ""
    read = "; ".join(f"{r} was read as the product {' '.join(m.group(0) for m in LETTER_PIECE.finditer(r))}"
                     for r in runs)
    return f" ({read}: for one name write {one_name(runs[0])} or declare {runs[0]})"


def with_positions(message: str, where: Mapping[str, str]) -> str:
    """A message about shapes that names a declaration (``Y is declared onehot_rows (n x m)``,
    which may be what contradicts the text), with where the text first uses that name."""
    for name, at in where.items():
        said = f"{name} is declared "
        if said in message:
            end = message.index(")", message.index(said)) + 1
            message = f"{message[:end]}, used first {at}{message[end:]}"
    return message


def _variable_dims(ctx: _Context) -> list[DimVar]:
    """The sizes of the variables in order of appearance, rows before columns: the sizes the names
    n, m, p, ... go to first, as every printout names them."""
    return [d for s in ctx.symbols.values() for d in s.dims if isinstance(d, DimVar)]


def _tie_bracket_names(ctx: _Context) -> None:
    """A size named in brackets (I[n], ones[m, n], size[n], K[m, n]) is the size of the variables
    that the parser names so (n, m, p, ... in order of appearance), where one does: ``kron(x, I[n])``
    is the identity of x's size.  A name no variable's size has is a size of its own."""
    labels = ctx.unifier.names(_variable_dims(ctx))
    ctx.variable_labels = {(s.name, axis): labels.get(ctx.unifier.find(d)) for s in ctx.symbols.values()
                           for axis, d in enumerate(s.dims, start=1) if isinstance(d, DimVar)}
    if not ctx.size_names:
        return
    named = {label: root for root, label in labels.items()}
    for name, placeholder in ctx.size_names.items():
        if name in named and ctx.unifier.unify(placeholder, named[name]) is None:
            raise ShapeError(f"the size {name} in brackets is the size {name} of the variables (named n, m, p, ... "
                             f"in order of appearance), which the rest of the text makes another size")


def _function_dims_first(ctx: _Context, function: E.Expr, dims: list[DimVar]) -> list[DimVar]:
    """The sizes in order of appearance, those of the function before those only unused
    definitions have, so that a definition left unused does not rename the function's sizes."""
    used = {ctx.unifier.find(d) for node in E.nodes(function) if not node.children()
            for d in node.shape if isinstance(d, DimVar)}  # a leaf's shape is made of its sizes
    return sorted(dims, key=lambda d: ctx.unifier.find(d) not in used)


def _with_names(roots: list[E.Expr], final_size) -> list[E.Expr]:
    """Rebuild the trees with each size placeholder replaced by its name (``final_size`` maps a
    dimension to what it is once named, a product to a product of names), a node shared by
    several roots once.  Where a tree holds an ``I``, ``ones`` or ``0`` (each made with a size of
    its own), inner nodes are built again through the smart constructors: parts that only the
    unified sizes make equal (the two ``ones`` of ``diag(x + ones) .* diag(x + ones)``) are
    collected now."""
    memo: dict = {}
    if any(isinstance(node, (E.Identity, E.Ones, E.Zero)) for root in roots for node in E.nodes(root)):
        build = E.rebuild
    else:  # symbols share their sizes already: the same tree with the names
        def build(node, kids):
            return node.map_children(dict(zip(node.children(), kids, strict=True)).get)

    def walk(node):
        if node in memo:
            return memo[node]
        kids = node.children()
        if kids:
            out = build(node, [walk(k) for k in kids])
        else:
            values = [tuple(map(final_size, value)) if field == "dims" else final_size(value) if field == "n" else value
                      for field, value in zip(node.fields, node.key(), strict=True)]
            out = type(node)(*values)
        memo[node] = out
        return out

    return [walk(root) for root in roots]


def _syntax_error(err: UnexpectedInput, text: str) -> ParseError:
    if isinstance(err, UnexpectedCharacters):
        char = text[err.pos_in_stream]
        hint = ": write ||x|| for a norm and abs(x) for an absolute value" if char == "|" else ""
        return _error(f"unexpected character {char!r} {_at(err)}{hint}", err)
    if isinstance(err, UnexpectedToken):
        return _token_error(err, text)
    return ParseError(str(err).splitlines()[0], text, getattr(err, "column", None), getattr(err, "line", 1))


def _token_error(err: UnexpectedToken, text: str) -> ParseError:
    """A token the grammar does not allow where it stands, explained by the groups still open there."""
    token = err.token
    at_end = token.type == "$END"
    where = _position(text, len(text.rstrip())) if at_end else token
    groups = _open_groups(text, len(text) if at_end else token.start_pos)
    expected = _possible(err.expected, groups)
    cause = _statement_cause(token, groups, err.expected, where, text)
    if cause is None and (token.type in CLOSING | {"$END"} or token.type in SEPARATORS and groups):
        cause = _closing_cause(token, groups, expected, where)
    if cause is None:
        cause = f"unexpected {_shown(token)} {_at(where)}" + (f"; expected {_listing(expected)}" if expected else "")
    return _error(cause, where)


def _statement_cause(token: Token, groups: list[Token], expected, where, text: str) -> str | None:
    """A token that breaks the order of statements: an '=' that does not follow a statement's first
    name, a text ending with a definition, or an expression after a statement that was not one.
    ``expected`` is lark's own set: the look-aheads tell where only a definition could end."""
    if token.type == "EQUAL" and groups and groups[-1].type == "CALL":
        return (f"unexpected '=' {_at(where)}: a function's parameters are given by position, without names, "
                "as in leaky_relu(z, 0.1)")
    if token.type == "EQUAL":
        return (f"unexpected '=' {_at(where)}: a definition is one name, '=' and an expression, "
                "at the start of a statement")
    if groups:
        return None
    before = text[:where.start_pos].rstrip(" \t\f\r")
    if token.type == "$END" and ("SEMICOLON" in expected or before.endswith(";")):
        return f"the text ends with a definition {_at(where)}: the last statement must be the function, an expression"
    if token.type in _expression_start() and set(expected) <= {"SEMICOLON", "NEWLINE", "$END"} and before[-1:] in (";", "\n"):
        hint = "; a product written by juxtaposition cannot go on to the next line: write '*'" if before.endswith("\n") else ""
        return (f"unexpected {token.value!r} {_at(where)}: only the last statement is an expression, those before "
                f"it must be definitions NAME = expression{hint}")
    return None


def _closing_cause(token: Token, groups: list[Token], expected: set[str], where) -> str | None:
    """A closing bracket or bar, a separator or the end, where it does not fit: it closes nothing, or
    closes an outer group while an inner one is open, or comes before its own group is complete."""
    at_end = token.type == "$END"
    if at_end and not (groups and CLOSER[groups[-1].type] in expected):  # the text may just stop short
        return f"the expression ends too early {_at(where)}"
    if not groups:
        return f"unmatched {token.value!r} {_at(where)}"
    inner, before = groups[-1], _at(where) if at_end else f"before {_shown(token)} {_at(where)}"
    if token.type == CLOSER[inner.type]:
        return f"expected {_listing(expected)} {before}" if expected else None
    return f"missing {_describe(CLOSER[inner.type])} {before}, for the {inner.value!r} {_at(inner)}"


def _shown(token: Token) -> str:
    return _describe("NEWLINE") if token.type == "NEWLINE" else repr(token.value)


def _open_groups(text: str, stop: int) -> list[Token]:
    """The brackets and bars still open before position ``stop``, innermost last.  Read from the
    post-lexer's tokens, since it alone tells an opening '||' from a closing one (so this runs inside
    ``parse``, whose context it reads); every token before the failing one was accepted, so each
    closing one has its opening one, and the post-lexer's own checks passed on all of them."""
    groups, previous = [], None
    for tok in _lark().lex(text):
        if tok.start_pos >= stop:
            break
        if tok.type in CLOSER:
            is_call = previous is not None and previous.type == "FUNC"
            groups.append(Token.new_borrow_pos("CALL", tok.value, tok) if is_call else tok)
        elif tok.type in CLOSING:
            groups.pop()
        previous = tok
    return groups


def _possible(expected, groups: list[Token]) -> set[str]:
    """LALR merges the look-aheads of alike states, so lark may offer ')' with no '(' open: of the
    endings, keep only those of the innermost group (',' only inside a call, ';' outside every
    group).  A line break is never named, since ';' does as well, nor '=', which only the first
    name of a statement takes."""
    if not groups:
        fitting = {"$END", "SEMICOLON"}
    else:
        fitting = {CLOSER[groups[-1].type], "COMMA"} if groups[-1].type == "CALL" else {CLOSER[groups[-1].type]}
    return set(expected) - ((CLOSING | SEPARATORS | {"COMMA", "$END"}) - fitting) - {"EQUAL"}


def _listing(expected: set[str]) -> str:
    """What could come instead, in a few words: a class is named as a whole once more than two of it fit."""
    words, rest = [], set(expected)
    for word, members in (("an expression", _expression_start()), ("an operator", _operators())):
        if len(rest & members) > 2:
            words.append(word)
            rest -= members
    words += sorted({_describe(t) for t in rest - {"$END"}}) + [_describe("$END")] * ("$END" in rest)
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def _describe(terminal: str) -> str:
    return _descriptions().get(terminal, terminal)


@cache
def _descriptions() -> dict[str, str]:
    """Every terminal in words, taken from the grammar so that none is ever shown by the name lark
    gives an anonymous one ('.*' is __ANON_0): literals quoted, patterns as written unless described."""
    def words(t):
        return repr(t.pattern.value) if isinstance(t.pattern, PatternStr) else f"/{t.pattern.value}/"

    return {t.name: words(t) for t in _lark().terminals} | DESCRIPTIONS


@cache
def _expression_start() -> frozenset[str]:
    """The terminals an expression can begin with: those the parser accepts first."""
    return frozenset(t for t in _lark().parse_interactive("").choices() if t.isupper())


@cache
def _operators() -> frozenset[str]:
    """The literal terminals that are neither brackets, bars, ',', '=' nor separators."""
    literals = {t.name for t in _lark().terminals if isinstance(t.pattern, PatternStr)}
    return frozenset(literals - set(CLOSER) - CLOSING - SEPARATORS - {"COMMA", "EQUAL"})


@cache
def _continuing() -> frozenset[str]:
    """What a line that goes on with the previous one begins with: an operator or '='."""
    return _operators() | {"EQUAL"}
