"""SymPy matrix expressions in and out.

``from_sympy`` reads a SymPy matrix expression (``MatrixSymbol``, ``MatMul``, ``Trace``,
``Determinant``, ``Inverse``, ``HadamardProduct``, ...) into a matcalc expression, built
through the same smart constructors as parsed text, so it meets the same shape checks and
``gradient``, ``hessian``, ``jacobian`` and ``hvp`` take it in place of text.  ``to_sympy``
writes a matcalc expression back as a SymPy matrix expression over ``MatrixSymbol``s (not an
explicit matrix: ``exact.to_sympy`` is that).

SymPy treats a 1 x 1 matrix (``x.T*A*x``) and a scalar (``Trace(X)``) as different things;
matcalc does not.  Reading, both become 1 x 1 expressions; writing, every 1 x 1 expression
becomes a SymPy scalar, a 1 x 1 product written as its trace, ``Trace(x.T*A*x)``, which SymPy
can multiply a matrix by.
"""

from __future__ import annotations

from fractions import Fraction
from functools import cache, reduce

import sympy as sp
from sympy.matrices.expressions.applyfunc import ElementwiseApplyFunction
from sympy.matrices.expressions.diagonal import DiagMatrix, DiagonalOf
from sympy.matrices.expressions.dotproduct import DotProduct
from sympy.matrices.expressions.matexpr import MatrixElement

from . import expr as E
from .errors import DeclarationError, MatcalcError, ShapeError, UnsupportedError
from .functions import FUNCTIONS, param_symbols, symbols
from .guard import user_errors
from .parser import CALLS, NAME_PATTERN, RESERVED, check_declarations
from .registry import rule_for
from .shapes import product_dim, size_factors

# ------------------------------------------------------------------ SymPy to matcalc


@cache
def _unsupported_piecewise(node):
    raise UnsupportedError(f"from_sympy: SymPy's Piecewise is not supported unless it is one of matcalc's functions "
                           f"written out (relu, leaky_relu, hardtanh, ...): got {node}")


def _written_out(node) -> bool:
    """Whether ``node`` may be a row's definition written out: what the reader has no rule for
    (a Piecewise, a scalar holding pi) but the table's definitions have."""
    return isinstance(node, sp.Expr) and not isinstance(node, sp.MatrixExpr) and node.has(sp.Piecewise, sp.pi)


@cache
def _definition_patterns() -> tuple:
    """(name, definition with Wilds for its argument and parameters, those Wilds) of the rows whose
    definitions the reader cannot read itself, as ``_written_out`` says."""
    t, out = symbols()[0], []
    for name, row in FUNCTIONS.items():
        params = param_symbols(len(row.params))
        argument, wilds = sp.Wild("argument"), [sp.Wild(f"param{i}") for i in range(len(params))]
        if _written_out(row.definition):
            out.append((name, row.definition.xreplace({t: argument, **dict(zip(params, wilds))}), argument, wilds))
    return tuple(out)


def _function_names() -> dict:
    """{definition in t: name} of matcalc's element-wise functions: ``exp(t)`` is exp."""
    return {row.definition: name for name, row in FUNCTIONS.items()}


def _number(value) -> Fraction:
    """A SymPy number as an exact fraction; a float by its shortest decimal (0.1 is 1/10)."""
    if isinstance(value, sp.Rational):
        return Fraction(int(value.p), int(value.q))
    if isinstance(value, sp.Float):
        return Fraction(repr(float(value)))
    raise UnsupportedError(f"from_sympy: the number {value} ({type(value).__name__}) is not supported: "
                           "matcalc's numbers are rational (give a Rational or a Float)")


def _exponent(value) -> Fraction:
    if not isinstance(value, sp.Number):
        raise UnsupportedError(f"from_sympy: an exponent must be a number, got {value}")
    return _number(value)


