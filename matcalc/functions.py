"""Element-wise functions, each defined once as a sympy expression of one scalar ``t``.

A row gives the definition and, where a person writes it more simply than sympy would,
the derivative in terms of ``t``, of ``f`` (the function's own value: ``sigmoid' = f (1 - f)``)
and of other rows (``sigmoid(t)``).  The derivative used by the differential rule
``d f(U) = f'(U) .* dU`` and the NumPy implementation both come from this table, and a
test checks every hand-written derivative against ``sympy.diff`` of the definition.
Adding a function is adding a row.

The formulas are written as text, the table's own constant text (never a user's), and
turned into sympy expressions only when first needed, so that importing matcalc stays
fast.
"""

from __future__ import annotations

import re
from fractions import Fraction
from functools import cache, cached_property, partial, reduce

from .errors import MatcalcError


class ElementwiseFunction:
    def __init__(self, name: str, definition: str, derivative: str | None = None,
                 analytic: bool = True, domain: str = "real", numpy: str | None = None):
        self.name = name
        self.formula = definition
        self.derivative_formula = derivative  # None: sympy's diff of the definition
        self.analytic = analytic  # False: the complex step does not apply (relu, abs)
        self.domain = domain  # "positive": defined for t > 0 only
        self.numpy = numpy  # the body of its NumPy function; None: printed by sympy from the definition

    @cached_property
    def definition(self):
        return _sympy_formula(self.formula)

    @cached_property
    def derivative(self):
        if self.derivative_formula is None:
            return sympy().diff(self.definition, symbols()[0])
        return _sympy_formula(self.derivative_formula)


# log(1 + exp(t)) = max(t, 0) + log1p(u) with u = exp(-|t|): exp never overflows, and no digits
# are lost far below 0, where log(1 + tiny) is 0.  A complex log1p is log(1 + u), which loses
# them again, so for the complex step the two parts of log(1 + u) are written out.
# Array API standard calls only, over the caller's namespace xp (NumPy, PyTorch, JAX, ...).
SOFTPLUS = """\
positive = xp.real(t) > 0
u = xp.exp(xp.where(positive, -t, t))
if xp.isdtype(u.dtype, "complex floating"):
    log1p = 0.5 * xp.log1p(2 * xp.real(u) + xp.abs(u) ** 2) + 1j * xp.atan2(xp.imag(u), 1 + xp.real(u))
else:
    log1p = xp.log1p(u)
return xp.where(positive, t, xp.zeros_like(t)) + log1p"""

# 1 / (1 + exp(-t)) with exp of -|t| only, which never overflows (as softplus above).
SIGMOID = """\
positive = xp.real(t) > 0
u = xp.exp(xp.where(positive, -t, t))
return xp.where(positive, 1 / (1 + u), u / (1 + u))"""

# fmt: off
FUNCTIONS = {fn.name: fn for fn in [
    ElementwiseFunction("exp",      "exp(t)",                          "f"),
    ElementwiseFunction("log",      "log(t)",                          "1/t",                 domain="positive"),
    ElementwiseFunction("sqrt",     "sqrt(t)",                         "1/(2*f)",             domain="positive"),
    ElementwiseFunction("sin",      "sin(t)",                          "cos(t)"),
    ElementwiseFunction("cos",      "cos(t)",                          "-sin(t)"),
    ElementwiseFunction("tan",      "tan(t)",                          "1 + f**2"),
    ElementwiseFunction("sinh",     "sinh(t)",                         "cosh(t)"),
    ElementwiseFunction("cosh",     "cosh(t)",                         "sinh(t)"),
    ElementwiseFunction("tanh",     "tanh(t)",                         "1 - f**2"),
    ElementwiseFunction("sigmoid",  "1/(1 + exp(-t))",                 "f*(1 - f)",           numpy=SIGMOID),
    ElementwiseFunction("softplus", "log(1 + exp(t))",                 "sigmoid(t)",          numpy=SOFTPLUS),
    ElementwiseFunction("swish",    "t/(1 + exp(-t))",                 "f + sigmoid(t)*(1 - f)"),
    ElementwiseFunction("mish",     "t*tanh(log(1 + exp(t)))",         "tanh(softplus(t)) + t*sigmoid(t)*(1 - tanh(softplus(t))**2)"),
    ElementwiseFunction("relu",     "Piecewise((t, t > 0), (0, True))", "step(t)",            analytic=False),
    ElementwiseFunction("step",     "Heaviside(t, 0)",                 "0",                   analytic=False),
    ElementwiseFunction("abs",      "Abs(t)",                          "sign(t)",             analytic=False),
    ElementwiseFunction("sign",     "sign(t)",                         "0",                   analytic=False),
    ElementwiseFunction("softsign", "t/(1 + Abs(t))",                  "(1 + abs(t))**-2",    analytic=False),
]}
# fmt: on


