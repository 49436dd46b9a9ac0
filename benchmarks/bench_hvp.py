"""Section 6: Hessian-vector products, the three problems of section 2 (bench_hessian.py) and a
two-layer network's first-layer weights.

* quadratic       f(x) = x^T A x                          H[v] = (A + A^T) v
* logistic        f(w) = sum(log(1 + exp(-y .* (X w))))   H[v] = X^T (s .* (1 - s) .* (X v)), s = sigmoid(-y .* (X w))
* factorisation   f(U) = ||T - U V^T||_F^2                H[D] = 2 D V^T V   (U, V: n x k, k = 10)
* two-layer       f(W1) = ||sigmoid(X W1 + b1^T) W2 + b2^T - Y||_F^2   (X: 2n x n, W1: n x k, W2: k x k)

Two ways of applying the Hessian, each against its peer, in float64 on the CPU:

* per call, from scratch: the NumPy function generated from ``matcalc.hvp(...)``
  (``r.to_numpy()``), which takes the direction as one more value, against
  ``jax.jit(lambda x, v: jax.jvp(jax.grad(f), (x,), (v,))[1])`` (forward over reverse, with
  ``jax_enable_x64``, ``block_until_ready``, after a warm-up call that traces and compiles),
  against the dense Hessian formed and applied to vec(v) (the function generated from
  ``matcalc.hessian(...)``, section 2's matcalc; for the network, whose generated Hessian
  carries (2nk)^2 temporaries, its blocks X^T diag(c_ab) X written out in NumPy) while it fits
  in ``DENSE_LIMIT`` bytes, and beside matcalc's generated gradient (the cost of one gradient);
* at a fixed point, many directions (Newton-CG, Krylov solvers): ``H = r.at(values)``, which
  computes what does not depend on the direction once, then ``H(v)``, against
  ``jax.linearize(jax.grad(f), x)`` (jitted, the linear function's residuals passed to a
  jitted application); the set-up of both is timed too.

Every result is compared with jax's per-call one before anything is timed.  This file runs as
its own process (``run.py`` starts it as it starts section 2) and writes JSON; with ``--md``
also the Markdown tables that ``run.py``'s report holds (``markdown``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import bench_hessian  # noqa: E402
from bench_hessian import K, interleaved, rel_diff  # noqa: E402
from common import blas_info, blas_summary, fmt_ratio, fmt_time  # noqa: E402

AGREE = 1e-9  # largest relative difference accepted between matcalc, jax and the dense product
DENSE_LIMIT = 2 * 2**30  # bytes a dense Hessian (and what forming it needs at once) may take
DENSE_SECONDS = 20.0  # a dense Hessian estimated to take longer (from the size before) is not formed
# how the time to form the dense Hessian grows with n: A + A^T, X^T D X, kron(2 V^T V, I), k^2 blocks X^T D X
DENSE_GROWTH = {"quadratic": 2, "logistic": 3, "factorisation": 2, "two-layer": 3}


class TwoLayer(bench_hessian.Problem):
    """A two-layer network's squared error, as a function of its first-layer weights."""
    name, text, wrt = "two-layer", "||sigmoid(X W1 + b1^T) W2 + b2^T - Y||_F^2", "W1"

    def __init__(self, n, seed=0):
        super().__init__(n, seed)
        r = self.rng
        self.values = {"X": r.standard_normal((2 * n, n)), "W1": r.standard_normal((n, K)) / np.sqrt(n),
                       "b1": r.standard_normal(K), "W2": r.standard_normal((K, K)), "b2": r.standard_normal(K),
                       "Y": r.standard_normal((2 * n, K))}

    @property
    def N(self):
        return self.n * K

    def dense_bytes(self):  # the Hessian, and one n x n block beside it
        return 8 * (self.N ** 2 + self.n ** 2)

    def dense(self, X, W1, b1, W2, b2, Y):
        """The Hessian d vec(grad_W1 f) / d vec(W1)^T written out: block (a, b), of the hidden units
        a and b, is X^T diag(c_ab) X with c_ab = 2 (W2 W2^T)_ab s'_a .* s'_b (+ the second
        derivative of sigmoid times the back-propagated error where a = b)."""
        s = 1.0 / (1.0 + np.exp(-(X @ W1 + b1)))
        s1 = s * (1.0 - s)
        err = 2.0 * ((s @ W2 + b2 - Y) @ W2.T) * s1 * (1.0 - 2.0 * s)
        g, (m, k) = 2.0 * W2 @ W2.T, W1.shape
        H = np.empty((m * k, m * k))
        for a in range(k):
            for b in range(a, k):
                c = g[a, b] * s1[:, a] * s1[:, b] + (err[:, a] if a == b else 0.0)
                block = X.T @ (c[:, None] * X)
                H[a * m:(a + 1) * m, b * m:(b + 1) * m] = block
                H[b * m:(b + 1) * m, a * m:(a + 1) * m] = block.T
        return H

    def variable(self):  # vec(W1), columns stacked
        return self.values["W1"].reshape(-1, order="F").copy()

    def others(self):
        return [self.values[k] for k in ("X", "b1", "W2", "b2", "Y")]

    @staticmethod
    def f(xp):
        def f(u, X, b1, W2, b2, Y):
            W1 = xp.reshape(u, (K, X.shape[1])).T  # vec(W1) -> W1, column-major
            s = 1.0 / (1.0 + xp.exp(-(X @ W1 + b1)))
            r = s @ W2 + b2 - Y
            return xp.sum(r * r)

        return f


