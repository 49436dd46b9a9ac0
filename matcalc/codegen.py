"""Code generation: one Python source per derivative for every array library, shared subexpressions computed once.

The generated function takes its array namespace from its arguments (NumPy's own for NumPy
arrays, any other library's through ``array_api_compat``, see ``codegen_runtime``) and calls
only the array API standard and its linalg extension, so the same source runs on NumPy,
PyTorch, JAX (under ``jax.jit`` and ``jax.vmap`` too), CuPy, Dask (lazily) and
``array_api_strict``.  Every value is a 2-D array, as in ``evaluate``, of the arguments'
dtype and device.  Besides one line per node type (``CODE``), the generator uses what it
knows of the structure: ``A^-1 B`` becomes ``solve(A, B)``, ``diag(v) M`` a broadcast
product ``v * M`` (never a dense diagonal matrix), ``(A + B) v`` ``A v + B v`` (never the
sum), and a subexpression referred to more than once is assigned to a temporary.  Given
inputs that come later (a Hessian's direction), the source is split: a function of the other
inputs computes once what does not depend on the late ones (``A + A^T``, ``V^T V``) and
returns a function of the late inputs that computes the rest (partial evaluation).  Input
names are only ever used as string keys (``_args['x']``), as parameters and as ``v_x``
identifiers, which the grammar restricts to letters, digits and underscores.
"""

from __future__ import annotations

import inspect
import keyword
import re
from fractions import Fraction
from math import isinf

from . import codegen_runtime
from . import expr as E
from .cse import _references
from .errors import MatcalcError, UnsupportedError
from .evaluate import as_float
from .functions import numpy_source
from .registry import describe
from .shapes import is_one, size_factors

BACKENDS = ("numpy", "jax", "array-api")  # one source serves all (its namespace comes from its arguments)

# Inside generated code ``xp`` is the namespace of the arguments, ``dt`` their floating dtype and
# ``dev`` their device: every array the code creates takes dt and dev, so float32 stays float32
# and a tensor on a GPU meets only tensors there.  Calls are the array API standard's (and its
# linalg extension); a helper does what the standard lacks.
# fmt: off
CODE = {
    E.Transpose:  "{0}.T",
    E.MatPower:   "_matrix_power(xp, {0}, {e.exponent})",
    E.Inverse:    "_inv(xp, {0})",
    E.Det:        "_det(xp, {0})",
    E.LogDet:     "_logdet(xp, {0})",
    E.Trace:      "xp.reshape(xp.linalg.trace({0}), (1, 1))",
    E.Sum:        "xp.reshape(xp.sum({0}), (1, 1))",
    E.Norm:       "xp.reshape(xp.sqrt(xp.sum({0} * {0})), (1, 1))",
    E.DiagMatrix: "_diag_matrix(xp, {0})",
    E.DiagVector: "xp.reshape(xp.linalg.diagonal({0}), (-1, 1))",
    E.Vec:        "xp.reshape({0}.T, (-1, 1))",
    E.Kron:       "_kron(xp, {0}, {1})",
    E.Mean:       "xp.mean({0}, axis={e.numpy_axis}, keepdims=True)",
}
# fmt: on

