"""Exact placement with a mixed-integer program (scipy's HiGHS), for small instances and as
the yardstick the fast engine is measured against.

Each feasible (workload, site) pair is a binary variable; each workload is placed once or
left unplaced at a prohibitive price, so the solver places as many as capacity allows and,
among those plans, returns the one with the best score.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse
from scipy.optimize import Bounds, LinearConstraint, milp

from tcra.mco.problem import Floats, Ints, PlacementProblem

TIME_LIMIT_S = 60.0


def solve(problem: PlacementProblem, workloads: Ints, relax: bool = False,
          capacity: Floats | None = None,
          together: tuple[tuple[int, int], ...] = (),
          apart: tuple[tuple[int, int], ...] = (),
          penalty: float | None = None) -> tuple[Ints, float]:
    """Site per workload (-1 unplaced) and the objective. A workload's current site scores
    better by the policy's migration cost (stickiness); `penalty` prices an unplaced workload
    (default: more than any placement).
    With `relax`, the LP relaxation's objective (a lower bound) and no sites."""
    sites = np.arange(len(problem.site_ids), dtype=np.int64)
    w = np.repeat(workloads, len(sites))
    s = np.tile(sites, len(workloads))
    ok = problem.feasible(w, s)
    w, s = w[ok], s[ok]
    cost = problem.score(w, s) - np.where(problem.current[w] == s,
                                          problem.policy.migration_cost, 0.0)
    count = len(w)
    slot = {int(v): i for i, v in enumerate(workloads)}
    if penalty is None:
        penalty = (float(np.abs(cost).max()) if count else 1.0) * 10 * len(workloads) + 1.0
    c = np.r_[cost, np.full(len(workloads), penalty)]

    rows = np.searchsorted(workloads, w) if _sorted(workloads) else np.array(
        [slot[int(v)] for v in w], dtype=np.int64)
    once = sparse.csr_matrix(
        (np.ones(count + len(workloads)),
         (np.r_[rows, np.arange(len(workloads))], np.arange(count + len(workloads)))),
        shape=(len(workloads), count + len(workloads)))
    constraints = [LinearConstraint(once, 1, 1)]

    free = problem.capacity if capacity is None else capacity
    for d in range(free.shape[1]):
        used = problem.demand[w, d]
        if not used.any():
            continue
        matrix = sparse.csr_matrix((used, (s, np.arange(count))),
                                   shape=(len(sites), count + len(workloads)))
        constraints.append(LinearConstraint(matrix, -np.inf, free[:, d]))

    index = {(int(a), int(b)): i for i, (a, b) in enumerate(zip(w, s, strict=True))}
    # Affinity: x[a,s] = x[b,s] at every site; anti-affinity: x[a,s] + x[b,s] <= 1. A pair
    # that is not feasible is a variable fixed at 0, so it drops out of the row.
    for pairs, low, high, sign in ((together, 0.0, 0.0, -1.0), (apart, -np.inf, 1.0, 1.0)):
        for a, b in pairs:
            for site in sites.tolist():
                row = {i: v for i, v in ((index.get((a, site)), 1.0),
                                         (index.get((b, site)), sign)) if i is not None}
                if row:
                    vector = np.zeros(count + len(workloads))
                    vector[list(row)] = list(row.values())
                    constraints.append(LinearConstraint(vector, low, high))

    result = milp(c, constraints=constraints,
                  integrality=np.zeros_like(c) if relax else np.ones_like(c),
                  bounds=Bounds(0, 1), options={"time_limit": TIME_LIMIT_S, "disp": False})
    if result.x is None:
        raise RuntimeError(f"HiGHS found no solution: {result.message}")
    placed = np.full(len(problem.workload_names), -1, dtype=np.int64)
    if relax:
        return placed, float(result.fun)
    chosen = result.x[:count] > 0.5
    placed[w[chosen]] = s[chosen]
    return placed, float(result.fun)


def _sorted(values: Ints) -> bool:
    return bool((np.diff(values) > 0).all())
