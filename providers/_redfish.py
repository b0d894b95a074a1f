"""The Redfish steps behind PhysicalHost: find, converge, power, observe, release, roll back.

Each provider call is one session (tcra.bmc: timeouts, retried reads, named errors). Writes go
out once: when one gets no usable answer, the system is read again and its state decides
whether it happened; nothing is changed that already is as wanted.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import sushy
from pydantic import Field

from tcra.bmc import BmcError, Session, SystemNotFoundError, Unanswered, session, system_path
from tcra.model.base import Model

if TYPE_CHECKING:
    from tcra.providers.physical_host import PhysicalHostSpec

POLL_FIRST, POLL_MAX = 0.5, 5.0  # seconds between power readings, growing by half each time
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
    bios: dict[str, str | int | bool | None] = Field(
        default_factory=dict, description="Current values of the BIOS attributes asked for"
                                          " (None: the BIOS has no such attribute).")

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
    wanted_image = _image(spec)
    if facts.media_image != wanted_image:
        found.append(f"virtual media holds {facts.media_image}, wanted {wanted_image}")
    found += [f"BIOS {key} is {facts.bios.get(key)}, wanted {value}"
              for key, value in spec.bios.items() if facts.bios.get(key) != value]
    return found


class _Node:
    """The system, found once per session; later steps address it by path (one GET each)."""

    def __init__(self, bmc: Session, spec: PhysicalHostSpec) -> None:
        self.bmc, self.spec = bmc, spec
        self.path: str = bmc.read(lambda root: find(root, spec).path)

    def system(self) -> Any:
        return self.bmc.read(lambda root: root.get_system(self.path))

    def power(self) -> str:
        state = self.system().power_state
        return str(state.value) if state else "Unknown"

    def failed(self, cause: str) -> BmcError:
        return BmcError(self.spec.target(), cause)


def observe(spec: PhysicalHostSpec) -> Facts:
    with session(spec.target()) as bmc:
        return _facts(_Node(bmc, spec))


def claim(spec: PhysicalHostSpec) -> Facts:
    """Prepare and power the host; on failure put back what was there, then raise."""
    with session(spec.target()) as bmc:
        node = _Node(bmc, spec)
        before = _facts(node)
        try:
            _converge(node, spec, None)
        except BmcError as exc:
            _roll_back(node, before, exc)
            raise
        return _facts(node)


def apply(was: PhysicalHostSpec, spec: PhysicalHostSpec) -> Facts:
    """Change only what differs from spec: media, BIOS, a changed boot override, power."""
    with session(spec.target()) as bmc:
        node = _Node(bmc, spec)
        _converge(node, spec, was)
        return _facts(node)


def release(spec: PhysicalHostSpec) -> None:
    """Power off, eject our media, clear the boot override; a system already gone is fine."""
    try:
        with session(spec.target()) as bmc:
            node = _Node(bmc, spec)
            _power_off(node)
            ours = _image(spec)
            if ours and _inserted(node) == ours:
                _eject(node)
            if spec.boot is not None:
                _clear_override(node)
    except SystemNotFoundError:
        return


def _converge(node: _Node, spec: PhysicalHostSpec, was: PhysicalHostSpec | None) -> None:
    system = node.system()
    if spec.boot is not None:
        _check_boot_target(spec, system)
    changed = _set_media(node, spec, was)
    changed |= _set_bios(node, spec.bios)
    boot = spec.boot
    if boot is not None and (was is None or was.boot != boot or (
            boot.mode == "persistent" and _name_of(system.boot.target) != boot.target.value)):
        _set_boot(node, _TARGETS[boot.target.value], _MODES[boot.mode],
                  boot.image if boot.target == "uefi_http" else None)
        changed = True
    if spec.power == "off":
        _power_off(node)
    elif system.power_state != sushy.PowerState.ON:
        _reset_until(node, sushy.ResetType.ON, "On")
    elif changed:  # media, BIOS or boot override only take effect through a reboot
        _restart(node)


def _facts(node: _Node) -> Facts:
    spec = node.spec

    def read(root: sushy.main.Sushy) -> Facts:
        system = root.get_system(node.path)
        raw = system.json
        nics = tuple(Nic(id=n.identity, mac=n.mac_address, state=n.status.state.value
                         if n.status and n.status.state else None)
                     for n in _members(system, "ethernet_interfaces"))
        boot = system.boot
        bios = system.bios.attributes if spec.bios else {}
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
            media_image=_inserted_image(_media(root, system)),
            bios={key: bios.get(key) for key in spec.bios},
        )

    return node.bmc.read(read)


def _write(node: _Node, what: str, send: Callable[[], object], done: Callable[[], bool]) -> None:
    """Send once; when unanswered, the system's state says whether it was carried out."""
    try:
        node.bmc.write(lambda _root: send())
    except Unanswered as exc:
        if not done():
            raise node.failed(f"{what} got no usable answer ({exc.cause}) and the system does"
                              " not show it done; not sent again") from None


