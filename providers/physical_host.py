"""PhysicalHost: a bare-metal server claimed over Redfish (TCRA Physical Infrastructure Manager).

create = claim (inventory facts, media, boot override, power on; rolled back if it fails half-way),
read = the BMC's real state, update = only what differs, in place, delete = release (shut down,
eject, clear override). Who consumes each machine is recorded in the repository (TCRR), as
Metal3's consumerRef: a machine another stack holds is refused, never claimed or released. The
provider keeps nothing between calls: each method is one Redfish session.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

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
from pydantic import Field, SecretStr, model_validator
from tcra.providers import _redfish
from tcra.providers._check import check_inputs, owner_in
from tcra.providers.stack_owner import owner_of

from tcra.bmc import BmcTarget, SystemNotFoundError
from tcra.mco.store import Store
from tcra.model.base import Model
from tcra.model.host import BmcAuth, BmcUrl
from tcra.ownership import OwnedElsewhereError

# Inputs that name a different machine: changing one means releasing this host, claiming another.
REPLACE_ON = ("address", "system_id", "serial")


class BootTarget(StrEnum):
    PXE = "pxe"
    UEFI_HTTP = "uefi_http"
    CD = "cd"
    DISK = "disk"


class Boot(Model):
    target: BootTarget
    mode: Literal["once", "persistent"] = "once"
    image: str | None = Field(default=None, description="ISO URL (cd) or boot URI (uefi_http).")

    @model_validator(mode="after")
    def _image_matches_target(self) -> Boot:
        needs_image = self.target in (BootTarget.CD, BootTarget.UEFI_HTTP)
        if needs_image and not self.image:
            raise ValueError(f"boot target {self.target.value} needs an image URL")
        if not needs_image and self.image:
            raise ValueError(f"boot target {self.target.value} takes no image")
        return self


class HostClaim(Model):
    """What to claim and how to prepare it: shared by the program's arguments and the
    provider's inputs, so bad input fails in the program, before the engine calls anything."""

    host: str = Field(min_length=1, description="Host name, used in messages.")
    address: BmcUrl
    system_id: str | None = None
    serial: str | None = None
    username: str = Field(min_length=1)
    verify_tls: bool = True
    ca_bundle: str | None = None
    auth: BmcAuth = "auto"
    power: Literal["on", "off"] = "on"
    boot: Boot | None = None
    bios: dict[str, str | int | bool] = Field(default_factory=dict)
    timeout: float = Field(default=15.0, gt=0, le=300, description="Seconds per BMC request.")
    power_timeout: float = Field(default=300.0, gt=0, description="Seconds to reach On/Off.")
    shutdown_timeout: float = Field(default=60.0, ge=0,
                                    description="Graceful shutdown time before forcing off.")
    repository: str | None = Field(
        default=None, description="Database URL of the repository (TCRR) that records who"
        " consumes each machine; none: the default SQLite file (tcra.mco.store).")

    @model_validator(mode="after")
    def _one_way_to_find_the_system(self) -> HostClaim:
        if (self.system_id is None) == (self.serial is None):
            raise ValueError("give exactly one of system_id and serial")
        return self


class PhysicalHostSpec(HostClaim):
    """The provider's validated inputs."""

    password: SecretStr

    @property
    def machine(self) -> str:
        """The machine itself, whatever the inventory calls it: its BMC and its system."""
        system = f"system {self.system_id}" if self.system_id else f"serial {self.serial}"
        return f"{self.address} {system}"

    def target(self) -> BmcTarget:
        return BmcTarget(host=self.host, address=self.address, username=self.username,
                         password=self.password,
                         verify=self.ca_bundle if self.ca_bundle else self.verify_tls,
                         auth=self.auth, timeout=self.timeout)


def _spec(props: dict[str, Any]) -> PhysicalHostSpec:
    fields = PhysicalHostSpec.model_fields
    return PhysicalHostSpec.model_validate({k: v for k, v in props.items() if k in fields})


def _claims(spec: PhysicalHostSpec) -> Store:
    """The repository that records each machine's consumer, migrated to this tcra's schema."""
    store = Store(spec.repository)
    store.migrate()
    return store


def _held_by_another(claims: Store, spec: PhysicalHostSpec, owner: str) -> str | None:
    """The other consumer the repository records for the machine, if any. No record at all
    (a host claimed before records were kept, or a repository reset) is not another's."""
    holder = claims.host_owner(spec.machine)
    return holder if holder not in (None, owner) else None


