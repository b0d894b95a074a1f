"""tcra.tcm.netlink against the real kernel, in a network namespace the fixture makes and always
removes. Every route is read back twice: parsed from `ip -6 route show proto 199 table all` and
through pyroute2."""

import errno
import os
import socket
import subprocess
import uuid
from collections.abc import Iterable, Iterator
from ipaddress import IPv6Network
from typing import NamedTuple

import pytest
from pyroute2 import NetNS

from tcra.tcm import netlink
from tcra.tcm.route import MAIN_TABLE, TCRA_PROTO, Route

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root")

ACTIONS = {value: behaviour.value for behaviour, value in netlink.SEG6_LOCAL_ACTIONS.items()}


class Seen(NamedTuple):
    """A route as read back: comparable with `expected(route)`."""

    dst: str
    src: str | None
    table: int
    dev: str
    segments: tuple[str, ...]  # travel order
    behaviour: str | None
    nexthop: str | None


def expected(route: Route) -> Seen:
    nexthop = route.nh6 if route.behaviour in ("End.X", "End.DX6") else (
        route.nh4 if route.behaviour == "End.DX4" else None)
    return Seen(str(route.dst), str(route.src) if route.src else None, route.table, route.dev,
                tuple(str(s) for s in route.segments),
                route.behaviour.value if route.behaviour else None,
                str(nexthop) if nexthop else None)


def ip(netns: str, *args: str) -> str:
    return subprocess.run(["ip", "-n", netns, *args], check=True, capture_output=True,
                          text=True, timeout=30).stdout


@pytest.fixture
def netns() -> Iterator[str]:
    """v0-v1 up (routes go out of v0), w0-w1 left down (a nexthop the kernel refuses)."""
    name = f"tcranl-{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", name], check=True, timeout=30)
    try:
        ip(name, "link", "add", "v0", "type", "veth", "peer", "name", "v1")
        ip(name, "link", "add", "w0", "type", "veth", "peer", "name", "w1")
        ip(name, "link", "set", "v0", "up")
        ip(name, "link", "set", "v1", "up")
        subprocess.run(["ip", "netns", "exec", name, "sysctl", "-qw",
                        "net.ipv6.conf.all.seg6_enabled=1", "net.ipv6.conf.all.forwarding=1"],
                       check=True, timeout=30)
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False, timeout=30)
    assert name not in ip_netns_list()


def ip_netns_list() -> str:
    return subprocess.run(["ip", "netns", "list"], capture_output=True, text=True,
                          timeout=30).stdout


@pytest.fixture
def ifindex(netns) -> dict[str, int]:
    with NetNS(netns) as ns:
        return {link.get("ifname"): link["index"] for link in ns.get_links()}


ROUTES = [
    Route(dst="fd00:1::/64", dev="v0", segments=("fc00:a::1",)),
    Route(dst="fd00:2::/64", dev="v0", segments=("fc00:a::1", "fc00:b::1", "fc00:c::1")),
    Route(dst="fd00:3::/64", src="fd99::/48", dev="v0", segments=("fc00:a::1", "fc00:b::1")),
    Route(dst="fd00:4::/64", dev="v0", segments=("fc00:b::1", "fc00:a::1"), table=100),
    Route(dst="fc00:1::1/128", dev="v0", behaviour="End"),
    Route(dst="fc00:1::2/128", dev="v0", behaviour="End.X", nh6="fe80::2"),
    Route(dst="fc00:1::3/128", dev="v0", behaviour="End.DX6", nh6="fd00:ff::2", table=100),
    Route(dst="fc00:1::4/128", dev="v0", behaviour="End.DX4", nh4="10.0.0.2", table=70000),
]


def by_ip(netns: str) -> set[Seen]:
    """Parse `ip -6 route show proto 199 table all` (a word's first occurrence wins)."""
    seen = set()
    for line in ip(netns, "-6", "route", "show", "proto", str(TCRA_PROTO), "table",
                   "all").splitlines():
        words = line.split()
        if not words:
            continue
        after = {word: words[i + 1] for i, word in reversed(list(enumerate(words[:-1])))}
        segments: tuple[str, ...] = ()
        behaviour = nexthop = None
        if after.get("encap") == "seg6":  # encap seg6 mode encap segs N [ A B C ]
            segments = tuple(words[words.index("[") + 1:words.index("]")])
            assert after["mode"] == "encap"
            assert int(after["segs"]) == len(segments)
        elif after.get("encap") == "seg6local":
            behaviour = after["action"]
            nexthop = after.get("nh6") or after.get("nh4")
        table = after.get("table", "main")
        src = str(IPv6Network(after["from"])) if "from" in after else None
        seen.add(Seen(str(IPv6Network(words[0])), src,
                      MAIN_TABLE if table == "main" else int(table), after["dev"], segments,
                      behaviour, nexthop))
    return seen