class _Reader:
    """One conversion: the symbols met so far by name, so that a name is one symbol throughout."""

    def __init__(self, declare: dict, symbols: dict | None = None, bound: dict | None = None, sizes=frozenset()):
        self.declare = declare
        self.sizes = sizes  # the SymPy symbols that are sizes of matrices: n in Trace(X)/n is X's size
        self.symbols: dict[str, E.Symbol] = {} if symbols is None else symbols
        self.memo: dict = dict(bound or {})  # the variable of an element-wise Lambda stands for its matrix
        self.elementwise = bool(bound)  # inside such a Lambda, products, powers and functions act entry by entry

    def read(self, node) -> E.Expr:
        if node in self.memo:
            return self.memo[node]
        if _written_out(node):  # relu, leaky_relu(t, a), normpdf, ...: a row of the table written out
            found = self.table_function(node)
            if found is not None:
                self.memo[node] = found
                return found
        for cls in type(node).__mro__:
            rule = READ.get(cls)
            if rule is not None:
                out = rule(self, node)
                break
        else:
            hint = HINTS.get(type(node).__name__, "")
            raise UnsupportedError(f"from_sympy: SymPy's {type(node).__name__} is not supported{hint}")
        self.memo[node] = out
        return out

    def args(self, node) -> list[E.Expr]:
        return [self.read(a) for a in node.args]

    # -------------------------------------------- leaves

    def size(self, d, of: str):
        """A SymPy size as a matcalc one: a whole number, a name, or a product of them."""
        if isinstance(d, sp.Integer) and d > 0:
            return int(d)
        if isinstance(d, sp.Symbol) and NAME_PATTERN.fullmatch(d.name):
            return d.name
        if isinstance(d, sp.Mul) and all(isinstance(f, (sp.Integer, sp.Symbol)) for f in d.args):
            return product_dim(*(self.size(f, of) for f in d.args))
        raise ShapeError(f"from_sympy: the size {d} of {of} is not supported: a size is a whole number, a name "
                         "or a product of them")

    def symbol(self, name: str, dims: tuple) -> E.Symbol:
        if not NAME_PATTERN.fullmatch(name) or name in RESERVED or name in CALLS:
            raise DeclarationError(f"from_sympy: cannot read the symbol {name!r}: a name is letters, then digits or "
                                   "an _subscript, and not I, ones or a function's name")
        kind = self.declare.get(name) or ("scalar" if dims == (1, 1) else "vector" if dims[1] == 1 else "matrix")
        fits = {"scalar": dims == (1, 1), "vector": dims[1] == 1 and dims[0] != 1,
                "symmetric": dims[0] == dims[1] and dims != (1, 1)}.get(kind, True)
        if not fits:
            raise DeclarationError(f"from_sympy: {name} is declared {kind}, but it is {dims[0]} x {dims[1]}")
        out = E.Symbol(name, kind, dims)
        known = self.symbols.setdefault(name, out)
        if known != out:
            raise ShapeError(f"from_sympy: two different symbols are named {name} "
                             f"({known.dims[0]} x {known.dims[1]} and {dims[0]} x {dims[1]})")
        return out

    def matrix_symbol(self, node) -> E.Expr:
        name = str(node.name)
        return self.symbol(name, tuple(self.size(d, name) for d in node.shape))

    def scalar_symbol(self, node) -> E.Expr:
        if node in self.sizes:
            return E.count(self.size(node, node.name))  # the number n: a size
        return self.symbol(node.name, (1, 1))

    def shaped(self, cls, node) -> E.Expr:
        return cls(tuple(self.size(d, type(node).__name__) for d in node.shape))

    # -------------------------------------------- functions

    def function(self, node) -> E.Expr:
        """exp(s), log(det(X)), Abs(t), ...: a function of matcalc's table, found by its definition."""
        if isinstance(node, sp.log) and isinstance(node.args[0], sp.Determinant):
            return E.logdet(self.read(node.args[0].arg))  # log det X is logdet X, whose forms are the usual ones
        t = symbols()[0]
        name = _function_names().get(node.func(t, *node.args[1:]))
        if name is None:
            raise UnsupportedError(f"from_sympy: the function {node.func.__name__} is not supported "
                                   f"(matcalc's functions: {', '.join(FUNCTIONS)})")
        arg = self.read(node.args[0])
        if not E.is_scalar(arg) and not self.elementwise:
            raise UnsupportedError(f"from_sympy: {node} of a matrix is not read as element-wise (exp of a matrix is "
                                   f"the matrix exponential): for the element-wise function write "
                                   f"{node.args[0]}.applyfunc({node.func.__name__})")
        return E.apply(name, arg)

    def table_function(self, node) -> E.Expr | None:
        """A function of the table whose definition, at some argument and parameters, is ``node``
        (to_sympy writes relu as its Piecewise, normpdf with pi): that function of them."""
        for name, pattern, argument, params in _definition_patterns():
            found = node.match(pattern)
            if found and argument in found and all(p in found for p in params):
                return E.apply(name, self.read(found[argument]), [self.read(found[p]) for p in params])
        return None

    def applied(self, node) -> E.Expr:
        """X.applyfunc(f): f's body read with its variable standing for X, so that its products and
        powers are element-wise (Lambda(u, u**2 + tanh(u)) is X .^ 2 + tanh(X))."""
        f = node.function
        if not isinstance(f, sp.Lambda):
            u = sp.Dummy("u")
            f = sp.Lambda(u, f(u))
        if len(f.variables) != 1:
            raise UnsupportedError(f"from_sympy: the element-wise function {f} does not take one argument")
        return _Reader(self.declare, self.symbols, {f.variables[0]: self.read(node.expr)}, self.sizes).read(f.expr)

    def entry(self, node) -> E.Expr:
        parent = self.read(node.parent)
        if E.is_scalar(parent) and node.i == 0 and node.j == 0:
            return parent  # (x.T*A*x)[0, 0] is the 1 x 1 matrix itself
        raise UnsupportedError(f"from_sympy: entries such as {node} (MatrixElement) are not supported: "
                               "matcalc differentiates whole matrices")

    def dot(self, node) -> E.Expr:
        a, b = (self.read(v) for v in node.args)
        column = [v if E.is_one(v.shape[1]) else E.transpose(v) for v in (a, b)]
        return E.mul(E.transpose(column[0]), column[1])


