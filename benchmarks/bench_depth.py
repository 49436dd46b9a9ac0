"""Section 3: scaling with depth, the gradients of an L-layer MLP loss.

    f = ||sigmoid(... sigmoid(X W1 + b1^T) W2 + b2^T ...) WL + bL^T - Y||_F^2

(sigmoid after every layer but the last), differentiated with respect to all Wi and bi
in one ``matcalc.gradient(f, wrt=[W1, b1, ..., WL, bL])`` call.  Measured per L:

* the derivation time (parse included; median of the timed calls, after a warm-up on L = 2
  that loads the parser and the element-wise table);
* the output size: ``matcalc.simplify.size`` of each result (distinct nodes of its DAG),
  summed; the distinct nodes of all results together; the length in characters of the
  shared printout (``matcalc.cse.share``, printed the way ``matcalc grad`` prints it) and of
  the results written out in full.

Each L runs in its own process with a time limit, so that a depth matcalc cannot handle
in reasonable time is reported as such instead of stalling the run; once one L runs out of
time, the larger ones are not attempted.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

DEPTHS = [1, 2, 4, 8, 16, 32, 64]


def mlp_loss(L: int) -> str:
    h = "X"
    for i in range(1, L + 1):
        z = f"{h} W{i} + b{i}^T"
        h = f"sigmoid({z})" if i < L else z
    return f"||{h} - Y||_F^2"


def variables(L: int) -> list[str]:
    return [f"{p}{i}" for i in range(1, L + 1) for p in ("W", "b")]


def measure_depth(L: int, repeats: int, budget: float, check: bool) -> dict:
    from common import timed_gradients

    from matcalc.simplify import size

    text = mlp_loss(L)
    timing, figures = timed_gradients(text, variables(L), (mlp_loss(2), variables(2)), repeats, budget)
    rs = figures.pop("results")
    full = "\n".join(f"grad_{name} f = {r}" for name, r in rs.items())
    out = {
        "L": L,
        "expression_chars": len(text),
        "time": timing["median"],
        "min": timing["min"],
        "repeats": timing["repeats"],
        "size_sum": sum(size(r.expr) for r in rs.values()),
        **figures,
        "full_chars": len(full),
    }
    if check:
        out["check_ok"] = all(r.check(points=1).ok for r in rs.values())
    return out


def run(limit: float, repeats: int, budget: float, log=print, depths=DEPTHS) -> dict:
    """Each depth in a child process with ``limit`` seconds; stop at the first that runs out."""
    rows = []
    stopped = None
    for L in depths:
        if stopped is not None:
            rows.append({"L": L, "time": None, "status": f"not attempted (L={stopped} ran out of time)"})
            continue
        cmd = [sys.executable, os.path.abspath(__file__), "--worker", str(L), "--repeats", str(repeats),
               "--budget", str(budget)] + (["--check"] if L <= 4 else [])
        t0 = time.perf_counter()
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=limit)
        except subprocess.TimeoutExpired:
            rows.append({"L": L, "time": None, "status": f"did not finish within {limit:g} s"})
            log(f"  L={L:3d}  did not finish within {limit:g} s")
            stopped = L
            continue
        if done.returncode != 0:
            rows.append({"L": L, "time": None, "status": "failed: " + (done.stderr.strip().splitlines() or ["?"])[-1][:200]})
            log(f"  L={L:3d}  failed")
            stopped = L
            continue
        row = json.loads(done.stdout)
        row["status"] = "ok"
        row["wall"] = time.perf_counter() - t0
        rows.append(row)
        log(f"  L={L:3d}  {row['time']:.4g} s  size {row['size_sum']}  shared {row['shared_chars']} chars"
            f"  full {row['full_chars']} chars")
    by_L = {r["L"]: r for r in rows}

    def ratio(key, a, b):
        ra, rb = by_L.get(a, {}).get(key), by_L.get(b, {}).get(key)
        return ra / rb if ra and rb else None

    ratios = {f"{key}_64_over_8": ratio(key, 64, 8) for key in ("time", "size_sum", "shared_chars", "full_chars", "distinct_nodes")}
    doubling = []
    measured = [r for r in rows if r.get("time")]
    for a, b in zip(measured, measured[1:]):
        doubling.append({"from": a["L"], "to": b["L"], "time": b["time"] / a["time"], "size_sum": b["size_sum"] / a["size_sum"],
                         "shared_chars": b["shared_chars"] / a["shared_chars"]})
    return {"rows": rows, "ratios": ratios, "doubling": doubling, "limit_s": limit, "repeats": repeats,
            "loss": mlp_loss(2)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--worker", type=int, required=True, help="L")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--budget", type=float, default=30.0)
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args(argv)
    from matcalc.guard import recursion_room

    with recursion_room():  # share and the printers are called directly, not through an entry point
        print(json.dumps(measure_depth(args.worker, args.repeats, args.budget, args.check)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