def _outputs(spec: PhysicalHostSpec, owner: str, facts: _redfish.Facts) -> dict[str, Any]:
    # The password is returned so delete can log in; PhysicalHost marks it a secret output.
    # No serial is "": the engine drops null outputs, and a preview would see it unknown.
    inputs = spec.model_dump(mode="json", exclude={"password"})
    return {**inputs, "owner": owner, "password": spec.password.get_secret_value(),
            **facts.model_dump(mode="json"), "serial_number": facts.serial_number or ""}


class PhysicalHostProvider(ResourceProvider):
    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        return check_inputs(_spec, news, "PhysicalHost")

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        was, wanted = _spec(olds), _spec(news)
        differ = [key for key in PhysicalHostSpec.model_fields
                  if getattr(was, key) != getattr(wanted, key)]
        replaces = [key for key in differ if key in REPLACE_ON]
        drift = _redfish.drift(wanted, _redfish.Facts.from_outputs(olds))
        return DiffResult(changes=bool(differ or drift), replaces=replaces, stables=[],
                          delete_before_replace=True)

    def create(self, props: dict[str, Any]) -> CreateResult:
        spec, owner = _spec(props), owner_in(props)
        claims = _claims(spec)
        # The record first: a second stack is refused before the BMC is touched. The same
        # owner finds its own record after a crash and carries on.
        holder = claims.claim_host(spec.machine, spec.host, owner)
        if holder != owner:
            raise OwnedElsewhereError(f"host {spec.host}", spec.machine, holder)
        try:
            facts = _redfish.claim(spec)
        except BaseException:
            claims.release_host(spec.machine, owner)  # Pulumi records nothing of a failed create
            raise
        return CreateResult(id_=facts.resource_id, outs=_outputs(spec, owner, facts))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        spec, owner = _spec(props), owner_in(props)
        try:
            facts = _redfish.observe(spec)
        except SystemNotFoundError:
            return ReadResult(id_="", outs={})
        if _held_by_another(_claims(spec), spec, owner):
            return ReadResult(id_="", outs={})  # released, and now another's
        return ReadResult(id_=id_, outs=_outputs(spec, owner, facts))

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        spec, owner = _spec(news), owner_in(news)
        if holder := _held_by_another(_claims(spec), spec, owner):
            raise OwnedElsewhereError(f"host {spec.host}", spec.machine, holder)
        facts = _redfish.apply(_spec(olds), spec)
        return UpdateResult(outs=_outputs(spec, owner, facts))

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        spec, owner = _spec(props), owner_in(props)
        claims = _claims(spec)
        if _held_by_another(claims, spec, owner):
            return  # not ours any more: another stack's host is never powered off
        _redfish.release(spec)
        claims.release_host(spec.machine, owner)


class PhysicalHostArgs(HostClaim):
    """The program's arguments. The password should be a Pulumi secret."""

    password: Any = Field(description="pulumi.Output.secret(...) or a plain string.")


class PhysicalHost(Resource, module="tcra", name="PhysicalHost"):
    """A claimed bare-metal host; outputs carry its inventory facts, never its password."""

    power_state: pulumi.Output[str]
    redfish_id: pulumi.Output[str]
    manufacturer: pulumi.Output[str | None]
    model: pulumi.Output[str | None]
    serial_number: pulumi.Output[str]
    """The BMC's SerialNumber; "" when it reports none."""
    cpu_count: pulumi.Output[int | None]
    cpu_model: pulumi.Output[str | None]
    memory_gib: pulumi.Output[float | None]
    nics: pulumi.Output[list[dict[str, Any]]]
    boot_target: pulumi.Output[str | None]
    media_image: pulumi.Output[str | None]
    bmc_url: pulumi.Output[str]

    def __init__(self, name: str, args: PhysicalHostArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        props: dict[str, Any] = {
            **dict.fromkeys(_redfish.Facts.model_fields),  # outputs, filled in by the provider
            **args.model_dump(mode="json", exclude={"password"}),
            "password": pulumi.Output.secret(args.password),
            "owner": owner_of(name),
        }
        secret = pulumi.ResourceOptions(additional_secret_outputs=["password"])
        super().__init__(PhysicalHostProvider(), name, props,
                         pulumi.ResourceOptions.merge(opts, secret))