def _product(reader, node):
    return reduce(E.mul, reader.args(node))


def _scalar_product(reader, node):
    """A SymPy Mul multiplies scalars; inside an element-wise Lambda, its matrix factors entry by entry."""
    if not reader.elementwise:
        return _product(reader, node)
    return reduce(lambda a, b: E.mul(a, b) if E.is_scalar(a) or E.is_scalar(b) else E.hadamard(a, b), reader.args(node))


def _power(reader, node):
    """A SymPy Pow is a scalar power; inside an element-wise Lambda, an element-wise one."""
    base, p = reader.read(node.base), _exponent(node.exp)
    return E.elem_power(base, p) if reader.elementwise and not E.is_scalar(base) else E.power(base, p)


def _sum(reader, node):
    return reduce(E.add, reader.args(node))


HINTS = {  # what to write instead, for the nodes people meet most
    "Sum": ": SymPy writes entries as sums ((x.T*A*x)[0, 0] is one); write the 1 x 1 product as Trace(x.T*A*x)",
    "Adjoint": ": matcalc's matrices are real; write the transpose, X.T",
    "ImmutableDenseMatrix": ": give a matrix expression of MatrixSymbols, not an explicit matrix",
}

# fmt: off
READ = {
    sp.MatrixSymbol:         _Reader.matrix_symbol,
    sp.Symbol:               _Reader.scalar_symbol,
    sp.Identity:             lambda r, e: E.Identity(r.size(e.rows, "Identity")),
    sp.ZeroMatrix:           lambda r, e: r.shaped(E.Zero, e),
    sp.OneMatrix:            lambda r, e: r.shaped(E.Ones, e),
    sp.Number:               lambda r, e: E.const(_number(e)),
    type(sp.E):              lambda r, e: E.apply("exp", E.const(1)),
    sp.NumberSymbol:         lambda r, e: E.const(_number(e)),  # pi and the like: refused, by name
    sp.Piecewise:            lambda r, e: _unsupported_piecewise(e),
    sp.MatAdd:               _sum,
    sp.Add:                  _sum,
    sp.MatMul:               _product,
    sp.Mul:                  _scalar_product,
    sp.Pow:                  _power,
    sp.MatPow:               lambda r, e: E.power(r.read(e.base), _exponent(e.exp)),
    sp.Inverse:              lambda r, e: E.inverse(r.read(e.arg)),
    sp.Transpose:            lambda r, e: E.transpose(r.read(e.arg)),
    sp.Trace:                lambda r, e: E.trace(r.read(e.arg)),
    sp.Determinant:          lambda r, e: E.det(r.read(e.arg)),
    sp.HadamardProduct:      lambda r, e: reduce(E.hadamard, r.args(e)),
    sp.HadamardPower:        lambda r, e: E.elem_power(r.read(e.base), _exponent(e.exp)),
    sp.KroneckerProduct:     lambda r, e: reduce(E.kron, r.args(e)),
    DiagMatrix:              lambda r, e: E.diag(r.read(e.args[0])),
    DiagonalOf:              lambda r, e: E.diag(r.read(e.args[0])),
    DotProduct:              _Reader.dot,
    ElementwiseApplyFunction: _Reader.applied,
    MatrixElement:           _Reader.entry,
    sp.Function:             _Reader.function,
}
# fmt: on


