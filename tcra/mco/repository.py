"""The resource repository (TCRR) as the MCO sees it: the inventory's hosts, less what the
workload inventory (TCWI) records as taken by other services and what live peers report in
use beyond those records, and the clusters it records.

What the store records already runs on the peers, so a live reading only takes away what it
exceeds the records by: per field, the free value is the smaller of the two, never their
difference counted twice."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from tcra.mco.model import (
    Capacity,
    ClusterState,
    LiveReading,
    MeasuredPath,
    Placement,
    Repository,
    Resources,
    Role,
    ServiceRequest,
    SiteState,
    Usage,
    WorkloadKind,
)
from tcra.model import Inventory, Quantity
from tcra.model.host import Capabilities


def machines(inventory: Inventory, site: str) -> dict[str, Capabilities]:
    """A site's machines by name: its hosts, then hypervisors not also listed as hosts."""
    return machines_by_site(inventory).get(site, {})


def machines_by_site(inventory: Inventory) -> dict[str, dict[str, Capabilities]]:
    """machines() of every site, in one pass over the hosts and hypervisors."""
    found: dict[str, dict[str, Capabilities]] = defaultdict(dict)
    for host in inventory.hosts:
        found[host.site][host.name] = host.capabilities
    for hypervisor in inventory.hypervisors:
        found[hypervisor.site].setdefault(hypervisor.name, hypervisor.capabilities)
    return found


def site_capacity(inventory: Inventory) -> dict[str, Capacity]:
    """What each site's machines have, before any use."""
    at_site = machines_by_site(inventory)
    return {site.id: _total(at_site[site.id].values()) for site in inventory.sites}


def vm_use(taken: Usage) -> dict[str, list[Resources]]:
    """Per hypervisor, the resources of the VMs recorded on it."""
    placed = {(p.service, p.workload): p.resources for p in taken.placements}
    use: dict[str, list[Resources]] = defaultdict(list)
    for held in taken.hosts:
        if held.role is Role.HYPERVISOR:
            use[held.host] += [r for w in held.workloads
                               if (r := placed.get((held.service, w))) is not None]
    return use


def free_capacity(inventory: Inventory, taken: Usage, live: LiveReading | None = None
                  ) -> tuple[SiteState, ...]:
    """Each site's capacity less `taken` (other services' records): hosts they hold as bare
    metal or cluster nodes leave whole; what else they placed (VMs, containers on clusters
    without recorded nodes) is subtracted. With `live` (the peers' reading without this
    service's own use, see `besides`): a host powered on that no record holds is in use
    outside tcra and leaves too (a hypervisor stays, its use read from libvirt); no host
    powered on counts as free bare metal; and a hypervisor's memory and hugepages in use
    beyond its recorded VMs (its own OS, VMs outside tcra) are subtracted."""
    live = live or LiveReading()
    held = {h.host for h in taken.hosts}
    hypervisors = {v.name for v in inventory.hypervisors}
    gone = {h.host for h in taken.hosts if h.exclusive} | (live.powered_on - held - hypervisors)
    shared = {h.host for h in taken.hosts if not h.exclusive}
    on_nodes = {(h.site, h.cluster) for h in taken.hosts if h.role is Role.KUBERNETES_NODE}
    vms = vm_use(taken)
    beyond = unrecorded(inventory, vms, live)
    bare = {h.name for h in inventory.hosts} - live.powered_on  # a BMC: can be claimed whole
    by_site: dict[str, list[Resources]] = defaultdict(list)  # one pass, not one per site
    for p in taken.placements:
        if (p.resources is not None and p.kind is not WorkloadKind.PAF
                and (p.site, p.cluster) not in on_nodes):
            by_site[p.site].append(p.resources)
    at_site = machines_by_site(inventory)
    kvm_at: dict[str, set[str]] = defaultdict(set)
    for v in inventory.hypervisors:
        kvm_at[v.site].add(v.name)
    states = []
    for site in inventory.sites:
        left = {n: c for n, c in at_site[site.id].items() if n not in gone}
        used = by_site[site.id]
        free = _less(_total(left.values()), used)
        extra = [beyond[n] for n in left if n in beyond]
        memory, hugepages = sum(m for m, _ in extra), sum(h for _, h in extra)
        states.append(SiteState(
            site=site,
            free=free.model_copy(update={
                "memory": Quantity(max(0, free.memory.bytes - memory)),
                "hugepages": Quantity(max(0, free.hugepages.bytes - hugepages)),
                "hosts": sum(1 for n in left if n in bare and n not in shared)}),
            largest_host_cpu=max((c.cores - sum(r.cpu for r in vms.get(n, ()))
                                  for n, c in left.items()), default=0),
            ptp=any(c.ptp for c in left.values()),
            hypervisor=any(n in left for n in kvm_at[site.id]),
            latency_ms=dict(site.latency_ms)))
    return tuple(states)


