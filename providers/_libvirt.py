"""The libvirt steps behind VirtualMachine: preflight, create (or adopt), observe, apply,
remove. Each step opens its own connection through tcra.vip.libvirt_host."""

from __future__ import annotations

import contextlib
import time
import xml.etree.ElementTree as ET
from functools import partial

import libvirt
from pydantic import Field

from tcra.errors import Problem
from tcra.model.base import Model
from tcra.ownership import OwnedElsewhereError
from tcra.vip import domain_xml, seed
from tcra.vip.libvirt_host import (
    UnreachableError,
    VipError,
    connection,
    find,
    lookup_domain,
    lookup_volume,
    upload_volume,
    volume_format,
)
from tcra.vip.model import Disk, VirtualMachineSpec

POLL = 0.5
_STATES = {libvirt.VIR_DOMAIN_RUNNING: "running", libvirt.VIR_DOMAIN_PAUSED: "paused",
           libvirt.VIR_DOMAIN_SHUTOFF: "shut off", libvirt.VIR_DOMAIN_SHUTDOWN: "shutting down",
           libvirt.VIR_DOMAIN_CRASHED: "crashed", libvirt.VIR_DOMAIN_BLOCKED: "running",
           libvirt.VIR_DOMAIN_PMSUSPENDED: "suspended"}
_UNDEFINE = (libvirt.VIR_DOMAIN_UNDEFINE_NVRAM | libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE
             | libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA
             | libvirt.VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA)


class Observed(Model):
    """The domain as libvirtd has it: the resource's outputs besides its inputs."""

    uuid: str
    state: str = Field(description="running, shut off, paused, crashed, ...")
    live: domain_xml.LiveFacts
    volumes: tuple[str, ...] = Field(description="Volume paths of its disks and seed.")
    addresses: tuple[str, ...] = Field(default=(), description="Guest addresses libvirt"
                                       " knows (DHCP leases); empty without a guest OS.")

    @property
    def running(self) -> bool:
        return self.state == "running"


def preflight(spec: VirtualMachineSpec, adopting: bool = False) -> list[Problem]:
    """What the host cannot give this VM, asked read-only; [] when the host does not answer
    (create asks again and fails then, so an offline preview still works)."""
    try:
        with connection(spec.name, spec.uri, spec.timeout, read_only=True) as conn:
            return _host_problems(conn, spec, adopting)
    except UnreachableError:
        return []


def _host_problems(conn: libvirt.virConnect, spec: VirtualMachineSpec,
                   adopting: bool) -> list[Problem]:
    problems: list[Problem] = []
    where = f"VirtualMachine {spec.name}"
    cpus, online, _ = conn.getCPUMap(0)
    if spec.pinning:
        absent = [c for c in spec.pinning.host_cpus if c >= cpus or not online[c]]
        if absent:
            problems.append(Problem(where, "pinning", f"the host has online CPUs"
                                    f" {_ranges([c for c in range(cpus) if online[c]])}",
                                    absent))
        if spec.pinning.dedicated:
            problems += _pinned_by_peers(conn, spec, where)
    capabilities = ET.fromstring(conn.getCapabilities())  # noqa: S314 - libvirtd's XML
    cells = capabilities.findall("host/topology/cells/cell")
    if spec.numa_node is not None and spec.numa_node >= max(len(cells), 1):
        problems.append(Problem(where, "numa_node", f"the host has {len(cells)} NUMA node(s)",
                                spec.numa_node))
    if spec.hugepages is not None:
        problems += _hugepage_problems(conn, spec, cells, adopting)
    for index, interface in enumerate(spec.interfaces):
        if interface.network and find(partial(conn.networkLookupByName,
                                              interface.network)) is None:
            known = ", ".join(conn.listNetworks() + conn.listDefinedNetworks()) or "none"
            problems.append(Problem(where, f"interfaces.{index}.network",
                                    f"expected a network of the host ({known})",
                                    interface.network))
        if interface.vf_network:
            problems += _vf_network_problems(conn, interface.vf_network,
                                             f"interfaces.{index}.vf_network", where)
        device = "pci_" + str(interface.vf).replace(":", "_").replace(".", "_")
        if interface.vf and find(partial(conn.nodeDeviceLookupByName, device)) is None:
            problems.append(Problem(where, f"interfaces.{index}.vf", "expected a PCI device"
                                    " of the host (an SR-IOV VF)", interface.vf))
    for index, disk in enumerate(spec.disks):
        problems += _disk_problems(conn, disk, f"disks.{index}", where)
    return problems