@user_errors
def from_sympy(expr, declare: dict | None = None) -> E.Expr:
    """A SymPy matrix expression as a matcalc expression, which ``gradient``, ``hessian``,
    ``jacobian`` and ``hvp`` take in place of text.  A ``MatrixSymbol`` keeps its name and
    sizes (a size named n stays n; numbers stay numbers); a SymPy ``Symbol`` is a scalar.
    ``declare`` gives kinds as for text (``{"S": "symmetric"}``)."""
    if isinstance(expr, str):
        raise MatcalcError("from_sympy takes a SymPy expression; give text to gradient, hessian, jacobian or hvp "
                           "directly")
    if not isinstance(expr, sp.Basic):
        raise MatcalcError(f"from_sympy takes a SymPy expression, got {type(expr).__name__}")
    sizes = frozenset().union(*(sp.Tuple(*node.shape).free_symbols for node in sp.preorder_traversal(expr)
                                if isinstance(node, sp.MatrixExpr)))
    reader = _Reader(check_declarations(declare), sizes=sizes)
    out = reader.read(expr)
    unused = sorted(set(reader.declare) - set(reader.symbols))
    if unused:
        raise DeclarationError(f"from_sympy: declared {', '.join(unused)}, which the expression does not contain")
    return out


# ------------------------------------------------------------------ matcalc to SymPy


