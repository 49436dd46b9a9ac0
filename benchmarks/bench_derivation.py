"""Section 1: derivation speed, matcalc against SymPy's matrix-expression differentiation.

For each case of ``corpus.py``:

* matcalc: ``matcalc.gradient(text, ...)`` (or ``hessian``), parse included, timed as the
  median of ``repeats`` calls after one warm-up call.
* SymPy: building the ``MatrixSymbol`` expression and ``expr.diff(X)`` (twice for a
  Hessian), timed the same way.  SymPy memoises many internal calls; its cache is cleared
  before every call (outside the timed region), so that a repeat does not read back the
  previous answer.  matcalc keeps no cache of results.
* Correctness, at one random point, for both: the derivative's value against central
  differences of the function along three random directions (for a Hessian, the mixed
  second difference ``u^T H v``).  The function's value comes from matcalc's evaluator,
  and the SymPy translation of the case is checked to give the same value there.  matcalc
  must also pass its own ``Result.check()``.

A SymPy case is *unsupported* when SymPy raises, does not answer within the time limit,
or returns an unevaluated ``Derivative``; it is *supported* otherwise, and *correct* when
its value passes the check.
"""

from __future__ import annotations

import statistics
import traceback
from types import SimpleNamespace

import numpy as np
from common import TimedOut, measure, ratio, time_limit
from corpus import CASES, Case

import matcalc

FD_TOL = 1e-5  # relative, gradients (central differences)
FD2_TOL = 1e-4  # relative, Hessians (mixed second differences)


# ------------------------------------------------------------------ values


def random_values(case: Case, seed: int = 1) -> dict:
    rng = np.random.default_rng(seed)
    sizes = case.dim_sizes()
    values = {}
    for name, (r, c) in case.shapes().items():
        rows = 1 if r == 1 else sizes[r]
        cols = 1 if c == 1 else sizes[c]
        if name in case.spd:
            m = rng.standard_normal((rows, rows))
            value = m @ m.T / rows + np.eye(rows)
        elif rows == cols and rows > 1:
            value = 2 * np.eye(rows) + 0.3 * rng.standard_normal((rows, cols))
        elif case.positive or (rows, cols) == (1, 1):
            value = rng.uniform(0.5, 1.5, (rows, cols))
        else:
            value = rng.standard_normal((rows, cols))
        values[name] = value
    return values


def direction(case: Case, value: np.ndarray, rng) -> np.ndarray:
    v = rng.standard_normal(value.shape)
    if case.declare.get(case.wrt) == "symmetric":
        v = (v + v.T) / 2
    return v


# ------------------------------------------------------------------ matcalc's evaluator for f


class Function:
    """f as matcalc parses it, evaluated with matcalc's NumPy evaluator."""

    def __init__(self, case: Case):
        from matcalc.verify import symbols_of

        self.expr = matcalc.parse(case.text, case.declare)
        self.symbols = {s.name: s for s in symbols_of(self.expr)}

    def __call__(self, values: dict) -> float:
        from matcalc.evaluate import as_matrix, bind_sizes, evaluate

        arrays = {k: as_matrix(k, v, self.symbols[k]) for k, v in values.items() if k in self.symbols}
        sizes = bind_sizes([self.symbols[k] for k in arrays], arrays)
        return float(np.real(evaluate(self.expr, arrays, sizes)[0, 0]))


class SympyFunction:
    """f as the SymPy form of the case gives it, for a case matcalc cannot parse."""

    def __init__(self, case: Case):
        self.case, self.ns = case, sympy_namespace(case)
        self.expr = case.sympy(self.ns)

    def __call__(self, values: dict) -> float:
        return float(np.real(sympy_numeric(self.expr, self.case, self.ns, values)).reshape(-1)[0])


def relative(a: float, b: float) -> float:
    return abs(a - b) / max(abs(a), abs(b), 1e-8)


