"""Section 6: Hessian-vector products, the three problems of section 2 (bench_hessian.py).

* quadratic       f(x) = x^T A x                          H[v] = (A + A^T) v
* logistic        f(w) = sum(log(1 + exp(-y .* (X w))))   H[v] = X^T (s .* (1 - s) .* (X v)), s = sigmoid(-y .* (X w))
* factorisation   f(U) = ||T - U V^T||_F^2                H[D] = 2 D V^T V   (U, V: n x k, k = 10)

Compared, in float64 on the CPU:

* matcalc: the NumPy function generated from ``matcalc.hvp(...)`` (``r.to_numpy()``), which
  takes the direction as one more value; the derivation is not timed.
* jax: ``jax.jit(lambda x, v: jax.jvp(jax.grad(f), (x,), (v,))[1])`` (forward over reverse)
  with ``jax_enable_x64``, timed with ``block_until_ready`` after a warm-up call that traces and
  compiles.
* dense: the dense Hessian (the function generated from ``matcalc.hessian(...)``, section 2's
  matcalc) formed and applied to vec(v), while it fits in ``DENSE_LIMIT`` bytes; beyond that
  size the row says so.

Every result is compared with jax's before anything is timed.  This file runs as its own
process (``run.py`` starts it as it starts section 2) and writes JSON; with ``--md`` also the
Markdown table that ``run.py``'s report holds (``markdown``).
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
from bench_hessian import PROBLEMS, K, interleaved, rel_diff  # noqa: E402
from common import blas_info, blas_summary, fmt_ratio, fmt_time  # noqa: E402

AGREE = 1e-9  # largest relative difference accepted between matcalc, jax and the dense product
DENSE_LIMIT = 2 * 2**30  # bytes a dense Hessian may take
DENSE_SECONDS = 20.0  # a dense Hessian estimated to take longer (from the size before) is not formed
DENSE_GROWTH = {"quadratic": 2, "logistic": 3, "factorisation": 2}  # forming it: A + A^T, X^T D X, kron(2 V^T V, I)


def direction(p, rng) -> np.ndarray:
    """A random direction shaped like the variable as matcalc takes it (U for the factorisation)."""
    return rng.standard_normal(p.values[p.wrt].shape)


def flat(a) -> np.ndarray:
    """vec, columns stacked: how jax's functions of section 2 take the factorisation's U."""
    return np.asarray(a).reshape(-1, order="F")


class Jax(bench_hessian.Jax):
    """Section 2's jax, with its forward-over-reverse Hessian-vector product."""

    def hvp(self, p, v):
        jax, f = self.jax, p.f(self.jnp)
        h = jax.jit(lambda x, d, *rest: jax.jvp(jax.grad(lambda y: f(y, *rest)), (x,), (d,))[1])
        args = [self.jnp.asarray(p.variable()), self.jnp.asarray(flat(v))] + [self.jnp.asarray(a) for a in p.others()]
        return lambda: h(*args).block_until_ready()


def run_problem(p, jax_tool, repeats: int, budget: float, dense_seconds: dict, log) -> dict:
    import matcalc

    row = {"problem": p.name, "n": p.n, "N": p.N, "text": p.text, "wrt": p.wrt}
    v = direction(p, np.random.default_rng(1))
    r = matcalc.hvp(p.text, wrt=p.wrt)
    row["matcalc_hvp"] = str(r)
    fn = r.to_numpy()
    values = {**p.values, r.direction.name: v}
    calls = {"matcalc": lambda: fn(**values)}
    ours = flat(calls["matcalc"]())
    if jax_tool is not None:
        calls["jax"] = jax_tool.hvp(p, v)
        row["jax_agreement"] = rel_diff(ours, np.asarray(calls["jax"]()))
        if row["jax_agreement"] > AGREE:
            raise AssertionError(f"matcalc's {p.name} HVP differs from jax's: {row['jax_agreement']:.2e}")
    dense_bytes = 8 * p.N * p.N
    before_n, before_s = dense_seconds.get(p.name, (p.n, 0.0))
    estimate = before_s * (p.n / before_n) ** DENSE_GROWTH[p.name]
    if dense_bytes > DENSE_LIMIT:
        row["dense_note"] = f"the dense Hessian ({p.N} x {p.N}) would take {dense_bytes / 2**30:.1f} GiB"
    elif estimate > DENSE_SECONDS:
        row["dense_note"] = f"forming the dense Hessian would take about {estimate:.0f} s"
    else:
        dense = matcalc.hessian(p.text, wrt=p.wrt).to_numpy()
        vv = flat(v)
        calls["dense"] = lambda: dense(**p.values) @ vv
        row["dense_agreement"] = rel_diff(ours, calls["dense"]())
        if row["dense_agreement"] > AGREE:
            raise AssertionError(f"matcalc's {p.name} HVP differs from the dense Hessian's: {row['dense_agreement']:.2e}")
    timed = interleaved(calls, repeats, budget)
    for name, t in timed.items():
        row[name] = {"median": t["median"], "min": t["min"], "repeats": t["repeats"]}
    if "dense" in timed:
        dense_seconds[p.name] = (p.n, timed["dense"]["median"])
    for peer in ("jax", "dense"):
        t = row.get(peer, {}).get("median")
        row[f"matcalc_vs_{peer}"] = t / row["matcalc"]["median"] if t else None  # > 1: matcalc is faster
        t = row.get(peer, {}).get("min")
        row[f"matcalc_vs_{peer}_min"] = t / row["matcalc"]["min"] if t else None
    log(f"  {p.name:13s} n={p.n:6d}  matcalc {row['matcalc']['median']:.4g}s  "
        + "  ".join(f"{k} {row[k]['median']:.4g}s" for k in ("jax", "dense") if k in row)
        + (f"  ({row['dense_note']})" if "dense_note" in row else ""))
    return row


