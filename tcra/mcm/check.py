"""Every check K8sClusterSpec goes through before anything is built or declared: each problem
names its field, the value given and what was expected, and all are reported at once."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator

from pydantic import BaseModel

from tcra.capi._meta import (
    DNS_LABEL_EXPECTED,
    MAX_LABEL,
    is_dns_label,
    is_label_key,
    is_label_value,
)
from tcra.capi.capd import GO_DURATION
from tcra.capi.metal3 import MAC
from tcra.errors import Problem
from tcra.mcm.assign import Group, assign, groups_of
from tcra.mcm.chart import chart_problems
from tcra.mcm.infrastructure import InMemoryInfrastructure
from tcra.mcm.machines import Machine
from tcra.mcm.naming import HASH_LENGTH, MAX_CLUSTER_NAME, RESERVED_POOL_NAMES
from tcra.mcm.spec import K8sClusterSpec
from tcra.model import Quantity
from tcra.model.host import HugepagePool

MIN_KUBELET_PATCH_MINOR = 25  # kubeadm patches the KubeletConfiguration from v1.25 on
_CPUSET = re.compile(r"^\d+(-\d+)?(,\d+(-\d+)?)*$")
VERSIONS = {
    "kubeadm": (re.compile(r"^v1\.(\d+)\.(\d+)$"),
                'expected a Kubernetes version kubeadm takes, like "v1.30.4" (v1.MINOR.PATCH)'),
    "rke2": (re.compile(r"^v1\.(\d+)\.(\d+)\+rke2r(\d+)$"),
             'expected an RKE2 release, like "v1.30.4+rke2r1" (v1.MINOR.PATCH+rke2rN)'),
}


def check(args: K8sClusterSpec) -> tuple[list[Group], list[Problem]]:
    """The machines of each group, and every problem with the arguments."""
    where = f"K8sCluster {args.name}"
    problems = [*_name_problems(args, where), *_version_problems(args, where),
                *_infrastructure_problems(args, where), *_network_problems(args, where)]
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
    groups, assignment_problems = assign(args, where)
    problems.extend(assignment_problems)
    for group in groups:
        problems.extend(_feature_problems(args, group, where))
    return groups, problems


def _name_problems(args: K8sClusterSpec, where: str) -> Iterator[Problem]:
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


def kubernetes_minor(args: K8sClusterSpec) -> int | None:
    pattern, _ = VERSIONS[args.distribution]
    match = pattern.match(args.kubernetes_version)
    return int(match[1]) if match else None


def _version_problems(args: K8sClusterSpec, where: str) -> Iterator[Problem]:
    if kubernetes_minor(args) is None:
        yield Problem(where, "kubernetes_version", VERSIONS[args.distribution][1],
                      args.kubernetes_version)


def _infrastructure_problems(args: K8sClusterSpec, where: str) -> Iterator[Problem]:
    if isinstance(args.infrastructure, InMemoryInfrastructure):
        yield from _in_memory_problems(args, args.infrastructure, where)
    else:
        yield from _machine_problems(args.infrastructure.machines, where)


def _in_memory_problems(args: K8sClusterSpec, infrastructure: InMemoryInfrastructure,
                        where: str) -> Iterator[Problem]:
    """In-memory machines are simulated: nothing to choose them by, no image to write, and only
    kubeadm's control plane has a simulation."""
    if args.distribution != "kubeadm":
        yield Problem(where, "distribution", "expected kubeadm with infrastructure in-memory:"
                      " CAPD's in-memory backend simulates kubeadm control planes only",
                      args.distribution)
    for name in ("vm_startup", "node_startup", "api_server_startup", "etcd_startup"):
        value = getattr(infrastructure, name)
        if not re.fullmatch(GO_DURATION, value):
            yield Problem(where, f"infrastructure.{name}", 'expected a Go duration like "10s"'
                          ' or "1m30s"', value)
    for _, field, settings in groups_of(args):
        for setting in ("machines", "select", "image"):
            if getattr(settings, setting):
                yield Problem(where, f"{field}.{setting}", "expected none with infrastructure"
                              " in-memory: its machines are simulated, not chosen or imaged",
                              _shown(getattr(settings, setting)))


def _shown(value: object) -> object:
    """A setting as a problem shows it: models as their non-default fields."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", exclude_defaults=True)
    return value


def _machine_problems(machines: tuple[Machine, ...], where: str) -> Iterator[Problem]:
    names: set[str] = set()
    systems: dict[tuple[str, str], str] = {}
    for index, machine in enumerate(machines):
        field = f"infrastructure.machines.{index}"
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


def _network_problems(args: K8sClusterSpec, where: str) -> Iterator[Problem]:
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


def cpuset(value: str) -> set[int]:
    cpus: set[int] = set()
    for part in value.split(","):
        first, _, last = part.partition("-")
        cpus.update(range(int(first), int(last or first) + 1))
    return cpus


def _feature_problems(args: K8sClusterSpec, group: Group, where: str) -> Iterator[Problem]:
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
    for machine in group.machines or ():
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
