"""A virtual machine as the VIP declares it: typed, validated before libvirt is asked anything.

The checks here need no hypervisor; what depends on the host (its CPUs, its reserved
hugepages, its networks and pools) is checked against the live host in `tcra.vip.preflight`.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, model_validator

from tcra.model.base import Model
from tcra.model.host import HUGEPAGE_SIZES, LibvirtUri
from tcra.model.types import Quantity

_DOMAIN_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_PCI = re.compile(r"^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$")
_MAC = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")
_VOLUME_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def _domain_name(value: str) -> str:
    if not _DOMAIN_NAME.match(value):
        raise ValueError("expected a domain name that is also the guest's host name: lower-case"
                         " letters, digits and '-', 1 to 63 characters, no '-' at either end")
    return value


def _pci_address(value: str) -> str:
    if not _PCI.match(value):
        raise ValueError('expected a PCI address like "0000:3b:02.1"')
    return value


def _mac(value: str) -> str:
    if not _MAC.match(value):
        raise ValueError('expected a lower-case MAC address like "52:54:00:12:34:56"')
    return value


def _volume_name(value: str) -> str:
    if not _VOLUME_NAME.match(value):
        raise ValueError("expected a storage volume name (letters, digits, '.', '_', '-')")
    return value


DomainName = Annotated[str, AfterValidator(_domain_name)]
PciAddress = Annotated[str, AfterValidator(_pci_address)]
MacAddress = Annotated[str, AfterValidator(_mac)]
VolumeName = Annotated[str, AfterValidator(_volume_name)]


class Disk(Model):
    """A volume the VM owns: cloned from a base image in the same pool, or empty."""

    name: str = Field(default="root", pattern=r"^[a-z][a-z0-9]{0,15}$",
                      description="Suffix of the volume name <vm>-<name>.")
    pool: str = Field(min_length=1, description="libvirt storage pool.")
    size: Quantity = Field(description="Capacity; a clone grows the base image to this size.")
    base_image: VolumeName | None = Field(default=None, description="Volume in the pool to"
                                          " clone from; none: an empty disk.")

    @model_validator(mode="after")
    def _has_room(self) -> Disk:
        if self.size.bytes < 1024 * 1024:
            raise ValueError(f"size: expected at least 1Mi, got {self.size}")
        return self


class Interface(Model):
    """One NIC: a libvirt network, a host bridge, or an SR-IOV VF passed through, by its PCI
    address or handed out at start by a libvirt network of VFs."""

    network: str | None = Field(default=None, description="libvirt network name.")
    bridge: str | None = Field(default=None, max_length=15, description="Host bridge name.")
    vf: PciAddress | None = Field(default=None, description="PCI address of an SR-IOV VF.")
    vf_network: str | None = Field(default=None, min_length=1, description="libvirt network"
                                   " of SR-IOV VFs (forward mode='hostdev' over a physical"
                                   " function): a free VF of it, passed through at start.")
    mac: MacAddress | None = None
    vlan: int | None = Field(default=None, ge=1, le=4094, description="VF VLAN tag.")

    @model_validator(mode="after")
    def _one_kind(self) -> Interface:
        given = [k for k in ("network", "bridge", "vf", "vf_network") if getattr(self, k)]
        if len(given) != 1:
            raise ValueError(f"expected exactly one of network, bridge, vf or vf_network; got"
                             f" {', '.join(given) or 'none'}")
        if self.vlan is not None and self.vf is None and self.vf_network is None:
            raise ValueError("vlan is set on SR-IOV VFs (vf, vf_network) only")
        return self

    @property
    def kind(self) -> Literal["network", "bridge", "hostdev"]:
        return "network" if self.network or self.vf_network else \
            "bridge" if self.bridge else "hostdev"


class Pinning(Model):
    """vCPU i runs on host CPU cpus[i]; QEMU's own threads on emulator_cpus."""

    cpus: tuple[int, ...] = Field(min_length=1, description="One host CPU per vCPU, in order.")
    emulator_cpus: tuple[int, ...] = Field(default=(), description="Host CPUs for the emulator"
                                           " threads; none: not pinned.")
    dedicated: bool = Field(default=False, description="The vCPUs' host CPUs are this VM's"
                            " alone: check refuses CPUs a running domain pins vCPUs to.")

    @model_validator(mode="after")
    def _non_negative(self) -> Pinning:
        if any(cpu < 0 for cpu in (*self.cpus, *self.emulator_cpus)):
            raise ValueError("host CPU numbers start at 0")
        return self

    @property
    def host_cpus(self) -> tuple[int, ...]:
        return tuple(sorted({*self.cpus, *self.emulator_cpus}))


