"""The public entry points: ``gradient`` and the ``Result`` it returns."""

from __future__ import annotations

import math
from functools import cached_property

import numpy as np

from . import codegen, kinds, pipeline
from . import expr as E
from .expr.predicates import cached_on_node
from .cse import printed_length, share
from .errors import DerivativeError, DomainError, MatcalcError, ShapeError
from .evaluate import as_matrix, bind_sizes, evaluate, undefined_at
from .functions import describe_kinked, kink_of
from .guard import user_errors
from .parser import Program
from .printing import to_latex, to_text
from .shapes import shape_str  # noqa: F401
from .ties import tied_text
from .verify import CheckReport, check_derivative, symbols_of

SHARE_ABOVE = 160  # characters of plain output above which shared subexpressions get names

LABELS = {"gradient": ("grad", r"\nabla_{%s} f"), "hessian": ("hess", r"\nabla^2_{%s} f"),
          "jacobian": ("jac", r"J_{%s} f"), "hvp": ("hess", r"\nabla^2_{%s} f")}


class Result:
    """A derivative: its expression, and ways to print, evaluate and check it.

    ``of`` is what it is the derivative of: the function for a gradient or a Jacobian,
    the gradient for a Hessian.  ``definitions`` are the names the text defined,
    ``[(name, expression)]``, which printouts use (``cse.share``)."""

    def __init__(self, function: E.Expr, variable: E.Symbol, expr: E.Expr, kind: str = "gradient", of=None,
                 program: Program | None = None, direction: E.Symbol | None = None, row: E.Symbol | None = None,
                 directions: tuple = ()):
        self.function, self.variable, self.expr, self.kind = function, variable, expr, kind
        self.of = function if of is None else of
        self.direction = direction  # for the Hessian as a linear map (kind "hvp"): the D of H[D]
        # every direction H[...] is linear in (one per variable for an objective's rows)
        self.directions = tuple(directions) or ((direction,) if direction is not None else ())
        # for a block of a Hessian, d vec(grad_row f) / d vec(variable)^T: the gradient's variable
        self.row = variable if row is None else row
        program = program or Program(function)
        self.definitions = program.definitions
        self.symbols = program.symbols  # every symbol of the text, those that cancel included: their sizes bind
        cancelled = pipeline.cancelled(program, variable)
        self.notes = [*program.notes, *([cancelled] if cancelled else []), *_kinks(function if kind in ("gradient", "jacobian") else None),
                      *_notes(of if kind in ("hessian", "hvp") else None)]

    @property
    def shape(self):
        return self.expr.shape

    @property
    def label(self) -> str:
        applied = f"[{self.direction.name}]" if self.direction is not None else ""
        return f"{LABELS[self.kind][0]}_{self._names(lambda s: s.name)} f{applied}"

    @user_errors
    def __str__(self):
        return tied_text(self.expr)

    def __repr__(self):
        return f"{self.label} = {self}"

    @user_errors
    def shared(self) -> str:
        """The result as the command line prints it: when it is long, what it repeats named once
        (``z1 = softmax(t)``), and the text's own names, then ``label = ...`` in those names;
        str() writes it in full.  ``shared_form`` gives the definitions and the result as expressions."""
        return shared_text({self.variable.name: self})

    @user_errors
    def latex(self) -> str:
        return to_latex(self.expr)

    def label_latex(self, printer=to_latex) -> str:
        applied = f"[{printer(self.direction)}]" if self.direction is not None else ""
        return LABELS[self.kind][1] % self._names(printer) + applied

    def _names(self, printer) -> str:
        """The variable, or for an off-diagonal block of a Hessian both: ``W1,W2``."""
        if self.diagonal:
            return printer(self.variable)
        return f"{printer(self.row)},{printer(self.variable)}"

    @property
    def diagonal(self) -> bool:
        """Whether this is a derivative with respect to one variable (not an off-diagonal block)."""
        return self.row == self.variable

    def _repr_latex_(self) -> str:
        return f"${self.label_latex()} = {self.latex()}$"

    @user_errors
    def evaluate(self, values: dict, structured: bool = False):
        """The value at ``values`` (name -> array).  A gradient is shaped like the variable's given
        value, and so is a Hessian applied to a direction (``hvp``, the direction one more value);
        a Hessian is (n, n) for a vector and (mn, mn) in column-major vec order for a matrix;
        a Jacobian is (rows of vec F, rows of vec X).  With ``structured``, Kronecker products and
        commutation matrices stay operators (``op @ v``, ``op.dense()``) instead of dense matrices."""
        needed = {s.name: s for s in symbols_of(self.expr)}
        known = {s.name: s for s in (*self.symbols, *symbols_of(self.function))} | needed
        missing = sorted(set(needed) - set(values))
        if missing:
            raise MatcalcError(f"missing values for {', '.join(missing)}")
        arrays = {name: as_matrix(name, values[name], known[name]) for name in values if name in known}
        sizes = bind_sizes([known[n] for n in arrays], arrays)
        if structured:
            from .operators import as_operator

            return as_operator(self.expr, arrays, sizes)
        checked = [self.expr]
        if all(s.name in arrays for s in symbols_of(self.function)):
            checked.append(self.function)  # a gradient of log(x) at x < 0 has a value, but means nothing
        for e in checked:
            try:
                out = evaluate(e, arrays, sizes)
            except np.linalg.LinAlgError:
                out = None
            if out is None or not np.all(np.isfinite(out)):
                raise DomainError(undefined_at(e, arrays, sizes) or "the result is not finite at this point")
        return self._shaped(evaluate(self.expr, arrays, sizes), values)

    def _shaped(self, out: np.ndarray, values: dict) -> np.ndarray:
        given = values.get(self.variable.name)
        if self.kind in ("gradient", "hvp") and given is not None and np.size(given) == np.size(out):
            return np.reshape(out, np.shape(given))
        return out

    def inputs(self) -> list[E.Symbol]:
        """The names a generated function takes: every symbol of the function and of the result."""
        return sorted(set(symbols_of(self.function)) | set(symbols_of(self.expr)), key=lambda s: s.name)

    @user_errors
    def source(self, backend: str = "numpy", at_point: bool = False) -> str:
        """Python source of the function ``compile(at_point)`` returns (one source for every array
        library: ``backend`` is accepted for the names numpy, jax and array-api, which all give it)."""
        if not at_point:
            return codegen.results_source({self.variable.name: self}, self._code_name(), backend)
        if self.kind != "hvp":
            raise MatcalcError(f"only a Hessian applied to a direction (hvp) is split at a point, not a {self.kind}")
        inputs = sorted(set(self.inputs()) | set(self.directions), key=lambda s: s.name)
        return codegen.source({self.variable.name: self.expr}, inputs, backend, name="hvp_at",
                              like={self.variable.name: self.variable.name}, late=self.directions, inner="hvp",
                              title=f"{self.label} at a point, for f = {to_text(self.function)}.")

    def _code_name(self) -> str:
        return "hvp" if self.kind == "hvp" else LABELS[self.kind][0]

    @user_errors
    def at(self, values: dict):
        """The Hessian at a point as a linear map (kind ``hvp``): ``H = r.at(values)`` (every name
        but the direction) computes what does not depend on the direction once (``A + A^T``,
        ``V^T V``, the weights of logistic regression) and ``H(D)`` each time only the rest: for
        the many products at one point of Newton-CG or a Krylov solver.  ``H`` is the generated
        function of ``compile(at_point=True)``: arrays of any library; H(D) is shaped like the
        variable as given and raises ValueError for a direction of the wrong shape."""
        fn = self._at_point
        missing = [name for name in fn.parameters if name not in values]
        if missing:
            raise MatcalcError(f"missing values for {', '.join(missing)}")
        try:
            return fn(**{name: values[name] for name in fn.parameters})
        except ValueError as err:  # the generated code's own checks, one line each
            raise ShapeError(str(err)) from None
        except TypeError as err:
            raise MatcalcError(str(err)) from None

    @cached_property
    def _at_point(self):  # compiled when first used, for every point after
        return self.compile(at_point=True)

    @user_errors
    def compile(self, at_point: bool = False):
        """The generated function computing this result for arrays of any library of the array API
        standard (NumPy; PyTorch, JAX, CuPy, Dask, ... with array-api-compat installed), of the
        arguments' dtype and on their device.  Its parameters are ``inputs()``, every name of the
        function and of the result sorted (capitals first), given by position in that order or
        by name.  A gradient, and a Hessian applied to a direction, is shaped like the variable as
        given; a Hessian is (n, n) for a vector, (mn, mn) in column-major vec order for a matrix;
        a Jacobian (rows of vec F, rows of vec X).  The function's docstring says the shapes; its
        source is ``source()`` and its attribute ``parameters`` the names in order.  With
        ``at_point`` (a Hessian applied to a direction only), the function takes every name but
        the direction and returns the function of the direction alone that ``at`` gives."""
        fn = codegen.compile_source(self.source(at_point=at_point), "hvp_at" if at_point else self._code_name())
        fn.parameters = tuple(s.name for s in self.inputs() if not (at_point and s in self.directions))
        return fn

    @user_errors
    def to_numpy(self):
        """``compile()`` for NumPy: keyword arguments (one per name; others are ignored) taken as NumPy arrays."""
        return self._view(lambda v: v if v.__class__ is np.ndarray else np.asarray(v))

    @user_errors
    def to_jax(self):
        """``compile()`` for JAX, for jax.jit and accelerators: keyword arguments taken as JAX arrays
        (needs jax and array-api-compat installed).  The same shapes as every other backend."""
        try:
            import array_api_compat  # noqa: F401
            import jax.numpy as jnp
        except ImportError as err:
            raise MatcalcError(f"{err.name.split('.')[0]} is not installed: pip install 'matcalc[backends]'") from None
        return self._view(jnp.asarray)

    def _view(self, convert):
        fn = self.compile()
        names = fn.parameters
        numbers = (int, float, complex)

        def call(**values):  # numbers stay numbers: they take the arrays' dtype
            given = {}
            for name in names:
                if name in values:
                    v = values[name]
                    given[name] = v if isinstance(v, numbers) else convert(v)
            return fn(**given)

        call.__doc__, call.parameters = fn.__doc__, names
        return call

    @user_errors
    def to_sympy(self, like=None):
        """The result as a SymPy matrix expression (a SymPy scalar when 1 x 1), in the symbols of
        ``like`` where it has them (the SymPy expression the function was read from)."""
        from .sympy_interop import to_sympy

        return to_sympy(self.expr, like)

    @user_errors
    def check(self, points: int = 3, seed: int = 0) -> CheckReport:
        """Compare with central differences and the complex step at random points of the domain."""
        dense = None
        if self.kind == "hvp" and kinds.kind_of(self.variable).hessian:
            dense = pipeline.jacobian(self.of, self.variable)  # the Hessian H, for H vec(D) = vec(H[D])
        # an off-diagonal block is the Jacobian of one gradient with respect to another variable
        kind = self.kind if self.diagonal else "jacobian"
        return check_derivative(self.of, self.variable, self.expr, kind, points=points, seed=seed,
                                direction=self.direction, dense=dense)

    @user_errors
    def exact_check(self, size: int = 2) -> bool:
        """Compare with sympy's derivative on explicit size x size symbolic matrices (small cases only)."""
        from .exact import exact_check

        return exact_check(self.of, self.variable, self.expr, self.kind if self.diagonal else "jacobian", size=size)

    def to_dict(self) -> dict:
        out = {"expression": to_text(self.function), "variable": self.variable.name, self.kind: str(self),
               "latex": self.latex(), "shape": [str(d) for d in self.shape]}
        return out | ({"direction": self.direction.name} if self.direction is not None else {})