def check_value(case: Case, f: Function, values: dict, value, seed: int = 2) -> tuple[bool, float, str]:
    """(passes, largest relative error, note) for a gradient or Hessian value at ``values``."""
    x = values[case.wrt]
    rng = np.random.default_rng(seed)
    try:
        d = np.asarray(value, dtype=float)
    except (TypeError, ValueError) as err:
        return False, float("inf"), f"not a number: {err}"
    worst = 0.0
    if case.kind == "gradient":
        if d.size != x.size:
            return False, float("inf"), f"shape {d.shape} for a variable of shape {x.shape}"
        d = d.reshape(x.shape)
        scale = max(1.0, float(np.abs(x).max()))
        for _ in range(3):
            v = direction(case, x, rng)
            h = 1e-6 * scale
            fd = (f({**values, case.wrt: x + h * v}) - f({**values, case.wrt: x - h * v})) / (2 * h)
            worst = max(worst, relative(float(np.sum(d * v)), fd))
        return worst <= FD_TOL, worst, ""
    n = x.size
    if d.size != n * n:
        return False, float("inf"), f"shape {d.shape} for a Hessian of size {n}x{n}"
    d = d.reshape(n, n)
    scale = max(1.0, float(np.abs(x).max()))
    for _ in range(3):
        u, v = direction(case, x, rng), direction(case, x, rng)
        h = 1e-4 * scale
        vals = [f({**values, case.wrt: x + h * (a * u + b * v)}) for a, b in ((1, 1), (1, -1), (-1, 1), (-1, -1))]
        fd = (vals[0] - vals[1] - vals[2] + vals[3]) / (4 * h * h)
        predicted = float(u.reshape(-1, order="F") @ d @ v.reshape(-1, order="F"))
        worst = max(worst, relative(predicted, fd))
    return worst <= FD2_TOL, worst, ""


# ------------------------------------------------------------------ SymPy


def sympy_namespace(case: Case) -> SimpleNamespace:
    import sympy as sp

    dims = {d: sp.Symbol(d, integer=True, positive=True) for d in case.dim_sizes()}
    ns = {**dims}
    for name, (r, c) in case.shapes().items():
        if (r, c) == (1, 1):
            ns[name] = sp.Symbol(name, real=True)
        else:
            ns[name] = sp.MatrixSymbol(name, 1 if r == 1 else dims[r], 1 if c == 1 else dims[c])
    return SimpleNamespace(**ns)


def sympy_derive(case: Case, ns: SimpleNamespace):
    expr = case.sympy(ns)
    variable = getattr(ns, case.wrt)
    result = expr.diff(variable)
    if case.kind == "hessian":
        result = result.diff(variable)
    return result


def is_unevaluated(result) -> bool:
    import sympy as sp

    try:
        from sympy.tensor.array.array_derivatives import ArrayDerivative
    except ImportError:  # pragma: no cover - older SymPy
        ArrayDerivative = sp.Derivative
    if isinstance(result, (sp.Derivative, ArrayDerivative)):
        return True
    try:
        return bool(result.has(sp.Derivative) or result.has(ArrayDerivative))
    except Exception:
        return False


def _explicit(e):
    """Evaluate a SymPy expression whose symbols are all replaced by explicit matrices and numbers,
    bottom-up: each node's arguments become explicit matrices (or arrays, or numbers) first, so
    nothing symbolic grows on the way.  A 1x1 matrix inside a scalar function stands for its entry."""
    import sympy as sp
    from sympy.matrices.expressions.applyfunc import ElementwiseApplyFunction
    from sympy.tensor.array.expressions.array_expressions import ArrayElementwiseApplyFunc

    if isinstance(e, (sp.Lambda, sp.MatrixBase, sp.NDimArray)) or not e.args:
        return e
    args = [_explicit(a) for a in e.args]
    if isinstance(e, (ArrayElementwiseApplyFunc, ElementwiseApplyFunction)):
        fn, arg = e.function, args[-1]
        return _as_matrix(arg.applyfunc(lambda t: sp.N(fn(t))))
    if isinstance(e, (sp.Function, sp.Pow, sp.Mul, sp.Add)) and not isinstance(e, sp.MatrixExpr):
        args = [a[0, 0] if isinstance(a, sp.MatrixBase) and a.shape == (1, 1) else a for a in args]
    out = e.func(*args)
    if hasattr(out, "doit"):
        out = out.doit()
    if hasattr(out, "as_explicit") and not isinstance(out, (sp.MatrixBase, sp.NDimArray)):
        out = out.as_explicit()
    if isinstance(out, sp.NDimArray):
        return _as_matrix(out.applyfunc(sp.N))
    return out.evalf() if hasattr(out, "evalf") else out


