"""Element-wise functions, each defined once as a sympy expression of one scalar ``t``.

A row gives the definition and, where a person writes it more simply than sympy would,
the derivative in terms of ``t``, of ``f`` (the function's own value: ``sigmoid' = f (1 - f)``)
and of other rows (``sigmoid(t)``).  The derivative used by the differential rule
``d f(U) = f'(U) .* dU`` and the NumPy implementation both come from this table, and a
test checks every hand-written derivative against ``sympy.diff`` of the definition.
Adding a function is adding a row.

A row may take scalar parameters after its argument (``leaky_relu(t, a)``, ``elu(t, a)``), each
with a default and the derivative with respect to it; a row may also be another's derivative
where that has no short form (``dselu``, ``dsinc``), so results stay written in the table's names.

The formulas are written as text, the table's own constant text (never a user's), and
turned into sympy expressions only when first needed, so that importing matcalc stays
fast.
"""

from __future__ import annotations

import re
from fractions import Fraction
from functools import cache, cached_property, partial, reduce
from typing import NamedTuple

from .errors import MatcalcError


class Param(NamedTuple):
    """A scalar parameter of a row (``a``, ``b``, ... in the row's formulas, in order): what it is
    called in messages, its default, and the derivative of the function with respect to it, as a
    formula like the row's own (so gradients with respect to it need nothing else)."""

    word: str
    default: Fraction
    derivative: str


class ElementwiseFunction:
    def __init__(self, name: str, definition: str, derivative: str | None = None,
                 analytic: bool = True, domain: str = "real", numpy: str | None = None,
                 params: tuple[Param, ...] = (), kinks: str | None = None, smooth_if: tuple = ()):
        self.name = name
        self.formula = definition
        self.derivative_formula = derivative  # None: sympy's diff of the definition
        self.analytic = analytic  # False: the complex step does not apply (relu, abs)
        self.domain = domain  # "positive": defined for t > 0 only
        self.numpy = numpy  # the body of its NumPy function; None: printed by sympy from the definition
        self.params = params  # the scalar parameters after the argument, a, b, ...: leaky_relu(t, a)
        self.kinks = kinks  # where it is continuous but not differentiable, in words ("0", "-1 and 1")
        self.smooth_if = smooth_if  # parameters for which it has no kink (elu with alpha = 1)

    @cached_property
    def definition(self):
        return _sympy_formula(self.formula, len(self.params))

    @cached_property
    def derivative(self):
        if self.derivative_formula is None:
            return sympy().diff(self.definition, symbols()[0])
        return _sympy_formula(self.derivative_formula, len(self.params))

    @cached_property
    def param_derivatives(self):
        return tuple(_sympy_formula(p.derivative, len(self.params)) for p in self.params)


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

# log sigmoid(t) = -softplus(-t), as stable as softplus
_SOFTPLUS_RETURN = "return xp.where(positive, t, xp.zeros_like(t)) + log1p"
assert SOFTPLUS.endswith(_SOFTPLUS_RETURN)  # the line that LOGSIGMOID negates
LOGSIGMOID = "t = -t\n" + SOFTPLUS.replace(_SOFTPLUS_RETURN, "return -(xp.where(positive, t, xp.zeros_like(t)) + log1p)")

# NumPy has no erf.  erf(x) = 2/sqrt(pi) exp(-x^2) sum_n 2^n x^(2n+1) / (1 3 5 ... (2n+1)): the terms are
# all positive (no digits cancel), and 160 terms reach double precision for |x| < 6, beyond which erf(x)
# is sign(x) to that precision.  A complex t = x + iy is met only in the complex step, with y tiny: there
# f(t) = f(x) + iy f'(x) to y^2, and the sums taken at x alone keep the digits of f'(x).
def _erf_lines(x: str, out: str) -> str:
    """Lines setting ``out`` to erf of the real array ``x``."""
    return f"""\
inside = abs({x}) < 6
s = xp.where(inside, {x}, 0 * {x})
term, total = s, s
for n in range(1, 160):
    term = term * (2 * s * s / (2 * n + 1))
    total = total + term
{out} = xp.where(inside, 1.1283791670955126 * xp.exp(-s * s) * total, xp.sign({x}))"""


ERF = f"""\
x = xp.real(t)
{_erf_lines("x", "erf")}
if xp.isdtype(t.dtype, "complex floating"):
    erf = erf + (t - x) * 1.1283791670955126 * xp.exp(-x * x)
return erf"""

