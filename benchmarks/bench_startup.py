"""Section 4: command-line start-up, ``matcalc grad "x^T A x" --wrt x`` against ``python -c pass``.

Both are started as subprocesses; the wall time of each run is taken with time.perf_counter
around ``subprocess.run``; one run of each first, untimed, so that both read warm files.
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import time


def matcalc_command() -> list[str]:
    exe = shutil.which("matcalc")
    return [exe] if exe else [sys.executable, "-m", "matcalc"]


def wall(cmd: list[str], runs: int) -> dict:
    subprocess.run(cmd, capture_output=True, check=True)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        done = subprocess.run(cmd, capture_output=True, text=True)
        times.append(time.perf_counter() - t0)
        if done.returncode != 0:
            raise RuntimeError(f"{cmd} exited with {done.returncode}: {done.stderr.strip()}")
    return {"median": statistics.median(times), "min": min(times), "max": max(times), "runs": runs,
            "output": done.stdout.strip()}


def run(runs: int = 10, log=print) -> dict:
    mc = matcalc_command() + ["grad", "x^T A x", "--wrt", "x"]
    py = [sys.executable, "-c", "pass"]
    imp = [sys.executable, "-c", "import matcalc"]
    out = {"matcalc_command": mc, "python_command": py, "matcalc": wall(mc, runs), "python": wall(py, runs),
           "import_matcalc": wall(imp, runs)}
    out["ratio"] = out["matcalc"]["median"] / out["python"]["median"]
    out["overhead_s"] = out["matcalc"]["median"] - out["python"]["median"]
    log(f"  matcalc grad {out['matcalc']['median']:.3f} s, python -c pass {out['python']['median']:.3f} s, "
        f"python -c 'import matcalc' {out['import_matcalc']['median']:.3f} s")
    return out