class _Writer:
    """One conversion: the SymPy symbol of each name and size, reused where ``like`` has one."""

    def __init__(self, like):
        self.like = {}
        for s in (like.atoms(sp.Symbol, sp.MatrixSymbol) if like is not None else ()):
            self.like[str(s.name)] = s
        self.memo: dict = {}

    def write(self, e: E.Expr):
        if e in self.memo:
            return self.memo[e]
        out = rule_for(WRITE, e, "to_sympy")(self, e)
        if E.is_scalar(e) and isinstance(out, sp.MatrixExpr):
            out = sp.Trace(out)  # SymPy scalars only multiply matrices: tr of a 1 x 1 matrix is its entry
        self.memo[e] = out
        return out

    def size(self, d):
        number, names = size_factors(d)
        found = [self.like.get(name) for name in names]
        return sp.Integer(number) * sp.Mul(*(f if isinstance(f, sp.Symbol) else
                                               sp.Symbol(name, integer=True, positive=True)
                                               for f, name in zip(found, names)))

    def symbol(self, e: E.Symbol):
        known = self.like.get(e.name)
        if E.is_scalar(e):
            return known if isinstance(known, sp.Symbol) else sp.Symbol(e.name)
        shape = tuple(self.size(d) for d in e.dims)
        if isinstance(known, sp.MatrixSymbol) and known.shape == shape:
            return known
        return sp.MatrixSymbol(e.name, *shape)

    def kids(self, e: E.Expr) -> list:
        return [self.write(k) for k in e.children()]

    def apply(self, e: E.Apply):
        t = symbols()[0]
        params = dict(zip(param_symbols(len(e.params)), (self.write(p) for p in e.params)))
        definition = FUNCTIONS[e.fn].definition
        arg = self.write(e.arg)
        if not isinstance(arg, sp.MatrixExpr):
            return definition.xreplace({t: arg, **params})  # at once: a value may hold a symbol named like t
        return arg.applyfunc(sp.Lambda(t, definition.xreplace(params)))

    def diagonal(self, e: E.DiagVector):
        """diag(M) as (I .* M) 1: SymPy's DiagonalOf fails once its sizes are numbers (SymPy 1.14)."""
        m = self.write(e.arg)
        return sp.hadamard_product(sp.Identity(m.shape[0]), m) * sp.OneMatrix(m.shape[0], 1)

    def sum_entries(self, e: E.Sum):
        u = self.write(e.arg)
        if not isinstance(u, sp.MatrixExpr):
            return u
        rows, cols = u.shape
        return sp.Trace(sp.OneMatrix(1, rows) * u * sp.OneMatrix(cols, 1))

    def hadamard(self, e: E.Hadamard):
        kids = self.kids(e)
        return sp.Mul(*kids) if E.is_scalar(e) else sp.hadamard_product(*kids)

    def elem_power(self, e: E.ElemPower):
        base, p = self.write(e.arg), _rational(e.exponent)
        return base**p if not isinstance(base, sp.MatrixExpr) else sp.HadamardPower(base, p)

    def norm(self, e: E.Norm):
        u = self.write(e.arg)
        return sp.Abs(u) if not isinstance(u, sp.MatrixExpr) else sp.sqrt(sp.Trace(u.T * u))

    # operations along an axis, written as matcalc.axes writes them: sums along an axis are
    # products with ones, and a value per row or column is repeated back across them the same way
    @staticmethod
    def _sums(u, axis):
        rows, cols = u.shape
        if axis is None:
            return sp.Trace(sp.OneMatrix(1, rows) * u * sp.OneMatrix(cols, 1))
        return u * sp.OneMatrix(cols, 1) if axis == 2 else sp.OneMatrix(1, rows) * u

    @staticmethod
    def _repeated(c, axis, shape):
        rows, cols = shape
        if axis is None:
            return c * sp.OneMatrix(rows, cols)
        return c * sp.OneMatrix(1, cols) if axis == 2 else sp.OneMatrix(rows, 1) * c

    @staticmethod
    def _count(u, axis):
        rows, cols = u.shape
        return rows * cols if axis is None else cols if axis == 2 else rows

    @staticmethod
    def _elementwise(fn, u):
        return u.applyfunc(fn) if isinstance(u, sp.MatrixExpr) else fn(u)

    def softmax(self, e: E.Softmax):
        z = self.write(e.arg).applyfunc(sp.exp)
        if z.shape[1] == 1 and e.axis == 1:
            return z / sp.Trace(sp.OneMatrix(1, z.shape[0]) * z)
        return sp.hadamard_product(z, sp.HadamardPower(self._repeated(self._sums(z, e.axis), e.axis, z.shape), -1))

    def logsumexp(self, e: E.LogSumExp):
        z = self.write(e.arg).applyfunc(sp.exp)
        return self._elementwise(sp.log, self._sums(z, e.axis))

    def logsoftmax(self, e: E.LogSoftmax):
        u = self.write(e.arg)
        lse = self._elementwise(sp.log, self._sums(u.applyfunc(sp.exp), e.axis))
        return u - self._repeated(lse, e.axis, u.shape)

    def mean(self, e: E.Mean):
        u = self.write(e.arg)
        return self._sums(u, e.axis) / self._count(u, e.axis)

    def var(self, e: E.Var):
        u = self.write(e.arg)
        c = u - self._repeated(self._sums(u, e.axis) / self._count(u, e.axis), e.axis, u.shape)
        return self._sums(sp.HadamardPower(c, 2), e.axis) / self._count(u, e.axis)

    def std(self, e: E.Std):
        return self._elementwise(sp.sqrt, self.var(e))

    def count(self, e: E.Count):
        return self.size(e.n)


