"""`tcra serve`: the CAMARA Edge Application Management API over tcra's inventory and store.

Every answer carries the caller's `x-correlator` back; every failure is CAMARA's error form
(tcra.api.errors); every request is in the audit trail. Auth runs before the body is read, so
nothing of an unauthenticated caller's body is looked at."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Annotated, Any

import anyio.to_thread
from fastapi import APIRouter, Depends, FastAPI, Path, Query, Request, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tcra.api import catalog
from tcra.api import zones as zone_list
from tcra.api.auth import Caller, Verifier, requires
from tcra.api.deploy import Deployer
from tcra.api.errors import ApiError, answer, install, invalid, not_found
from tcra.api.placing import Bookings
from tcra.api.schemas import (
    ID,
    AppInstanceInfo,
    AppInstanceRequest,
    AppManifest,
    EdgeCloudZoneList,
    EdgeCloudZoneStatus,
    InstanceStatus,
    SubmittedApp,
)
from tcra.api.store import ApiStore, DuplicateError, InstanceRow
from tcra.mco.model import Placement, Policy, WorkloadRequest
from tcra.model.inventory import Inventory

BASE = "/edge-application-management/vwip"
CORRELATOR = re.compile(r"^[a-zA-Z0-9-_:;.\/<>{}]{0,256}$")
MAX_BODY = 1 << 20  # bytes: an app manifest is a few KiB
LIST_LIMIT = 100    # the definition's longest list
Policies = Callable[[str], Policy]  # tenant -> its MCO policy

AppId = Annotated[str, Path(alias="appId", min_length=36, max_length=36, pattern=ID)]
InstanceId = Annotated[str, Path(alias="appInstanceId", min_length=36, max_length=36,
                                 pattern=ID)]


def create(inventory: Inventory, store: ApiStore, verifier: Verifier, deployer: Deployer,
           policies: Policies) -> FastAPI:
    app = FastAPI(title="tcra: CAMARA Edge Application Management", version="wip",
                  redirect_slashes=False, docs_url=None, redoc_url=None,
                  openapi_url=f"{BASE}/openapi.json")
    # The inventory does not change while the server runs: its zones are made once.
    app.state.zones, app.state.store, app.state.verifier = (zone_list.zones(inventory),
                                                            store, verifier)
    app.state.inventory, app.state.deployer, app.state.policies = inventory, deployer, policies
    app.state.bookings = Bookings(inventory, store)
    install(app)
    app.include_router(_routes(), prefix=BASE)
    app.add_middleware(_Guarded)
    return app


def _routes() -> APIRouter:
    router = APIRouter()

    @router.get("/edge-cloud-zones")
    def get_edge_cloud_zones(
            request: Request, response: Response,
            _caller: Annotated[Caller, Depends(requires("edge-cloud-zones:read"))],
            page: Annotated[int, Query(ge=1, le=2**31 - 1)] = 1,
            per_page: Annotated[int, Query(alias="perPage", ge=1, le=100)] = 20,
            country_code: Annotated[str | None, Query(alias="countryCode",
                                                      pattern=r"^[A-Z]{2}$")] = None,
            provider: Annotated[str | None, Query(alias="edgeCloudProvider",
                                                  max_length=64)] = None,
            region: Annotated[str | None, Query(alias="edgeCloudRegion", max_length=64)] = None,
            status: Annotated[EdgeCloudZoneStatus | None, Query()] = None) -> dict[str, Any]:
        found = [z for z in request.app.state.zones.listed
                 if (country_code is None or z.countryCode == country_code)
                 and (provider is None or z.edgeCloudProvider == provider)
                 and (region is None or z.edgeCloudRegion == region)
                 and (status is None or z.edgeCloudZoneStatus == status)]
        shown, pagination = zone_list.page(found, page, per_page)
        response.headers["x-total-count"] = str(pagination.totalCount)
        response.headers["x-total-pages"] = str(pagination.totalPages)
        return EdgeCloudZoneList(edgeCloudZones=shown, pagination=pagination).model_dump(
            mode="json", exclude_none=True)

    @router.post("/apps", status_code=201)
    def submit_app(request: Request, manifest: AppManifest,
                   caller: Annotated[Caller, Depends(requires("apps:write"))]) -> dict[str, str]:
        catalog.check(manifest)
        app_id = str(uuid.uuid4())
        stored = manifest.model_dump(mode="json", exclude_none=True)
        stored["appRepo"].pop("credentials", None)
        credentials = manifest.appRepo.credentials
        try:
            _store(request).add_app(app_id, caller.tenant, stored, credentials.get_secret_value()
                                    if credentials is not None else None)
        except DuplicateError:
            raise ApiError(409, "ALREADY_EXISTS", f"app {manifest.name} version"
                           f" {manifest.version!r} exists already") from None
        return SubmittedApp(appId=app_id).model_dump()

    @router.get("/apps")
    def get_apps(request: Request, caller: Annotated[Caller, Depends(requires("apps:read"))]
                 ) -> list[dict[str, Any]]:
        return [{**m, "appId": i} for i, m in _store(request).apps(caller.tenant)[:LIST_LIMIT]]

    @router.get("/apps/{appId}")
    def get_app(request: Request, app_id: AppId,
                caller: Annotated[Caller, Depends(requires("apps:read"))]) -> dict[str, Any]:
        manifest = _store(request).app(caller.tenant, app_id)
        if manifest is None:
            raise not_found(f"app {app_id}")
        return {**manifest, "appId": app_id}

    @router.delete("/apps/{appId}", status_code=204)
    def delete_app(request: Request, app_id: AppId,
                   caller: Annotated[Caller, Depends(requires("apps:delete"))]) -> Response:
        store = _store(request)
        if store.app(caller.tenant, app_id) is None:
            raise not_found(f"app {app_id}")
        if running := store.instances(caller.tenant, app_id):
            raise ApiError(409, "CONFLICT", f"app {app_id} has {len(running)} instance(s):"
                           " delete them first")
        store.delete_app(caller.tenant, app_id)
        return Response(status_code=204)

    _instance_routes(router)
    return router


def _instance_routes(router: APIRouter) -> None:
    @router.post("/app-instances", status_code=202)
    def create_app_instance(request: Request, response: Response, asked: AppInstanceRequest,
                            caller: Annotated[Caller, Depends(requires("instances:write"))]
                            ) -> dict[str, Any]:
        state = request.app.state
        stored = _store(request).app(caller.tenant, asked.appId)
        if stored is None:  # the definition has no 404 here: the body names a wrong id
            raise invalid(f"appId: expected an app you submitted (got {asked.appId!r})")
        sites = _sites(request, asked)
        manifest = AppManifest.model_validate(stored)
        instance_id = str(uuid.uuid4())
        service = f"app-{instance_id}"  # its workloads' service, and its stack
        workload = WorkloadRequest(name=catalog.workload_name(manifest, instance_id),
                                   kind=catalog.form(manifest),
                                   resources=catalog.resources(manifest), sites=sites)
        def keep(placed: list[Placement]) -> None:
            row = InstanceRow(
                instance_id=instance_id, tenant=caller.tenant, app_id=asked.appId,
                name=asked.name, zone_id=asked.edgeCloudZoneId, site=placed[0].site,
                placement=placed[0].model_dump(mode="json"), manifest=stored,
                status=InstanceStatus.INSTANTIATING.value, reason=None, endpoints=[],
                sink=_sink(asked), deployment_id=None, stack=service,
                attempts=0, changed_ms=0)
            try:
                _store(request).add_instance(row)
            except DuplicateError:
                raise ApiError(409, "ALREADY_EXISTS", f"app instance {asked.name} exists"
                               " already") from None
            made.append(row)

        made: list[InstanceRow] = []
        state.bookings.book(state.policies(caller.tenant),
                            [(service, workload, asked.edgeCloudZoneId)], keep)
        row = made[0]
        state.deployer.start(instance_id)
        response.headers["Location"] = str(request.url_for("get_app_instance",
                                                           appInstanceId=instance_id))
        return info(request, row)

    @router.get("/app-instances")
    def get_app_instances(
            request: Request, caller: Annotated[Caller, Depends(requires("instances:read"))],
            app_id: Annotated[str | None, Query(alias="appId", min_length=36, max_length=36,
                                                pattern=ID)] = None,
            region: Annotated[str | None, Query(max_length=64)] = None) -> list[dict[str, Any]]:
        inventory: Inventory = request.app.state.inventory
        rows = [row for row in _store(request).instances(caller.tenant, app_id)
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
        _store(request).update_instance(instance_id, status=InstanceStatus.TERMINATING.value,
                                        reason=None, attempts=0)
        request.app.state.deployer.start(instance_id)
        return Response(status_code=202)


def _instance(request: Request, caller: Caller, instance_id: str) -> InstanceRow:
    row = _store(request).instance(instance_id, caller.tenant)
    if row is None:
        raise not_found(f"app instance {instance_id}")
    return row


def _sites(request: Request, asked: AppInstanceRequest) -> tuple[str, ...]:
    """The sites the zone asked for lets the MCO choose from, narrowed to the cluster's."""
    zones = request.app.state.zones
    sites = zones.sites.get(asked.edgeCloudZoneId)
    if sites is None:
        raise invalid("edgeCloudZoneId: expected a zone of GET /edge-cloud-zones (got"
                      f" {asked.edgeCloudZoneId!r})")
    if asked.kubernetesClusterRef is None:
        return tuple(sites)
    inventory: Inventory = request.app.state.inventory
    with_cluster = tuple(s for s in sites if (c := inventory.site(s).cluster) is not None
                         and zone_list.cluster_ref(s, c.name) == asked.kubernetesClusterRef)
    if not with_cluster:
        raise invalid("kubernetesClusterRef: expected a cluster of the zone's (got"
                      f" {asked.kubernetesClusterRef!r})")
    return with_cluster


