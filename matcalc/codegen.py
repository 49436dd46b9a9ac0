"""Code generation: NumPy (or JAX) source for derivatives, with shared subexpressions computed once.

Every value is a 2-D array, as in ``evaluate``.  Besides one line per node type, the
generator uses what it knows of the structure: ``A^-1 B`` becomes ``solve(A, B)``,
``diag(v) M`` a broadcast product ``v * M`` (never a dense diagonal matrix), ``(A + B) v``
``A v + B v`` (never the sum), and a subexpression referred to more than once is assigned
to a temporary.  Input names are
only ever used as dictionary keys (``values['x']``) and as ``v_x`` identifiers, which the
grammar restricts to letters, digits and underscores.
"""

from __future__ import annotations

from fractions import Fraction
from math import isinf

from . import expr as E
from .cse import _references
from .errors import MatcalcError, UnsupportedError
from .evaluate import as_float
from .functions import numpy_source
from .registry import describe
from .shapes import size_factors

MODULES = {"numpy": "import numpy as xp", "jax": "import jax.numpy as xp"}

# fmt: off
CODE = {
    E.Transpose:  "{0}.T",
    E.MatPower:   "xp.linalg.matrix_power({0}, {e.exponent})",
    E.Inverse:    "xp.linalg.inv({0})",
    E.Det:        "xp.reshape(xp.linalg.det({0}), (1, 1))",
    E.LogDet:     "xp.reshape(xp.log(xp.linalg.det({0})), (1, 1))",
    E.Trace:      "xp.reshape(xp.trace({0}), (1, 1))",
    E.Sum:        "xp.reshape({0}.sum(), (1, 1))",
    E.Norm:       "xp.reshape(xp.sqrt(({0} * {0}).sum()), (1, 1))",
    E.DiagMatrix: "xp.diag({0}[:, 0])",
    E.DiagVector: "xp.reshape(xp.diag({0}), (-1, 1))",
    E.Vec:        "xp.reshape({0}.T, (-1, 1))",
    E.Kron:       "xp.kron({0}, {1})",
}
# fmt: on

HELPERS = {
    E.Softmax: "def _softmax(u):\n    z = xp.exp(u - u.real.max())\n    return z / z.sum()\n",
    E.LogSumExp: "def _logsumexp(u):\n    m = u.real.max()\n    return xp.reshape(m + xp.log(xp.exp(u - m).sum()), (1, 1))\n",
}

# A^T diag(w) A: with non-negative weights it is B^T B for B = sqrt(w) .* A, which NumPy's
# matmul computes with one symmetric rank-k update (BLAS syrk: half the flops of a product,
# an exactly symmetric result) when both operands are the same array; a plain product otherwise.
WEIGHTED_GRAM = {
    "numpy": (
        "def _weighted_gram(a, w):\n"
        "    if not xp.iscomplexobj(w) and (w >= 0).all():\n"
        "        b = xp.sqrt(w) * a\n"
        "        return b.T @ b\n"
        "    return a.T @ (w * a)\n"
    ),
    "jax": "def _weighted_gram(a, w):\n    return a.T @ (w * a)\n",
}

# (A + A^T) v, the Hessian of a quadratic form applied to a direction: two products read A twice
# from memory; by blocks of rows each block serves A v and A^T v while it is in the cache.
SUM_WITH_TRANSPOSE = {
    "numpy": (
        "def _sum_with_transpose_times(a, v, rows=128):\n"
        "    out = xp.zeros((a.shape[0], v.shape[1]), dtype=xp.result_type(a, v))\n"
        "    for i in range(0, a.shape[0], rows):\n"
        "        block = a[i:i + rows]\n"
        "        out[i:i + rows] += block @ v\n"
        "        out += block.T @ v[i:i + rows]\n"
        "    return out\n"
    ),
    "jax": "def _sum_with_transpose_times(a, v):\n    return a @ v + a.T @ v\n",
}

COMMUTATION = (
    "def _commutation(rows, cols):\n"
    "    k = xp.arange(rows * cols).reshape(cols, rows).T.reshape(-1)\n"
    "    return xp.eye(rows * cols)[k]\n"
)


def _number(value: Fraction) -> str:
    x = as_float(value)
    if isinf(x):  # repr() would give inf, which is no Python literal
        return f"float('{x}')"
    return repr(x) if value.denominator != 1 else f"{value.numerator}.0"