PROBLEMS = {**bench_hessian.PROBLEMS, "two-layer": TwoLayer}


def direction(p, rng) -> np.ndarray:
    """A random direction shaped like the variable as matcalc takes it (U for the factorisation)."""
    return rng.standard_normal(p.values[p.wrt].shape)


def flat(a) -> np.ndarray:
    """vec, columns stacked: how jax's functions of section 2 take the factorisation's U."""
    return np.asarray(a).reshape(-1, order="F")


class Jax(bench_hessian.Jax):
    """Section 2's jax, with its forward-over-reverse Hessian-vector product, per call and linearized at a point."""

    def hvp(self, p, v):
        jax, f = self.jax, p.f(self.jnp)
        h = jax.jit(lambda x, d, *rest: jax.jvp(jax.grad(lambda y: f(y, *rest)), (x,), (d,))[1])
        args = [self.jnp.asarray(p.variable()), self.jnp.asarray(flat(v))] + [self.jnp.asarray(a) for a in p.others()]
        return lambda: h(*args).block_until_ready()

    def generated(self, r, values):
        """matcalc's generated function run on JAX arrays under jax.jit: the same source as the NumPy
        column, on XLA's kernels, which tells the derivative's cost from the array library's."""
        fn = r.compile()
        jitted, args = self.jax.jit(fn), [self.jnp.asarray(values[name]) for name in fn.parameters]
        return lambda: jitted(*args).block_until_ready()

    def linearized(self, p, v):
        """(set-up, apply): jax.linearize(grad f, x) jitted, its linear function (a pytree of the
        residuals) then applied to v by a jitted call."""
        jax, f = self.jax, p.f(self.jnp)
        at = jax.jit(lambda x, *rest: jax.linearize(jax.grad(lambda y: f(y, *rest)), x)[1])
        apply = jax.jit(lambda linear, d: linear(d))
        args = [self.jnp.asarray(a) for a in (p.variable(), *p.others())]
        linear = jax.block_until_ready(at(*args))
        d = self.jnp.asarray(flat(v))
        return (lambda: jax.block_until_ready(at(*args))), (lambda: apply(linear, d).block_until_ready())


def check(row: dict, name: str, ours, theirs, what: str) -> None:
    row[name] = rel_diff(flat(ours), flat(theirs))
    if row[name] > AGREE:
        raise AssertionError(f"{what} differs: {row[name]:.2e}")


