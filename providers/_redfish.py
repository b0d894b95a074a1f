"""The Redfish steps behind PhysicalHost: find, prepare, power, observe, release.

Each step opens its own session through tcra.bmc (timeouts, retries, named errors), so the
provider stays picklable and independent hosts never wait on each other.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import sushy
from pydantic import Field

from tcra.bmc import BmcError, SystemNotFoundError, call, system_path
from tcra.model.base import Model

if TYPE_CHECKING:
    from tcra.providers.physical_host import Boot, PhysicalHostSpec

POLL = 1.0
_TARGETS = {"pxe": sushy.BootSource.PXE, "uefi_http": sushy.BootSource.UEFI_HTTP,
            "cd": sushy.BootSource.CD, "disk": sushy.BootSource.HDD}
_MODES = {"once": sushy.BootSourceOverrideEnabled.ONCE,
          "persistent": sushy.BootSourceOverrideEnabled.CONTINUOUS}
_CD_TYPES = {sushy.VirtualMediaType.CD, sushy.VirtualMediaType.DVD}


class UnsupportedActionError(BmcError):
    """The BMC does not offer what the inputs ask for (a boot target, virtual media)."""


class Nic(Model):
    id: str
    mac: str | None = None
    state: str | None = None


class Facts(Model):
    """What the BMC reports about the system: the resource's observed outputs."""

    resource_id: str
    redfish_id: str = Field(description="The system's Redfish Id, however it was found.")
    bmc_url: str
    manufacturer: str | None = None
    model: str | None = None
    serial_number: str | None = None
    cpu_count: int | None = None
    cpu_model: str | None = None
    memory_gib: float | None = None
    nics: tuple[Nic, ...] = ()
    power_state: str
    boot_target: str | None = None
    boot_mode: str | None = None
    media_image: str | None = None

    @classmethod
    def from_outputs(cls, outs: dict[str, Any]) -> Facts | None:
        if not outs.get("resource_id"):
            return None
        return cls.model_validate({k: outs.get(k) for k in cls.model_fields if k in outs})


def drift(spec: PhysicalHostSpec, facts: Facts | None) -> list[str]:
    """How the host as last read differs from what the inputs ask for."""
    if facts is None:
        return []
    found = []
    if (facts.power_state == "On") != (spec.power == "on"):
        found.append(f"power is {facts.power_state}, wanted {spec.power}")
    if spec.boot and spec.boot.mode == "persistent" and facts.boot_target != spec.boot.target:
        found.append(f"boot target is {facts.boot_target}, wanted {spec.boot.target.value}")
    wanted_image = spec.boot.image if spec.boot and spec.boot.target == "cd" else None
    if facts.media_image != wanted_image:
        found.append(f"virtual media holds {facts.media_image}, wanted {wanted_image}")
    return found


def claim(spec: PhysicalHostSpec) -> Facts:
    return apply(spec, reboot=spec.boot is not None)


def apply(spec: PhysicalHostSpec, reboot: bool) -> Facts:
    """Bring media, BIOS, boot override and power to what spec asks; reboot to apply a boot."""
    target = spec.target()

    def prepare(root: sushy.main.Sushy) -> None:
        system = find(root, spec)
        if spec.boot is not None:
            _check_boot_target(spec, system)
        _set_media(spec, root, system)
        if spec.bios:
            system.bios.set_attributes(spec.bios)
        if spec.boot is not None:
            system.set_system_boot_options(
                target=_TARGETS[spec.boot.target.value], enabled=_MODES[spec.boot.mode],
                http_boot_uri=spec.boot.image if spec.boot.target == "uefi_http" else None)
        if spec.power == "on":
            if system.power_state != sushy.PowerState.ON:
                system.reset_system(sushy.ResetType.ON)
            elif reboot:
                system.reset_system(sushy.ResetType.FORCE_RESTART)

    call(target, prepare)
    if spec.power == "off":
        power_off(spec)
        return observe(spec)
    return observe(spec, until_power="On")


def observe(spec: PhysicalHostSpec, until_power: str | None = None) -> Facts:
    """Read the system's facts; with until_power, read again until it reports that state."""

    def read(root: sushy.main.Sushy) -> Facts:
        system = find(root, spec)
        raw = system.json
        media = _media(root, system)
        inserted = next((m.image for m in media if m.inserted and m.image), None)
        nics = tuple(Nic(id=n.identity, mac=n.mac_address, state=n.status.state.value
                         if n.status and n.status.state else None)
                     for n in _members(system, "ethernet_interfaces"))
        boot = system.boot
        return Facts(
            resource_id=f"{spec.address}{system.path}", redfish_id=system.identity,
            bmc_url=spec.address, manufacturer=system.manufacturer, model=system.model,
            serial_number=system.serial_number,
            cpu_count=raw.get("ProcessorSummary", {}).get("Count"),
            cpu_model=raw.get("ProcessorSummary", {}).get("Model"),
            memory_gib=raw.get("MemorySummary", {}).get("TotalSystemMemoryGiB"),
            nics=nics,
            power_state=system.power_state.value if system.power_state else "Unknown",
            boot_target=_name_of(boot.target), boot_mode=_mode_of(boot.enabled),
            media_image=inserted,
        )

    deadline = time.monotonic() + spec.power_timeout
    while (facts := call(spec.target(), read)).power_state != (until_power or facts.power_state):
        if time.monotonic() >= deadline:
            raise BmcError(spec.target(), f"still {facts.power_state} after"
                           f" {spec.power_timeout:g}s, waiting for {until_power}")
        time.sleep(POLL)
    return facts


