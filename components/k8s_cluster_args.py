"""K8sCluster's arguments, and every check they go through before anything is declared.

Machines are what Metal3 provisions: bare-metal hosts from the inventory, or VMs exposed through a
Redfish emulator (sushy-tools), which Metal3 cannot tell apart from bare metal. The control plane
and each node pool get machines by name, or by capability from those left over.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Literal
from urllib.parse import quote, urlsplit

import pulumi_kubernetes as k8s
from pydantic import ConfigDict, Field
from tcra.components.physical_pool import HostFilter
from tcra.components.workload_chart import Chart, chart_problems

from tcra.capi._meta import (
    DNS_LABEL_EXPECTED,
    MAX_LABEL,
    is_dns_label,
    is_label_key,
    is_label_value,
)
from tcra.capi.metal3 import MAC, Image
from tcra.errors import Problem
from tcra.model import Capabilities, Host, Quantity
from tcra.model.base import Model
from tcra.model.host import BmcCredentials, BmcEndpoint, HugepagePool

Distribution = Literal["kubeadm", "rke2"]
BmcDriver = Literal["redfish", "redfish-virtualmedia", "idrac-virtualmedia"]
CONTROL_PLANE = "control-plane"
HASH_LENGTH = 8
# Every name tcra derives must still be a DNS label: "<cluster>-cp-<hash>" is the longest one the
# cluster name alone decides, "<cluster>-<pool>-<hash>" the longest a pool decides.
MAX_CLUSTER_NAME = MAX_LABEL - len("-cp-") - HASH_LENGTH
RESERVED_POOL_NAMES = frozenset({"cp", CONTROL_PLANE})
MIN_KUBELET_PATCH_MINOR = 25  # kubeadm patches the KubeletConfiguration from v1.25 on
VERSIONS = {
    "kubeadm": (re.compile(r"^v1\.(\d+)\.(\d+)$"),
                'expected a Kubernetes version kubeadm takes, like "v1.30.4" (v1.MINOR.PATCH)'),
    "rke2": (re.compile(r"^v1\.(\d+)\.(\d+)\+rke2r(\d+)$"),
             'expected an RKE2 release, like "v1.30.4+rke2r1" (v1.MINOR.PATCH+rke2rN)'),
}
_CPUSET = re.compile(r"^\d+(-\d+)?(,\d+(-\d+)?)*$")


class Machine(Model):
    """A server Metal3 can provision, known by its Redfish BMC."""

    name: str = Field(description="The BareMetalHost's name, and the node's host name.")
    bmc: BmcEndpoint
    driver: BmcDriver = Field(default="redfish-virtualmedia", description="Ironic driver:"
                              " virtual media boots an ISO the BMC mounts; redfish boots PXE.")
    boot_mac: str | None = Field(default=None, description="MAC of the NIC that boots (PXE).")
    boot_mode: Literal["UEFI", "UEFISecureBoot", "legacy"] = "UEFI"
    root_device: str | None = Field(default=None, description="Disk to install on (/dev/...).")
    capabilities: Capabilities | None = Field(default=None, description="What it offers, to"
                                              " select it and to check node features against.")

    @property
    def bmc_address(self) -> str:
        """The BareMetalHost's spec.bmc.address: driver, transport, and the Redfish system."""
        parts = urlsplit(self.bmc.address)
        system = quote(self.bmc.system_id, safe="")
        return f"{self.driver}+{parts.scheme}://{parts.netloc}/redfish/v1/Systems/{system}"


class EmulatedVm(Model):
    """A libvirt domain that a Redfish emulator (sushy-tools) presents as a bare-metal system."""

    name: str
    domain_uuid: str = Field(min_length=1, description="The libvirt domain's UUID: the"
                             " emulator's Redfish system id.")
    boot_mac: str | None = None
    capabilities: Capabilities | None = None


def machines_from_hosts(hosts: Iterable[Host], *,
                        driver: BmcDriver = "redfish-virtualmedia") -> tuple[Machine, ...]:
    """Machines for inventory hosts: their BMC, credential references and capabilities."""
    return tuple(Machine(name=host.name, bmc=host.bmc, driver=driver,
                         capabilities=host.capabilities) for host in hosts)


