"""A scalar function as an objective for ``scipy.optimize.minimize``: ``fun``, ``jac``, ``hess``
and ``hessp`` on flat parameter vectors, generated from one derivation.

The text is read once; the gradients come from one reverse walk, and the Hessian and the
Hessian applied to a direction are both derived from those gradients (the Jacobian of the
gradient, and its differential with dX replaced by the direction), each only when first asked
for, so that ``fun`` and ``jac`` alone never pay for second derivatives.

Parameters are flattened **column-major**, the order of matcalc's vec(X): a matrix variable W
is the vector vec(W) = [W[:, 0]; W[:, 1]; ...], NumPy's ``W.ravel(order="F")``, so that the
Hessian is exactly the matrix matcalc derives, d vec(grad f) / d vec(W)^T, with no permutation.
Several variables are concatenated in the order given.  ``pack`` and ``unpack`` convert.
"""

from __future__ import annotations

import itertools
from functools import cached_property

import numpy as np

from . import expr as E
from . import kinds, pipeline
from .api import Result
from .differential import differential
from .errors import DeclarationError, DerivativeError, MatcalcError, ShapeError
from .evaluate import as_matrix, bind_sizes, size_of
from .guard import user_errors
from .shapes import size_factors
from .simplify import simplify
from .verify import symbols_of

# The methods of scipy.optimize.minimize that take second derivatives, and which form they use:
# the Hessian applied to a vector where the method accepts it (never a dense matrix), else the matrix.
SECOND_ORDER = {"newton-cg": "hessp", "trust-ncg": "hessp", "trust-krylov": "hessp", "trust-constr": "hessp",
                "dogleg": "hess", "trust-exact": "hess"}


def generated(result: Result):
    """The generated function of a result: keyword arguments by name, NumPy arrays out.  Every
    value the objective computes goes through here, or through ``Result.at`` for ``hessp``."""
    return result.to_numpy()


