"""What the lab offers the VIP besides libvirtd: an isolated network and a base image.

No OS image can be downloaded here, so the base image is a small raw volume with a marker at
its start: enough to prove a VM's disk was cloned from it.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import libvirt

from tcra.lab.hypervisor import lookup
from tcra.lab.nodes import pool_name
from tcra.lab.processes import run
from tcra.lab.spec import LabSpec
from tcra.vip.libvirt_host import upload_volume

BASE_MARKER = b"tcra lab base image\n"
BASE_SIZE = 16 * 1024 * 1024


def network_name(spec: LabSpec) -> str:
    return f"{spec.prefix}net"


def bridge_name(spec: LabSpec) -> str:
    return f"tcrabr-{spec.name[:8]}"  # interface names stop at 15 characters


def base_image_name(spec: LabSpec) -> str:
    return f"{spec.prefix}base.img"


def ensure_network(conn: libvirt.virConnect, spec: LabSpec) -> str:
    """A libvirt network over a bridge the lab makes: libvirt's own NAT or isolated networks
    add firewall rules to the machine (and need iptables); a bridge-mode network adds none."""
    name, bridge = network_name(spec), bridge_name(spec)
    if not Path(f"/sys/class/net/{bridge}").exists():
        _ip("link", "add", bridge, "type", "bridge")
    _ip("link", "set", bridge, "up")
    network = lookup(f"network {name}", lambda: conn.networkLookupByName(name))
    if network is None:
        xml = ET.Element("network")
        ET.SubElement(xml, "name").text = name
        ET.SubElement(xml, "forward", mode="bridge")
        ET.SubElement(xml, "bridge", name=bridge)
        network = conn.networkDefineXML(ET.tostring(xml, encoding="unicode"))
    if not network.isActive():
        network.create()
    return name


def remove_network(conn: libvirt.virConnect, spec: LabSpec) -> None:
    name = network_name(spec)
    network = lookup(f"network {name}", lambda: conn.networkLookupByName(name))
    if network is None:
        return
    if network.isActive():
        network.destroy()
    network.undefine()


def remove_bridge(spec: LabSpec) -> None:
    if Path(f"/sys/class/net/{bridge_name(spec)}").exists():
        _ip("link", "del", bridge_name(spec))


def _ip(*args: str) -> None:
    run(["ip", *args])


def ensure_base_image(conn: libvirt.virConnect, spec: LabSpec) -> str:
    pool = conn.storagePoolLookupByName(pool_name(spec))
    name = base_image_name(spec)
    if lookup(f"volume {name}", lambda: pool.storageVolLookupByName(name)) is None:
        upload_volume(conn, pool, name, BASE_MARKER, capacity=BASE_SIZE)
    return name