@cache
def sympy():
    import sympy

    return sympy


@cache
def symbols():
    """``t``, the argument, and ``f``, the function's own value in a derivative."""
    sp = sympy()
    return sp.Symbol("t", real=True), sp.Symbol("f", real=True)


def _sympy_formula(text: str):
    sp = sympy()
    t, f = symbols()
    # rows of this table stand for themselves inside a formula (softplus' = sigmoid(t))
    names = {name: sp.Function(name) for name in FUNCTIONS if name not in ("exp", "log", "sqrt", "sin", "cos", "tan",
                                                                            "sinh", "cosh", "tanh", "sign")}
    return sp.sympify(text, locals={"t": t, "f": f, **names})


def derivative_form(name: str):
    return FUNCTIONS[name].derivative


@cache
def numpy_source(name: str) -> str:
    """``def _f_<name>(xp, t)``: a row as Python source over the array namespace ``xp`` it is
    given (NumPy, or any library of the array API standard): the row's own text, or what sympy
    prints for its definition, in the standard's names."""
    body = FUNCTIONS[name].numpy
    if body is None:
        plain_t = sympy().Symbol("t")  # the printer writes it as the argument t
        body = "return " + _array_api_text(FUNCTIONS[name].definition.subs(symbols()[0], plain_t))
    lines = "".join(f"    {line}\n" for line in body.splitlines())
    return f"def _f_{name}(xp, t):\n{lines}"


def _array_api_text(expr) -> str:
    """sympy's NumPy printer writing the array API standard's names over ``xp``: a piecewise
    definition as nested ``xp.where`` (NumPy's ``select`` is not in the standard), ``atan``
    for NumPy's ``arctan``."""
    text = _array_api_printer().doprint(expr).replace("numpy.", "xp.")
    return re.sub(r"\bxp\.arc(sin|cos|tan)", r"xp.a\1", text)


@cache
def _array_api_printer():
    from sympy.printing.numpy import NumPyPrinter

    class ArrayAPIPrinter(NumPyPrinter):
        def _print_Piecewise(self, expr):
            *pieces, (last, condition) = expr.args
            if condition is not sympy().true:
                raise MatcalcError(f"a piecewise definition needs a last piece for every other value: {expr}")
            (t,) = expr.free_symbols
            piece = lambda value: f"numpy.full_like({t}, {self._print(value)})" if value.is_number else self._print(value)
            out = piece(last)  # a number as an array of t's dtype: where(c, 0, 1) would be integers
            for value, condition in reversed(pieces):
                out = f"numpy.where({self._print(condition)}, {piece(value)}, {out})"
            return out

    return ArrayAPIPrinter({"fully_qualified_modules": True})


@cache
def numpy_function(name: str):
    """The NumPy implementation of a row (the table's own source, never a user's)."""
    import numpy

    namespace: dict = {}
    exec(compile(numpy_source(name), f"<matcalc {name}>", "exec"), namespace)  # noqa: S102 - the table's code
    return partial(namespace[f"_f_{name}"], numpy)


def _sympy_names() -> dict:
    """sympy's own classes that stand for a row of the table when they appear in a derivative."""
    sp = sympy()
    return {sp.exp: "exp", sp.log: "log", sp.sin: "sin", sp.cos: "cos", sp.tan: "tan", sp.sinh: "sinh",
            sp.cosh: "cosh", sp.tanh: "tanh", sp.Abs: "abs", sp.sign: "sign", sp.Heaviside: "step"}


def derivative(name: str, u):
    """``f'(U)`` as an expression, element-wise over U."""
    from . import expr as E

    sp = sympy()
    t, f = symbols()
    known = _sympy_names()

    def build(s):
        if s == t:
            return u
        if s == f:
            return E.apply(name, u)
        if s.is_Rational:
            return E.const(Fraction(int(s.p), int(s.q)))
        if isinstance(s, sp.Add):
            return reduce(E.add, map(build, s.args))
        if isinstance(s, sp.Mul):
            return reduce(E.hadamard, map(build, s.args))
        if isinstance(s, sp.Pow) and s.exp.is_Rational:
            return E.elem_power(build(s.base), Fraction(int(s.exp.p), int(s.exp.q)))
        fn_name = known.get(type(s), getattr(s.func, "__name__", None))
        if fn_name in FUNCTIONS and len(s.args) == 1:
            return E.apply(fn_name, build(s.args[0]))
        raise MatcalcError(f"the derivative of {name} cannot be written element-wise: {s}")

    return build(derivative_form(name))
