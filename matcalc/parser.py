"""Text to expression: the lark grammar in ``grammar/matcalc.lark``, a post-lexer, and a builder.

The builder runs inside the LALR parser (lark's ``transformer=`` option), so no recursion
depends on the input's length; nesting depth is capped with a clear message instead.
Sizes are unified while the tree is built and named (n, m, p, ...) at the end.
"""

from __future__ import annotations

import contextvars
import re
from fractions import Fraction
from functools import cache, partial

from lark import Lark, Token, Transformer
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken
from lark.lark import PostLex

from . import expr as E
from .errors import DeclarationError, MatcalcError, ParseError
from .functions import FUNCTIONS
from .resources import resource_text
from .shapes import DimVar, Unifier, fresh_labels, unifying

MAX_INPUT = 100_000
MAX_NESTING = 500
MAX_EXPONENT = 300

# fmt: off
CALLS = {
    "det": E.det, "logdet": E.logdet, "tr": E.trace, "trace": E.trace, "inv": E.inverse,
    "sum": E.sum_entries, "softmax": E.softmax, "logsumexp": E.logsumexp, "diag": E.diag,
    "norm": E.norm, "kron": E.kron,
    **{name: partial(E.apply, name) for name in FUNCTIONS},
}
ARITY = {"kron": 2}
# fmt: on
RESERVED = {"I", "ones"}
NAME_PATTERN = re.compile(r"[A-Za-z]+(_[A-Za-z0-9]+|[0-9]+)?")
LETTER_PIECE = re.compile(r"[A-Za-z](_[A-Za-z0-9]+|[0-9]+)?")
OPERAND_END = {"NAME", "NUMBER", "RPAR", "RBRACE", "QUOTE", "NORM_CLOSE", "NORM_SUB"}
FRIENDLY = {
    "RPAR": "')'", "LPAR": "'('", "RBRACE": "'}'", "LBRACE": "'{'", "NAME": "a name", "NUMBER": "a number",
    "FUNC": "a function", "NORM_OPEN": "'||'", "NORM_CLOSE": "'||'", "NORM_SUB": "a norm subscript",
    "PLUS": "'+'", "MINUS": "'-'", "STAR": "'*'", "SLASH": "'/'", "CIRCUMFLEX": "'^'", "QUOTE": "'",
    "COMMA": "','", "$END": "the end of the input",
}


class _Context:
    """What one parse knows: declared kinds, the symbols made so far, the size unifier."""

    def __init__(self, declare: dict[str, str]):
        self.declare = declare
        self.symbols: dict[str, E.Symbol] = {}
        self.unifier = Unifier()
        self.dims: list[DimVar] = []
        self.labels = fresh_labels()

    def dim(self) -> DimVar:
        d = DimVar(next(self.labels))
        self.dims.append(d)
        return d

    def symbol(self, name: str) -> E.Expr:
        if name == "I":
            return E.Identity(self.dim())
        if name == "ones":
            return E.Ones((self.dim(), 1))
        if name not in self.symbols:
            kind = self.declare.get(name) or ("matrix" if name[0].isupper() else "vector")
            dims = {"scalar": lambda: (1, 1), "vector": lambda: (self.dim(), 1)}.get(kind)
            if dims is None:
                rows = self.dim()
                dims = (lambda: (rows, rows)) if kind == "symmetric" else (lambda: (rows, self.dim()))
            self.symbols[name] = E.Symbol(name, kind, dims())
        return self.symbols[name]


_context: contextvars.ContextVar[_Context] = contextvars.ContextVar("parse_context")