def _pinned_by_peers(conn: libvirt.virConnect, spec: VirtualMachineSpec,
                     where: str) -> list[Problem]:
    """Dedicated CPUs that a running domain (not this VM's own) pins its vCPUs to."""
    assert spec.pinning is not None  # noqa: S101 - checked by the caller
    wanted = set(spec.pinning.cpus)
    taken: dict[int, list[str]] = {}
    for domain in conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE):
        if domain.name() == spec.name:
            continue
        for cpuset in domain_xml.facts(domain.XMLDesc(0)).vcpu_pins.values():
            for cpu in wanted & _cpus(cpuset):
                taken.setdefault(cpu, []).append(domain.name())
    if not taken:
        return []
    peers = "; ".join(f"CPU {cpu} by {', '.join(sorted(set(names)))}"
                      for cpu, names in sorted(taken.items()))
    return [Problem(where, "pinning.cpus", f"expected host CPUs no running domain pins its"
                    f" vCPUs to (dedicated), pinned already: {peers}", sorted(taken))]


def _cpus(cpuset: str) -> set[int]:
    """A libvirt cpuset ("0-3,^2,8") as CPU numbers."""
    cpus: set[int] = set()
    for part in filter(None, cpuset.split(",")):
        first, _, last = part.lstrip("^").partition("-")
        span = set(range(int(first), int(last or first) + 1))
        cpus = cpus - span if part.startswith("^") else cpus | span
    return cpus


def _vf_network_problems(conn: libvirt.virConnect, name: str, field: str,
                         where: str) -> list[Problem]:
    """A VF NIC needs a libvirt network that hands out VFs of a physical function that has
    some; a host without (the lab's machine has no SR-IOV NIC) is refused, never ignored."""
    vfs = _vf_count(conn)
    network = find(partial(conn.networkLookupByName, name))
    if network is None:
        known = ", ".join(conn.listNetworks() + conn.listDefinedNetworks()) or "none"
        return [Problem(where, field, "expected a libvirt network of SR-IOV VFs (forward"
                        f" mode='hostdev' over a physical function); the host's networks:"
                        f" {known}; its SR-IOV VFs: {vfs}", name)]
    forward = ET.fromstring(network.XMLDesc(0)).find("forward")  # noqa: S314 - libvirtd's XML
    mode = forward.get("mode", "nat") if forward is not None else "none"
    if mode != "hostdev":
        return [Problem(where, field, f"expected a network of forward mode 'hostdev' (SR-IOV"
                        f" VFs), its mode is '{mode}'; the host's SR-IOV VFs: {vfs}", name)]
    if vfs == 0:
        return [Problem(where, field, "the host has no SR-IOV VFs for the network to hand"
                        " out", name)]
    return []


def _vf_count(conn: libvirt.virConnect) -> int:
    """SR-IOV VFs the host's PCI devices expose."""
    count = 0
    for device in conn.listAllDevices(libvirt.VIR_CONNECT_LIST_NODE_DEVICES_CAP_PCI_DEV):
        root = ET.fromstring(device.XMLDesc(0))  # noqa: S314 - libvirtd's XML
        count += len(root.findall("capability/capability[@type='virt_functions']/address"))
    return count


def _hugepage_problems(conn: libvirt.virConnect, spec: VirtualMachineSpec,
                       cells: list[ET.Element], adopting: bool) -> list[Problem]:
    assert spec.hugepages is not None  # noqa: S101 - checked by the caller
    where = f"VirtualMachine {spec.name}"
    size_kib = spec.hugepages.bytes // 1024
    chosen = [c for c in cells if spec.numa_node is None
              or c.get("id") == str(spec.numa_node)] or cells
    reserved = sum(int(p.text or 0) for c in chosen for p in c.findall("pages")
                   if p.get("size") == str(size_kib))
    if reserved == 0:
        return [Problem(where, "hugepages", f"the host has no {spec.hugepages} hugepages"
                        " reserved (tcra.telco.libvirt_host reserves them)", str(spec.hugepages))]
    needed = spec.memory_max.bytes // spec.hugepages.bytes
    if adopting:
        return []
    first = int(chosen[0].get("id", "0")) if chosen and cells else 0
    free = sum(conn.getFreePages([size_kib], first, len(chosen)).get(cell, {}).get(size_kib, 0)
               for cell in range(first, first + len(chosen)))
    if free < needed:
        return [Problem(where, "memory", f"needs {needed} free {spec.hugepages} hugepages; the"
                        f" host has {free} free of {reserved} reserved", str(spec.memory_max))]
    return []