def unrecorded(inventory: Inventory, vms: dict[str, list[Resources]], live: LiveReading
               ) -> dict[str, tuple[int, int]]:
    """Per hypervisor libvirt was read on, the memory and hugepage bytes in use beyond what
    its recorded `vms` account for: capacity less those VMs, less what libvirt reports free."""
    found = {}
    for reading in live.hypervisors:
        caps = inventory.hypervisor(reading.hypervisor).capabilities
        placed = vms.get(reading.hypervisor, ())
        found[reading.hypervisor] = (
            max(0, caps.memory.bytes - sum(r.memory.bytes for r in placed)
                - reading.memory.bytes),
            max(0, caps.hugepage_bytes - sum(r.hugepages.bytes for r in placed)
                - reading.hugepages.bytes))
    return found


def besides(live: LiveReading, own: Usage) -> LiveReading:
    """What the peers would report without `own` (the records of the service being placed):
    its hosts as not powered on, its VMs' and pods' resources as free. Placed again, a
    service may keep what it runs, as it may keep what it holds."""
    vms = vm_use(own)
    pods: dict[tuple[str, str | None], list[Resources]] = defaultdict(list)
    for placed in own.placements:
        if placed.resources is not None:
            pods[(placed.site, placed.cluster)].append(placed.resources)
    return LiveReading(
        powered_on=live.powered_on - {h.host for h in own.hosts},
        hypervisors=tuple(h.model_copy(update=_freed(h.memory, h.hugepages,
                                                     vms.get(h.hypervisor, [])))
                          for h in live.hypervisors),
        clusters=tuple(c.model_copy(update={
            **_freed(c.memory, c.hugepages, used := pods.get((c.site, c.cluster), [])),
            "cpu": c.cpu + sum(r.cpu for r in used)}) for c in live.clusters))


def _freed(memory: Quantity, hugepages: Quantity, used: list[Resources]) -> dict[str, Quantity]:
    return {"memory": Quantity(memory.bytes + sum(r.memory.bytes for r in used)),
            "hugepages": Quantity(hugepages.bytes + sum(r.hugepages.bytes for r in used))}


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
                   new_clusters: bool = True, live: LiveReading | None = None) -> Repository:
    """The repository to place one service on: `placements` are its own (what runs now),
    `taken` what every other service holds, `live` what the peers report besides this
    service's own use. A site's existing Kubernetes cluster is reused, with the site's free
    capacity from the records as its room, and with `live` no more than its nodes have left
    (allocatable less requested)."""
    taken = taken or Usage()
    booked = free_capacity(inventory, taken)
    sites = booked if live is None else free_capacity(inventory, taken, live)
    rooms = {} if live is None else {(c.site, c.cluster): c for c in live.clusters}
    given = list(clusters)
    named = {(c.site, c.name) for c in given}
    for state in booked:
        existing = state.site.cluster
        if existing is not None and (state.site.id, existing.name) not in named:
            room = rooms.get((state.site.id, existing.name))
            given.append(ClusterState(
                name=existing.name, site=state.site.id, kind=WorkloadKind.CAF,
                free=state.free if room is None else state.free.model_copy(update={
                    "cpu": min(state.free.cpu, room.cpu),
                    "memory": min(state.free.memory, room.memory),
                    "hugepages": min(state.free.hugepages, room.hugepages)}),
                node=Capacity(cpu=0, memory=Quantity(0)), max_nodes_to_add=0))
    return Repository(sites=sites, clusters=tuple(given), placements=tuple(placements),
                      new_clusters=new_clusters)


def measured_path(request: ServiceRequest, repository: Repository,
                  measured: MeasuredPath | None) -> tuple[ServiceRequest, Repository]:
    """The request and repository to place on what `measured`'s users measured: the workload,
    with the chain it ends or is on (its users' path crosses it all), keeps its budgets to
    areas of its own, `AREA-measured`. From there every site is as far as from AREA but the
    measured site, at the round trip measured. The site's other workloads keep AREA itself."""
    if measured is None:
        return request, repository
    on_path = set(request.chain) if measured.workload in request.chain else {measured.workload}
    renamed = {b.area: f"{b.area}-measured" for w in request.workloads if w.name in on_path
               for b in w.latency}
    request = request.model_copy(update={
        "areas": {**request.areas, **{new: request.areas[old] for old, new in renamed.items()}},
        "workloads": tuple(w.model_copy(update={"latency": tuple(
            b.model_copy(update={"area": renamed[b.area]}) for b in w.latency)})
            if w.name in on_path else w for w in request.workloads)})
    sites = tuple(s.model_copy(update={"latency_ms": {
        **s.latency_ms, **{new: measured.rtt_ms if s.site.id == measured.site
                           else s.latency_ms[old] for old, new in renamed.items()
                           if s.site.id == measured.site or old in s.latency_ms}}})
        for s in repository.sites)
    return request, repository.model_copy(update={"sites": sites})