def _sink(asked: AppInstanceRequest) -> dict[str, Any] | None:
    """Where status changes are sent, with the token to send them with."""
    wanted = asked.subscriptionRequest
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


def _store(request: Request) -> ApiStore:
    store: ApiStore = request.app.state.store
    return store


class _Guarded:
    """Around every request: a valid `x-correlator` echoed and an invalid one refused; a body
    over MAX_BODY refused, by its declared length or as it arrives; the request audited."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        correlator = headers.get(b"x-correlator", b"").decode("latin-1") or None
        declared = headers.get(b"content-length")
        refused = None
        if correlator is not None and not CORRELATOR.match(correlator):
            correlator, refused = None, invalid("header x-correlator: expected up to 256 of the"
                                                " characters a-z A-Z 0-9 - _ : ; . / < > { }")
        elif declared is not None and (not declared.isdigit() or int(declared) > MAX_BODY):
            refused = _too_big()
        status = 500
        seen = 0

        async def receiving() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > MAX_BODY:
                raise _too_big()
            return message

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                if correlator is not None:
                    message["headers"] = [*message.get("headers", []),
                                          (b"x-correlator", correlator.encode("latin-1"))]
            await send(message)
        try:
            await (answer(refused) if refused else self.app)(scope, receiving, sending)
        finally:
            await self._audit(scope, status, correlator)

    @staticmethod
    async def _audit(scope: Scope, status: int, correlator: str | None) -> None:
        store: ApiStore = scope["app"].state.store
        await anyio.to_thread.run_sync(store.audit, scope.get("state", {}).get("tenant"),
                                       scope["method"], scope["path"], status, correlator)


def _too_big() -> ApiError:
    return invalid(f"body: expected at most {MAX_BODY} bytes")
