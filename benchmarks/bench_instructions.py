"""Instructions per derivation, this tree against a baseline tree, counted by valgrind.

    git worktree add /tmp/baseline <commit>
    python benchmarks/bench_instructions.py --baseline /tmp/baseline [--out benchmarks/results/instructions.md]

Wall-clock times on a shared machine vary by tens of percent from one run to the next; the
instructions a process executes do not (callgrind counts the same total twice for the same
program and input, whatever else the machine is doing; the workers run with PYTHONHASHSEED=0, since
salted string hashes change the order of sets and with it the work by a few percent).  Each workload runs in a fresh
interpreter under ``valgrind --tool=callgrind`` twice, once with one pass and once with three
(the first pass warms the parser and the element-wise table); the difference divided by two
is the count for one pass, which leaves out start-up and imports.  Workloads: the derivation
corpus (every case of ``corpus.py``) and the gradients of the 64-layer MLP (``bench_depth.py``),
which any earlier version can derive.  Needs valgrind (Debian: valgrind); takes a few minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
WORKLOADS = ["corpus", "mlp64"]


def workload(name: str):
    sys.path.insert(1, HERE)
    import matcalc

    if name == "corpus":
        from corpus import CASES

        chosen = os.environ.get(CASES_VARIABLE)
        cases = CASES if chosen is None else [CASES[int(i)] for i in chosen.split(",") if i]

        def once():
            for c in cases:
                (matcalc.hessian if c.kind == "hessian" else matcalc.gradient)(c.text, wrt=c.wrt, declare=c.declare)
        return once
    from bench_depth import mlp_loss, variables

    return lambda: matcalc.gradient(mlp_loss(64), wrt=variables(64))


def worker(source: str, passes: int, name: str) -> None:
    sys.path.insert(0, source)
    sys.setrecursionlimit(20000)  # a baseline may predate the entry points' own room for recursion
    import matcalc

    assert os.path.realpath(matcalc.__file__).startswith(os.path.realpath(source)), matcalc.__file__
    once = workload(name)
    for _ in range(passes):
        once()


CASES_VARIABLE = "MATCALC_INSTRUCTION_CASES"  # the corpus cases both trees answer, by index


def answerable(source: str) -> set[int]:
    """The indices of the corpus cases that the tree at ``source`` answers (a baseline predates the
    newer ones: both trees are counted on the cases both answer)."""
    done = subprocess.run([sys.executable, os.path.abspath(__file__), "--answerable", source],
                          capture_output=True, text=True, env={**os.environ, "PYTHONHASHSEED": "0"})
    return {int(i) for i in done.stdout.split()}


def _answerable_worker(source: str) -> None:
    sys.path.insert(0, source)
    sys.path.insert(1, HERE)
    sys.setrecursionlimit(20000)
    import matcalc
    from corpus import CASES

    for i, c in enumerate(CASES):
        try:
            (matcalc.hessian if c.kind == "hessian" else matcalc.gradient)(c.text, wrt=c.wrt, declare=c.declare)
        except Exception:  # a case this tree cannot read or derive
            continue
        print(i)


def instructions(source: str, passes: int, name: str) -> int:
    cmd = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable, os.path.abspath(__file__),
           "--worker", source, str(passes), name]
    # string hashes are salted per process, and the order of sets of names changes the work a
    # little: a fixed salt makes the same program count the same instructions run after run
    done = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "PYTHONHASHSEED": "0"})
    found = re.search(r"Collected : (\d+)", done.stderr)
    if done.returncode != 0 or not found:
        raise RuntimeError(f"{name} at {source}: {done.stderr.strip().splitlines()[-1:]}")
    return int(found.group(1))


def per_pass(source: str, name: str) -> float:
    return (instructions(source, 3, name) - instructions(source, 1, name)) / 2


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--baseline", help="a tree of matcalc to compare with (a git worktree of an earlier commit)")
    ap.add_argument("--out", default=os.path.join(HERE, "results", "instructions.md"))
    ap.add_argument("--worker", nargs=3, metavar=("SOURCE", "PASSES", "WORKLOAD"), help=argparse.SUPPRESS)
    ap.add_argument("--answerable", metavar="SOURCE", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.answerable:
        _answerable_worker(args.answerable)
        return 0
    if args.worker:
        worker(args.worker[0], int(args.worker[1]), args.worker[2])
        return 0
    if not args.baseline:
        ap.error("--baseline DIR is required")
    commit = {}
    for label, tree in (("this tree", ROOT), ("baseline", args.baseline)):
        commit[label] = subprocess.run(["git", "-C", tree, "rev-parse", "--short", "HEAD"], capture_output=True,
                                       text=True).stdout.strip()
    common = sorted(answerable(ROOT) & answerable(args.baseline))
    os.environ[CASES_VARIABLE] = ",".join(map(str, common))
    print(f"corpus: the {len(common)} cases both trees answer", flush=True)
    rows = []
    for name in WORKLOADS:
        here, base = per_pass(ROOT, name), per_pass(args.baseline, name)
        rows.append({"workload": name, "this_tree": here, "baseline": base, "ratio": here / base})
        print(f"{name:18s} this tree {here / 1e6:8.1f} M   baseline {base / 1e6:8.1f} M   ratio {here / base:.3f}", flush=True)
    lines = ["# Instructions per derivation", "",
             f"`python benchmarks/bench_instructions.py --baseline DIR`: this tree (commit {commit['this tree']}) "
             f"against the baseline (commit {commit['baseline']}), millions of instructions for one pass of each "
             "workload (valgrind callgrind; the difference of a three-pass and a one-pass run, halved). Ratio: this "
             f"tree / baseline (below 1: fewer instructions). The corpus: the {len(common)} cases both trees answer.", "",
             "| workload | this tree | baseline | ratio |", "| --- | --- | --- | --- |"]
    lines += [f"| {r['workload']} | {r['this_tree'] / 1e6:.1f} | {r['baseline'] / 1e6:.1f} | {r['ratio']:.3f} |" for r in rows]
    with open(args.out, "w") as fh:
        fh.write("\n".join(lines) + "\n")
    with open(os.path.splitext(args.out)[0] + ".json", "w") as fh:
        json.dump({"commits": commit, "rows": rows}, fh, indent=1)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
