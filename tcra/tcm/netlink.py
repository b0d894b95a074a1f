"""A small rtnetlink writer for tcra's SRv6 routes (`tcra.tcm.route.Route`), on the standard
library alone.

pyroute2 builds each message through its generic NLA machinery (1-2 ms a route, measured in
docs/tcm.md); this module packs exactly the one message shape a Route needs with `struct`,
sends many per `send()` and reads every acknowledgement, so programming 10,000 routes costs
about what `ip -batch` does.
The bytes are those pyroute2's `IPBatch` compiles for the same route (a unit test holds us to
it), so the kernel sees nothing new.

Message layout (all host byte order except addresses):

    nlmsghdr | rtmsg | [RTA_DST] | [RTA_SRC] | [RTA_OIF] | RTA_TABLE | RTA_ENCAP | RTA_ENCAP_TYPE

RTA_ENCAP holds, for H.Encaps, SEG6_IPTUNNEL_SRH = struct seg6_iptunnel_encap (int mode, then an
ipv6_sr_hdr whose segment list is the travel order reversed); for a SID, SEG6_LOCAL_ACTION and the
nexthop the behaviour uses. Deletes carry no encap: the kernel matches dst, src, table, protocol
and (when given) the outgoing interface. Values are from the kernel uapi headers
(linux/rtnetlink.h, lwtunnel.h, seg6_iptunnel.h, seg6_local.h, netlink.h).
"""

from __future__ import annotations

import ctypes
import errno as errnos
import os
import select
import socket
import struct
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from tcra.errors import TcraError
from tcra.tcm.route import TCRA_PROTO, Behaviour, Route

__all__ = ["NetlinkError", "RouteError", "apply", "encode_route"]

# linux/netlink.h
NETLINK_ROUTE = 0
SOL_NETLINK = 270
NETLINK_CAP_ACK = 10
NETLINK_EXT_ACK = 11
NLM_F_REQUEST = 0x1
NLM_F_ACK = 0x4
NLM_F_REPLACE = 0x100
NLM_F_CREATE = 0x400
NLM_F_CAPPED = 0x100  # on an NLMSG_ERROR: the echoed request is only its header
NLM_F_ACK_TLVS = 0x200  # on an NLMSG_ERROR: extended-ack attributes follow
NLMSG_ERROR = 2
NLMSGERR_ATTR_MSG = 1
# linux/rtnetlink.h
RTM_NEWROUTE = 24
RTM_DELROUTE = 25
RT_SCOPE_UNIVERSE = 0
RTN_UNICAST = 1
RT_TABLE_MAIN = 254
RTA_DST = 1
RTA_SRC = 2
RTA_OIF = 4
RTA_TABLE = 15
RTA_ENCAP_TYPE = 21
RTA_ENCAP = 22
# linux/lwtunnel.h
LWTUNNEL_ENCAP_SEG6 = 5
LWTUNNEL_ENCAP_SEG6_LOCAL = 7
# linux/seg6_iptunnel.h, linux/seg6.h
SEG6_IPTUNNEL_SRH = 1
SEG6_IPTUN_MODE_ENCAP = 1
IPV6_SRCRT_TYPE_4 = 4
# linux/seg6_local.h
SEG6_LOCAL_ACTION = 1
SEG6_LOCAL_NH4 = 4
SEG6_LOCAL_NH6 = 5
SEG6_LOCAL_ACTIONS: Mapping[Behaviour, int] = {
    Behaviour.END: 1,  # SEG6_LOCAL_ACTION_END
    Behaviour.END_X: 2,  # SEG6_LOCAL_ACTION_END_X
    Behaviour.END_DX6: 5,  # SEG6_LOCAL_ACTION_END_DX6
    Behaviour.END_DX4: 6,  # SEG6_LOCAL_ACTION_END_DX4
}
# linux/sched.h, linux/socket.h
CLONE_NEWNET = 0x40000000
SO_SNDBUFFORCE = 32
SO_RCVBUFFORCE = 33