def shared_form(results: dict) -> tuple[list[tuple[E.Symbol, E.Expr]], dict]:
    """The definitions ``[(name, value)]`` and ``{key: expression}`` of the results as the command
    line prints them, the same for every kind of result: the text's own names wherever their
    expressions occur, and when the results together print longer than SHARE_ABOVE characters,
    a name for each subexpression they repeat (z1, Z1, ...: one set of names for all of them)."""
    written = {key: r.expr for key, r in results.items()}
    given = next(iter(results.values())).definitions  # the names the text defined
    long = sum(printed_length(e, SHARE_ABOVE) for e in written.values()) > SHARE_ABOVE
    if not (long or given):
        return [], written
    # short results get only the text's own names; long ones names for what they share too
    return share(written, min_size=1 if long else math.inf, given=given)


def shared_text(results: dict, printer=to_text) -> str:
    """The lines ``name = value`` of ``shared_form``, then ``label = result`` for each result."""
    definitions, written = shared_form(results)
    labels = {key: (r.label_latex(printer) if printer is to_latex else r.label) for key, r in results.items()}
    return "\n".join([*(f"{printer(s)} = {printer(v)}" for s, v in definitions),
                      *(f"{labels[key]} = {printer(written[key])}" for key in results)])


def _notes(gradient: E.Expr | None) -> list[str]:
    """What a Hessian cannot say: where the gradient holds step functions, it has kinks there."""
    if gradient is None:
        return []
    kinks = sorted({node.fn for node in E.nodes(gradient) if isinstance(node, E.Apply) and node.fn in ("step", "sign")})
    return [f"the gradient contains {fn}(...), whose derivative is zero except at 0, where it does not exist: "
            "this Hessian holds only away from those points" for fn in kinks]


