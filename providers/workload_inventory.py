"""WorkloadInventory: one service's record in the workload inventory (TCWI), written by the
engine at `up` once the resources it names exist, never at preview, and removed at destroy.

create and update write the service's ServiceRecord (the plan's placements and hosts, and what
was deployed for each workload) in one transaction; read = what the store holds for the
service now, so `pulumi refresh` shows a row edited or removed by hand; delete removes that
service's rows and no other's. The record carries its owner (tcra.ownership): a service another
stack recorded is refused, never overwritten or removed. The store URL may hold a password: it
is a secret input and output, and the store's messages mask it.
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
from pydantic import ConfigDict, Field, SecretStr, model_validator
from tcra.providers._check import check_inputs, unknown_in
from tcra.providers.stack_owner import owner_of

from tcra.mco.model import HostRole, Placement, ServiceRecord
from tcra.mco.store import Store
from tcra.model.base import Model
from tcra.model.types import Name

REPLACE_ON = ("store", "service")
"""Inputs that name another record: the old one is removed once the new one is written."""


class WorkloadInventorySpec(ServiceRecord):
    """The provider's validated inputs: the record, and the store it goes to."""

    store: SecretStr = Field(description="The MCO store's database URL (tcra.mco.store).")


class _Wanted(WorkloadInventorySpec):
    """What check demands of the program's inputs; read reports the store's rows as they
    are, consistent or not."""

    @model_validator(mode="after")
    def _all_of_the_service(self) -> _Wanted:
        others = sorted(({p.service for p in self.placements} | {h.service for h in self.hosts})
                        - {self.service})
        if others:
            raise ValueError(f"placements and hosts must be of service {self.service},"
                             f" not {', '.join(others)}")
        unplaced = sorted({d.workload for d in self.deployed}
                          - {p.workload for p in self.placements})
        if unplaced:
            raise ValueError(f"deployed workloads {', '.join(unplaced)} have no placement")
        return self


def _wanted(props: dict[str, Any]) -> _Wanted:
    return _Wanted.model_validate({k: v for k, v in props.items() if k in _Wanted.model_fields})


def _spec(props: dict[str, Any]) -> WorkloadInventorySpec:
    """The inputs (or the last outputs) validated, each list in the store's order, so a
    record compares equal to itself read back."""
    fields = WorkloadInventorySpec.model_fields
    spec = WorkloadInventorySpec.model_validate({k: v for k, v in props.items() if k in fields})
    return spec.model_copy(update={
        "placements": tuple(sorted(spec.placements, key=lambda p: p.workload)),
        "hosts": tuple(sorted(spec.hosts, key=lambda h: (h.site, h.host))),
        "deployed": tuple(sorted(spec.deployed, key=lambda d: d.workload))})


def _outputs(spec: WorkloadInventorySpec) -> dict[str, Any]:
    # The URL is returned so read and delete can connect; WorkloadInventory marks it secret.
    return {**spec.model_dump(mode="json", exclude={"store"}),
            "store": spec.store.get_secret_value()}


def _store(spec: WorkloadInventorySpec) -> Store:
    store = Store(spec.store.get_secret_value())
    store.migrate()
    return store


class WorkloadInventoryProvider(ResourceProvider):
    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        return check_inputs(_wanted, news, "WorkloadInventory")

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        keys = list(WorkloadInventorySpec.model_fields)
        if any(unknown_in(value) for value in news.values()):  # a preview: compare what is known
            differ = [k for k in keys if unknown_in(news.get(k)) or olds.get(k) != news.get(k)]
        else:
            was, wanted = _outputs(_spec(olds)), _outputs(_spec(news))
            differ = [k for k in keys if was[k] != wanted[k]]
        return DiffResult(changes=bool(differ), replaces=[k for k in differ if k in REPLACE_ON],
                          stables=[], delete_before_replace=False)

    def create(self, props: dict[str, Any]) -> CreateResult:
        spec = _spec(props)
        _store(spec).record(spec)
        return CreateResult(id_=spec.service, outs=_outputs(spec))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        spec = _spec(props)
        found = _store(spec).recorded(spec.service)
        if found is None or found.owner != spec.owner:
            return ReadResult(id_="", outs={})  # removed (or since recorded by another)
        return ReadResult(id_=id_, outs=_outputs(_spec({**found.model_dump(mode="json"),
                                                        "store": props["store"]})))

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        spec = _spec(news)
        _store(spec).record(spec)
        return UpdateResult(outs=_outputs(spec))

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        spec = _spec(props)
        _store(spec).forget(spec.service, spec.owner)


class DeployedObject(Model):
    """What the program made for one placed workload: each field an Output of the resource
    that made it (or a plain value), None where the form has none; see DeployedWorkload."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    workload: Name
    cluster: Any = None
    release: Any = None
    namespace: Any = None
    vm_uuid: Any = None
    host_serial: Any = None
    sid: Any = None


class WorkloadInventoryArgs(Model):
    """The program's arguments: the plan's records, and what was deployed for them."""

    store_url: str = Field(min_length=1, description="The MCO store's database URL; made a"
                           " secret (it may hold a password).")
    service: Name
    tenant: Name
    placements: tuple[Placement, ...] = ()
    hosts: tuple[HostRole, ...] = ()
    deployed: tuple[DeployedObject, ...] = ()


class WorkloadInventory(Resource, module="tcra", name="WorkloadInventory"):
    """Output `deployed`: per workload, what the store records was made for it (its cluster
    and release, VM UUID, host serial, SID). Give it the resources it records in `depends_on`
    when no Output of theirs is among its inputs: it is written only once they are."""

    deployed: pulumi.Output[list[dict[str, Any]]]

    def __init__(self, name: str, args: WorkloadInventoryArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        props: dict[str, Any] = {
            **args.model_dump(mode="json", include={"service", "tenant", "placements",
                                                    "hosts"}),
            "store": pulumi.Output.secret(args.store_url),
            "owner": owner_of(name),
            "deployed": [{key: getattr(d, key) for key in DeployedObject.model_fields}
                         for d in args.deployed],
        }
        secret = pulumi.ResourceOptions(additional_secret_outputs=["store"])
        super().__init__(WorkloadInventoryProvider(), name, props,
                         pulumi.ResourceOptions.merge(opts, secret))