class _Generator:
    def __init__(self, roots: dict, inputs: list[E.Symbol], backend: str = "numpy"):
        self.gram = WEIGHTED_GRAM[backend]
        self.sum_with_transpose = SUM_WITH_TRANSPOSE[backend]
        self.inputs = inputs
        self.lines: list[str] = []
        self.helpers: dict[str, str] = {}
        self.names: dict = {s: f"v_{s.name}" for s in inputs}
        self.count = _references(list(roots.values()))
        self.temps = 0
        self.dims: dict[str, str] = {}
        for s in inputs:
            for axis, d in enumerate(s.dims):
                if isinstance(d, str):
                    self.dims.setdefault(d, f"v_{s.name}.shape[{axis}]")

    def dim(self, d) -> str:
        number, names = size_factors(d)
        if any(name not in self.dims for name in names):
            raise MatcalcError(f"the size {d} cannot be read from the inputs")
        return " * ".join([str(number)] * (number != 1 or not names) + [self.dims[name] for name in names])

    def code(self, e: E.Expr) -> str:
        if e in self.names:
            return self.names[e]
        text = self.build(e)
        if self.count.get(e, 0) >= 2 and e.children():
            self.temps += 1
            name = f"t{self.temps}"
            self.lines.append(f"{name} = {text}")
            self.names[e] = name
            return name
        return text

    def helper(self, key: str, source: str) -> None:
        self.helpers.setdefault(key, source)

    def build(self, e: E.Expr) -> str:
        if isinstance(e, (E.MatMul, E.Add)):  # these look at their factors and terms themselves
            return getattr(self, "_" + type(e).__name__)(e, None)
        kids = [self.code(k) for k in e.children()]
        if type(e) in CODE:
            return CODE[type(e)].format(*kids, e=e)
        if type(e) in HELPERS:
            self.helpers.setdefault(type(e).__name__, HELPERS[type(e)])
            return f"_{type(e).__name__.lower()}({', '.join(kids)})"
        method = getattr(self, "_" + type(e).__name__, None)
        if method is None:
            raise UnsupportedError(f"code generation for {describe(e)} is not supported")
        return method(e, kids)

    def _Symbol(self, e, kids):  # an input is named v_<name> before any code is built
        raise MatcalcError(f"{e.name} is not among the inputs of the generated function")

    def _Const(self, e, kids):
        return f"xp.full((1, 1), {_number(e.value)})"

    def _Identity(self, e, kids):
        return f"xp.eye({self.dim(e.n)})"

    def _Ones(self, e, kids):
        return f"xp.ones(({self.dim(e.dims[0])}, {self.dim(e.dims[1])}))"

    def _Zero(self, e, kids):
        return f"xp.zeros(({self.dim(e.dims[0])}, {self.dim(e.dims[1])}))"

    def _Commutation(self, e, kids):
        self.helpers.setdefault("commutation", COMMUTATION)
        return f"_commutation({self.dim(e.dims[0])}, {self.dim(e.dims[1])})"

    def _Add(self, e, kids):  # ones, ones b^T, c ones^T: NumPy's broadcasting does the repeating
        return "(" + " + ".join(self.broadcast_term(term) for term in e.terms) + ")"

    def _MatMul(self, e, kids):
        return self.product(list(e.factors))

    def _Scale(self, e, kids):
        coeff = _number(e.coeff.value) if isinstance(e.coeff, E.Const) else f"{kids[0]}[0, 0]"
        if isinstance(e.arg, E.Kron) and self.count.get(e.arg, 0) < 2:  # c (A kron B) = (c A) kron B
            return f"xp.kron({coeff} * {self.code(e.arg.left)}, {self.code(e.arg.right)})"
        return f"({coeff} * {kids[1]})"

    def _Hadamard(self, e, kids):
        return "(" + " * ".join(kids) + ")"

    def _Power(self, e, kids):
        return f"({kids[0]} ** {_number(e.exponent)})"

    _ElemPower = _Power

    def _Apply(self, e, kids):
        self.helpers.setdefault("f_" + e.fn, numpy_source(e.fn))
        return f"_f_{e.fn}({', '.join(kids)})"

    def broadcast_term(self, term: E.Expr) -> str:
        if isinstance(term, E.Ones):
            return "1.0"
        if isinstance(term, E.MatMul) and len(term.factors) == 2:
            first, last = term.factors
            if isinstance(first, E.Ones) and first.shape[1] == 1:
                return self.code(last)
            if isinstance(last, E.Ones) and last.shape[0] == 1:
                return self.code(first)
        return self.code(term)

    def product(self, factors: list[E.Expr]) -> str:
        """A matrix product, right to left: inverses become solves, diagonal matrices broadcasts,
        products with a ones vector sums."""
        head, rest = factors[0], factors[1:]
        if not rest:
            return self.code(head)
        if len(rest) == 1 and isinstance(rest[0], E.Ones) and rest[0].shape[1] == 1:
            return f"{self.code(head)}.sum(axis=1, keepdims=True)"
        if isinstance(head, E.Ones) and head.shape[0] == 1 and len(rest) == 1:
            return f"{self.code(rest[0])}.sum(axis=0, keepdims=True)"
        if len(rest) == 2 and isinstance(rest[0], E.DiagMatrix) and head == E.transpose(rest[1]):
            self.helpers.setdefault("gram", self.gram)  # A^T diag(w) A: symmetric, half the work
            return f"_weighted_gram({self.code(rest[1])}, {self.code(rest[0].arg)})"
        if len(rest) == 1 and isinstance(rest[0], E.DiagMatrix):
            return f"({self.code(head)} * {self.code(rest[0].arg)}.T)"
        tail = self.product(rest)
        if self.distributes(head, rest):
            # (A + B) v = A v + B v: a product with a column per term costs less than forming A + B
            name = tail
            if not tail.isidentifier():  # computed once, used by every term
                self.temps += 1
                name = f"t{self.temps}"
                self.lines.append(f"{name} = {tail}")
            first, *others = head.terms
            if others == [E.transpose(first)] and not isinstance(first, (E.Inverse, E.DiagMatrix)):
                self.helpers.setdefault("sum_with_transpose", self.sum_with_transpose)
                return f"_sum_with_transpose_times({self.code(first)}, {name})"
            return "(" + " + ".join(self.times(term, name) for term in head.terms) + ")"
        return self.times(head, tail)

    def distributes(self, head: E.Expr, rest: list[E.Expr]) -> bool:
        """Whether the sum of matrices ``head`` is better applied term by term to the column the
        product ``rest`` makes than formed first (it is formed anyway where it is shared)."""
        return (isinstance(head, E.Add) and rest[-1].shape[1] == 1 and self.count.get(head, 0) < 2
                and all(term.shape == head.shape for term in head.terms) and not E.is_scalar(head))

    def times(self, head: E.Expr, tail: str) -> str:
        """``head`` times the value whose code is ``tail``: a solve for an inverse, a broadcast
        product for a diagonal matrix."""
        if isinstance(head, E.Inverse):
            return f"xp.linalg.solve({self.code(head.arg)}, {tail})"
        if isinstance(head, E.Transpose) and isinstance(head.arg, E.Inverse):
            return f"xp.linalg.solve({self.code(head.arg.arg)}.T, {tail})"
        if isinstance(head, E.DiagMatrix):
            return f"({self.code(head.arg)} * {tail})"
        return f"({self.code(head)} @ {tail})"


