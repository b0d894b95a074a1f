"""The HBR's kernel: read tcra's SRv6 routes back as Route data (iproute2's JSON), and make
them what a plan says through tcra.tcm.netlink — replacing what differs, deleting what is no
longer wanted, each route with a marker naming its owner (tcra.tcm.owners). Nothing keeps a
socket: safe inside Pulumi's provider process."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from tcra.errors import TcraError
from tcra.ownership import OwnedElsewhereError
from tcra.tcm import netlink
from tcra.tcm.owners import OWNERS_TABLE, marker, owners
from tcra.tcm.route import MAIN_TABLE, TCRA_PROTO, Behaviour, Route

TIMEOUT = 10.0
_TABLES = {"main": MAIN_TABLE, "local": 255, "default": 253}


class KernelError(TcraError):
    """The kernel refused something; names the namespace, the route and the cause."""


def namespace_exists(namespace: str) -> bool:
    return (Path("/run/netns") / namespace).exists()


def read(namespace: str | None) -> list[Route]:
    """Every route tcra programmed (protocol TCRA_PROTO) in the namespace, in every table but
    the owner markers' (tcra.tcm.owners)."""
    return [r for r in _read_all(namespace) if r.table != OWNERS_TABLE]


def read_owned(namespace: str | None, owner: str) -> list[Route]:
    """The routes whose markers name `owner`."""
    routes = _read_all(namespace)
    named = owners(routes, (r.key for r in routes))
    return [r for r in routes if r.table != OWNERS_TABLE and named.get(r.key) == owner]


def read_markers(namespace: str | None) -> list[Route]:
    """The owner markers (tcra.tcm.owners) in the namespace."""
    return [r for r in _read_all(namespace) if r.table == OWNERS_TABLE]


def _read_all(namespace: str | None) -> list[Route]:
    listed = _ip(namespace, "-j", "-6", "route", "show", "proto", str(TCRA_PROTO), "table", "all")
    routes = [r for r in (_route(entry) for entry in json.loads(listed or "[]")) if r]
    return sorted(routes, key=lambda r: r.key)


def _route(entry: dict[str, Any]) -> Route | None:
    dst = entry["dst"] if "/" in entry["dst"] else f"{entry['dst']}/128"
    fields: dict[str, Any] = {"dst": "::/0" if dst.startswith("default") else dst,
                              "src": entry.get("from"), "dev": entry.get("dev", "?"),
                              "table": _TABLES.get(str(entry.get("table", "main")))
                              or int(entry["table"])}
    if entry.get("encap") == "seg6" and entry.get("mode") == "encap":
        fields["segments"] = tuple(entry.get("segs", ()))
    elif entry.get("encap") == "seg6local" and entry.get("action") in {b.value for b in Behaviour}:
        fields.update(behaviour=entry["action"], nh6=entry.get("nh6"), nh4=entry.get("nh4"))
    else:
        return None
    return Route.model_validate(fields)


def enable_srv6(namespace: str | None, interfaces: Iterable[str]) -> None:
    """Forwarding and seg6 on, for all and for each interface that receives SRv6 packets."""
    keys = ["net.ipv6.conf.all.forwarding", "net.ipv6.conf.all.seg6_enabled"] + [
        f"net.ipv6.conf.{i}.seg6_enabled" for i in interfaces]
    command = ["sysctl", "-qw", *(f"{key}=1" for key in keys)]
    if namespace:
        command = ["ip", "netns", "exec", namespace, *command]
    done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=TIMEOUT)
    if done.returncode != 0:
        raise KernelError(f"namespace {namespace or '(host)'}: sysctl: {done.stderr.strip()}")


def apply(namespace: str | None, wanted: Sequence[Route], owned: Sequence[Route],
          owner: str) -> None:
    """Make the kernel hold `wanted` for `owner`: replace what differs, delete what of `owned`
    is no longer wanted. A wanted route that exists under another owner's marker (or under
    none) is refused before anything changes; routes of other owners are never touched."""
    everything = _read_all(namespace)
    current = {r.key: r for r in everything if r.table != OWNERS_TABLE}
    named = owners(everything, current)
    where = f"HBR namespace {namespace or '(host)'}"
    for route in wanted:
        if route.key in current and named.get(route.key) != owner:
            raise OwnedElsewhereError(f"SRv6 route {route.dst}", where, named.get(route.key))
    keep = {r.key for r in wanted}
    changed = [r for r in wanted if current.get(r.key) != r]
    changed += [marker(r, owner) for r in wanted if named.get(r.key) != owner]
    gone = [current[r.key] for r in owned
            if r.key not in keep and r.key in current and named.get(r.key) == owner]
    gone += [marker(r, owner) for r in gone]
    index = _ifindex(namespace)
    try:
        failed = netlink.apply(changed, index, namespace) + netlink.apply(
            gone, index, namespace, delete=True)
    except netlink.NetlinkError as exc:
        raise KernelError(f"namespace {namespace or '(host)'}: {exc}") from None
    if failed:
        raise KernelError(f"namespace {namespace or '(host)'}: "
                          + "; ".join(str(error) for error in failed))


def _ifindex(namespace: str | None) -> dict[str, int]:
    links = json.loads(_ip(namespace, "-j", "link", "show") or "[]")
    return {link["ifname"]: int(link["ifindex"]) for link in links}


def _ip(namespace: str | None, *args: str) -> str:
    command = ["ip", *(("-n", namespace) if namespace else ()), *args]
    done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=TIMEOUT)
    if done.returncode != 0:
        raise KernelError(f"namespace {namespace or '(host)'}: {' '.join(args)}:"
                          f" {done.stderr.strip()}")
    return done.stdout
