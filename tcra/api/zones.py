"""The inventory's sites as CAMARA Edge Cloud Zones: what an application provider picks from.

Each site is a zone. Each region is one more, tcra's addition: an instance asked for in a
region's zone is placed by the MCO at the site of that region its policy scores best, and
reports that site's zone as its own. The definition's createAppInstance takes exactly one zone
id; this way a caller asks for "somewhere in the region" with nothing outside the definition.

A zone's id is derived from its site's (or region's) name (UUID version 5), so it stays the
same across restarts and servers without being stored."""

from __future__ import annotations

import math
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass

from tcra.api.schemas import ClusterInfo, EdgeCloudZone, EdgeCloudZoneStatus, Pagination
from tcra.model.inventory import Inventory
from tcra.model.site import Site

ANY = "any:"  # a region zone's name: ANY + the region

NAMESPACE = uuid.UUID("6f1c3c53-2a64-4c1e-9a57-0b7d1f3e8a10")  # tcra's, for zone ids


def zone_id(site_id: str) -> str:
    return str(uuid.uuid5(NAMESPACE, f"site/{site_id}"))


def cluster_ref(site_id: str, cluster: str) -> str:
    return str(uuid.uuid5(NAMESPACE, f"site/{site_id}/cluster/{cluster}"))


def region(site: Site) -> str:
    return site.region or site.jurisdiction


def region_zone_id(name: str) -> str:
    return str(uuid.uuid5(NAMESPACE, f"region/{name}"))


@dataclass(frozen=True)
class Zones:
    """The zones the API lists, and the sites each one lets the MCO choose from."""

    listed: tuple[EdgeCloudZone, ...]
    sites: dict[str, tuple[str, ...]]  # zone id -> site ids
    of_site: dict[str, str]            # site id -> its own zone's id


def zones(inventory: Inventory) -> Zones:
    """Every site, in the inventory's order, then every region. A site's zone is active when
    it has something to run workloads on (a cluster, a hypervisor or a host), a region's when
    one of its sites' is."""
    listed = [_zone(inventory, site) for site in inventory.sites]
    by_region: dict[str, list[EdgeCloudZone]] = defaultdict(list)
    for zone in listed:
        by_region[zone.edgeCloudRegion].append(zone)
    sites: dict[str, tuple[str, ...]] = {z.edgeCloudZoneId: (z.edgeCloudZoneName,)
                                         for z in listed}
    for name, members in by_region.items():
        zone = _region_zone(name, members)
        listed.append(zone)
        sites[zone.edgeCloudZoneId] = tuple(m.edgeCloudZoneName for m in members)
    return Zones(listed=tuple(listed), sites=sites,
                 of_site={s.id: zone_id(s.id) for s in inventory.sites})


def _region_zone(name: str, members: list[EdgeCloudZone]) -> EdgeCloudZone:
    providers = {m.edgeCloudProvider for m in members}
    active = any(m.edgeCloudZoneStatus is EdgeCloudZoneStatus.ACTIVE for m in members)
    return EdgeCloudZone(
        edgeCloudZoneId=region_zone_id(name), edgeCloudZoneName=f"{ANY}{name}"[:64],
        edgeCloudZoneStatus=EdgeCloudZoneStatus.ACTIVE if active
        else EdgeCloudZoneStatus.INACTIVE,
        edgeCloudProvider=providers.pop() if len(providers) == 1 else "tcra",
        edgeCloudRegion=name,
        countryCode=Counter(m.countryCode for m in members).most_common(1)[0][0])


def _zone(inventory: Inventory, site: Site) -> EdgeCloudZone:
    runs = (site.cluster is not None or inventory.hosts_at(site.id)
            or any(h.site == site.id for h in inventory.hypervisors))
    clusters = ([ClusterInfo(name=site.cluster.name, edgeCloudProvider=site.provider,
                             clusterRef=cluster_ref(site.id, site.cluster.name))]
                if site.cluster is not None else None)
    return EdgeCloudZone(
        edgeCloudZoneId=zone_id(site.id), edgeCloudZoneName=site.id,
        edgeCloudZoneStatus=EdgeCloudZoneStatus.ACTIVE if runs else EdgeCloudZoneStatus.INACTIVE,
        edgeCloudProvider=site.provider, edgeCloudRegion=region(site),
        countryCode=site.jurisdiction, clusters=clusters)


def page(found: list[EdgeCloudZone], number: int, per_page: int
         ) -> tuple[list[EdgeCloudZone], Pagination]:
    """One page of the zones found; a page past the last is empty."""
    start = (number - 1) * per_page
    return found[start:start + per_page], Pagination(
        page=number, perPage=per_page, totalCount=len(found),
        totalPages=math.ceil(len(found) / per_page))