def source(roots: dict, inputs: list[E.Symbol], backend: str = "numpy", name: str = "derivative") -> str:
    """Source of ``def name(**values)`` returning the value of each root (a dict when several)."""
    if backend not in MODULES:
        raise MatcalcError(f"unknown backend {backend!r}: choose numpy or jax")
    gen = _Generator(roots, inputs, backend)
    results = {label: gen.code(e) for label, e in roots.items()}
    body = []
    for s in inputs:
        key = repr(s.name)
        shape = "(1, 1)" if E.is_scalar(s) else ("(-1, 1)" if s.dims[1] == 1 else None)
        value = f"xp.asarray(values[{key}])"
        if backend == "numpy":
            value = f"xp.asarray(values[{key}], dtype=xp.result_type(values[{key}], float))"
        body.append(f"v_{s.name} = {value}" + (f".reshape{shape}" if shape else ""))
    body += gen.lines
    if len(results) == 1:
        body.append(f"return {next(iter(results.values()))}")
    else:
        body.append("return {" + ", ".join(f"{label!r}: {code}" for label, code in results.items()) + "}")
    inner = "\n".join("    " + line for line in body)
    parts = [MODULES[backend], *gen.helpers.values(), f"def {name}(**values):\n{inner}\n"]
    return "\n\n".join(part.rstrip("\n") + "\n" for part in parts)


def compile_source(text: str, name: str = "derivative"):
    """The function defined by generated source (ours only: never user text)."""
    namespace: dict = {}
    exec(compile(text, f"<matcalc {name}>", "exec"), namespace)  # noqa: S102 - generated code
    return namespace[name]
