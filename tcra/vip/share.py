"""Each VM's share of its hypervisor: the host CPUs its vCPUs are pinned to, its NUMA node,
its hugepage size and its SR-IOV VFs, from what the inventory says the host has.

Given the VMs a plan puts on one hypervisor, it shares the host out deterministically: VMs with
dedicated CPUs first, bigger first, then by name; each takes the lowest free pinnable CPUs
(of its node when it asked for one), the largest hugepage size with enough free pages, and
VFs of the first physical functions with some left. No CPU is given to two VMs. What the host
cannot give fails with the workload, the host and what was short.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from tcra.errors import InvalidInputError, Problem
from tcra.mco.model import Resources
from tcra.model.base import Model
from tcra.model.host import HUGEPAGE_SIZES, Capabilities, HugepagePool, SriovNic
from tcra.model.types import Quantity, cpuset_text
from tcra.vip.model import Pinning

LARGEST_FIRST = tuple(sorted(HUGEPAGE_SIZES, reverse=True))


class VmShare(Model):
    """What one VM gets of its hypervisor: VirtualMachine's arguments of the same names."""

    vcpus: int
    pinning: Pinning | None = None
    numa_node: int | None = None
    hugepages: Quantity | None = None
    vf_networks: tuple[str, ...] = ()


@dataclass
class _Node:
    """A NUMA node (or the whole host, when the inventory gives no layout) and what is free."""

    id: int | None
    cpus: tuple[int, ...]
    pinnable: list[int]
    pages: dict[int, int] = field(default_factory=dict)  # page bytes -> free pages


def share(host: str, caps: Capabilities, vms: Mapping[str, Resources]) -> dict[str, VmShare]:
    """Each VM's share of hypervisor `host` with capabilities `caps`, by workload name;
    InvalidInputError naming every VM that does not get what it asked for."""
    where = f"hypervisor {host}"
    housekeeping = tuple(c for c in range(caps.cores) if c not in caps.pinnable_cpus)
    whole = _Node(None, tuple(range(caps.cores)), list(caps.pinnable_cpus),
                  _pages(caps.hugepages))
    nodes = [_Node(n.id, n.cpus, [c for c in n.cpus if c in caps.pinnable_cpus],
                   _pages(n.hugepages)) for n in sorted(caps.numa_nodes, key=lambda n: n.id)]
    vfs = {nic.name: nic.vfs for nic in caps.sriov_nics}
    shares: dict[str, VmShare] = {}
    problems: list[Problem] = []
    for name in sorted(vms, key=lambda n: (not vms[n].dedicated_cpus, -vms[n].cpu, n)):
        need = vms[name]
        vcpus = math.ceil(need.cpu)
        if need.single_numa_node:
            if not nodes:
                problems.append(Problem(where, f"{name}.resources.single_numa_node", "the"
                                        " host's NUMA layout is not in the inventory"
                                        " (capabilities.numa_nodes)", True))
                continue
            fitting = [n for n in nodes if _fits(n, need, vcpus)]
            if not fitting:
                problems.append(Problem(where, f"{name}.resources", "no NUMA node has room"
                                        f" for {_asked(need, vcpus)}: "
                                        + "; ".join(f"node {n.id} {_free(n)}" for n in nodes),
                                        _asked(need, vcpus)))
                continue
            node = fitting[0]
        else:
            node = whole
            if not _fits(node, need, vcpus):
                problems.append(Problem(where, f"{name}.resources", f"the host has"
                                        f" {_free(node)}", _asked(need, vcpus)))
                continue
        networks = _take_vfs(vfs, need.sriov_vfs, caps.sriov_nics)
        if networks is None:
            left = sum(vfs.values())
            problems.append(Problem(where, f"{name}.resources.sriov_vfs", f"the host has {left}"
                                    " SR-IOV VF(s) left" if left < need.sriov_vfs else
                                    "the host's physical functions with VFs left name no"
                                    " libvirt network of VFs (capabilities.sriov_nics.*"
                                    ".network)", need.sriov_vfs))
            continue
        pinning = None
        if need.dedicated_cpus:
            cpus = node.pinnable[:vcpus]
            for view in (whole, *nodes):  # gone from every view of the host
                view.pinnable = [c for c in view.pinnable if c not in cpus]
            emulator = tuple(c for c in housekeeping if c in node.cpus) or housekeeping
            pinning = Pinning(cpus=tuple(cpus), emulator_cpus=emulator, dedicated=True)
        size = _page_size(node, need) if need.hugepages.bytes else None
        if size is not None:
            pages = need.memory.bytes // size.bytes
            whole.pages[size.bytes] -= pages
            _take_pages(nodes if node is whole else [node], size, pages)
        shares[name] = VmShare(vcpus=vcpus, pinning=pinning,
                               numa_node=node.id if need.single_numa_node else None,
                               hugepages=size, vf_networks=networks)
    if problems:
        raise InvalidInputError(problems)
    return shares


def _pages(pools: tuple[HugepagePool, ...]) -> dict[int, int]:
    return {size.bytes: sum(p.count for p in pools if p.size == size) for size in HUGEPAGE_SIZES}


def _page_size(node: _Node, need: Resources) -> Quantity | None:
    """The largest page size that divides the VM's memory and has enough free pages."""
    for size in LARGEST_FIRST:
        if (need.memory.bytes % size.bytes == 0
                and node.pages.get(size.bytes, 0) >= need.memory.bytes // size.bytes):
            return size
    return None


def _fits(node: _Node, need: Resources, vcpus: int) -> bool:
    return ((not need.dedicated_cpus or len(node.pinnable) >= vcpus)
            and (not need.hugepages.bytes or _page_size(node, need) is not None))


def _take_pages(nodes: list[_Node], size: Quantity, count: int) -> None:
    """`count` pages off the nodes in order: a VM on no particular node may be given pages of
    any, so a VM asking for one node later sees no more than can be left."""
    for node in nodes:
        taken = min(count, node.pages.get(size.bytes, 0))
        node.pages[size.bytes] -= taken
        count -= taken


def _take_vfs(free: dict[str, int], count: int,
              nics: tuple[SriovNic, ...]) -> tuple[str, ...] | None:
    """`count` VFs' networks, from the first PFs with VFs left and a network; None (and
    nothing taken) when they are too few."""
    taken = {nic.name: min(free[nic.name], count) for nic in nics if nic.network}
    networks: list[str] = []
    for nic in nics:
        if nic.network and len(networks) < count:
            given = min(taken[nic.name], count - len(networks))
            networks += [nic.network] * given
            taken[nic.name] = given
    if len(networks) < count:
        return None
    for nic in nics:
        if nic.network:
            free[nic.name] -= taken[nic.name]
    return tuple(networks)


def _asked(need: Resources, vcpus: int) -> str:
    parts = [f"{vcpus} dedicated CPU(s)"] if need.dedicated_cpus else []
    if need.hugepages.bytes:
        parts.append(f"{need.memory} on hugepages")
    return ", ".join(parts) or "nothing pinned"


def _free(node: _Node) -> str:
    pages = ", ".join(f"{count} x {Quantity(size)}" for size, count in sorted(
        node.pages.items(), reverse=True) if count) or "none"
    return (f"pinnable CPUs free: {cpuset_text(tuple(node.pinnable)) or 'none'};"
            f" free hugepages: {pages}")
