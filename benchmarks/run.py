"""matcalc's benchmark suite: one command, seven sections, one report.

    python benchmarks/run.py [--quick] [--out DIR]

writes DIR/report.md and DIR/report.json (DIR: benchmarks/results, or benchmarks/results/quick
with --quick).  Every figure is a ratio against a peer measured in the same run: medians of
repeated calls timed with time.perf_counter after a warm-up.

1. derivation speed against SymPy's matrix-expression differentiation (bench_derivation.py)
2. dense Hessian evaluation against JAX, PyTorch and hand-written NumPy (bench_hessian.py,
   in its own process, with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE removed from its environment)
3. scaling with depth: the gradients of an L-layer MLP loss (bench_depth.py)
4. command-line start-up (bench_startup.py)
5. shared subexpressions: nested softmax, residual and attention-like stacks (bench_sharing.py)
6. Hessian-vector products against JAX's forward-over-reverse HVP and the dense Hessian times a
   vector, per call and at a fixed point against jax.linearize, with a two-layer network beside
   section 2's problems (bench_hvp.py, in its own process as section 2; it also writes results/hvp.md)
7. the generated logistic-regression gradient and Hessian on Dask, on a two-worker LocalCluster,
   past one machine's memory (bench_dask.py, in its own process; it also writes results/dask.md)

See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import common  # noqa: E402
from common import OPENBLAS_VARIABLES, blas_summary, fmt_ratio, fmt_time  # noqa: E402

SETTINGS = {
    "quick": {
        "derivation": {"repeats": 5, "limit": 20.0},
        "hessian": {"sizes": "100,300", "factorisation_sizes": "100,300", "repeats": 5, "budget": 3.0,
                    "dense_budget": 10.0},
        "depth": {"limit": 30.0, "repeats": 3, "budget": 10.0},
        "startup": {"runs": 10},
        "sharing": {"limit": 30.0, "repeats": 3, "budget": 5.0},
        "hvp": {"sizes": "1000,3000", "logistic_sizes": "1000", "factorisation_sizes": "1000,3000",
                "two_layer_sizes": "1000", "repeats": 3, "budget": 2.0},
        "dask": {"numpy_rows": 100_000, "dask_rows": 1_000_000, "chunk_rows": 100_000, "repeats": 1},
    },
    "full": {
        "derivation": {"repeats": 15, "limit": 30.0},
        "hessian": {"sizes": "100,300,1000,3000", "factorisation_sizes": "100,300,1000", "repeats": 9,
                    "budget": 15.0, "dense_budget": 30.0},
        "depth": {"limit": 120.0, "repeats": 5, "budget": 30.0},
        "startup": {"runs": 10},
        "sharing": {"limit": 120.0, "repeats": 5, "budget": 20.0},
        "hvp": {"sizes": "1000,3000,10000,20000", "logistic_sizes": "1000,3000,10000",
                "factorisation_sizes": "1000,3000,10000", "two_layer_sizes": "1000,3000,10000", "repeats": 9,
                "budget": 5.0},
        "dask": {"numpy_rows": 1_000_000, "dask_rows": 10_000_000, "chunk_rows": 250_000, "repeats": 3},
    },
}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ------------------------------------------------------------------ sections


def section_derivation(s: dict) -> dict:
    import bench_derivation

    return bench_derivation.run(s["repeats"], s["limit"], log=log)


def own_process(script: str, args: list[str]) -> dict:
    """Run a section's script in its own process, OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE removed
    from its environment, and read the JSON it writes; with the command that repeats it."""
    env = {k: v for k, v in os.environ.items() if k not in OPENBLAS_VARIABLES}
    env.setdefault("JAX_PLATFORMS", "cpu")
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "out.json")
        cmd = [sys.executable, os.path.join(HERE, script), *args, "--out", out]
        done = subprocess.run(cmd, env=env, stderr=None)
        if done.returncode != 0:
            raise RuntimeError(f"{script} exited with status {done.returncode}")
        with open(out) as fh:
            result = json.load(fh)
    result["command"] = "env -u " + " -u ".join(OPENBLAS_VARIABLES) + " JAX_PLATFORMS=cpu " + shlex.join(
        ["python", f"benchmarks/{script}", *args])
    return result


def section_hessian(s: dict) -> dict:
    return own_process("bench_hessian.py", ["--sizes", s["sizes"], "--factorisation-sizes", s["factorisation_sizes"],
                                            "--repeats", str(s["repeats"]), "--budget", str(s["budget"]),
                                            "--dense-budget", str(s["dense_budget"])])


def section_hvp(s: dict) -> dict:
    return own_process("bench_hvp.py", ["--sizes", s["sizes"], "--logistic-sizes", s["logistic_sizes"],
                                        "--factorisation-sizes", s["factorisation_sizes"], "--two-layer-sizes",
                                        s["two_layer_sizes"], "--repeats", str(s["repeats"]), "--budget", str(s["budget"]),
                                        "--md", os.path.relpath(os.path.join(s["out"], "hvp.md"))])


def section_dask(s: dict) -> dict:
    return own_process("bench_dask.py", ["--numpy-rows", str(s["numpy_rows"]), "--dask-rows", str(s["dask_rows"]),
                                         "--chunk-rows", str(s["chunk_rows"]), "--repeats", str(s["repeats"]),
                                         "--md", os.path.relpath(os.path.join(s["out"], "dask.md"))])


def section_depth(s: dict) -> dict:
    import bench_depth

    return bench_depth.run(s["limit"], s["repeats"], s["budget"], log=log)


def section_startup(s: dict) -> dict:
    import bench_startup

    return bench_startup.run(s["runs"], log=log)


def section_sharing(s: dict) -> dict:
    import bench_sharing

    return bench_sharing.run(s["limit"], s["repeats"], s["budget"], log=log)


SECTIONS = [
    ("derivation", "1. Derivation speed: matcalc against SymPy", section_derivation),
    ("hessian", "2. Hessian evaluation: generated NumPy against JAX, PyTorch and hand-written NumPy", section_hessian),
    ("depth", "3. Scaling with depth: gradients of an L-layer MLP", section_depth),
    ("startup", "4. Command-line start-up", section_startup),
    ("sharing", "5. Shared subexpressions: cost linear in the expression", section_sharing),
    ("hvp", "6. Hessian-vector products: generated NumPy against JAX's HVP and the dense Hessian, per call and at a point",
     section_hvp),
    ("dask", "7. Past one machine's memory: the generated logistic-regression gradient and Hessian on Dask", section_dask),
]


# ------------------------------------------------------------------ report


def md_table(header: list[str], rows: list[list]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    for r in rows:
        out.append("| " + " | ".join(str(c).replace("|", "\\|").replace("\n", " ") for c in r) + " |")
    return "\n".join(out)


def ms(x):
    return "-" if x is None else f"{x:.2f}"


def md_derivation(d: dict) -> str:
    s = d["summary"]
    lines = [
        f"Each time is the median of {d['repeats']} calls after one warm-up call; SymPy's cache is cleared before "
        "each call (outside the timed region). Speed-up = SymPy time / matcalc time (above 1: matcalc is faster). "
        "Correct = the value at a random point agrees with central differences of the function "
        "(relative error below 1e-5 for gradients, 1e-4 for Hessians by mixed second differences); "
        "matcalc must also pass `Result.check()`. SymPy is *unsupported* on a case when it raises, returns an "
        "unevaluated `Derivative`, or does not answer within "
        f"{d['time_limit_s']:g} s.",
        "",
    ]
    rows = []
    for kind, label in (("gradient", "gradients"), ("hessian", "Hessians"), ("all", "all")):
        k = s[kind]
        rows.append([label, k["cases"], f"{k['matcalc_supported']} / {k['matcalc_correct']}",
                     f"{k['sympy_supported']} / {k['sympy_correct']}", ms(k["matcalc_median_ms"]), ms(k["sympy_median_ms"]),
                     f"{fmt_ratio(k['speedup_both_correct_median'])} / {fmt_ratio(k['speedup_both_correct_min'])} "
                     f"({k['both_correct_cases']})",
                     f"{fmt_ratio(k['speedup_median'])} / {fmt_ratio(k['speedup_min'])} / {fmt_ratio(k['speedup_max'])} "
                     f"({k['speedup_cases']})"])
    lines.append(md_table(["cases", "number", "matcalc supported / correct", "SymPy supported / correct",
                           "matcalc median ms", "SymPy median ms", "speed-up median / min, both correct (cases)",
                           "speed-up median / min / max, SymPy answers (cases)"], rows))
    lines += ["", "Per case (times in ms):", ""]
    rows = []
    for r in d["cases"]:
        rows.append([r["kind"][:4], f"`{r['text']}`", r["wrt"], ms(1e3 * r["matcalc_time"] if r.get("matcalc_time") else None),
                     ms(1e3 * r["sympy_time"] if r.get("sympy_time") else None), fmt_ratio(r.get("speedup")),
                     r["matcalc_status"], r["sympy_status"], f"`{r['matcalc_result']}`" if r.get("matcalc_result") else "-"])
    lines.append(md_table(["", "expression", "wrt", "matcalc", "SymPy", "speed-up", "matcalc", "SymPy", "matcalc's result"], rows))
    return "\n".join(lines)


def md_hessian(h: dict) -> str:
    lines = [
        f"Command (its own process): `{h.get('command', '')}`.",
        "",
        f"Times are medians of up to {h['repeats']} calls (at most about {h['budget_s']:g} s of timed calls each) "
        "after a warm-up call (for JAX the warm-up is the call that traces and compiles). The tools are timed in "
        "interleaved rounds, one call of each per round, with a pause of "
        f"{h.get('pause_s', 0):g} s before each call so that the thread pools of the previous call are idle. Ratios are "
        "peer time / matcalc time: above 1, matcalc's generated function is faster. Every result was checked "
        "against the hand-written Hessian (relative Frobenius difference below 1e-9) before timing. "
        f"Factorisation: U and V are n x {h['k']} (k = {h['k']}), the Hessian is {h['k']}n x {h['k']}n, in "
        "column-major vec order; the JAX and PyTorch functions take vec(U) and reshape it, so they return the "
        "same matrix. Logistic regression: X is 2n x n with standard normal entries, y in {-1, 1}, w ~ N(0, 1/n). "
        "For the quadratic form and the factorisation, matcalc's generated code performs the same NumPy operations "
        "as the hand-written one (`A + A.T`, `kron(2 V^T V, I)`), so their ratio shows how far from 1.00x the "
        "noise of this run goes.",
        "",
        f"PyTorch threads: {h.get('torch_threads')}; JAX devices: {', '.join(h.get('jax_devices') or []) or '-'}; "
        f"BLAS in this process: {blas_summary(h.get('blas', []))}.",
        "",
    ]
    if h.get("missing_tools"):
        lines += [f"Not measured (not installed): {', '.join(h['missing_tools'])}.", ""]
    rows, notes = [], []
    for r in h["rows"]:
        def t(tool, r=r):
            e = r.get(tool) or {}
            mark = " *" if e.get("mode") == "extrapolated" else ""
            if e.get("note"):
                notes.append(f"{r['problem']} n={r['n']}, {tool}: {e['note']}.")
            return fmt_time(e.get("median")) + mark
        rows.append([r["problem"], r["n"], r["N"], fmt_time(r["matcalc"]["median"]), fmt_time(r["hand"]["median"]),
                     t("jax"), t("torch"), fmt_ratio(r.get("matcalc_vs_jax")), fmt_ratio(r.get("matcalc_vs_torch")),
                     fmt_ratio(r.get("matcalc_vs_hand"))])
    lines.append(md_table(["problem", "n", "Hessian size", "matcalc", "hand-written", "jax", "torch",
                           "jax / matcalc", "torch / matcalc", "hand / matcalc"], rows))
    lines += ["", "The same ratios for each tool's fastest call (less sensitive to other processes on the machine):", ""]
    lines.append(md_table(["problem", "n", "jax / matcalc", "torch / matcalc", "hand / matcalc"], [
        [r["problem"], r["n"], fmt_ratio(r.get("matcalc_vs_jax_min")), fmt_ratio(r.get("matcalc_vs_torch_min")),
         fmt_ratio(r.get("matcalc_vs_hand_min"))] for r in h["rows"]]))
    if notes:
        lines += ["", "\\* extrapolated from a block of columns (same Hessian-vector products as the dense call):", ""]
        lines += [f"- {n}" for n in notes]
    lines += ["", "matcalc's Hessians, as derived: " + "; ".join(
        sorted({f"{r['problem']}: `{r['matcalc_hessian']}`" for r in h["rows"]}))]
    return "\n".join(lines)


def md_hvp(h: dict) -> str:
    import bench_hvp

    return bench_hvp.markdown(h)


def md_dask(d: dict) -> str:
    import bench_dask

    return bench_dask.markdown(d)


def md_depth(d: dict) -> str:
    lines = [
        f"`f = {d['loss']}` and so on: L layers, sigmoid after all but the last, gradients with respect to every "
        f"Wi and bi in one `matcalc.gradient` call. Each L runs in its own process with a limit of {d['limit_s']:g} s; "
        f"times are medians of up to {d['repeats']} calls after a warm-up derivation at L = 2. "
        "Size: `matcalc.simplify.size` of each result (distinct nodes of its DAG), summed; shared printout: the "
        "results written with `matcalc.cse.share`, as `matcalc grad` prints them; full: every result written out.",
        "",
    ]
    rows = []
    for r in d["rows"]:
        if r.get("time") is None:
            rows.append([r["L"], r["status"], "-", "-", "-", "-", "-"])
        else:
            rows.append([r["L"], fmt_time(r["time"]), r["size_sum"], r["distinct_nodes"], r["shared_chars"], r["full_chars"],
                         {True: "ok", False: "FAILED"}.get(r.get("check_ok"), "-")])
    lines.append(md_table(["L", "derivation time", "size (sum)", "distinct nodes (all results)", "shared printout chars",
                           "full printout chars", "check"], rows))
    rat = d["ratios"]
    lines += ["", "64-layer / 8-layer: time " + fmt_ratio(rat.get("time_64_over_8")) + ", size "
              + fmt_ratio(rat.get("size_sum_64_over_8")) + ", shared printout " + fmt_ratio(rat.get("shared_chars_64_over_8"))
              + ", full printout " + fmt_ratio(rat.get("full_chars_64_over_8"))
              + " (linear growth would give 8x)."]
    if rat.get("time_64_over_8") is None:
        lines.append("The 64-layer figure is missing: see the table for the depth that ran out of time.")
    if d["doubling"]:
        lines += ["", "Growth from one measured depth to the next (time, size, shared printout): " + "; ".join(
            f"{g['from']} -> {g['to']}: {fmt_ratio(g['time'])}, {fmt_ratio(g['size_sum'])}, {fmt_ratio(g['shared_chars'])}"
            for g in d["doubling"]) + "."]
    return "\n".join(lines)


def md_sharing(d: dict) -> str:
    lines = [
        "Four families of depth k, written with definitions: " + "; ".join(
            f"{family}: `{text}`" for family, text in d["examples"].items()) + " (shown at k = 2). "
        f"Each k runs in its own process with a limit of {d['limit_s']:g} s; times are medians of up to "
        f"{d['repeats']} calls (parse included) after a warm-up at k = 2. Nodes: the distinct nodes of all "
        "results together; edges: the references between them (a sum of i terms has i); shared printout: the "
        "results written with `matcalc.cse.share`, as `matcalc grad` prints them; written out: the nodes the "
        "results would have as trees (counted, not printed), which is what a walk of every path would visit.",
        "",
    ]
    rows = []
    for r in d["rows"]:
        if r.get("time") is None:
            rows.append([r["family"], r["k"], r["status"], "-", "-", "-", "-", "-"])
        else:
            rows.append([r["family"], r["k"], fmt_time(r["time"]), r["distinct_nodes"], r["edges"], r["shared_chars"],
                         f"{r['tree_size']:.3g}", {True: "ok", False: "FAILED"}.get(r.get("check_ok"), "-")])
    lines.append(md_table(["family", "k", "derivation time", "nodes", "edges", "shared printout chars",
                           "written out (nodes)", "check"], rows))
    lines += ["", "Largest k against k = 8 (linear growth gives the ratio of the depths):", ""]
    lines.append(md_table(["family", "k", "linear", "time", "nodes", "edges", "shared printout", "written out"], [
        [g["family"], f"{g['to']} / {g['from']}", fmt_ratio(g["linear"]), fmt_ratio(g["time"]),
         fmt_ratio(g["distinct_nodes"]), fmt_ratio(g["edges"]), fmt_ratio(g["shared_chars"]), f"{g['tree_size']:.3g}x"]
        for g in d["growth"]]))
    return "\n".join(lines)


def md_startup(s: dict) -> str:
    return "\n".join([
        f"Median wall time of {s['matcalc']['runs']} runs of each, started with `subprocess.run` after one untimed run.",
        "",
        md_table(["command", "median", "min", "max"], [
            [f"`{shlex.join(['matcalc'] + s['matcalc_command'][-4:])}`",
             fmt_time(s["matcalc"]["median"]), fmt_time(s["matcalc"]["min"]), fmt_time(s["matcalc"]["max"])],
            ["`python -c pass`", fmt_time(s["python"]["median"]), fmt_time(s["python"]["min"]), fmt_time(s["python"]["max"])],
            ["`python -c 'import matcalc'`", fmt_time(s["import_matcalc"]["median"]), fmt_time(s["import_matcalc"]["min"]),
             fmt_time(s["import_matcalc"]["max"])],
        ]),
        "",
        f"matcalc / python: {fmt_ratio(s['ratio'])} ({fmt_time(s['overhead_s'])} more). Output: `{s['matcalc']['output']}`.",
    ])


def observations(report: dict) -> list[str]:
    """Things in matcalc worth fixing, read off the figures."""
    out = []
    d = report.get("derivation")
    if d:
        for r in d["cases"]:
            if not r["matcalc_correct"]:
                out.append(f"matcalc, {r['kind']} of `{r['text']}` wrt {r['wrt']}: {r['matcalc_status']}.")
        slow = sorted((r for r in d["cases"] if r.get("speedup") is not None and r["speedup"] < 2 and r.get("sympy_correct")),
                      key=lambda r: r["speedup"])
        for r in slow:
            out.append(f"Derivation of `{r['text']}` ({r['kind']}) is only {fmt_ratio(r['speedup'])} faster than SymPy "
                       f"({fmt_time(r['matcalc_time'])}; SymPy: {r['sympy_status']}).")
    dep = report.get("depth")
    if dep:
        for r in dep["rows"]:
            if r.get("time") is None and not r["status"].startswith("not attempted"):
                out.append(f"The {r['L']}-layer MLP gradient: {r['status']}.")
        for g in dep["doubling"]:
            if g["time"] > 4:
                out.append(f"MLP gradients: doubling the depth from {g['from']} to {g['to']} multiplies the derivation time "
                           f"by {fmt_ratio(g['time'])} (linear: 2x).")
    sh = report.get("sharing")
    if sh:
        for g in sh["growth"]:
            if g["time"] > 2 * g["linear"]:
                out.append(f"{g['family']}: from k = {g['from']} to {g['to']} the derivation time grows "
                           f"{fmt_ratio(g['time'])} (linear: {fmt_ratio(g['linear'])}; edges {fmt_ratio(g['edges'])}).")
    h = report.get("hessian")
    if h:
        for r in h["rows"]:
            q = r.get("matcalc_vs_hand")
            if q is not None and q < 0.8:
                out.append(f"Hessian of {r['problem']} at n={r['n']}: matcalc's generated code takes "
                           f"{fmt_ratio(1 / q)} the time of the hand-written one.")
    return out


def markdown(report: dict) -> str:
    v, m = report["versions"], report["machine"]
    lines = [
        "# matcalc benchmarks",
        "",
        f"Command: `{report['command']}` ({report['mode']} mode), run {report['started']}, took "
        f"{report['seconds'] / 60:.1f} min.",
        "",
        "Versions: " + ", ".join(f"{k} {v[k]}" for k in ("python", "matcalc", "numpy", "scipy", "sympy", "jax", "jaxlib",
                                                         "torch") if v.get(k))
        + (f" (matcalc commit {v['matcalc_commit']})" if v.get("matcalc_commit") else "") + ".",
        "",
        f"Machine: {m['nproc']} CPUs ({m['cpu']}), {m['memory']}, {m['platform']}. Load average at the start "
        f"{report['load_start']}, at the end {report['load_end']} (other processes running on the machine slow the "
        "multi-threaded parts, BLAS above all).",
        "",
        f"BLAS: sections 1, 3 and 4 ran with the environment as found "
        f"({', '.join(f'{k}={v}' for k, v in m['openblas_environment'].items())}): {blas_summary(report['blas_main'])}. "
        "Section 2 ran in its own process with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset: "
        + (blas_summary(report['hessian'].get('blas', [])) if report.get("hessian") else "not run") + ".",
        "",
        "Ratios compare tools measured in this same run; absolute times depend on the machine and its load.",
    ]
    for key, title, _ in SECTIONS:
        lines += ["", f"## {title}", ""]
        if key in report.get("errors", {}):
            lines.append(f"This section failed: `{report['errors'][key]}`")
            continue
        if key not in report:
            lines.append("Not run.")
            continue
        lines.append({"derivation": md_derivation, "hessian": md_hessian, "depth": md_depth, "startup": md_startup,
                      "sharing": md_sharing, "hvp": md_hvp, "dask": md_dask}[key](report[key]))
    obs = observations(report)
    lines += ["", "## Observations", ""]
    lines += [f"- {o}" for o in obs] if obs else ["Nothing stood out."]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Run matcalc's benchmarks and write report.md and report.json.")
    ap.add_argument("--quick", action="store_true", help="fewer repeats, Hessians at n = 100 and 300 only")
    ap.add_argument("--out", default=None, help="output folder (default benchmarks/results, or benchmarks/results/quick)")
    ap.add_argument("--only", default=None, help="comma-separated sections to run: " + ",".join(k for k, _, _ in SECTIONS))
    args = ap.parse_args(argv)
    mode = "quick" if args.quick else "full"
    out = args.out or (os.path.join(HERE, "results", "quick") if args.quick else os.path.join(HERE, "results"))
    os.makedirs(out, exist_ok=True)
    only = set(args.only.split(",")) if args.only else None

    import numpy  # noqa: F401  (so that threadpoolctl sees the BLAS of this process)

    started = time.perf_counter()
    report = {
        "command": shlex.join(["python", os.path.relpath(os.path.abspath(__file__), os.getcwd()), *(argv if argv is not None else sys.argv[1:])]),
        "mode": mode,
        "started": datetime.datetime.now().isoformat(timespec="seconds"),
        "settings": SETTINGS[mode],
        "versions": common.versions(),
        "machine": common.machine(),
        "blas_main": common.blas_info(),
        "load_start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "errors": {},
    }
    for key, title, fn in SECTIONS:
        if only and key not in only:
            continue
        log(f"{title}")
        t0 = time.perf_counter()
        try:
            report[key] = fn({**SETTINGS[mode][key], "out": out})
            report[key]["section_seconds"] = time.perf_counter() - t0
        except Exception as err:  # one failing section does not lose the others
            traceback.print_exc()
            report["errors"][key] = f"{type(err).__name__}: {err}"
    report["load_end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    report["seconds"] = time.perf_counter() - started
    with open(os.path.join(out, "report.json"), "w") as fh:
        json.dump(report, fh, indent=1, default=str)
    with open(os.path.join(out, "report.md"), "w") as fh:
        fh.write(markdown(report))
    log(f"wrote {os.path.join(out, 'report.md')} and report.json in {report['seconds'] / 60:.1f} min")
    return 1 if report["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