class Objective:
    """``fun(x)``, ``jac(x)``, ``hess(x)`` and ``hessp(x, p)`` of a scalar function of the variables
    ``wrt`` at the flat parameter vector x (column-major vec of each variable, concatenated),
    the other names fixed at ``values``.  Made by ``objective``."""

    def __init__(self, program, variables: list[E.Symbol], constants: dict, shapes: dict):
        self.function = program.function
        self.program = program
        self.variables = variables
        self.constants = constants  # name -> 2-D array
        self.shapes = shapes  # variable name -> (rows, cols)
        self.sizes = [rows * cols for rows, cols in shapes.values()]
        self.size = sum(self.sizes)  # the length of x
        self._point = None  # (x, the Hessian's row blocks there as functions of the directions)

    def __repr__(self):
        return f"<Objective f = {pipeline.function_text(self.program)}, x = {self._layout()}>"

    def _layout(self) -> str:
        """What x holds, in words: vec(W1) (6) then vec(b1) (2)."""
        return " then ".join(f"vec({x.name}) ({n})" for x, n in zip(self.variables, self.sizes))

    # ------------------------------------------------ flat vectors and variables

    @user_errors
    def pack(self, values) -> np.ndarray:
        """The flat x of the variables' values: an array for one variable, a dict (or a sequence
        in the order of ``wrt``) for several."""
        if len(self.variables) == 1 and not isinstance(values, dict):
            values = {self.variables[0].name: values}
        elif not isinstance(values, dict):
            values = dict(zip([x.name for x in self.variables], values))
        missing = [x.name for x in self.variables if x.name not in values]
        if missing:
            raise MatcalcError(f"pack needs a value for {', '.join(missing)}")
        parts = []
        for x in self.variables:
            rows, cols = self.shapes[x.name]
            a = as_matrix(x.name, values[x.name], x)
            if a.shape != (rows, cols):
                raise ShapeError(f"the value of {x.name} has shape {np.shape(values[x.name])}; "
                                 f"expected {_shape_text(x, rows, cols)}")
            parts.append(a.ravel(order="F"))
        return np.concatenate(parts).astype(float)

    @user_errors
    def unpack(self, x) -> dict:
        """{name: value} of a flat x: a scalar as a float, a vector as (n,), a matrix as (rows, cols)."""
        out = {}
        for symbol, part in zip(self.variables, self._split(x, "x")):
            out[symbol.name] = float(part[0, 0]) if E.is_scalar(symbol) else (
                part[:, 0].copy() if symbol.dims[1] == 1 else part.copy())
        return out

    def _flat(self, x, argument: str) -> np.ndarray:
        a = np.asarray(x)
        if a.dtype.kind not in "fiu":
            raise ShapeError(f"{argument} must be a real array, got dtype {a.dtype}")
        if a.ndim != 1 or a.size != self.size:
            raise ShapeError(f"{argument} must be a 1-D array of {self.size} entries ({self._layout()}, column-major: "
                             f"use pack), got shape {a.shape}")
        return a.astype(float, copy=False)

    def _split(self, x, argument: str) -> list[np.ndarray]:
        """The variables' 2-D values in a flat vector."""
        flat, parts, start = self._flat(x, argument), [], 0
        for symbol, n in zip(self.variables, self.sizes):
            parts.append(flat[start:start + n].reshape(self.shapes[symbol.name], order="F"))
            start += n
        return parts

    def _values(self, x) -> dict:
        return self.constants | {s.name: v for s, v in zip(self.variables, self._split(x, "x"))}

    def _column(self, out, symbol: E.Symbol) -> np.ndarray:
        """A derivative shaped like ``symbol``'s value, as its column-major vec."""
        return np.reshape(np.asarray(out, dtype=float), self.shapes[symbol.name]).ravel(order="F")

    # ------------------------------------------------ the derivatives, each derived when first used

    @cached_property
    def _fun(self):
        # the function's own value, generated as a result's is (its expression is the function)
        return generated(Result(self.function, self.variables[0], self.function, "jacobian", program=self.program))

    @cached_property
    def gradients(self) -> dict:
        """{variable: gradient expression}, from one reverse walk."""
        return pipeline.gradients(self.function, self.variables)

    @cached_property
    def _jac(self):
        return [generated(Result(self.function, x, g, program=self.program)) for x, g in self.gradients.items()]

    @cached_property
    def _hess(self):
        """Block (i, j) of the Hessian: d vec(grad_i f) / d vec(x_j)^T, the Jacobian of a gradient."""
        blocks = []
        for x in self.variables:
            g = self.gradients[x]
            blocks.append([generated(Result(self.function, y, pipeline.jacobian(g, y), "hessian", of=g,
                                            program=self.program, row=x)) for y in self.variables])
        return blocks

    @cached_property
    def directions(self) -> list[E.Symbol]:
        """A direction along each variable: the p of hessp, split like x."""
        taken, out = {s.name for s in self.function.free if isinstance(s, E.Symbol)}, []
        for x in self.variables:
            candidates = itertools.chain([f"d{x.name}"], (f"d{x.name}{i}" for i in itertools.count(2)))
            name = next(n for n in candidates if n not in taken)
            taken.add(name)
            out.append(pipeline.direction(self.program, x, name))
        return out

    @cached_property
    def _hessp(self):
        """H[D] along every variable together: the differential of each gradient with each dX
        replaced by its direction (the one-variable case is ``matcalc.hvp``), one Result per
        variable, linear in all the directions."""
        differentials = [E.Differential(x) for x in self.variables]
        out = []
        for x, direction in zip(self.variables, self.directions):
            g = self.gradients[x]
            h = differential(g, self.variables)
            for dx, d in zip(differentials, self.directions):
                h = pipeline.substitute(h, dx, d)
            out.append(Result(self.function, x, simplify(h), "hvp", of=g, program=self.program, direction=direction,
                              directions=self.directions))
        return out

    def _at(self, x) -> list:
        """The Hessian's row blocks at x as functions of the directions (``Result.at``): what does
        not depend on them is computed once per point, as Newton-CG applies H many times at one x."""
        flat = self._flat(x, "x")
        if self._point is None or not np.array_equal(self._point[0], flat):
            values = self._values(flat)
            self._point = (flat.copy(), [r.at(values) for r in self._hessp])
        return self._point[1]

    # ------------------------------------------------ what scipy calls

    @user_errors
    def fun(self, x) -> float:
        """f(x)."""
        return float(np.reshape(self._fun(**self._values(x)), -1)[0])

    @user_errors
    def jac(self, x) -> np.ndarray:
        """The gradient at x, flattened as x is."""
        values = self._values(x)
        return np.concatenate([self._column(g(**values), s) for g, s in zip(self._jac, self.variables)])

    @user_errors
    def hess(self, x) -> np.ndarray:
        """The Hessian at x, (len(x), len(x)), rows and columns in the order of x."""
        values = self._values(x)
        return np.block([[np.reshape(np.asarray(h(**values), dtype=float), (n, m)) for h, m in zip(row, self.sizes)]
                         for row, n in zip(self._hess, self.sizes)])

    @user_errors
    def hessp(self, x, p) -> np.ndarray:
        """The Hessian at x applied to p (flattened as x is), without forming the Hessian; called
        again at the same x, only what depends on p is computed."""
        directions = {d.name: v for d, v in zip(self.directions, self._split(p, "p"))}
        return np.concatenate([self._column(h(**directions), s) for h, s in zip(self._at(x), self.variables)])

    @user_errors
    def hess_operator(self, x):
        """The Hessian at x as a ``scipy.sparse.linalg.LinearOperator`` (len(x) x len(x), symmetric),
        its product with a vector ``hessp`` at x: what ``trust-constr``'s ``hess`` and SciPy's Krylov
        solvers (``cg``, ``minres``) take."""
        try:
            from scipy.sparse.linalg import LinearOperator
        except ImportError:
            raise MatcalcError("scipy is not installed: pip install 'matcalc[scipy]' or pip install scipy") from None
        x = self._flat(x, "x").copy()
        self._at(x)  # now, so that a bad point fails here

        def matvec(p):
            return self.hessp(x, np.reshape(p, -1))

        return LinearOperator((self.size, self.size), matvec=matvec, rmatvec=matvec, dtype=float)

    @user_errors
    def minimize(self, x0, method: str = "trust-ncg", **options):
        """``scipy.optimize.minimize`` from x0 (flat, or the variables' values as ``pack`` takes
        them), with the derivatives the method uses: jac always, and hessp or hess for the
        methods that take second derivatives."""
        try:
            from scipy.optimize import minimize
        except ImportError:
            raise MatcalcError("scipy is not installed: pip install 'matcalc[scipy]' or pip install scipy") from None
        start = np.asarray(x0, dtype=float) if np.ndim(x0) == 1 and np.size(x0) == self.size else self.pack(x0)
        second = SECOND_ORDER.get(str(method).lower())
        derivatives = {"jac": self.jac} | ({second: getattr(self, second)} if second else {})
        return minimize(self.fun, start, method=method, **derivatives, **options)


