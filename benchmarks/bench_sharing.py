"""Section 5: shared subexpressions, whose paths through the expression multiply with depth.

Four families of depth k, each written with definitions (``h1 = ...; h2 = ...; f``):

* nested softmax: ``sum(softmax(softmax(... softmax(x) ...)) .* y)`` wrt x: the differential of
  softmax, ``s .* du - s s^T du``, uses du twice, so 2^k paths lead from f to dx;
* residual stack: ``h_{i+1} = h_i + tanh(W_i h_i)``, ``f = sum(h_k)`` wrt every W_i;
* reuse: ``v_{i+1} = sin(v_i) + cos(v_i)``, ``f = sum(v_k)`` wrt x: one subexpression used twice
  at every level;
* attention-like: ``h_{i+1} = h_i + V_i^T softmax(K_i h_i)``, ``f = y^T h_k`` wrt every K_i, V_i.

A reverse pass that sums the carries reaching a node before applying its rule (as
reverse-mode automatic differentiation does) costs time linear in k; one that walks every path
costs 2^k.  Measured per family and k: the derivation time (parse included; median after a
warm-up at k = 2), the distinct nodes of all results together and the references between
them (edges: a sum of i terms has i, and the normal form keeps sums flat, so a residual
stack's h_i = x + t_1 + ... + t_i has i of them), the length of the shared
printout (``matcalc.cse.share``, as ``matcalc grad`` prints it) and the tree size the results
would have written out in full (``matcalc.simplify.weight``, counted, not printed).  Each k
runs in its own process with a time limit; once one runs out, the larger ones are not attempted.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def nested_softmax(k: int) -> tuple[str, list[str]]:
    lines = [f"s{i} = softmax({'x' if i == 1 else f's{i - 1}'})" for i in range(1, k + 1)]
    return "; ".join(lines + [f"sum(s{k} .* y)"]), ["x"]


def residual(k: int) -> tuple[str, list[str]]:
    lines = [f"h{i} = {'x' if i == 1 else f'h{i - 1}'} + tanh(W{i} {'x' if i == 1 else f'h{i - 1}'})"
             for i in range(1, k + 1)]
    return "; ".join(lines + [f"sum(h{k})"]), [f"W{i}" for i in range(1, k + 1)]


def reuse(k: int) -> tuple[str, list[str]]:
    lines = [f"v{i} = sin({'x' if i == 1 else f'v{i - 1}'}) + cos({'x' if i == 1 else f'v{i - 1}'})"
             for i in range(1, k + 1)]
    return "; ".join(lines + [f"sum(v{k})"]), ["x"]


def attention(k: int) -> tuple[str, list[str]]:
    lines = []
    for i in range(1, k + 1):
        h = "x" if i == 1 else f"h{i - 1}"
        lines.append(f"h{i} = {h} + V{i}^T softmax(K{i} {h})")
    return "; ".join(lines + [f"y^T h{k}"]), [f"{p}{i}" for i in range(1, k + 1) for p in ("K", "V")]


FAMILIES = {
    "nested softmax": (nested_softmax, [1, 2, 4, 8, 16, 32]),
    "residual stack": (residual, [1, 2, 4, 8, 16, 32, 64]),
    "reuse": (reuse, [1, 2, 4, 8, 16, 32, 64]),
    "attention-like": (attention, [1, 2, 4, 8, 16, 32]),
}


def measure_case(family: str, k: int, repeats: int, budget: float, check: bool) -> dict:
    from common import timed_gradients

    from matcalc.simplify import weight

    build = FAMILIES[family][0]
    timing, figures = timed_gradients(*build(k), build(2), repeats, budget)
    rs = figures.pop("results")
    out = {"family": family, "k": k, "time": timing["median"], "min": timing["min"], "repeats": timing["repeats"],
           **figures, "tree_size": sum(weight(r.expr) for r in rs.values())}
    if check:
        out["check_ok"] = all(r.check(points=1).ok for r in rs.values())
    return out


def run(limit: float, repeats: int, budget: float, log=print, families=None) -> dict:
    rows = []
    for family, (_, ks) in FAMILIES.items():
        if families and family not in families:
            continue
        stopped = None
        for k in ks:
            if stopped is not None:
                rows.append({"family": family, "k": k, "time": None, "status": f"not attempted (k={stopped} ran out of time)"})
                continue
            cmd = [sys.executable, os.path.abspath(__file__), "--worker", family, str(k), "--repeats", str(repeats),
                   "--budget", str(budget)] + (["--check"] if k <= 4 else [])
            try:
                done = subprocess.run(cmd, capture_output=True, text=True, timeout=limit)
            except subprocess.TimeoutExpired:
                rows.append({"family": family, "k": k, "time": None, "status": f"did not finish within {limit:g} s"})
                stopped = k
                continue
            if done.returncode != 0:
                rows.append({"family": family, "k": k, "time": None,
                             "status": "failed: " + (done.stderr.strip().splitlines() or ["?"])[-1][:200]})
                stopped = k
                continue
            row = json.loads(done.stdout)
            row["status"] = "ok"
            rows.append(row)
            log(f"  {family:15s} k={k:3d}  {row['time'] * 1e3:8.2f} ms  {row['distinct_nodes']:6d} nodes"
                f"  shared {row['shared_chars']:7d} chars  written out {row['tree_size']:.3g} nodes")
    return {"rows": rows, "growth": growth(rows), "limit_s": limit, "repeats": repeats,
            "examples": {family: build(2)[0] for family, (build, _) in FAMILIES.items()}}


def growth(rows: list[dict]) -> list[dict]:
    """Per family, the largest measured k against k = 8: linear growth gives k / 8."""
    out = []
    for family in dict.fromkeys(r["family"] for r in rows):
        measured = {r["k"]: r for r in rows if r["family"] == family and r.get("time")}
        if 8 not in measured:
            continue
        top = max(measured)
        a, b = measured[8], measured[top]
        out.append({"family": family, "from": 8, "to": top, "linear": top / 8, "time": b["time"] / a["time"],
                    "distinct_nodes": b["distinct_nodes"] / a["distinct_nodes"], "edges": b["edges"] / a["edges"],
                    "shared_chars": b["shared_chars"] / a["shared_chars"], "tree_size": b["tree_size"] / a["tree_size"]})
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--worker", nargs=2, metavar=("FAMILY", "K"), help="measure one case (in a child process)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--budget", type=float, default=30.0)
    ap.add_argument("--limit", type=float, default=60.0)
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args(argv)
    if args.worker:
        from matcalc.guard import recursion_room

        with recursion_room():  # share and the printers are called directly, not through an entry point
            print(json.dumps(measure_case(args.worker[0], int(args.worker[1]), args.repeats, args.budget, args.check)))
        return 0
    t0 = time.perf_counter()
    result = run(args.limit, args.repeats, args.budget)
    for g in result["growth"]:
        print(f"{g['family']}: k={g['to']} / k=8 (linear {g['linear']:g}x): time {g['time']:.2f}x, "
              f"nodes {g['distinct_nodes']:.2f}x, shared printout {g['shared_chars']:.2f}x")
    print(f"{time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
