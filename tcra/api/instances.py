"""The definition's app instances: each booked by the MCO while its request waits (a zone's
site, or a site of a region's zone), then deployed by a worker as its own stack."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from tcra.api import catalog
from tcra.api import zones as zone_list
from tcra.api.auth import Caller, requires
from tcra.api.errors import ApiError, invalid, not_found
from tcra.api.schemas import (
    ID,
    AppInstanceInfo,
    AppInstanceRequest,
    AppManifest,
    InstanceStatus,
    SubscriptionRequest,
)
from tcra.api.store import ApiStore, DuplicateError, InstanceRow
from tcra.mco.model import Placement, WorkloadRequest
from tcra.model.inventory import Inventory

LIST_LIMIT = 100    # the definition's longest list
InstanceId = Annotated[str, Path(alias="appInstanceId", min_length=36, max_length=36,
                                 pattern=ID)]


def routes(router: APIRouter) -> None:
    @router.post("/app-instances", status_code=202)
    def create_app_instance(request: Request, response: Response, asked: AppInstanceRequest,
                            caller: Annotated[Caller, Depends(requires("instances:write"))]
                            ) -> dict[str, Any]:
        state = request.app.state
        manifest = submitted(request, caller, asked.appId)
        sites = zone_sites(request, asked.edgeCloudZoneId, "edgeCloudZoneId")
        if asked.kubernetesClusterRef is not None:
            sites = with_clusters(request, sites, {asked.kubernetesClusterRef})
            if not sites:
                raise invalid("kubernetesClusterRef: expected a cluster of the zone's (got"
                              f" {asked.kubernetesClusterRef!r})")
        instance_id = str(uuid.uuid4())
        made: list[InstanceRow] = []

        def keep(placed: list[Placement]) -> None:
            made.append(new_row(instance_id, caller, asked.appId, asked.name,
                                asked.edgeCloudZoneId, placed[0], manifest,
                                sink(asked.subscriptionRequest), None))
            try:
                store(request).add_instance(made[0])
            except DuplicateError:
                raise ApiError(409, "ALREADY_EXISTS", f"app instance {asked.name} exists"
                               " already") from None

        state.bookings.book(state.policies(caller.tenant),
                            [wanted(manifest, instance_id, sites, asked.edgeCloudZoneId)], keep)
        state.deployer.start(instance_id)
        response.headers["Location"] = str(request.url_for("get_app_instance",
                                                           appInstanceId=instance_id))
        return info(request, made[0])

    @router.get("/app-instances")
    def get_app_instances(
            request: Request, caller: Annotated[Caller, Depends(requires("instances:read"))],
            app_id: Annotated[str | None, Query(alias="appId", min_length=36, max_length=36,
                                                pattern=ID)] = None,
            region: Annotated[str | None, Query(max_length=64)] = None) -> list[dict[str, Any]]:
        inventory: Inventory = request.app.state.inventory
        rows = [row for row in store(request).instances(caller.tenant, app_id)
                if region is None or zone_list.region(inventory.site(row.site)) == region]
        return [info(request, row) for row in rows[:LIST_LIMIT]]

    @router.get("/app-instances/{appInstanceId}")
    def get_app_instance(request: Request, instance_id: InstanceId,
                         caller: Annotated[Caller, Depends(requires("instances:read"))]
                         ) -> dict[str, Any]:
        return info(request, _instance(request, caller, instance_id))

    @router.delete("/app-instances/{appInstanceId}", status_code=202)
    def delete_app_instance(request: Request, instance_id: InstanceId,
                            caller: Annotated[Caller, Depends(requires("instances:delete"))]
                            ) -> Response:
        _instance(request, caller, instance_id)
        store(request).end([instance_id])
        request.app.state.deployer.start(instance_id)
        return Response(status_code=202)


def submitted(request: Request, caller: Caller, app_id: str) -> dict[str, Any]:
    """The caller's app named in a body (the definition has no 404 there: a wrong id is 400)."""
    manifest = store(request).app(caller.tenant, app_id)
    if manifest is None:
        raise invalid(f"appId: expected an app you submitted (got {app_id!r})")
    return manifest


def zone_sites(request: Request, zone: str, field: str) -> tuple[str, ...]:
    """The sites a zone lets the MCO choose from: its site, or its region's."""
    sites = request.app.state.zones.sites.get(zone)
    if sites is None:
        raise invalid(f"{field}: expected a zone of GET /edge-cloud-zones (got {zone!r})")
    return tuple(sites)


def with_clusters(request: Request, sites: tuple[str, ...], refs: Collection[str]
                  ) -> tuple[str, ...]:
    """The sites whose cluster is one of `refs`."""
    inventory: Inventory = request.app.state.inventory
    return tuple(s for s in sites if (c := inventory.site(s).cluster) is not None
                 and zone_list.cluster_ref(s, c.name) in refs)


def wanted(manifest: dict[str, Any], instance_id: str, sites: tuple[str, ...], zone: str
           ) -> tuple[str, WorkloadRequest, str]:
    """What the MCO books for an instance: its service (also its stack), its one workload at
    one of `sites`, and the zone asked (for the reason when there is no room)."""
    app = AppManifest.model_validate(manifest)
    return (f"app-{instance_id}",
            WorkloadRequest(name=catalog.workload_name(app, instance_id),
                            kind=catalog.form(app), resources=catalog.resources(app),
                            sites=sites),
            zone)


def new_row(instance_id: str, caller: Caller, app_id: str, name: str, zone: str,
            placement: Placement, manifest: dict[str, Any], to: dict[str, Any] | None,
            deployment_id: str | None) -> InstanceRow:
    return InstanceRow(
        instance_id=instance_id, tenant=caller.tenant, app_id=app_id, name=name,
        zone_id=zone, site=placement.site, placement=placement.model_dump(mode="json"),
        manifest=manifest, status=InstanceStatus.INSTANTIATING.value, reason=None,
        endpoints=[], sink=to, deployment_id=deployment_id, stack=placement.service,
        attempts=0, changed_ms=0)


def sink(wanted: SubscriptionRequest | None) -> dict[str, Any] | None:
    """Where status changes are sent, with the token to send them with."""
    if wanted is None:
        return None
    credential = wanted.sinkCredential
    return {"sink": wanted.sink,
            "token": credential.accessToken.get_secret_value() if credential else None}


def info(request: Request, row: InstanceRow) -> dict[str, Any]:
    """The instance as the definition shows it: at the zone of the site it was placed at."""
    inventory: Inventory = request.app.state.inventory
    cluster = inventory.site(row.site).cluster
    caf = row.placement.get("kind") == "caf"
    return AppInstanceInfo(
        name=row.name, appId=row.app_id, appInstanceId=row.instance_id,
        appProvider=row.manifest["appProvider"], status=InstanceStatus(row.status),
        componentEndpointInfo=row.endpoints or None,  # at most 100: endpoints.access
        kubernetesClusterRef=zone_list.cluster_ref(row.site, cluster.name)
        if caf and cluster is not None else None,
        edgeCloudZoneId=request.app.state.zones.of_site[row.site],
        reason=row.reason if row.status == InstanceStatus.FAILED else None).model_dump(
            mode="json", exclude_none=True)


def _instance(request: Request, caller: Caller, instance_id: str) -> InstanceRow:
    row = store(request).instance(instance_id, caller.tenant)
    if row is None:
        raise not_found(f"app instance {instance_id}")
    return row


def store(request: Request) -> ApiStore:
    found: ApiStore = request.app.state.store
    return found
