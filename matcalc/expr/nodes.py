"""The node classes: immutable, hashable, with their shape worked out (and checked) when built.

A scalar is a 1x1 matrix; a vector is a column n x 1.  Each class states its shape rule;
what a node may contain is the business of the constructors (``normal_form``), through
which every expression is built.
"""

from __future__ import annotations

from fractions import Fraction

from ..errors import MatcalcError, ShapeError
from ..shapes import is_column_shape, is_scalar_shape, product_dim, shape_str, unified_now, unify
from .numbers import checked_number

MAX_DEPTH = 2000  # deeper trees would exhaust Python's recursion in later passes



class Expr:
    """A node: its fields (children and parameters), its shape, and a cached hash."""

    fields: tuple[str, ...] = ()
    __slots__ = ("shape", "depth", "free", "_hash", "_key", "_children")

    def __init__(self, *values):
        if len(values) != len(self.fields):
            raise TypeError(f"{type(self).__name__} takes {self.fields}")
        self.__dict__.update(zip(self.fields, values))  # the fields; the slots below hold what follows from them
        kids = _children_of(values)
        setattr_ = object.__setattr__
        setattr_(self, "_key", values)  # kept: every comparison and rebuild reads it
        setattr_(self, "_children", kids)
        if kids:
            depth = 1 + max(k.depth for k in kids)
            if depth > MAX_DEPTH:
                raise MatcalcError(f"expression nests deeper than {MAX_DEPTH} levels")
            free = kids[0].free if len(kids) == 1 else frozenset().union(*(k.free for k in kids))
        else:
            depth, free = 1, _NOTHING
        setattr_(self, "depth", depth)
        setattr_(self, "free", free)
        setattr_(self, "shape", self._shape())
        setattr_(self, "_hash", hash((type(self).__name__, *values)))

    def __setattr__(self, name, value):
        raise AttributeError("expressions are immutable")

    def key(self) -> tuple:
        return self._key

    def __eq__(self, other):
        return self is other or (
            type(self) is type(other) and self._hash == other._hash and self._key == other._key
        )

    def __hash__(self):
        return self._hash

    def children(self) -> tuple[Expr, ...]:
        return self._children

    def map_children(self, f) -> Expr:
        """The same node built again (through its class) with ``f`` applied to each child."""
        values = []
        for value in self.key():
            if isinstance(value, Expr):
                value = f(value)
            elif isinstance(value, tuple) and value and isinstance(value[0], Expr):
                value = tuple(f(v) for v in value)
            values.append(value)
        return type(self)(*values)

    def _shape(self):
        raise NotImplementedError

    def __repr__(self):
        from ..printing import to_text

        return f"<{type(self).__name__} {to_text(self)}>"

    def __str__(self):
        from ..printing import to_text

        return to_text(self)

    def _repr_latex_(self):
        from ..printing import to_latex

        return f"${to_latex(self)}$"


_NOTHING: frozenset = frozenset()


def _children_of(values) -> tuple[Expr, ...]:
    out = []
    for value in values:
        if isinstance(value, Expr):
            out.append(value)
        elif isinstance(value, tuple) and value and isinstance(value[0], Expr):
            out.extend(value)
    return tuple(out)


def text_of(e: Expr) -> str:
    from ..printing import to_text

    return to_text(e)


PLAIN_KINDS = ("scalar", "vector", "matrix")  # the kinds a name has undeclared: their shapes surprise no one


def declarations_in(e: Expr) -> str:
    """The declared kinds that fix shapes in ``e``, for a message about its shape: a declaration
    may be what contradicts it ("; y is declared onehot_rows (n x m)"), or nothing."""
    declared = sorted((s for s in e.free if isinstance(s, Symbol) and s.kind not in PLAIN_KINDS), key=lambda s: s.name)
    return "".join(f"; {s.name} is declared {s.kind} ({shape_str(s.shape)})" for s in declared)


def described(e: Expr) -> str:
    return f"{text_of(e)} ({shape_str(e.shape)}{declarations_in(e)})"