def _reset(node: _Node, kind: sushy.ResetType) -> bool:
    """Send a reset once; False when it went unanswered (it may or may not have happened)."""
    system = node.system()
    try:
        node.bmc.write(lambda _root: system.reset_system(kind))
    except Unanswered:
        return False
    return True


def _reset_until(node: _Node, kind: sushy.ResetType, state: str) -> None:
    """Send the reset once and wait for the power state it leads to."""
    answered = _reset(node, kind)
    if not _wait_for_power(node, state, node.spec.power_timeout):
        why = ("" if answered else
               f", the Reset({kind.value}) got no usable answer and was not sent again")
        raise node.failed(f"still {node.power()} after {node.spec.power_timeout:g}s,"
                          f" waiting for {state}{why}")


def _restart(node: _Node) -> None:
    if not _reset(node, sushy.ResetType.FORCE_RESTART):
        raise node.failed("ForceRestart got no usable answer; not sent again, as it may have"
                          " been carried out: run again to restart")
    if not _wait_for_power(node, "On", node.spec.power_timeout):
        raise node.failed(f"still {node.power()} after {node.spec.power_timeout:g}s,"
                          " waiting for On after ForceRestart")


def _power_off(node: _Node) -> None:
    """Graceful shutdown, forced off when the OS has not finished within shutdown_timeout."""
    system = node.system()
    if system.power_state == sushy.PowerState.OFF:
        return
    graceful = sushy.ResetType.GRACEFUL_SHUTDOWN
    if node.spec.shutdown_timeout > 0 and graceful in system.get_allowed_reset_system_values():
        _reset(node, graceful)
        if _wait_for_power(node, "Off", node.spec.shutdown_timeout):
            return
    _reset_until(node, sushy.ResetType.FORCE_OFF, "Off")


def _wait_for_power(node: _Node, state: str, timeout: float) -> bool:
    """Poll the power state alone (one GET of the system), backing off; True once reached."""
    deadline = time.monotonic() + timeout
    pause = POLL_FIRST
    while node.power() != state:
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        time.sleep(min(pause, left))
        pause = min(pause * 1.5, POLL_MAX)
    return True


def _set_boot(node: _Node, target: Any, enabled: Any, uri: str | None = None) -> None:
    system = node.system()

    def done() -> bool:
        boot = node.system().boot
        return bool(boot.target == target and boot.enabled == enabled)

    _write(node, "setting the boot override",
           lambda: system.set_system_boot_options(target=target, enabled=enabled,
                                                  http_boot_uri=uri), done)


def _clear_override(node: _Node) -> None:
    """Redfish's "no override" is Disabled with target None. A BMC that does not offer None
    (sushy-tools over libvirt always keeps a boot device) gets the equivalent: disk, persistent."""
    if sushy.BootSource.NONE in node.system().get_allowed_system_boot_source_values():
        _set_boot(node, sushy.BootSource.NONE, sushy.BootSourceOverrideEnabled.DISABLED)
    else:
        _set_boot(node, sushy.BootSource.HDD, sushy.BootSourceOverrideEnabled.CONTINUOUS)


