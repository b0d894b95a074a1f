"""The lab's IPv6/SRv6 fabric: network namespaces for one HBR per lab site, workloads behind
them, a user namespace, and an underlay link between the HBRs. With Kubernetes, each site's
HBR also sits on the bridge of its site's node, as its pods' IPv6 gateway.

Plain IPv6 routing joins it all, except the service prefix: only an SRv6 chain makes it
reachable. Everything is named tcra-<lab>-..., and deleting the namespaces removes it all.
"""

from __future__ import annotations

import hashlib
import subprocess
from ipaddress import IPv6Network
from pathlib import Path

from tcra.lab.fabric_state import FabricState
from tcra.lab.processes import run
from tcra.lab.spec import LabNode, LabSpec
from tcra.model.fabric import Fabric, FabricEndpoint, Hbr, PodNetwork

# Workloads the lab runs, and the site each runs at: a firewall, a UPF, a front end.
WORKLOADS = (("fw", "lab_factory"), ("upf", "lab_faredge"), ("app", "lab_factory"))
USERS_AT = "lab_faredge"
SITES = ("lab_factory", "lab_faredge")
ULINK = "up0"
PODS_DEV = "pods0"


def plan(spec: LabSpec) -> FabricState:
    """Names and addresses, derived from the lab name alone (a ULA /48 of its own)."""
    base = int.from_bytes(b"\xfd" + hashlib.sha256(spec.name.encode()).digest()[:5], "big") << 80

    def subnet(index: int) -> IPv6Network:
        return IPv6Network((base + (index << 64), 64))

    def host(net: IPv6Network, n: int) -> str:
        return str(net.network_address + n)

    ns = {site: f"{spec.prefix}hbr-{site.removeprefix('lab_')}" for site in SITES}
    endpoints, workload_ns = [], {}
    for i, (name, site) in enumerate(WORKLOADS):
        net = subnet(0x1000 + i)
        endpoints.append(FabricEndpoint(workload=name, hbr=site, address=host(net, 2),
                                        dev=f"{name}0"))
        workload_ns[name] = f"{spec.prefix}wl-{name}"
    pods = {site: PodNetwork(dev=PODS_DEV, prefix=subnet(0x3000 + i),
                             gateway=host(subnet(0x3000 + i), 1))
            for i, site in enumerate(SITES)} if spec.kubernetes else {}
    hbrs = tuple(
        Hbr(name=site, site=site, host=ns[site], locator=subnet(0x100 * (i + 1)),
            namespace=ns[site], uplink=ULINK,
            interfaces=(ULINK, *(f"{w}0" for w, at in WORKLOADS if at == site),
                        *((PODS_DEV,) if site in pods else ())),
            pods=pods.get(site))
        for i, site in enumerate(SITES))
    service = subnet(0x4000)
    return FabricState(
        fabric=Fabric(hbrs=hbrs, endpoints=tuple(endpoints)),
        namespaces=(*ns.values(), *workload_ns.values(), f"{spec.prefix}user"),
        user_namespace=f"{spec.prefix}user", user_address=host(subnet(0x2000), 2),
        users_hbr=USERS_AT, service_prefix=str(service), service_address=host(service, 0x10),
        workload_namespaces=workload_ns)


