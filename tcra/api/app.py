"""`tcra serve`: the CAMARA Edge Application Management API over tcra's inventory and store.

Every answer carries the caller's `x-correlator` back; every failure is CAMARA's error form
(tcra.api.errors); every request is in the audit trail. Auth runs before the body is read, so
nothing of an unauthenticated caller's body is looked at."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any

import anyio.to_thread
from fastapi import APIRouter, Depends, FastAPI, Path, Query, Request, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tcra.api import catalog, deployments, instances
from tcra.api import zones as zone_list
from tcra.api.audit import AuditTrail
from tcra.api.auth import Caller, Verifier, requires
from tcra.api.deploy import Deployer
from tcra.api.errors import ApiError, answer, install, invalid, not_found
from tcra.api.instances import LIST_LIMIT, store
from tcra.api.placing import Bookings
from tcra.api.schemas import (
    ID,
    AppManifest,
    EdgeCloudZoneList,
    EdgeCloudZoneStatus,
    SubmittedApp,
)
from tcra.api.store import ApiStore, DuplicateError
from tcra.mco.model import Policy
from tcra.model.inventory import Inventory

BASE = "/edge-application-management/vwip"
CORRELATOR = re.compile(r"^[a-zA-Z0-9-_:;.\/<>{}]{0,256}$")
MAX_BODY = 1 << 20  # bytes: an app manifest is a few KiB
Policies = Callable[[str], Policy]  # tenant -> its MCO policy

AppId = Annotated[str, Path(alias="appId", min_length=36, max_length=36, pattern=ID)]


def create(inventory: Inventory, store: ApiStore, verifier: Verifier, deployer: Deployer,
           policies: Policies) -> FastAPI:
    app = FastAPI(title="tcra: CAMARA Edge Application Management", version="wip",
                  redirect_slashes=False, docs_url=None, redoc_url=None,
                  openapi_url=f"{BASE}/openapi.json", lifespan=_lifespan)
    # The inventory does not change while the server runs: its zones are made once.
    app.state.zones, app.state.store, app.state.verifier = (zone_list.zones(inventory),
                                                            store, verifier)
    app.state.inventory, app.state.deployer, app.state.policies = inventory, deployer, policies
    app.state.bookings, app.state.audit = Bookings(inventory, store), AuditTrail(store)
    install(app)
    app.include_router(_routes(), prefix=BASE)
    app.add_middleware(_Guarded)
    return app


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """The audit rows still queued are written before the server stops."""
    yield
    await anyio.to_thread.run_sync(app.state.audit.close)


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
            store(request).add_app(app_id, caller.tenant, stored, credentials.get_secret_value()
                                    if credentials is not None else None)
        except DuplicateError:
            raise ApiError(409, "ALREADY_EXISTS", f"app {manifest.name} version"
                           f" {manifest.version!r} exists already") from None
        return SubmittedApp(appId=app_id).model_dump()

    @router.get("/apps")
    def get_apps(request: Request, caller: Annotated[Caller, Depends(requires("apps:read"))]
                 ) -> list[dict[str, Any]]:
        return [{**m, "appId": i} for i, m in store(request).apps(caller.tenant)[:LIST_LIMIT]]

    @router.get("/apps/{appId}")
    def get_app(request: Request, app_id: AppId,
                caller: Annotated[Caller, Depends(requires("apps:read"))]) -> dict[str, Any]:
        manifest = store(request).app(caller.tenant, app_id)
        if manifest is None:
            raise not_found(f"app {app_id}")
        return {**manifest, "appId": app_id}

    @router.delete("/apps/{appId}", status_code=204)
    def delete_app(request: Request, app_id: AppId,
                   caller: Annotated[Caller, Depends(requires("apps:delete"))]) -> Response:
        saved = store(request)
        if saved.app(caller.tenant, app_id) is None:
            raise not_found(f"app {app_id}")
        running = len(saved.instances(caller.tenant, app_id))
        deployed = len(saved.deployments(caller.tenant, app_id))
        if running or deployed:
            raise ApiError(409, "CONFLICT", f"app {app_id} has {running} instance(s) and"
                           f" {deployed} deployment(s): delete them first")
        saved.delete_app(caller.tenant, app_id)
        return Response(status_code=204)

    instances.routes(router)
    deployments.routes(router)
    return router


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
            scope["app"].state.audit.add(scope.get("state", {}).get("tenant"), scope["method"],
                                         scope["path"], status, correlator)


def _too_big() -> ApiError:
    return invalid(f"body: expected at most {MAX_BODY} bytes")