def _set_bios(node: _Node, wanted: dict[str, str | int | bool]) -> bool:
    """Write only the attributes that differ; True when something was written."""
    if not wanted:
        return False
    bios = node.system().bios
    differ = {k: v for k, v in wanted.items() if bios.attributes.get(k) != v}
    if not differ:
        return False

    def done() -> bool:
        fresh = node.system().bios
        pending = fresh.pending_attributes or {}
        return all(pending.get(k, fresh.attributes.get(k)) == v for k, v in differ.items())

    _write(node, "setting BIOS attributes", lambda: bios.set_attributes(differ), done)
    return True


def _image(spec: PhysicalHostSpec) -> str | None:
    return spec.boot.image if spec.boot and spec.boot.target == "cd" else None


def _set_media(node: _Node, spec: PhysicalHostSpec, was: PhysicalHostSpec | None) -> bool:
    """Insert the wanted image (ejecting another), or eject the one we inserted before."""
    wanted, current = _image(spec), _inserted(node)
    if wanted == current:
        return False
    if wanted is None:
        if was is None or current != _image(was):
            return False  # not ours: leave it
        _eject(node)
        return True
    if current is not None:
        _eject(node)
    _insert(node, wanted)
    return True


def _drive(node: _Node) -> Any:
    drives = node.bmc.read(lambda root: [m for m in _media(root, root.get_system(node.path))
                                         if _CD_TYPES & set(m.media_types or ())])
    if not drives:
        raise UnsupportedActionError(node.spec.target(), "the BMC offers no virtual CD/DVD media")
    return drives[0]


def _inserted(node: _Node) -> str | None:
    return node.bmc.read(lambda root: _inserted_image(_media(root, root.get_system(node.path))))


def _insert(node: _Node, image: str) -> None:
    drive = _drive(node)
    _write(node, f"inserting {image}",
           lambda: drive.insert_media(image, inserted=True, write_protected=True),
           lambda: _inserted(node) == image)


def _eject(node: _Node) -> None:
    drive = _drive(node)
    _write(node, "ejecting virtual media", drive.eject_media, lambda: _inserted(node) is None)


def _roll_back(node: _Node, before: Facts, cause: BmcError) -> None:
    """Put power, media, boot override and BIOS back as `before` read them."""
    steps: list[tuple[str, Callable[[], None]]] = [
        ("power", lambda: _restore_power(node, before.power_state)),
        ("media", lambda: _restore_media(node, before.media_image)),
        ("boot override", lambda: _restore_boot(node, before)),
        ("BIOS", lambda: _restore_bios(node, before.bios)),
    ]
    for what, step in steps:
        try:
            step()
        except BmcError as exc:
            cause.add_note(f"rolling back the {what} failed too: {exc}")


def _restore_power(node: _Node, power: str) -> None:
    now = node.power()
    if power == "Off" and now != "Off":
        _reset_until(node, sushy.ResetType.FORCE_OFF, "Off")
    elif power == "On" and now == "Off":
        _reset_until(node, sushy.ResetType.ON, "On")


def _restore_media(node: _Node, image: str | None) -> None:
    current = _inserted(node)
    if current == image:
        return
    if current is not None:
        _eject(node)
    if image is not None:
        _insert(node, image)


def _restore_boot(node: _Node, before: Facts) -> None:
    boot = node.system().boot
    if _name_of(boot.target) == before.boot_target and _mode_of(boot.enabled) == before.boot_mode:
        return
    name = before.boot_target
    target = (_TARGETS.get(name) or sushy.BootSource(name)) if name else sushy.BootSource.NONE
    mode = _MODES.get(before.boot_mode or "", sushy.BootSourceOverrideEnabled.DISABLED)
    _set_boot(node, target, mode)


def _restore_bios(node: _Node, bios: dict[str, str | int | bool | None]) -> None:
    _set_bios(node, {k: v for k, v in bios.items() if v is not None})


def _inserted_image(media: list[Any]) -> str | None:
    return next((m.image for m in media if m.inserted and m.image), None)


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
