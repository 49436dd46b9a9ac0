"""Section 7: past one machine's memory, the logistic-regression gradient and Hessian on Dask.

f(w) = sum(log(1 + exp(-y .* (X w)))), X of N x 100 chunked by rows, y in {-1, 1}:

* grad_w f = -X^T (y .* sigmoid(-y .* (X w))), one pass over X;
* hess_w f = X^T diag(y .^ 2 .* s .* (1 - s)) X, s = sigmoid(-y .* (X w)), one pass (a 100 x 100
  result, the sum of one product per chunk).

The functions are the ones ``r.compile()`` generates from matcalc's derivation, the same source
for NumPy and Dask.  Compared:

* NumPy, at an N where X fits in memory (X drawn before timing; time of the call alone);
* Dask on a ``dask.distributed`` LocalCluster of two worker processes (one thread each), with X
  either held by the workers (``persist``, at the N NumPy also takes) or drawn lazily by blocks
  with ``dask.array.random`` inside the same graph (at N = 10^7 and more: 8 GB as float64 at
  10^7, never in memory whole), whose time includes drawing X; ``draw only`` is the time of
  drawing X and summing it, the floor of a pass over a lazily drawn X.

Reported per row: the median wall time of ``--repeats`` calls, the task-graph size (tasks
of the graph the generated function builds, before and after dask's optimisation), and the
peak memory: per worker process, its peak resident set size (VmHWM) during the row (the workers are
restarted before each Dask row, so each row starts from a fresh process); for NumPy, the
peak of NumPy's allocations during the call (tracemalloc).  Every result is compared with
NumPy's (at the same N and the same X: at the large N, with X of the same seed drawn by blocks
in the benchmark process and the closed forms summed block by block) before the times are
reported.

Usage: ``nice python benchmarks/bench_dask.py [--numpy-rows 1000000] [--dask-rows 10000000]
[--chunk-rows 250000] [--repeats 3]``; writes ``benchmarks/results/dask.json`` and
``dask.md`` (``--out``, ``--md``); ``run.py`` runs it as section 7.  The full run takes several minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common import fmt_time, machine, versions  # noqa: E402

import matcalc  # noqa: E402

LOSS = "sum(log(1 + exp(-y .* (X w))))"
COLUMNS = 100
SEED = 7
RESULTS = Path(__file__).resolve().parent / "results"


def derived():
    return {kind: getattr(matcalc, kind)(LOSS, wrt="w").compile() for kind in ("gradient", "hessian")}


def lazy_data(rows: int, chunk_rows: int):
    """X (rows x 100) and y drawn by blocks: nothing is computed until a result is."""
    import dask.array as da

    rng = da.random.default_rng(SEED)
    x = rng.standard_normal((rows, COLUMNS), chunks=(chunk_rows, COLUMNS))
    y = da.sign(rng.standard_normal(rows, chunks=chunk_rows))
    return x, y


def weights():
    return np.random.default_rng(1).standard_normal(COLUMNS) / np.sqrt(COLUMNS)


def peak_rss_mb() -> float:
    """This process's peak resident set (VmHWM: ru_maxrss would report the parent's, which a process
    started by fork and exec inherits)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise OSError("no VmHWM in /proc/self/status")


def numpy_rows(fns, rows: int, chunk_rows: int, repeats: int) -> tuple[list[dict], dict]:
    import dask

    x, y = dask.compute(*lazy_data(rows, chunk_rows), scheduler="synchronous")  # the X that Dask draws
    w = weights()
    out, values = [], {}
    for kind, fn in fns.items():
        fn(x, w, y)  # warm-up
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            values[kind] = fn(x, w, y)
            times.append(time.perf_counter() - start)
        tracemalloc.start()
        fn(x, w, y)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        out.append({"library": "numpy", "rows": rows, "kind": kind, "data": "in memory", "seconds": statistics.median(times),
                    "times": times, "tasks": None, "tasks_optimised": None,
                    "peak_mb": [round(peak / 2**20, 1)], "data_mb": round((x.nbytes + y.nbytes) / 2**20, 1)})
    return out, {"x": x, "y": y, "w": w, "values": values}


def graph_sizes(result) -> tuple[int, int]:
    import dask

    (optimised,) = dask.optimize(result)
    return len(result.__dask_graph__()), len(optimised.__dask_graph__())


def worker_peaks(client) -> list[float]:
    return [round(v, 1) for v in client.run(peak_rss_mb).values()]


