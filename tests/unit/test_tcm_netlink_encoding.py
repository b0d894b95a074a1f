"""tcra.tcm.netlink writes, byte for byte, the messages pyroute2's IPBatch compiles for the same
route (sequence number and port id aside): the kernel sees nothing pyroute2 would not send."""

import errno
import socket
import struct
from collections.abc import Iterator

import pytest
from pyroute2 import IPBatch

from tcra.tcm import netlink
from tcra.tcm.route import TCRA_PROTO, Route

OIF = 7

ROUTES = {
    "encap-1": Route(dst="fd00:1::/64", dev="v0", segments=("fc00:1::1",)),
    "encap-3": Route(dst="fd00:2::/64", dev="v0",
                     segments=("fc00:1::1", "fc00:2::1", "fc00:3::1")),
    "encap-src": Route(dst="fd00:3::/64", src="fd99::/48", dev="v0",
                       segments=("fc00:1::1", "fc00:2::1")),
    "encap-table-100": Route(dst="fd00:4::/64", dev="v0", segments=("fc00:1::1",), table=100),
    "encap-table-1000": Route(dst="fd00:5::/64", src="fd99:1::/64", dev="v0",
                              segments=("fc00:1::1", "fc00:2::1"), table=1000),
    "encap-default": Route(dst="::/0", dev="v0", segments=("fc00:1::1",)),
    "end": Route(dst="fc00:1::1/128", dev="v0", behaviour="End"),
    "end-x": Route(dst="fc00:1::2/128", dev="v0", behaviour="End.X", nh6="fe80::1"),
    "end-dx6": Route(dst="fc00:1::3/128", dev="v0", behaviour="End.DX6", nh6="fd00::2",
                     table=100),
    "end-dx4": Route(dst="fc00:1::4/128", dev="v0", behaviour="End.DX4", nh4="10.0.0.2",
                     table=70000),
}


@pytest.fixture(scope="module")
def ipbatch() -> Iterator[IPBatch]:
    batch = IPBatch()
    yield batch
    batch.close()


def pyroute2_bytes(batch: IPBatch, route: Route, *, delete: bool, oif: int | None = OIF) -> bytes:
    """What pyroute2 compiles; keyword order is attribute order, so it follows ours."""
    spec: dict[str, object] = {"family": socket.AF_INET6, "dst": str(route.dst)}
    if route.src is not None:
        spec["src"] = str(route.src)
    if oif is not None:
        spec["oif"] = oif
    spec |= {"table": route.table, "proto": TCRA_PROTO, "type": "unicast"}
    if not delete:
        if route.segments:  # pyroute2 takes the SRH's order: the travel order reversed
            spec["encap"] = {"type": "seg6", "mode": "encap",
                             "segs": [str(s) for s in reversed(route.segments)]}
        else:
            assert route.behaviour is not None
            encap: dict[str, object] = {"type": "seg6local", "action": route.behaviour.value}
            if route.nh6 is not None:
                encap["nh6"] = str(route.nh6)
            if route.nh4 is not None:
                encap["nh4"] = str(route.nh4)
            spec["encap"] = encap
    batch.reset()
    batch.route("del" if delete else "replace", **spec)
    return bytes(batch.batch)


def without_seq_and_pid(message: bytes) -> bytes:
    return message[:8] + bytes(8) + message[16:]


@pytest.mark.parametrize("name", ROUTES)
def test_replace_matches_pyroute2(ipbatch, name):
    route = ROUTES[name]
    ours = netlink.encode_route(route, oif=OIF, seq=42)
    theirs = pyroute2_bytes(ipbatch, route, delete=False)
    assert without_seq_and_pid(ours).hex() == without_seq_and_pid(theirs).hex()
    assert struct.unpack_from("=IHHII", ours) == (
        len(ours), netlink.RTM_NEWROUTE, 0x505, 42, 0)  # REQUEST|ACK|REPLACE|CREATE