class _PostLexer(PostLex):
    """Splits runs of letters into names, marks function names and the closing bars of norms."""

    always_accept = ()

    def process(self, stream):
        ctx, text = _context.get(), _text.get()
        tokens = list(stream)
        depth, open_norms, previous = 0, [], None
        for i, tok in enumerate(tokens):
            following = tokens[i + 1] if i + 1 < len(tokens) else None
            if tok.type == "NAME":
                for piece in self._names(tok, following, ctx, text):
                    yield piece
                previous = tok
                continue
            if tok.type in ("LPAR", "LBRACE"):
                depth += 1
                if depth > MAX_NESTING:
                    raise ParseError(f"parentheses nest deeper than {MAX_NESTING} levels at column {tok.column}", text, tok.column)
            elif tok.type in ("RPAR", "RBRACE"):
                depth -= 1
            elif tok.type == "NORM_OPEN":
                if previous is not None and previous.type in OPERAND_END and open_norms and open_norms[-1] == depth:
                    open_norms.pop()
                    tok = Token.new_borrow_pos("NORM_CLOSE", tok.value, tok)
                else:
                    open_norms.append(depth)
                    if len(open_norms) > MAX_NESTING:
                        raise ParseError(f"norms nest deeper than {MAX_NESTING} levels", text, tok.column)
            previous = tok
            yield tok

    @staticmethod
    def _names(tok, following, ctx, text):
        name = tok.value
        if name in CALLS:
            return [Token.new_borrow_pos("FUNC", name, tok)]
        if name in ctx.declare or name in RESERVED or LETTER_PIECE.fullmatch(name):
            return [tok]
        if following is not None and following.type == "LPAR" and name.isalpha() and name.islower():
            raise ParseError(f"unknown function '{name}' at column {tok.column}", text, tok.column)
        pieces = []
        for m in LETTER_PIECE.finditer(name):
            piece = Token("NAME", m.group(0), start_pos=tok.start_pos + m.start(), line=tok.line,
                          column=tok.column + m.start(), end_line=tok.line, end_column=tok.column + m.end(),
                          end_pos=tok.start_pos + m.end())
            pieces.append(piece)
        return pieces


_text: contextvars.ContextVar[str] = contextvars.ContextVar("parse_text", default="")


def _number(tok) -> Fraction:
    """A literal as an exact fraction; absurd exponents are refused rather than computed."""
    mantissa, _, exponent = str(tok).lower().partition("e")
    if exponent and abs(int(exponent)) > MAX_EXPONENT or len(mantissa) > MAX_EXPONENT:
        raise ParseError(f"the number {str(tok)[:20]} is out of range at column {tok.column}", _text.get(), tok.column)
    return Fraction(str(tok))


def _exponent_value(e: E.Expr) -> Fraction:
    if not isinstance(e, E.Const):
        raise ParseError(f"an exponent must be a number, ^T or ^-T, got {e}")
    return e.value


class _Builder(Transformer):
    """One method per rule alias of the grammar; each calls a smart constructor."""

    def number(self, children):
        return E.Const(_number(children[0]))

    def name(self, children):
        return _context.get().symbol(str(children[0]))

    def add(self, c):
        return E.add(c[0], c[1])

    def sub(self, c):
        return E.sub(c[0], c[1])

    def mul(self, c):
        return E.mul(c[0], c[1])

    def div(self, c):
        return E.div(c[0], c[1])

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
            raise ParseError(f"unknown exponent '^{tok}' at column {tok.column}: use ^T, ^-T, ^-1 or a number", _text.get(), tok.column)
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
        if len(args) != ARITY.get(fn, 1):
            raise ParseError(f"{fn} takes {ARITY.get(fn, 1)} argument(s), got {len(args)}", _text.get(), c[0].column)
        return CALLS[fn](*args)

    def norm(self, c):
        inner = [x for x in c if isinstance(x, E.Expr)][0]
        sub = [x for x in c if isinstance(x, Token) and x.type == "NORM_SUB"]
        if sub:
            which = str(sub[0])[1:]
            if which not in ("2", "F", "fro"):
                raise ParseError(f"unsupported norm '||.||{sub[0]}': use ||x||, ||x||_2 or ||X||_F", _text.get(), sub[0].column)
            if which == "2" and not E.is_scalar(inner) and not (E.is_one(inner.shape[1]) or E.is_one(inner.shape[0])):
                raise ParseError("the spectral norm ||X||_2 of a matrix is not supported: use ||X||_F")
        return E.norm(inner)


