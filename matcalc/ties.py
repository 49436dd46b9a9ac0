"""Printed results whose sizes tie when they are read again.

Text carries no size names: read back, each ``I``, ``ones`` and ``0`` gets a size of its own,
which the rest of the text ties to the sizes of the variables (``2 A x``, ``X - ones b^T``).
Where nothing does (an ``I`` inside a Kronecker product, the ones of ``2 sum(x) ones``), the
print writes the size in brackets, ``I[n]``, ``ones[n]``, ``ones[m, n]``: a name in brackets is
the size of the variables the parser names so (n, m, p, ... in order of appearance, rows before
columns), so the sizes are written under the names the text will give them.  A size as a
number (what a mean divides by) is ``size(X, 1)`` where a variable has it, else ``size[n]``.

``vec`` and ``kron`` multiply sizes, and a product forgets its factors: in
``kron(W^T, A) diag(vec(exp(V)))`` only the products meet, and m*n = p*q does not say which is
which.  Where the brackets do not settle that, the print writes the shape of a factor with an
identity the parser folds away, ``vec(I[n] exp(V))``: n, the name of A's columns, is V's rows.
Where no text ties the sizes as the result does (``sum(W) - sum(z ones^T)`` ties no size of W to
z), one that reads back tying none the result keeps apart is printed.  Ordinary results print as before.
"""

from __future__ import annotations

from . import expr as E
from .errors import MatcalcError
from .printing import ATOM, MUL, POW, TextPrinter, carriers_of, to_text
from .shapes import fresh_labels, size_factors


def parse_program(text, declare):  # the parser imports the printers: imported when first needed
    from .parser import parse_program

    return parse_program(text, declare)


def variable_labels(text, declare):
    from .parser import variable_labels

    return variable_labels(text, declare)

SIZED_LEAVES = (E.Identity, E.Ones, E.Zero, E.Count, E.Commutation)
UNSIZED = (E.Identity, E.Ones, E.Zero)  # what reads back with a size of its own unless written


class SizedTextPrinter(TextPrinter):
    """The text printer, writing the sizes of the leaves in ``sized`` in brackets, and the shapes of the
    operands in ``shapes`` with an identity."""

    def __init__(self, sized: set, carriers: dict, shapes: dict | None = None):
        self.sized, self.carriers = sized, carriers
        self.shapes = shapes or {}  # (vec or kron, its operand 0 or 1) -> the sides to write: 0 its rows, 1 its columns

    def broadcasts(self, arg) -> bool:
        ones = arg.factors[0] if isinstance(arg, E.MatMul) else arg
        return ones not in self.sized

    def _Identity(self, e):
        return (f"I[{self.size(e.n)}]", ATOM) if e in self.sized else super()._Identity(e)

    def _Ones(self, e):
        if e not in self.sized:
            return super()._Ones(e)
        rows, cols = e.shape
        if E.is_one(cols):
            return f"ones[{self.size(rows)}]", ATOM
        if E.is_one(rows):
            return f"ones[{self.size(cols)}]^T", POW
        return f"ones[{self.size(rows)}, {self.size(cols)}]", ATOM

    def operand(self, e, i: int) -> str:
        """With its rows or columns written where ``shapes`` says: ``I[n] exp(V)``."""
        if (e, i) not in self.shapes:
            return super().operand(e, i)
        arg, sides = e.children()[i], self.shapes[(e, i)]
        rows, cols = (f"I[{self.size(arg.shape[side])}]" if side in sides else None for side in (0, 1))
        return " ".join(part for part in (rows, self.factor(arg), cols) if part)

    def _Zero(self, e):
        if e not in self.sized or E.is_scalar(e):
            return super()._Zero(e)
        return f"0 {self._Ones(E.Ones(e.shape))[0]}", MUL


def _leaf_sizes(e: E.Expr) -> tuple:
    if isinstance(e, E.Symbol):
        return tuple(e.dims)
    return (e.n,) if isinstance(e, (E.Identity, E.Count)) else tuple(e.dims)


def _names(dims) -> set:
    return {name for d in dims for name in size_factors(d)[1]}


def _all_names(e: E.Expr) -> set:
    """Every size name of the leaves of ``e`` (variables and sized leaves)."""
    return _names(d for n in E.nodes(e) if isinstance(n, (E.Symbol, *SIZED_LEAVES)) for d in _leaf_sizes(n))


