"""The fast engine: prune each workload to its best candidate sites, then assign jointly.

1. Candidates: per kind of scarce hardware, the sites nearest each user area and the
   greenest sites overall are scored exactly for each workload; its best CANDIDATES are kept.
2. Assignment in rounds, all workloads at once: each proposes to its best candidate still
   open; every site accepts proposals in order of regret (what a workload loses if sent to
   its next choice) while they fit in every dimension; the rest retry or move down a choice.
3. Improvement: workloads move to a better candidate wherever one has room, in rounds.
Everything is array arithmetic with stable orderings, so the same input gives the same plan.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tcra.mco.problem import Bools, Floats, Ints, PlacementProblem

NEAREST = 48
GREENEST = 12
CANDIDATES = 12
CHUNK_PAIRS = 2_000_000
MAX_ROUNDS = 200
EPS = 1e-9


@dataclass(frozen=True)
class Candidates:
    sites: Ints  # (W, K) site index, -1 where none
    scores: Floats  # (W, K) score, inf where none


def candidates(problem: PlacementProblem, workloads: Ints, width: int = CANDIDATES) -> Candidates:
    """Each workload's best `width` feasible sites, best first.

    Sites worth scoring for a workload: the NEAREST to its (first) user area among sites with
    the hardware it needs, and the GREENEST (policy's cost and carbon) such sites anywhere.
    A workload left with none of those feasible is scored against every site."""
    count = len(problem.workload_names)
    sites = np.full((count, width), -1, dtype=np.int64)
    scores = np.full((count, width), np.inf)
    classes = _hardware_class(problem)
    areas = problem.budgets[0][:, 0] if problem.area_names else np.zeros(count, np.int64)
    has_area = np.isfinite(problem.budgets[1][:, 0])
    known: dict[bytes, Ints] = {}  # classes often share their capable sites (all have KVM)
    for c in np.unique(classes[workloads]).tolist():
        capable = np.flatnonzero(problem.policy_allowed & _capable(problem, c))
        if not len(capable):
            continue
        if (pools := known.get(capable.tobytes())) is None:
            greenest = capable[np.argsort(_energy(problem)[capable], kind="stable")[:GREENEST]]
            pools = known[capable.tobytes()] = _pools(_nearest(problem, capable), greenest,
                                                      len(problem.site_ids))
        # Pool a is near area a; the last, for workloads without a budget, reads column 0
        # as their padded budget does (and divides it by an infinite budget).
        pool_area = np.r_[np.arange(len(pools) - 1), 0]
        in_class = workloads[classes[workloads] == c]
        key = np.where(has_area[in_class], areas[in_class], -1) % len(pools)
        _best_of(problem, in_class, pools, pool_area, key, sites, scores)
    lost = workloads[sites[workloads, 0] < 0]
    every = np.arange(len(problem.site_ids), dtype=np.int64)
    _best_of(problem, lost, every[None, :], np.zeros(1, dtype=np.int64),
             np.zeros(len(lost), dtype=np.int64), sites, scores)
    return Candidates(sites, scores)


def _pools(nearest: Ints, greenest: Ints, count: int) -> Ints:
    """Sites to score per area: row a is the sorted union of the sites nearest area a and the
    greenest; the last row is the greenest alone (for workloads without a latency budget).
    Rows are padded with -1. All areas at once: one workload group is one array operation."""
    if not nearest.size:
        return greenest[None, :]
    union = np.sort(np.concatenate(
        [nearest.T, np.broadcast_to(greenest, (nearest.shape[1], len(greenest)))], axis=1),
        axis=1)
    union[:, 1:][union[:, 1:] == union[:, :-1]] = count  # duplicates sort last, then go
    union.sort(axis=1)
    union[union == count] = -1
    last = np.full((1, union.shape[1]), -1, dtype=np.int64)
    last[0, :len(greenest)] = greenest
    pools: Ints = np.concatenate([union, last])
    return pools


def _best_of(problem: PlacementProblem, members: Ints, pools: Ints, pool_area: Ints, key: Ints,
             sites: Ints, scores: Floats) -> None:
    """Score each member against the sites of its pool (row `key` of `pools`; -1: no site)
    and keep the best, in chunks of CHUNK_PAIRS pairs."""
    width = sites.shape[1]
    keep = min(width, pools.shape[1])
    step = max(1, CHUNK_PAIRS // max(pools.shape[1], 1))
    for start in range(0, len(members), step):
        w, k = members[start:start + step], key[start:start + step]
        pool = pools[k]
        score = np.where(pool >= 0, problem.evaluate_pooled(w, np.maximum(pools, 0), pool_area,
                                                            k), np.inf)
        order = np.argsort(score, axis=1, kind="stable")[:, :keep]
        best = np.take_along_axis(score, order, axis=1)
        sites[w, :keep] = np.where(np.isfinite(best), np.take_along_axis(pool, order, axis=1), -1)
        scores[w, :keep] = best


def widen(problem: PlacementProblem, workloads: Ints, remaining: Floats,
          width: int = CANDIDATES) -> Candidates:
    """Candidates among every site that still has room: for workloads whose pruned candidates
    all filled up, while sites farther out (still within budget) have space."""
    count = len(problem.workload_names)
    sites = np.full((count, width), -1, dtype=np.int64)
    scores = np.full((count, width), np.inf)
    every = np.arange(len(problem.site_ids), dtype=np.int64)
    chunk = max(1, CHUNK_PAIRS // max(len(every), 1))
    room = (remaining + EPS).T
    for start in range(0, len(workloads), chunk):
        w = workloads[start:start + chunk]
        score = problem.evaluate(w[:, None], every[None, :])
        for d in range(remaining.shape[1]):  # a dimension at a time: no (W, S, dims) array
            score[problem.demand[w, d][:, None] > room[d][None, :]] = np.inf
        keep = min(width, len(every))
        order = np.argsort(score, axis=1, kind="stable")[:, :keep]
        best = np.take_along_axis(score, order, axis=1)
        sites[w, :keep] = np.where(np.isfinite(best), every[order], -1)
        scores[w, :keep] = best
    return Candidates(sites, scores)


def _hardware_class(problem: PlacementProblem) -> Ints:
    """A small integer per workload: which scarce hardware it needs (bit per kind)."""
    d = problem.demand
    bits: Ints = ((d[:, 3] > 0) * 1 + problem.needs_ptp * 2 + (d[:, 4] > 0) * 4
                  + (d[:, 2] > 0) * 8 + (d[:, 5] > 0) * 16
                  + problem.needs_hypervisor * 32 + problem.needs_cluster * 64
                  ).astype(np.int64)
    return bits


def _capable(problem: PlacementProblem, hardware: int) -> Bools:
    cap = problem.capacity
    ok: Bools = np.ones(len(problem.site_ids), dtype=bool)
    for bit, column in ((1, 3), (4, 4), (8, 2), (16, 5)):
        if hardware & bit:
            ok &= cap[:, column] > 0
    if hardware & 2:
        ok &= problem.site_ptp
    if hardware & 32:
        ok &= problem.site_hypervisor
    if hardware & 64:
        ok &= problem.site_cluster
    return ok


def _energy(problem: PlacementProblem) -> Floats:
    weights = problem.policy.weights
    result: Floats = (weights.cost * problem.price_unit / max(problem.price_unit.mean(), 1e-9)
                      + weights.carbon * problem.carbon_unit
                      / max(problem.carbon_unit.mean(), 1e-9))
    return result


def _nearest(problem: PlacementProblem, capable: Ints) -> Ints:
    """For every area, the NEAREST capable sites (columns: areas)."""
    if not problem.area_names:
        return np.zeros((0, 0), dtype=np.int64)
    k = min(NEAREST, len(capable))
    if k == len(capable):
        return np.repeat(capable[:, None], len(problem.area_names), axis=1)
    # Area-major, so each area's selection runs over contiguous memory.
    rtt = problem.area_latency[:, capable]
    nearest: Ints = capable[np.argpartition(rtt, k - 1, axis=1)[:, :k]].T
    return nearest


def assign(problem: PlacementProblem, cands: Candidates, active: Bools,
           capacity: Floats | None = None) -> tuple[Ints, Floats]:
    """Site index per workload (-1: not placed) and the capacity left over."""
    demand = problem.demand
    remaining = (problem.capacity if capacity is None else capacity).copy()
    count, width = cands.sites.shape
    placed = np.full(count, -1, dtype=np.int64)
    choice = np.zeros(count, dtype=np.int64)
    second = np.where(np.isfinite(cands.scores[:, 1]), cands.scores[:, 1],
                      cands.scores[:, 0] + 1e6) if width > 1 else cands.scores[:, 0]
    with np.errstate(invalid="ignore"):  # inf - inf where a workload has no candidate
        regret = np.nan_to_num(second - cands.scores[:, 0], nan=0.0, posinf=1e6)
    waiting = active & (cands.sites[:, 0] >= 0)
    for _ in range(MAX_ROUNDS):
        idx = np.flatnonzero(waiting & (placed < 0) & (choice < width))
        if not len(idx):
            break
        site = cands.sites[idx, choice[idx]]
        gone = site < 0
        choice[idx[gone]] = width
        idx, site = idx[~gone], site[~gone]
        if not len(idx):
            break
        accepted = _accept(site, regret[idx], idx, demand[idx], remaining)
        won = idx[accepted]
        placed[won] = site[accepted]
        np.add.at(remaining, site[accepted], -demand[won])
        lost = ~accepted
        # A proposal that no longer fits even alone moves down to its next choice.
        still = (demand[idx[lost]] <= remaining[site[lost]] + EPS).all(axis=1)
        choice[idx[lost][~still]] += 1
    return placed, remaining


def _accept(site: Ints, priority: Floats, tiebreak: Ints, demand: Floats,
            remaining: Floats) -> Bools:
    """Per site, the highest-priority prefix of proposals that fits in every dimension.

    Demands are non-negative, so the running load only grows: what fits is a prefix."""
    order = np.lexsort((tiebreak, -priority, site))
    s = site[order]
    sizes = np.diff(np.r_[np.flatnonzero(np.r_[True, s[1:] != s[:-1]]), len(s)])
    load = np.cumsum(demand[order], axis=0)
    before = np.repeat(np.r_[np.zeros((1, demand.shape[1])), load[:-1]][
        np.r_[0, np.cumsum(sizes)[:-1]]], sizes, axis=0)
    accepted = np.empty(len(site), dtype=bool)
    accepted[order] = ((load - before) <= remaining[s] + EPS).all(axis=1)
    return accepted


def improve(problem: PlacementProblem, cands: Candidates, placed: Ints, remaining: Floats,
            rounds: int = 20) -> tuple[Ints, Floats]:
    """Move workloads to a better candidate that has room; best gains first."""
    demand = problem.demand
    count, width = cands.sites.shape
    rows = np.arange(count)
    for _ in range(rounds):
        current = np.where(placed >= 0, _slot_of(cands, placed), width)
        best_gain = np.zeros(count)
        target = np.full(count, -1, dtype=np.int64)
        for k in range(width):
            site = cands.sites[:, k]
            better = (placed >= 0) & (k < current) & (site >= 0)
            better &= (demand <= remaining[np.maximum(site, 0)] + EPS).all(axis=1)
            with np.errstate(invalid="ignore"):
                gain = np.where(better, _score_at(cands, current) - cands.scores[:, k], 0.0)
            take = gain > best_gain + EPS
            best_gain[take], target[take] = gain[take], site[take]
        movers = rows[target >= 0]
        if not len(movers):
            break
        accepted = _accept(target[movers], best_gain[movers], movers, demand[movers], remaining)
        moved = movers[accepted]
        if not len(moved):
            break
        np.add.at(remaining, placed[moved], demand[moved])
        placed[moved] = target[moved]
        np.add.at(remaining, placed[moved], -demand[moved])
    return placed, remaining


def repair(problem: PlacementProblem, cands: Candidates, placed: Ints, remaining: Floats,
           active: Bools, limit: int = 5_000) -> tuple[Ints, Floats]:
    """Place what is left by moving one resident aside: for an unplaced workload u and one of
    its candidate sites s, move a workload v from s to another of v's candidates with room,
    if that frees enough at s for u. Cheapest such exchange first; at most `limit` tries."""
    demand = problem.demand
    width = cands.sites.shape[1]
    by_site = np.argsort(placed, kind="stable")
    bounds = np.searchsorted(placed[by_site], np.arange(len(problem.site_ids) + 1))
    arrived: dict[int, list[int]] = {}

    def residents(site: int) -> Ints:
        """Who is at `site` now: those placed there at the start and still there, and arrivals."""
        start = by_site[bounds[site]:bounds[site + 1]]
        later = np.array(arrived.get(site, []), dtype=np.int64)
        result: Ints = np.concatenate([start[placed[start] == site], later[placed[later] == site]])
        return result

    tries = 0
    for u in np.flatnonzero(active & (placed < 0) & (cands.sites[:, 0] >= 0)).tolist():
        best: tuple[float, int, int, int] | None = None
        for k in range(width):
            s = int(cands.sites[u, k])
            if s < 0 or tries >= limit:
                break
            tries += 1
            here = residents(s)
            if not len(here):
                continue
            # v must free enough: what u lacks at s must be covered by v's demand.
            lacking = np.maximum(demand[u] - remaining[s], 0)
            here = here[(demand[here] >= lacking - EPS).all(axis=1)]
            if not len(here):
                continue
            alternatives = cands.sites[here]
            room = (alternatives >= 0) & (alternatives != s) & (
                demand[here][:, None, :] <= remaining[np.maximum(alternatives, 0)] + EPS
            ).all(axis=2)
            sub = _rows(cands, here)
            now = _score_at(sub, _slot_of(sub, placed[here]))
            loss = np.where(room, cands.scores[here] - now[:, None], np.inf)
            flat = int(np.argmin(loss))
            v, j = divmod(flat, width)
            if not np.isfinite(loss[v, j]):
                continue
            cost = float(loss[v, j]) + float(cands.scores[u, k])
            if best is None or cost < best[0]:
                best = (cost, s, int(here[v]), int(alternatives[v, j]))
        if best is None:
            continue
        _, s, v, t = best
        remaining[s] += demand[v]
        remaining[t] -= demand[v]
        placed[v] = t
        arrived.setdefault(t, []).append(v)
        remaining[s] -= demand[u]
        placed[u] = s
        arrived.setdefault(s, []).append(u)
    return placed, remaining


def _rows(cands: Candidates, rows: Ints) -> Candidates:
    return Candidates(cands.sites[rows], cands.scores[rows])


def _slot_of(cands: Candidates, placed: Ints) -> Ints:
    match = cands.sites == placed[:, None]
    slot: Ints = np.where(match.any(axis=1), match.argmax(axis=1), cands.sites.shape[1])
    return slot


def _score_at(cands: Candidates, slot: Ints) -> Floats:
    width = cands.sites.shape[1]
    padded = np.concatenate([cands.scores, np.full((len(slot), 1), np.inf)], axis=1)
    result: Floats = padded[np.arange(len(slot)), np.minimum(slot, width)]
    return result