def power_off(spec: PhysicalHostSpec) -> None:
    """Graceful shutdown, forced off when the OS has not finished within shutdown_timeout."""

    def shutdown(root: sushy.main.Sushy) -> bool:
        system = find(root, spec)
        if system.power_state == sushy.PowerState.OFF:
            return False
        graceful = sushy.ResetType.GRACEFUL_SHUTDOWN
        if spec.shutdown_timeout > 0 and graceful in system.get_allowed_reset_system_values():
            system.reset_system(graceful)
            return True
        system.reset_system(sushy.ResetType.FORCE_OFF)
        return False

    if call(spec.target(), shutdown) and not wait_for_power(spec, "Off", spec.shutdown_timeout,
                                                            fail=False):
        call(spec.target(), lambda root: find(root, spec).reset_system(sushy.ResetType.FORCE_OFF))
    wait_for_power(spec, "Off", spec.power_timeout)


def release(spec: PhysicalHostSpec) -> None:
    """Power off, eject our media, clear the boot override; a system already gone is fine."""
    try:
        power_off(spec)

        def tidy(root: sushy.main.Sushy) -> None:
            system = find(root, spec)
            ours = spec.boot.image if spec.boot and spec.boot.target == "cd" else None
            for device in _media(root, system):
                if ours and device.inserted and device.image == ours:
                    device.eject_media()
            if spec.boot is not None:
                _clear_override(system)

        call(spec.target(), tidy)
    except SystemNotFoundError:
        return


def _clear_override(system: Any) -> None:
    """Redfish's "no override" is Disabled with target None. A BMC that does not offer None
    (sushy-tools over libvirt always keeps a boot device) gets the equivalent: disk, persistent."""
    if sushy.BootSource.NONE in system.get_allowed_system_boot_source_values():
        system.set_system_boot_options(target=sushy.BootSource.NONE,
                                       enabled=sushy.BootSourceOverrideEnabled.DISABLED)
    else:
        system.set_system_boot_options(target=sushy.BootSource.HDD,
                                       enabled=sushy.BootSourceOverrideEnabled.CONTINUOUS)


def wait_for_power(spec: PhysicalHostSpec, state: str, timeout: float, fail: bool = True) -> bool:
    deadline = time.monotonic() + timeout

    def read(root: sushy.main.Sushy) -> str:
        power = find(root, spec).power_state
        return power.value if power else "Unknown"

    while (current := call(spec.target(), read)) != state:
        if time.monotonic() >= deadline:
            if not fail:
                return False
            raise BmcError(spec.target(), f"still {current} after {timeout:g}s, waiting for"
                           f" {state}")
        time.sleep(POLL)
    return True


def find(root: sushy.main.Sushy, spec: PhysicalHostSpec) -> Any:
    if spec.system_id is not None:
        return root.get_system(system_path(root, spec.system_id))
    for system in root.get_system_collection().get_members():
        if system.serial_number == spec.serial:
            return system
    raise SystemNotFoundError(spec.target(), f"no system with serial number {spec.serial!r}")


def _check_boot_target(spec: PhysicalHostSpec, system: Any) -> None:
    assert spec.boot is not None  # noqa: S101 - callers check
    wanted = _TARGETS[spec.boot.target.value]
    allowed = system.get_allowed_system_boot_source_values()
    if wanted not in allowed:
        offered = ", ".join(sorted(_name_of(v) or str(v) for v in allowed))
        raise UnsupportedActionError(spec.target(), f"boot target {spec.boot.target.value} is"
                                     f" not offered by this BMC (it offers {offered})")


def _set_media(spec: PhysicalHostSpec, root: sushy.main.Sushy, system: Any) -> None:
    boot: Boot | None = spec.boot
    if boot is None or boot.target != "cd":
        return
    drives = [m for m in _media(root, system) if _CD_TYPES & set(m.media_types or ())]
    if not drives:
        raise UnsupportedActionError(spec.target(), "the BMC offers no virtual CD/DVD media")
    drive = drives[0]
    if drive.inserted and drive.image == boot.image:
        return
    if drive.inserted:
        drive.eject_media()
    drive.insert_media(boot.image, inserted=True, write_protected=True)


def _media(root: sushy.main.Sushy, system: Any) -> list[Any]:
    """Virtual media of the system, or of its managers on BMCs that keep it there."""
    for owner in (system, *_members(system, "managers")):
        try:
            devices = owner.virtual_media.get_members()
        except (sushy.exceptions.MissingAttributeError, sushy.exceptions.ResourceNotFoundError):
            continue
        if devices:
            return list(devices)
    return []


def _members(system: Any, attribute: str) -> list[Any]:
    try:
        found = getattr(system, attribute)
    except (sushy.exceptions.MissingAttributeError, sushy.exceptions.ResourceNotFoundError):
        return []
    return list(found) if isinstance(found, list) else list(found.get_members())


def _name_of(source: Any) -> str | None:
    for name, value in _TARGETS.items():
        if value == source:
            return name
    return None if source is None else str(getattr(source, "value", source))


def _mode_of(enabled: Any) -> str | None:
    for name, value in _MODES.items():
        if value == enabled:
            return name
    return None if enabled is None else "disabled"
