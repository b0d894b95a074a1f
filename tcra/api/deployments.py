"""The definition's app deployments: an app at several zones, one app instance at each.

The instances are ordinary ones (listed by /app-instances, each its own stack), named after
the deployment and booked together: all of a deployment's zones, or none (409 CONFLICT with
the MCO's reason). `edgeCloudZones` is what was asked, the zones a merge patch replaces; each
instance shows the zone it was placed at. A patch keeps the instances whose zone (and
cluster) is still asked, books the zones that have none, and terminates the rest."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Query, Request, Response

from tcra.api.auth import Caller, requires
from tcra.api.errors import ApiError, invalid, not_found
from tcra.api.instances import (
    LIST_LIMIT,
    new_row,
    sink,
    store,
    submitted,
    wanted,
    with_clusters,
    zone_sites,
)
from tcra.api.schemas import (
    ID,
    AppDeploymentInfo,
    AppDeploymentPatch,
    AppDeploymentRequest,
    InstanceStatus,
    SubmittedDeployment,
)
from tcra.api.store import DeploymentRow, DuplicateError, InstanceRow
from tcra.mco.model import Placement

DeploymentId = Annotated[str, Path(alias="appDeploymentId", min_length=36, max_length=36,
                                   pattern=ID)]
MERGE_PATCH = "application/merge-patch+json"
CHANGING = threading.Lock()  # one change of a deployment's instances at a time


def routes(router: APIRouter) -> None:
    @router.post("/deployments", status_code=202)
    def create_app_deployment(request: Request, response: Response,
                              asked: AppDeploymentRequest,
                              caller: Annotated[Caller, Depends(requires("deployments:write"))]
                              ) -> dict[str, str]:
        manifest = submitted(request, caller, asked.appId)
        refs = asked.kubernetesClusterRefs or []
        zones = _zones(request, asked.edgeCloudZones, refs)
        row = DeploymentRow(deployment_id=str(uuid.uuid4()), tenant=caller.tenant,
                            app_id=asked.appId, name=asked.appDeploymentName,
                            zones=asked.edgeCloudZones, cluster_refs=refs,
                            sink=sink(asked.subscriptionRequest), deleting=False)
        with CHANGING:
            added = _book(request, caller, row, manifest, zones, lambda made: store(
                request).add_deployment(row, made))
        _start(request, [i.instance_id for i in added])
        response.headers["Location"] = str(request.url_for(
            "get_app_deployment", appDeploymentId=row.deployment_id))
        return SubmittedDeployment(appDeploymentId=row.deployment_id).model_dump()

    @router.get("/deployments")
    def get_app_deployments(
            request: Request,
            caller: Annotated[Caller, Depends(requires("deployments:read"))],
            app_id: Annotated[str | None, Query(alias="appId", min_length=36, max_length=36,
                                                pattern=ID)] = None) -> list[dict[str, Any]]:
        return [_info(request, row) for row in
                store(request).deployments(caller.tenant, app_id)[:LIST_LIMIT]]

    @router.get("/deployments/{appDeploymentId}")
    def get_app_deployment(request: Request, deployment_id: DeploymentId,
                           caller: Annotated[Caller, Depends(requires("deployments:read"))]
                           ) -> dict[str, Any]:
        return _info(request, _deployment(request, caller, deployment_id))

    @router.delete("/deployments/{appDeploymentId}", status_code=202)
    def delete_app_deployment(
            request: Request, deployment_id: DeploymentId,
            caller: Annotated[Caller, Depends(requires("deployments:delete"))]) -> Response:
        _deployment(request, caller, deployment_id)
        with CHANGING:
            ending = store(request).delete_deployment(deployment_id)
        _start(request, ending)
        return Response(status_code=202)

    @router.patch("/deployments/{appDeploymentId}")
    def update_app_deployment(
            request: Request, deployment_id: DeploymentId,
            patch: Annotated[AppDeploymentPatch, Body(media_type=MERGE_PATCH)],
            caller: Annotated[Caller, Depends(requires("deployments:update"))]
            ) -> dict[str, Any]:
        with CHANGING:
            row = _deployment(request, caller, deployment_id)
            if row.deleting:
                raise ApiError(409, "CONFLICT", f"deployment {deployment_id} is being"
                               " deleted")
            row.name = patch.appDeploymentName or row.name  # new instances are named by it
            asked = patch.edgeCloudZones if patch.edgeCloudZones is not None else row.zones
            refs = (patch.kubernetesClusterRefs if patch.kubernetesClusterRefs is not None
                    else row.cluster_refs)
            zones = _zones(request, asked, refs)
            kept, ending = _kept(store(request).instances(deployment_id=deployment_id),
                                 zones)
            missing = {zone: sites for zone, sites in zones.items() if zone not in kept}
            added = _book(request, caller, row, submitted(request, caller, row.app_id),
                          missing, lambda made: store(request).change_deployment(
                              deployment_id, row.name, asked, refs, made, ending))
        _start(request, [*ending, *(i.instance_id for i in added)])
        return _info(request, _deployment(request, caller, deployment_id))


def _zones(request: Request, asked: list[str], refs: list[str]) -> dict[str, tuple[str, ...]]:
    """Each zone asked, once, with the sites it lets the MCO choose from: narrowed to the
    clusters asked for where it has some of them."""
    zones: dict[str, tuple[str, ...]] = {}
    for i, zone in enumerate(asked):
        if zone in zones:
            raise invalid(f"edgeCloudZones[{i}]: expected each zone once (got {zone!r} again)")
        sites = zone_sites(request, zone, f"edgeCloudZones[{i}]")
        zones[zone] = with_clusters(request, sites, refs) or sites
    for i, ref in enumerate(refs):
        if not any(with_clusters(request, sites, {ref}) for sites in zones.values()):
            raise invalid(f"kubernetesClusterRefs[{i}]: expected a cluster in one of"
                          f" edgeCloudZones (got {ref!r})")
    return zones


def _kept(current: list[InstanceRow], zones: dict[str, tuple[str, ...]]
          ) -> tuple[dict[str, InstanceRow], list[str]]:
    """The instance kept at each zone still asked (at one of its sites), and the ids of the
    others, which end."""
    kept: dict[str, InstanceRow] = {}
    ending = []
    for row in current:
        if row.status == InstanceStatus.TERMINATING:
            continue
        if row.zone_id in zones and row.zone_id not in kept and row.site in zones[row.zone_id]:
            kept[row.zone_id] = row
        else:
            ending.append(row.instance_id)
    return kept, ending


def _book(request: Request, caller: Caller, deployment: DeploymentRow,
          manifest: dict[str, Any], zones: dict[str, tuple[str, ...]],
          keep: Callable[[list[InstanceRow]], None]) -> list[InstanceRow]:
    """An instance of the deployment at each of `zones`, all booked or none; `keep(rows)`
    records them (a duplicate name: 409 ALREADY_EXISTS)."""
    state = request.app.state
    ids = {zone: str(uuid.uuid4()) for zone in zones}
    made: list[InstanceRow] = []

    def rows(placed: list[Placement]) -> None:
        made.extend(new_row(ids[zone], caller, deployment.app_id,
                            f"{deployment.name[:55]}_{ids[zone][:8]}", zone, placement,
                            manifest, None, deployment.deployment_id)
                    for zone, placement in zip(zones, placed, strict=True))
        try:
            keep(made)
        except DuplicateError:
            raise ApiError(409, "ALREADY_EXISTS", f"deployment {deployment.name} exists"
                           " already") from None

    state.bookings.book(state.policies(caller.tenant),
                        [wanted(manifest, ids[zone], sites, zone)
                         for zone, sites in zones.items()], rows)
    return made


def _start(request: Request, instance_ids: list[str]) -> None:
    for instance_id in instance_ids:
        request.app.state.deployer.start(instance_id)


def _deployment(request: Request, caller: Caller, deployment_id: str) -> DeploymentRow:
    row = store(request).deployment(deployment_id, caller.tenant)
    if row is None:
        raise not_found(f"deployment {deployment_id}")
    return row


def _info(request: Request, row: DeploymentRow) -> dict[str, Any]:
    return AppDeploymentInfo(
        appDeploymentName=row.name, appDeploymentId=row.deployment_id, appId=row.app_id,
        edgeCloudZones=row.zones,
        appInstances=[i.instance_id for i in
                      store(request).instances(deployment_id=row.deployment_id)]
    ).model_dump(mode="json")