def dask_rows(fns, client, rows: int, chunk_rows: int, repeats: int, persist: bool, expected: dict) -> list[dict]:
    import dask.array as da

    out = []
    w = da.from_array(weights())
    kinds = [*fns, "draw only"] if not persist else list(fns)
    for kind in kinds:
        client.restart()
        x, y = lazy_data(rows, chunk_rows)
        if persist:
            x, y = client.persist([x, y])
            client.wait_for_workers(2)
            from distributed import wait

            wait([x, y])
        result = (x.sum() + y.sum()) if kind == "draw only" else fns[kind](x, w, y)
        assert isinstance(result, da.Array), "the generated function computed its result instead of building a graph"
        tasks, tasks_optimised = graph_sizes(result)
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            value = client.compute(result, sync=True)
            times.append(time.perf_counter() - start)
        if kind in expected:
            rel = float(np.max(np.abs(value - expected[kind])) / np.max(np.abs(expected[kind])))
            assert rel < 1e-9, f"Dask's {kind} differs from NumPy's by {rel:.1e}"
        out.append({"library": "dask", "rows": rows, "kind": kind, "data": "held by the workers" if persist else "drawn by blocks",
                    "seconds": statistics.median(times), "times": times, "tasks": tasks, "tasks_optimised": tasks_optimised,
                    "peak_mb": worker_peaks(client), "data_mb": round(rows * (COLUMNS + 1) * 8 / 2**20, 1)})
        print(f"  dask {kind} N={rows}: {fmt_time(out[-1]['seconds'])}, {tasks} tasks, peaks {out[-1]['peak_mb']} MB",
              flush=True)
    return out


def blockwise_reference(rows: int, chunk_rows: int) -> dict:
    """The closed forms summed block by block over the same lazily drawn X (a check, not timed)."""
    import dask

    x, y = lazy_data(rows, chunk_rows)
    w = weights()
    grad, hess = np.zeros(COLUMNS), np.zeros((COLUMNS, COLUMNS))
    for xb, yb in zip(x.to_delayed().ravel(), y.to_delayed().ravel()):
        xb, yb = dask.compute(xb, yb, scheduler="synchronous")
        s = 1 / (1 + np.exp(yb * (xb @ w)))  # sigmoid(-y .* (X w))
        grad -= xb.T @ (yb * s)
        hess += xb.T @ ((s * (1 - s))[:, None] * xb)
    return {"gradient": grad, "hessian": hess}


def markdown(report: dict) -> str:
    lines = ["# Logistic regression on Dask", "",
             f"Command (its own process, niced): `{report['command']}`.", "",
             "X is N x 100 float64 chunked by rows of "
             f"{report['chunk_rows']:,}; the functions are those `r.compile()` generates (one source for NumPy and Dask). "
             "Dask runs on a LocalCluster of 2 worker processes with 1 thread each; NumPy in one process with its BLAS "
             f"threads ({report['blas_threads']}). Times are medians of {report['repeats']} calls; peak memory per worker "
             "is each worker process's peak resident set (workers restarted before each row), for NumPy the peak of its "
             "allocations during one call. Every Dask result agreed with NumPy's (or, at 10^7 rows, with the closed form "
             "summed block by block over the same X) to a relative 1e-9.", "",
             "| library | N | X | result | time | tasks (optimised) | peak memory per worker | data |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in report["rows"]:
        tasks = "-" if r["tasks"] is None else f"{r['tasks']} ({r['tasks_optimised']})"
        peaks = ", ".join(f"{p:,.0f} MB" for p in r["peak_mb"])
        lines.append(f"| {r['library']} | {r['rows']:,} | {r['data']} | {r['kind']} | {fmt_time(r['seconds'])} | {tasks} "
                     f"| {peaks} | {r['data_mb'] / 1024:.2f} GiB |")
    lines += ["", f"Load average at the start and the end: {report['machine_start'].get('load')} / "
              f"{report['machine_end'].get('load')}."]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--numpy-rows", type=int, default=1_000_000)
    parser.add_argument("--dask-rows", type=int, default=10_000_000)
    parser.add_argument("--chunk-rows", type=int, default=250_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--memory-limit", default="8GiB", help="per worker")
    parser.add_argument("--out", type=Path, default=RESULTS / "dask.json", help="the JSON report")
    parser.add_argument("--md", type=Path, default=RESULTS / "dask.md", help="the Markdown table")
    args = parser.parse_args(argv)

    from distributed import Client, LocalCluster

    start_machine = machine() | {"load": os.getloadavg()}
    fns = derived()
    print(f"numpy N={args.numpy_rows}", flush=True)
    rows, small = numpy_rows(fns, args.numpy_rows, args.chunk_rows, args.repeats)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, memory_limit=args.memory_limit,
                      dashboard_address=":0") as cluster, Client(cluster) as client:
        rows += dask_rows(fns, client, args.numpy_rows, args.chunk_rows, args.repeats, persist=True,
                          expected=small["values"])
        del small
        expected = blockwise_reference(args.dask_rows, args.chunk_rows)
        rows += dask_rows(fns, client, args.dask_rows, args.chunk_rows, args.repeats, persist=False, expected=expected)
    from threadpoolctl import threadpool_info

    report = {"command": "nice python benchmarks/bench_dask.py " + " ".join(argv if argv is not None else sys.argv[1:]),
              "chunk_rows": args.chunk_rows, "repeats": args.repeats, "rows": rows, "versions": versions(),
              "blas_threads": ", ".join(f"{i['internal_api']} {i['num_threads']}" for i in threadpool_info()
                                        if i.get("user_api") == "blas"),
              "machine_start": start_machine, "machine_end": machine() | {"load": os.getloadavg()}}
    for path in (args.out, args.md):
        path.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, default=str) + "\n")
    args.md.write_text(markdown(report))
    print(markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
