"""Timing helpers and facts about the machine, shared by the benchmark sections."""

from __future__ import annotations

import gc
import os
import platform
import signal
import statistics
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OPENBLAS_VARIABLES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


class TimedOut(Exception):
    pass


@contextmanager
def time_limit(seconds: float | None):
    """Raise TimedOut in the main thread after ``seconds`` (Unix; no limit elsewhere or for None)."""
    if not seconds or not hasattr(signal, "SIGALRM"):
        yield
        return

    def handler(signum, frame):
        raise TimedOut(f"no answer within {seconds:g} s")

    old = signal.signal(signal.SIGALRM, handler)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def measure(fn, repeats: int, setup=None, budget: float | None = None, warmup: bool = True) -> dict:
    """Median wall time (time.perf_counter) of ``fn()`` over ``repeats`` calls after one warm-up call,
    with a garbage collection before each call (of what the earlier calls left).
    ``setup()`` runs before each call, outside the timed region.  With ``budget`` (seconds), stop
    early once the timed calls have taken that long (at least one timed call is always made)."""
    if warmup:
        if setup:
            setup()
        fn()
    # Everything alive now (the imported libraries: tens of thousands of objects after SymPy and
    # JAX) goes to the permanent generation, so that the collection before each call walks only
    # what the calls made: a full walk evicts the CPU caches and slows a short call that follows
    # by 2x, which would measure the collector rather than the call.
    gc.collect()
    gc.freeze()
    times = []
    spent = 0.0
    for _ in range(max(1, repeats)):
        if setup:
            setup()
        gc.collect()
        t0 = time.perf_counter()
        fn()
        dt = time.perf_counter() - t0
        times.append(dt)
        spent += dt
        if budget is not None and spent >= budget:
            break
    return {"median": statistics.median(times), "min": min(times), "repeats": len(times)}


def timed_gradients(text: str, wrt: list, warm_up: tuple, repeats: int, budget: float) -> tuple[dict, dict]:
    """(timing, figures) of ``matcalc.gradient(text, wrt)`` after a warm-up derivation of the
    ``warm_up`` (text, wrt) that loads the parser and the element-wise table.  Figures of the
    results: the distinct nodes of all of them together and the references between them (edges),
    and the shared printout (``matcalc.cse.share``, as ``matcalc grad`` prints it) in characters."""
    import matcalc
    from matcalc import expr as E
    from matcalc.cse import share
    from matcalc.printing import to_text

    matcalc.gradient(warm_up[0], wrt=warm_up[1])
    results = {}

    def derive():
        results["last"] = matcalc.gradient(text, wrt=wrt)

    timing = measure(derive, repeats, budget=budget, warmup=False)
    exprs = {name: r.expr for name, r in results["last"].items()}
    definitions, written = share(exprs)
    shared = "\n".join([f"{to_text(s)} = {to_text(v)}" for s, v in definitions]
                       + [f"grad_{name} f = {to_text(e)}" for name, e in written.items()])
    distinct = set()
    for e in exprs.values():
        distinct.update(E.nodes(e))
    figures = {"results": results["last"], "distinct_nodes": len(distinct),
               "edges": sum(len(n.children()) for n in distinct), "shared_chars": len(shared),
               "shared_definitions": len(definitions)}
    return timing, figures


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def fmt_time(seconds) -> str:
    if seconds is None:
        return "-"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.2f} ms" if seconds < 0.1 else f"{seconds * 1e3:.0f} ms"
    return f"{seconds:.2f} s"


def fmt_ratio(r) -> str:
    if r is None:
        return "-"
    if r >= 100:
        return f"{r:.0f}x"
    if r >= 10:
        return f"{r:.1f}x"
    return f"{r:.2f}x"


def version_of(module: str) -> str | None:
    try:
        from importlib.metadata import version

        return version(module)
    except Exception:
        return None


def versions() -> dict:
    import matcalc

    out = {"python": platform.python_version(), "matcalc": matcalc.__version__}
    for name in ("numpy", "scipy", "sympy", "jax", "jaxlib", "torch", "threadpoolctl"):
        out[name] = version_of(name)
    try:
        commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, timeout=10)
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--", "matcalc", "grammar", "templates"],
                               capture_output=True, text=True, timeout=10)
        if commit.returncode == 0:
            out["matcalc_commit"] = commit.stdout.strip() + (" (modified)" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        pass
    return out


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def blas_info() -> list[dict]:
    """What threadpoolctl sees in this process (numpy, and torch if imported)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return [{"note": "threadpoolctl is not installed"}]
    keep = ("user_api", "internal_api", "version", "architecture", "num_threads", "prefix", "threading_layer")
    return [{k: info.get(k) for k in keep if info.get(k) is not None} for info in threadpool_info()]


def blas_summary(infos: list[dict]) -> str:
    """The BLAS libraries threadpoolctl found, in a line: library, version, kernel, threads."""
    parts = []
    for i in infos:
        if i.get("user_api") == "blas":
            parts.append(f"{i.get('internal_api')} {i.get('version')} ({i.get('prefix')}), kernel {i.get('architecture')}, "
                         f"{i.get('num_threads')} threads")
    return "; ".join(parts) or "not found"


def machine() -> dict:
    mem = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 2**20:.1f} GiB"
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu_model(),
        "memory": mem,
        "platform": platform.platform(),
        "openblas_environment": {k: os.environ.get(k) for k in OPENBLAS_VARIABLES},
    }


def python_command() -> list[str]:
    return [sys.executable]