# Helpers: each emitted once into a source whose code calls it (by the name before "("), after
# the helpers it calls itself.  Where a library lacks an operation of the standard (Dask: det,
# slogdet, matrix_power), the helper says so and does it another way for that library only.
HELPER_SOURCE = {
    "_on_one_block": (
        "def _on_one_block(a, fn):\n"
        "    # dask.array has no det or slogdet: fn (NumPy's, of a square matrix) on it as one block, lazily\n"
        "    return a.rechunk(a.shape).map_blocks(lambda b: _numpy.reshape(fn(b), (1, 1)), chunks=((1,), (1,)),\n"
        "                                         dtype=a.dtype)\n"
    ),
    "_inv": (
        "def _inv(xp, a):\n"
        "    if _is_dask(xp):  # dask.array's inv needs square chunks: the matrix as one block\n"
        "        return a.rechunk(a.shape).map_blocks(_numpy.linalg.inv, dtype=a.dtype)\n"
        "    return xp.linalg.inv(a)\n"
    ),
    "_solve": (
        "def _solve(xp, a, b):\n"
        "    if _is_dask(xp):  # dask.array's solve needs square chunks: each matrix as one block\n"
        "        return b.rechunk(b.shape).map_blocks(lambda bb, aa: _numpy.linalg.solve(aa, bb), a.rechunk(a.shape),\n"
        "                                             dtype=b.dtype)\n"
        "    return xp.linalg.solve(a, b)\n"
    ),
    "_det": (
        "def _det(xp, a):\n"
        "    if _is_dask(xp):\n"
        "        return _on_one_block(a, _numpy.linalg.det)\n"
        "    return xp.reshape(xp.linalg.det(a), (1, 1))\n"
    ),
    "_logdet": (
        "def _logdet(xp, a):\n"
        "    # from slogdet: det overflows long before its logarithm does; log(sign) is 0 for a positive\n"
        "    # determinant and nan for a negative one, as log(det) would be\n"
        "    if _is_dask(xp):\n"
        "        return _on_one_block(a, lambda b: _numpy.log(_numpy.linalg.slogdet(b)[0]) + _numpy.linalg.slogdet(b)[1])\n"
        "    sign, logabsdet = xp.linalg.slogdet(a)\n"
        "    return xp.reshape(xp.log(sign) + logabsdet, (1, 1))\n"
    ),
    "_matrix_power": (
        "def _matrix_power(xp, a, k):\n"
        "    if hasattr(xp.linalg, 'matrix_power'):  # not on Dask: products of the matrix\n"
        "        return xp.linalg.matrix_power(a, k)\n"
        "    if k == 0:\n"
        "        return xp.eye(a.shape[0], dtype=a.dtype, device=_device(a))\n"
        "    out = base = a if k > 0 else _inv(xp, a)\n"
        "    for _ in range(abs(k) - 1):\n"
        "        out = out @ base\n"
        "    return out\n"
    ),
    "_diag_matrix": (
        "def _diag_matrix(xp, v):\n"
        "    return v * xp.eye(v.shape[0], dtype=v.dtype, device=_device(v))\n"
    ),
    "_kron": (
        "def _kron(xp, a, b):\n"
        "    (m, n), (p, q) = a.shape, b.shape\n"
        "    return xp.reshape(xp.reshape(a, (m, 1, n, 1)) * xp.reshape(b, (1, p, 1, q)), (m * p, n * q))\n"
    ),
    "_commutation": (
        "def _commutation(xp, rows, cols, dt, dev):\n"
        "    k = xp.reshape(xp.reshape(xp.arange(rows * cols, device=dev), (cols, rows)).T, (-1,))\n"
        "    return xp.take(xp.eye(rows * cols, dtype=dt, device=dev), k, axis=0)\n"
    ),
    # the nodes along an axis: NumPy's axis (from 0) after their argument; shifted by the largest
    # entry along it, so that exp never overflows
    "_softmax": (
        "def _softmax(xp, u, axis):\n"
        "    z = xp.exp(u - xp.max(xp.real(u), axis=axis, keepdims=True))\n"
        "    return z / xp.sum(z, axis=axis, keepdims=True)\n"
    ),
    "_logsumexp": (
        "def _logsumexp(xp, u, axis):\n"
        "    m = xp.max(xp.real(u), axis=axis, keepdims=True)\n"
        "    return m + xp.log(xp.sum(xp.exp(u - m), axis=axis, keepdims=True))\n"
    ),
    "_logsoftmax": (
        "def _logsoftmax(xp, u, axis):\n"
        "    m = xp.max(xp.real(u), axis=axis, keepdims=True)\n"
        "    return u - m - xp.log(xp.sum(xp.exp(u - m), axis=axis, keepdims=True))\n"
    ),
    "_var": (
        "def _var(xp, u, axis):\n"
        "    c = u - xp.mean(u, axis=axis, keepdims=True)\n"
        "    return xp.mean(c * c, axis=axis, keepdims=True)\n"
    ),
    "_std": (
        "def _std(xp, u, axis):\n"
        "    c = u - xp.mean(u, axis=axis, keepdims=True)\n"
        "    return xp.sqrt(xp.mean(c * c, axis=axis, keepdims=True))\n"
    ),
    # A^T diag(w) A: with non-negative weights it is B^T B for B = sqrt(w) .* A, which NumPy's
    # matmul computes with one symmetric rank-k update (BLAS syrk: half the flops of a product,
    # an exactly symmetric result) when both operands are the same array; a plain product
    # otherwise, and on other libraries, where testing w would force a lazy or traced value.
    "_weighted_gram": (
        "def _weighted_gram(xp, a, w):\n"
        "    if xp is _numpy and w.dtype.kind == 'f' and (w >= 0).all():\n"
        "        b = xp.sqrt(w) * a\n"
        "        return b.T @ b\n"
        "    return a.T @ (w * a)\n"
    ),
    # (A + A^T) v, the Hessian of a quadratic form applied to a direction: two products read A
    # twice from memory; by blocks of rows each block serves A v and A^T v while it is in the
    # cache.  NumPy only (it writes into an array); on other libraries the two products.
    # Blocks of about 8 MiB, which stay in the last-level cache between the two products (measured
    # at n = 10^4: 2 MiB blocks no faster than the two products, 4 to 8 MiB 1.5x faster).
    "_sum_with_transpose_times": (
        "def _sum_with_transpose_times(xp, a, v):\n"
        "    if xp is not _numpy:  # A^T v as (v^T A)^T, which no library forms A^T for\n"
        "        return a @ v + (v.T @ a).T\n"
        "    out = xp.zeros((a.shape[0], v.shape[1]), dtype=xp.result_type(a, v))\n"
        "    rows = max(8, 2**23 // (a.itemsize * a.shape[1]))\n"
        "    for i in range(0, a.shape[0], rows):\n"
        "        block = a[i:i + rows]\n"
        "        out[i:i + rows] += block @ v\n"
        "        out += block.T @ v[i:i + rows]\n"
        "    return out\n"
    ),
    # A + A^T formed (the Hessian of a quadratic form, at a point): NumPy reads the transposed
    # operand by strides that miss the cache at every element (seconds at n = 10^4); by square
    # tiles, each tile and its mirror are read once.  NumPy only (it writes into an array).
    "_sum_with_transpose": (
        "def _sum_with_transpose(xp, a, tile=512):\n"
        "    if xp is not _numpy:\n"
        "        return a + a.T\n"
        "    out = xp.empty(a.shape, dtype=a.dtype)\n"
        "    for i in range(0, a.shape[0], tile):\n"
        "        for j in range(0, a.shape[1], tile):\n"
        "            xp.add(a[i:i + tile, j:j + tile], a[j:j + tile, i:i + tile].T, out=out[i:i + tile, j:j + tile])\n"
        "    return out\n"
    ),
    # L R1, L R2, ... of one left factor: one product of L with the right factors side by side
    # reads L once, and BLAS is faster on one product of k1 + k2 columns than on two of k1 and k2
    # (a 20000 x 10000 L times 10 + 10 columns: 210 ms against 2 x 180 ms); worth the copy of the
    # right factors only when L is much the larger.  Not on Dask, whose shapes may be unknown.
    "_products_side_by_side": (
        "def _products_side_by_side(xp, left, *rights):\n"
        "    if _is_dask(xp) or left.shape[0] * left.shape[1] < 4 * sum(r.shape[0] * r.shape[1] for r in rights):\n"
        "        return tuple(left @ r for r in rights)\n"
        "    whole, start, out = left @ xp.concat(rights, axis=1), 0, []\n"
        "    for r in rights:\n"
        "        out.append(whole[:, start:start + r.shape[1]])\n"
        "        start += r.shape[1]\n"
        "    return tuple(out)\n"
    ),
    # S v for a symmetric S the code computed (A + A^T formed at the point): BLAS symv reads one
    # triangle, half the memory of a product.  NumPy with SciPy, real S and one column only.
    "_symmetric_times": (
        "def _symmetric_times(xp, s, v):\n"
        "    if xp is _numpy and v.shape[1] == 1 and s.dtype == v.dtype and s.dtype.char in 'fd' and s.ndim == 2:\n"
        "        try:\n"
        "            from scipy.linalg import blas\n"
        "        except ImportError:\n"
        "            return s @ v\n"
        "        symv = blas.dsymv if s.dtype.char == 'd' else blas.ssymv\n"
        "        if s.flags.f_contiguous or s.flags.c_contiguous:  # C order is the F order of s^T = s\n"
        "            return symv(1.0, s if s.flags.f_contiguous else s.T, v[:, 0])[:, None]\n"
        "    return s @ v\n"
    ),
}
HELPERS = {E.Softmax: "_softmax", E.LogSumExp: "_logsumexp", E.LogSoftmax: "_logsoftmax", E.Var: "_var", E.Std: "_std"}  # node types that are a helper of their argument


