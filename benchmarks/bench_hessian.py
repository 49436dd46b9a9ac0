"""Section 2: evaluating dense Hessians, the three problems of Laue, Mitterreiter and Giesen (NeurIPS 2018).

* quadratic       f(x) = x^T A x                                  A: n x n,  Hessian n x n
* logistic        f(w) = sum(log(1 + exp(-y .* (X w))))           X: 2n x n, y in {-1, 1}, Hessian n x n
* factorisation   f(U) = ||T - U V^T||_F^2                        T: n x n, U, V: n x k (k = 10), Hessian nk x nk
                                                                  in column-major vec order

Compared, all in float64 on the CPU:

* matcalc: the NumPy function generated from ``matcalc.hessian(...)`` (``h.to_numpy()``);
  the derivation itself is not timed here (section 1 times derivations).
* hand: a hand-written NumPy closed form, the floor.
* jax: ``jax.jit(jax.hessian(f))`` with ``jax_enable_x64``, timed with ``block_until_ready``;
  the first call (tracing and compilation) is the warm-up and is not timed.
* torch: ``torch.func.hessian(f)`` (default thread count).

``jax.hessian`` and ``torch.func.hessian`` are forward-over-reverse: one Hessian-vector product
per column, all columns vectorised at once.  Where the whole Hessian would not fit in the time
budget or in memory (the factorisation problem, whose every column carries an n x n temporary),
the same Hessian-vector products are run for a block of ``c`` columns and the time is scaled by
``N / c`` (the work is the same for every column).  Such figures are marked *extrapolated*.

Every result is compared with the hand-written one before anything is timed.  This file runs
as its own process (``run.py`` starts it with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE removed
from its environment) and writes JSON.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common import blas_info, measure  # noqa: E402

K = 10  # rank of the factorisation
AGREE = 1e-9  # largest relative Frobenius-norm difference accepted
MEMORY_LIMIT = 4 * 2**30  # bytes of vectorised temporaries allowed for a dense AD Hessian
BLOCK_MEMORY = 2**30  # bytes of temporaries for a block of columns
PAUSE = 0.2  # seconds of sleep before each timed call (see interleaved)


# ------------------------------------------------------------------ problems


class Problem:
    name = ""
    text = ""
    wrt = ""

    def __init__(self, n: int, seed: int = 0):
        self.n = n
        self.rng = np.random.default_rng(seed)

    @property
    def N(self) -> int:  # size of the Hessian
        return self.n

    def tangent_bytes(self) -> int:  # largest temporary of one Hessian-vector product
        return 8 * self.n


class Quadratic(Problem):
    name, text, wrt = "quadratic", "x^T A x", "x"

    def __init__(self, n, seed=0):
        super().__init__(n, seed)
        self.values = {"A": self.rng.standard_normal((n, n)), "x": self.rng.standard_normal(n)}

    def hand(self, A, x):
        return A + A.T

    def variable(self):
        return self.values["x"]

    def others(self):
        return [self.values["A"]]

    @staticmethod
    def f(xp):
        return lambda x, A: x @ A @ x


class Logistic(Problem):
    name, text, wrt = "logistic", "sum(log(1 + exp(-y .* (X w))))", "w"

    def __init__(self, n, seed=0):
        super().__init__(n, seed)
        self.values = {
            "X": self.rng.standard_normal((2 * n, n)),
            "y": self.rng.choice([-1.0, 1.0], 2 * n),
            "w": self.rng.standard_normal(n) / math.sqrt(n),  # margins of order one
        }

    def tangent_bytes(self):
        return 8 * 2 * self.n

    def hand(self, X, y, w):
        s = 1.0 / (1.0 + np.exp(y * (X @ w)))  # sigmoid(-y .* Xw); y^2 = 1
        return X.T @ ((s * (1.0 - s))[:, None] * X)

    def variable(self):
        return self.values["w"]

    def others(self):
        return [self.values["X"], self.values["y"]]

    @staticmethod
    def f(xp):
        return lambda w, X, y: xp.sum(xp.log(1 + xp.exp(-y * (X @ w))))


class Factorisation(Problem):
    name, text, wrt = "factorisation", "||T - U V^T||_F^2", "U"

    def __init__(self, n, seed=0):
        super().__init__(n, seed)
        self.values = {"T": self.rng.standard_normal((n, n)), "U": self.rng.standard_normal((n, K)),
                       "V": self.rng.standard_normal((n, K))}

    @property
    def N(self):
        return self.n * K

    def tangent_bytes(self):
        return 8 * self.n * self.n

    def hand(self, T, U, V):
        return np.kron(2.0 * (V.T @ V), np.eye(T.shape[0]))

    def variable(self):  # vec(U), columns stacked
        return self.values["U"].reshape(-1, order="F").copy()

    def others(self):
        return [self.values["T"], self.values["V"]]

    @staticmethod
    def f(xp):
        def f(u, T, V):
            U = xp.reshape(u, (K, T.shape[0])).T  # vec(U) -> U, column-major
            R = T - U @ V.T
            return xp.sum(R * R)

        return f


PROBLEMS = {"quadratic": Quadratic, "logistic": Logistic, "factorisation": Factorisation}


# ------------------------------------------------------------------ tools


def rel_diff(a, b) -> float:
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        return float("inf")
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-300))


class Jax:
    name = "jax"

    def __init__(self):
        import jax

        jax.config.update("jax_enable_x64", True)
        self.jax = jax
        self.jnp = jax.numpy

    def args(self, p):
        return [self.jnp.asarray(p.variable())] + [self.jnp.asarray(a) for a in p.others()]

    def dense(self, p):
        h = self.jax.jit(self.jax.hessian(p.f(self.jnp)))
        args = self.args(p)
        return lambda: h(*args).block_until_ready()

    def block(self, p, cols: int):
        jax, f = self.jax, p.f(self.jnp)

        def columns(u, basis, *rest):
            g = jax.grad(lambda v: f(v, *rest))
            return jax.vmap(lambda e: jax.jvp(g, (u,), (e,))[1])(basis)  # rows of a symmetric Hessian

        h = jax.jit(columns)
        args = self.args(p)
        basis = self.jnp.eye(p.N, cols, dtype=self.jnp.float64).T  # the first `cols` unit vectors
        return lambda: h(args[0], basis, *args[1:]).block_until_ready()


class Torch:
    name = "torch"

    def __init__(self):
        import torch

        self.torch = torch

    def tensors(self, p):
        return [self.torch.from_numpy(np.ascontiguousarray(p.variable()))] + [
            self.torch.from_numpy(np.ascontiguousarray(a)) for a in p.others()]

    def dense(self, p):
        torch, f = self.torch, p.f(self.torch)
        u, *rest = self.tensors(p)
        h = torch.func.hessian(lambda v: f(v, *rest))
        return lambda: h(u)

    def block(self, p, cols: int):
        torch, f = self.torch, p.f(self.torch)
        u, *rest = self.tensors(p)
        g = torch.func.grad(lambda v: f(v, *rest))
        basis = torch.zeros((cols, p.N), dtype=torch.float64)
        basis[torch.arange(cols), torch.arange(cols)] = 1.0
        hvps = torch.func.vmap(lambda e: torch.func.jvp(g, (u,), (e,))[1])
        return lambda: hvps(basis)


def as_numpy(x) -> np.ndarray:
    if hasattr(x, "detach"):
        return x.detach().numpy()
    return np.asarray(x)


# ------------------------------------------------------------------ one problem at one size


def interleaved(calls: dict, repeats: int, budget: float, pause: float = PAUSE) -> dict:
    """Time the calls in rounds, one call of each per round (in an order that turns from round to
    round), so that a passing load on the machine falls on all of them alike.  A call drops out once its timed calls have taken ``budget``
    seconds (each is timed at least once).  Before each call the process sleeps ``pause``
    seconds (not timed), so that the worker threads of the previous call's thread pool (OpenBLAS,
    OpenMP, XLA: several pools live in one process here) have stopped spinning and the call
    does not compete with them for the two cores.  Returns name -> {median, min, repeats}."""
    times = {name: [] for name in calls}
    names = list(calls)
    for round_ in range(max(1, repeats)):
        order = names[round_ % len(names):] + names[:round_ % len(names)]  # a different one goes first each round
        active = [name for name in order if not times[name] or sum(times[name]) < budget]
        if not active:
            break
        for name in active:
            gc.collect()
            time.sleep(pause)
            t0 = time.perf_counter()
            calls[name]()
            times[name].append(time.perf_counter() - t0)
    return {name: {"median": statistics.median(t), "min": min(t), "repeats": len(t), "times": t} for name, t in times.items()}


def run_problem(p: Problem, tools: list, repeats: int, budget: float, dense_budget: float, log) -> dict:
    """Prepare every call, check it against the hand-written Hessian (that call is also its
    warm-up: tracing and compilation for jax), then time all of them in interleaved rounds."""
    import matcalc

    row = {"problem": p.name, "n": p.n, "N": p.N, "text": p.text, "wrt": p.wrt}
    calls, scale = {}, {}
    calls["hand"] = lambda: p.hand(**p.values)
    reference = calls["hand"]()

    h = matcalc.hessian(p.text, wrt=p.wrt)
    row["matcalc_hessian"] = str(h)
    fn = h.to_numpy()
    calls["matcalc"] = lambda: fn(**p.values)
    row["matcalc_agreement"] = rel_diff(calls["matcalc"](), reference)
    if row["matcalc_agreement"] > AGREE:
        raise AssertionError(f"matcalc's {p.name} Hessian differs from the hand-written one: {row['matcalc_agreement']:.2e}")

    for tool in tools:
        entry = {}
        try:
            cols = min(p.N, max(16, BLOCK_MEMORY // p.tangent_bytes()))
            dense_memory = p.N * p.tangent_bytes()
            estimate = 0.0
            if cols < p.N:  # time a block of columns first: would the dense Hessian fit the budget?
                call = tool.block(p, cols)
                entry["agreement"] = rel_diff(as_numpy(call()), reference[:cols])
                probe = measure(call, 1, warmup=False)  # a rough estimate is enough to choose
                estimate = probe["median"] * p.N / cols
                entry.update(block_columns=cols, estimate=estimate)
            if estimate <= dense_budget and dense_memory <= MEMORY_LIMIT:
                call = tool.dense(p)
                entry["agreement"] = rel_diff(as_numpy(call()), reference)
                entry["mode"] = "dense"
                scale[tool.name] = 1.0
            else:
                why = (f"the dense Hessian would hold {dense_memory / 2**30:.0f} GiB of temporaries"
                       if dense_memory > MEMORY_LIMIT else f"the dense Hessian would take about {estimate:.0f} s")
                entry.update(mode="extrapolated", note=f"{why}; timed: {cols} of {p.N} columns, times {p.N / cols:.1f}")
                scale[tool.name] = p.N / cols
            if entry["agreement"] > AGREE:
                raise AssertionError(f"{tool.name} differs from the hand-written Hessian: {entry['agreement']:.2e}")
            calls[tool.name] = call
        except MemoryError as err:
            entry = {"median": None, "mode": "failed", "note": f"out of memory ({err})"}
        row[tool.name] = entry
    del reference

    timed = interleaved(calls, repeats, budget)
    for name, t in timed.items():
        k = scale.get(name, 1.0)
        row.setdefault(name, {}).update(median=t["median"] * k, min=t["min"] * k, repeats=t["repeats"],
                                        times=[x * k for x in t["times"]])
    for peer in ["jax", "torch", "hand"]:
        t = row.get(peer, {}).get("median")
        row[f"matcalc_vs_{peer}"] = (t / row["matcalc"]["median"]) if t else None  # > 1: matcalc is faster
        t = row.get(peer, {}).get("min")
        row[f"matcalc_vs_{peer}_min"] = (t / row["matcalc"]["min"]) if t else None  # the same for the fastest calls
    log(f"  {p.name:13s} n={p.n:5d}  matcalc {row['matcalc']['median']:.4g}s  hand {row['hand']['median']:.4g}s  "
        + "  ".join(f"{t.name} {row[t.name].get('median') or float('nan'):.4g}s ({row[t.name].get('mode')})" for t in tools))
    return row


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="100,300,1000")
    ap.add_argument("--factorisation-sizes", default=None, help="sizes for the factorisation problem (default: --sizes)")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--budget", type=float, default=20.0, help="seconds of timed calls per measurement")
    ap.add_argument("--dense-budget", type=float, default=30.0,
                    help="seconds above which an AD Hessian is extrapolated from a block of columns")
    ap.add_argument("--problems", default=",".join(PROBLEMS), help="comma-separated: " + ", ".join(PROBLEMS))
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)

    def log(msg):
        print(msg, file=sys.stderr, flush=True)

    tools, missing = [], {}
    for cls in (Jax, Torch):
        try:
            tools.append(cls())
        except ImportError as err:
            missing[cls.name] = str(err)

    sizes = [int(s) for s in args.sizes.split(",")]
    mf_sizes = [int(s) for s in args.factorisation_sizes.split(",")] if args.factorisation_sizes else sizes
    rows = []
    started = time.perf_counter()
    for name in args.problems.split(","):
        cls = PROBLEMS[name]
        for n in (mf_sizes if name == "factorisation" else sizes):
            rows.append(run_problem(cls(n), tools, args.repeats, args.budget, args.dense_budget, log))
    info = {
        "rows": rows,
        "k": K,
        "repeats": args.repeats,
        "budget_s": args.budget,
        "dense_budget_s": args.dense_budget,
        "pause_s": PAUSE,
        "missing_tools": missing,
        "blas": blas_info(),
        "environment": {k: os.environ.get(k) for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")},
        "torch_threads": tools[[t.name for t in tools].index("torch")].torch.get_num_threads()
        if any(t.name == "torch" for t in tools) else None,
        "jax_devices": [str(d) for d in tools[0].jax.devices()] if tools and tools[0].name == "jax" else None,
        "seconds": time.perf_counter() - started,
    }
    with open(args.out, "w") as fh:
        json.dump(info, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
