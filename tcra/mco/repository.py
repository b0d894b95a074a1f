"""The resource repository (TCRR) as the MCO sees it, built from an inventory's hosts."""

from __future__ import annotations

from collections.abc import Iterable

from tcra.mco.model import Capacity, ClusterState, Placement, Repository, SiteState
from tcra.model import Inventory, Quantity


def from_inventory(inventory: Inventory, clusters: Iterable[ClusterState] = (),
                   placements: Iterable[Placement] = ()) -> Repository:
    """Each site's capacity is the sum of its hosts' and its hypervisors' (what clusters use is
    theirs to report); only bare-metal hosts count as whole hosts to claim."""
    states = []
    for site in inventory.sites:
        hosts = inventory.hosts_at(site.id)
        names = {h.name for h in hosts}
        caps = [h.capabilities for h in hosts] + [
            v.capabilities for v in inventory.hypervisors if v.site == site.id
            and v.name not in names]
        states.append(SiteState(
            site=site,
            free=Capacity(
                cpu=sum(c.cores for c in caps),
                memory=Quantity(sum(c.memory.bytes for c in caps)),
                hugepages=Quantity(sum(p.size.bytes * p.count for c in caps for p in c.hugepages)),
                gpus=sum(c.gpu_count for c in caps), sriov_vfs=sum(c.sriov_vfs for c in caps),
                hosts=len(hosts)),
            largest_host_cpu=max((c.cores for c in caps), default=0),
            ptp=any(c.ptp for c in caps),
            hypervisor=any(v.site == site.id for v in inventory.hypervisors),
            latency_ms=dict(site.latency_ms)))
    return Repository(sites=tuple(states), clusters=tuple(clusters),
                      placements=tuple(placements))
