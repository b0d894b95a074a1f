"""place(): the MCO's entry point. Checks the request, solves, and explains the plan."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Literal

import numpy as np

from tcra.errors import InvalidInputError, Problem
from tcra.mco import assign
from tcra.mco.bulk import collector_paused
from tcra.mco.explain import build_plan
from tcra.mco.model import Policy, Repository, ServiceRequest
from tcra.mco.plan import Plan
from tcra.mco.problem import Floats, Ints, PlacementProblem

Mode = Literal["auto", "fast", "exact"]
# Up to this many (workload, site) pairs, "auto" solves exactly.
EXACT_PAIRS = 20_000


def place(request: ServiceRequest, policy: Policy, repository: Repository,
          mode: Mode = "auto", explain: bool = False,
          excluded: Mapping[tuple[str, str], str] | None = None) -> Plan:
    """The plan; `excluded` rules (workload, site) pairs out, with the reason the plan gives."""
    check(request, repository, policy)
    with collector_paused():
        problem = PlacementProblem(request, policy, repository,
                                   _indexed(request, repository, excluded or {}))
        placed, cands = _solve(problem, mode)
        return build_plan(problem, placed, explain=explain, candidates=cands)


def _indexed(request: ServiceRequest, repository: Repository,
             excluded: Mapping[tuple[str, str], str]) -> dict[tuple[int, int], str]:
    """`excluded` by index, with each workload's sites outside those it allows."""
    workloads = {w.name: i for i, w in enumerate(request.workloads)}
    sites = {s.site.id: i for i, s in enumerate(repository.sites)}
    indexed = {(workloads[w], sites[s]): why for (w, s), why in excluded.items()
               if w in workloads and s in sites}
    for w, workload in enumerate(request.workloads):
        if workload.sites:
            why = f"not among the workload's allowed sites ({', '.join(workload.sites)})"
            allowed = set(workload.sites)
            indexed |= {(w, s): why for site, s in sites.items() if site not in allowed}
    return indexed


def check(request: ServiceRequest, repository: Repository, policy: Policy) -> None:
    """References the model alone cannot check: names that must exist elsewhere."""
    problems: list[Problem] = []
    if policy.tenant not in (request.tenant, "default"):
        problems.append(Problem("policy", "tenant", f"expected the request's tenant"
                                f" {request.tenant!r} (or default)", policy.tenant))
    counts = Counter(w.name for w in request.workloads)
    names = counts.keys()
    where = f"request {request.name}"
    for name in sorted(n for n, count in counts.items() if count > 1):
        problems.append(Problem(where, "workloads", "expected unique workload names", name))
    for w in request.workloads:
        for budget in w.latency:
            if budget.area not in request.areas:
                problems.append(Problem(
                    where, f"workloads.{w.name}.latency.area",
                    f"expected one of the request's areas ({', '.join(request.areas) or 'none'})",
                    budget.area))
    for field, pairs in (("affinity", request.affinity), ("anti_affinity", request.anti_affinity)):
        for pair in pairs:
            for name in (pair.first, pair.second):
                if name not in names:
                    problems.append(Problem(where, field, "expected a workload of the"
                                            " request", name))
    known = {s.site.id for s in repository.sites}
    for w in request.workloads:
        for site in w.sites:
            if site not in known:
                problems.append(Problem(where, f"workloads.{w.name}.sites", "expected a site"
                                        " of the repository", site))
    for name in request.chain:
        if name not in names:
            problems.append(Problem(where, "chain", "expected a workload of the request",
                                    name))
    if not repository.sites:
        problems.append(Problem("repository", "sites", "expected at least one site",
                                has_value=False))
    if problems:
        raise InvalidInputError(problems)


def solve(problem: PlacementProblem, mode: Mode) -> Ints:
    """Site index per workload (-1: not placed)."""
    return _solve(problem, mode)[0]


def _solve(problem: PlacementProblem, mode: Mode) -> tuple[Ints, assign.Candidates | None]:
    """The placement, and the fast engine's candidates (None from the exact one)."""
    active = np.flatnonzero([not w.deferred for w in problem.request.workloads])
    if mode == "exact" or (mode == "auto"
                           and len(active) * len(problem.site_ids) <= EXACT_PAIRS):
        from tcra.mco import exact  # scipy: a second to import, so only when it is used

        placed, _ = exact.solve(problem, active, together=pairs(problem, "affinity"),
                                apart=pairs(problem, "anti_affinity"))
        return placed, None
    return fast(problem, active)