def build(spec: LabSpec) -> FabricState:
    """Create the fabric; a complete one is left as it is (chains on it keep their routes)."""
    state = plan(spec)
    if set(state.namespaces) <= set(_namespaces(spec)):
        return state
    remove(spec)
    fabric = state.fabric
    hbr_ns = {h.name: h.namespace or "" for h in fabric.hbrs}
    for name in state.namespaces:
        _ip("netns", "add", name)
        _ip("-n", name, "link", "set", "lo", "up")
        _sysctl(name, "net.ipv6.conf.all.forwarding", "1")
        _sysctl(name, "net.ipv6.conf.default.accept_dad", "0")  # links made next skip DAD
    factory, faredge = fabric.hbrs
    at = underlay(state)
    _link(hbr_ns[factory.name], ULINK, at[factory.name], hbr_ns[faredge.name], ULINK,
          at[faredge.name])
    for hbr, peer in ((factory, at[faredge.name]), (faredge, at[factory.name])):
        for other in fabric.hbrs:
            if other.name != hbr.name:
                _ip("-n", hbr_ns[hbr.name], "-6", "route", "add", str(other.locator),
                    "via", peer, "dev", ULINK)
    for i, endpoint in enumerate(fabric.endpoints):
        net = _net(state, 0x1000 + i)
        wl = state.workload_namespaces[endpoint.workload]
        _link(hbr_ns[endpoint.hbr], endpoint.dev, f"{net}::1", wl, "eth0", f"{net}::2")
        _ip("-n", wl, "-6", "route", "add", "default", "via", f"{net}::1", "dev", "eth0")
    users = _net(state, 0x2000)
    _link(hbr_ns[state.users_hbr], "usr0", f"{users}::1", state.user_namespace, "eth0",
          f"{users}::2")
    _ip("-n", state.user_namespace, "-6", "route", "add", "default", "via", f"{users}::1")
    # The far side learns the users' subnet over the underlay, for the service's replies.
    far = next(h for h in fabric.hbrs if h.name != state.users_hbr)
    near_peer = at[state.users_hbr]
    _ip("-n", hbr_ns[far.name], "-6", "route", "add", f"{users}::/64", "via", near_peer,
        "dev", ULINK)
    app = state.workload_namespaces["app"]
    _ip("-n", app, "-6", "addr", "add", f"{state.service_address}/128", "dev", "lo", "nodad")
    return state


def attach_pods(state: FabricState, node: LabNode) -> None:
    """Put the HBR of the node's site on the node's bridge, as its pods' IPv6 gateway: a chain
    then steers to a pod's own address. Kept when there already."""
    hbr = state.fabric.hbr(node.site)
    assert hbr.pods is not None and hbr.namespace is not None  # noqa: S101 - plan made them
    if not Path(f"/sys/class/net/{node.hbr_port}").exists():
        _ip("link", "add", hbr.pods.dev, "netns", hbr.namespace, "type", "veth", "peer",
            "name", node.hbr_port)
        _ip("-n", hbr.namespace, "-6", "addr", "add",
            f"{hbr.pods.gateway}/{hbr.pods.prefix.prefixlen}", "dev", hbr.pods.dev, "nodad")
        _ip("-n", hbr.namespace, "link", "set", hbr.pods.dev, "up")
    _ip("link", "set", node.hbr_port, "master", node.bridge, "up")


def underlay(state: FabricState) -> dict[str, str]:
    """Each HBR's address on the underlay link between them, by name."""
    net = _net(state, 0xFF00)
    factory, faredge = state.fabric.hbrs
    return {factory.name: f"{net}::1", faredge.name: f"{net}::2"}


def remove(spec: LabSpec) -> list[str]:
    """Delete the namespaces the lab's fabric is made of; returns the others with its prefix,
    which the lab did not make and leaves in place."""
    ours = set(plan(spec).namespaces)
    found = _namespaces(spec)
    for name in found:
        if name in ours:
            _ip("netns", "del", name)
    return [name for name in found if name not in ours]


def _namespaces(spec: LabSpec) -> list[str]:
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True,
                            check=False, timeout=10).stdout.splitlines()
    return [line.split()[0] for line in listed if line.startswith(spec.prefix)]


def _net(state: FabricState, index: int) -> str:
    """The /64 with this index in the lab's /48, without its trailing '::/64'."""
    locator = state.fabric.hbrs[0].locator
    base = int(locator.network_address) - (0x100 << 64)
    return str(IPv6Network((base + (index << 64), 64)).network_address).removesuffix("::")


def _link(ns_a: str, dev_a: str, addr_a: str, ns_b: str, dev_b: str, addr_b: str) -> None:
    _ip("link", "add", dev_a, "netns", ns_a, "type", "veth", "peer", "name", dev_b,
        "netns", ns_b)
    for ns, dev, addr in ((ns_a, dev_a, addr_a), (ns_b, dev_b, addr_b)):
        _ip("-n", ns, "-6", "addr", "add", f"{addr}/64", "dev", dev, "nodad")
        _ip("-n", ns, "link", "set", dev, "up")


def _sysctl(namespace: str, key: str, value: str) -> None:
    _run(["ip", "netns", "exec", namespace, "sysctl", "-qw", f"{key}={value}"])


def _ip(*args: str) -> None:
    _run(["ip", *args])


def _run(command: list[str]) -> None:
    run(command, timeout=15)
