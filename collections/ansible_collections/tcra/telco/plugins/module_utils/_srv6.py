# -*- coding: utf-8 -*-
# Copyright: tcra developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""SRv6 routes as plain data: normalise what a play asks for and what the kernel holds into
one shape, so the srv6_route module can compare them. Private to tcra.telco.

The shape is tcra.tcm.route.Route's: segments in travel order (first visited first). The
kernel (and pyroute2) keep an SRH's segments reversed; the conversion happens here only.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import ipaddress

TCRA_PROTO = 199
MAIN_TABLE = 254
# Owner markers, as tcra.tcm.owners writes them: a route in a table no rule uses, at an address
# derived from the marked route's key, whose segments spell the owner's name.
OWNERS_TABLE = 0x74637261
MARKER_PREFIX = b"\xfd\x7c"

# seg6local action numbers (include/uapi/linux/seg6_local.h) and the next hop each one needs
ACTIONS = {"End": 1, "End.X": 2, "End.DX6": 5, "End.DX4": 6}
NEXTHOP = {"End": None, "End.X": "nh6", "End.DX6": "nh6", "End.DX4": "nh4"}
BEHAVIOURS = dict((number, name) for name, number in ACTIONS.items())
ENCAP_SEG6 = 5
ENCAP_SEG6LOCAL = 7


class RouteError(ValueError):
    """A route that cannot be what the play asks for; the message names the route."""


def _prefix(value, what):
    try:
        net = ipaddress.ip_network(str(value), strict=True)
    except ValueError as exc:
        raise RouteError("%s: %s" % (what, exc)) from None
    if net.version != 6:
        raise RouteError("%s: %s is not an IPv6 prefix" % (what, value))
    return str(net)


def _address(value, version, what):
    try:
        addr = ipaddress.ip_address(str(value))
    except ValueError as exc:
        raise RouteError("%s: %s" % (what, exc)) from None
    if addr.version != version:
        raise RouteError("%s: %s is not an IPv%d address" % (what, value, version))
    return str(addr)


def describe(route):
    """How messages name a route: its key, as `ip route` would print it."""
    text = str(route.get("dst"))
    if route.get("src"):
        text += " from %s" % route["src"]
    if route.get("table", MAIN_TABLE) != MAIN_TABLE:
        text += " table %s" % route["table"]
    return text


def key(route):
    """What identifies a route in the kernel: destination, source, table."""
    return route["dst"], route["src"], route["table"]


def marker(route, owner):
    """The marker route saying that `owner` programmed `route`."""
    data = owner.encode("utf-8")
    data += b"\0" * (-len(data) % 16)
    return {"dst": _marker_dst(key(route)), "src": None, "dev": route["dev"],
            "table": OWNERS_TABLE,
            "segments": [str(ipaddress.IPv6Address(data[i:i + 16]))
                         for i in range(0, len(data), 16)]}


def owner_of(route, markers):
    """The owner the markers (by destination) name for `route`, or None."""
    found = markers.get(_marker_dst(key(route)))
    if found is None:
        return None
    data = b"".join(ipaddress.IPv6Address(s).packed for s in found.get("segments") or [])
    return data.rstrip(b"\0").decode("utf-8", "replace")


def _marker_dst(route_key):
    dst, src, table = route_key
    digest = hashlib.sha256(("%s %s %s" % (dst, src or "-", table)).encode("utf-8")).digest()
    return "%s/128" % ipaddress.IPv6Address(MARKER_PREFIX + digest[:14])