def by_pyroute2(netns: str) -> set[Seen]:
    seen = set()
    with NetNS(netns) as ns:
        names = {link["index"]: link.get("ifname") for link in ns.get_links()}
        for route in ns.route("dump", family=socket.AF_INET6):
            if route["proto"] != TCRA_PROTO:
                continue
            src = (f"{route.get('src')}/{route['src_len']}" if route["src_len"] else None)
            encap = route.get("encap")
            segments: tuple[str, ...] = ()
            behaviour = nexthop = None
            if route.get("encap_type") == netlink.LWTUNNEL_ENCAP_SEG6:
                srh = encap.get_attr("SEG6_IPTUNNEL_SRH")
                segments = tuple(reversed(srh["segs"]))  # SRH order -> travel order
                assert srh["mode"] == "encap"
            elif route.get("encap_type") == netlink.LWTUNNEL_ENCAP_SEG6_LOCAL:
                behaviour = ACTIONS[encap.get_attr("SEG6_LOCAL_ACTION")]
                nexthop = encap.get_attr("SEG6_LOCAL_NH6") or encap.get_attr("SEG6_LOCAL_NH4")
            seen.add(Seen(
                f"{route.get('dst') or '::'}/{route['dst_len']}", src, route.get("table"),
                names[route.get("oif")], segments, behaviour, nexthop))
    return seen


def assert_holds(netns: str, routes: Iterable[Route]) -> None:
    want = {expected(route) for route in routes}
    assert by_ip(netns) == want
    assert by_pyroute2(netns) == want


def test_each_kind_is_programmed_and_reads_back(netns, ifindex):
    assert netlink.apply(ROUTES, ifindex, netns) == []
    assert_holds(netns, ROUTES)


def test_replace_is_idempotent_and_updates_in_place(netns, ifindex):
    assert netlink.apply(ROUTES, ifindex, netns) == []
    assert netlink.apply(ROUTES, ifindex, netns) == []
    assert_holds(netns, ROUTES)
    changed = [Route.model_validate({**ROUTES[0].model_dump(), "segments": ROUTES[1].segments}),
               Route.model_validate({**ROUTES[5].model_dump(), "nh6": "fe80::9"})]
    assert netlink.apply(changed, ifindex, netns) == []
    assert_holds(netns, [*changed, *ROUTES[1:5], *ROUTES[6:]])


def test_delete_removes_exactly_those(netns, ifindex):
    # someone else's route with the same key as one of ours: proto 199 keeps it out of reach
    ip(netns, "-6", "route", "add", "fd00:5::/64", "dev", "v0", "proto", "static")
    theirs = Route(dst="fd00:5::/64", dev="v0", segments=("fc00:a::1",))
    assert netlink.apply(ROUTES, ifindex, netns) == []
    gone, kept = ROUTES[::2], ROUTES[1::2]
    assert netlink.apply([*gone, theirs], ifindex, netns, delete=True) == []
    assert_holds(netns, kept)
    assert "fd00:5::/64" in ip(netns, "-6", "route", "show", "proto", "static")
    # again: already gone is fine by default, and reported on request
    assert netlink.apply(gone, ifindex, netns, delete=True) == []
    errors = netlink.apply(gone, ifindex, netns, delete=True, missing_ok=False)
    assert [(e.route, e.errno) for e in errors] == [(r, errno.ESRCH) for r in gone]
    assert_holds(netns, kept)


def test_failures_name_their_route_and_the_rest_apply(netns, ifindex):
    unknown_index = Route(dst="fd00:10::/64", dev="ghost", segments=("fc00:a::1",))
    not_mapped = Route(dst="fd00:11::/64", dev="nomap", behaviour="End")
    down_nexthop = Route(dst="fc00:1::9/128", dev="w0", behaviour="End.X", nh6="fe80::2")
    routes = [ROUTES[0], unknown_index, *ROUTES[1:4], not_mapped, down_nexthop, *ROUTES[4:]]
    errors = netlink.apply(routes, {**ifindex, "ghost": 99_999}, netns)
    assert [(e.route, e.errno) for e in errors] == [
        (unknown_index, errno.ENODEV), (not_mapped, errno.ENODEV),
        (down_nexthop, errno.ENETDOWN)]
    assert "Nexthop device is not up" in errors[2].message
    assert "no ifindex known for dev 'nomap'" in errors[1].message
    for error in errors:
        assert str(error).startswith(f"route {error.route.dst} dev {error.route.dev} ")
    assert_holds(netns, ROUTES)


def test_lost_acknowledgements_are_reported_never_taken_as_done(netns, ifindex, monkeypatch):
    """Shrink the receive buffer below one chunk's ACKs: the kernel drops some (ENOBUFS).
    Every route is then either in the kernel or reported; none is silently assumed."""
    monkeypatch.setattr(netlink, "BUFFER_BYTES", 1)  # the kernel's minimum, a few ACKs
    monkeypatch.setattr(netlink, "ACK_TRUESIZE", 1)
    monkeypatch.setattr(netlink, "CHUNK_MESSAGES", 500)
    routes = [Route(dst=f"fd00:{i:x}:1::/64", dev="v0", segments=("fc00:a::1",))
              for i in range(500)]
    errors = netlink.apply(routes, ifindex, netns)
    assert errors and {e.errno for e in errors} == {errno.ENOBUFS}
    present = {seen.dst for seen in by_ip(netns)}
    reported = {str(e.route.dst) for e in errors}
    assert all(str(r.dst) in present or str(r.dst) in reported for r in routes)
    assert len(present) == len(routes)  # the kernel did apply them; only the ACKs were lost