def pairs(problem: PlacementProblem, field: str) -> tuple[tuple[int, int], ...]:
    names = {name: i for i, name in enumerate(problem.workload_names)}
    return tuple((names[p.first], names[p.second]) for p in getattr(problem.request, field))


def fast(problem: PlacementProblem, active: Ints) -> tuple[Ints, assign.Candidates]:
    """The vectorised engine; workloads bound to others by (anti-)affinity go first, exactly.
    Returns the candidates too: the plan takes runner-ups from them above the explain cap."""
    bound = {i for pair in pairs(problem, "affinity") + pairs(problem, "anti_affinity")
             for i in pair}
    placed = np.full(len(problem.workload_names), -1, dtype=np.int64)
    capacity = problem.capacity.copy()
    if bound:
        from tcra.mco import exact

        members = np.array(sorted(bound & set(active.tolist())), dtype=np.int64)
        chosen, _ = exact.solve(problem, members, together=pairs(problem, "affinity"),
                                apart=pairs(problem, "anti_affinity"))
        placed[members] = chosen[members]
        done = members[chosen[members] >= 0]
        np.add.at(capacity, chosen[done], -problem.demand[done])
    free = np.array(sorted(set(active.tolist()) - bound), dtype=np.int64)
    cands = assign.candidates(problem, free)
    _stick(problem, cands)
    mask = np.zeros(len(problem.workload_names), dtype=bool)
    mask[free] = True
    # Workloads stay where they run while it is still allowed and has room; moving them is
    # left to improve(), which must then gain more than the migration cost.
    staying = _stay(problem, free, capacity)
    bulk, remaining = assign.assign(problem, cands, mask & (staying < 0), capacity)
    bulk[staying >= 0] = staying[staying >= 0]
    bulk, remaining = assign.improve(problem, cands, bulk, remaining)
    left = free[bulk[free] < 0]
    if len(left):  # their pruned candidates filled up: look at every site with room
        wide = assign.widen(problem, left, remaining)
        waiting = np.zeros(len(mask), dtype=bool)
        waiting[left] = True
        extra, remaining = assign.assign(problem, wide, waiting, remaining)
        bulk[left] = extra[left]
        # Later moves choose among the wider candidates.
        cands.sites[left], cands.scores[left] = wide.sites[left], wide.scores[left]
    bulk, remaining = assign.repair(problem, cands, bulk, remaining, mask)
    bulk, _ = assign.improve(problem, cands, bulk, remaining)
    placed[free] = bulk[free]
    return placed, cands


def _stay(problem: PlacementProblem, free: Ints, capacity: Floats) -> Ints:
    """Current site per workload that can keep it (-1 otherwise), taking capacity in order."""
    staying = np.full(len(problem.workload_names), -1, dtype=np.int64)
    here = free[problem.current[free] >= 0]
    if not len(here):
        return staying
    here = here[problem.feasible(here, problem.current[here])]
    for w in here.tolist():
        site = int(problem.current[w])
        if (problem.demand[w] <= capacity[site] + assign.EPS).all():
            capacity[site] -= problem.demand[w]
            staying[w] = site
    return staying


def _stick(problem: PlacementProblem, cands: assign.Candidates) -> None:
    """Put each workload's current site among its candidates, with the migration bonus."""
    current = problem.current
    for w in np.flatnonzero(current >= 0).tolist():
        site = int(current[w])
        if not problem.feasible(np.array([w]), np.array([site]))[0]:
            continue
        row = cands.sites[w]
        slot = int(np.flatnonzero(row == site)[0]) if (row == site).any() else len(row) - 1
        row[slot] = site
        cands.scores[w, slot] = (problem.score(np.array([w]), np.array([site]))[0]
                                 - problem.policy.migration_cost)
        order = np.argsort(cands.scores[w], kind="stable")
        cands.sites[w], cands.scores[w] = row[order], cands.scores[w][order]