# normcdf(x) far below 0 is tiny, and 1 + erf(x / sqrt(2)) would lose its digits: the lower tail
# normcdf(-|x|) = erfc(w) / 2, w = |x| / sqrt(2), is 1 + erf(-w) for w < 2 and beyond the continued
# fraction erfc(w) = exp(-w^2) / (sqrt(pi) (w + (1/2) / (w + 1 / (w + (3/2) / (w + ...))))), 60 terms.
NORMCDF = f"""\
x = xp.real(t)
w = abs(x) * 0.7071067811865476
{_erf_lines("-w", "erf")}
v = xp.where(w < 2, 2.0, w)
fraction = v
for k in range(60, 0, -1):
    fraction = v + (k / 2) / fraction
lower = xp.where(w < 2, (1 + erf) / 2, xp.exp(-v * v) / (fraction * 1.7724538509055159) / 2)
cdf = xp.where(x < 0, lower, 1 - lower)
if xp.isdtype(t.dtype, "complex floating"):
    cdf = cdf + (t - x) * 0.3989422804014327 * xp.exp(-x * x / 2)"""


SELU_SCALE = "Rational('1.0507009873554804934193349852946')"  # lambda and alpha of the SELU paper,
SELU_ALPHA = "Rational('1.6732632423543772848170429916717')"  # to the digits it gives
_SELU_SCALE, _SELU_ALPHA = 1.0507009873554804934193349852946, 1.6732632423543772848170429916717
# the tanh approximation of GELU, tanh(c (t + 0.044715 t^3)) with c = sqrt(2/pi) to the 16 digits that
# implementations use: an exact number, so that its derivatives are written in the table's terms
GELU_C, GELU_K = "Rational('0.7978845608028654')", "Rational(44715, 1000000)"
GELU_TANH = f"tanh({GELU_C}*(t + {GELU_K}*t**3))"
# (1 + tanh(z))/2 = sigmoid(2z) = s, and (1 - tanh(z)^2)/4 = s (1 - s) = e/(1 + e)^2 with e = exp(-2|z|):
# no digits cancel where tanh(z) is near -1 (t far below 0), and exp never overflows
GELU_TANH_BODY = """\
z = 0.7978845608028654 * (t + 0.044715 * t ** 3)
positive = xp.real(z) >= 0
e = xp.exp(xp.where(positive, -2 * z, 2 * z))
s = xp.where(positive, 1 / (1 + e), e / (1 + e))
return %s"""

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
    ElementwiseFunction("logsigmoid", "-log(1 + exp(-t))",             "1 - sigmoid(t)",      numpy=LOGSIGMOID),
    ElementwiseFunction("swish",    "t/(1 + exp(-t))",                 "f + sigmoid(t)*(1 - f)"),
    ElementwiseFunction("mish",     "t*tanh(log(1 + exp(t)))",         "tanh(softplus(t)) + t*sigmoid(t)*(1 - tanh(softplus(t))**2)"),
    ElementwiseFunction("relu",     "Piecewise((t, t > 0), (0, True))", "step(t)",            analytic=False, kinks="0"),
    ElementwiseFunction("leaky_relu", "Piecewise((t, t > 0), (a*t, True))", "a + (1 - a)*step(t)", analytic=False,
                        params=(Param("slope", Fraction(1, 100), "t - relu(t)"),), kinks="0", smooth_if=(1,),
                        numpy="return xp.where(xp.real(t) > 0, t, a * t)"),
    ElementwiseFunction("elu",      "Piecewise((t, t > 0), (a*(exp(t) - 1), True))", "step(t) + (1 - step(t))*(f + a)",
                        analytic=False, params=(Param("alpha", Fraction(1), "elu(t, 1) - relu(t)"),), kinks="0",
                        smooth_if=(1,), numpy="return xp.where(xp.real(t) > 0, t, a * xp.expm1(xp.minimum(xp.real(t), 0)))"),
    ElementwiseFunction("selu",     f"{SELU_SCALE}*Piecewise((t, t > 0), ({SELU_ALPHA}*(exp(t) - 1), True))", "dselu(t)",
                        analytic=False, kinks="0",
                        numpy=f"return {_SELU_SCALE!r} * xp.where(t > 0, t, {_SELU_ALPHA!r} * xp.expm1(xp.minimum(t, 0)))"),
    ElementwiseFunction("dselu",    f"Piecewise(({SELU_SCALE}, t > 0), ({SELU_SCALE}*{SELU_ALPHA}*exp(t), True))",
                        "(1 - step(t))*f", analytic=False,
                        numpy=f"return xp.where(t > 0, {_SELU_SCALE!r}, {_SELU_SCALE * _SELU_ALPHA!r} * xp.exp(xp.minimum(t, 0)))"),
    ElementwiseFunction("erf",      "erf(t)",                          "2*sqrt(2)*normpdf(sqrt(2)*t)", numpy=ERF),
    ElementwiseFunction("normcdf",  "(1 + erf(t/sqrt(2)))/2",          "normpdf(t)",          numpy=NORMCDF + "\nreturn cdf"),
    ElementwiseFunction("normpdf",  "exp(-t**2/2)/sqrt(2*pi)",         "-t*f",                numpy="return 0.3989422804014327 * xp.exp(-t * t / 2)"),
    ElementwiseFunction("gelu",     "t*(1 + erf(t/sqrt(2)))/2",        "normcdf(t) + t*normpdf(t)",
                        numpy=NORMCDF + "\nreturn t * cdf"),
    ElementwiseFunction("gelu_tanh", f"t*(1 + {GELU_TANH})/2",         "dgelu_tanh(t)", numpy=GELU_TANH_BODY % "t * s"),
    ElementwiseFunction("dgelu_tanh", f"(1 + {GELU_TANH})/2 + t*(1 - {GELU_TANH}**2)*{GELU_C}*(1 + 3*{GELU_K}*t**2)/2",
                        numpy=GELU_TANH_BODY % "s + 2 * t * e / (1 + e) ** 2 * 0.7978845608028654 * (1 + 0.134145 * t * t)"),
    ElementwiseFunction("sinc",     "sinc(t)",                         "dsinc(t)",
                        numpy="safe = xp.where(t == 0, 1, t)\nreturn xp.where(t == 0, 1, xp.sin(safe) / safe)"),
    ElementwiseFunction("dsinc",    "(t*cos(t) - sin(t))/t**2",        None,
                        numpy="small = abs(t) < 1e-3\nsafe = xp.where(small, 1, t)\n"
                              "return xp.where(small, -t / 3 + t ** 3 / 30, (xp.cos(safe) - xp.sin(safe) / safe) / safe)"),
    ElementwiseFunction("hardtanh", "Piecewise((-1, t < -1), (1, t > 1), (t, True))", "step(t + 1) - step(t - 1)",
                        analytic=False, kinks="-1 and 1", numpy="return xp.clip(t, -1, 1)"),
    ElementwiseFunction("step",     "Heaviside(t, 0)",                 "0",                   analytic=False),
    ElementwiseFunction("abs",      "Abs(t)",                          "sign(t)",             analytic=False, kinks="0"),
    ElementwiseFunction("sign",     "sign(t)",                         "0",                   analytic=False),
    ElementwiseFunction("softsign", "t/(1 + Abs(t))",                  "(1 + abs(t))**-2",    analytic=False),
]}
ALIASES = {"silu": "swish"}  # another name for a row: read as the row, printed by the row's name
# sympy's own functions of these names, which a row's formula means when it writes them
SYMPY_NATIVE = {"exp", "log", "sqrt", "sin", "cos", "tan", "sinh", "cosh", "tanh", "sign", "erf", "sinc"}
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


