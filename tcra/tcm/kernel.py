"""The HBR's kernel through netlink (pyroute2): read tcra's SRv6 routes back as Route data, and
make them what a plan says — replacing what differs, deleting what is no longer wanted."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterable, Sequence
from pathlib import Path

from pyroute2 import IPRoute, NetlinkError

from tcra.errors import TcraError
from tcra.tcm.route import TCRA_PROTO, Behaviour, Route

# Kernel uapi seg6_local.h action numbers for the behaviours tcra uses.
_ACTIONS = {1: Behaviour.END, 2: Behaviour.END_X, 5: Behaviour.END_DX6, 6: Behaviour.END_DX4}
_SEG6, _SEG6_LOCAL = 5, 7


class KernelError(TcraError):
    """Netlink refused something; names the namespace, the route and the cause."""


def namespace_exists(namespace: str) -> bool:
    return (Path("/run/netns") / namespace).exists()


def _open(namespace: str | None) -> IPRoute:
    return IPRoute(netns=namespace) if namespace else IPRoute()


def read(namespace: str | None) -> list[Route]:
    """Every route tcra owns (protocol TCRA_PROTO) in the namespace, in every table."""
    with _open(namespace) as ipr:
        names = {link["index"]: link.get_attr("IFLA_IFNAME") for link in ipr.get_links()}
        found = []
        for msg in ipr.route("dump", family=socket.AF_INET6):  # every table
            if msg["proto"] != TCRA_PROTO:
                continue
            route = _route(msg, names)
            if route is not None:
                found.append(route)
    return sorted(found, key=lambda r: r.key)


def _route(msg: object, names: dict[int, str]) -> Route | None:
    get = msg.get_attr  # type: ignore[attr-defined]
    dst = f"{get('RTA_DST') or '::'}/{msg['dst_len']}"  # type: ignore[index]
    src = f"{get('RTA_SRC')}/{msg['src_len']}" if get("RTA_SRC") else None  # type: ignore[index]
    fields: dict[str, object] = {"dst": dst, "src": src, "dev": names.get(get("RTA_OIF"), "?"),
                                 "table": get("RTA_TABLE") or msg["table"]}  # type: ignore[index]
    encap = get("RTA_ENCAP")
    kind = get("RTA_ENCAP_TYPE")
    if encap is None:
        return None
    attrs = dict(encap["attrs"])
    if kind == _SEG6:
        fields["segments"] = tuple(reversed(attrs["SEG6_IPTUNNEL_SRH"]["segs"]))
    elif kind == _SEG6_LOCAL:
        fields["behaviour"] = _ACTIONS.get(attrs.get("SEG6_LOCAL_ACTION", 0))
        fields["nh6"] = attrs.get("SEG6_LOCAL_NH6")
        fields["nh4"] = attrs.get("SEG6_LOCAL_NH4")
        if fields["behaviour"] is None:
            return None
    else:
        return None
    return Route.model_validate(fields)


def enable_srv6(namespace: str | None, interfaces: Iterable[str]) -> None:
    """Forwarding and seg6 on, for all and for each interface that receives SRv6 packets."""
    keys = ["net.ipv6.conf.all.forwarding", "net.ipv6.conf.all.seg6_enabled"] + [
        f"net.ipv6.conf.{i}.seg6_enabled" for i in interfaces]
    for key in keys:
        _write_sysctl(namespace, key, "1")


def _write_sysctl(namespace: str | None, key: str, value: str) -> None:
    command = ["sysctl", "-qw", f"{key}={value}"]
    if namespace:
        command = ["ip", "netns", "exec", namespace, *command]
    done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=10)
    if done.returncode != 0:
        raise KernelError(f"namespace {namespace or '(host)'}: sysctl {key}: "
                          f"{done.stderr.strip()}")


def apply(namespace: str | None, wanted: Sequence[Route], owned: Sequence[Route]) -> None:
    """Make the kernel hold `wanted`: replace what differs, delete what of `owned` is no longer
    wanted. Routes neither wanted nor owned by the caller are never touched."""
    current = {r.key: r for r in read(namespace)}
    keep = {r.key for r in wanted}
    with _open(namespace) as ipr:
        index = {link.get_attr("IFLA_IFNAME"): link["index"] for link in ipr.get_links()}
        for route in wanted:
            if current.get(route.key) != route:
                _send(ipr, namespace, "replace", route, index)
        for route in owned:
            if route.key not in keep and route.key in current:
                _send(ipr, namespace, "del", current[route.key], index)


def _send(ipr: IPRoute, namespace: str | None, op: str, route: Route,
          index: dict[str, int]) -> None:
    where = f"namespace {namespace or '(host)'}: route {route.dst}"
    if route.dev not in index:
        raise KernelError(f"{where}: no interface {route.dev!r}")
    request: dict[str, object] = {"dst": str(route.dst), "oif": index[route.dev],
                                  "proto": TCRA_PROTO, "table": route.table,
                                  "family": socket.AF_INET6}
    if route.src is not None:
        request["src"] = str(route.src)
    if route.segments:
        request["encap"] = {"type": "seg6", "mode": "encap",
                            "segs": [str(s) for s in reversed(route.segments)]}
    else:
        assert route.behaviour is not None  # noqa: S101 - Route guarantees one kind
        encap: dict[str, object] = {"type": "seg6local", "action": route.behaviour.value}
        if route.nh6 is not None:
            encap["nh6"] = str(route.nh6)
        if route.nh4 is not None:
            encap["nh4"] = str(route.nh4)
        request["encap"] = encap
    try:
        ipr.route(op, **request)
    except NetlinkError as exc:
        raise KernelError(f"{where}: {exc.args[1] if len(exc.args) > 1 else exc}") from None