def _disk_problems(conn: libvirt.virConnect, disk: Disk, field: str,
                   where: str) -> list[Problem]:
    pool = find(partial(conn.storagePoolLookupByName, disk.pool))
    if pool is None:
        known = ", ".join(conn.listStoragePools() + conn.listDefinedStoragePools()) or "none"
        return [Problem(where, f"{field}.pool", f"expected a storage pool of the host ({known})",
                        disk.pool)]
    if disk.base_image and not pool.isActive():
        return [Problem(where, f"{field}.pool", "the pool is not active", disk.pool)]
    if disk.base_image and lookup_volume(pool, disk.base_image) is None:
        return [Problem(where, f"{field}.base_image", f"expected a volume of pool {disk.pool}",
                        disk.base_image)]
    return []


def _ranges(cpus: list[int]) -> str:
    return ",".join(str(c) for c in cpus) or "none"


def create(spec: VirtualMachineSpec, owner: str) -> Observed:
    """Volumes, seed, define, start. A domain of the same name that the same owner made from
    the same shape (a crashed earlier run) is adopted; any other is refused, untouched. When a
    step fails, what the VM owns is removed again: Pulumi records nothing for a failed create."""
    with connection(spec.name, spec.uri, spec.timeout) as conn:
        domain = lookup_domain(conn, spec.name)
        if domain is not None:
            found = _facts(domain)
            if found.owner != owner:
                raise OwnedElsewhereError(f"domain {spec.name}", spec.uri, found.owner)
            if found.shape != domain_xml.shape_digest(spec):
                raise VipError(spec.name, spec.uri, "a domain of this name exists, made by this"
                               " resource from another spec; remove it or choose another name"
                               " (it was left untouched)")
        problems = _host_problems(conn, spec, adopting=domain is not None)
        if problems:
            raise VipError(spec.name, spec.uri, "; ".join(str(p) for p in problems))
        try:
            formats = {spec.volume_name(d): _ensure_volume(conn, spec, d) for d in spec.disks}
            if spec.cloud_init is not None and spec.seed_pool is not None:
                _upload_seed(conn, spec)
            if domain is None:
                domain = conn.defineXML(domain_xml.render(spec, formats, owner))
            if spec.running and not domain.isActive():
                domain.create()
        except libvirt.libvirtError:
            _remove(conn, spec, owner)
            raise
        return _observe(conn, domain)


def _ensure_volume(conn: libvirt.virConnect, spec: VirtualMachineSpec, disk: Disk) -> str:
    """The disk's volume, cloned or empty; one a crashed run left is reused. Returns its format."""
    pool = conn.storagePoolLookupByName(disk.pool)
    name = spec.volume_name(disk)
    if (existing := lookup_volume(pool, name)) is not None:
        return volume_format(existing)
    base = lookup_volume(pool, disk.base_image) if disk.base_image else None
    fmt = volume_format(base) if base is not None else "raw"
    capacity = max(disk.size.bytes, base.info()[1] if base is not None else 0)
    xml = ET.Element("volume")
    ET.SubElement(xml, "name").text = name
    ET.SubElement(xml, "capacity", unit="bytes").text = str(capacity)
    ET.SubElement(xml, "allocation", unit="bytes").text = "0"
    ET.SubElement(ET.SubElement(xml, "target"), "format", type=fmt)
    description = ET.tostring(xml, encoding="unicode")
    if base is not None:
        pool.createXMLFrom(description, base, 0)
    else:
        pool.createXML(description, 0)
    return fmt


def _upload_seed(conn: libvirt.virConnect, spec: VirtualMachineSpec) -> None:
    assert spec.cloud_init is not None and spec.seed_pool is not None  # noqa: S101
    data = seed.iso(spec.name, spec.cloud_init)
    pool = conn.storagePoolLookupByName(spec.seed_pool)
    if (old := lookup_volume(pool, spec.seed_name)) is not None:
        old.delete(0)
    upload_volume(conn, pool, spec.seed_name, data)


def observe(spec: VirtualMachineSpec, owner: str) -> Observed | None:
    """The live domain; None when it is gone, or when the name now belongs to another owner."""
    with connection(spec.name, spec.uri, spec.timeout, read_only=True) as conn:
        domain = _owned_domain(conn, spec, owner)
        return _observe(conn, domain) if domain is not None else None