@cache
def param_symbols(count: int) -> tuple:
    """The symbols of a row's parameters in its formulas: a, b, ..."""
    sp = sympy()
    return tuple(sp.Symbol(chr(ord("a") + i), real=True) for i in range(count))


def _sympy_formula(text: str, params: int = 0):
    sp = sympy()
    t, f = symbols()
    # rows of this table stand for themselves inside a formula (softplus' = sigmoid(t))
    names = {name: sp.Function(name) for name in FUNCTIONS if name not in SYMPY_NATIVE}
    given = {str(a): a for a in param_symbols(params)}
    return sp.sympify(text, locals={"t": t, "f": f, **given, **names})


def with_defaults(name: str, params) -> tuple:
    """A row's parameters as expressions, the defaults of those not given filled in."""
    from . import expr as E

    row = FUNCTIONS[name]
    given = tuple(params)
    return given + tuple(E.const(p.default) for p in row.params[len(given):])


def shown_params(name: str, params) -> tuple:
    """The parameters a printout writes: all but the trailing ones that have their default."""
    from . import expr as E

    shown = list(params)
    for p in reversed(FUNCTIONS[name].params[:len(shown)]):
        if not (isinstance(shown[-1], E.Const) and shown[-1].value == p.default):
            break
        shown.pop()
    return tuple(shown)


