"""Turn a solved placement into a Plan a network engineer can check by hand: per workload the
site, the runner-up, why other sites were rejected; per site the cluster action; and for each
workload that could not be placed, the constraints that bind."""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np

from tcra.mco.assign import CHUNK_PAIRS, Candidates
from tcra.mco.model import ClusterState, WorkloadKind
from tcra.mco.plan import ClusterAction, Plan, Rejection, SiteAction, Unplaced
from tcra.mco.problem import DIMS, Floats, Ints, PlacementProblem, capacity_vector

# Full per-site explanations (every rejected site, exact runner-up) up to this many pairs.
EXPLAIN_PAIRS = 2_000_000
_UNITS = {"cpu": "cores", "memory": "GiB", "hugepages": "GiB of hugepages", "gpus": "GPU(s)",
          "sriov_vfs": "SR-IOV VF(s)", "hosts": "whole host(s)"}


def build_plan(problem: PlacementProblem, placed: Ints, explain: bool = False,
               candidates: Candidates | None = None) -> Plan:
    """The plan for `placed`. Runner-ups are exact (every site scanned) up to EXPLAIN_PAIRS
    pairs, with `explain`, or without `candidates`; above that, the best of each workload's
    candidates: scanning a billion pairs would cost more than the solve itself."""
    request = problem.request
    active = [i for i, w in enumerate(request.workloads) if not w.deferred]
    done = np.array([i for i in active if placed[i] >= 0], dtype=np.int64)
    sites = placed[done]
    score = problem.score(done, sites) if len(done) else np.zeros(0)
    cost = problem.power[done] * problem.price_unit[sites]
    carbon = problem.power[done] * problem.carbon_unit[sites]
    if explain or candidates is None or len(active) * len(problem.site_ids) <= EXPLAIN_PAIRS:
        up_sites, up_scores = _runners_up(problem, done, sites)
    else:
        up_sites, up_scores = _runners_up_among(problem, done, sites, candidates)
    areas = problem.budgets[0][done]
    rtt = problem.latency[sites[:, None], areas].tolist() if problem.area_names else [
        []] * len(done)
    current = problem.current[done].tolist()
    # Plain dicts, validated into Assignments by pydantic-core in one call: faster than a
    # model per workload from Python, for the 100,000 of a large request.
    assignments = [
        _assignment(problem, w, site, was, value, eur, gco2, up_site, up_score, ms, explain)
        for w, site, was, value, eur, gco2, up_site, up_score, ms in zip(
            done.tolist(), sites.tolist(), current, score.tolist(), cost.tolist(),
            carbon.tolist(), up_sites.tolist(), up_scores.tolist(), rtt, strict=True)]
    unplaced = [Unplaced(workload=request.workloads[i].name, reason=diagnose(problem, i))
                for i in active if placed[i] < 0]
    return Plan.model_validate({
        "service": request.name, "tenant": request.tenant, "assignments": assignments,
        "actions": cluster_actions(problem, placed), "unplaced": tuple(unplaced),
        "deferred": tuple(w.name for w in request.workloads if w.deferred),
        "objective": round(float(score.sum()), 6), "cost_per_hour": round(float(cost.sum()), 6),
        "carbon_per_hour": round(float(carbon.sum()), 3)})


def _assignment(problem: PlacementProblem, w: int, site: int, was: int, score: float, cost: float,
                carbon: float, up_site: int, up_score: float, rtt: list[float], explain: bool
                ) -> dict[str, object]:
    workload = problem.request.workloads[w]
    moved_from, why = _move(problem, w, site, was, score) if was >= 0 else (None, None)
    return {
        "workload": workload.name, "site": problem.site_ids[site], "score": round(score, 6),
        "latency_ms": {b.area: round(ms, 3) for b, ms in zip(workload.latency, rtt,
                                                                strict=False)},
        "cost_per_hour": round(cost, 6), "carbon_per_hour": round(carbon, 3),
        "runner_up": problem.site_ids[up_site] if up_site >= 0 else None,
        "runner_up_score": round(up_score, 6) if up_site >= 0 else None,
        "moved_from": moved_from, "move_reason": why,
        "rejected": _rejections(problem, w) if explain else ()}


