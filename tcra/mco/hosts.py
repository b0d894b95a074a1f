"""A plan down to the host: which of a site's machines serve as bare metal, hypervisor or
Kubernetes node, one role each, whichever service holds them.

After the engine places workloads on sites, each site's hosts are given out, deterministically:
bare metal first (one whole host per paf workload, the smallest that fits, hypervisors last),
then VMs onto hypervisors (those already serving first), then the nodes of a cluster the plan
creates or scales (hypervisors last). A service keeps the hosts it held (sticky); hosts other
services hold are not offered, except a hypervisor, whose VMs may be many services'. A workload
its site cannot give a host is placed again without that site, a few rounds; what still has no
host is unplaced, with the site and the reason.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from tcra.errors import InvalidInputError
from tcra.mco.engine import Mode, place
from tcra.mco.model import (
    ClusterState,
    HostRole,
    LiveReading,
    MeasuredPath,
    Placement,
    Policy,
    Resources,
    Role,
    ServiceRequest,
    Usage,
    WorkloadKind,
    WorkloadRequest,
)
from tcra.mco.plan import ClusterAction, Plan, SiteAction, Unplaced
from tcra.mco.repository import (
    besides,
    from_inventory,
    machines,
    measured_path,
    recorded_clusters,
    unrecorded,
    vm_use,
)
from tcra.model import Inventory, Quantity
from tcra.model.host import Capabilities
from tcra.model.site import SiteCluster
from tcra.vip.share import share

ROUNDS = 8
"""Placements tried before workloads still without a host are left unplaced."""

Failures = dict[tuple[str, str], str]
"""(workload, site) -> why the site has no host for it."""


@dataclass
class _Machine:
    name: str
    caps: Capabilities
    bmc: bool  # can be claimed whole: bare metal, a Metal3 node
    libvirt: bool  # can run VMs
    role: Role | None = None  # held by another service, or given out in this run
    holder: str | None = None
    vms: list[Resources] = field(default_factory=list)
    powered_on: bool = False  # held by no service, yet on: in use outside tcra
    unrecorded: tuple[int, int] = (0, 0)  # memory, hugepage bytes in use beyond its VMs

    @property
    def claimable(self) -> bool:
        """Free to claim whole, as bare metal or a node."""
        return self.bmc and self.role is None and not self.powered_on

    def room_for(self, need: Resources) -> bool:
        """A VM fits beside the VMs already on this hypervisor."""
        used = self.vms
        memory, hugepages = self.unrecorded
        return (need.cpu <= self.caps.cores - sum(r.cpu for r in used) + 1e-9
                and need.memory.bytes <= self.caps.memory.bytes - memory
                - sum(r.memory.bytes for r in used)
                and need.hugepages.bytes <= self.caps.hugepage_bytes - hugepages
                - sum(r.hugepages.bytes for r in used)
                and need.gpus <= self.caps.gpu_count - sum(r.gpus for r in used)
                and need.sriov_vfs <= self.caps.sriov_vfs - sum(r.sriov_vfs for r in used)
                and (self.caps.ptp or not need.ptp) and self._shared(need))

    def _shared(self, need: Resources) -> bool:
        """Each VM here, `need` too, gets its dedicated CPUs, NUMA node, hugepages and VFs."""
        try:
            share(self.name, self.caps, {f"vm-{i}": r for i, r in enumerate([*self.vms, need])})
        except InvalidInputError:
            return False
        return True


def place_on_hosts(request: ServiceRequest, policy: Policy, inventory: Inventory, *,
                   clusters: Iterable[ClusterState] = (), running: Iterable[Placement] = (),
                   taken: Usage | None = None, new_clusters: bool = True,
                   live: LiveReading | None = None, measured: MeasuredPath | None = None,
                   mode: Mode = "auto", explain: bool = False) -> Plan:
    """The plan for `request` on `inventory`, with hosts. `running`: where its workloads run
    now; `taken`: what the store records for every service (this one's hosts stay its own);
    `live`: what the peers report in use (`tcra.mco.live.read`), none to go by the records
    alone; `measured`: what a workload's users measured to it (`measured_path`)."""
    taken = taken or Usage()
    clusters = (*clusters, *recorded_clusters(inventory, taken, request.name))
    if live is not None:  # the service's own use stays its own, as its records do
        live = besides(live, Usage(placements=taken.of(request.name), hosts=tuple(
            h for h in taken.hosts if h.service == request.name)))
    request, repository = measured_path(
        request, from_inventory(inventory, clusters, running, taken.besides(request.name),
                                new_clusters, live), measured)
    excluded: Failures = {}
    for _ in range(ROUNDS):
        plan = place(request, policy, repository, mode=mode, explain=explain, excluded=excluded)
        roles, actions, failed = assign(plan, request, inventory, taken, live)
        if not failed:
            break
        excluded |= failed
    return _without(plan.model_copy(update={"hosts": roles, "actions": actions}), failed)


def assign(plan: Plan, request: ServiceRequest, inventory: Inventory, taken: Usage,
           live: LiveReading | None = None
           ) -> tuple[tuple[HostRole, ...], tuple[SiteAction, ...], Failures]:
    """The plan's hosts, its actions with the nodes a new cluster really gets, and the
    workloads whose site had no host for them. `live`: the peers' reading besides this
    service's own use."""
    wanted = {w.name: w for w in request.workloads}
    own = [h for h in taken.hosts if h.service == plan.service]
    by_site: dict[str, list[str]] = defaultdict(list)
    for a in plan.assignments:
        by_site[a.site].append(a.workload)
    roles: list[HostRole] = []
    actions: list[SiteAction] = []
    failed: Failures = {}
    for site in sorted(by_site):
        pool = _pool(inventory, site, taken.besides(plan.service), live or LiveReading())
        given: dict[str, HostRole] = {}
        names = sorted(by_site[site])
        for w in (n for n in names if wanted[n].kind is WorkloadKind.PAF):
            _bare_metal(plan.service, site, w, wanted[w].resources, pool, own, given, failed)
        for w in sorted((n for n in names if wanted[n].kind is WorkloadKind.VAF),
                        key=lambda n: (-wanted[n].resources.cpu, n)):
            _hypervisor(plan.service, site, w, wanted[w].resources, pool, own, given, failed)
        for action in plan.actions:
            if action.site == site and action.kind is WorkloadKind.CAF:
                _featured(action, wanted, inventory.site(site).cluster, failed)
                actions.append(_nodes(plan.service, action, wanted, pool, own, given, failed))
            elif action.site == site:
                actions.append(action)
        roles += [given[name] for name in sorted(given)]
    return tuple(roles), tuple(actions), failed


def _pool(inventory: Inventory, site: str, others: Usage, live: LiveReading
          ) -> dict[str, _Machine]:
    bmc = {h.name for h in inventory.hosts}
    libvirt = {v.name for v in inventory.hypervisors}
    vms = vm_use(others)
    beyond = unrecorded(inventory, vms, live)
    pool = {name: _Machine(name, caps, name in bmc, name in libvirt,
                           powered_on=name in live.powered_on,
                           unrecorded=beyond.get(name, (0, 0)))
            for name, caps in sorted(machines(inventory, site).items())}
    for held in others.hosts:
        if (machine := pool.get(held.host)) is not None:
            machine.role, machine.holder = held.role, held.service
            machine.vms = list(vms.get(held.host, ()))
    return pool


def _previous(own: list[HostRole], role: Role, site: str, *, workload: str | None = None,
              cluster: str | None = None) -> set[str]:
    return {h.host for h in own if h.role is role and h.site == site
            and (workload is None or workload in h.workloads)
            and (cluster is None or h.cluster == cluster)}


def _bare_metal(service: str, site: str, workload: str, need: Resources,
                pool: dict[str, _Machine], own: list[HostRole], given: dict[str, HostRole],
                failed: Failures) -> None:
    before = _previous(own, Role.BARE_METAL, site, workload=workload)
    free = [m for m in pool.values() if m.claimable and _fits(m.caps, need)]
    if not free:
        failed[(workload, site)] = (f"site {site}: no free host for {workload} as bare metal"
                                    f" ({_needs(need)}): {_why_not(pool, need)}")
        return
    best = min(free, key=lambda m: (m.name not in before, m.libvirt, m.caps.cores,
                                    m.caps.memory.bytes, m.caps.gpu_count, m.name))
    best.role = Role.BARE_METAL
    given[best.name] = HostRole(site=site, host=best.name, role=Role.BARE_METAL,
                                service=service, workloads=(workload,))


def _hypervisor(service: str, site: str, workload: str, need: Resources,
                pool: dict[str, _Machine], own: list[HostRole], given: dict[str, HostRole],
                failed: Failures) -> None:
    before = _previous(own, Role.HYPERVISOR, site, workload=workload)
    free = [m for m in pool.values() if m.libvirt and m.role in (None, Role.HYPERVISOR)
            and m.room_for(need)]
    if not free:
        failed[(workload, site)] = (f"site {site}: no hypervisor with room for {workload}'s VM"
                                    f" ({_needs(need)}): {_why_not(pool, need, vm=True)}")
        return
    best = min(free, key=lambda m: (m.name not in before, m.role is None, m.name))
    best.role = Role.HYPERVISOR
    best.vms.append(need)
    held = given.get(best.name)
    given[best.name] = HostRole(site=site, host=best.name, role=Role.HYPERVISOR,
                                service=service,
                                workloads=(*(held.workloads if held else ()), workload))


def _featured(action: SiteAction, wanted: dict[str, WorkloadRequest],
              existing: SiteCluster | None, failed: Failures) -> None:
    """The site's existing cluster takes only the workloads whose needs it declares: VFs
    without Multus and the device plugin, PTP without its daemon, would be dropped silently."""
    if existing is None or action.cluster != existing.name:
        return
    for w in action.workloads:
        need = wanted[w].resources
        if missing := [f for f in need.cluster_features if f not in existing.features]:
            failed[(w, action.site)] = (
                f"site {action.site}: its cluster {existing.name} does not declare"
                f" {', '.join(missing)} (features: {', '.join(existing.features) or 'none'}),"
                f" which {w} needs ({_needs(need)})")


def _nodes(service: str, action: SiteAction, wanted: dict[str, WorkloadRequest],
           pool: dict[str, _Machine], own: list[HostRole], given: dict[str, HostRole],
           failed: Failures) -> SiteAction:
    """The hosts of a cluster the service makes: all of a new one's; a scaled or reused one
    keeps the nodes it has, and a scaled one gets `nodes` more. A cluster the service does
    not make (the inventory's, another service's) gets none."""
    site = action.site
    before = _previous(own, Role.KUBERNETES_NODE, site, cluster=action.cluster)
    keep = [m for m in pool.values() if m.name in before and m.role is None]
    if action.action is ClusterAction.REUSE:
        _give(service, action, keep, given)
        return action
    needs = [wanted[w].resources for w in action.workloads]
    gpus = any(n.gpus for n in needs)
    # Hosts no VM or GPU workload would miss first.
    free = sorted((m for m in pool.values() if m.claimable and m.name not in before),
                  key=lambda m: (m.libvirt, not gpus and m.caps.gpu_count > 0, m.name))
    chosen: list[_Machine] | None
    if action.action is ClusterAction.SCALE:
        chosen = keep + free[:action.nodes] if len(free) >= action.nodes else None
        missing = f"{action.nodes} more node(s) for cluster {action.cluster}"
    else:
        chosen = _cover(keep + free, needs)
        missing = f"hosts for a new cluster ({_needs(_sum(needs))}, each workload on one host)"
    if chosen is None:
        for w in action.workloads:
            failed[(w, site)] = f"site {site}: no free {missing}: {_why_not(pool, None)}"
        return action
    _give(service, action, chosen, given)
    if action.action is ClusterAction.CREATE:
        return action.model_copy(update={"nodes": len(chosen)})
    return action


def _give(service: str, action: SiteAction, machines: list[_Machine],
          given: dict[str, HostRole]) -> None:
    for m in machines:
        m.role = Role.KUBERNETES_NODE
        given[m.name] = HostRole(site=action.site, host=m.name, role=Role.KUBERNETES_NODE,
                                 service=service, cluster=action.cluster)


def _cover(free: list[_Machine], needs: list[Resources]) -> list[_Machine] | None:
    """Hosts in order, each taken when it helps: until their sum covers the workloads and
    each workload fits on one of them; None when the site's free hosts cannot."""
    total = _sum(needs)
    chosen: list[_Machine] = []

    def short() -> tuple[set[str], list[Resources]]:
        caps = [m.caps for m in chosen]
        dims = {d for d, have in (
            ("cpu", sum(c.cores for c in caps) < total.cpu - 1e-9),
            ("memory", sum(c.memory.bytes for c in caps) < total.memory.bytes),
            ("hugepages", sum(c.hugepage_bytes for c in caps) < total.hugepages.bytes),
            ("gpus", sum(c.gpu_count for c in caps) < total.gpus),
            ("sriov_vfs", sum(c.sriov_vfs for c in caps) < total.sriov_vfs)) if have}
        return dims, [n for n in needs if not any(_fits(c, n) for c in caps)]

    for machine in free:
        dims, homeless = short()
        if not dims and not homeless:
            break
        caps = machine.caps
        gives = {"cpu": True, "memory": True, "hugepages": caps.hugepage_bytes > 0,
                 "gpus": caps.gpu_count > 0, "sriov_vfs": caps.sriov_vfs > 0}
        if any(gives[d] for d in dims) or any(_fits(caps, n) for n in homeless):
            chosen.append(machine)
    dims, homeless = short()
    return None if dims or homeless else chosen


def _without(plan: Plan, failed: Failures) -> Plan:
    """The plan less the workloads that found no host, which become unplaced."""
    if not failed:
        return plan
    gone = {w: why for (w, _site), why in failed.items()}
    kept = tuple(a for a in plan.assignments if a.workload not in gone)
    actions = tuple(a.model_copy(update={"workloads": tuple(w for w in a.workloads
                                                            if w not in gone)})
                    for a in plan.actions if set(a.workloads) - gone.keys())
    return plan.model_copy(update={
        "assignments": kept, "actions": actions,
        "unplaced": (*plan.unplaced, *(Unplaced(workload=w, reason=why)
                                       for w, why in sorted(gone.items()))),
        "objective": round(sum(a.score for a in kept), 6),
        "cost_per_hour": round(sum(a.cost_per_hour for a in kept), 6),
        "carbon_per_hour": round(sum(a.carbon_per_hour for a in kept), 3)})


def _fits(caps: Capabilities, need: Resources) -> bool:
    return (need.cpu <= caps.cores + 1e-9 and need.memory.bytes <= caps.memory.bytes
            and need.hugepages.bytes <= caps.hugepage_bytes and need.gpus <= caps.gpu_count
            and need.sriov_vfs <= caps.sriov_vfs and (caps.ptp or not need.ptp))


def _sum(needs: list[Resources]) -> Resources:
    return Resources(cpu=sum(n.cpu for n in needs),
                     memory=Quantity(sum(n.memory.bytes for n in needs)),
                     hugepages=Quantity(sum(n.hugepages.bytes for n in needs)),
                     gpus=sum(n.gpus for n in needs), sriov_vfs=sum(n.sriov_vfs for n in needs),
                     ptp=any(n.ptp for n in needs))


def _needs(need: Resources) -> str:
    parts = [f"{need.cpu:g} {'dedicated ' if need.dedicated_cpus else ''}cores",
             str(need.memory)]
    if need.single_numa_node:
        parts.append("one NUMA node")
    if need.hugepages.bytes:
        parts.append(f"{need.hugepages} hugepages")
    if need.gpus:
        parts.append(f"{need.gpus} GPU(s)")
    if need.sriov_vfs:
        parts.append(f"{need.sriov_vfs} SR-IOV VF(s)")
    if need.ptp:
        parts.append("PTP")
    return ", ".join(parts)


def _why_not(pool: dict[str, _Machine], need: Resources | None, vm: bool = False) -> str:
    """Each of the site's hosts and what it is now, or why it does not fit."""
    notes = []
    for m in pool.values():
        if vm and not m.libvirt:
            notes.append(f"{m.name} is no hypervisor")
        elif vm and m.role in (None, Role.HYPERVISOR):
            memory = Quantity(max(0, m.caps.memory.bytes - m.unrecorded[0]
                                  - sum(r.memory.bytes for r in m.vms)))
            pinnable = ""
            if need is not None and need.dedicated_cpus:
                left = len(m.caps.pinnable_cpus) - sum(math.ceil(r.cpu) for r in m.vms
                                                       if r.dedicated_cpus)
                pinnable = f" ({left} of them pinnable)"
            notes.append(f"{m.name} has {m.caps.cores - sum(r.cpu for r in m.vms):g} cores"
                         f"{pinnable} and {memory} free for VMs")
        elif m.role is not None:
            notes.append(f"{m.name} is {m.role.value}"
                         + (f" of service {m.holder}" if m.holder else " in this plan"))
        elif not m.bmc:
            notes.append(f"{m.name} has no BMC (a hypervisor only)")
        elif m.powered_on:
            notes.append(f"{m.name} is powered on, held by no service (in use outside tcra)")
        elif need is not None and not _fits(m.caps, need):
            notes.append(f"{m.name} is too small ({m.caps.cores} cores, {m.caps.memory},"
                         f" {m.caps.gpu_count} GPU(s){', PTP' if m.caps.ptp else ''})")
        else:
            notes.append(f"{m.name} is free")
    return "; ".join(notes) or "no hosts"