def _as_matrix(a):
    """A rank-2 array as a matrix, so that matrix expressions around it can use it."""
    import sympy as sp

    if isinstance(a, sp.NDimArray) and a.rank() == 2:
        return sp.ImmutableMatrix(a.tolist())
    return a


def sympy_numeric(expr, case: Case, ns: SimpleNamespace, values: dict):
    """The value of a SymPy expression with explicit matrices substituted: a NumPy array."""
    import sympy as sp

    sizes = case.dim_sizes()
    rule = {getattr(ns, d): sp.Integer(v) for d, v in sizes.items()}
    for name, value in values.items():
        symbol = getattr(ns, name)
        if isinstance(symbol, sp.Symbol):
            rule[symbol] = sp.Float(float(value[0, 0]))
        else:
            rule[symbol] = sp.ImmutableMatrix(value.tolist())
    out = _explicit(expr.xreplace(rule))
    if hasattr(out, "tolist"):
        return np.array(out.tolist(), dtype=float)
    return np.array(float(out))


def sympy_hessian_as_vec(arr: np.ndarray, shape: tuple) -> np.ndarray:
    """SymPy's rank-4 second derivative [i, j, k, l] = d2 f / dX_ij dX_kl as the (mn, mn) matrix
    acting on vec(dX) (columns stacked), the convention matcalc uses."""
    n = shape[0] * shape[1]
    if arr.size != n * n:
        return arr
    if arr.ndim == 2 and arr.shape == (n, n) and shape[1] == 1:
        return arr
    a = arr.reshape(shape[0], shape[1], shape[0], shape[1])
    return a.transpose(1, 0, 3, 2).reshape(n, n)


# ------------------------------------------------------------------ one case


def run_case(case: Case, repeats: int, limit: float) -> dict:
    derive = matcalc.hessian if case.kind == "hessian" else matcalc.gradient
    values = random_values(case)
    row = {"name": case.name, "kind": case.kind, "text": case.text, "wrt": case.wrt, "source": case.source}
    try:
        f = Function(case)
    except matcalc.MatcalcError as err:
        row["matcalc_parse_error"] = str(err)
        f = SympyFunction(case) if case.sympy is not None else None

    # matcalc
    try:
        with time_limit(limit):
            r = derive(case.text, wrt=case.wrt, declare=case.declare)
            row["matcalc_result"] = str(r)
            timing = measure(lambda: derive(case.text, wrt=case.wrt, declare=case.declare), repeats,
                             budget=limit / 2, warmup=False)
        row["matcalc_time"] = timing["median"]
        row["matcalc_repeats"] = timing["repeats"]
        own = r.check()
        ok, err, note = check_value(case, f, values, r.evaluate(values))
        row["matcalc_check"] = str(own)
        row["matcalc_error"] = err
        row["matcalc_correct"] = bool(own.ok) and ok
        row["matcalc_status"] = "ok" if row["matcalc_correct"] else "wrong" + (f" ({note})" if note else "")
    except TimedOut as err:
        row.update(matcalc_time=None, matcalc_correct=False, matcalc_status=f"unsupported ({err})")
    except matcalc.MatcalcError as err:
        row.update(matcalc_time=None, matcalc_correct=False, matcalc_status=f"unsupported ({err})")

    # SymPy
    if case.sympy is None:
        row.update(sympy_time=None, sympy_supported=False, sympy_correct=False, sympy_status="cannot express")
    else:
        from sympy.core.cache import clear_cache

        ns = sympy_namespace(case)
        try:
            with time_limit(limit):
                clear_cache()
                result = sympy_derive(case, ns)  # the warm-up call
            if is_unevaluated(result):
                raise ValueError(f"returns an unevaluated derivative: {str(result)[:80]}")
            row["sympy_result"] = str(result)
            with time_limit(limit * (repeats + 1)):
                timing = measure(lambda: sympy_derive(case, ns), repeats, setup=clear_cache, budget=limit / 2,
                                 warmup=False)
            row["sympy_time"] = timing["median"]
            row["sympy_repeats"] = timing["repeats"]
            row["sympy_supported"] = True
        except (TimedOut, Exception) as err:  # SymPy raising anything counts as unsupported
            message = str(err).splitlines()[0][:100] if str(err) else ""
            row.update(sympy_time=None, sympy_supported=False, sympy_correct=False,
                       sympy_status=f"unsupported ({type(err).__name__}{': ' + message if message else ''})")
        if row.get("sympy_supported"):
            try:
                with time_limit(limit):
                    same_f = relative(SympyFunction(case)(values), f(values)) <= 1e-9
                    value = sympy_numeric(result, case, ns, values)
                if case.kind == "hessian":
                    value = sympy_hessian_as_vec(value, values[case.wrt].shape)
                ok, err, note = check_value(case, f, values, value)
                if not same_f:
                    ok, note = False, "the SymPy form of the case has another value than matcalc's"
                row["sympy_error"] = err
                row["sympy_correct"] = ok
                zero = value.size > 0 and not np.any(value)
                row["sympy_status"] = "ok" if ok else "wrong" + (" (returns 0)" if zero else "") + (f" ({note})" if note else "")
            except (TimedOut, Exception) as err:
                row["sympy_correct"] = False
                row["sympy_status"] = f"result not evaluable ({type(err).__name__}: {str(err)[:80]})"
                row["sympy_traceback"] = traceback.format_exc(limit=3)
    row["speedup"] = ratio(row.get("sympy_time"), row.get("matcalc_time"))
    return row


