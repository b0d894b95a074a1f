"""HbrRoutes: the SRv6 routes one chain needs on one HBR, applied over netlink (pyroute2).

create/update make the kernel hold exactly these routes (only what differs is replaced),
read reports what the kernel really holds of them (a route deleted by hand shows as missing),
delete removes exactly these routes and nothing else. Each route carries a marker naming its owner
(tcra.tcm.owners): routes another stack programmed are refused, never adopted or removed. No
netlink socket outlives a call.
"""

from __future__ import annotations

from collections.abc import Sequence
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
from tcra.providers._check import check_inputs, owner_in, unknown_in
from tcra.providers.stack_owner import owner_of

from tcra.model.base import Model
from tcra.tcm import kernel
from tcra.tcm.route import Route


class HbrTarget(Model):
    """Which HBR, and for which chain."""

    chain: str
    hbr: str
    namespace: str | None = None
    interfaces: tuple[str, ...] = ()


class HbrRoutesSpec(HbrTarget):
    routes: tuple[Route, ...] = Field(min_length=1)


def _spec(props: dict[str, Any]) -> HbrRoutesSpec:
    fields = HbrRoutesSpec.model_fields
    return HbrRoutesSpec.model_validate({k: v for k, v in props.items() if k in fields})


def _live(spec: HbrRoutesSpec, owner: str) -> list[dict[str, Any]]:
    """The kernel's version of each of our routes (by destination, source and table) that
    still carries our owner's marker."""
    ours = {r.key for r in spec.routes}
    return [r.model_dump(mode="json") for r in kernel.read_owned(spec.namespace, owner)
            if r.key in ours]


def _outputs(spec: HbrRoutesSpec, owner: str) -> dict[str, Any]:
    return {**spec.model_dump(mode="json"), "owner": owner, "live": _live(spec, owner)}


class HbrRoutesProvider(ResourceProvider):
    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        return check_inputs(_spec, news, "HbrRoutes")

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        if unknown_in(news.get("routes")):  # a preview: the pods they lead to are not there
            return DiffResult(changes=True, replaces=[], stables=[],
                              delete_before_replace=True)
        was, wanted = _spec(olds), _spec(news)
        replaces = ["namespace"] if was.namespace != wanted.namespace else []
        live = [Route.model_validate(r) for r in olds.get("live", [])]
        drift = sorted(live, key=lambda r: r.key) != sorted(wanted.routes, key=lambda r: r.key)
        changed = was != wanted or drift
        return DiffResult(changes=changed, replaces=replaces, stables=[],
                          delete_before_replace=True)

    def create(self, props: dict[str, Any]) -> CreateResult:
        spec, owner = _spec(props), owner_in(props)
        kernel.enable_srv6(spec.namespace, spec.interfaces)
        kernel.apply(spec.namespace, spec.routes, owned=(), owner=owner)
        return CreateResult(id_=f"{spec.namespace or 'host'}/{spec.chain}/{spec.hbr}",
                            outs=_outputs(spec, owner))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        spec = _spec(props)
        if spec.namespace and not kernel.namespace_exists(spec.namespace):
            return ReadResult(id_="", outs={})  # the HBR is gone, and its routes with it
        return ReadResult(id_=id_, outs=_outputs(spec, owner_in(props)))

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        was, spec, owner = _spec(olds), _spec(news), owner_in(news)
        kernel.enable_srv6(spec.namespace, spec.interfaces)
        kernel.apply(spec.namespace, spec.routes, owned=was.routes, owner=owner)
        return UpdateResult(outs=_outputs(spec, owner))

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        spec = _spec(props)
        if spec.namespace and not kernel.namespace_exists(spec.namespace):
            return  # the HBR is gone, and its routes with it
        kernel.apply(spec.namespace, (), owned=spec.routes, owner=owner_in(props))


class HbrRoutes(Resource, module="tcra", name="HbrRoutes"):
    live: pulumi.Output[list[dict[str, Any]]]

    def __init__(self, name: str, target: HbrTarget,
                 routes: pulumi.Input[Sequence[Route]],
                 opts: pulumi.ResourceOptions | None = None) -> None:
        """`routes` may be an Output: the addresses of pods they lead to are known once the
        pods run."""
        super().__init__(HbrRoutesProvider(), name, {
            **target.model_dump(mode="json"), "owner": owner_of(name), "live": None,
            "routes": pulumi.Output.from_input(routes).apply(
                lambda given: [r.model_dump(mode="json") for r in given])}, opts)
