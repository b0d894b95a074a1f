"""The resource repository (TCRR) as the MCO sees it: the inventory's hosts, less what the
workload inventory (TCWI) records as taken by other services, and the clusters it records."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from tcra.mco.model import (
    Capacity,
    ClusterState,
    Placement,
    Repository,
    Resources,
    Role,
    SiteState,
    Usage,
    WorkloadKind,
)
from tcra.model import Inventory, Quantity
from tcra.model.host import Capabilities


def machines(inventory: Inventory, site: str) -> dict[str, Capabilities]:
    """A site's machines by name: its hosts, then hypervisors not also listed as hosts."""
    found = {h.name: h.capabilities for h in inventory.hosts_at(site)}
    found |= {v.name: v.capabilities for v in inventory.hypervisors
              if v.site == site and v.name not in found}
    return found


def vm_use(taken: Usage) -> dict[str, list[Resources]]:
    """Per hypervisor, the resources of the VMs recorded on it."""
    placed = {(p.service, p.workload): p.resources for p in taken.placements}
    use: dict[str, list[Resources]] = defaultdict(list)
    for held in taken.hosts:
        if held.role is Role.HYPERVISOR:
            use[held.host] += [r for w in held.workloads
                               if (r := placed.get((held.service, w))) is not None]
    return use


def free_capacity(inventory: Inventory, taken: Usage) -> tuple[SiteState, ...]:
    """Each site's capacity less `taken` (other services' records): hosts they hold as bare
    metal or cluster nodes leave whole; what else they placed (VMs, containers on clusters
    without recorded nodes) is subtracted. What live peers report in use (Redfish, libvirt,
    Kubernetes allocatable) would be subtracted here too."""
    gone = {h.host for h in taken.hosts if h.exclusive}
    shared = {h.host for h in taken.hosts if not h.exclusive}
    on_nodes = {(h.site, h.cluster) for h in taken.hosts if h.role is Role.KUBERNETES_NODE}
    vms = vm_use(taken)
    bare = {h.name for h in inventory.hosts}  # a BMC: can be claimed whole
    states = []
    for site in inventory.sites:
        left = {n: c for n, c in machines(inventory, site.id).items() if n not in gone}
        used = [p.resources for p in taken.placements
                if p.site == site.id and p.resources is not None
                and p.kind is not WorkloadKind.PAF and (p.site, p.cluster) not in on_nodes]
        states.append(SiteState(
            site=site,
            free=_less(_total(left.values()), used).model_copy(update={
                "hosts": sum(1 for n in left if n in bare and n not in shared)}),
            largest_host_cpu=max((c.cores - sum(r.cpu for r in vms.get(n, ()))
                                  for n, c in left.items()), default=0),
            ptp=any(c.ptp for c in left.values()),
            hypervisor=any(v.site == site.id and v.name in left for v in inventory.hypervisors),
            latency_ms=dict(site.latency_ms)))
    return tuple(states)


def recorded_clusters(inventory: Inventory, taken: Usage, service: str
                      ) -> tuple[ClusterState, ...]:
    """The clusters whose nodes the store records, with room for `service`: their nodes less
    what other services placed on them. Its own cluster may grow by the site's hosts nobody
    holds; another service's is only reused, as that service's stack declares its nodes."""
    nodes: dict[tuple[str, str], list[str]] = defaultdict(list)
    owner: dict[tuple[str, str], str] = {}
    for held in taken.hosts:
        if held.role is Role.KUBERNETES_NODE and held.cluster is not None:
            nodes[(held.site, held.cluster)].append(held.host)
            owner[(held.site, held.cluster)] = held.service
    holding = {h.host for h in taken.hosts}
    bare = {h.name for h in inventory.hosts}
    found = []
    for (site, name), hosts in sorted(nodes.items()):
        caps = machines(inventory, site)
        members = [caps[h] for h in hosts if h in caps]
        idle = sorted((c for n, c in caps.items() if n in bare and n not in holding),
                      key=lambda c: (c.cores, c.memory.bytes))
        used = [p.resources for p in taken.placements if p.site == site
                and p.cluster == name and p.service != service and p.resources is not None]
        found.append(ClusterState(
            name=name, site=site, kind=WorkloadKind.CAF,
            free=_less(_total(members), used),
            node=_total(idle[:1]) if idle else Capacity(cpu=0, memory=Quantity(0)),
            max_nodes_to_add=len(idle) if owner[(site, name)] == service else 0))
    return tuple(found)


def _total(caps: Iterable[Capabilities]) -> Capacity:
    given = list(caps)
    return Capacity(cpu=sum(c.cores for c in given),
                    memory=Quantity(sum(c.memory.bytes for c in given)),
                    hugepages=Quantity(sum(c.hugepage_bytes for c in given)),
                    gpus=sum(c.gpu_count for c in given),
                    sriov_vfs=sum(c.sriov_vfs for c in given), hosts=len(given))


def _less(have: Capacity, used: Iterable[Resources]) -> Capacity:
    taken = list(used)
    return Capacity(
        cpu=max(0.0, have.cpu - sum(r.cpu for r in taken)),
        memory=Quantity(max(0, have.memory.bytes - sum(r.memory.bytes for r in taken))),
        hugepages=Quantity(max(0, have.hugepages.bytes - sum(r.hugepages.bytes for r in taken))),
        gpus=max(0, have.gpus - sum(r.gpus for r in taken)),
        sriov_vfs=max(0, have.sriov_vfs - sum(r.sriov_vfs for r in taken)), hosts=have.hosts)


def from_inventory(inventory: Inventory, clusters: Iterable[ClusterState] = (),
                   placements: Iterable[Placement] = (), taken: Usage | None = None,
                   new_clusters: bool = True) -> Repository:
    """The repository to place one service on: `placements` are its own (what runs now),
    `taken` what every other service holds. A site's existing Kubernetes cluster is reused,
    with the site's free capacity as its room until its allocatable is read."""
    sites = free_capacity(inventory, taken or Usage())
    given = list(clusters)
    named = {(c.site, c.name) for c in given}
    for state in sites:
        existing = state.site.cluster
        if existing is not None and (state.site.id, existing.name) not in named:
            given.append(ClusterState(
                name=existing.name, site=state.site.id, kind=WorkloadKind.CAF, free=state.free,
                node=Capacity(cpu=0, memory=Quantity(0)), max_nodes_to_add=0))
    return Repository(sites=sites, clusters=tuple(given), placements=tuple(placements),
                      new_clusters=new_clusters)