def markdown(h: dict) -> str:
    """The section of the report: the table, with the ratios of the median and of the fastest calls."""
    lines = [
        f"Command (its own process): `{h.get('command', '')}`.",
        "",
        f"Times are medians of up to {h['repeats']} calls (at most about {h['budget_s']:g} s of timed calls each), "
        "timed in interleaved rounds as in section 2. matcalc: the NumPy function generated from `matcalc.hvp`, "
        "given the direction as one more value; jax: `jax.jit(lambda x, v: jax.jvp(jax.grad(f), (x,), (v,))[1])`; "
        "dense: the Hessian generated from `matcalc.hessian`, formed and applied to vec(v), while it fits in "
        f"{h['dense_limit_bytes'] / 2**30:g} GiB. Ratios are peer time / matcalc time (above 1, matcalc is faster); "
        "every result agreed with jax's to a relative difference below 1e-9 before timing. "
        f"Factorisation: U, V are n x {h['k']}, the Hessian {h['k']}n x {h['k']}n.",
        "",
        f"BLAS in this process: {blas_summary(h.get('blas', []))}; "
        f"JAX devices: {', '.join(h.get('jax_devices') or []) or '-'}.",
        "",
    ]
    if h.get("missing_tools"):
        lines += [f"Not measured (not installed): {', '.join(h['missing_tools'])}.", ""]
    header = ["problem", "n", "Hessian size", "matcalc", "jax HVP", "dense H v", "jax / matcalc", "dense / matcalc",
              "jax / matcalc (fastest)"]
    rows = []
    for r in h["rows"]:
        dense = fmt_time(r["dense"]["median"]) if "dense" in r else "does not fit" if "GiB" in r.get("dense_note", "") \
            else "not formed"
        rows.append([r["problem"], r["n"], r["N"], fmt_time(r["matcalc"]["median"]),
                     fmt_time((r.get("jax") or {}).get("median")), dense, fmt_ratio(r.get("matcalc_vs_jax")),
                     fmt_ratio(r.get("matcalc_vs_dense")), fmt_ratio(r.get("matcalc_vs_jax_min"))])
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "|".join(" --- " for _ in header) + "|")
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    notes = [f"- {r['problem']} n={r['n']}: {r['dense_note']}." for r in h["rows"] if r.get("dense_note")]
    if notes:
        lines += ["", "Where the dense Hessian was not formed:", "", *notes]
    lines += ["", "matcalc's H[v], as derived: " + "; ".join(
        sorted({f"{r['problem']}: `{r['matcalc_hvp']}`" for r in h["rows"]}))]
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1000,3000,10000,20000", help="sizes for the quadratic")
    ap.add_argument("--logistic-sizes", default="1000,3000,10000")
    ap.add_argument("--factorisation-sizes", default="1000,3000,10000")
    ap.add_argument("--repeats", type=int, default=9)
    ap.add_argument("--budget", type=float, default=5.0, help="seconds of timed calls per measurement")
    ap.add_argument("--out", required=True, help="JSON file")
    ap.add_argument("--md", default=None, help="also write the Markdown table here")
    args = ap.parse_args(argv)

    def log(msg):
        print(msg, file=sys.stderr, flush=True)

    missing = {}
    try:
        jax_tool = Jax()
    except ImportError as err:
        jax_tool, missing["jax"] = None, str(err)
    sizes = {"quadratic": args.sizes, "logistic": args.logistic_sizes, "factorisation": args.factorisation_sizes}
    rows, dense_seconds = [], {}
    started = time.perf_counter()
    for name, cls in PROBLEMS.items():
        for n in (int(s) for s in sizes[name].split(",") if s):
            rows.append(run_problem(cls(n), jax_tool, args.repeats, args.budget, dense_seconds, log))
    info = {
        "rows": rows, "k": K, "repeats": args.repeats, "budget_s": args.budget, "dense_limit_bytes": DENSE_LIMIT,
        "missing_tools": missing, "blas": blas_info(),
        "jax_devices": [str(d) for d in jax_tool.jax.devices()] if jax_tool else None,
        "seconds": time.perf_counter() - started,
        "command": "env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE JAX_PLATFORMS=cpu python benchmarks/bench_hvp.py "
                   f"--sizes {args.sizes} --logistic-sizes {args.logistic_sizes} --factorisation-sizes "
                   f"{args.factorisation_sizes} --repeats {args.repeats} --budget {args.budget:g}",
    }
    with open(args.out, "w") as fh:
        json.dump(info, fh, indent=1)
    if args.md:
        with open(args.md, "w") as fh:
            fh.write("# Hessian-vector products\n\n" + markdown(info) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
