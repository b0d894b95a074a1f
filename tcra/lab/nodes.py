"""The lab's virtual bare-metal nodes: libvirt domains with a blank disk and no OS, powered off
until claimed."""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from functools import partial
from pathlib import Path

import libvirt

from tcra.lab.hypervisor import lookup
from tcra.lab.spec import LabSpec, Node

# The two lab sites, in the order nodes are dealt to them.
LAB_SITES = ("lab_factory", "lab_faredge")
DOMAIN_LOG_DIR = Path("/var/log/libvirt/qemu")

_STATES = {
    libvirt.VIR_DOMAIN_RUNNING: "running",
    libvirt.VIR_DOMAIN_BLOCKED: "running",
    libvirt.VIR_DOMAIN_PAUSED: "paused",
    libvirt.VIR_DOMAIN_SHUTDOWN: "shutting down",
    libvirt.VIR_DOMAIN_SHUTOFF: "shut off",
    libvirt.VIR_DOMAIN_CRASHED: "crashed",
    libvirt.VIR_DOMAIN_PMSUSPENDED: "suspended",
}


def node_name(spec: LabSpec, index: int) -> str:
    return f"{spec.prefix}node-{index}"


def disk_path(spec: LabSpec, name: str) -> Path:
    return spec.state_dir / "disks" / f"{name}.img"


def domain_xml(spec: LabSpec, name: str, site: str) -> str:
    """Domain XML built as a tree, so no value is ever pasted into markup as text."""
    kvm = os.access("/dev/kvm", os.R_OK | os.W_OK)
    domain = ET.Element("domain", type="kvm" if kvm else "qemu")
    ET.SubElement(domain, "name").text = name
    ET.SubElement(domain, "description").text = f"tcra lab {spec.name}, site {site}"
    ET.SubElement(domain, "memory", unit="KiB").text = str(spec.memory.bytes // 1024)
    ET.SubElement(domain, "vcpu").text = str(spec.vcpus)
    os_ = ET.SubElement(domain, "os")
    ET.SubElement(os_, "type", arch="x86_64").text = "hvm"
    ET.SubElement(os_, "boot", dev="network")
    ET.SubElement(os_, "boot", dev="hd")
    features = ET.SubElement(domain, "features")
    ET.SubElement(features, "acpi")
    devices = ET.SubElement(domain, "devices")
    disk = ET.SubElement(devices, "disk", type="file", device="disk")
    ET.SubElement(disk, "driver", name="qemu", type="raw")
    ET.SubElement(disk, "source", file=str(disk_path(spec, name)))
    ET.SubElement(disk, "target", dev="vda", bus="virtio")
    # A NIC gives the node a MAC for inventory; unattached, so no traffic leaves the host.
    nic = ET.SubElement(devices, "interface", type="ethernet")
    ET.SubElement(nic, "model", type="virtio")
    ET.SubElement(nic, "rom", enabled="no")
    return ET.tostring(domain, encoding="unicode")


def converge(conn: libvirt.virConnect, spec: LabSpec) -> tuple[Node, ...]:
    """Define exactly spec.nodes nodes; keep the ones that exist, remove the ones beyond."""
    wanted = {node_name(spec, i): LAB_SITES[i % len(LAB_SITES)] for i in range(spec.nodes)}
    for domain in conn.listAllDomains():
        if domain.name().startswith(f"{spec.prefix}node-") and domain.name() not in wanted:
            remove(conn, domain.name())
            disk_path(spec, domain.name()).unlink(missing_ok=True)
    nodes = []
    for name, site in wanted.items():
        domain = lookup(f"node {name}", partial(conn.lookupByName, name))
        if domain is None:
            disk = disk_path(spec, name)
            disk.parent.mkdir(parents=True, exist_ok=True)
            with disk.open("wb") as blank:  # sparse: takes no space until written
                blank.truncate(spec.disk.bytes)
            domain = conn.defineXML(domain_xml(spec, name, site))
        nodes.append(Node(name=name, uuid=domain.UUIDString(), site=site))
    return tuple(nodes)


def remove(conn: libvirt.virConnect, name: str) -> None:
    """Power off and undefine; a node already gone is fine."""
    domain = lookup(f"node {name}", lambda: conn.lookupByName(name))
    if domain is None:
        return
    if domain.isActive():
        domain.destroy()
    domain.undefineFlags(libvirt.VIR_DOMAIN_UNDEFINE_NVRAM
                         | libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE
                         | libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA)
    (DOMAIN_LOG_DIR / f"{name}.log").unlink(missing_ok=True)


def pool_name(spec: LabSpec) -> str:
    return f"{spec.prefix}pool"


def ensure_pool(conn: libvirt.virConnect, spec: LabSpec) -> str:
    """A directory storage pool the BMC uploads virtual-media images into."""
    name = pool_name(spec)
    pool = lookup(f"storage pool {name}", lambda: conn.storagePoolLookupByName(name))
    if pool is None:
        path = spec.state_dir / "pool"
        path.mkdir(parents=True, exist_ok=True)
        xml = ET.Element("pool", type="dir")
        ET.SubElement(xml, "name").text = name
        ET.SubElement(ET.SubElement(xml, "target"), "path").text = str(path)
        pool = conn.storagePoolDefineXML(ET.tostring(xml, encoding="unicode"))
    if not pool.isActive():
        pool.create()
    return name


def remove_pool(conn: libvirt.virConnect, spec: LabSpec) -> None:
    name = pool_name(spec)
    pool = lookup(f"storage pool {name}", lambda: conn.storagePoolLookupByName(name))
    if pool is None:
        return
    if pool.isActive():
        for volume in pool.listAllVolumes():
            volume.delete()
        pool.destroy()
    pool.undefine()


def lab_domains(conn: libvirt.virConnect, spec: LabSpec) -> list[str]:
    """Domains named like the lab's: its nodes and anything else given its prefix."""
    return sorted(d.name() for d in conn.listAllDomains() if d.name().startswith(spec.prefix))


def is_node(spec: LabSpec, name: str) -> bool:
    """Named as `up` names nodes (also one an interrupted `up` defined before saving state)."""
    index = name.removeprefix(f"{spec.prefix}node-")
    return index != name and index.isdigit()


def power_state(conn: libvirt.virConnect, name: str) -> str:
    domain = lookup(f"node {name}", lambda: conn.lookupByName(name))
    if domain is None:
        return "missing"
    state, _reason = domain.state()
    return _STATES.get(state, "unknown")