def _kinks(function: E.Expr | None) -> list[str]:
    """Where the function is not differentiable (the kink of relu at 0): the result holds away from there."""
    return [] if function is None else list(_kink_notes(function))


@cached_on_node  # every gradient of a network shares its function: walk it once
def _kink_notes(function: E.Expr) -> tuple[str, ...]:
    kinks = {}
    for node in E.nodes(function):
        where = kink_of(node)
        if where is not None:
            kinks.setdefault(f"{describe_kinked(node)} is not differentiable at {where}: the result holds away from there", None)
    return tuple(sorted(kinks))


def _each(wrt, results: dict):
    from .display import Results

    return results[wrt] if isinstance(wrt, str) else Results(results)


@user_errors
def gradient(expr, wrt, declare: dict | None = None):
    """The gradient of a scalar expression: a Result, or a dict of them when ``wrt`` is a list."""
    program = pipeline.read(expr, declare, scalar=True)
    pipeline.require_scalar(program, "gradient")
    f = program.function
    gradients = pipeline.gradients(f, pipeline.variables(program, wrt))
    return _each(wrt, {x.name: Result(f, x, g, program=program) for x, g in gradients.items()})


@user_errors
def jacobian(expr, wrt, declare: dict | None = None):
    """The Jacobian d vec(F) / d vec(X)^T of a vector- or matrix-valued expression."""
    program = pipeline.read(expr, declare)
    f = program.function
    if E.is_scalar(f):
        raise DerivativeError(f"f = {pipeline.function_text(program)} is a scalar: its derivative is a gradient "
                              "(use gradient / matcalc grad)")
    return _each(wrt, {x.name: Result(f, x, pipeline.jacobian(f, x), "jacobian", program=program)
                       for x in pipeline.variables(program, wrt)})