def _shape_text(x: E.Symbol, rows: int, cols: int) -> str:
    return "a number" if E.is_scalar(x) else (f"({rows},) or ({rows}, 1)" if cols == 1 else f"({rows}, {cols})")


def _shapes(variables: list[E.Symbol], sizes: dict, given: dict) -> dict:
    """(rows, cols) of every variable: its sizes read from the values, or else from ``shapes``."""
    asked = {}
    for x in variables:
        if x.name in given:
            if not _is_shape(given[x.name]):
                raise ShapeError(f"shapes[{x.name!r}] must be a tuple of positive sizes, got {given[x.name]!r:.60}")
            asked[x.name] = as_matrix(x.name, np.zeros(given[x.name]), x).shape
            for d, actual in zip(x.dims, asked[x.name]):
                if isinstance(d, str):
                    sizes.setdefault(d, actual)
    out = {}
    for x in variables:
        if any(name not in sizes for d in x.dims for name in size_factors(d)[1]):
            raise ShapeError(f"the shape of {x.name} is not fixed by the values: give it, "
                             f"e.g. shapes={{{x.name!r}: {(3,) if x.dims[1] == 1 else (3, 2)}}}")
        rows, cols = (size_of(d, sizes) for d in x.dims)
        if asked.get(x.name, (rows, cols)) != (rows, cols):
            raise ShapeError(f"shapes[{x.name!r}] is {given[x.name]}, but the values make {x.name} "
                             f"{_shape_text(x, rows, cols)}")
        out[x.name] = (rows, cols)
    return out


