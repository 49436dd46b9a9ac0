"""A bounded load test of ``matcalc serve``: many requests from concurrent clients, hostile ones
among them, every one answered.

    python benchmarks/bench_serve.py [--requests 200] [--clients 8] [--out benchmarks/results/serve.md]

starts the server on a free loopback port in this process (its default limits: 10 s and 1 GiB a
request), sends the requests from CLIENTS threads, each a connection of its own per request, and
checks that every request got the answer its kind expects (200 with a document, 400 with an
error, 414 for a megabyte in the URL); it writes the latencies to OUT.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.client import HTTPConnection
from urllib.parse import urlencode

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from matcalc.serve import TIME_LIMIT, make_server, url_of  # noqa: E402

SLOW = "||" + " + ".join(f"x^T A{i} x" for i in range(1, 700)) + "||"  # longer than the time limit

# (name, query or raw path, expected status); the mix the clients cycle through
MIX = [
    ("grad", {"op": "grad", "expr": "x^T A x", "wrt": "x", "let": "A=symmetric"}, 200),
    ("grad, four variables", {"op": "grad", "expr": "||sigmoid(X W1 + b1^T) W2 + b2^T - Y||_F^2",
                              "wrt": "W1,b1,W2,b2"}, 200),
    ("hess", {"op": "hess", "expr": "sum(log(1 + exp(-y .* (X w))))", "wrt": "w"}, 200),
    ("jac", {"op": "jac", "expr": "tanh(W x + b)", "wrt": "x,b"}, 200),
    ("derive", {"op": "derive", "expr": "det(AXB)", "wrt": "X"}, 200),
    ("grad --check", {"op": "grad", "expr": "logdet(X)", "wrt": "X", "check": "1"}, 200),
    ("variables", {"op": "variables", "expr": "logdet(S) + (x - mu)^T inv(S) (x - mu)", "let": "mu=vector"}, 200),
    ("forms", {"op": "forms", "of": "grad", "expr": "-y^T log(softmax(W x + b))", "wrt": "W,b"}, 200),
    ("syntax error", {"op": "grad", "expr": "x^T A (x", "wrt": "x"}, 400),
    ("hostile: 10,000-deep nesting", {"op": "grad", "expr": "(" * 10_000 + "x" + ")" * 10_000, "wrt": "x"}, 400),
    ("hostile: deep within the length limit", {"op": "grad", "expr": "(" * 4000 + "x" + ")" * 4000, "wrt": "x"}, 400),
    ("hostile: a tower of powers", {"op": "grad", "expr": "^".join(["2"] * 3000) + " x^T x", "wrt": "x"}, 400),
    ("hostile: a megabyte", {"op": "grad", "expr": "x" * 1_000_000, "wrt": "x"}, 414),
]
TIMEOUT_CASE = ("hostile: longer than the time limit", {"op": "hess", "expr": SLOW, "wrt": "x"}, 400)


def plan(requests: int, timeouts: int) -> list:
    """REQUESTS cases: the mix in turn, with TIMEOUTS of them the one that exceeds the time limit."""
    cases = [MIX[i % len(MIX)] for i in range(requests - timeouts)]
    step = max(1, len(cases) // max(1, timeouts))
    for k in range(timeouts):
        cases.insert(min(len(cases), k * step + 1), TIMEOUT_CASE)
    return cases


def one(address, case) -> dict:
    name, query, expected = case
    start = time.perf_counter()
    conn = HTTPConnection(*address, timeout=TIME_LIMIT * 6)
    try:
        conn.request("GET", "/api?" + urlencode(query))
        response = conn.getresponse()
        body = response.read()
        status = response.status
    finally:
        conn.close()
    elapsed = time.perf_counter() - start
    ok = status == expected
    if ok and status in (200, 400):
        doc = json.loads(body)
        ok = ("error" in doc) == (status == 400)
    return {"name": name, "status": status, "expected": expected, "ok": ok, "seconds": elapsed}


def run(requests: int = 200, clients: int = 8, timeouts: int = 4, time_limit: float = TIME_LIMIT) -> dict:
    server = make_server(port=0, quiet=True, time_limit=time_limit)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        cases = plan(requests, timeouts)
        start = time.perf_counter()
        with ThreadPoolExecutor(clients) as pool:
            answers = list(pool.map(lambda c: one(server.server_address[:2], c), cases))
        wall = time.perf_counter() - start
    finally:
        server.shutdown()
        server.server_close()
    by_name: dict[str, list] = {}
    for a in answers:
        by_name.setdefault(a["name"], []).append(a)
    return {"url": url_of(server), "requests": len(cases), "clients": clients, "answered": len(answers),
            "as_expected": sum(a["ok"] for a in answers), "wall": wall, "time_limit": time_limit,
            "worst": max(a["seconds"] for a in answers),
            "worst_within_limit": max(a["seconds"] for a in answers if a["name"] != TIMEOUT_CASE[0]),
            "median": statistics.median(a["seconds"] for a in answers), "cases": by_name}


def report(r: dict) -> str:
    lines = ["# matcalc serve under load", "",
             f"`python benchmarks/bench_serve.py --requests {r['requests']} --clients {r['clients']}` "
             f"on {platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} cores; "
             f"time limit {r['time_limit']:g} s a request.", "",
             f"- requests: {r['requests']} from {r['clients']} concurrent clients; answered {r['answered']}, "
             f"as expected {r['as_expected']} (none lost)",
             f"- wall time {r['wall']:.1f} s; median latency {r['median'] * 1000:.0f} ms",
             f"- worst latency {r['worst']:.2f} s (a request stopped at the time limit, waiting for it included)",
             f"- worst latency of every other request {r['worst_within_limit']:.2f} s", "",
             "| request | count | status | median | worst |", "| --- | --- | --- | --- | --- |"]
    for name, answers in r["cases"].items():
        times = [a["seconds"] for a in answers]
        statuses = ", ".join(str(s) for s in sorted({a["status"] for a in answers}))
        lines.append(f"| {name} | {len(answers)} | {statuses} | {statistics.median(times) * 1000:.0f} ms | "
                     f"{max(times) * 1000:.0f} ms |")
    return "\n".join(lines) + "\n"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--requests", type=int, default=200)
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--timeouts", type=int, default=4, help="requests that exceed the time limit")
    p.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "serve.md"))
    args = p.parse_args()
    r = run(args.requests, args.clients, args.timeouts)
    text = report(r)
    with open(args.out, "w") as f:
        f.write(text)
    print(text)
    return 0 if r["as_expected"] == r["requests"] else 1


if __name__ == "__main__":
    sys.exit(main())