def normalise(route, key_only=False):
    """Validate one wanted route and return it in canonical form, or raise RouteError.

    With key_only, check and return only what identifies it (for removal)."""
    name = "route %s" % describe(route)
    dst = _prefix(route.get("dst"), name + ": dst")
    src = _prefix(route["src"], name + ": src") if route.get("src") else None
    dev = route.get("dev") or ""
    if not 0 < len(dev) <= 15:
        raise RouteError("%s: dev must be an interface name of 1 to 15 characters" % name)
    table = int(route.get("table") or MAIN_TABLE)
    if not 1 <= table <= 2 ** 32 - 1:
        raise RouteError("%s: table %d is out of range" % (name, table))
    out = {"dst": dst, "src": src, "dev": dev, "table": table}
    if key_only:
        return out
    segments = route.get("segments") or []
    behaviour = route.get("behaviour")
    if bool(segments) == bool(behaviour):
        raise RouteError("%s: give either segments (H.Encaps) or a behaviour (SID)" % name)
    if segments:
        out["segments"] = [_address(s, 6, name + ": segment") for s in segments]
        return out
    if behaviour not in ACTIONS:
        raise RouteError("%s: behaviour %s is not one of %s"
                         % (name, behaviour, ", ".join(sorted(ACTIONS))))
    out["behaviour"] = behaviour
    nexthop = NEXTHOP[behaviour]
    if nexthop:
        if not route.get(nexthop):
            raise RouteError("%s: %s needs %s" % (name, behaviour, nexthop))
        out[nexthop] = _address(route[nexthop], 6 if nexthop == "nh6" else 4,
                                "%s: %s" % (name, nexthop))
    return out


def from_kernel(msg, names):
    """A kernel route message (pyroute2 rtmsg) in canonical form; names maps ifindex to name.

    Encapsulations tcra does not install show up as a behaviour text such as
    "seg6 mode inline", so they never compare equal to a wanted route."""
    dst = msg.get_attr("RTA_DST") or "::"
    src = msg.get_attr("RTA_SRC")
    oif = msg.get_attr("RTA_OIF")
    out = {
        "dst": str(ipaddress.ip_network("%s/%d" % (dst, msg["dst_len"]), strict=False)),
        "src": (str(ipaddress.ip_network("%s/%d" % (src, msg["src_len"]), strict=False))
                if src else None),
        "dev": names.get(oif, "if%s" % oif),
        "table": msg.get_attr("RTA_TABLE") or msg["table"],
    }
    encap_type = msg.get_attr("RTA_ENCAP_TYPE")
    encap = msg.get_attr("RTA_ENCAP")
    if encap_type == ENCAP_SEG6 and encap is not None:
        srh = encap.get_attr("SEG6_IPTUNNEL_SRH") or {}
        out["segments"] = [str(ipaddress.ip_address(s)) for s in reversed(srh.get("segs", []))]
        if srh.get("mode", "encap") != "encap":
            out["behaviour"] = "seg6 mode %s" % srh.get("mode")
    elif encap_type == ENCAP_SEG6LOCAL and encap is not None:
        number = encap.get_attr("SEG6_LOCAL_ACTION")
        out["behaviour"] = BEHAVIOURS.get(number, "seg6local action %s" % number)
        for attr in ("nh6", "nh4"):
            value = encap.get_attr("SEG6_LOCAL_" + attr.upper())
            if value:
                out[attr] = str(ipaddress.ip_address(value))
    else:
        out["behaviour"] = "plain" if encap_type is None else "encap type %s" % encap_type
    return out


def to_netlink(route, oif):
    """Keyword arguments for pyroute2's route('replace', ...) that install a canonical route."""
    spec = {"dst": route["dst"], "oif": oif, "proto": TCRA_PROTO, "table": route["table"]}
    if route["src"]:
        spec["src"] = route["src"]
    if "segments" in route:
        # pyroute2 takes the SRH order: the last segment to visit comes first
        spec["encap"] = {"type": "seg6", "mode": "encap",
                         "segs": list(reversed(route["segments"]))}
    else:
        spec["encap"] = {"type": "seg6local", "action": route["behaviour"]}
        nexthop = NEXTHOP[route["behaviour"]]
        if nexthop:
            spec["encap"][nexthop] = route[nexthop]
    return spec


def delete_spec(route):
    """Keyword arguments for pyroute2's route('del', ...) that remove one tcra route."""
    spec = {"dst": route["dst"], "proto": TCRA_PROTO, "table": route["table"]}
    if route["src"]:
        spec["src"] = route["src"]
    return spec


def sort_key(route):
    return route["table"], route["dst"], route["src"] or ""
