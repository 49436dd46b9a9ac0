"""Hypothesis strategies: random well-typed matcalc expressions, as text in the input grammar.

An expression is first drawn as a small typed tree (``Node``) and then written out as text.
Types are ``("s",)`` for a scalar, ``("v", d)`` for a column of size d and ``("M", r, c)``
for an r x c matrix, with d, r, c one of two size names ``n`` and ``m`` that are never tied
together, so every product, sum and element-wise operation fits by construction.

Every name has one fixed type (``SYMBOLS``), so sizes inferred by the parser agree with the
ones drawn here.  Domains are kept safe the way a person writing the expression would:
logarithms, square roots and fractional powers only of things positive by construction,
inverses and determinants only of matrices that are well conditioned at the random points
``matcalc.verify`` draws (square symbols are near 2 I, symmetric ones positive definite).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from hypothesis import assume
from hypothesis import strategies as st

import matcalc.expr as E

N, M = "n", "m"
SIZES = (N, M)

SCALAR = ("s",)

# name -> type; kinds that the parser would not infer from the name are declared
SYMBOLS = {
    "x": ("v", N), "y": ("v", N), "z": ("v", N), "mu": ("v", N),
    "u": ("v", M), "v": ("v", M),
    "A": ("M", N, N), "B": ("M", N, N), "S": ("M", N, N),
    "W": ("M", N, M), "V": ("M", M, N), "C": ("M", M, M),
    "a": SCALAR, "beta": SCALAR,
}
DECLARED = {"S": "symmetric", "mu": "vector", "a": "scalar", "beta": "scalar"}
# square symbols that are invertible with a positive determinant at every random point
SAFE_SQUARE = {N: ["A", "B", "S"], M: ["C"]}
POSITIVE_DEFINITE = {N: ["S"], M: []}

# element-wise functions defined on all reals, and on positive reals only
REAL_FUNCTIONS = ["exp", "sin", "cos", "tanh", "sigmoid", "softplus", "gelu", "gelu_tanh", "logsigmoid", "erf", "sinc"]
POSITIVE_FUNCTIONS = ["log", "sqrt"]
# functions whose values are positive whatever their argument
POSITIVE_VALUED = ["exp", "sigmoid", "softplus", "cosh"]

# precedence of the text forms, loosest first (grammar/matcalc.lark)
SUM, PROD, NEG, POW, POSTFIX, ATOM = 1, 2, 3, 4, 5, 6

MAX_DEPTH = 7
TAME_LEAVES = 4  # at most this many leaves in the argument of an exponential or a power


def symbols_of_type(t) -> list[str]:
    return [name for name, typ in SYMBOLS.items() if typ == t]


@dataclass(frozen=True)
class Node:
    """One operation of a drawn expression: ``op`` names it, ``kids`` are its operands, ``arg``
    holds a parameter (a name, a function, an exponent, a spelling variant)."""

    op: str
    type: tuple
    kids: tuple = ()
    arg: object = None
    variant: int = 0

    def names(self) -> set[str]:
        out = {self.arg} if self.op == "sym" else set()
        for k in self.kids:
            out |= k.names()
        return out

    def ops(self) -> list[str]:
        label = f"{self.op}:{self.arg}" if self.op in ("fn", "efn") else self.op
        return [label] + [o for k in self.kids for o in k.ops()]

    def leaves(self) -> int:
        return 1 if not self.kids else sum(k.leaves() for k in self.kids)


# ------------------------------------------------------------------ text


def _wrap(text_prec, at_least):
    text, prec = text_prec
    return f"({text})" if prec < at_least else text


def _exponent(p) -> str:
    if isinstance(p, int):
        return str(p)
    return f"({p})"


def render(node: Node, in_norm: bool = False) -> tuple[str, int]:
    """The text of ``node`` and its precedence.  ``in_norm``: inside ``||...||`` without
    parentheses in between, where a nested norm must be parenthesised (README)."""
    op, k, v = node.op, node.kids, node.variant

    def r(child, flag=in_norm):
        return render(child, flag)

    if op == "sym":
        return node.arg, ATOM
    if op == "const":
        return node.arg, ATOM
    if op == "ones":
        return "ones", ATOM
    if op == "I":
        return "I", ATOM
    if op == "add":
        return f"{_wrap(r(k[0]), SUM)} + {_wrap(r(k[1]), PROD)}", SUM
    if op == "sub":
        return f"{_wrap(r(k[0]), SUM)} - {_wrap(r(k[1]), PROD)}", SUM
    if op == "neg":
        return "-" + _wrap(r(k[0]), NEG), NEG
    if op == "mul":
        left, right = r(k[0]), r(k[1])
        if v == 1:  # explicit *
            return f"{_wrap(left, PROD)} * {_wrap(right, NEG)}", PROD
        if v == 2 and k[0].op == "sym" and k[1].op == "sym" and len(k[0].arg) == 1 and len(k[1].arg) == 1:
            # a run of one-letter names, split by the parser (AXB); parenthesised so that no
            # lowercase run is ever followed by '(' (read as an unknown function)
            return f"({k[0].arg}{k[1].arg})", ATOM
        return f"{_wrap(left, PROD)} {_wrap(right, POW)}", PROD
    if op == "div":
        return f"{_wrap(r(k[0]), PROD)} / {_wrap(r(k[1]), POW)}", PROD
    if op == "had":
        return f"{_wrap(r(k[0]), PROD)} .* {_wrap(r(k[1]), POW)}", PROD
    if op == "ediv":
        return f"{_wrap(r(k[0]), PROD)} ./ {_wrap(r(k[1]), POW)}", PROD
    if op == "T":
        if v == 1:
            return _wrap(r(k[0]), POSTFIX) + "'", POSTFIX
        return _wrap(r(k[0]), POW) + "^T", POW
    if op == "inv":
        if v == 1:
            return _wrap(r(k[0]), POW) + "^-1", POW
        return f"inv({r(k[0], False)[0]})", ATOM
    if op == "invT":
        return _wrap(r(k[0]), POW) + "^-T", POW
    if op == "pow":
        return _wrap(r(k[0]), POW) + "^" + _exponent(node.arg), POW
    if op == "epow":
        return _wrap(r(k[0]), POW) + " .^ " + _exponent(node.arg), POW
    if op in ("fn", "efn"):
        return f"{node.arg}({r(k[0], False)[0]})", ATOM
    if op == "call":
        name = node.arg
        if name == "tr" and v == 1:
            name = "trace"
        return f"{name}({r(k[0], False)[0]})", ATOM
    if op == "norm":
        inner = r(k[0], True)[0]
        matrix = k[0].type[0] == "M"
        if v == 1:
            text = f"norm({r(k[0], False)[0]})"
        elif v == 2:
            text = f"||{inner}||" + ("_F" if matrix else "_2")
        else:
            text = f"||{inner}||"
        return (f"({text})", ATOM) if in_norm and not text.startswith("norm") else (text, ATOM)
    if op == "bcast_row":  # M + w^T: a row repeated down the rows
        return f"{_wrap(r(k[0]), SUM)} + {_wrap(r(k[1]), POW)}^T", SUM
    raise AssertionError(op)


def to_text(node: Node) -> str:
    return render(node)[0]


# ------------------------------------------------------------------ drawing


def _split(draw, budget: int, parts: int = 2) -> list[int]:
    """Leaves for each of ``parts`` operands, at least one each, at most ``budget`` in all."""
    if parts == 1:
        return [budget]
    first = draw(st.integers(1, max(1, budget - parts + 1)))
    return [first, *_split(draw, max(parts - 1, budget - first), parts - 1)]


def _leaf(draw, t, positive: bool) -> Node:
    if t == SCALAR:
        if positive:
            return Node("const", t, arg=draw(st.sampled_from(["2", "3", "0.5", "1.5"])))
        choice = draw(st.sampled_from(["a", "beta", "2", "3", "0.5"]))
        return Node("sym" if choice[0].isalpha() else "const", t, arg=choice)
    names = symbols_of_type(t)
    if positive:  # exp(symbol): positive entries
        return Node("efn", t, (Node("sym", t, arg=draw(st.sampled_from(names))),), arg="exp")
    return Node("sym", t, arg=draw(st.sampled_from(names)))


# what may not occur in the argument of exp, cosh, sin, cos, tanh, sigmoid, softplus,
# softmax and logsumexp: operations whose values can be huge, or tiny denominators.  exp(exp(u))
# or sin(((1 + b^2)^3)^2) are well defined, but no fixed finite-difference or complex step
# resolves them; their arguments stay moderate (a "tame" subexpression).
UNTAME = {"pos_div", "pos_pow", "det_pos", "pos_ediv", "pos_epow", "pow_pos", "det", "div", "ediv", "epow", "mpow"}


def _options(t, budget: int, depth: int, positive: bool, tame: bool = False) -> list[str]:
    """The operations that can make a value of type ``t`` (leaf first, so shrinking ends there)."""
    ops = _all_options(t, budget, depth, positive)
    return [op for op in ops if op not in UNTAME] if tame else ops


def _all_options(t, budget: int, depth: int, positive: bool) -> list[str]:
    if depth >= MAX_DEPTH:
        return ["leaf"]
    binary = budget >= 2
    kind = t[0]
    if kind == "s":
        if positive:
            ops = ["leaf", "pos_fn", "norm", "pos_sq", "sqrt", "one_plus_sq", "sum_pos"]
            if binary:
                ops += ["pos_add", "pos_mul", "pos_div", "pos_pow", "det_pos", "trace_pd", "norm_sq_plus"]
            return ops
        ops = ["leaf", "fn", "sum", "norm", "logsumexp", "trace", "neg", "log_pos", "pow_pos", "det", "logdet"]
        if binary:
            ops += ["inner", "add", "sub", "mul", "div", "bilinear", "quad"]
        return ops
    if kind == "v":
        if positive:
            ops = ["leaf", "pos_fn", "softmax", "one_plus_sq", "sqrt"]
            if binary:
                ops += ["pos_add", "pos_had", "pos_ediv", "pos_scale", "pos_epow"]
            return ops
        ops = ["leaf", "fn", "neg", "softmax", "log_pos", "epow", "diag", "add_scalar", "add_ones"]
        if binary:
            ops += ["matvec", "add", "sub", "scale", "div", "had", "ediv"]
        return ops
    square = t[1] == t[2]
    if positive:
        ops = ["leaf", "pos_fn", "one_plus_sq"]
        if binary:
            ops += ["pos_add", "pos_had", "pos_scale"]
        return ops
    ops = ["leaf", "fn", "neg", "transpose", "log_pos"]
    if square:
        ops += ["inv", "diag", "add_identity", "mpow"]
    if binary:
        ops += ["matmul", "outer", "add", "sub", "scale", "div", "had", "ediv", "add_col", "add_row"]
    return ops


@st.composite
def expression(draw, t=SCALAR, budget: int = 8, depth: int = 0, positive: bool = False, tame: bool = False) -> Node:
    """A random expression of type ``t`` with at most ``budget`` leaves; with ``positive``,
    every entry of its value is positive wherever it is defined; with ``tame``, its values stay
    moderate (no exponentials, powers, determinants or divisions)."""
    op = draw(st.sampled_from(_options(t, budget, depth, positive, tame)))

    def sub(tt, b, pos=False, arg_of_function=False):
        if arg_of_function:  # the argument of an exponential, a power, a periodic function
            b = min(b, TAME_LEAVES)
        return draw(expression(tt, max(1, b), depth + 1, pos, tame or arg_of_function))

    def function(names):
        return draw(st.sampled_from([f for f in names if not tame or f not in ("exp", "cosh")]))

    size = lambda: draw(st.sampled_from(SIZES))  # noqa: E731
    variant = lambda k: draw(st.integers(0, k - 1))  # noqa: E731
    kind = t[0]

    if op == "leaf":
        return _leaf(draw, t, positive)

    # ---------------------------------------------------------- positive values
    if positive:
        if op == "pos_fn":
            return Node("fn", t, (sub(t, budget, arg_of_function=True),), arg=function(POSITIVE_VALUED))
        if op == "norm":  # ||v||: positive at random points
            d = size()
            inner_t = draw(st.sampled_from([("v", d), ("M", d, size())]))
            return Node("norm", t, (sub(inner_t, budget),), variant=variant(3))
        if op == "pos_sq":  # ||v||^2
            return Node("pow", t, (Node("norm", t, (sub(("v", size()), budget),), variant=variant(3)),), arg=2)
        if op == "sqrt":
            return Node("fn", t, (sub(t, budget, True),), arg="sqrt")
        if op == "one_plus_sq":  # 1 + u .^ 2
            one = Node("const", SCALAR, arg="1")
            base = sub(t, budget, arg_of_function=True)
            square = Node("pow", t, (base,), arg=2) if kind == "s" else Node("epow", t, (base,), arg=2)
            if kind != "s" and variant(2):
                square = Node("had", t, (base, base))
            return Node("add", t, (one, square))
        if op == "sum_pos":
            d = size()
            inner_t = draw(st.sampled_from([("v", d), ("M", d, size())]))
            return Node("call", t, (sub(inner_t, budget, True),), arg="sum")
        b1, b2 = _split(draw, budget)
        if op == "pos_add":
            return Node("add", t, (sub(t, b1, True), sub(t, b2, True)))
        if op == "pos_mul":
            return Node("mul", t, (sub(t, b1, True), sub(t, b2, True)), variant=variant(2))
        if op == "pos_div":
            return Node("div", t, (sub(t, b1, True), sub(t, b2, True)))
        if op == "pos_pow":
            p = draw(st.sampled_from([2, 3, -1, "1/2", "3/2", "-1/2"]))
            return Node("pow", t, (sub(t, budget, True, arg_of_function=True),), arg=p)
        if op == "det_pos":
            return Node("call", t, (draw(safe_square(size(), min(budget, TAME_LEAVES), depth + 1, True)),), arg="det")
        if op == "trace_pd":  # tr of a positive definite matrix
            return Node("call", t, (draw(positive_definite(size(), budget, depth + 1, tame)),), arg="tr", variant=variant(2))
        if op == "norm_sq_plus":  # ||v||^2 + c
            norm = Node("pow", t, (Node("norm", t, (sub(("v", size()), b1),)),), arg=2)
            return Node("add", t, (norm, sub(t, b2, True)))
        if op == "pos_had":
            return Node("had", t, (sub(t, b1, True), sub(t, b2, True)))
        if op == "pos_ediv":
            return Node("ediv", t, (sub(t, b1, True), sub(t, b2, True)))
        if op == "pos_scale":
            return Node("mul", t, (sub(SCALAR, b1, True), sub(t, b2, True)), variant=variant(2))
        if op == "pos_epow":
            p = draw(st.sampled_from([2, -1, "1/2", "3/2"]))
            return Node("epow", t, (sub(t, budget, True, arg_of_function=True),), arg=p)
        if op == "softmax":
            return Node("call", t, (sub(t, budget, arg_of_function=True),), arg="softmax")
        raise AssertionError(op)

    # ---------------------------------------------------------- any value
    if op == "fn":
        return Node("fn", t, (sub(t, budget, arg_of_function=True),), arg=function(REAL_FUNCTIONS))
    if op == "log_pos":
        return Node("fn", t, (sub(t, budget, True),), arg=draw(st.sampled_from(POSITIVE_FUNCTIONS)))
    if op == "neg":
        return Node("neg", t, (sub(t, budget),))
    if op == "transpose":
        return Node("T", t, (sub(("M", t[2], t[1]), budget),), variant=variant(2))
    if op == "sum":
        d = size()
        inner_t = draw(st.sampled_from([("v", d), ("M", d, size())]))
        return Node("call", t, (sub(inner_t, budget),), arg="sum")
    if op == "norm":
        d = size()
        inner_t = draw(st.sampled_from([("v", d), ("M", d, size())]))
        return Node("norm", t, (sub(inner_t, budget),), variant=variant(3))
    if op == "logsumexp":
        return Node("call", t, (sub(("v", size()), budget, arg_of_function=True),), arg="logsumexp")
    if op == "trace":
        d = size()
        return Node("call", t, (sub(("M", d, d), budget),), arg="tr", variant=variant(2))
    if op == "pow_pos":
        p = draw(st.sampled_from([2, 3, -1, "1/2", "3/2", "-1/2"]))
        return Node("pow", t, (sub(t, budget, True, arg_of_function=True),), arg=p)
    if op == "det":
        return Node("call", t, (draw(safe_square(size(), min(budget, TAME_LEAVES), depth + 1, True)),), arg="det")
    if op == "logdet":
        return Node("call", t, (draw(safe_square(size(), budget, depth + 1, tame)),), arg="logdet")
    if op == "softmax":
        return Node("call", t, (sub(t, budget, arg_of_function=True),), arg="softmax")
    if op == "epow":
        p = draw(st.sampled_from([2, 3, "1/2", -1]))
        return Node("epow", t, (sub(t, budget, p != 2 and p != 3, arg_of_function=True),), arg=p)
    if op == "diag":
        if kind == "v":  # the diagonal of a square matrix
            return Node("call", t, (sub(("M", t[1], t[1]), budget),), arg="diag")
        return Node("call", t, (sub(("v", t[1]), budget),), arg="diag")
    if op == "add_scalar":  # 1 + v, v - a: a scalar broadcast
        return Node(draw(st.sampled_from(["add", "sub"])), t, (sub(t, budget), _leaf(draw, SCALAR, False)))
    if op == "add_ones":
        return Node("add", t, (sub(t, budget), Node("ones", t)))
    if op == "inv":
        inner = draw(safe_square(t[1], budget, depth + 1, tame))
        if variant(4) == 3:
            return Node("invT", t, (inner,))
        return Node("inv", t, (inner,), variant=variant(2))
    if op == "add_identity":
        return Node("add", t, (sub(t, budget), Node("I", t)))
    if op == "mpow":
        return Node("pow", t, (sub(t, budget, arg_of_function=True),), arg=draw(st.sampled_from([2, 3])))

    b1, b2 = _split(draw, budget)
    if op == "inner":  # p^T q
        d = size()
        return Node("mul", t, (Node("T", ("M", 1, d), (sub(("v", d), b1),), variant=variant(2)),
                               sub(("v", d), b2)), variant=variant(3))
    if op == "bilinear":  # p^T M q
        r, c = size(), size()
        b1, b2, b3 = _split(draw, budget, 3)
        row = Node("T", ("M", 1, r), (sub(("v", r), b1),), variant=variant(2))
        return Node("mul", t, (Node("mul", ("M", 1, c), (row, sub(("M", r, c), b2)), variant=variant(3)),
                               sub(("v", c), b3)), variant=variant(3))
    if op == "quad":  # p^T M p with the same p twice
        d = size()
        p = sub(("v", d), b1)
        row = Node("T", ("M", 1, d), (p,), variant=variant(2))
        return Node("mul", t, (Node("mul", ("M", 1, d), (row, sub(("M", d, d), b2))), p))
    if op == "add":
        return Node("add", t, (sub(t, b1), sub(t, b2)))
    if op == "sub":
        return Node("sub", t, (sub(t, b1), sub(t, b2)))
    if op == "mul":
        return Node("mul", t, (sub(t, b1), sub(t, b2)), variant=variant(3))
    if op == "scale":
        if variant(2):  # v a: the scalar on the right
            return Node("mul", t, (sub(t, b1), sub(SCALAR, b2)), variant=variant(2))
        return Node("mul", t, (sub(SCALAR, b1), sub(t, b2)), variant=variant(2))
    if op == "div":
        return Node("div", t, (sub(t, b1), sub(SCALAR, b2, True)))
    if op == "had":
        return Node("had", t, (sub(t, b1), sub(t, b2)))
    if op == "ediv":
        return Node("ediv", t, (sub(t, b1), sub(t, b2, True)))
    if op == "matvec":
        d = size()
        return Node("mul", t, (sub(("M", t[1], d), b1), sub(("v", d), b2)), variant=variant(3))
    if op == "matmul":
        d = size()
        return Node("mul", t, (sub(("M", t[1], d), b1), sub(("M", d, t[2]), b2)), variant=variant(3))
    if op == "outer":  # p q^T
        q = Node("T", ("M", 1, t[2]), (sub(("v", t[2]), b2),), variant=variant(2))
        return Node("mul", t, (sub(("v", t[1]), b1), q), variant=variant(3))
    if op == "add_col":  # M + v: a column repeated across the columns
        return Node("add", t, (sub(t, b1), sub(("v", t[1]), b2)))
    if op == "add_row":  # M + w^T: a row repeated down the rows
        return Node("bcast_row", t, (sub(t, b1), sub(("v", t[2]), b2)))
    raise AssertionError(op)


@st.composite
def safe_square(draw, d: str, budget: int = 3, depth: int = 0, tame: bool = False) -> Node:
    """A d x d matrix far from singular, with a positive determinant, at the random points of
    ``matcalc.verify``: a square symbol, its transpose or inverse, a product or sum of two
    such, a positive definite matrix."""
    t = ("M", d, d)
    options = ["sym", "transpose", "pd"]
    if budget >= 2 and depth < MAX_DEPTH:
        options += ["product", "sum", "inverse", "scaled"]
    op = draw(st.sampled_from(options))
    if op == "sym":
        return Node("sym", t, arg=draw(st.sampled_from(SAFE_SQUARE[d])))
    if op == "transpose":
        return Node("T", t, (Node("sym", t, arg=draw(st.sampled_from(SAFE_SQUARE[d]))),), variant=draw(st.integers(0, 1)))
    if op == "pd":
        return draw(positive_definite(d, budget, depth + 1, tame))
    half = max(1, budget // 2)
    if op == "product":
        return Node("mul", t, (draw(safe_square(d, half, depth + 1, tame)), draw(safe_square(d, half, depth + 1, tame))),
                    variant=draw(st.integers(0, 2)))
    if op == "sum":  # A + B: both near 2 I
        left = Node("sym", t, arg=draw(st.sampled_from(SAFE_SQUARE[d])))
        return Node("add", t, (left, draw(positive_definite(d, half, depth + 1, tame))))
    if op == "inverse":
        return Node("inv", t, (draw(safe_square(d, budget - 1, depth + 1, tame)),), variant=draw(st.integers(0, 1)))
    if op == "scaled":  # a positive multiple
        c = draw(expression(SCALAR, 1, depth + 1, positive=True, tame=tame))
        return Node("mul", t, (c, draw(safe_square(d, budget - 1, depth + 1, tame))), variant=draw(st.integers(0, 1)))
    raise AssertionError(op)


@st.composite
def positive_definite(draw, d: str, budget: int = 3, depth: int = 0, tame: bool = False) -> Node:
    """A symmetric positive definite d x d matrix: S, I + P^T P, S + p p^T, diag(positive)."""
    t = ("M", d, d)
    options = ["gram"] + (["sym"] if POSITIVE_DEFINITE[d] else [])
    if depth < MAX_DEPTH:
        options += ["rank_one", "diag"]
    op = draw(st.sampled_from(options))
    if op == "sym":
        return Node("sym", t, arg=draw(st.sampled_from(POSITIVE_DEFINITE[d])))
    if op == "gram":  # I + P^T P for any P with d columns
        other = draw(st.sampled_from(SIZES))
        p = draw(expression(("M", other, d), min(budget, 2), depth + 1, tame=tame))
        gram = Node("mul", t, (Node("T", ("M", d, other), (p,), variant=draw(st.integers(0, 1))), p))
        return Node("add", t, (Node("I", t), gram))
    if op == "rank_one":  # B + p p^T with B positive definite
        p = draw(expression(("v", d), min(budget, 2), depth + 1, tame=tame))
        base = draw(positive_definite(d, 1, MAX_DEPTH, tame))
        return Node("add", t, (base, Node("mul", t, (p, Node("T", ("M", 1, d), (p,))))))
    if op == "diag":
        return Node("call", t, (draw(expression(("v", d), budget, depth + 1, positive=True, tame=tame)),), arg="diag")
    raise AssertionError(op)


# ------------------------------------------------------------------ cases


class Case:
    """A drawn expression: its tree, its text, the variable and the declarations it needs."""

    def __init__(self, node: Node, text: str, wrt: str, declare: dict):
        self.node, self.text, self.wrt, self.declare = node, text, wrt, declare

    def __repr__(self):
        return f"Case(text={self.text!r}, wrt={self.wrt!r}, declare={self.declare!r})"


def _case(node: Node, wrt: str) -> Case:
    used = node.names()
    return Case(node, to_text(node), wrt, {k: v for k, v in DECLARED.items() if k in used})


@st.composite
def cases(draw, t=SCALAR, max_leaves: int = 10, wrt_kinds=("s", "v", "M")) -> Case:
    """An expression of type ``t`` and a variable occurring in it whose type is one of ``wrt_kinds``."""
    node = draw(expression(t, draw(st.integers(1, max_leaves))))
    names = sorted(n for n in node.names() if SYMBOLS[n][0] in wrt_kinds)
    assume(names)
    return _case(node, draw(st.sampled_from(names)))


def scalar_cases(max_leaves: int = 10):
    return cases(SCALAR, max_leaves)


def hessian_cases(max_leaves: int = 5):
    return cases(SCALAR, max_leaves, wrt_kinds=("v",))


def jacobian_cases(max_leaves: int = 6, wrt_kinds=("s", "v", "M")):
    return st.sampled_from(SIZES).flatmap(lambda d: cases(("v", d), max_leaves, wrt_kinds))


# ------------------------------------------------------------------ coverage


def node_label(e: E.Expr) -> str:
    name = type(e).__name__
    return f"{name}:{e.fn}" if isinstance(e, E.Apply) else name


def parent_child_pairs(e: E.Expr) -> set[tuple[str, str]]:
    """The (parent, child) node types occurring in a parsed expression."""
    return {(node_label(n), node_label(k)) for n in E.nodes(e) for k in n.children()}


class Coverage:
    """What the drawn examples covered, summed over a test run."""

    def __init__(self):
        self.examples = Counter()  # property -> examples run
        self.outcomes = Counter()  # (property, outcome) -> count
        self.operators = Counter()  # operator of the drawn tree -> occurrences
        self.node_types = Counter()  # node type of the parsed expression -> occurrences
        self.pairs = Counter()  # (parent, child) node types of parsed expressions -> examples

    def record(self, prop: str, case: Case, parsed: E.Expr | None):
        self.examples[prop] += 1
        self.operators.update(case.node.ops())
        if parsed is not None:
            self.node_types.update(node_label(n) for n in E.nodes(parsed))
            self.pairs.update(parent_child_pairs(parsed))

    def outcome(self, prop: str, what: str):
        self.outcomes[(prop, what)] += 1

    def summary(self) -> str:
        lines = [f"examples drawn: {sum(self.examples.values())} ({', '.join(f'{k}: {v}' for k, v in sorted(self.examples.items()))})",
                 f"operators of the generator: {len(self.operators)} distinct",
                 f"node types of parsed expressions: {len(self.node_types)} distinct",
                 f"parent/child node-type pairs: {len(self.pairs)} distinct"]
        for (prop, what), n in sorted(self.outcomes.items()):
            lines.append(f"  {prop}: {what}: {n}")
        lines.append("operators: " + ", ".join(f"{k}={v}" for k, v in sorted(self.operators.items())))
        lines.append("pairs: " + ", ".join(f"{a}>{b}" for a, b in sorted(self.pairs)))
        return "\n".join(lines)


COVERAGE = Coverage()
