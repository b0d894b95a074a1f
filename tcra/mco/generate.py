"""A synthetic continuum for tests and benchmarks: sites, user areas and a service request with
realistic spreads of tiers, capacity, energy and latency needs, reproducible from a seed."""

from __future__ import annotations

import numpy as np

from tcra.mco.model import (
    Capacity,
    LatencyBudget,
    Policy,
    Repository,
    Resources,
    ServiceRequest,
    SiteState,
    WorkloadKind,
    WorkloadRequest,
)
from tcra.model import Energy, Location, Quantity, Site, Tier
from tcra.model.base import Model

# Rough boxes of European countries: (code, lat min, lat max, lon min, lon max).
COUNTRIES = (("PT", 37, 42, -9, -7), ("ES", 37, 43, -6, 2), ("FR", 43, 50, -1, 7),
             ("BE", 50, 51, 3, 6), ("NL", 51, 53, 4, 7), ("DE", 47, 55, 6, 15),
             ("DK", 55, 57, 8, 12), ("CH", 46, 47.5, 6, 10), ("IT", 38, 46, 8, 16),
             ("AT", 46.5, 48.5, 10, 17), ("CZ", 48.5, 51, 12, 18), ("PL", 49, 54.5, 15, 24),
             ("SE", 56, 63, 12, 19), ("FI", 60, 65, 22, 29), ("GR", 37, 41, 21, 26))
TIERS = (Tier.FAR_EDGE, Tier.EDGE, Tier.REGIONAL, Tier.CORE)
TIER_SHARE = (0.55, 0.30, 0.12, 0.03)
TIER_CORES = ((16, 64), (64, 512), (512, 4096), (4096, 32768))
TIER_PUE = ((1.6, 2.0), (1.4, 1.8), (1.2, 1.5), (1.08, 1.3))
SLA_MS = (2.0, 5.0, 10.0, 20.0, 50.0)


class Instance(Model):
    repository: Repository
    request: ServiceRequest
    policy: Policy


def generate(sites: int, workloads: int, seed: int = 0, load: float = 0.7) -> Instance:
    """`load`: total CPU demanded as a share of total free CPU (0.7 = a loaded continuum)."""
    rng = np.random.default_rng(seed)
    country = rng.integers(0, len(COUNTRIES), sites)
    box = np.array([c[1:] for c in COUNTRIES], dtype=float)[country]
    lat = rng.uniform(box[:, 0], box[:, 1])
    lon = rng.uniform(box[:, 2], box[:, 3])
    tier = rng.choice(len(TIERS), sites, p=TIER_SHARE)
    low, high = np.array(TIER_CORES, dtype=float)[tier].T
    cores = np.exp(rng.uniform(np.log(low), np.log(high)))
    hosts = np.maximum(1, np.round(cores / 64)).astype(int)
    gpu = np.where(rng.random(sites) < (0.05 + 0.2 * tier), np.maximum(1, hosts // 2), 0)
    ptp = (tier <= 1) & (rng.random(sites) < 0.7)
    pue_low, pue_high = np.array(TIER_PUE)[tier].T
    pue = rng.uniform(pue_low, pue_high)
    price = rng.uniform(0.05, 0.30, sites)
    carbon = rng.uniform(20, 700, sites)
    renewable = rng.uniform(0.1, 0.95, sites)

    areas_count = max(2, sites // 10)
    area_site = rng.choice(sites, areas_count, replace=False)
    area_lat = lat[area_site] + rng.normal(0, 0.05, areas_count)
    area_lon = lon[area_site] + rng.normal(0, 0.05, areas_count)

    cpu = rng.choice([0.5, 1, 2, 4, 8, 16], workloads, p=[0.2, 0.3, 0.25, 0.15, 0.07, 0.03])
    scale = load * cores.sum() / cpu.sum()
    cores = cores * scale  # capacity sized so the request loads the continuum as asked
    host_cores = np.maximum(cores / hosts, cpu.max())
    memory_per_core = rng.choice([2, 4, 8], workloads)
    wants_gpu = rng.random(workloads) < 0.03
    wants_ptp = rng.random(workloads) < 0.10
    area = rng.integers(0, areas_count, workloads)
    budget_kind = rng.random(workloads)
    sla = rng.choice(SLA_MS, workloads, p=[0.1, 0.2, 0.3, 0.2, 0.2])
    restricted = rng.random(workloads) < 0.3
    kinds = (WorkloadKind.CAF, WorkloadKind.VAF)
    kind = rng.choice(len(kinds), workloads, p=[0.85, 0.15])

    site_states = tuple(
        SiteState(
            site=Site(id=f"s{i:05d}", tier=TIERS[tier[i]],
                      location=Location(lat=float(lat[i]), lon=float(lon[i])),
                      provider=f"operator-{i % 7}", jurisdiction=COUNTRIES[country[i]][0],
                      energy=Energy(price_per_kwh=float(price[i]),
                                    carbon_intensity=float(carbon[i]), pue=float(pue[i]),
                                    renewable_share=float(renewable[i]))),
            free=Capacity(cpu=float(cores[i]), memory=Quantity(int(cores[i] * 8) * 2**30),
                          gpus=int(gpu[i]) * 4, sriov_vfs=int(hosts[i]) * 64,
                          hosts=int(hosts[i])),
            largest_host_cpu=float(host_cores[i]), ptp=bool(ptp[i]))
        for i in range(sites))
    area_names = [f"a{j:04d}" for j in range(areas_count)]
    area_country = [COUNTRIES[country[area_site[j]]][0] for j in range(areas_count)]
    request = ServiceRequest.model_construct(
        name="synthetic", tenant="bench",
        areas={area_names[j]: Location(lat=float(area_lat[j]), lon=float(area_lon[j]))
               for j in range(areas_count)},
        workloads=tuple(
            WorkloadRequest.model_construct(
                name=f"w{i:06d}", kind=kinds[kind[i]], deferred=False,
                resources=Resources.model_construct(
                    cpu=float(cpu[i]), memory=Quantity(int(cpu[i] * memory_per_core[i] * 2**30)),
                    hugepages=Quantity(0), gpus=int(wants_gpu[i]), sriov_vfs=0,
                    ptp=bool(wants_ptp[i])),
                latency=(() if budget_kind[i] < 0.2 else
                         (LatencyBudget.model_construct(area=area_names[area[i]],
                                                        max_ms=float(sla[i])),)),
                jurisdictions=(area_country[area[i]],) if restricted[i] else ())
            for i in range(workloads)),
        affinity=(), anti_affinity=(), chain=())
    return Instance.model_construct(repository=Repository(sites=site_states), request=request,
                                    policy=Policy(tenant="bench"))
