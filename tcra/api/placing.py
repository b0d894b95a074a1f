"""Where an instance goes, decided while its request waits: the MCO places the app's one workload
among the sites of the zone asked for, by the tenant's policy, beside what every service holds
there and what instances still deploying have booked there. The instance's stack then deploys
it at that site.

Only the zone's sites are read and scored (a site, or a region's): the others cannot be
chosen, and a continuum of thousands of sites is then no slower to book in than one region.
One booking at a time per server (a lock), so two requests cannot both take the last room.

What is taken is kept in memory as models, and checked against the store before a booking, as
others write it too (operators' runs, each instance's stack recording its service, the
workers failing or ending instances). The store has no revision number to notice a change by,
so the check reads the rows at the zone's sites and the deploying instances' placements, bare
(no ORM object, no model built again for a row already known: all are made once, when the
server starts); one such read begun after a request arrived is fresh enough for it, so
requests waiting on the lock together share it."""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable, Collection, Iterable, Sequence
from typing import Any, TypeVar

from sqlalchemy import String, cast, select

from tcra.api.errors import ApiError
from tcra.api.store import ApiStore, InstanceRow
from tcra.mco import exact  # noqa: F401 - the solver (scipy, a second) loaded with the server
from tcra.mco.hosts import place_on_hosts
from tcra.mco.model import HostRole, Placement, Policy, ServiceRequest, Usage, WorkloadRequest
from tcra.mco.store import HostRoleRow, PlacementRow
from tcra.model.inventory import Inventory

DEPLOYING = ("instantiating",)  # booked, not yet in the workload inventory

_PLACED = select(PlacementRow.service, PlacementRow.workload, PlacementRow.site,
                 PlacementRow.cluster, PlacementRow.kind, cast(PlacementRow.resources, String))
_HELD = select(HostRoleRow.site, HostRoleRow.host, HostRoleRow.role, HostRoleRow.service,
               cast(HostRoleRow.workloads, String), HostRoleRow.cluster)
_BOOKED = select(cast(InstanceRow.placement, String)).where(InstanceRow.status.in_(DEPLOYING))

M = TypeVar("M")


def within(inventory: Inventory, sites: Collection[str]) -> Inventory:
    """The inventory's `sites`, with their hosts and hypervisors."""
    wanted = set(sites)
    return inventory.model_copy(update={
        "sites": tuple(s for s in inventory.sites if s.id in wanted),
        "hosts": tuple(h for h in inventory.hosts if h.site in wanted),
        "hypervisors": tuple(v for v in inventory.hypervisors if v.site in wanted)})


def place(inventory: Inventory, taken: Usage, policy: Policy, service: str,
          workload: WorkloadRequest, zone: str) -> Placement:
    """The workload's placement at one of `inventory`'s sites (the workload's), or 409
    CONFLICT with the MCO's reason."""
    request = ServiceRequest(name=service, tenant=policy.tenant, workloads=(workload,))
    plan = place_on_hosts(request, policy, inventory, taken=taken, new_clusters=False)
    if plan.unplaced:
        raise ApiError(409, "CONFLICT", f"edgeCloudZoneId {zone}: no room for"
                       f" {workload.name}: {plan.unplaced[0].reason}")
    (placement,) = plan.placements(request)
    return placement


class _Site:
    """What the store records at one site, as models by their bare row, and when it was read."""

    def __init__(self, read: float, placed: dict[tuple[Any, ...], Placement],
                 held: dict[tuple[Any, ...], HostRole]) -> None:
        self.read, self.placed, self.held = read, placed, held