class CloudInit(Model):
    """A NoCloud seed: attached as a CD-ROM labelled cidata, read by cloud-init at first boot."""

    user_data: str | None = Field(default=None, description="A #cloud-config document; may"
                                  " carry secrets, so outputs keep it secret.")
    ssh_authorized_keys: tuple[str, ...] = ()
    network_config: dict[str, Any] | None = Field(default=None, description="Network config"
                                                  " version 2 (netplan shape).")

    @model_validator(mode="after")
    def _cloud_config(self) -> CloudInit:
        if self.user_data is not None and not self.user_data.startswith("#cloud-config"):
            raise ValueError('user_data: expected a document starting with "#cloud-config"')
        return self


class MachineShape(Model):
    """What a VM is, wherever it runs and whatever it is called: a VMCluster's template."""

    virt_type: Literal["kvm", "qemu"] = Field(default="kvm", description="qemu: emulation,"
                                              " for hosts without /dev/kvm.")
    vcpus: int = Field(default=1, ge=1, le=512)
    max_vcpus: int | None = Field(default=None, ge=1, le=512, description="vCPUs it may grow"
                                  " to in place; default: vcpus.")
    memory: Quantity = Quantity("512Mi")
    max_memory: Quantity | None = Field(default=None, description="Memory it may grow to in"
                                        " place; default: memory.")
    pinning: Pinning | None = None
    numa_node: int | None = Field(default=None, ge=0, description="Host NUMA node to take"
                                  " memory (and hugepages) from, strictly.")
    hugepages: Quantity | None = Field(default=None, description="Back memory with hugepages"
                                       " of this size: 2Mi or 1Gi.")
    disks: tuple[Disk, ...] = ()
    interfaces: tuple[Interface, ...] = ()
    cloud_init: CloudInit | None = None
    running: bool = True
    shutdown_timeout: float = Field(default=30.0, ge=0, description="Seconds of ACPI shutdown"
                                    " before the VM is forced off.")
    timeout: float = Field(default=30.0, gt=0, le=600, description="Seconds to connect to"
                           " libvirt; remote connections also fail after missed keepalives.")

    @model_validator(mode="after")
    def _consistent(self) -> MachineShape:
        problems = []
        if self.max_vcpus is not None and self.max_vcpus < self.vcpus:
            problems.append(f"max_vcpus: expected at least vcpus ({self.vcpus}),"
                            f" got {self.max_vcpus}")
        if self.max_memory is not None and self.max_memory < self.memory:
            problems.append(f"max_memory: expected at least memory ({self.memory}),"
                            f" got {self.max_memory}")
        if self.pinning and len(self.pinning.cpus) != self.vcpus_max:
            problems.append(f"pinning.cpus: expected one host CPU for each of the"
                            f" {self.vcpus_max} vCPUs, got {len(self.pinning.cpus)}")
        if self.hugepages is not None:
            if self.hugepages not in HUGEPAGE_SIZES:
                problems.append(f"hugepages: expected 2Mi or 1Gi, got {self.hugepages}")
            else:
                for field, amount in (("memory", self.memory), ("max_memory", self.max_memory)):
                    if amount is not None and amount.bytes % self.hugepages.bytes:
                        problems.append(f"{field}: expected a multiple of the hugepage size"
                                        f" {self.hugepages}, got {amount}")
        if self.memory.bytes % 1024:
            problems.append(f"memory: expected whole KiB, got {self.memory.bytes} bytes")
        names = [d.name for d in self.disks]
        if len(set(names)) != len(names):
            problems.append(f"disks: expected distinct disk names, got {names}")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def vcpus_max(self) -> int:
        return self.max_vcpus or self.vcpus

    @property
    def memory_max(self) -> Quantity:
        return self.max_memory or self.memory

    @model_validator(mode="after")
    def _seed_needs_a_pool(self) -> MachineShape:
        if self.cloud_init is not None and not self.disks:
            raise ValueError("cloud_init: the seed is stored in the first disk's pool;"
                             " add a disk")
        return self

    @property
    def seed_pool(self) -> str | None:
        """The seed lives next to the first disk."""
        return self.disks[0].pool if self.disks else None


class VirtualMachineSpec(MachineShape):
    """One libvirt domain and what it owns: its volumes and its seed."""

    name: DomainName
    uri: LibvirtUri = "qemu:///system"

    def volume_name(self, disk: Disk) -> str:
        return f"{self.name}-{disk.name}"

    @property
    def seed_name(self) -> str:
        return f"{self.name}-seed.iso"
