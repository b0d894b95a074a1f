"""What the live peers report in use, for the resource repository (TCRR): which hosts are
powered on (Redfish), what each hypervisor has free (libvirt), and what room each site's
existing cluster has left (Kubernetes: its nodes' allocatable less its pods' requests; only
the site's own nodes, in a cluster whose nodes stand at several sites).

Read at placement time through the clients the blocks use (timeouts, TLS verified with the
inventory's CA files, secrets resolved from its references). A peer that does not answer
fails the reading with its name and address: taking it as free could overcommit it.
`tcra.mco.repository` combines the reading with the store's records.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
from typing import Any

import libvirt

from tcra.bmc import power_states
from tcra.errors import TcraError
from tcra.kube_api import KubeApi, KubeApiError, KubeconfigError, quantity
from tcra.mco.model import ClusterRoom, HypervisorFree, LiveReading
from tcra.model import Host, Hypervisor, Inventory, Quantity
from tcra.model.host import HUGEPAGE_SIZES
from tcra.model.site import SiteCluster
from tcra.vip.libvirt_host import VipError, connection

TIMEOUT = 10.0
"""Seconds for one libvirt connection or Kubernetes request (a BMC request has tcra.bmc's)."""
_NOT_DONE = "status.phase%21%3DSucceeded%2Cstatus.phase%21%3DFailed"  # pods that hold room


class LiveReadError(TcraError):
    """A peer did not answer, or answered what tcra cannot read; names the peer and where."""


def read(inventory: Inventory, timeout: float = TIMEOUT) -> LiveReading:
    """Ask every peer the inventory names: each host's BMC, each hypervisor's libvirtd and
    each site's existing cluster."""
    return LiveReading(
        powered_on=_powered_on(inventory.hosts),
        hypervisors=tuple(_hypervisor(h, timeout) for h in inventory.hypervisors),
        clusters=tuple(_cluster(s.id, s.cluster, timeout) for s in inventory.sites
                       if s.cluster is not None))


def _powered_on(hosts: Iterable[Host]) -> frozenset[str]:
    readings = power_states(hosts)
    if failed := [r.error for r in readings if r.error]:
        raise LiveReadError("reading power over Redfish failed: " + "; ".join(failed))
    return frozenset(r.host for r in readings if r.power == "On")


def _hypervisor(hypervisor: Hypervisor, timeout: float) -> HypervisorFree:
    sizes = [size.bytes // 1024 for size in HUGEPAGE_SIZES]
    try:
        with connection(hypervisor.name, hypervisor.libvirt_uri, timeout,
                        read_only=True) as conn:
            memory = conn.getMemoryStats(libvirt.VIR_NODE_MEMORY_STATS_ALL_CELLS)
            pages = conn.getFreePages(sizes, -1, 1)[-1]  # from cell -1, one: the whole host
    except VipError as exc:
        raise LiveReadError(f"hypervisor {hypervisor.name}: libvirt {exc.uri}: {exc.cause}"
                            ) from None
    kib = memory["free"] + memory.get("buffers", 0) + memory.get("cached", 0)
    return HypervisorFree(hypervisor=hypervisor.name, memory=Quantity(kib * 1024),
                          hugepages=Quantity(sum(size * 1024 * count
                                                 for size, count in pages.items())))


def _cluster(site: str, cluster: SiteCluster, timeout: float) -> ClusterRoom:
    where = f"site {site}: cluster {cluster.name}"
    try:
        text = cluster.kubeconfig.read_text()
    except OSError as exc:
        raise LiveReadError(f"{where}: cannot read its kubeconfig {cluster.kubeconfig}:"
                            f" {exc.strerror}") from None
    try:
        with KubeApi.from_kubeconfig(text, timeout=timeout) as api:
            nodes = api.list("/api/v1/nodes")
            pods = api.list(f"/api/v1/pods?fieldSelector={_NOT_DONE}")
    except (KubeApiError, KubeconfigError) as exc:
        raise LiveReadError(f"{where}: {exc}") from None
    try:
        counted = {n["metadata"]["name"] for n in nodes if not n.get("spec", {}).get(
            "unschedulable") and _selected(n["metadata"].get("labels"), cluster.node_selector)}
        have = _total(_amounts(n["status"].get("allocatable") or {}) for n in nodes
                      if n["metadata"]["name"] in counted)
        wanted = _total(_requests(p["spec"]) for p in pods
                        if p["spec"].get("nodeName") in counted
                        or (p["spec"].get("nodeName") is None and _selected(
                            p["spec"].get("nodeSelector"), cluster.node_selector)))
    except (KeyError, TypeError, AttributeError, InvalidOperation) as exc:
        raise LiveReadError(f"{where}: its nodes or pods are not the Kubernetes API's shape"
                            f" ({type(exc).__name__}: {exc})") from None
    left = {k: max(Decimal(0), have[k] - wanted[k]) for k in have}
    return ClusterRoom(site=site, cluster=cluster.name, cpu=float(left["cpu"]),
                       memory=Quantity(int(left["memory"])),
                       hugepages=Quantity(int(left["hugepages"])))


def _selected(labels: dict[str, str] | None, selector: dict[str, str]) -> bool:
    """Labels (a node's, or a pending pod's node selector) that a site's selector takes in:
    without a selector, all of the cluster is the site's."""
    return selector.items() <= (labels or {}).items()


def _amounts(resources: dict[str, Any]) -> dict[str, Decimal]:
    """CPU cores, memory bytes and hugepage bytes (any size) of a Kubernetes resource list."""
    found = dict.fromkeys(("cpu", "memory", "hugepages"), Decimal(0))
    for name, text in resources.items():
        key = "hugepages" if name.startswith("hugepages-") else name
        if key in found:
            found[key] += _quantity(str(text))
    return found


def _requests(spec: dict[str, Any]) -> dict[str, Decimal]:
    """A pod's requests as the scheduler counts them: its containers' sum, or its largest
    init container when that is more, plus the runtime's overhead."""

    def of(container: dict[str, Any]) -> dict[str, Decimal]:
        return _amounts((container.get("resources") or {}).get("requests") or {})

    running = _total(of(c) for c in spec.get("containers") or ())
    init = [of(c) for c in spec.get("initContainers") or ()]
    overhead = _amounts(spec.get("overhead") or {})
    return {k: max([running[k], *(i[k] for i in init)]) + overhead[k] for k in running}


def _total(amounts: Iterable[dict[str, Decimal]]) -> dict[str, Decimal]:
    total = dict.fromkeys(("cpu", "memory", "hugepages"), Decimal(0))
    for each in amounts:
        for key, value in each.items():
            total[key] += value
    return total


def _quantity(text: str) -> Decimal:
    if (number := quantity(text)) is None:
        raise InvalidOperation(f"{text!r} is no Kubernetes quantity")
    return number
