"""HbrRoutes: the SRv6 routes one chain needs on one HBR, applied over netlink (pyroute2).

create/update make the kernel hold exactly these routes (only what differs is replaced),
read reports what the kernel really holds of them (a route deleted by hand shows as missing),
delete removes exactly these routes and nothing else. No netlink socket outlives a call.
"""

from __future__ import annotations

from typing import Any

import pulumi
from pulumi.dynamic import (
    CheckResult,
    CreateResult,
    DiffResult,
    ReadResult,
    Resource,
    ResourceProvider,
    UpdateResult,
)
from pydantic import Field
from tcra.providers._check import check_inputs

from tcra.model.base import Model
from tcra.tcm import kernel
from tcra.tcm.route import Route


class HbrRoutesSpec(Model):
    chain: str
    hbr: str
    namespace: str | None = None
    interfaces: tuple[str, ...] = ()
    routes: tuple[Route, ...] = Field(min_length=1)


def _spec(props: dict[str, Any]) -> HbrRoutesSpec:
    fields = HbrRoutesSpec.model_fields
    return HbrRoutesSpec.model_validate({k: v for k, v in props.items() if k in fields})


def _live(spec: HbrRoutesSpec) -> list[dict[str, Any]]:
    """The kernel's version of each of our routes (by destination, source and table)."""
    ours = {r.key for r in spec.routes}
    return [r.model_dump(mode="json") for r in kernel.read(spec.namespace) if r.key in ours]


def _outputs(spec: HbrRoutesSpec) -> dict[str, Any]:
    return {**spec.model_dump(mode="json"), "live": _live(spec)}


class HbrRoutesProvider(ResourceProvider):
    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        return check_inputs(_spec, news, "HbrRoutes")

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        was, wanted = _spec(olds), _spec(news)
        replaces = ["namespace"] if was.namespace != wanted.namespace else []
        live = [Route.model_validate(r) for r in olds.get("live", [])]
        drift = sorted(live, key=lambda r: r.key) != sorted(wanted.routes, key=lambda r: r.key)
        changed = was != wanted or drift
        return DiffResult(changes=changed, replaces=replaces, stables=[],
                          delete_before_replace=True)

    def create(self, props: dict[str, Any]) -> CreateResult:
        spec = _spec(props)
        kernel.enable_srv6(spec.namespace, spec.interfaces)
        kernel.apply(spec.namespace, spec.routes, owned=())
        return CreateResult(id_=f"{spec.namespace or 'host'}/{spec.chain}/{spec.hbr}",
                            outs=_outputs(spec))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        return ReadResult(id_=id_, outs=_outputs(_spec(props)))

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        was, spec = _spec(olds), _spec(news)
        kernel.enable_srv6(spec.namespace, spec.interfaces)
        kernel.apply(spec.namespace, spec.routes, owned=was.routes)
        return UpdateResult(outs=_outputs(spec))

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        spec = _spec(props)
        if spec.namespace and not kernel.namespace_exists(spec.namespace):
            return  # the HBR is gone, and its routes with it
        kernel.apply(spec.namespace, (), owned=spec.routes)


class HbrRoutes(Resource, module="tcra", name="HbrRoutes"):
    live: pulumi.Output[list[dict[str, Any]]]

    def __init__(self, name: str, spec: HbrRoutesSpec,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(HbrRoutesProvider(), name,
                         {**spec.model_dump(mode="json"), "live": None}, opts)