@pytest.mark.parametrize("name", ROUTES)
def test_delete_matches_pyroute2(ipbatch, name):
    route = ROUTES[name]
    ours = netlink.encode_route(route, oif=OIF, seq=9, delete=True)
    theirs = pyroute2_bytes(ipbatch, route, delete=True)
    assert without_seq_and_pid(ours).hex() == without_seq_and_pid(theirs).hex()
    assert struct.unpack_from("=IHHII", ours) == (len(ours), netlink.RTM_DELROUTE, 0x5, 9, 0)


def test_delete_without_oif_matches_pyroute2(ipbatch):
    route = ROUTES["encap-src"]
    ours = netlink.encode_route(route, oif=None, seq=1, delete=True)
    theirs = pyroute2_bytes(ipbatch, route, delete=True, oif=None)
    assert without_seq_and_pid(ours) == without_seq_and_pid(theirs)


def test_srh_holds_segments_reversed():
    route = ROUTES["encap-3"]
    message = netlink.encode_route(route, oif=OIF, seq=1)
    srh = message.index(struct.pack("=i", netlink.SEG6_IPTUN_MODE_ENCAP) + bytes([0, 6, 4, 2, 2]))
    segments = message[srh + 12:srh + 12 + 48]
    assert segments == b"".join(s.packed for s in reversed(route.segments))


def test_rtmsg_fields():
    message = netlink.encode_route(ROUTES["encap-table-1000"], oif=OIF, seq=1)
    family, dst_len, src_len, tos, table, proto, scope, kind, flags = struct.unpack_from(
        "=BBBBBBBBI", message, 16)
    assert (family, dst_len, src_len, tos, proto, scope, kind, flags) == (
        socket.AF_INET6, 64, 64, 0, TCRA_PROTO, 0, 1, 0)
    assert table == 254  # what pyroute2 puts there; the kernel takes RTA_TABLE instead
    assert struct.pack("=HHI", 8, netlink.RTA_TABLE, 1000) in message


def test_messages_are_aligned():
    for route in ROUTES.values():
        for delete in (False, True):
            message = netlink.encode_route(route, oif=OIF, seq=1, delete=delete)
            assert len(message) % 4 == 0
            assert struct.unpack_from("=I", message)[0] == len(message)


def error_ack(seq: int, code: int, text: str = "") -> bytes:
    """An NLMSG_ERROR as the kernel sends it with NETLINK_CAP_ACK and NETLINK_EXT_ACK."""
    flags = netlink.NLM_F_CAPPED
    tlvs = b""
    if text:
        raw = text.encode() + b"\0"
        tlvs = struct.pack("=HH", 4 + len(raw), netlink.NLMSGERR_ATTR_MSG) + raw
        tlvs += bytes(-len(tlvs) % 4)
        flags |= netlink.NLM_F_ACK_TLVS
    echoed = struct.pack("=IHHII", 100, netlink.RTM_NEWROUTE, 0x505, seq, 0)
    body = struct.pack("=i", -code) + echoed + tlvs
    return struct.pack("=IHHII", 16 + len(body), netlink.NLMSG_ERROR, flags, seq, 1234) + body


def test_acks_parse_errors_and_extended_messages():
    data = (error_ack(1, 0) + error_ack(2, errno.ENETDOWN, "Nexthop device is not up")
            + error_ack(3, errno.ENODEV))
    assert list(netlink._acks(memoryview(data))) == [
        (1, 0, ""), (2, errno.ENETDOWN, "Nexthop device is not up"), (3, errno.ENODEV, "")]


def test_route_error_names_the_route():
    error = netlink.RouteError(ROUTES["encap-src"], errno.ENETDOWN,
                               "Network is down: Nexthop device is not up")
    assert str(error) == ("route fd00:3::/64 from fd99::/48 dev v0 table 254: "
                          "Network is down: Nexthop device is not up (ENETDOWN)")


@pytest.mark.parametrize("name", ["", ".", "..", "a/b", "../x"])
def test_bad_namespace_names_are_refused(name):
    with pytest.raises(netlink.NetlinkError, match="invalid network namespace name"):
        netlink.apply([ROUTES["end"]], {"v0": 1}, name)


def test_missing_namespace_is_one_clear_error():
    with pytest.raises(netlink.NetlinkError, match="tcranl-does-not-exist"):
        netlink.apply([ROUTES["end"]], {"v0": 1}, "tcranl-does-not-exist")