@user_errors
def hessian(expr, wrt, declare: dict | None = None):
    """The Hessian of a scalar expression from its second differential, d^2 f = dx^T H dx:
    (n, n) for a vector, (mn, mn) in column-major vec order for a matrix.  With a list of names,
    every block of the Hessian with respect to them together, keyed by the pair of names:
    ``{("W1", "W2"): Result}``, the block d vec(grad_W1 f) / d vec(W2)^T."""
    program = pipeline.read(expr, declare, scalar=True)
    pipeline.require_scalar(program, "Hessian")
    f = program.function
    xs = pipeline.variables(program, wrt)
    if isinstance(wrt, str):
        g, h = pipeline.hessian(f, xs[0])
        return Result(f, xs[0], h, "hessian", of=g, program=program)
    gs, blocks = pipeline.hessian_blocks(f, xs)
    return _each(wrt, {(x.name, y.name): Result(f, y, h, "hessian", of=gs[x], program=program, row=x)
                       for (x, y), h in blocks.items()})


@user_errors
def hvp(expr, wrt: str, direction: str | None = None, declare: dict | None = None):
    """The Hessian of a scalar expression as a linear map: H[D], the directional derivative of
    the gradient along D, a symbol of the variable's shape named ``d`` + the variable's name
    (``dU``) or ``direction``, written in matrix products (``2 dU V^T V``).  ``evaluate`` takes
    the direction as one more value; the result is shaped like the variable.  For a symmetric
    variable it is the map D -> sym(H[D]) on symmetric D."""
    if not isinstance(wrt, str):
        raise DerivativeError("the Hessian as a linear map is taken along one variable at a time: wrt is one name")
    program = pipeline.read(expr, declare, scalar=True)
    pipeline.require_scalar(program, "Hessian")
    f = program.function
    (x,) = pipeline.variables(program, [wrt])
    d = pipeline.direction(program, x, direction)
    g, h = pipeline.hvp(f, x, d)
    return Result(f, x, h, "hvp", of=g, program=program, direction=d)
