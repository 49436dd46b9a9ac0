"""Rule identities typeset as mathematics.

The tables state their identities as plain strings in the input-like notation of the notes
(``d(U V) = dU V + U dV``, ``<C, L U R> = <L^T C R^T, U>``, ``vec(L U R) = (R^T kron L) vec(U)``).
``identity_latex`` turns such a string into LaTeX with a table of token replacements; where
the notation does not say what the mathematics does (words inside an identity), ``FORMS`` holds
the LaTeX written out.  Nothing is evaluated: the text is split into tokens by one regular
expression and each token is replaced or escaped.
"""

from __future__ import annotations

import re

# identities whose LaTeX is written out rather than converted
FORMS = {
    "df = <G, dX> = tr(G^T dX) gives grad f = G":
        r"\mathrm{d}f = \langle G, \mathrm{d}X\rangle = \operatorname{tr}\left(G^{\top} \mathrm{d}X\right)"
        r" \;\Rightarrow\; \nabla f = G",
    "d^2 f = vec(dX)^T H vec(dX) gives hess f = H":
        r"\mathrm{d}^2 f = \operatorname{vec}(\mathrm{d}X)^{\top} H \operatorname{vec}(\mathrm{d}X)"
        r" \;\Rightarrow\; \nabla^2 f = H",
    "ones ones^T = the all-ones matrix": r"\mathbf{1} \mathbf{1}^{\top} = \text{the all-ones matrix}",
    "collecting terms": r"\text{collecting terms}",
    "d(grad f) = H[dX] is linear in dX: H[D] is d(grad f) at dX = D":
        r"\mathrm{d}(\nabla f) = H[\mathrm{d}X] \text{ is linear in } \mathrm{d}X\text{: }"
        r" H[D] = \mathrm{d}(\nabla f)\big|_{\mathrm{d}X = D}",
    "d f(U) = f'(U) .* dU": r"\mathrm{d} f(U) = f'(U) \circ \mathrm{d}U",
}

FUNCTIONS = {
    "tr": r"\operatorname{tr}", "det": r"\det", "logdet": r"\log\det", "log": r"\log", "exp": r"\exp",
    "sum": r"\operatorname{sum}", "diag": r"\operatorname{diag}", "vec": r"\operatorname{vec}",
    "softmax": r"\operatorname{softmax}", "logsumexp": r"\operatorname{logsumexp}",
    "logsoftmax": r"\operatorname{logsoftmax}", "mean": r"\operatorname{mean}", "var": r"\operatorname{var}",
    "std": r"\operatorname{std}", "sym": r"\operatorname{sym}",
    "inv": r"\operatorname{inv}", "kron": r"\operatorname{kron}", "grad": r"\nabla", "hess": r"\nabla^2",
    "ones": r"\mathbf{1}", "sum_i": r"\sum_i",
}

_TOKEN = re.compile(r"""
    (?P<space>\s+)
  | (?P<norm>\|\|)
  | (?P<abs>\|)
  | (?P<elem>\.\*|\./|\.\^)
  | (?P<word>[A-Za-z]+(?:_[A-Za-z0-9]+)?[0-9]*'?)
  | (?P<number>[0-9]+(?:\.[0-9]+)?)
  | (?P<op>[-+=/,()<>^*\[\]])
""", re.VERBOSE)


class NotationError(ValueError):
    """The identity holds a character the converter does not know."""


def _tokens(text: str) -> list[tuple[str, str]]:
    out, at = [], 0
    while at < len(text):
        m = _TOKEN.match(text, at)
        if m is None:
            raise NotationError(f"cannot typeset {text[at]!r} in {text!r}")
        out.append((m.lastgroup, m.group()))
        at = m.end()
    return [t for t in out if t[0] != "space"]


def _name(word: str) -> str:
    """A name: a letter with an optional index (C1 -> C_{1}); a run of capitals is a product."""
    prime = "'" if word.endswith("'") else ""
    word = word.rstrip("'")
    m = re.fullmatch(r"([A-Za-z])([0-9]+)", word)
    if m:
        return f"{m.group(1)}_{{{m.group(2)}}}{prime}"
    if len(word) == 1 or word.isupper():
        return " ".join(word) + prime
    return rf"\text{{{word}}}{prime}"


def _word(word: str) -> str:
    if word in FUNCTIONS:
        return FUNCTIONS[word]
    if word == "d":
        return r"\mathrm{d}"
    if re.fullmatch(r"d[A-Za-z][0-9]*", word) and word[1:] not in ("et", "iag"):
        return r"\mathrm{d}" + _name(word[1:])
    return _name(word)