NETNS_RUN_DIR = Path("/run/netns")
BUFFER_BYTES = 8 << 20
"""Socket buffers asked for; SO_*BUFFORCE (CAP_NET_ADMIN) goes past net.core.[rw]mem_max."""
ACK_TRUESIZE = 2048
"""Receive-buffer bytes budgeted per acknowledgement (the kernel charges the skb's truesize,
under 1.3 KiB for an error with an extended-ack message): caps how many messages one chunk
holds, so the acknowledgements of a chunk always fit."""
CHUNK_MESSAGES = 64
"""Most messages in one send(). The kernel handles a whole send() in one go, and each seg6 route
takes per-CPU memory from an atomic reserve that a kernel worker refills in the background:
a few hundred routes in one send() can empty it (ENOMEM; dmesg "percpu: allocation failed ...
atomic"). 64 a send measured as fast as 2048 and did not hit it in dozens of 10,000-route
runs; should it happen still, the routes are sent again (ENOMEM_RETRY_PAUSES)."""
ENOMEM_RETRY_PAUSES = (0.02, 0.1, 0.5)
"""Seconds to wait before sending the routes that failed with ENOMEM again (the reserve above
refills within milliseconds); whatever still fails after the last retry is reported."""
RECV_BYTES = 64 << 10

_HEAD = struct.Struct("=IHHII BBBBBBBBI")  # nlmsghdr, rtmsg
_NLA_ADDR6 = struct.Struct("=HH16s")
_NLA_U32 = struct.Struct("=HHI")
_ENCAP_TYPE = struct.Struct("=HHHxx")
_SRH = struct.Struct("=HHHHi BBBBBBH")  # RTA_ENCAP, SEG6_IPTUNNEL_SRH, mode, ipv6_sr_hdr
_NLMSGHDR = struct.Struct("=IHHII")
_NLMSGERR = struct.Struct("=IHHIIi")
_NLA = struct.Struct("=HH")


class NetlinkError(TcraError):
    """The rtnetlink socket itself could not be opened or used (not one route's failure)."""


@dataclass(frozen=True, slots=True)
class RouteError:
    """One route the kernel refused (or that could not be sent): the route, errno, and why."""

    route: Route
    errno: int
    message: str

    def __str__(self) -> str:
        route = self.route
        src = f" from {route.src}" if route.src else ""
        name = errnos.errorcode.get(self.errno, str(self.errno))
        return (f"route {route.dst}{src} dev {route.dev} table {route.table}: "
                f"{self.message} ({name})")


def encode_route(route: Route, *, oif: int | None, seq: int, delete: bool = False) -> bytes:
    """One RTM_NEWROUTE (create or replace) or RTM_DELROUTE message for `route`.

    `oif` is the ifindex of `route.dev`; a delete may pass None to match on dst, src, table and
    protocol alone. The message's port id is 0: the kernel fills in the sender's.
    """
    table, dst, src = route.table, route.dst, route.src
    parts: list[bytes] = []
    if dst.prefixlen:  # a default route has no RTA_DST, as ip and pyroute2 send it
        parts.append(_NLA_ADDR6.pack(20, RTA_DST, dst.network_address.packed))
    if src is not None and src.prefixlen:
        parts.append(_NLA_ADDR6.pack(20, RTA_SRC, src.network_address.packed))
    if oif is not None:
        parts.append(_NLA_U32.pack(8, RTA_OIF, oif))
    parts.append(_NLA_U32.pack(8, RTA_TABLE, table))
    if delete:
        kind, flags = RTM_DELROUTE, NLM_F_REQUEST | NLM_F_ACK
    else:
        kind, flags = RTM_NEWROUTE, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE
        parts.append(_encap(route))
    body = b"".join(parts)
    head = _HEAD.pack(
        _HEAD.size + len(body), kind, flags, seq, 0,
        socket.AF_INET6, dst.prefixlen, src.prefixlen if src else 0, 0,
        table if table < 255 else RT_TABLE_MAIN,  # RTA_TABLE, always sent, is what counts
        TCRA_PROTO, RT_SCOPE_UNIVERSE, RTN_UNICAST, 0,
    )
    return head + body