def run_problem(p, jax_tool, repeats: int, budget: float, dense_seconds: dict, log) -> dict:
    import matcalc

    row = {"problem": p.name, "n": p.n, "N": p.N, "text": p.text, "wrt": p.wrt}
    v = direction(p, np.random.default_rng(1))
    r = matcalc.hvp(p.text, wrt=p.wrt)
    row["matcalc_hvp"] = str(r)
    fn, gradient = r.to_numpy(), matcalc.gradient(p.text, wrt=p.wrt).to_numpy()
    values = {**p.values, r.direction.name: v}
    H = r.at(p.values)
    calls = {"matcalc": lambda: fn(**values), "matcalc_at": lambda: H(v), "matcalc_point": lambda: r.at(p.values),
             "gradient": lambda: gradient(**p.values)}
    ours = calls["matcalc"]()
    check(row, "at_agreement", calls["matcalc_at"](), ours, f"matcalc's {p.name} HVP at a point and per call")
    if jax_tool is not None:
        calls["jax"] = jax_tool.hvp(p, v)
        check(row, "jax_agreement", ours, calls["jax"](), f"matcalc's {p.name} HVP and jax's")
        calls["matcalc_jax"] = jax_tool.generated(r, values)
        check(row, "matcalc_jax_agreement", ours, calls["matcalc_jax"](), f"matcalc's {p.name} HVP on JAX and NumPy")
        calls["jax_point"], calls["jax_at"] = jax_tool.linearized(p, v)
        check(row, "jax_at_agreement", ours, calls["jax_at"](), f"matcalc's {p.name} HVP and jax's linearized one")
    dense_bytes = p.dense_bytes() if hasattr(p, "dense_bytes") else 8 * p.N * p.N
    before_n, before_s = dense_seconds.get(p.name, (p.n, 0.0))
    estimate = before_s * (p.n / before_n) ** DENSE_GROWTH[p.name]
    if dense_bytes > DENSE_LIMIT:
        row["dense_note"] = f"the dense Hessian ({p.N} x {p.N}) would take {8 * p.N * p.N / 2**30:.1f} GiB"
    elif estimate > DENSE_SECONDS:
        row["dense_note"] = f"forming the dense Hessian would take about {estimate:.0f} s"
    else:
        dense = p.dense if hasattr(p, "dense") else matcalc.hessian(p.text, wrt=p.wrt).to_numpy()
        vv = flat(v)
        calls["dense"] = lambda: dense(**p.values) @ vv
        check(row, "dense_agreement", ours, calls["dense"](), f"matcalc's {p.name} HVP and the dense Hessian's")
    timed = interleaved(calls, repeats, budget)
    for name, t in timed.items():
        row[name] = {"median": t["median"], "min": t["min"], "repeats": t["repeats"]}
    if "dense" in timed:
        dense_seconds[p.name] = (p.n, timed["dense"]["median"])
    for ours_, peer in (("matcalc", "jax"), ("matcalc", "dense"), ("matcalc_at", "jax_at"), ("matcalc_jax", "jax")):
        for stat, suffix in (("median", ""), ("min", "_min")):
            t = row.get(peer, {}).get(stat)
            row[f"{ours_}_vs_{peer}{suffix}"] = t / row[ours_][stat] if t else None  # > 1: matcalc is faster
    row["matcalc_over_gradient"] = row["matcalc"]["median"] / row["gradient"]["median"]
    log(f"  {p.name:13s} n={p.n:6d}  " + "  ".join(f"{k} {row[k]['median']:.4g}s" for k in calls if k in row)
        + (f"  ({row['dense_note']})" if "dense_note" in row else ""))
    return row


def markdown(h: dict) -> str:
    """The section of the report: both tables, with the ratios of the median and of the fastest calls."""
    t = fmt_time
    lines = [
        f"Command (its own process): `{h.get('command', '')}`.",
        "",
        f"Times are medians of up to {h['repeats']} calls (at most about {h['budget_s']:g} s of timed calls each), "
        "every call of a row timed in the same interleaved rounds as in section 2. Ratios are peer time / matcalc "
        "time (above 1, matcalc is faster); every result agreed with jax's to a relative difference below 1e-9 "
        f"before timing. Factorisation: U, V are n x {h['k']}, the Hessian {h['k']}n x {h['k']}n; two-layer: X is "
        f"2n x n, W1 n x {h['k']}, W2 {h['k']} x {h['k']}, the Hessian {h['k']}n x {h['k']}n.",
        "",
        f"BLAS in this process: {blas_summary(h.get('blas', []))}; "
        f"JAX devices: {', '.join(h.get('jax_devices') or []) or '-'}; load average at the start and the end: "
        f"{h.get('load_start', '-')}, {h.get('load_end', '-')}.",
        "",
    ]
    if h.get("missing_tools"):
        lines += [f"Not measured (not installed): {', '.join(h['missing_tools'])}.", ""]
    lines += [
        "**Per call, from scratch.** matcalc: the NumPy function generated from `matcalc.hvp`, given the direction as "
        "one more value; jax: `jax.jit(lambda x, v: jax.jvp(jax.grad(f), (x,), (v,))[1])`; dense: the Hessian formed "
        f"and applied to vec(v), while it fits in {h['dense_limit_bytes'] / 2**30:g} GiB (the function generated from "
        "`matcalc.hessian`; for the two-layer network its blocks X^T diag(c) X written out in NumPy, as matcalc's "
        "generated Hessian of the network carries (2nk)^2 temporaries); gradient: matcalc's generated gradient, "
        "the cost of one gradient evaluation; matcalc on JAX: the same generated function given JAX arrays, under "
        "`jax.jit` (XLA's kernels for both: the derivative's cost apart from the array library's).",
        "",
    ]
    header = ["problem", "n", "Hessian size", "matcalc", "jax HVP", "dense H v", "gradient", "jax / matcalc",
              "dense / matcalc", "matcalc / gradient", "jax / matcalc (fastest)", "matcalc on JAX",
              "jax / matcalc on JAX"]
    rows = []
    for r in h["rows"]:
        dense = t(r["dense"]["median"]) if "dense" in r else "does not fit" if "GiB" in r.get("dense_note", "") \
            else "not formed"
        rows.append([r["problem"], r["n"], r["N"], t(r["matcalc"]["median"]), t((r.get("jax") or {}).get("median")),
                     dense, t(r["gradient"]["median"]), fmt_ratio(r.get("matcalc_vs_jax")),
                     fmt_ratio(r.get("matcalc_vs_dense")), fmt_ratio(r.get("matcalc_over_gradient")),
                     fmt_ratio(r.get("matcalc_vs_jax_min")), t((r.get("matcalc_jax") or {}).get("median")),
                     fmt_ratio(r.get("matcalc_jax_vs_jax"))])
    lines += _table(header, rows)
    notes = [f"- {r['problem']} n={r['n']}: {r['dense_note']}." for r in h["rows"] if r.get("dense_note")]
    if notes:
        lines += ["", "Where the dense Hessian was not formed:", "", *notes]
    lines += [
        "",
        "**At a fixed point, many directions.** matcalc: `H = matcalc.hvp(...).at(values)` computes what does not "
        "depend on the direction once (set-up), then `H(v)` the rest; jax: `jax.jit` of "
        "`jax.linearize(jax.grad(f), x)[1]` (set-up), its linear function then applied by "
        "`jax.jit(lambda linear, v: linear(v))`.",
        "",
    ]
    header = ["problem", "n", "matcalc H(v)", "jax linearized", "jax / matcalc", "jax / matcalc (fastest)",
              "matcalc set-up", "jax set-up"]
    rows = [[r["problem"], r["n"], t(r["matcalc_at"]["median"]), t((r.get("jax_at") or {}).get("median")),
             fmt_ratio(r.get("matcalc_at_vs_jax_at")), fmt_ratio(r.get("matcalc_at_vs_jax_at_min")),
             t(r["matcalc_point"]["median"]), t((r.get("jax_point") or {}).get("median"))] for r in h["rows"]]
    lines += _table(header, rows)
    lines += ["", "matcalc's H[v], as derived: " + "; ".join(
        sorted({f"{r['problem']}: `{r['matcalc_hvp']}`" for r in h["rows"]}))]
    return "\n".join(lines)


