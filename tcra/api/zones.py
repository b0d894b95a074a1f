"""The inventory's sites as CAMARA Edge Cloud Zones: what an application provider picks from.

A zone's id is derived from its site's id (UUID version 5), so it stays the same across
restarts and servers without being stored."""

from __future__ import annotations

import math
import uuid

from tcra.api.schemas import ClusterInfo, EdgeCloudZone, EdgeCloudZoneStatus, Pagination
from tcra.model.inventory import Inventory
from tcra.model.site import Site

NAMESPACE = uuid.UUID("6f1c3c53-2a64-4c1e-9a57-0b7d1f3e8a10")  # tcra's, for zone ids


def zone_id(site_id: str) -> str:
    return str(uuid.uuid5(NAMESPACE, f"site/{site_id}"))


def cluster_ref(site_id: str, cluster: str) -> str:
    return str(uuid.uuid5(NAMESPACE, f"site/{site_id}/cluster/{cluster}"))


def region(site: Site) -> str:
    return site.region or site.jurisdiction


def zones(inventory: Inventory) -> tuple[EdgeCloudZone, ...]:
    """Every site, in the inventory's order. Active: it has something to run workloads on (a
    cluster, a hypervisor or a host); inactive otherwise."""
    return tuple(_zone(inventory, site) for site in inventory.sites)


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
