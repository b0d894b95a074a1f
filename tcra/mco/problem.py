"""The placement problem as arrays: sites x resource dimensions, workloads x demands, and the
score and feasibility of any (workload, site) pair, computed for many pairs at once."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import numpy.typing as npt

from tcra.mco import latency
from tcra.mco.model import Capacity, Policy, Repository, Resources, ServiceRequest, WorkloadKind

GIB = float(2**30)
DIMS = ("cpu", "memory", "hugepages", "gpus", "sriov_vfs", "hosts")
# Power estimate per workload (documented in docs/mco.md): a busy core, a GiB of RAM, a GPU.
WATT_PER_CORE = 7.0
WATT_PER_GIB = 0.375
WATT_PER_GPU = 250.0

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]


def capacity_vector(capacity: Capacity) -> list[float]:
    return [capacity.cpu, capacity.memory.bytes / GIB, capacity.hugepages.bytes / GIB,
            capacity.gpus, capacity.sriov_vfs, capacity.hosts]


def demand_vector(resources: Resources, kind: WorkloadKind) -> list[float]:
    return [resources.cpu, resources.memory.bytes / GIB, resources.hugepages.bytes / GIB,
            resources.gpus, resources.sriov_vfs, 1.0 if kind is WorkloadKind.PAF else 0.0]


def power_kw(resources: Resources) -> float:
    watts = (resources.cpu * WATT_PER_CORE + resources.memory.bytes / GIB * WATT_PER_GIB
             + resources.gpus * WATT_PER_GPU)
    return watts / 1000.0


def _padded(rows: list[list[float]] | list[list[int]], fill: float) -> Floats:
    """Ragged rows as one array (at least one column), padded with `fill`: filled in one
    scatter, not row by row."""
    lengths = np.array([len(row) for row in rows], dtype=np.int64)
    result = np.full((len(rows), max(int(lengths.max(initial=0)), 1)), fill)
    starts = np.repeat(np.cumsum(lengths) - lengths, lengths)
    columns = np.arange(int(lengths.sum())) - starts
    result[np.repeat(np.arange(len(rows)), lengths), columns] = [v for row in rows for v in row]
    return result


@dataclass(frozen=True)
class PlacementProblem:
    request: ServiceRequest
    policy: Policy
    repository: Repository
    excluded: dict[tuple[int, int], str] = field(default_factory=dict)
    """(workload, site) pairs ruled out from outside, with why: a site that had no host for
    the workload when hosts were assigned (tcra.mco.hosts)."""

    # ---- sites -------------------------------------------------------------------------
    @cached_property
    def site_ids(self) -> list[str]:
        return [s.site.id for s in self.repository.sites]

    @cached_property
    def capacity(self) -> Floats:
        return np.array([capacity_vector(s.free) for s in self.repository.sites],
                        dtype=np.float64).reshape(-1, len(DIMS))

    @cached_property
    def largest_host_cpu(self) -> Floats:
        return np.array([s.largest_host_cpu for s in self.repository.sites], dtype=np.float64)

    @cached_property
    def site_ptp(self) -> Bools:
        return np.array([s.ptp for s in self.repository.sites], dtype=bool)

    @cached_property
    def site_hypervisor(self) -> Bools:
        return np.array([s.hypervisor for s in self.repository.sites], dtype=bool)

    @cached_property
    def site_cluster(self) -> Bools:
        """A Kubernetes cluster runs here (only asked when none can be made)."""
        at = {c.site for c in self.repository.clusters if c.kind is WorkloadKind.CAF}
        return np.array([s.site.id in at for s in self.repository.sites], dtype=bool)

    @cached_property
    def jurisdictions(self) -> list[str]:
        return sorted({s.site.jurisdiction for s in self.repository.sites}
                      | {j for w in self.request.workloads for j in w.jurisdictions})

    @cached_property
    def site_jurisdiction(self) -> Ints:
        index = {code: i for i, code in enumerate(self.jurisdictions)}
        return np.array([index[s.site.jurisdiction] for s in self.repository.sites],
                        dtype=np.int64)

    @cached_property
    def price_unit(self) -> Floats:
        """EUR per hour for one kW of IT load: price x PUE."""
        return np.array([s.site.energy.price_per_kwh * s.site.energy.pue
                         for s in self.repository.sites], dtype=np.float64)

    @cached_property
    def carbon_unit(self) -> Floats:
        """gCO2 per hour for one kW of IT load: intensity x PUE."""
        return np.array([s.site.energy.carbon_intensity * s.site.energy.pue
                         for s in self.repository.sites], dtype=np.float64)

    @cached_property
    def policy_allowed(self) -> Bools:
        p = self.policy
        ok = np.ones(len(self.site_ids), dtype=bool)
        for i, state in enumerate(self.repository.sites):
            site = state.site
            ok[i] = not (
                (p.tiers and site.tier not in p.tiers)
                or (p.max_carbon_intensity is not None
                    and site.energy.carbon_intensity > p.max_carbon_intensity)
                or (p.max_price_per_kwh is not None
                    and site.energy.price_per_kwh > p.max_price_per_kwh)
                or (p.min_renewable_share is not None
                    and site.energy.renewable_share < p.min_renewable_share))
        return ok

    # ---- areas and latency ---------------------------------------------------------------
    @cached_property
    def area_names(self) -> list[str]:
        return sorted(self.request.areas)

    @cached_property
    def area_index(self) -> dict[str, int]:
        return {name: i for i, name in enumerate(self.area_names)}

    @cached_property
    def latency(self) -> Floats:
        """Sites x areas round-trip time in ms."""
        areas = [self.request.areas[a] for a in self.area_names]
        sites = self.repository.sites
        measured = None
        if any(s.latency_ms for s in sites):
            measured = np.array([[s.latency_ms.get(a, np.nan) for a in self.area_names]
                                 for s in sites], dtype=np.float64).reshape(len(sites), -1)
        return latency.matrix(
            np.array([s.site.location.lat for s in sites]),
            np.array([s.site.location.lon for s in sites]),
            np.array([a.lat for a in areas]), np.array([a.lon for a in areas]), measured)

    @cached_property
    def area_latency(self) -> Floats:
        """Areas x sites: `latency` transposed, contiguous per area."""
        result: Floats = np.ascontiguousarray(self.latency.T)
        return result

    @cached_property
    def current(self) -> Ints:
        """Where each workload of this service runs now (-1: nowhere, or at an unknown site)."""
        index = {site: i for i, site in enumerate(self.site_ids)}
        names = {name: i for i, name in enumerate(self.workload_names)}
        current = np.full(len(names), -1, dtype=np.int64)
        for p in self.repository.placements:
            if p.service == self.request.name and p.workload in names and p.site in index:
                current[names[p.workload]] = index[p.site]
        return current

    # ---- workloads ---------------------------------------------------------------------
    @cached_property
    def workload_names(self) -> list[str]:
        return [w.name for w in self.request.workloads]

    @cached_property
    def demand(self) -> Floats:
        return np.array([demand_vector(w.resources, w.kind) for w in self.request.workloads],
                        dtype=np.float64).reshape(-1, len(DIMS))

    @cached_property
    def power(self) -> Floats:
        return np.array([power_kw(w.resources) for w in self.request.workloads])

    @cached_property
    def needs_ptp(self) -> Bools:
        return np.array([w.resources.ptp for w in self.request.workloads], dtype=bool)

    @cached_property
    def needs_hypervisor(self) -> Bools:
        return np.array([w.kind is WorkloadKind.VAF for w in self.request.workloads],
                        dtype=bool)

    @cached_property
    def needs_cluster(self) -> Bools:
        """Container workloads, when no cluster can be made: they need a site with one."""
        return np.array([w.kind is WorkloadKind.CAF and not self.repository.new_clusters
                         for w in self.request.workloads], dtype=bool)

    @cached_property
    def physical(self) -> Bools:
        return np.array([w.kind is WorkloadKind.PAF for w in self.request.workloads], dtype=bool)

    @cached_property
    def budgets(self) -> tuple[Ints, Floats]:
        """Per workload, padded: area index and budget in ms (inf where none)."""
        index = self.area_index
        budgets = [w.latency for w in self.request.workloads]
        areas = _padded([[index[b.area] for b in row] for row in budgets], 0).astype(np.int64)
        limits = _padded([[b.max_ms for b in row] for row in budgets], np.inf)
        return areas, limits

    @cached_property
    def allowed_jurisdictions(self) -> tuple[Ints, Bools]:
        """Per workload, padded allowed jurisdiction indices, and whether any is allowed."""
        index = {code: i for i, code in enumerate(self.jurisdictions)}
        codes = [[index[j] for j in w.jurisdictions] for w in self.request.workloads]
        allowed = _padded(codes, -1).astype(np.int64)
        return allowed, np.array([not row for row in codes], dtype=bool)

    @cached_property
    def power_ref(self) -> float:
        return float(self.power.mean()) if len(self.power) else 1.0

    # Per-site parts of score and feasibility, computed once: pairs then only gather them.
    @cached_property
    def _site_energy(self) -> Floats:
        """The score's cost and carbon terms of a site, before the workload's power scale."""
        weights = self.policy.weights
        cost = self.price_unit / max(float(self.price_unit.mean()), 1e-9)
        carbon = self.carbon_unit / max(float(self.carbon_unit.mean()), 1e-9)
        result: Floats = weights.cost * cost + weights.carbon * carbon
        return result

    @cached_property
    def _site_cpu(self) -> Floats:
        result: Floats = np.maximum(self.capacity[:, 0], 1e-9)
        return result

    @cached_property
    def _site_room(self) -> Floats:
        """Free capacity plus the tolerance, dimension-major (one contiguous row per dim)."""
        result: Floats = np.ascontiguousarray((self.capacity + 1e-9).T)
        return result

    @cached_property
    def _excluded_codes(self) -> Ints:
        return np.array([w * len(self.site_ids) + s for w, s in self.excluded], dtype=np.int64)

    @cached_property
    def _site_index(self) -> Ints:
        return np.arange(len(self.site_ids), dtype=np.int64)

    @cached_property
    def _site_host(self) -> Floats:
        result: Floats = self.largest_host_cpu + 1e-9
        return result

    # ---- pairs -------------------------------------------------------------------------
    # w and s are index arrays that broadcast together: equal 1-D arrays for a list of pairs,
    # or shapes (m, 1) and (1, p) for every workload of a group against a pool of sites.
    def latency_ratio(self, w: Ints, s: Ints) -> Floats:
        """Worst ratio of round-trip time to budget over the workload's areas (0: no budget)."""
        areas, limits = self.budgets
        if not self.area_names:
            return np.zeros(np.broadcast_shapes(w.shape, s.shape))
        if areas.shape[1] == 1:  # the common case: no max over one budget, half the memory
            one: Floats = self.latency[s, areas[w, 0]] / limits[w, 0]
            return one
        ratio: Floats = (self.latency[s[..., None], areas[w]] / limits[w]).max(axis=-1)
        return ratio

    def score(self, w: Ints, s: Ints) -> Floats:
        """The policy's objective for placing workload w at site s (lower is better)."""
        return self._score(w, _gather(s), self.latency_ratio(w, s))

    def feasible(self, w: Ints, s: Ints) -> Bools:
        """Every hard constraint, for each pair; capacity only as "fits in what is free"."""
        return self._feasible(w, _gather(s), self.latency_ratio(w, s))

    def evaluate(self, w: Ints, s: Ints) -> Floats:
        """Score where feasible, inf where not: both at the price of one latency lookup."""
        at, ratio = _gather(s), self.latency_ratio(w, s)
        result: Floats = np.where(self._feasible(w, at, ratio), self._score(w, at, ratio),
                                  np.inf)
        return result

    def evaluate_pooled(self, w: Ints, pools: Ints, pool_area: Ints, key: Ints) -> Floats:
        """evaluate(w[:, None], pools[key]), the same numbers, for pools of sites shared by
        many workloads: a site's values are gathered once per pool, then a row per workload,
        instead of one random lookup per pair. pool_area: the area each pool is near (its
        latency column) for workloads whose one budget is to that area."""
        column = w[:, None]
        at: Gather = lambda values: values[pools][key]  # noqa: E731
        areas, limits = self.budgets
        if self.area_names and areas.shape[1] == 1 and (areas[w, 0] == pool_area[key]).all():
            rtt = self.latency[pools, pool_area[:, None]][key]
            ratio: Floats = rtt / limits[column, 0]
        else:
            ratio = self.latency_ratio(column, pools[key])
        result: Floats = np.where(self._feasible(column, at, ratio),
                                  self._score(column, at, ratio), np.inf)
        return result

    def _score(self, w: Ints, at: Gather, ratio: Floats) -> Floats:
        weights = self.policy.weights
        scale = self.power[w] / self.power_ref
        share = self.demand[w, 0] / at(self._site_cpu)
        result: Floats = (weights.latency * ratio + scale * at(self._site_energy)
                          + weights.balance * share)
        return result

    def _feasible(self, w: Ints, at: Gather, ratio: Floats) -> Bools:
        allowed, anywhere = self.allowed_jurisdictions
        # Only the dimensions these workloads use: most need no GPU, VF or whole host.
        used = np.flatnonzero(self.demand[w].reshape(-1, len(DIMS)).any(axis=0))
        fits = np.ones(ratio.shape, dtype=bool)
        for d in used.tolist():
            fits &= self.demand[w, d] <= at(self._site_room[d])
        on_one_host = self.demand[w, 0] <= at(self._site_host)
        in_jurisdiction = anywhere[w] | (allowed[w] == at(self.site_jurisdiction)[..., None]
                                         ).any(axis=-1)
        ok: Bools = (at(self.policy_allowed) & (ratio <= 1.0 + 1e-9) & in_jurisdiction
                     & (~self.needs_ptp[w] | at(self.site_ptp))
                     & (~self.needs_hypervisor[w] | at(self.site_hypervisor))
                     & (~self.needs_cluster[w] | at(self.site_cluster)) & fits
                     & on_one_host)
        if self.excluded:
            ok &= ~np.isin(w * len(self.site_ids) + at(self._site_index), self._excluded_codes)
        return ok


Gather = Callable[[npt.NDArray[Any]], npt.NDArray[Any]]
"""A per-site array's values at the pairs' sites."""


def _gather(s: Ints) -> Gather:
    return lambda values: values[s]
