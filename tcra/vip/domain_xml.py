"""Domain XML from a VirtualMachineSpec, and the facts read back from a live domain's XML.

Built as an ElementTree: no value is ever pasted into markup as text. A digest of what
cannot change in place travels in the domain's metadata with the resource's owner, so a domain
left by a crashed run of the same stack can be recognised and adopted.
"""

from __future__ import annotations

import hashlib
import json
import xml.etree.ElementTree as ET

from pydantic import Field

from tcra.model.base import Model
from tcra.vip.model import Interface, VirtualMachineSpec

NAMESPACE = "https://tcra.dev/xmlns/vm/1"
ET.register_namespace("tcra", NAMESPACE)
# What changes in place; every other field of the spec is the VM's shape.
IN_PLACE = frozenset({"vcpus", "memory", "running", "shutdown_timeout", "timeout"})


def shape_digest(spec: VirtualMachineSpec) -> str:
    shape = spec.model_dump(mode="json", exclude=set(IN_PLACE))
    return hashlib.sha256(json.dumps(shape, sort_keys=True).encode()).hexdigest()[:32]


def render(spec: VirtualMachineSpec, disk_formats: dict[str, str], owner: str) -> str:
    """The domain XML; `disk_formats` maps each disk's volume name to its format (raw, qcow2),
    `owner` is the resource's owner (tcra.ownership)."""
    domain = ET.Element("domain", type=spec.virt_type)
    ET.SubElement(domain, "name").text = spec.name
    metadata = ET.SubElement(ET.SubElement(domain, "metadata"), f"{{{NAMESPACE}}}vm")
    ET.SubElement(metadata, f"{{{NAMESPACE}}}shape").text = shape_digest(spec)
    ET.SubElement(metadata, f"{{{NAMESPACE}}}owner").text = owner
    ET.SubElement(domain, "memory", unit="KiB").text = str(spec.memory_max.bytes // 1024)
    ET.SubElement(domain, "currentMemory", unit="KiB").text = str(spec.memory.bytes // 1024)
    if spec.hugepages is not None:
        pages = ET.SubElement(ET.SubElement(domain, "memoryBacking"), "hugepages")
        ET.SubElement(pages, "page", size=str(spec.hugepages.bytes // 1024), unit="KiB")
    ET.SubElement(domain, "vcpu", placement="static",
                  current=str(spec.vcpus)).text = str(spec.vcpus_max)
    if spec.pinning:
        tune = ET.SubElement(domain, "cputune")
        for vcpu, cpu in enumerate(spec.pinning.cpus):
            ET.SubElement(tune, "vcpupin", vcpu=str(vcpu), cpuset=str(cpu))
        if spec.pinning.emulator_cpus:
            ET.SubElement(tune, "emulatorpin", cpuset=_cpuset(spec.pinning.emulator_cpus))
    if spec.numa_node is not None:
        ET.SubElement(ET.SubElement(domain, "numatune"), "memory", mode="strict",
                      nodeset=str(spec.numa_node))
    os_ = ET.SubElement(domain, "os")
    ET.SubElement(os_, "type", arch="x86_64").text = "hvm"
    ET.SubElement(os_, "boot", dev="hd")
    features = ET.SubElement(domain, "features")
    ET.SubElement(features, "acpi")
    ET.SubElement(features, "apic")
    if spec.virt_type == "kvm":
        ET.SubElement(domain, "cpu", mode="host-passthrough")
    devices = ET.SubElement(domain, "devices")
    for index, disk in enumerate(spec.disks):
        volume = spec.volume_name(disk)
        element = ET.SubElement(devices, "disk", type="volume", device="disk")
        ET.SubElement(element, "driver", name="qemu", type=disk_formats.get(volume, "raw"))
        ET.SubElement(element, "source", pool=disk.pool, volume=volume)
        ET.SubElement(element, "target", dev=f"vd{chr(ord('a') + index)}", bus="virtio")
    if spec.cloud_init is not None and spec.seed_pool is not None:
        seed = ET.SubElement(devices, "disk", type="volume", device="cdrom")
        ET.SubElement(seed, "driver", name="qemu", type="raw")
        ET.SubElement(seed, "source", pool=spec.seed_pool, volume=spec.seed_name)
        ET.SubElement(seed, "target", dev="sda", bus="sata")
        ET.SubElement(seed, "readonly")
    for interface in spec.interfaces:
        _interface(devices, interface)
    ET.SubElement(devices, "serial", type="pty")
    ET.SubElement(devices, "memballoon", model="virtio")
    return ET.tostring(domain, encoding="unicode")


def _interface(devices: ET.Element, interface: Interface) -> None:
    element = ET.SubElement(devices, "interface", type=interface.kind)
    if interface.kind == "hostdev":
        element.set("managed", "yes")
        domain, bus, rest = str(interface.vf).split(":")
        slot, function = rest.split(".")
        ET.SubElement(ET.SubElement(element, "source"), "address", type="pci",
                      domain=f"0x{domain}", bus=f"0x{bus}", slot=f"0x{slot}",
                      function=f"0x{function}")
        if interface.vlan is not None:
            ET.SubElement(ET.SubElement(element, "vlan"), "tag", id=str(interface.vlan))
    elif interface.vf_network:  # libvirt picks a free VF of the network's PF at start
        ET.SubElement(element, "source", network=interface.vf_network)
        if interface.vlan is not None:
            ET.SubElement(ET.SubElement(element, "vlan"), "tag", id=str(interface.vlan))
    else:
        source = ET.SubElement(element, "source")
        source.set(interface.kind, str(interface.network or interface.bridge))
        ET.SubElement(element, "model", type="virtio")
    if interface.mac:
        ET.SubElement(element, "mac", address=interface.mac)


def _cpuset(cpus: tuple[int, ...]) -> str:
    return ",".join(str(cpu) for cpu in sorted(set(cpus)))


class LiveFacts(Model):
    """What the live domain XML says: the drift a refresh shows."""

    shape: str | None = Field(description="The shape digest tcra wrote; none: not tcra's.")
    owner: str | None = Field(default=None, description="The owner tcra wrote (tcra.ownership).")
    vcpus: int
    max_vcpus: int
    memory_kib: int
    max_memory_kib: int
    vcpu_pins: dict[str, str] = Field(description="vCPU -> host cpuset, as libvirt reports.")
    emulator_pin: str | None
    hugepage_kib: int | None
    macs: tuple[str, ...]


def facts(xml: str) -> LiveFacts:
    root = ET.fromstring(xml)  # noqa: S314 - the XML comes from libvirtd, not from users
    vcpu = root.find("vcpu")
    page = root.find("memoryBacking/hugepages/page")
    emulator = root.find("cputune/emulatorpin")
    return LiveFacts(
        shape=root.findtext(f"metadata/{{{NAMESPACE}}}vm/{{{NAMESPACE}}}shape"),
        owner=root.findtext(f"metadata/{{{NAMESPACE}}}vm/{{{NAMESPACE}}}owner"),
        vcpus=int(vcpu.get("current", vcpu.text or "1")) if vcpu is not None else 1,
        max_vcpus=int(vcpu.text or "1") if vcpu is not None else 1,
        memory_kib=_kib(root.find("currentMemory")),
        max_memory_kib=_kib(root.find("memory")),
        vcpu_pins={p.get("vcpu", ""): p.get("cpuset", "")
                   for p in root.findall("cputune/vcpupin")},
        emulator_pin=emulator.get("cpuset") if emulator is not None else None,
        hugepage_kib=_kib(page, attribute="size") if page is not None else None,
        macs=tuple(m.get("address", "") for m in root.findall("devices/interface/mac")),
    )


def _kib(element: ET.Element | None, attribute: str | None = None) -> int:
    if element is None:
        return 0
    value = int((element.get(attribute) if attribute else element.text) or "0")
    factor = {"b": 1 / 1024, "bytes": 1 / 1024, "KiB": 1, "k": 1, "MiB": 1024, "M": 1024,
              "GiB": 1024**2, "G": 1024**2}.get(element.get("unit", "KiB"), 1)
    return int(value * factor)