def _rational(value: Fraction):
    return sp.Rational(value.numerator, value.denominator)


def _matrix_or_scalar(matrix, scalar):
    """A rule that writes a matrix node one way and its 1 x 1 case as a SymPy scalar another."""
    return lambda w, e: scalar(w, e) if E.is_scalar(e) else matrix(w, e)


# fmt: off
WRITE = {
    E.Symbol:     _Writer.symbol,
    E.Const:      lambda w, e: _rational(e.value),
    E.Identity:   lambda w, e: sp.Identity(w.size(e.n)),
    E.Ones:       lambda w, e: sp.OneMatrix(*(w.size(d) for d in e.dims)),
    E.Zero:       _matrix_or_scalar(lambda w, e: sp.ZeroMatrix(*(w.size(d) for d in e.dims)), lambda w, e: sp.Integer(0)),
    E.Add:        lambda w, e: reduce(lambda a, b: a + b, w.kids(e)),
    E.MatMul:     lambda w, e: sp.MatMul(*w.kids(e)),
    E.Scale:      lambda w, e: sp.Mul(*w.kids(e)) if E.is_scalar(e) else sp.MatMul(*w.kids(e)),
    E.Transpose:  lambda w, e: w.kids(e)[0] if E.is_scalar(e.arg) else sp.Transpose(w.kids(e)[0]),
    E.Hadamard:   _Writer.hadamard,
    E.Kron:       lambda w, e: sp.KroneckerProduct(*w.kids(e)),
    E.Trace:      lambda w, e: sp.Trace(w.kids(e)[0]) if isinstance(w.kids(e)[0], sp.MatrixExpr) else w.kids(e)[0],
    E.Sum:        _Writer.sum_entries,
    E.DiagMatrix: lambda w, e: DiagMatrix(w.kids(e)[0]),
    E.DiagVector: _Writer.diagonal,
    E.Inverse:    _matrix_or_scalar(lambda w, e: sp.Inverse(w.kids(e)[0]), lambda w, e: 1 / w.kids(e)[0]),
    E.MatPower:   lambda w, e: sp.MatPow(w.kids(e)[0], e.exponent),
    E.Power:      lambda w, e: w.kids(e)[0] ** _rational(e.exponent),
    E.ElemPower:  _Writer.elem_power,
    E.Apply:      _Writer.apply,
    E.Det:        lambda w, e: sp.Determinant(w.kids(e)[0]),
    E.LogDet:     lambda w, e: sp.log(sp.Determinant(w.kids(e)[0])),
    E.Norm:       _Writer.norm,
    E.Softmax:    _Writer.softmax,
    E.LogSumExp:  _Writer.logsumexp,
    E.LogSoftmax: _Writer.logsoftmax,
    E.Mean:       _Writer.mean,
    E.Var:        _Writer.var,
    E.Std:        _Writer.std,
    E.Count:      _Writer.count,
}
# fmt: on
# vec(X) and the commutation matrix K have no SymPy matrix expression (sizes may be symbolic):
# a Hessian with respect to a matrix holding them is refused by rule_for, naming the node.
NOT_WRITTEN = {E.Vec, E.Commutation}


@user_errors
def to_sympy(e: E.Expr, like=None):
    """A matcalc expression as a SymPy matrix expression (a SymPy scalar when it is 1 x 1).
    ``like``: a SymPy expression whose symbols and sizes are reused by name (the one the
    function was read from), so that the result is in the same symbols."""
    if like is not None and not isinstance(like, sp.Basic):
        raise MatcalcError(f"to_sympy: like is a SymPy expression, got {type(like).__name__}")
    return _Writer(like).write(e)