def _runners_up(problem: PlacementProblem, done: Ints, chosen: Ints) -> tuple[Ints, Floats]:
    """The best feasible site other than the chosen one, scanning every site (in chunks)."""
    every = np.arange(len(problem.site_ids), dtype=np.int64)
    best_site = np.full(len(done), -1, dtype=np.int64)
    best_score = np.full(len(done), np.inf)
    chunk = max(1, CHUNK_PAIRS // max(len(every), 1))
    for start in range(0, len(done), chunk):
        rows = np.arange(start, min(start + chunk, len(done)))
        score = problem.evaluate(done[rows, None], every[None, :])
        _take_best(score, every[None, :], chosen[rows], rows, best_site, best_score)
    return best_site, best_score


def _runners_up_among(problem: PlacementProblem, done: Ints, chosen: Ints, candidates: Candidates
                      ) -> tuple[Ints, Floats]:
    """The best feasible site other than the chosen one among each workload's candidates;
    workloads that had none (those solved exactly for (anti-)affinity) scan every site."""
    sites = np.sort(candidates.sites[done], axis=1)  # site order breaks ties, as a scan does
    score = problem.evaluate(done[:, None], np.maximum(sites, 0))
    score[sites < 0] = np.inf
    best_site = np.full(len(done), -1, dtype=np.int64)
    best_score = np.full(len(done), np.inf)
    _take_best(score, sites, chosen, np.arange(len(done)), best_site, best_score)
    missing = np.flatnonzero((sites < 0).all(axis=1))
    if len(missing):
        best_site[missing], best_score[missing] = _runners_up(problem, done[missing],
                                                              chosen[missing])
    return best_site, best_score


def _take_best(score: Floats, sites: Ints, chosen: Ints, rows: Ints, best_site: Ints,
               best_score: Floats) -> None:
    """Per row of `score` (sites in the matching row of `sites`), the best site but `chosen`."""
    sites = np.broadcast_to(sites, score.shape)
    score[sites == chosen[:, None]] = np.inf
    k = np.argmin(score, axis=1)
    value = score[np.arange(len(k)), k]
    best_site[rows] = np.where(np.isfinite(value), sites[np.arange(len(k)), k], -1)
    best_score[rows] = value


def _move(problem: PlacementProblem, w: int, site: int, was: int, score: float
          ) -> tuple[str | None, str | None]:
    if was == site:
        return None, None
    name = problem.site_ids[was]
    reason = reasons(problem, w, np.array([was]))[0]
    if reason is not None:
        return name, f"a constraint fails at {name} now: {reason}"
    before = float(problem.score(np.array([w]), np.array([was]))[0])
    return name, (f"moving gains {before - score:.4f} in score, more than the migration cost"
                  f" {problem.policy.migration_cost:g}")


def _rejections(problem: PlacementProblem, w: int) -> tuple[Rejection, ...]:
    every = np.arange(len(problem.site_ids), dtype=np.int64)
    return tuple(Rejection(site=problem.site_ids[s], reason=r)
                 for s, r in zip(every.tolist(), reasons(problem, w, every), strict=True)
                 if r is not None)


def reasons(problem: PlacementProblem, w: int, sites: Ints) -> list[str | None]:
    """The first hard constraint each site fails for workload w (None: it passes them all)."""
    workload = problem.request.workloads[w]
    policy = problem.policy
    result: list[str | None] = []
    for s in sites.tolist():
        state = problem.repository.sites[s]
        site = state.site
        why: str | None = None
        if policy.tiers and site.tier not in policy.tiers:
            why = f"policy: tier {site.tier.value} not allowed"
        elif (policy.max_carbon_intensity is not None
              and site.energy.carbon_intensity > policy.max_carbon_intensity):
            why = (f"policy: carbon intensity {site.energy.carbon_intensity:g} gCO2/kWh >"
                   f" {policy.max_carbon_intensity:g}")
        elif (policy.max_price_per_kwh is not None
              and site.energy.price_per_kwh > policy.max_price_per_kwh):
            why = (f"policy: energy price {site.energy.price_per_kwh:g} >"
                   f" {policy.max_price_per_kwh:g}")
        elif (policy.min_renewable_share is not None
              and site.energy.renewable_share < policy.min_renewable_share):
            why = (f"policy: renewable share {site.energy.renewable_share:g} <"
                   f" {policy.min_renewable_share:g}")
        elif (w, s) in problem.excluded:
            why = problem.excluded[(w, s)]
        elif workload.jurisdictions and site.jurisdiction not in workload.jurisdictions:
            why = (f"jurisdiction {site.jurisdiction} not allowed"
                   f" ({', '.join(workload.jurisdictions)})")
        else:
            why = _latency_reason(problem, w, s) or _resource_reason(problem, w, s)
        result.append(why)
    return result


def _latency_reason(problem: PlacementProblem, w: int, s: int) -> str | None:
    for budget in problem.request.workloads[w].latency:
        rtt = float(problem.latency[s, problem.area_index[budget.area]])
        if rtt > budget.max_ms + 1e-9:
            return f"{rtt:.1f} ms to area {budget.area} > budget {budget.max_ms:g} ms"
    return None


def _resource_reason(problem: PlacementProblem, w: int, s: int) -> str | None:
    if problem.needs_ptp[w] and not problem.site_ptp[s]:
        return "no PTP-capable host"
    if problem.needs_hypervisor[w] and not problem.site_hypervisor[s]:
        return "no hypervisor for VMs"
    if problem.needs_cluster[w] and not problem.site_cluster[s]:
        return "no Kubernetes cluster, and none can be made (no Cluster API)"
    need, free = problem.demand[w], problem.capacity[s]
    for d, dim in enumerate(DIMS):
        if need[d] > free[d] + 1e-9:
            return f"needs {need[d]:g} {_UNITS[dim]}, {free[d]:g} free"
    if need[0] > problem.largest_host_cpu[s] + 1e-9:
        return (f"needs {need[0]:g} cores on one host, the largest has"
                f" {problem.largest_host_cpu[s]:g}")
    return None


def diagnose(problem: PlacementProblem, w: int) -> str:
    """Why workload w has no site: the constraints that bind, with the nearest near-miss."""
    workload = problem.request.workloads[w]
    every = np.arange(len(problem.site_ids), dtype=np.int64)
    why = reasons(problem, w, every)
    passing = [problem.site_ids[s] for s, r in enumerate(why) if r is None]
    needs = _needs(problem, w)
    if passing:
        return (f"needs {needs}; sites meeting every constraint ({', '.join(passing)}) have no"
                " capacity left for it after the rest of the request")
    summary = f"needs {needs}"
    for budget in workload.latency:
        a = problem.area_index[budget.area]
        others = [s for s, r in enumerate(why)
                  if r is None or (r.endswith("ms") and f"area {budget.area}" in r)]
        others = [s for s in others if _resource_reason(problem, w, s) is None]
        within = [s for s in others if problem.latency[s, a] <= budget.max_ms + 1e-9]
        summary += (f"; sites otherwise suitable within {budget.max_ms:g} ms of {budget.area}:"
                    f" {', '.join(problem.site_ids[s] for s in within) or 'none'}")
        if others and not within:
            near = min(others, key=lambda s: (problem.latency[s, a], s))
            summary += (f"; nearest otherwise suitable site {problem.site_ids[near]}"
                        f" at {problem.latency[near, a]:.1f} ms")
        # Near enough, allowed, but taken: what binds is capacity (or hosts), say whose.
        full = [f"{problem.site_ids[s]} ({r})" for s, r in enumerate(why)
                if r is not None and problem.latency[s, a] <= budget.max_ms + 1e-9
                and r in (_resource_reason(problem, w, s), problem.excluded.get((w, s)))][:3]
        if full:
            summary += f"; within {budget.max_ms:g} ms but without room: {'; '.join(full)}"
    counts: dict[str, int] = defaultdict(int)
    for r in why:
        if r is not None:
            counts[r.split(":")[0] if r.startswith("policy") else r] += 1
    common = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:3]
    summary += "; rejected: " + "; ".join(f"{n} site(s): {r}" for r, n in common)
    return summary