def _encap(route: Route) -> bytes:
    if route.behaviour is None:
        n = len(route.segments)
        srh = _SRH.pack(
            20 + 16 * n, RTA_ENCAP, 16 + 16 * n, SEG6_IPTUNNEL_SRH, SEG6_IPTUN_MODE_ENCAP,
            0, 2 * n, IPV6_SRCRT_TYPE_4, n - 1, n - 1, 0, 0,  # nexthdr .. tag
        )
        segments = b"".join(segment.packed for segment in reversed(route.segments))
        return srh + segments + _ENCAP_TYPE.pack(6, RTA_ENCAP_TYPE, LWTUNNEL_ENCAP_SEG6)
    # Only the nexthop the behaviour takes: the kernel accepts and silently drops any other.
    inner = _NLA_U32.pack(8, SEG6_LOCAL_ACTION, SEG6_LOCAL_ACTIONS[route.behaviour])
    if route.behaviour in (Behaviour.END_X, Behaviour.END_DX6) and route.nh6 is not None:
        inner += _NLA_ADDR6.pack(20, SEG6_LOCAL_NH6, route.nh6.packed)
    elif route.behaviour is Behaviour.END_DX4 and route.nh4 is not None:
        inner += _NLA.pack(8, SEG6_LOCAL_NH4) + route.nh4.packed
    return (_NLA.pack(4 + len(inner), RTA_ENCAP) + inner
            + _ENCAP_TYPE.pack(6, RTA_ENCAP_TYPE, LWTUNNEL_ENCAP_SEG6_LOCAL))