def summarize(rows: list[dict]) -> dict:
    out = {}
    for kind in ("gradient", "hessian", "all"):
        sel = [r for r in rows if kind == "all" or r["kind"] == kind]
        speedups = [r["speedup"] for r in sel if r.get("speedup") is not None]
        both = [r for r in sel if r.get("speedup") is not None and r["matcalc_correct"] and r["sympy_correct"]]
        mc_times = [r["matcalc_time"] for r in sel if r.get("matcalc_time") is not None]
        sp_times = [r["sympy_time"] for r in sel if r.get("sympy_time") is not None]
        out[kind] = {
            "cases": len(sel),
            "matcalc_supported": sum(r.get("matcalc_time") is not None for r in sel),
            "matcalc_correct": sum(bool(r["matcalc_correct"]) for r in sel),
            "sympy_supported": sum(bool(r.get("sympy_supported")) for r in sel),
            "sympy_correct": sum(bool(r.get("sympy_correct")) for r in sel),
            "matcalc_median_ms": 1e3 * statistics.median(mc_times) if mc_times else None,
            "matcalc_max_ms": 1e3 * max(mc_times) if mc_times else None,
            "sympy_median_ms": 1e3 * statistics.median(sp_times) if sp_times else None,
            "speedup_cases": len(speedups),
            "speedup_median": statistics.median(speedups) if speedups else None,
            "speedup_min": min(speedups) if speedups else None,
            "speedup_max": max(speedups) if speedups else None,
            "speedup_geomean": float(np.exp(np.mean(np.log(speedups)))) if speedups else None,
            "speedup_both_correct_median": statistics.median([r["speedup"] for r in both]) if both else None,
            "speedup_both_correct_min": min([r["speedup"] for r in both]) if both else None,
            "both_correct_cases": len(both),
        }
    return out


def run(repeats: int, limit: float, log=print) -> dict:
    import warnings

    import sympy  # noqa: F401  (import time is not part of any measurement)
    from sympy.utilities.exceptions import SymPyDeprecationWarning

    warnings.simplefilter("ignore", SymPyDeprecationWarning)  # raised inside SymPy's own array code

    matcalc.gradient("x^T A x", wrt="x")  # load the parser once
    rows = []
    for case in CASES:
        row = run_case(case, repeats, limit)
        rows.append(row)
        log(f"  {case.kind[:4]} {case.name:40s} matcalc {row.get('matcalc_time') or 0:8.4f}s {row['matcalc_status'][:30]:30s}"
            f" sympy {row.get('sympy_time') or 0:8.4f}s {row['sympy_status'][:60]}")
    return {"repeats": repeats, "time_limit_s": limit, "cases": rows, "summary": summarize(rows)}