def _needs(problem: PlacementProblem, w: int) -> str:
    workload = problem.request.workloads[w]
    parts = [f"{workload.resources.cpu:g} cores", f"{workload.resources.memory}"]
    if workload.resources.gpus:
        parts.append(f"{workload.resources.gpus} GPU(s)")
    if workload.resources.sriov_vfs:
        parts.append(f"{workload.resources.sriov_vfs} SR-IOV VF(s)")
    if workload.resources.ptp:
        parts.append("PTP")
    parts += [f"{b.max_ms:g} ms to area {b.area}" for b in workload.latency]
    if workload.jurisdictions:
        parts.append(f"jurisdiction {'/'.join(workload.jurisdictions)}")
    return " and ".join(parts)


def cluster_actions(problem: PlacementProblem, placed: Ints) -> tuple[SiteAction, ...]:
    """Per site and workload kind: reuse a cluster with room, scale one out, or create one."""
    groups: dict[tuple[int, WorkloadKind], list[int]] = defaultdict(list)
    for w, s in enumerate(placed.tolist()):
        if s >= 0:
            groups[(s, problem.request.workloads[w].kind)].append(w)
    by_site: dict[tuple[str, WorkloadKind], list[ClusterState]] = defaultdict(list)
    for c in sorted(problem.repository.clusters, key=lambda c: c.name):
        by_site[(c.site, c.kind)].append(c)
    actions = []
    for (s, kind), members in sorted(groups.items(), key=lambda g: (g[0][0], g[0][1].value)):
        site = problem.site_ids[s]
        names = tuple(problem.workload_names[w] for w in members)
        need = problem.demand[members].sum(axis=0)
        if kind is WorkloadKind.PAF:
            actions.append(SiteAction(site=site, kind=kind, action=ClusterAction.CLAIM_HOSTS,
                                      nodes=len(members), workloads=names))
            continue
        actions.append(_cluster_action(problem, s, kind, by_site[(site, kind)], need, names))
    return tuple(actions)