def require_square(e: Expr, what: str):
    if isinstance(e, Kron):
        # a Kronecker product is square when its total sizes are: kron(v^T, v), kron(C, C^T); when
        # only some choice of sizes would make them equal (n*p and m*q), both factors are square,
        # as tr(kron(A, X)) of two unknown matrices means
        if unified_now(e.shape[0], e.shape[1]) is None:
            require_square(e.left, what)
            require_square(e.right, what)
        return e.shape[0]
    unify(e.shape[0], e.shape[1], lambda: f"{what} needs a square matrix, got {described(e)}")
    return e.shape[0]


def require_column(e: Expr, what: str):
    if not is_column_shape(e.shape):
        raise ShapeError(f"{what} needs a column vector, got {described(e)}")


def require_scalar(e: Expr, what: str):
    if not is_scalar_shape(e.shape):
        raise ShapeError(f"{what} needs a scalar, got {described(e)}")


def same_shape(terms, what: str):
    first = terms[0]
    for t in terms[1:]:
        for axis in (0, 1):
            unify(first.shape[axis], t.shape[axis], lambda t=t: f"cannot {what} {described(first)} and {described(t)}")
    return first.shape


# ---------------------------------------------------------------- leaves


class Symbol(Expr):
    """A named input; ``kind`` names a row of ``kinds.TABLE``."""

    fields = ("name", "kind", "dims")

    def _shape(self):
        return self.dims

    def __init__(self, *values):
        super().__init__(*values)
        object.__setattr__(self, "free", frozenset([self]))


class Differential(Expr):
    """``dX``: the infinitesimal change of a variable."""

    fields = ("var",)

    def __init__(self, *values):
        super().__init__(*values)
        object.__setattr__(self, "free", frozenset([self]))

    def _shape(self):
        return self.var.shape


class DifferentialOf(Expr):
    """``d(U)``: the differential of a subexpression, not yet expanded (shown in derivations)."""

    fields = ("arg",)

    def _shape(self):
        return self.arg.shape


class Const(Expr):
    """An exact rational number, at most MAX_DIGITS long."""

    fields = ("value",)

    def __init__(self, value: Fraction):
        super().__init__(checked_number(value))

    def _shape(self):
        return (1, 1)


class Identity(Expr):
    fields = ("n",)

    def _shape(self):
        return (self.n, self.n)


class Ones(Expr):
    """The all-ones matrix of the given shape (``ones`` is the all-ones column vector)."""

    fields = ("dims",)

    def _shape(self):
        return self.dims


class Zero(Expr):
    fields = ("dims",)

    def _shape(self):
        return self.dims


# ---------------------------------------------------------------- linear structure


class Add(Expr):
    fields = ("terms",)

    def _shape(self):
        return same_shape(self.terms, "add")


class MatMul(Expr):
    """A matrix product; either a chain of non-scalar factors or a product of scalars."""

    fields = ("factors",)

    def _shape(self):
        fs = self.factors
        for a, b in zip(fs, fs[1:], strict=False):
            unify(a.shape[1], b.shape[0], lambda a=a, b=b: f"cannot multiply {described(a)} by {described(b)}")
        return (fs[0].shape[0], fs[-1].shape[1])


class Scale(Expr):
    """A scalar expression times a non-scalar one."""

    fields = ("coeff", "arg")

    def _shape(self):
        require_scalar(self.coeff, "a scaling factor")
        return self.arg.shape


class Transpose(Expr):
    fields = ("arg",)

    def _shape(self):
        return (self.arg.shape[1], self.arg.shape[0])


class Hadamard(Expr):
    """The element-wise product ``U .* V``."""

    fields = ("factors",)

    def _shape(self):
        return same_shape(self.factors, "multiply element-wise")


class Trace(Expr):
    fields = ("arg",)

    def _shape(self):
        require_square(self.arg, "tr")
        return (1, 1)


class Sum(Expr):
    """The sum of all entries."""

    fields = ("arg",)

    def _shape(self):
        return (1, 1)


class DiagMatrix(Expr):
    """``diag(v)``: the diagonal matrix with v on its diagonal."""

    fields = ("arg",)

    def _shape(self):
        require_column(self.arg, "diag")
        return (self.arg.shape[0], self.arg.shape[0])


class DiagVector(Expr):
    """``diag(M)``: the diagonal of a square matrix as a column."""

    fields = ("arg",)

    def _shape(self):
        return (require_square(self.arg, "diag"), 1)


class Kron(Expr):
    """The Kronecker product ``A kron B``."""

    fields = ("left", "right")

    def _shape(self):
        a, b = self.left.shape, self.right.shape
        return (product_dim(a[0], b[0]), product_dim(a[1], b[1]))