@cache
def _lark() -> Lark:
    return Lark(grammar_text(), parser="lalr", lexer="basic", postlex=_PostLexer(), transformer=_Builder(),
                maybe_placeholders=False)


def grammar_text() -> str:
    return resource_text("grammar", "matcalc.lark")


def check_declarations(declare: dict | None) -> dict[str, str]:
    declare = dict(declare or {})
    for name, kind in declare.items():
        if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
            raise DeclarationError(f"cannot declare {name!r}: a name is letters, then digits or an _subscript")
        if name in CALLS or name in RESERVED:
            raise DeclarationError(f"cannot declare {name!r}: it is a reserved word")
        if kind not in E.KINDS:
            raise DeclarationError(f"unknown kind {kind!r} for {name}: choose one of {', '.join(E.KINDS)}")
    return declare


def parse(text: str, declare: dict | None = None) -> E.Expr:
    """Parse ``text`` into an expression whose sizes are named n, m, p, ... in order of appearance."""
    if not isinstance(text, str):
        raise ParseError(f"an expression must be a string, got {type(text).__name__}")
    if len(text) > MAX_INPUT:
        raise ParseError(f"the expression is {len(text)} characters long; the limit is {MAX_INPUT}")
    if not text.strip():
        raise ParseError("empty expression")
    ctx = _Context(check_declarations(declare))
    ctx_token, text_token = _context.set(ctx), _text.set(text)
    try:
        with unifying(ctx.unifier):
            tree = _lark().parse(text)
            naming = ctx.unifier.names(ctx.dims)
            resolve = {d: naming[ctx.unifier.find(d)] for d in ctx.dims}
    except UnexpectedInput as err:
        raise _syntax_error(err, text) from None
    except RecursionError:
        raise MatcalcError("the expression is too deeply nested") from None
    finally:
        _context.reset(ctx_token)
        _text.reset(text_token)
    return _with_names(tree, resolve)


def _with_names(e: E.Expr, resolve: dict) -> E.Expr:
    """Rebuild the tree with each size placeholder replaced by its name."""
    memo: dict = {}

    def dim(d):
        return resolve.get(d, d) if isinstance(d, DimVar) else d

    def walk(node):
        if node in memo:
            return memo[node]
        values = []
        for field, value in zip(node.fields, node.key(), strict=False):
            if isinstance(value, E.Expr):
                value = walk(value)
            elif isinstance(value, tuple) and value and isinstance(value[0], E.Expr):
                value = tuple(walk(v) for v in value)
            elif field == "dims":
                value = tuple(dim(d) for d in value)
            elif field == "n":
                value = dim(value)
            values.append(value)
        memo[node] = out = type(node)(*values)
        return out

    return walk(e)


def _syntax_error(err: UnexpectedInput, text: str) -> ParseError:
    column = getattr(err, "column", None)
    if isinstance(err, UnexpectedCharacters):
        char = text[err.pos_in_stream]
        hint = ": write ||x|| for a norm and abs(x) for an absolute value" if char == "|" else ""
        return ParseError(f"unexpected character {char!r} at column {column}{hint}", text, column)
    if isinstance(err, (UnexpectedToken, UnexpectedEOF)):
        token = getattr(err, "token", None)
        expected = sorted(getattr(err, "expected", None) or getattr(err, "accepts", None) or [])
        if token is None or token.type == "$END":
            column = len(text.rstrip()) + 1
            if "RPAR" in expected:
                return ParseError(f"missing ')' at column {column}", text, column)
            if "NORM_CLOSE" in expected:
                return ParseError(f"missing closing '||' at column {column}", text, column)
            return ParseError(f"the expression ends too early at column {column}", text, column)
        if token.type == "RPAR" and "RPAR" not in expected:
            return ParseError(f"unmatched ')' at column {column}", text, column)
        wanted = ", ".join(dict.fromkeys(FRIENDLY.get(x, repr(x)) for x in expected))
        found = f"'{token.value}'"
        return ParseError(f"unexpected {found} at column {column}" + (f"; expected {wanted}" if wanted else ""), text, column)
    return ParseError(str(err).splitlines()[0], text, column)
