"""VirtualMachine: one libvirt domain with its volumes and cloud-init seed (TCRA Virtual
Infrastructure Platform manager). check = the spec, then the live host asked read-only;
read = the live domain, so refresh shows drift; update = vCPUs, memory and power in place;
delete = destroy, undefine, and delete its volumes and seed. The domain carries its owner
(tcra.ownership): one that another stack made is refused, never adopted or removed.
"""

from __future__ import annotations

from typing import Any

import pulumi
from pulumi.dynamic import (
    CheckFailure,
    CheckResult,
    CreateResult,
    DiffResult,
    ReadResult,
    Resource,
    ResourceProvider,
    UpdateResult,
)
from tcra.providers import _libvirt
from tcra.providers._check import check_inputs, owner_in
from tcra.providers.stack_owner import owner_of

from tcra.vip.domain_xml import IN_PLACE
from tcra.vip.model import VirtualMachineSpec

_OBSERVED = tuple(_libvirt.Observed.model_fields)


def _spec(props: dict[str, Any]) -> VirtualMachineSpec:
    fields = VirtualMachineSpec.model_fields
    return VirtualMachineSpec.model_validate({k: v for k, v in props.items() if k in fields})


def _outputs(spec: VirtualMachineSpec, owner: str,
             observed: _libvirt.Observed) -> dict[str, Any]:
    return {**spec.model_dump(mode="json"), "owner": owner, **observed.model_dump(mode="json")}


class VirtualMachineProvider(ResourceProvider):
    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        checked = check_inputs(_spec, news, "VirtualMachine")
        if checked.failures:
            return checked
        problems = _libvirt.preflight(_spec(news), adopting=bool(olds))
        return CheckResult(news, [CheckFailure(p.field, str(p)) for p in problems])

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        was, wanted = _spec(olds), _spec(news)
        differ = [key for key in VirtualMachineSpec.model_fields
                  if getattr(was, key) != getattr(wanted, key)]
        replaces = [key for key in differ if key not in IN_PLACE]
        if wanted.vcpus > was.vcpus_max:
            replaces.append("vcpus")
        if wanted.memory > was.memory_max:
            replaces.append("memory")
        drift = _drift(olds, wanted)
        # On the same hypervisor the new domain and volumes would take the old one's names;
        # on another one (a move) it comes up first and the old one goes at the end of `up`.
        return DiffResult(changes=bool(differ or drift), replaces=sorted(set(replaces)),
                          stables=[], delete_before_replace=was.uri == wanted.uri)

    def create(self, props: dict[str, Any]) -> CreateResult:
        spec, owner = _spec(props), owner_in(props)
        observed = _libvirt.create(spec, owner)
        return CreateResult(id_=observed.uuid, outs=_outputs(spec, owner, observed))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        spec, owner = _spec(props), owner_in(props)
        observed = _libvirt.observe(spec, owner)
        if observed is None or observed.uuid != id_:
            return ReadResult(id_="", outs={})  # gone (or another domain took the name)
        return ReadResult(id_=id_, outs=_outputs(spec, owner, observed))

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        spec, owner = _spec(news), owner_in(news)
        return UpdateResult(outs=_outputs(spec, owner, _libvirt.apply(spec, owner)))

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        _libvirt.remove(_spec(props), owner_in(props))


def _drift(olds: dict[str, Any], wanted: VirtualMachineSpec) -> bool:
    """What the last read saw differ from the spec: stopped or resized behind Pulumi's back."""
    if olds.get("state") is None:
        return False
    live = olds.get("live") or {}
    return ((olds["state"] == "running") != wanted.running
            or live.get("vcpus") != wanted.vcpus
            or live.get("memory_kib") != wanted.memory.bytes // 1024)


class VirtualMachineArgs(VirtualMachineSpec):
    """The program's arguments: the same model the provider validates, so bad input fails in
    the program, before the engine calls anything."""


class VirtualMachine(Resource, module="tcra", name="VirtualMachine"):
    """A libvirt domain; outputs add its UUID, power state, live XML facts, volumes and
    addresses. Cloud-init user data is a secret output (it may hold passwords)."""

    uuid: pulumi.Output[str]
    state: pulumi.Output[str]
    live: pulumi.Output[dict[str, Any]]
    volumes: pulumi.Output[list[str]]
    addresses: pulumi.Output[list[str]]

    def __init__(self, name: str, args: VirtualMachineArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        props: dict[str, Any] = {**dict.fromkeys(_OBSERVED), **args.model_dump(mode="json"),
                                 "owner": owner_of(name)}
        if args.cloud_init is not None:
            props["cloud_init"] = pulumi.Output.secret(props["cloud_init"])
        secret = pulumi.ResourceOptions(additional_secret_outputs=["cloud_init"])
        super().__init__(VirtualMachineProvider(), name, props,
                         pulumi.ResourceOptions.merge(opts, secret))