def machines_from_vms(vms: Iterable[EmulatedVm], *, emulator: str, credentials: BmcCredentials,
                      driver: BmcDriver = "redfish-virtualmedia") -> tuple[Machine, ...]:
    """Machines for VMs behind a Redfish emulator at `emulator` (http://host:port), as
    metal3-dev-env runs them: Metal3 provisions them exactly like bare metal."""
    return tuple(Machine(name=vm.name, driver=driver, boot_mac=vm.boot_mac,
                         capabilities=vm.capabilities,
                         bmc=BmcEndpoint(address=emulator, system_id=vm.domain_uuid,
                                         credentials=credentials)) for vm in vms)


class NodeFeatures(Model):
    """What telco workloads need from the kubelet and the kernel of a group of nodes."""

    cpu_manager_policy: Literal["none", "static"] = Field(
        default="none", description="static: pods with whole-CPU requests get exclusive CPUs.")
    topology_manager_policy: Literal["none", "best-effort", "restricted", "single-numa-node"] = (
        "none")
    reserved_cpus: str | None = Field(default=None, description='CPUs kept for the system and'
                                      ' the kubelet, a cpuset like "0-1,32-33".')
    hugepages: tuple[HugepagePool, ...] = ()
    labels: dict[str, str] = Field(default_factory=dict, description="Extra node labels.")

    @property
    def tunes_kubelet(self) -> bool:
        return (self.cpu_manager_policy != "none" or self.topology_manager_policy != "none"
                or self.reserved_cpus is not None)


class ControlPlane(Model):
    replicas: int = Field(default=1, ge=1)
    machines: tuple[str, ...] = Field(default=(), description="Machine names; empty: select.")
    select: HostFilter | None = Field(default=None, description="Capabilities a machine needs"
                                      " to be selected (when `machines` is empty).")
    features: NodeFeatures = NodeFeatures()
    image: Image | None = Field(default=None, description="Defaults to the cluster's image.")
    max_surge: Literal[0, 1] | None = Field(default=None, description="Machines added before"
                                            " one is removed in a rollout; default 1 below 3"
                                            " replicas (then a spare machine is needed), else 0.")

    @property
    def surge(self) -> Literal[0, 1]:
        if self.max_surge is not None:
            return self.max_surge
        return 1 if self.replicas < 3 else 0


class NodePool(Model):
    name: str
    replicas: int = Field(ge=0)
    machines: tuple[str, ...] = Field(default=(), description="Machine names; empty: select.")
    select: HostFilter | None = None
    features: NodeFeatures = NodeFeatures()
    image: Image | None = None
    max_surge: int = Field(default=0, ge=0, description="Bare metal has no spare by default:"
                           " roll by removing one machine, then adding its successor.")
    max_unavailable: int = Field(default=1, ge=0)


class ApiEndpoint(Model):
    """Where the workload cluster's API server answers: a virtual IP or a load balancer."""

    host: str
    port: int = Field(default=6443, ge=1, le=65535)


class Network(Model):
    pods: tuple[str, ...] = ("10.244.0.0/16",)
    services: tuple[str, ...] = ("10.96.0.0/12",)
    service_domain: str = "cluster.local"


class AddOns(Model):
    """Helm charts released onto the workload cluster once it answers."""

    cni: Chart | None = Field(default=None, description="Primary CNI; kubeadm clusters need one"
                              " (RKE2 brings its own, see rke2_cni).")
    multus: Chart | None = None
    sriov: Chart | None = Field(default=None, description="SR-IOV device plugin (or operator).")
    ptp: Chart | None = None
    extra: tuple[Chart, ...] = ()

    def charts(self) -> Iterator[tuple[str, Chart]]:
        """(key, chart), CNI first: the order they are released in."""
        for key in ("cni", "multus", "sriov", "ptp"):
            chart = getattr(self, key)
            if chart is not None:
                yield key, chart
        for index, chart in enumerate(self.extra):
            yield f"extra-{index}", chart