def _table(header: list, rows: list) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|",
            *("| " + " | ".join(str(c) for c in row) + " |" for row in rows)]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1000,3000,10000,20000", help="sizes for the quadratic")
    ap.add_argument("--logistic-sizes", default="1000,3000,10000")
    ap.add_argument("--factorisation-sizes", default="1000,3000,10000")
    ap.add_argument("--two-layer-sizes", default="1000,3000,10000")
    ap.add_argument("--repeats", type=int, default=9)
    ap.add_argument("--budget", type=float, default=5.0, help="seconds of timed calls per measurement")
    ap.add_argument("--out", required=True, help="JSON file")
    ap.add_argument("--md", default=None, help="also write the Markdown tables here")
    args = ap.parse_args(argv)

    def log(msg):
        print(msg, file=sys.stderr, flush=True)

    missing = {}
    try:
        jax_tool = Jax()
    except ImportError as err:
        jax_tool, missing["jax"] = None, str(err)
    sizes = {"quadratic": args.sizes, "logistic": args.logistic_sizes, "factorisation": args.factorisation_sizes,
             "two-layer": args.two_layer_sizes}
    rows, dense_seconds = [], {}
    started, load_start = time.perf_counter(), " ".join(f"{x:.2f}" for x in os.getloadavg())
    for name, cls in PROBLEMS.items():
        for n in (int(s) for s in sizes[name].split(",") if s):
            rows.append(run_problem(cls(n), jax_tool, args.repeats, args.budget, dense_seconds, log))
    info = {
        "rows": rows, "k": K, "repeats": args.repeats, "budget_s": args.budget, "dense_limit_bytes": DENSE_LIMIT,
        "missing_tools": missing, "blas": blas_info(),
        "jax_devices": [str(d) for d in jax_tool.jax.devices()] if jax_tool else None,
        "seconds": time.perf_counter() - started,
        "load_start": load_start, "load_end": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "command": "env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE JAX_PLATFORMS=cpu python benchmarks/bench_hvp.py "
                   f"--sizes {args.sizes} --logistic-sizes {args.logistic_sizes} --factorisation-sizes "
                   f"{args.factorisation_sizes} --two-layer-sizes {args.two_layer_sizes} --repeats {args.repeats} "
                   f"--budget {args.budget:g} --out {args.out}" + (f" --md {args.md}" if args.md else ""),
    }
    with open(args.out, "w") as fh:
        json.dump(info, fh, indent=1)
    if args.md:
        with open(args.md, "w") as fh:
            fh.write("# Hessian-vector products\n\n" + markdown(info) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