def _is_shape(shape) -> bool:
    return isinstance(shape, tuple) and len(shape) <= 2 and all(
        isinstance(n, (int, np.integer)) and not isinstance(n, bool) and n > 0 for n in shape)


@user_errors
def objective(expr, wrt, values: dict | None = None, declare: dict | None = None, shapes: dict | None = None):
    """The scalar function ``expr`` of the variables ``wrt`` (a name, or a list of names whose
    values are concatenated in that order), every other name fixed at ``values``, as an
    ``Objective`` whose ``fun``, ``jac``, ``hess`` and ``hessp`` ``scipy.optimize.minimize`` takes.
    A variable's shape is read from the values where they fix it, else from ``shapes``
    (``{"w": (3,)}``)."""
    program = pipeline.read(expr, declare)
    pipeline.require_scalar(program, "objective")
    names = [wrt] if isinstance(wrt, str) else wrt
    if not isinstance(names, (list, tuple)) or not all(isinstance(n, str) for n in names):
        raise DerivativeError(f"wrt is a name or a list of names, got {wrt!r:.60}")
    if len(set(names)) != len(names):
        raise DerivativeError(f"wrt names a variable twice: {', '.join(names)}")
    variables = pipeline.variables(program, names)
    for x in variables:
        if kinds.kind_of(x).symmetric and not E.is_scalar(x):
            raise DeclarationError(f"{x.name} is declared {x.kind}: an objective's variables are free entries; "
                                   f"optimize over a matrix and use its symmetric part, (W + W^T)/2")
    values = {} if values is None else values
    shapes = {} if shapes is None else shapes
    if not isinstance(values, dict) or not isinstance(shapes, dict):
        raise MatcalcError("values and shapes are dicts keyed by name")
    symbols = {s.name: s for s in (*program.symbols, *symbols_of(program.function))}
    needed = {s.name for s in symbols_of(program.function)} - set(names)  # those that cancel need no value
    for name in values:
        if name in names:
            raise MatcalcError(f"{name} is a variable: give its starting point to minimize (x0), not in values")
        if name not in symbols:
            raise MatcalcError(f"values give {name}, which {pipeline.function_text(program)} does not contain")
    for name in shapes:
        if name not in names:
            raise MatcalcError(f"shapes give {name}, which is not a variable of the objective ({', '.join(names)})")
    missing = sorted(needed - set(values))
    if missing:
        raise MatcalcError(f"missing values for {', '.join(missing)} (every name but the variables is a constant)")
    arrays = {name: as_matrix(name, value, symbols[name]) for name, value in values.items()}
    for name, a in arrays.items():
        if a.dtype.kind == "c":
            raise ShapeError(f"the value of {name} is complex: an objective is a real function of real values")
    sizes = bind_sizes([symbols[name] for name in arrays], arrays)
    return Objective(program, variables, arrays, _shapes(variables, sizes, shapes))
