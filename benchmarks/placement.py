"""The MCO's engine beside a Kubernetes-style greedy scheduler and an exact solver, on the same
generated continuums, in one run.

- tcra: tcra.mco.engine.solve(mode="fast"): pruned candidates, joint assignment, improvement.
- greedy: one workload at a time in request order; like kube-scheduler it filters sites in a
  rotating order until it has max(100, 5% of sites) feasible ones with room, scores those and
  takes the best.
- exact: HiGHS MILP over every feasible (workload, site) pair, where it finishes.
- lower bound: the LP relaxation of that MILP, where it fits (up to LP_MAX_PAIRS pairs; at
  10,000 x 100,000 the LP has a billion columns and does not fit, so that row has no gap).
Objective: sum of placement scores + UNPLACED_PENALTY per workload left without a site.

Then what users pay, beside solve(): engine.place() (check, solve, plan, runner-ups capped)
and `tcra place FILE --json` as a subprocess on the same continuum written as a file (what
`tcra continuum generate` prints). Each in its own process, once: wall and CPU seconds (the
machine may be shared: CPU seconds are the steadier figure), the process's peak RSS (with the
continuum it was given) and the ratio to solve().
Run: .venv/bin/python benchmarks/placement.py [--sizes 100x1000,1000x10000,10000x100000]
     [--only calls|engines]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np

from tcra.mco import engine, exact
from tcra.mco.generate import Instance, generate
from tcra.mco.problem import Ints, PlacementProblem

UNPLACED_PENALTY = 100.0
EXACT_MAX_PAIRS = 200_000
LP_MAX_PAIRS = 12_000_000  # sites x workloads; 1000 x 10,000 needs ~1 min and ~2 GiB


def greedy(problem: PlacementProblem) -> Ints:
    sites = len(problem.site_ids)
    want = max(100, sites // 20)
    chunk = max(4 * want, 512)
    remaining = problem.capacity.copy()
    placed = np.full(len(problem.workload_names), -1, dtype=np.int64)
    start = 0
    for w in range(len(placed)):
        found = np.zeros(0, dtype=np.int64)
        for offset in range(0, sites, chunk):  # filter in rotating order until enough found
            order = (start + offset + np.arange(min(chunk, sites - offset))) % sites
            ws = np.full(len(order), w)
            ok = problem.feasible(ws, order) & (
                problem.demand[w] <= remaining[order] + 1e-9).all(axis=1)
            found = np.r_[found, order[ok]][:want]
            if len(found) >= want:
                break
        start = (start + 1) % sites
        if not len(found):
            continue
        best = found[np.argmin(problem.score(np.full(len(found), w), found))]
        placed[w] = best
        remaining[best] -= problem.demand[w]
    return placed


def objective(problem: PlacementProblem, placed: Ints) -> float:
    done = np.flatnonzero(placed >= 0)
    unplaced = len(placed) - len(done)
    return float(problem.score(done, placed[done]).sum()) + UNPLACED_PENALTY * unplaced


def measure(run: Callable[[], Ints]) -> tuple[Ints, float, float]:
    """Result, seconds (a plain run), peak MiB of Python/numpy allocations (a traced run)."""
    start = time.perf_counter()
    result = run()
    seconds = time.perf_counter() - start
    tracemalloc.start()
    run()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return result, seconds, peak / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100x1000,1000x10000,10000x100000")
    parser.add_argument("--load", type=float, default=0.7)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--only", choices=("engines", "calls"), help="One of the two tables.")
    parser.add_argument("--one", action="store_true", help="Measure --sizes in this process.")
    parser.add_argument("--call", choices=CALLS, help="Time one call in this process.")
    args = parser.parse_args()
    common = ["--load", str(args.load), "--seed", str(args.seed)]
    if args.one or args.call:
        sites, workloads = (int(n) for n in args.sizes.split("x"))
        instance = generate(sites, workloads, seed=args.seed, load=args.load)
        if args.call:
            print(json.dumps(call(args.call, instance)))
        else:
            compare(args.sizes, instance)
        return
    sizes = args.sizes.split(",")
    if args.only != "calls":
        print(f"{'sites x workloads':>18} {'solver':>7} {'seconds':>8} {'peak MiB':>9}"
              f" {'placed':>8} {'objective':>12} {'gap to LP':>10}", flush=True)
        for size in sizes:  # a fresh process per size: no heap left by the last
            subprocess.run([sys.executable, __file__, "--one", "--sizes", size, *common],
                           check=True)
    if args.only != "engines":
        print(f"{'sites x workloads':>18} {'call':>7} {'seconds':>8} {'CPU s':>7}"
              f" {'peak RSS MiB':>12} {'x solve':>8}", flush=True)
        for size in sizes:
            times = {}
            for name in CALLS:  # a fresh process per call: its own peak RSS
                done = subprocess.run([sys.executable, __file__, "--call", name, "--sizes",
                                       size, *common], check=True, capture_output=True,
                                      text=True)
                times[name] = json.loads(done.stdout)
                row = times[name]
                print(f"{size:>18} {name:>7} {row['seconds']:8.2f} {row['cpu']:7.2f}"
                      f" {row['rss_mib']:12.0f}"
                      f" {row['seconds'] / times['solve']['seconds']:7.1f}x", flush=True)


CALLS = ("solve", "place", "cli")


def call(name: str, instance: Instance) -> dict[str, float]:
    """Wall and CPU seconds of one call, and the peak RSS of the process that made it."""
    if name == "cli":
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "continuum.json"
            path.write_text(instance.model_dump_json())
            tcra = Path(sys.executable).parent / "tcra"
            start = time.perf_counter()
            child = subprocess.Popen([str(tcra), "place", str(path), "--json"],
                                     stdout=subprocess.DEVNULL)
            _, status, usage = os.wait4(child.pid, 0)
            seconds = time.perf_counter() - start
            if os.waitstatus_to_exitcode(status) not in (0, 3):  # 3: some workloads unplaced
                raise SystemExit(f"tcra place failed with {status}")
            return {"seconds": seconds, "cpu": usage.ru_utime + usage.ru_stime,
                    "rss_mib": usage.ru_maxrss / 1024}
    start, cpu = time.perf_counter(), time.process_time()
    if name == "solve":
        engine.solve(PlacementProblem(instance.request, instance.policy, instance.repository),
                     "fast")
    else:
        engine.place(instance.request, instance.policy, instance.repository)
    return {"seconds": time.perf_counter() - start, "cpu": time.process_time() - cpu,
            "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def compare(size: str, instance: Instance) -> None:
    def fresh() -> PlacementProblem:
        return PlacementProblem(instance.request, instance.policy, instance.repository)

    everyone = np.arange(len(instance.request.workloads), dtype=np.int64)
    pairs = len(instance.repository.sites) * len(everyone)
    bound = None
    if pairs <= LP_MAX_PAIRS:
        _, bound = exact.solve(fresh(), everyone, relax=True, penalty=UNPLACED_PENALTY)
    rows: list[tuple[str, Callable[[], Ints]]] = [
        ("tcra", lambda: engine.solve(fresh(), "fast")),
        ("greedy", lambda: greedy(fresh()))]
    if pairs <= EXACT_MAX_PAIRS:
        rows.append(("exact", lambda: exact.solve(fresh(), everyone,
                                                  penalty=UNPLACED_PENALTY)[0]))
    problem = fresh()
    for name, run in rows:
        placed, seconds, peak = measure(run)
        value = objective(problem, placed)
        gap = f"{(value - bound) / abs(bound):9.2%}" if bound else "no LP"
        print(f"{size:>18} {name:>7} {seconds:8.2f} {peak:9.0f} {int((placed >= 0).sum()):8d}"
              f" {value:12.2f} {gap:>10}", flush=True)


if __name__ == "__main__":
    main()