class K8sClusterArgs(Model):
    """A workload cluster declared as Cluster API objects on a management cluster."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    name: str
    namespace: str = Field(default="default", description="Namespace of the Cluster API objects"
                           " on the management cluster; it must exist.")
    distribution: Distribution = "kubeadm"
    kubernetes_version: str
    endpoint: ApiEndpoint
    image: Image = Field(description="OS image Metal3 writes to every machine.")
    machines: tuple[Machine, ...]
    control_plane: ControlPlane = ControlPlane()
    pools: tuple[NodePool, ...] = ()
    network: Network = Network()
    addons: AddOns = AddOns()
    rke2_cni: Literal["none", "calico", "canal", "cilium"] = "canal"
    management: k8s.Provider = Field(description="The management cluster, passed explicitly.")
    control_plane_timeout: str = Field(default="60m", pattern=r"^\d+[mh]$", description="How"
                                       " long an up waits for the control plane to initialize.")


@dataclass(frozen=True)
class Group:
    """The control plane or one node pool, with the machines it was given."""

    key: str
    field: str
    replicas: int
    surge: int
    features: NodeFeatures
    image: Image
    machines: tuple[Machine, ...]

    @property
    def short_of_spares(self) -> str | None:
        """Why a rolling upgrade of this group would wait, if it would."""
        if len(self.machines) >= self.replicas + self.surge:
            return None
        return (f"{self.field}: {self.replicas} replicas with max_surge {self.surge} need"
                f" {self.replicas + self.surge} machines and have {len(self.machines)}; a"
                " rolling upgrade will wait for a free machine")


def groups_of(args: K8sClusterArgs) -> list[tuple[str, str, ControlPlane | NodePool]]:
    """(key, field path, settings) of the control plane and each pool, in declaration order."""
    cp: list[tuple[str, str, ControlPlane | NodePool]] = [
        (CONTROL_PLANE, "control_plane", args.control_plane)]
    return cp + [(pool.name, f"pools.{i}", pool) for i, pool in enumerate(args.pools)]


def check(args: K8sClusterArgs) -> tuple[list[Group], list[Problem]]:
    """The machines of each group, and every problem with the arguments."""
    where = f"K8sCluster {args.name}"
    problems = [*_name_problems(args, where), *_version_problems(args, where),
                *_machine_problems(args, where), *_network_problems(args, where)]
    if args.control_plane.replicas % 2 == 0:
        problems.append(Problem(where, "control_plane.replicas", "expected an odd number"
                                " (1, 3, 5): stacked etcd needs a majority of members to keep"
                                " quorum, and an even count tolerates no more failures than"
                                " one less", args.control_plane.replicas))
    if args.control_plane.surge == 0 and args.control_plane.replicas < 3:
        problems.append(Problem(where, "control_plane.max_surge", "expected 1 below 3 replicas:"
                                " removing a control-plane machine first would lose etcd"
                                " quorum", 0))
    for index, pool in enumerate(args.pools):
        if pool.max_surge == 0 and pool.max_unavailable == 0:
            problems.append(Problem(where, f"pools.{index}.max_unavailable", "expected at least"
                                    " 1 when max_surge is 0, or a rollout never progresses", 0))
    for key, chart in args.addons.charts():
        field = f"addons.{key.replace('-', '.')}"
        problems.extend(chart_problems(chart, where, field))
    groups, assignment_problems = _assign(args, where)
    problems.extend(assignment_problems)
    for group in groups:
        problems.extend(_feature_problems(args, group, where))
    return groups, problems


def _name_problems(args: K8sClusterArgs, where: str) -> Iterator[Problem]:
    if not is_dns_label(args.name) or len(args.name) > MAX_CLUSTER_NAME:
        yield Problem(where, "name", f"expected {DNS_LABEL_EXPECTED}, and at most"
                      f" {MAX_CLUSTER_NAME} characters so that names derived from it"
                      f" ('{args.name}-cp-<hash>') fit in {MAX_LABEL}", args.name)
    if not is_dns_label(args.namespace):
        yield Problem(where, "namespace", f"expected {DNS_LABEL_EXPECTED}", args.namespace)
    seen: set[str] = set()
    for index, pool in enumerate(args.pools):
        field = f"pools.{index}.name"
        derived = f"{args.name}-{pool.name}-{'0' * HASH_LENGTH}"
        if not is_dns_label(pool.name):
            yield Problem(where, field, f"expected {DNS_LABEL_EXPECTED}", pool.name)
        elif len(derived) > MAX_LABEL:
            yield Problem(where, field, f"expected a shorter name: '{args.name}-{pool.name}-"
                          f"<hash>' has {len(derived)} characters, at most {MAX_LABEL} fit",
                          pool.name)
        if pool.name in RESERVED_POOL_NAMES:
            yield Problem(where, field, "expected a name other than 'cp' and 'control-plane',"
                          " which name the control plane's objects", pool.name)
        if pool.name in seen:
            yield Problem(where, field, "expected a name no other pool has", pool.name)
        seen.add(pool.name)


def kubernetes_minor(args: K8sClusterArgs) -> int | None:
    pattern, _ = VERSIONS[args.distribution]
    match = pattern.match(args.kubernetes_version)
    return int(match[1]) if match else None


def _version_problems(args: K8sClusterArgs, where: str) -> Iterator[Problem]:
    if kubernetes_minor(args) is None:
        yield Problem(where, "kubernetes_version", VERSIONS[args.distribution][1],
                      args.kubernetes_version)


def _machine_problems(args: K8sClusterArgs, where: str) -> Iterator[Problem]:
    names: set[str] = set()
    systems: dict[tuple[str, str], str] = {}
    for index, machine in enumerate(args.machines):
        field = f"machines.{index}"
        if not is_dns_label(machine.name):
            yield Problem(where, f"{field}.name", f"expected {DNS_LABEL_EXPECTED}: it names the"
                          " BareMetalHost and the node", machine.name)
        if machine.name in names:
            yield Problem(where, f"{field}.name", "expected a name no other machine has",
                          machine.name)
        names.add(machine.name)
        system = (machine.bmc.address, machine.bmc.system_id)
        if system in systems:
            yield Problem(where, f"{field}.bmc.system_id", f"expected a system no other machine"
                          f" claims; machine {systems[system]} has it", machine.bmc.system_id)
        systems.setdefault(system, machine.name)
        if machine.boot_mac is not None and not re.match(MAC, machine.boot_mac):
            yield Problem(where, f"{field}.boot_mac", 'expected a MAC address like'
                          ' "52:54:00:12:34:56"', machine.boot_mac)
        if machine.driver == "redfish" and machine.boot_mac is None:
            yield Problem(where, f"{field}.boot_mac", "expected the boot NIC's MAC address:"
                          " driver redfish boots over the network (PXE); or use"
                          " redfish-virtualmedia", None)
        if machine.root_device is not None and not machine.root_device.startswith("/dev/"):
            yield Problem(where, f"{field}.root_device", "expected a device path like /dev/sda",
                          machine.root_device)


def _network_problems(args: K8sClusterArgs, where: str) -> Iterator[Problem]:
    for field in ("pods", "services"):
        blocks: tuple[str, ...] = getattr(args.network, field)
        if not 1 <= len(blocks) <= 2:
            yield Problem(where, f"network.{field}", "expected one CIDR block, or two (one IPv4"
                          " and one IPv6) for dual stack", blocks)
        for block in blocks:
            try:
                ipaddress.ip_network(block, strict=True)
            except ValueError:
                yield Problem(where, f"network.{field}", "expected a CIDR block with no host"
                              ' bits set, like "10.96.0.0/12"', block)


def _assign(args: K8sClusterArgs, where: str) -> tuple[list[Group], list[Problem]]:
    """Named machines first, then each group without names takes, in declaration order, the
    first free machines by name that its filter accepts: its replicas, and as many spares as
    its rollout adds before it removes. Same arguments, same machines."""
    by_name = {m.name: m for m in args.machines}
    owner: dict[str, str] = {}
    chosen: dict[str, list[Machine]] = {}
    problems: list[Problem] = []
    groups = groups_of(args)
    for key, field, settings in groups:
        chosen[key] = []
        for name in settings.machines:
            if name not in by_name:
                problems.append(Problem(where, f"{field}.machines", "expected the name of one of"
                                        f" the cluster's machines ({', '.join(sorted(by_name))})",
                                        name))
            elif name in owner:
                problems.append(Problem(where, f"{field}.machines", f"expected a machine no"
                                        f" other group has; {owner[name]} has it", name))
            else:
                owner[name] = key
                chosen[key].append(by_name[name])
        if settings.machines and len(settings.machines) < settings.replicas:
            problems.append(Problem(where, f"{field}.replicas", f"expected at most as many"
                                    f" replicas as machines listed ({len(settings.machines)})",
                                    settings.replicas))
    surge = {key: _surge(settings) for key, _, settings in groups}
    automatic = [(key, field, settings) for key, field, settings in groups
                 if not settings.machines]

    def free(settings: ControlPlane | NodePool) -> list[Machine]:
        wanted = settings.select or HostFilter()
        return sorted((m for m in args.machines if m.name not in owner
                       and _accepts(wanted, m)), key=lambda m: m.name)

    def take(key: str, machines: list[Machine]) -> None:
        for machine in machines:
            owner[machine.name] = key
            chosen[key].append(machine)

    for key, field, settings in automatic:
        candidates = free(settings)
        if len(candidates) < settings.replicas:
            wanted = (settings.select or HostFilter()).model_dump(mode="json",
                                                                  exclude_defaults=True)
            problems.append(Problem(where, f"{field}.replicas", f"expected at most"
                                    f" {len(candidates)}: that many free machines match"
                                    f" {wanted}", settings.replicas))
        take(key, candidates[:settings.replicas])
    # Then spares, for rollouts that add a machine before they remove one, where any are left.
    for key, _, settings in automatic:
        take(key, free(settings)[:surge[key]])
    image = {key: settings.image or args.image for key, _, settings in groups}
    return [Group(key, field, settings.replicas, surge[key], settings.features, image[key],
                  tuple(chosen[key])) for key, field, settings in groups], problems


def _surge(settings: ControlPlane | NodePool) -> int:
    return settings.surge if isinstance(settings, ControlPlane) else settings.max_surge


def _accepts(wanted: HostFilter, machine: Machine) -> bool:
    if machine.capabilities is None:
        return wanted == HostFilter()
    return wanted.accepts(machine.capabilities)


def cpuset(value: str) -> set[int]:
    cpus: set[int] = set()
    for part in value.split(","):
        first, _, last = part.partition("-")
        cpus.update(range(int(first), int(last or first) + 1))
    return cpus


def _feature_problems(args: K8sClusterArgs, group: Group, where: str) -> Iterator[Problem]:
    features, field = group.features, f"{group.field}.features"
    reserved: set[int] = set()
    if features.reserved_cpus is not None:
        if _CPUSET.match(features.reserved_cpus):
            reserved = cpuset(features.reserved_cpus)
        else:
            yield Problem(where, f"{field}.reserved_cpus", 'expected a cpuset like "0-1,32-33"',
                          features.reserved_cpus)
    if features.cpu_manager_policy == "static" and features.reserved_cpus is None:
        yield Problem(where, f"{field}.reserved_cpus", "expected CPUs to reserve: the static"
                      " CPU manager policy needs some kept for the system", None)
    minor = kubernetes_minor(args)
    if (args.distribution == "kubeadm" and features.tunes_kubelet and minor is not None
            and minor < MIN_KUBELET_PATCH_MINOR):
        yield Problem(where, "kubernetes_version", f"expected v1.{MIN_KUBELET_PATCH_MINOR} or"
                      f" later: kubeadm patches the kubelet configuration for {field} only"
                      " from then on", args.kubernetes_version)
    for name, value in features.labels.items():
        if not is_label_key(name) or not is_label_value(value):
            yield Problem(where, f"{field}.labels", "expected label keys and values Kubernetes"
                          " takes (at most 63 letters, digits, '-', '_', '.')", f"{name}={value}")
    sizes = [pool.size for pool in features.hugepages]
    if len(set(sizes)) != len(sizes):
        yield Problem(where, f"{field}.hugepages", "expected each hugepage size once",
                      [str(s) for s in sizes])
    hugepages = sum(pool.size.bytes * pool.count for pool in features.hugepages)
    for machine in group.machines:
        if machine.capabilities is None:
            continue
        memory = machine.capabilities.memory
        if hugepages and hugepages >= memory.bytes:
            yield Problem(where, f"{field}.hugepages", f"expected less than the node memory:"
                          f" {Quantity(hugepages)} of hugepages on machine {machine.name},"
                          f" which has {memory}", _describe(features.hugepages))
        if reserved and len(reserved) >= machine.capabilities.cores:
            yield Problem(where, f"{field}.reserved_cpus", f"expected fewer CPUs than machine"
                          f" {machine.name} has ({machine.capabilities.cores})",
                          features.reserved_cpus)


def _describe(pools: tuple[HugepagePool, ...]) -> str:
    return ", ".join(f"{pool.count} x {pool.size}" for pool in pools)