def apply(
    routes: Sequence[Route],
    ifindex: Mapping[str, int],
    netns: str | None,
    delete: bool = False,
    *,
    missing_ok: bool = True,
    timeout: float = 10.0,
) -> list[RouteError]:
    """Replace (or, with `delete`, remove) `routes` in network namespace `netns` (None: this
    process's own), resolving each route's dev through `ifindex`.

    Returns one RouteError per route that failed, in input order; an empty list when all
    succeeded. With `missing_ok`, deleting a route that is already gone is not an error. A route
    whose dev is not in `ifindex` is not sent (ENODEV); a delete then matches without the dev.
    Routes the kernel refused for want of memory (ENOMEM, a transient state) are sent again after
    a pause, up to len(ENOMEM_RETRY_PAUSES) times. Raises NetlinkError when the namespace or the
    socket cannot be used at all. `timeout` bounds every wait (for the socket to be made, to
    send, for each acknowledgement).
    """
    with _open_socket(netns, timeout) as sock:
        try:
            limits = _Limits(
                messages=max(1, min(CHUNK_MESSAGES,
                                    _buffer(sock, socket.SO_RCVBUF) // ACK_TRUESIZE)),
                size=max(4096, _buffer(sock, socket.SO_SNDBUF) // 2),
                timeout=timeout,
            )
        except OSError as exc:
            raise NetlinkError(f"cannot size the rtnetlink socket's buffers: {exc}") from exc
        failed = _program(sock, routes, range(len(routes)), ifindex, delete, limits)
        for pause in ENOMEM_RETRY_PAUSES:
            again = [index for index, (code, _) in failed.items() if code == errnos.ENOMEM]
            if not again:
                break
            time.sleep(pause)
            for index in again:
                del failed[index]
            failed.update(_program(sock, routes, again, ifindex, delete, limits))
    return [
        RouteError(routes[index], code, text)
        for index, (code, text) in sorted(failed.items())
        if not (delete and missing_ok and code == errnos.ESRCH)
    ]


@dataclass(frozen=True, slots=True)
class _Limits:
    messages: int
    size: int
    timeout: float


def _program(sock: socket.socket, routes: Sequence[Route], indices: Iterable[int],
             ifindex: Mapping[str, int], delete: bool,
             limits: _Limits) -> dict[int, tuple[int, str]]:
    """Send routes[i] for each i in `indices` in chunks; return {i: (errno, message)} of the
    failed ones. A message's sequence number is its route's index + 1."""
    failed: dict[int, tuple[int, str]] = {}
    chunk: list[bytes] = []
    seqs: set[int] = set()
    size = 0
    for index in indices:
        route = routes[index]
        oif = ifindex.get(route.dev)
        if oif is None and not delete:
            failed[index] = _reason(errnos.ENODEV, f"no ifindex known for dev {route.dev!r}")
            continue
        message = encode_route(route, oif=oif, seq=index + 1, delete=delete)
        if chunk and (len(chunk) >= limits.messages or size + len(message) > limits.size):
            _exchange(sock, chunk, seqs, failed, limits.timeout)
            chunk, seqs, size = [], set(), 0
        chunk.append(message)
        seqs.add(index + 1)
        size += len(message)
    if chunk:
        _exchange(sock, chunk, seqs, failed, limits.timeout)
    return failed


def _exchange(sock: socket.socket, chunk: list[bytes], seqs: set[int],
              failed: dict[int, tuple[int, str]], timeout: float) -> None:
    """Send one chunk and read its acknowledgements into `failed` (keyed by route index, that is
    sequence number - 1). The kernel handles a netlink request inside send(), so when send
    returns, every acknowledgement is queued (or, past the receive buffer, dropped: then the
    rest of the chunk is reported as unknown, never as done). The socket does not block: reads
    take what is queued, and only an empty queue waits, in poll() for at most `timeout`."""
    data = b"".join(chunk)
    try:
        while True:
            try:
                sent = sock.send(data)
                break
            except BlockingIOError:
                if not _ready(sock, select.POLLOUT, timeout):
                    raise TimeoutError(errnos.ETIMEDOUT, f"not writable in {timeout} s") from None
    except OSError as exc:
        reason = _reason(exc.errno or errnos.EIO, f"send failed: {exc.strerror or exc}")
        failed.update(dict.fromkeys((seq - 1 for seq in seqs), reason))
        return
    if sent != len(data):  # a netlink datagram goes whole or not at all; be sure
        failed.update(dict.fromkeys((seq - 1 for seq in seqs), (errnos.EIO, "send was cut short")))
        return
    buffer = bytearray(RECV_BYTES)
    view = memoryview(buffer)
    overflowed = False
    while seqs:
        try:
            length = sock.recv_into(buffer)
        except BlockingIOError:
            if not overflowed and _ready(sock, select.POLLIN, timeout):
                continue
            lost = (errnos.ENOBUFS, "acknowledgement lost (receive buffer overflow); "
                    "route state unknown") if overflowed else (
                errnos.ETIMEDOUT, f"no acknowledgement within {timeout} s")
            failed.update(dict.fromkeys((seq - 1 for seq in seqs), lost))
            return
        except OSError as exc:
            if exc.errno != errnos.ENOBUFS:
                raise NetlinkError(f"rtnetlink receive failed: {exc}") from exc
            overflowed = True  # read what is still queued, without waiting; the rest is lost
            continue
        _account(view[:length], seqs, failed)


def _ready(sock: socket.socket, event: int, timeout: float) -> bool:
    poller = select.poll()
    poller.register(sock, event)
    return bool(poller.poll(timeout * 1000))


def _account(data: memoryview, seqs: set[int], failed: dict[int, tuple[int, str]]) -> None:
    for seq, code, text in _acks(data):
        if seq in seqs:
            seqs.discard(seq)
            if code:
                failed[seq - 1] = _reason(code, text)


def _acks(data: memoryview) -> Iterator[tuple[int, int, str]]:
    """(sequence number, errno, extended-ack message) of each NLMSG_ERROR in `data`."""
    offset = 0
    while offset + _NLMSGERR.size <= len(data):
        length, kind, flags, seq, _pid, error = _NLMSGERR.unpack_from(data, offset)
        if length < _NLMSGHDR.size:
            return
        if kind == NLMSG_ERROR:
            text = ""
            if error and flags & NLM_F_ACK_TLVS:
                # the echoed request: only its header when capped, else the whole message
                echoed = _NLMSGHDR.size
                if not flags & NLM_F_CAPPED:
                    echoed = _NLMSGHDR.unpack_from(data, offset + _NLMSGERR.size)[0]
                text = _ext_ack(data[offset + _NLMSGERR.size + echoed:offset + length])
            yield seq, -error, text
        offset += (length + 3) & ~3


def _ext_ack(tlvs: memoryview) -> str:
    offset = 0
    while offset + _NLA.size <= len(tlvs):
        length, kind = _NLA.unpack_from(tlvs, offset)
        if length < _NLA.size:
            break
        if kind & 0x3FFF == NLMSGERR_ATTR_MSG:
            raw = bytes(tlvs[offset + _NLA.size:offset + length])
            return raw.split(b"\0", 1)[0].decode(errors="replace")
        offset += (length + 3) & ~3
    return ""


def _reason(code: int, detail: str) -> tuple[int, str]:
    message = os.strerror(code)
    return code, f"{message}: {detail}" if detail else message


def _buffer(sock: socket.socket, option: int) -> int:
    """Raise a socket buffer as far as allowed; return what the kernel granted (it reports
    the doubled, truesize-accounted figure it enforces)."""
    force = SO_RCVBUFFORCE if option == socket.SO_RCVBUF else SO_SNDBUFFORCE
    try:
        sock.setsockopt(socket.SOL_SOCKET, force, BUFFER_BYTES)
    except PermissionError:
        sock.setsockopt(socket.SOL_SOCKET, option, BUFFER_BYTES)  # capped at net.core.*mem_max
    return int(sock.getsockopt(socket.SOL_SOCKET, option))


def _new_socket() -> socket.socket:
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, NETLINK_ROUTE)
    try:
        sock.setblocking(False)  # every wait is a poll() with the caller's timeout
        sock.setsockopt(SOL_NETLINK, NETLINK_CAP_ACK, 1)  # errors echo the header, not the request
        sock.setsockopt(SOL_NETLINK, NETLINK_EXT_ACK, 1)  # errors say why, in words
        sock.bind((0, 0))
    except BaseException:
        sock.close()
        raise
    return sock


def _open_socket(netns: str | None, timeout: float) -> socket.socket:
    """A NETLINK_ROUTE socket in `netns`. A socket stays in the namespace it was made in, so a
    short-lived thread enters the namespace, makes it and ends; the caller's thread never moves."""
    try:
        if netns is None:
            return _new_socket()
    except OSError as exc:
        raise NetlinkError(f"cannot open an rtnetlink socket: {exc}") from exc
    if not netns or "/" in netns or netns in (".", ".."):
        raise NetlinkError(f"invalid network namespace name {netns!r}")
    path = NETNS_RUN_DIR / netns
    made: list[socket.socket] = []
    failure: list[BaseException] = []
    handover = threading.Lock()
    abandoned = False

    def enter_and_open() -> None:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            try:
                libc = ctypes.CDLL(None, use_errno=True)
                if libc.setns(fd, CLONE_NEWNET) != 0:
                    code = ctypes.get_errno()
                    raise OSError(code, f"setns: {os.strerror(code)}")
            finally:
                os.close(fd)
            sock = _new_socket()
        except BaseException as exc:
            failure.append(exc)
            return
        with handover:
            if abandoned:  # the caller stopped waiting: nobody else will close it
                sock.close()
            else:
                made.append(sock)

    thread = threading.Thread(target=enter_and_open, name=f"tcra-netns-{netns}", daemon=True)
    thread.start()
    thread.join(timeout)
    with handover:
        if not made and not failure:
            abandoned = True
            raise NetlinkError(f"network namespace {netns}: no socket within {timeout} s")
    if failure:
        raise NetlinkError(f"network namespace {netns} ({path}): {failure[0]}") from failure[0]
    return made[0]
