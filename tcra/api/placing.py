"""Where an instance goes, decided while its request waits: the MCO places the app's one workload
among the sites of the zone asked for, by the tenant's policy, beside what every service holds
there and what instances still deploying have booked there. The instance's stack then deploys
it at that site.

Only the zone's sites are read and scored (a site, or a region's): the others cannot be
chosen, and a continuum of thousands of sites is then no slower to book in than one region.
One booking at a time per server (a lock), so two requests cannot both take the last room."""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Sequence

from tcra.api.errors import ApiError
from tcra.api.store import ApiStore
from tcra.mco.hosts import place_on_hosts
from tcra.mco.model import Placement, Policy, ServiceRequest, Usage, WorkloadRequest
from tcra.model.inventory import Inventory

DEPLOYING = ("instantiating",)  # booked, not yet in the workload inventory


def booked(store: ApiStore, sites: Collection[str]) -> Usage:
    """Every service's recorded use at `sites`, plus what instances still deploying booked
    there."""
    taken = store.usage(sites)
    recorded = {p.service for p in taken.placements}
    wanted = set(sites)
    pending = tuple(Placement.model_validate(row.placement)
                    for row in store.instances(statuses=DEPLOYING)
                    if row.site in wanted and row.placement["service"] not in recorded)
    return taken.model_copy(update={"placements": (*taken.placements, *pending)})


def within(inventory: Inventory, sites: Collection[str]) -> Inventory:
    """The inventory's `sites`, with their hosts and hypervisors."""
    wanted = set(sites)
    return inventory.model_copy(update={
        "sites": tuple(s for s in inventory.sites if s.id in wanted),
        "hosts": tuple(h for h in inventory.hosts if h.site in wanted),
        "hypervisors": tuple(v for v in inventory.hypervisors if v.site in wanted)})


def place(inventory: Inventory, taken: Usage, policy: Policy, service: str,
          workload: WorkloadRequest, zone: str) -> Placement:
    """The workload's placement at one of its sites, or 409 CONFLICT with the MCO's reason."""
    request = ServiceRequest(name=service, tenant=policy.tenant, workloads=(workload,))
    plan = place_on_hosts(request, policy, within(inventory, workload.sites), taken=taken,
                          new_clusters=False)
    if plan.unplaced:
        raise ApiError(409, "CONFLICT", f"edgeCloudZoneId {zone}: no room for"
                       f" {workload.name}: {plan.unplaced[0].reason}")
    (placement,) = plan.placements(request)
    return placement


class Bookings:
    """The server's one door to placing: bookings one at a time, all of a request's or none."""

    def __init__(self, inventory: Inventory, store: ApiStore) -> None:
        self.inventory, self.store = inventory, store
        self._lock = threading.Lock()

    def book(self, policy: Policy, wanted: Sequence[tuple[str, WorkloadRequest, str]],
             keep: Callable[[list[Placement]], None]) -> list[Placement]:
        """Each (service, workload, zone) placed at one of the workload's sites, beside what
        is taken and booked, and beside the ones placed before it; `keep` records them while
        no other booking runs. Any without room: 409 CONFLICT and nothing booked; `keep`
        raising: nothing booked."""
        with self._lock:
            sites = {site for _, workload, _ in wanted for site in workload.sites}
            taken = booked(self.store, sites)
            placed: list[Placement] = []
            for service, workload, zone in wanted:
                placement = place(self.inventory, taken, policy, service, workload, zone)
                placed.append(placement)
                taken = taken.model_copy(update={"placements": (*taken.placements,
                                                                 placement)})
            keep(placed)
            return placed