def kink_of(node) -> str | None:
    """Where a node of an element-wise function is continuous but not differentiable, in words, if
    it has such points with its parameters (elu with alpha = 1 has none)."""
    from . import expr as E

    if not isinstance(node, E.Apply):
        return None
    row = FUNCTIONS[node.fn]
    values = tuple(p.value if isinstance(p, E.Const) else None for p in node.params)
    if row.kinks is None or (row.smooth_if and values == row.smooth_if):
        return None
    return row.kinks


def describe_kinked(node) -> str:
    """The function a kink belongs to, with its parameters when they matter (elu with alpha = 2)."""
    from .printing import to_text

    shown = shown_params(node.fn, node.params)
    words = [f"{p.word} = {to_text(v)}" for p, v in zip(FUNCTIONS[node.fn].params, shown)]
    return f"{node.fn} with {', '.join(words)}" if words else node.fn


def derivative_form(name: str):
    return FUNCTIONS[name].derivative


@cache
def numpy_source(name: str) -> str:
    """``def _f_<name>(xp, t, a, ...)``: a row as Python source over the array namespace ``xp`` it
    is given (NumPy, or any library of the array API standard), ``a, ...`` its parameters: the
    row's own text, or what sympy prints for its definition, in the standard's names."""
    body = FUNCTIONS[name].numpy
    if body is None:
        plain_t = sympy().Symbol("t")  # the printer writes it as the argument t
        body = "return " + _array_api_text(FUNCTIONS[name].definition.subs(symbols()[0], plain_t))
    lines = "".join(f"    {line}\n" for line in body.splitlines())
    args = ", ".join(["xp", "t", *map(str, param_symbols(len(FUNCTIONS[name].params)))])
    return f"def _f_{name}({args}):\n{lines}"


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
            t = symbols()[0]  # the entry; the other free symbols are parameters
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
            sp.cosh: "cosh", sp.tanh: "tanh", sp.Abs: "abs", sp.sign: "sign", sp.Heaviside: "step", sp.erf: "erf",
            sp.sinc: "sinc"}


def derivative(name: str, u, params=()):
    """``f'(U)`` as an expression, element-wise over U (the row's parameters ``params``)."""
    return _element_wise(name, derivative_form(name), u, params)


def param_derivative(name: str, i: int, u, params):
    """The derivative of ``f(U, a, ...)`` with respect to its i-th parameter, element-wise over U."""
    return _element_wise(name, FUNCTIONS[name].param_derivatives[i], u, params)


def _element_wise(name: str, form, u, params):
    """A formula of the table in t, f and the parameters as an expression over U."""
    from . import expr as E

    sp = sympy()
    t, f = symbols()
    known = _sympy_names()
    given = dict(zip(param_symbols(len(params)), params, strict=True))

    def times(a, b):  # a parameter scales; numbers and arrays multiply element-wise
        scales = any(E.is_scalar(x) and not isinstance(x, E.Const) for x in (a, b))
        return E.mul(a, b) if scales else E.hadamard(a, b)

    def build(s):
        if s == t:
            return u
        if s == f:
            return E.apply(name, u, params)
        if s in given:
            return given[s]
        if s.is_Rational:
            return E.const(Fraction(int(s.p), int(s.q)))
        if isinstance(s, sp.Add):
            return reduce(E.add, map(build, s.args))
        if isinstance(s, sp.Mul):
            return reduce(times, map(build, s.args))
        if isinstance(s, sp.Pow) and s.base.is_Rational and s.exp == sp.Rational(1, 2):
            return E.apply("sqrt", build(s.base))  # sqrt(2)
        if isinstance(s, sp.Pow) and s.exp.is_Rational:
            return E.elem_power(build(s.base), Fraction(int(s.exp.p), int(s.exp.q)))
        fn_name = known.get(type(s), getattr(s.func, "__name__", None))
        if fn_name in FUNCTIONS and 1 <= len(s.args) <= 1 + len(FUNCTIONS[fn_name].params):
            return E.apply(fn_name, build(s.args[0]), [build(a) for a in s.args[1:]])
        raise MatcalcError(f"the derivative of {name} cannot be written element-wise: {str(s)[:80]}")

    return build(form)