def runtime_source() -> str:
    """The text of ``codegen_runtime`` after its docstring: what every generated source starts with."""
    text = inspect.getsource(codegen_runtime)
    return text[text.index("import numpy as _numpy"):]


def _number(value: Fraction) -> str:
    x = as_float(value)
    if isinf(x):  # repr() would give inf, which is no Python literal
        return f"float('{x}')"
    return repr(x) if value.denominator != 1 else f"{value.numerator}.0"


class _Generator:
    def __init__(self, roots: dict, inputs: list[E.Symbol], late=()):
        self.inputs = inputs
        self.late = frozenset(late)
        self.lines: list[str] = []  # with late inputs, the lines of the function of them
        self.point: list[str] = []  # the lines computed once, before the late inputs are given
        self.names: dict = {s: f"v_{s.name}" for s in inputs}
        self.count = _references(list(roots.values()))
        self.temps = 0
        self.texts: dict = {}  # (at the point?, code) -> the temporary holding it
        self.side_by_side = _side_by_side(self.count, self.early)
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

    def early(self, *es: E.Expr) -> bool:
        """Whether the source is split and ``es`` hold no late input: computed once, at the point."""
        return bool(self.late) and not any(e.free & self.late for e in es)

    def scope(self, e: E.Expr) -> list[str]:
        """The lines that compute ``e``: once at the point when it is early, else each call."""
        return self.point if self.early(e) else self.lines

    def code(self, e: E.Expr) -> str:
        if e in self.names:
            return self.names[e]
        text = self.build(e)
        if e.children() and (self.early(e) or self.count.get(e, 0) >= 2):
            self.names[e] = self.temp(text, self.scope(e))
            return self.names[e]
        return text

    def temp(self, text: str, lines: list[str]) -> str:
        """``text`` assigned to a temporary among ``lines``, once (a name is left as it is)."""
        if text.isidentifier():
            return text
        key = (lines is self.point, text)  # the same code, from two nodes (s .* (1 - s) in two sums)
        if key not in self.texts:
            self.temps += 1
            self.texts[key] = f"t{self.temps}"
            lines.append(f"{self.texts[key]} = {text}")
        return self.texts[key]

    def joined(self, parts, op: str, code) -> str:
        """An n-ary sum or Hadamard product; when split, its parts without late inputs first, as
        one value computed at the point (the logistic weights y .^ 2 .* s .* (1 - s))."""
        early = [p for p in parts if self.early(p)]
        if len(early) < 2 or len(early) == len(parts):  # nothing to group, or all of it early
            return "(" + op.join(code(p) for p in parts) + ")"
        fixed = self.temp("(" + op.join(code(p) for p in early) + ")", self.point)
        return "(" + op.join([fixed, *(code(p) for p in parts if not self.early(p))]) + ")"

    def build(self, e: E.Expr) -> str:
        if isinstance(e, (E.MatMul, E.Add, E.Hadamard)):  # these look at their factors and terms themselves
            return getattr(self, "_" + type(e).__name__)(e, None)
        kids = [self.code(k) for k in e.children()]
        if type(e) in CODE:
            return CODE[type(e)].format(*kids, e=e)
        if type(e) in HELPERS:
            axis = [str(e.numpy_axis)] if isinstance(e, E.AlongAxis) else []
            return f"{HELPERS[type(e)]}(xp, {', '.join(kids + axis)})"
        method = getattr(self, "_" + type(e).__name__, None)
        if method is None:
            raise UnsupportedError(f"code generation for {describe(e)} is not supported")
        return method(e, kids)

    def _Symbol(self, e, kids):  # an input is named v_<name> before any code is built
        raise MatcalcError(f"{e.name} is not among the inputs of the generated function")

    def _Const(self, e, kids):
        return f"xp.full((1, 1), {_number(e.value)}, dtype=dt, device=dev)"

    def _Count(self, e, kids):
        return f"xp.full((1, 1), float({self.dim(e.n)}), dtype=dt, device=dev)"

    def _Identity(self, e, kids):
        return f"xp.eye({self.dim(e.n)}, dtype=dt, device=dev)"

    def _Ones(self, e, kids):
        return f"xp.ones(({self.dim(e.dims[0])}, {self.dim(e.dims[1])}), dtype=dt, device=dev)"

    def _Zero(self, e, kids):
        return f"xp.zeros(({self.dim(e.dims[0])}, {self.dim(e.dims[1])}), dtype=dt, device=dev)"

    def _Commutation(self, e, kids):
        return f"_commutation(xp, {self.dim(e.dims[0])}, {self.dim(e.dims[1])}, dt, dev)"

    def _Add(self, e, kids):  # ones, ones b^T, c ones^T: NumPy's broadcasting does the repeating
        if len(e.terms) == 2 and e.terms[1] == E.transpose(e.terms[0]) and not E.is_scalar(e):  # A + A^T
            return f"_sum_with_transpose(xp, {self.code(e.terms[0])})"
        return self.joined(e.terms, " + ", self.broadcast_term)

    def _MatMul(self, e, kids):
        if e in self.side_by_side:
            self.products_side_by_side(self.side_by_side[e])
            return self.names[e]
        return self.product(list(e.factors))

    def products_side_by_side(self, products: list[E.MatMul]) -> None:
        """L R1, L R2, ... (each of two factors) computed by one call, each named by a temporary."""
        lines = self.scope(products[0])
        rights = [self.code(p.factors[1]) for p in products]
        names = []
        for p in products:
            self.temps += 1
            self.names[p] = f"t{self.temps}"
            names.append(self.names[p])
        lines.append(f"{', '.join(names)} = _products_side_by_side(xp, {self.code(products[0].factors[0])}, "
                     f"{', '.join(rights)})")

    def _Scale(self, e, kids):
        coeff = _number(e.coeff.value) if isinstance(e.coeff, E.Const) else f"{kids[0]}[0, 0]"
        if isinstance(e.arg, E.Kron) and self.count.get(e.arg, 0) < 2:  # c (A kron B) = (c A) kron B
            return f"_kron(xp, {coeff} * {self.code(e.arg.left)}, {self.code(e.arg.right)})"
        return f"({coeff} * {kids[1]})"

    def _Hadamard(self, e, kids):
        return self.joined(e.factors, " * ", self.code)

    def _Power(self, e, kids):
        return f"({kids[0]} ** {_number(e.exponent)})"

    _ElemPower = _Power

    def _Apply(self, e, kids):
        stable = _log_form(e)
        if stable is not None:
            sign, u = stable
            return f"({sign}_f_softplus(xp, {sign}{self.code(u)}))"
        return f"_f_{e.fn}(xp, {', '.join(kids)})"

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
        products with a ones vector sums.  When split, a product without late inputs (the V^T V
        of 2 dU V^T V) is computed at the point."""
        return self.at_point(self.product_text(factors), *factors) if len(factors) > 1 else self.code(factors[0])

    def at_point(self, text: str, *es: E.Expr) -> str:
        """``text``, the code of a value made of ``es``; computed at the point when they are early."""
        return self.temp(text, self.point) if self.early(*es) else text

    def product_text(self, factors: list[E.Expr]) -> str:
        head, rest = factors[0], factors[1:]
        if not rest:
            return self.code(head)
        if len(rest) == 1 and isinstance(rest[0], E.Ones) and rest[0].shape[1] == 1:
            return f"xp.sum({self.code(head)}, axis=1, keepdims=True)"
        if isinstance(head, E.Ones) and head.shape[0] == 1 and len(rest) == 1:
            return f"xp.sum({self.code(rest[0])}, axis=0, keepdims=True)"
        if len(rest) == 2 and isinstance(rest[0], E.DiagMatrix) and head == E.transpose(rest[1]):
            # A^T diag(w) A: symmetric, half the work
            return f"_weighted_gram(xp, {self.code(rest[1])}, {self.code(rest[0].arg)})"
        if len(rest) == 1 and isinstance(rest[0], E.DiagMatrix):
            return f"({self.code(head)} * {self.code(rest[0].arg)}.T)"
        tail = self.product(rest)
        column = rest[-1].shape[1] == 1
        if self.distributes(head, rest):
            # (A + B) v = A v + B v: a product with a column per term costs less than forming A + B
            name = self.temp(tail, self.lines)  # computed once, used by every term
            first, *others = head.terms
            if others == [E.transpose(first)] and not isinstance(first, (E.Inverse, E.DiagMatrix)):
                return f"_sum_with_transpose_times(xp, {self.code(first)}, {name})"
            return "(" + " + ".join(self.times(term, name, column) for term in head.terms) + ")"
        return self.times(head, tail, column)

    def distributes(self, head: E.Expr, rest: list[E.Expr]) -> bool:
        """Whether the sum of matrices ``head`` is better applied term by term to the column the
        product ``rest`` makes than formed first (it is formed anyway where it is shared, or once
        at the point when the source is split)."""
        return (isinstance(head, E.Add) and rest[-1].shape[1] == 1 and self.count.get(head, 0) < 2
                and all(term.shape == head.shape for term in head.terms) and not E.is_scalar(head)
                and not self.early(head))

    def times(self, head: E.Expr, tail: str, column: bool = False) -> str:
        """``head`` times the value whose code is ``tail`` (a column when ``column``): a solve for an
        inverse (an inverse computed at the point, when split, is applied as a matrix), a broadcast
        product for a diagonal matrix, BLAS symv for a symmetric matrix the code computes."""
        if isinstance(head, E.Inverse) and not self.early(head):
            return f"_solve(xp, {self.code(head.arg)}, {tail})"
        if isinstance(head, E.Transpose) and isinstance(head.arg, E.Inverse) and not self.early(head):
            return f"_solve(xp, {self.code(head.arg.arg)}.T, {tail})"
        if isinstance(head, E.DiagMatrix):
            return f"({self.code(head.arg)} * {tail})"
        if column and not isinstance(head, E.Symbol) and not E.is_scalar(head) and E.is_symmetric(head):
            return f"_symmetric_times(xp, {self.code(head)}, {tail})"
        if column and isinstance(head, E.Transpose) and not E.is_scalar(head):
            # A^T v as (v^T A)^T: XLA (JAX on a CPU) forms the transpose of A for A.T @ v (the X^T r of
            # logistic regression's gradient 97 ms against 9.4 ms at X 6000 x 3000); NumPy alike
            return f"({tail}.T @ {self.code(head.arg)}).T"
        return f"({self.code(head)} @ {tail})"


def _side_by_side(count: dict, early) -> dict:
    """Products of two factors with one left factor in common, each to be computed with the others
    (``X W1`` and ``X dW1`` of a network's Hessian-vector product): a map from each product to
    its group, in the order met.  Only right factors of several columns (a matrix-vector product
    is faster alone than as a column of a matrix product), none holding another product of its
    group (which the group's one call would need before it is made), and one scope: computed at
    the point, or not."""
    groups: dict = {}
    for node in count:
        if not (isinstance(node, E.MatMul) and len(node.factors) == 2):
            continue
        left, right = node.factors
        solve = isinstance(left, E.Inverse) or (isinstance(left, E.Transpose) and isinstance(left.arg, E.Inverse))
        if solve or isinstance(left, (E.DiagMatrix, E.Ones)) or E.is_scalar(left):  # not made by a product
            continue
        if is_one(right.shape[1]) or isinstance(right, (E.Ones, E.DiagMatrix, E.Identity)):
            continue
        groups.setdefault((left, early(node)), []).append(node)
    found = {}
    for products in groups.values():
        alone = [p for p in products if not any(q is not p and _holds(p.factors[1], q) for q in products)]
        if len(alone) >= 2:
            found.update((p, alone) for p in alone)
    return found


def _holds(e: E.Expr, part: E.Expr) -> bool:
    """Whether ``part`` is a subexpression of ``e``."""
    stack, seen = [e], set()
    while stack:
        node = stack.pop()
        if node == part:
            return True
        if node not in seen:
            seen.add(node)
            stack.extend(node.children())
    return False


def _log_form(e: E.Expr):
    """log(1 + exp(u)) = softplus(u) and log(sigmoid(u)) = -softplus(-u), as (sign, u): the stable
    softplus never overflows, where exp(u) does for u > 709 and sigmoid(u) is 0 for u < -745."""
    if not (isinstance(e, E.Apply) and e.fn == "log"):
        return None
    arg = e.arg
    if isinstance(arg, E.Apply) and arg.fn == "sigmoid":
        return "-", arg.arg
    if isinstance(arg, E.Add) and len(arg.terms) == 2:
        ones = [t for t in arg.terms if isinstance(t, E.Ones) and t.shape == arg.shape]
        exps = [t for t in arg.terms if isinstance(t, E.Apply) and t.fn == "exp"]
        if ones and exps:
            return "", exps[0].arg
    return None


def source(roots: dict, inputs: list[E.Symbol], backend: str = "numpy", name: str = "derivative",
           like: dict | None = None, title: str = "", late: tuple = (), inner: str = "apply") -> str:
    """Source of ``def name(<inputs>)`` returning the value of each root (a dict when several),
    for arrays of any library of the array API standard.  Parameters are the inputs' names, in
    the order given (by position or by name); ``like`` maps a root's label to the input whose
    given shape it takes (a gradient is shaped like its variable); other roots are 2-D.  With
    ``late`` inputs, ``name`` takes the others, computes what does not depend on the late ones
    and returns ``def inner(<late>)``, which computes the rest."""
    if backend not in BACKENDS:
        raise MatcalcError(f"unknown backend {backend!r}: choose {', '.join(BACKENDS)} (one source serves them all)")
    like = like or {}
    gen = _Generator(roots, inputs, late)
    results = {label: gen.code(e) for label, e in roots.items()}
    early = [s for s in inputs if s not in gen.late]
    signature, body = _parameters(early)
    body += ["xp, dt, dev = _namespace(_args)", "sizes, shapes = {}, {}", *_checked(early), *gen.point]
    shaped = {label: f"xp.reshape({code}, shapes[{like[label]!r}])" if label in like else code
              for label, code in results.items()}
    if len(shaped) == 1:
        tail = [*gen.lines, f"return {next(iter(shaped.values()))}"]
    else:
        tail = [*gen.lines, "return {" + ", ".join(f"{label!r}: {code}" for label, code in shaped.items()) + "}"]
    if late:  # the function of the late inputs, the values computed so far its closure
        late_signature, late_body = _parameters(late)
        body += [f"def {inner}({late_signature}):", *("    " + line for line in [*late_body, *_checked(late), *tail]),
                 f"return {inner}"]
    else:
        body += tail
    doc = _docstring(roots, early, like, title, late)
    function = f"def {name}({signature}):\n{doc}\n" + "\n".join("    " + line for line in body) + "\n"
    return "\n\n".join(part.rstrip("\n") + "\n" for part in [runtime_source(), *_helpers(function), function])


def _parameters(inputs) -> tuple[str, list[str]]:
    """A function's parameters and the line binding them as ``_args``, a dict name -> value."""
    names = [s.name for s in inputs]
    if all(n.isidentifier() and not keyword.iskeyword(n) for n in names):
        return ", ".join(names), ["_args = {" + ", ".join(f"{n!r}: {n}" for n in names) + "}"]
    # a Python keyword (lambda) cannot be a parameter: positional and keyword arguments bound by name
    return "*args, **values", [f"_args = _bind({tuple(names)!r}, args, values)"]


def _checked(inputs) -> list[str]:
    """The lines taking each input as a checked 2-D array ``v_<name>``."""
    return [f"v_{s.name} = _input(xp, dt, dev, {s.name!r}, _args[{s.name!r}], {_dims(s)!r}, sizes, shapes)"
            for s in inputs]


def results_source(results: dict, name: str, backend: str = "numpy") -> str:
    """The source of one function computing several results ({label: Result} of one function,
    as the command line and the web page give them): a dict of their values."""
    from .printing import to_text

    first = next(iter(results.values()))
    inputs = sorted({s for r in results.values() for s in r.inputs()}, key=lambda s: s.name)
    like = {label: r.variable.name for label, r in results.items() if r.kind in ("gradient", "hvp")}
    title = f"{' and '.join(r.label for r in results.values())}, for f = {to_text(first.function)}."
    return source({label: r.expr for label, r in results.items()}, inputs, backend, name=name, like=like, title=title)


def _dims(s: E.Symbol) -> tuple:
    """A symbol's sizes as the generated code checks them: names, numbers, None for a product of sizes."""
    return tuple(d if isinstance(d, (int, str)) else None for d in s.dims)


def _shape_text(e: E.Expr) -> str:
    return "(" + ", ".join(str(d) for d in e.shape) + ")"


def _docstring(roots: dict, inputs: list[E.Symbol], like: dict, title: str, late=()) -> str:
    """Shapes and dtypes of the arguments and of the result (generated text only: sizes and names)."""
    def argument(s):
        if E.is_scalar(s):
            return "a number, or an array of shape () or (1, 1)"
        if s.dims[1] == 1:
            return f"a vector, shape ({s.dims[0]},) or ({s.dims[0]}, 1)"
        return f"a matrix, shape {_shape_text(s)}"

    def result(label, e):
        return f"shaped like {like[label]} as given" if label in like else _shape_text(e)

    if not title.isprintable() or set(title) & set('\\"'):  # the docstring holds only plain text
        title = ""
    lines = [title or "The value of a derivative.", "",
             "Arguments, by position in this order or by name (arrays of one library, NumPy, PyTorch, JAX,",
             "CuPy, Dask..., floating point; a number takes the arrays' dtype):"]
    lines += [f"    {s.name}: {argument(s)}" for s in inputs]
    if late:
        lines += ["Computes what does not depend on " + ", ".join(s.name for s in late) + " and returns a function",
                  "of " + ", ".join(s.name for s in late) + " alone (by position or by name, each of the arguments' library):"]
        lines += [f"    {s.name}: {argument(s)}" for s in late]
        lines.append("which computes the rest, each time it is called.")
    if len(roots) == 1:
        ((label, e),) = roots.items()
        lines.append(f"Returns an array of the arguments' library, dtype and device, {result(label, e)}.")
    else:
        lines.append("Returns a dict of arrays of the arguments' library, dtype and device:")
        lines += [f"    {label!r}: {result(label, e)}" for label, e in roots.items()]
    text = "\n".join(f"    {line}".rstrip() for line in lines)
    return f'    """{text.strip()}\n    """'


def _helpers(code: str) -> list[str]:
    """The helpers ``code`` calls, each once, after those it calls itself."""
    found: dict[str, str] = {}
    seen: set[str] = set()

    def visit(text: str) -> None:
        for called in re.findall(r"\b(_[A-Za-z0-9_]+)\(", text):
            if called in seen:
                continue
            seen.add(called)  # before its own text, which names it in its def line
            if called in HELPER_SOURCE:
                helper = HELPER_SOURCE[called]
            elif called.startswith("_f_"):
                helper = numpy_source(called[3:])
            else:
                continue  # the runtime's own
            visit(helper)
            found[called] = helper

    visit(code)
    return list(found.values())


def compile_source(text: str, name: str = "derivative"):
    """The function defined by generated source (ours only: never user text)."""
    namespace: dict = {}
    exec(compile(text, f"<matcalc {name}>", "exec"), namespace)  # noqa: S102 - generated code
    return namespace[name]