class Vec(Expr):
    """``vec(U)``: the columns of U stacked into one column."""

    fields = ("arg",)

    def _shape(self):
        return (product_dim(*self.arg.shape), 1)


class Commutation(Expr):
    """The commutation matrix K with ``K vec(U) = vec(U^T)`` for U of shape ``dims``."""

    fields = ("dims",)

    def _shape(self):
        n = product_dim(*self.dims)
        return (n, n)


# ---------------------------------------------------------------- non-linear


class Inverse(Expr):
    fields = ("arg",)

    def _shape(self):
        n = require_square(self.arg, "the inverse")
        return (n, n)


class MatPower(Expr):
    """``U^k`` for a square matrix and an integer k >= 2."""

    fields = ("arg", "exponent")

    def _shape(self):
        n = require_square(self.arg, "a matrix power")
        return (n, n)


class Power(Expr):
    """``s^p`` for a scalar s and a rational p."""

    fields = ("base", "exponent")

    def _shape(self):
        require_scalar(self.base, "a real power")
        return (1, 1)


class ElemPower(Expr):
    """``U .^ p``, element-wise."""

    fields = ("arg", "exponent")

    def _shape(self):
        return self.arg.shape


class Apply(Expr):
    """An element-wise function from ``functions.FUNCTIONS``, with its scalar parameters
    (``leaky_relu(U, 0.01)``; every one the row takes, defaults filled in by ``apply``)."""

    fields = ("fn", "arg", "params")

    def __init__(self, fn, arg, params=()):
        super().__init__(fn, arg, tuple(params))

    def _shape(self):
        return self.arg.shape


class Det(Expr):
    fields = ("arg",)

    def _shape(self):
        require_square(self.arg, "det")
        return (1, 1)


class LogDet(Expr):
    fields = ("arg",)

    def _shape(self):
        require_square(self.arg, "logdet")
        return (1, 1)


class Norm(Expr):
    """The 2-norm of a vector, the Frobenius norm of a matrix."""

    fields = ("arg",)

    def _shape(self):
        return (1, 1)


class Count(Expr):
    """A size as a number, 1 x 1: ``sum(ones)`` and ``tr(I)`` are n, and a mean divides by one."""

    fields = ("n",)

    def _shape(self):
        return (1, 1)


# ---------------------------------------------------------------- along an axis


def axis_shape(e: Expr, axis, what: str):
    """The shape of a reduction of ``e`` along ``axis``: None (all entries) gives 1 x 1, 1 (down
    the columns) a row, 2 (along the rows) a column, numbered as in MATLAB."""
    if axis is None:
        return (1, 1)
    if axis not in (1, 2):
        raise ShapeError(f"{what} runs along dimension 1 or 2, got {axis}")
    return (1, e.shape[1]) if axis == 1 else (e.shape[0], 1)


class AlongAxis:
    """What the nodes below share (a mixin, not a node type): each runs along dimension ``axis``
    of its argument (1: down each column, 2: along each row), or over all entries where ``axis``
    is None; ``name`` is how it is written."""

    fields = ("arg", "axis")
    name = ""
    reduces = True  # False: the result has the argument's shape (softmax)

    def _shape(self):
        if not self.reduces:
            axis_shape(self.arg, self.axis, self.name)
            return self.arg.shape
        return axis_shape(self.arg, self.axis, self.name)

    @property
    def numpy_axis(self):
        """The axis as NumPy numbers it (from 0), None for all entries."""
        return None if self.axis is None else self.axis - 1


class Softmax(AlongAxis, Expr):
    """exp(U) normalised along ``axis`` (a column: axis 1; a matrix: along each row by default)."""

    name, reduces = "softmax", False


class LogSoftmax(AlongAxis, Expr):
    """log(softmax(U)), computed without forming softmax: U - logsumexp(U) repeated."""

    name, reduces = "logsoftmax", False


class LogSumExp(AlongAxis, Expr):
    name = "logsumexp"


class Mean(AlongAxis, Expr):
    name = "mean"


class Var(AlongAxis, Expr):
    """The population variance (dividing by the count), as normalisation layers use."""

    name = "var"


class Std(AlongAxis, Expr):
    """The square root of the population variance."""

    name = "std"