def _owned_domain(conn: libvirt.virConnect, spec: VirtualMachineSpec,
                  owner: str) -> libvirt.virDomain | None:
    """The domain of this name if `owner` made it; None when there is none or another owns it."""
    domain = lookup_domain(conn, spec.name)
    return domain if domain is not None and _facts(domain).owner == owner else None


def _facts(domain: libvirt.virDomain) -> domain_xml.LiveFacts:
    """What the domain's persistent definition says, tcra's metadata included."""
    return domain_xml.facts(domain.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))


def _observe(conn: libvirt.virConnect, domain: libvirt.virDomain) -> Observed:
    state = _STATES.get(domain.state()[0], "unknown")
    xml = domain.XMLDesc(0)
    root = ET.fromstring(xml)  # noqa: S314 - libvirtd's XML
    volumes = []
    for source in root.findall("devices/disk/source"):
        pool, volume = source.get("pool"), source.get("volume")
        if pool and volume:
            found = lookup_volume(conn.storagePoolLookupByName(pool), volume)
            volumes.append(found.path() if found is not None else f"{pool}/{volume} (missing)")
    return Observed(uuid=domain.UUIDString(), state=state,
                    live=domain_xml.facts(xml), volumes=tuple(volumes),
                    addresses=_addresses(domain) if state == "running" else ())


def _addresses(domain: libvirt.virDomain) -> tuple[str, ...]:
    try:
        interfaces = domain.interfaceAddresses(libvirt.VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_LEASE)
    except libvirt.libvirtError:
        return ()
    return tuple(sorted(address["addr"] for nic in (interfaces or {}).values()
                        for address in nic.get("addrs") or ()))


def apply(spec: VirtualMachineSpec, owner: str) -> Observed:
    """In-place changes: vCPUs and memory within their maximum, then the power state."""
    with connection(spec.name, spec.uri, spec.timeout) as conn:
        domain = _owned_domain(conn, spec, owner)
        if domain is None:
            raise VipError(spec.name, spec.uri, "the domain is gone or no longer this"
                           " resource's; refresh, then up recreates it")
        live = libvirt.VIR_DOMAIN_AFFECT_LIVE if domain.isActive() else 0
        facts = _facts(domain)
        if facts.vcpus != spec.vcpus:
            domain.setVcpusFlags(spec.vcpus, libvirt.VIR_DOMAIN_AFFECT_CONFIG | live)
        if facts.memory_kib != spec.memory.bytes // 1024:
            domain.setMemoryFlags(spec.memory.bytes // 1024,
                                  libvirt.VIR_DOMAIN_AFFECT_CONFIG | live)
        if spec.running and not domain.isActive():
            domain.create()
        elif not spec.running and domain.isActive():
            _shut_down(domain, spec.shutdown_timeout)
        return _observe(conn, domain)


def _shut_down(domain: libvirt.virDomain, timeout: float) -> None:
    """ACPI shutdown, then forced off when the guest does not comply in time."""
    with contextlib.suppress(libvirt.libvirtError):  # no ACPI handler yet: forced off below
        domain.shutdown()
    deadline = time.monotonic() + timeout
    while domain.isActive() and time.monotonic() < deadline:
        time.sleep(POLL)
    if domain.isActive():
        domain.destroy()


def remove(spec: VirtualMachineSpec, owner: str) -> None:
    """Destroy and undefine the domain (NVRAM, snapshots, saved state), then delete its volumes
    and seed. Whatever is already gone is skipped; a domain of this name that another owner
    made is not ours to remove, and neither are its volumes."""
    with connection(spec.name, spec.uri, spec.timeout) as conn:
        _remove(conn, spec, owner)


def _remove(conn: libvirt.virConnect, spec: VirtualMachineSpec, owner: str) -> None:
    domain = lookup_domain(conn, spec.name)
    if domain is not None and _facts(domain).owner != owner:
        return
    if domain is not None:
        if domain.isActive():
            domain.destroy()  # its disks go next: a graceful shutdown protects nothing
        domain.undefineFlags(_UNDEFINE)
    owned = [(d.pool, spec.volume_name(d)) for d in spec.disks]
    if spec.cloud_init is not None and spec.seed_pool is not None:
        owned.append((spec.seed_pool, spec.seed_name))
    for pool_name, volume_name in owned:
        pool = find(partial(conn.storagePoolLookupByName, pool_name))
        if pool is not None and (volume := lookup_volume(pool, volume_name)) is not None:
            volume.delete(0)