def _declarations(e: E.Expr) -> dict:
    return {s.name: s.kind for s in E.nodes(e) if isinstance(s, E.Symbol)}


def _read(text: str, e: E.Expr):
    """``text`` parsed as the program it is, with the kinds of the variables of ``e``; None where it does not parse."""
    try:
        return parse_program(text, _declarations(e))
    except MatcalcError:
        return None


def _bracket_names(e: E.Expr, order: list, labels: dict) -> dict:
    """The names under which the sizes of ``e`` are written in brackets: a variable's size by the name
    the parser gives it (``labels``, read from a print with names of their own in brackets), any
    other its own name where that is free."""
    rename: dict = {}
    for s in order:
        for axis, d in enumerate(s.dims, start=1):
            label = labels.get((s.name, axis))
            if isinstance(d, str) and d not in rename and label is not None:
                rename[d] = label
    taken = set(rename.values()) | set(labels.values())  # a label names its variable's size, taken or not
    spare = (n for n in fresh_labels() if n not in taken)
    for name in sorted(_all_names(e) - set(rename)):
        rename[name] = name if name not in taken else next(spare)
        taken.add(rename[name])
    return rename


def _factor_shapes(e: E.Expr, order: list) -> list:
    """The sides of the operands of the vec and kron nodes of ``e`` that may be written to tie their
    shapes where only a product of sizes meets them, ``(node, operand 0 or 1, side 0 or 1)``: those with
    the size of a variable of the operand, first where the brackets name that size after a variable
    outside it (``order``, as in ``_bracket_names``)."""
    first: dict = {}  # a size -> the variable whose name the brackets write it under
    for s in order:
        for d in s.dims:
            if isinstance(d, str):
                first.setdefault(d, s)
    sides = []
    for node in E.nodes(e):
        if isinstance(node, (E.Vec, E.Kron)):
            for i, arg in enumerate(node.children()):
                inside = {s for s in E.nodes(arg) if isinstance(s, E.Symbol)}
                sides += [(first[d] in inside, node, i, side) for side, d in enumerate(arg.shape)
                          if d in first and any(d in s.dims for s in inside)]
    return [where for _, *where in sorted(sides, key=lambda w: w[0])]


def _ties_as(e: E.Expr, back: E.Expr, one_to_one: bool = True) -> bool | None:
    """Whether ``back`` is ``e`` with its sizes renamed one to one (the same ties, no more, no fewer), or
    where not ``one_to_one``, renamed, several perhaps to one (``back`` ties more, none fewer); None where
    it is not the same tree.  A product of sizes renames factor by factor."""
    nodes = _paired(e, back)
    if nodes is None:
        return None
    pairs = [sizes for a, b in nodes if isinstance(a, (E.Symbol, *SIZED_LEAVES))
             for sizes in zip(_leaf_sizes(a), _leaf_sizes(b), strict=True)]
    forward: dict = {}
    factored = [(size_factors(x), size_factors(y)) for x, y in pairs]
    for (nx, fx), (ny, fy) in sorted(factored, key=lambda p: len(p[0][1])):  # single names first
        if nx != ny or len(fx) != len(fy):
            return False
        unmapped = [f for f in fx if f not in forward]
        rest = list(fy)
        for f in fx:
            if f in forward:
                if forward[f] not in rest:
                    return False
                rest.remove(forward[f])
        forward.update(zip(unmapped, rest, strict=True))
    return len(set(forward.values())) == len(forward) or not one_to_one


def _untied(back: E.Expr, e: E.Expr) -> set | None:
    """The leaves of ``e`` whose sizes, in ``back`` (``e`` printed and read again), no variable
    carries; None where ``back`` is not the same tree."""
    bound = _names(d for s in E.nodes(back) if isinstance(s, E.Symbol) for d in s.dims)
    nodes = _paired(e, back)
    if nodes is None:
        return None
    return {a for a, b in nodes if isinstance(a, SIZED_LEAVES) and not _names(_leaf_sizes(b)) <= bound}


def _paired(e: E.Expr, back: E.Expr) -> list | None:
    """The nodes of ``e`` and ``back`` at the same places, each pair once; None where ``back`` is
    not the same tree."""
    pairs, stack, seen = [], [(e, back)], set()
    while stack:
        a, b = stack.pop()
        if (id(a), id(b)) in seen:
            continue
        seen.add((id(a), id(b)))
        if type(a) is not type(b) or len(a.children()) != len(b.children()):
            return None
        pairs.append((a, b))
        stack.extend(zip(a.children(), b.children(), strict=True))
    return pairs


