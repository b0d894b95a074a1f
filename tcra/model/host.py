"""A bare-metal host: where it stands, how its BMC is reached, what it can offer workloads."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, field_validator, model_validator

from tcra.model.base import Model
from tcra.model.types import Count, CpuSet, Name, Quantity, cpuset_text

_SECRET_REF = re.compile(r"^(env:[A-Za-z_][A-Za-z0-9_]*|file:.+)$")
_HOST_NAME = re.compile(r"^[a-z0-9]([a-z0-9._-]{0,251}[a-z0-9])?$")
HUGEPAGE_SIZES = (Quantity("2Mi"), Quantity("1Gi"))


def _secret_ref(value: str) -> str:
    if not _SECRET_REF.match(value):
        raise ValueError(
            'expected a secret reference "env:VARIABLE" or "file:/path/to/file", not the secret'
        )
    return value


def _bmc_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError('expected a BMC URL like "https://10.0.0.11" or "http://127.0.0.1:8000"')
    return value.rstrip("/")


def _libvirt_uri(value: str) -> str:
    parts = urlsplit(value)
    driver = parts.scheme.split("+")[0]
    if driver != "qemu" or parts.path not in ("/system", "/session"):
        raise ValueError('expected a libvirt QEMU URI like "qemu:///system" or'
                         ' "qemu+ssh://root@hv1/system"')
    return value


def _existing_file(value: Path) -> Path:
    if not value.is_file():
        raise ValueError("expected the path of a CA bundle file that exists")
    return value


def _host_name(value: str) -> str:
    if not _HOST_NAME.match(value):
        raise ValueError("expected a lower-case host name (letters, digits, '.', '-', '_')")
    return value


SecretRef = Annotated[str, AfterValidator(_secret_ref)]
BmcUrl = Annotated[str, AfterValidator(_bmc_url)]
"""Where a secret lives (an environment variable or a file), never the secret itself."""

HostName = Annotated[str, AfterValidator(_host_name)]
CaBundle = Annotated[Path, AfterValidator(_existing_file)]
LibvirtUri = Annotated[str, AfterValidator(_libvirt_uri)]
BmcAuth = Literal["auto", "session", "basic"]


class BmcCredentials(Model):
    username: str = Field(min_length=1)
    password: SecretRef


class BmcEndpoint(Model):
    """How to reach the host's baseboard management controller over Redfish."""

    address: BmcUrl
    system_id: str = Field(min_length=1, description="Redfish ComputerSystem Id (or UUID).")
    credentials: BmcCredentials
    verify_tls: bool = True
    ca_bundle: CaBundle | None = Field(default=None,
                                       description="CA bundle to verify the BMC with.")
    auth: BmcAuth = Field(default="auto", description="Redfish session, HTTP basic, or auto"
                          " (a session when the BMC offers one, else basic).")


class HugepagePool(Model):
    size: Quantity
    count: Count = Field(ge=1)

    @field_validator("size")
    @classmethod
    def _known_size(cls, size: Quantity) -> Quantity:
        if size not in HUGEPAGE_SIZES:
            raise ValueError(f"expected a hugepage size of 2Mi or 1Gi, got {size}")
        return size


class Gpu(Model):
    model: str = Field(min_length=1)
    count: Count = Field(default=1, ge=1)


class SriovNic(Model):
    """A physical function and how many virtual functions it can expose."""

    name: str = Field(min_length=1, description="Interface name of the physical function.")
    vfs: int = Field(ge=0, le=256)
    model: str | None = None
    network: str | None = Field(default=None, min_length=1, description="libvirt network"
                                " that hands out this PF's VFs (forward mode='hostdev'):"
                                " what a VM's VF NICs name.")


class NumaNode(Model):
    """One NUMA node of a host: its CPUs and the hugepages reserved on it."""

    id: int = Field(ge=0, le=1023)
    cpus: CpuSet = Field(min_length=1)
    hugepages: tuple[HugepagePool, ...] = ()


class Capabilities(Model):
    cores: Count = Field(ge=1)
    memory: Quantity
    hugepages: tuple[HugepagePool, ...] = ()
    gpus: tuple[Gpu, ...] = ()
    sriov_nics: tuple[SriovNic, ...] = ()
    ptp: bool = False
    fpga: Count = Field(default=0, ge=0, description="Number of FPGA accelerator cards.")
    pinnable_cpus: CpuSet = Field(default=(), description="Host CPUs (0 to cores-1) a VM's"
                                  " vCPUs may be pinned to, each one VM's (usually the isolcpus"
                                  " set); the others run the host and QEMU's emulator threads."
                                  " Empty: no VM gets dedicated CPUs here.")
    numa_nodes: tuple[NumaNode, ...] = Field(default=(), description="The NUMA layout, for"
                                             " VMs that ask for one node; their hugepages add"
                                             " up to `hugepages`.")

    @model_validator(mode="after")
    def _layout(self) -> Capabilities:
        problems = []
        if outside := [c for c in self.pinnable_cpus if c >= self.cores]:
            problems.append(f"pinnable_cpus: expected CPUs 0 to {self.cores - 1} (cores),"
                            f" got {cpuset_text(tuple(outside))}")
        seen: set[int] = set()
        for index, node in enumerate(self.numa_nodes):
            if outside := [c for c in node.cpus if c >= self.cores]:
                problems.append(f"numa_nodes.{index}.cpus: expected CPUs 0 to {self.cores - 1}"
                                f" (cores), got {cpuset_text(tuple(outside))}")
            if twice := seen & set(node.cpus):
                problems.append(f"numa_nodes.{index}.cpus: CPUs {cpuset_text(tuple(twice))}"
                                " are on another node too")
            seen |= set(node.cpus)
        if len({n.id for n in self.numa_nodes}) != len(self.numa_nodes):
            problems.append("numa_nodes: expected distinct node ids")
        if self.numa_nodes:
            host = {size: sum(p.count for p in self.hugepages if p.size == size)
                    for size in HUGEPAGE_SIZES}
            nodes = {size: sum(p.count for n in self.numa_nodes for p in n.hugepages
                               if p.size == size) for size in HUGEPAGE_SIZES}
            if host != nodes:
                problems.append("numa_nodes: expected the nodes' hugepages to add up to the"
                                f" host's ({', '.join(f'{c} x {s}' for s, c in host.items())}),"
                                f" got {', '.join(f'{c} x {s}' for s, c in nodes.items())}")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def gpu_count(self) -> int:
        return sum(gpu.count for gpu in self.gpus)

    @property
    def sriov_vfs(self) -> int:
        return sum(nic.vfs for nic in self.sriov_nics)

    @property
    def hugepage_bytes(self) -> int:
        """All reserved hugepages, whatever their size."""
        return sum(pool.size.bytes * pool.count for pool in self.hugepages)


class Host(Model):
    name: HostName
    site: Name
    bmc: BmcEndpoint
    capabilities: Capabilities


class Hypervisor(Model):
    """A KVM host the VIP places virtual machines on; it needs no BMC of its own in tcra."""

    name: HostName
    site: Name
    libvirt_uri: LibvirtUri
    capabilities: Capabilities


class VmPlatform(Model):
    """Where VM workloads' disks and NICs come from on the hypervisors (variable
    tcra_vm_platform of group all, or a blueprint's own)."""

    pool: str = Field(min_length=1)
    network: str = Field(min_length=1)
    base_image: str | None = None
    disk: Quantity = Quantity("16Gi")
    ssh_authorized_keys: tuple[str, ...] = ()