def identity_latex(text: str) -> str:
    """The LaTeX of an identity written in the notation of the tables."""
    if text in FORMS:
        return FORMS[text]
    tokens = _tokens(text)
    out: list[str] = []
    depth, norm_open, abs_open = 0, False, False
    i = 0

    def exponent(j: int, keep: bool = False) -> tuple[str, int]:
        """The exponent starting at token j: T, -1, -T, k, 2, (p-1), (k-1-i); ``keep`` keeps
        the parentheses of a group (after a circle they say what the power is)."""
        kind, value = tokens[j]
        if value == "(":
            level, k = 1, j + 1
            while level:
                level += {"(": 1, ")": -1}.get(tokens[k][1], 0)
                k += 1
            inner = " ".join(v for _, v in tokens[j + 1:k - 1])
            inner = identity_latex(inner)
            return (f"({inner})" if keep else inner), k
        if value == "-":
            rest, k = exponent(j + 1)
            return "-" + rest, k
        if value == "T":
            return r"\top", j + 1
        if kind in ("word", "number"):
            return (_word(value) if kind == "word" else value), j + 1
        raise NotationError(f"cannot typeset the exponent {value!r} in {text!r}")

    while i < len(tokens):
        kind, value = tokens[i]
        if kind == "op" and value == "^":
            power, i = exponent(i + 1)
            out.append(f"^{{{power}}}")
            continue
        if kind == "elem" and value == ".^":
            power, i = exponent(i + 1, keep=True)
            out.append(rf"^{{\circ {power}}}")
            continue
        i += 1
        following = tokens[i][1] if i < len(tokens) else ""
        operand_before = i >= 2 and (tokens[i - 2][0] in ("word", "number") or tokens[i - 2][1] == ")")
        if kind == "word" and value == "kron":
            out.append(r"\otimes" if operand_before or following != "(" else _word(value))
        elif kind == "word" and value == "d" and following in ("^", ")", ",", ""):
            out.append("d")  # a name d, not the differential
        elif kind == "word":
            out.append(_word(value))
        elif kind == "number":
            out.append(value)
        elif kind == "norm":
            out.append(r"\rVert" if norm_open else r"\lVert")
            norm_open = not norm_open
        elif kind == "abs":
            out.append(r"\rvert" if abs_open else r"\lvert")
            abs_open = not abs_open
        elif kind == "elem":
            out.append(r"\circ" if value == ".*" else r"\oslash")
        elif value == "<":
            out.append(r"\langle")
            depth += 1
        elif value == ">":
            out.append(r"\rangle")
            depth -= 1
        elif value in "()[]":  # brackets: K[m, n], H[dX]
            depth += 1 if value in "([" else -1
            out.append(value)
        elif value == ",":
            out.append(",\\quad" if depth == 0 else ",")
        elif value == "*":
            out.append(r"\,")
        else:
            out.append(value)
    return _join(out)


def _join(parts: list[str]) -> str:
    """Tokens joined with spaces where TeX needs them (after a control word before a letter)."""
    text = ""
    for p in parts:
        if not text or p.startswith(("^", ",")) or p in (")", "]", r"\rangle") or text.endswith(("(", "[")):
            text += p
        else:
            text += " " + p
    return text


# ------------------------------------------------------------------ long lines

LINE = 62  # characters, as ``width`` counts them: what fits one line of the document beside its left side
_COMMAND = re.compile(r"\\(?:operatorname|mathrm|mathbf|text)\{([^{}]*)\}|\\(?:left|right)\b|\\[A-Za-z]+|\\.")


def width(latex: str) -> int:
    """About how many characters wide ``latex`` prints: names and symbols count one each, a
    binary operator three; braces and spacing nothing."""
    text = _COMMAND.sub(lambda m: m.group(1) if m.group(1) is not None else ("" if m.group().startswith((r"\left", r"\right")) else "x"), latex)
    text = text.replace("{", "").replace("}", "")
    return len(text.replace(" ", "")) + 2 * sum(text.count(op) for op in "+-=")


def _delimiter(latex: str, at: int) -> int:
    """The end of the delimiter that starts at ``at`` (after \\left or \\right)."""
    m = re.compile(r"\\[A-Za-z]+|\\.|.").match(latex, at)
    return m.end()


def broken(latex: str, limit: int = LINE) -> list[str]:
    """``latex`` cut into lines of at most about ``limit`` characters, each cut before a ``+`` or
    ``-`` between terms (never inside braces: fractions, exponents).  A cut inside ``\\left(
    ... \\right)`` closes the open delimiters with ``\\right.`` and opens the next line with
    ``\\left.``, so that every line is balanced on its own."""
    if width(latex) <= limit:
        return [latex]
    cuts = []  # (position, open \left delimiters there)
    depth, opened, i = 0, 0, 0
    while i < len(latex):
        c = latex[i]
        if latex.startswith(r"\left", i) and not latex[i + 5:i + 6].isalpha():
            opened += 1
            i = _delimiter(latex, i + 5)
            continue
        if latex.startswith(r"\right", i) and not latex[i + 6:i + 7].isalpha():
            opened -= 1
            i = _delimiter(latex, i + 6)
            continue
        if c == "\\":
            i = _delimiter(latex, i)
            continue
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
        elif depth == 0 and c in "+-" and latex[i - 1:i] == " " and latex[i + 1:i + 2] == " ":
            cuts.append((i, opened))
        i += 1
    lines, start, prefix = [], 0, ""
    while width(latex[start:]) > limit:
        ahead = [(at, k) for at, k in cuts if at > start]
        fits = [(at, k) for at, k in ahead if width(latex[start:at]) <= limit]
        if not ahead:
            break
        full = [(at, k) for at, k in fits if width(latex[start:at]) >= limit // 2]
        # the outermost cut of a well-filled line, else the last that fits, else the first there is
        cut, k = min(full, key=lambda c: (c[1], -c[0])) if full else (fits[-1] if fits else ahead[0])
        lines.append(prefix + latex[start:cut].rstrip() + r"\right." * k)
        start, prefix = cut, (r"\left." * k or "{}") + " "  # {} keeps the sign a binary operator
    lines.append(prefix + latex[start:])
    return lines