class Bookings:
    """The server's one door to placing: bookings one at a time, all of a request's or none."""

    def __init__(self, inventory: Inventory, store: ApiStore) -> None:
        self.inventory, self.store = inventory, store
        self._lock = threading.Lock()
        self._zones: dict[frozenset[str], Inventory] = {}  # the inventory never changes
        self._sites: dict[str, _Site] = {}
        self._deploying: dict[str, Placement] = {}  # by the placement's JSON in the store
        self._deploying_read = -math.inf
        self._mine: list[Placement] = []  # booked here since the deploying ones were read
        self._refresh(None, deploying=True)

    def book(self, policy: Policy, wanted: Sequence[tuple[str, WorkloadRequest, str]],
             keep: Callable[[list[Placement]], None]) -> list[Placement]:
        """Each (service, workload, zone) placed at one of the workload's sites, beside what
        is taken and booked, and beside the ones placed before it; `keep` records them while
        no other booking runs. Any without room: 409 CONFLICT and nothing booked; `keep`
        raising: nothing booked."""
        arrived = time.monotonic()
        with self._lock:
            taken = self._taken({site for _, workload, _ in wanted for site in workload.sites},
                                arrived)
            placed: list[Placement] = []
            for service, workload, zone in wanted:
                placement = place(self._within(workload.sites), taken, policy, service,
                                  workload, zone)
                placed.append(placement)
                taken = Usage(placements=(*taken.placements, placement), hosts=taken.hosts)
            keep(placed)
            self._mine += placed
            return placed

    def _taken(self, sites: set[str], arrived: float) -> Usage:
        """Every service's recorded use at `sites`, plus what instances still deploying booked
        there (an instance whose stack recorded its service already counted once)."""
        self._refresh([s for s in sites if s not in self._sites
                       or self._sites[s].read <= arrived], self._deploying_read <= arrived)
        at = [self._sites[s] for s in sites]
        placements = sorted((p for s in at for p in s.placed.values()),
                            key=lambda p: (p.service, p.workload))
        recorded = {p.service for p in placements}
        pending = sorted((p for p in (*self._deploying.values(), *self._mine)
                          if p.site in sites and p.service not in recorded),
                         key=lambda p: (p.service, p.workload))
        return Usage(placements=(*placements, *pending),
                     hosts=tuple(sorted((h for s in at for h in s.held.values()),
                                        key=lambda h: (h.site, h.host, h.service))))

    def _refresh(self, sites: list[str] | None, deploying: bool) -> None:
        """Read again what is recorded at `sites` (None: every site), and the deploying
        instances' bookings."""
        if sites == [] and not deploying:
            return
        read = time.monotonic()
        queries = ([] if sites == [] else [_PLACED, _HELD] if sites is None else
                   [_PLACED.where(PlacementRow.site.in_(sites)),
                    _HELD.where(HostRoleRow.site.in_(sites))])
        found = self.store.rows(*queries, *([_BOOKED] if deploying else []))
        if queries:
            placed, held = _by_site(found[0]), _by_site(found[1])
            for site in sites if sites is not None else [s.id for s in self.inventory.sites]:
                before = self._sites.get(site)
                self._sites[site] = _Site(
                    read, _models(placed.get(site, ()), before.placed if before else {},
                                  _placement),
                    _models(held.get(site, ()), before.held if before else {}, _host))
        if deploying:
            known = self._deploying
            self._deploying = {text: known.get(text) or Placement.model_validate_json(text)
                               for (text,) in found[-1]}
            self._deploying_read, self._mine = read, []

    def _within(self, sites: Collection[str]) -> Inventory:
        key = frozenset(sites)
        if key not in self._zones:
            self._zones[key] = within(self.inventory, key)
        return self._zones[key]


def _by_site(rows: Iterable[Any]) -> dict[str, list[tuple[Any, ...]]]:
    found: dict[str, list[tuple[Any, ...]]] = {}
    for row in rows:
        found.setdefault(row.site, []).append(tuple(row))
    return found


def _models(rows: Iterable[tuple[Any, ...]], known: dict[tuple[Any, ...], M],
           made: Callable[[tuple[Any, ...]], M]) -> dict[tuple[Any, ...], M]:
    """The rows' models: those already known kept, the others made."""
    return {row: known[row] if row in known else made(row) for row in rows}


def _placement(row: tuple[Any, ...]) -> Placement:
    service, workload, site, cluster, kind, resources = row
    return Placement(service=service, workload=workload, site=site, cluster=cluster, kind=kind,
                     resources=json.loads(resources) if resources is not None else None)


def _host(row: tuple[Any, ...]) -> HostRole:
    site, host, role, service, workloads, cluster = row
    return HostRole(site=site, host=host, role=role, service=service,
                    workloads=tuple(json.loads(workloads)), cluster=cluster)
