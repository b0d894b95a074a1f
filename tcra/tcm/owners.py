"""Who owns each of tcra's SRv6 routes, kept in the HBR's kernel beside the routes themselves.

Linux routes carry no free-form label, so each route tcra programs gets a marker route: in a
table no rule points at (so no packet ever uses it), at a destination derived from the marked
route's key, encapsulating to a segment list that spells the owner's name (UTF-8, 16 bytes a
segment). Markers come and go with their routes, with the namespace, and after a reboot, exactly
as the routes do, and any tool that lists routes shows them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from ipaddress import IPv6Address

from tcra.tcm.route import Route, RouteKey

OWNERS_TABLE = 0x74637261
"""The routing table of the markers ("tcra" in ASCII); no ip rule refers to it."""
_MARKER_PREFIX = b"\xfd\x7c"  # a ULA, never routed


def marker(route: Route, owner: str) -> Route:
    """The marker saying that `owner` programmed `route`."""
    data = owner.encode()
    data += b"\0" * (-len(data) % 16)
    segments = tuple(IPv6Address(data[i:i + 16]) for i in range(0, len(data), 16))
    return Route(dst=f"{_marker_address(route.key)}/128", dev=route.dev, segments=segments,
                 table=OWNERS_TABLE)


def owners(markers: Iterable[Route], keys: Iterable[RouteKey]) -> Mapping[RouteKey, str]:
    """Each of `keys` that has a marker, with the owner the marker names."""
    named = {str(m.dst): _owner(m.segments) for m in markers if m.table == OWNERS_TABLE}
    return {key: owner for key in keys
            if (owner := named.get(f"{_marker_address(key)}/128")) is not None}


def _marker_address(key: RouteKey) -> IPv6Address:
    """From "<dst> <src or -> <table>", as the collection's srv6_route module computes it."""
    dst, src, table = key
    digest = hashlib.sha256(f"{dst} {src or '-'} {table}".encode()).digest()
    return IPv6Address(_MARKER_PREFIX + digest[:14])


def _owner(segments: Iterable[IPv6Address]) -> str:
    return b"".join(s.packed for s in segments).rstrip(b"\0").decode(errors="replace")