def _cluster_action(problem: PlacementProblem, s: int, kind: WorkloadKind,
                    clusters: list[ClusterState], need: Floats,
                    names: tuple[str, ...]) -> SiteAction:
    site = problem.site_ids[s]
    for cluster in clusters:
        if (need <= np.array(capacity_vector(cluster.free)) + 1e-9).all():
            return SiteAction(site=site, kind=kind, action=ClusterAction.REUSE,
                              cluster=cluster.name, workloads=names)
    for cluster in clusters:
        free, node = np.array(capacity_vector(cluster.free)), np.array(
            capacity_vector(cluster.node))
        short = np.maximum(need - free, 0)
        per_dim = [math.ceil(short[d] / node[d]) if short[d] > 0 and node[d] > 0
                   else (0 if short[d] <= 0 else math.inf) for d in range(len(DIMS) - 1)]
        nodes = max(per_dim)
        if nodes <= cluster.max_nodes_to_add:
            return SiteAction(site=site, kind=kind, action=ClusterAction.SCALE,
                              cluster=cluster.name, nodes=int(nodes), workloads=names)
    host = max(float(problem.largest_host_cpu[s]), 1.0)
    return SiteAction(site=site, kind=kind, action=ClusterAction.CREATE,
                      cluster=f"{problem.request.name}-{site}-{kind.value}".replace("_", "-"),
                      nodes=max(1, math.ceil(float(need[0]) / host)), workloads=names)