def _alone(leaf: E.Expr, e: E.Expr) -> bool:
    """Whether no other leaf of ``e`` (nor a variable) has a size of ``leaf``: then nothing ties it, written or not."""
    others = _names(d for n in E.nodes(e) if isinstance(n, (E.Symbol, *SIZED_LEAVES)) and n != leaf
                    for d in _leaf_sizes(n))
    return _names(_leaf_sizes(leaf)).isdisjoint(others)


def _keeps_ties(e: E.Expr, back: E.Expr) -> bool:
    """Whether ``back``, ``e`` printed and read again, ties its sizes as ``e`` does: the same tree with
    its sizes renamed one to one, or, where the normal form built it otherwise, no more sizes than ``e``
    (a size in brackets names its variable's size, so one too many is one that nothing tied)."""
    same = _ties_as(e, back)
    return len(_all_names(back)) <= len(_all_names(e)) if same is None else same


def _sized_text(e: E.Expr, options: dict, shapes: dict) -> tuple[str | None, list]:
    """``e`` printed with the sizes in brackets under the names the parser gives the sizes of the
    variables, and the variables in the order the text shows them; None where it cannot be read."""
    # first with names of their own in brackets, which tie to nothing: how the parser names the variables
    own = SizedTextPrinter(**options, shapes=shapes)
    own.order, own.rename = [], {name: f"z_{i}" for i, name in enumerate(sorted(_all_names(e)))}
    try:
        labels = variable_labels(own(e), _declarations(e))
    except MatcalcError:
        return None, own.order
    printer = SizedTextPrinter(**options, shapes=shapes)
    printer.rename = _bracket_names(e, own.order, labels)
    return printer(e), own.order


def tied_text(e: E.Expr) -> str:
    """``e`` as text that reads back with its sizes: plain where that keeps every tie between
    them, else with the sizes in brackets on the leaves that nothing ties, and where that is not
    enough, with the shapes of the operands of vec and kron written, as few as tie."""
    plain = to_text(e)
    if not any(isinstance(n, (*SIZED_LEAVES, E.Vec)) for n in E.nodes(e)):
        return plain
    program = _read(plain, e)
    back = None if program is None else program.function
    if back is not None and _keeps_ties(e, back):
        return plain
    untied = None if back is None else _untied(back, e)
    if untied and all(_alone(n, e) for n in untied):  # its size is its own anyway: 2 I
        return plain
    if not untied:  # read back with other ties than e has: write every size
        untied = None
    leaves = {n for n in E.nodes(e) if isinstance(n, UNSIZED)}
    sized = leaves if untied is None else untied & leaves
    options = dict(sized=sized, carriers=carriers_of(e))
    text, order = _sized_text(e, options, {})
    fallback, written = plain if back is not None else None, []
    for side in (None, *_factor_shapes(e, order)):  # one more side written each time, until the text ties
        if side is not None:
            written.append(side)
            text = _sized_text(e, options, _by_operand(written))[0]
        reads = _reads_back(e, text)
        if reads:
            return _fewest(e, options, written, text)
        if reads is not None and fallback is None:  # reads back, tying fewer sizes of its variables
            fallback = text
    return fallback or plain


def _reads_back(e: E.Expr, text: str | None) -> bool | None:
    """Whether ``text`` reads back as ``e`` with the same ties; False where it reads back with no ties
    that ``e`` lacks (``sum(W) - sum(z ones^T)`` ties no size of W to z); None where neither."""
    again = None if text is None else _read(text, e)
    if again is None:
        return None
    if _keeps_ties(e, again.function):
        return True
    return False if _ties_as(again.function, e, one_to_one=False) else None


def _by_operand(written: list) -> dict:
    """The sides in ``written`` as ``SizedTextPrinter`` takes them."""
    shapes: dict = {}
    for node, i, side in written:
        shapes[(node, i)] = shapes.get((node, i), ()) + (side,)
    return shapes


def _fewest(e: E.Expr, options: dict, written: list, text: str) -> str:
    """``text`` with the sides in ``written`` that the ties do not need left out, one at a time."""
    for side in list(written):
        fewer = [w for w in written if w != side]
        shorter = _sized_text(e, options, _by_operand(fewer))[0]
        if _reads_back(e, shorter):
            written, text = fewer, shorter
    return text
