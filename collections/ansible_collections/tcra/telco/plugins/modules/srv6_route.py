#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: tcra developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: srv6_route
short_description: Manage the SRv6 routes of a host-based router
version_added: 0.1.0
description:
  - Installs, replaces and removes Linux SRv6 routes over netlink, on the target host or in one
    of its network namespaces.
  - A route is either an H.Encaps route (I(segments)) or a seg6local SID (I(behaviour)).
  - Every route this module installs carries route protocol number 199, so the module can tell
    its own routes from everything else on the host. Only routes with protocol 199 are read,
    compared and removed.
  - A route is identified by I(dst), I(src) and I(table). The module changes a route only when
    the kernel holds none with that key or holds one with a different device, segment list,
    behaviour or next hop; it writes with netlink C(replace), so re-runs converge.
author:
  - tcra developers (!UNKNOWN)
requirements:
  - pyroute2 >= 0.7.12 on the target (tested with 0.9.7)
  - Linux with SRv6 (seg6 and seg6local lightweight tunnels); the module needs CAP_NET_ADMIN
attributes:
  check_mode:
    description: Reports what would change without touching the kernel.
    support: full
  diff_mode:
    description: Shows the tcra routes before and after, in the normalised form of I(routes).
    support: full
  platform:
    description: Target platforms.
    support: full
    platforms: posix
options:
  routes:
    description:
      - The routes, in the shape of C(tcra.tcm.route.Route).
    type: list
    elements: dict
    default: []
    suboptions:
      dst:
        description: Destination IPv6 prefix (host bits zero); a bare address means C(/128).
        type: str
        required: true
      src:
        description: Source IPv6 prefix the route applies to (a source classifier).
        type: str
      dev:
        description: Outgoing interface. It must exist on the target (in I(netns) if given).
        type: str
        required: true
      segments:
        description:
          - H.Encaps segment list, in travel order (the first segment is visited first), as
            C(ip route ... encap seg6 mode encap segs A,B) takes it.
          - Mutually exclusive with I(behaviour).
        type: list
        elements: str
      behaviour:
        description:
          - The seg6local behaviour of a SID route. Mutually exclusive with I(segments).
        type: str
        choices: [End, End.X, End.DX4, End.DX6]
      nh6:
        description: IPv6 next hop; required by C(End.X) and C(End.DX6), ignored otherwise.
        type: str
      nh4:
        description: IPv4 next hop; required by C(End.DX4), ignored otherwise.
        type: str
      table:
        description: Routing table.
        type: int
        default: 254
  state:
    description:
      - C(present) installs the listed routes; C(absent) removes the tcra routes with the keys
        listed (only dst, src and table of each route matter then, and only they are checked).
    type: str
    choices: [present, absent]
    default: present
  purge:
    description:
      - Also remove every IPv6 route with protocol 199, in any table, that is not listed.
      - With I(state=absent) this removes all tcra routes.
    type: bool
    default: false
  owner:
    description:
      - Who programs these routes, as tcra writes it (C(<project>/<stack>/<resource>@<identity>)).
      - When given, each route gets a marker route naming it, in table 1952674401 (0x74637261),
        which no rule uses; the markers are the ones tcra's C(HbrRoutes) writes.
      - A listed route that exists under another owner's marker (or under none) fails the task
        and is left as it is. With I(state=absent) or I(purge), only this owner's routes go.
    type: str
  netns:
    description:
      - Name of a network namespace (as in C(ip netns list)) to manage the routes in.
        The namespace must exist. Without it, the host's own namespace.
    type: str
notes:
  - The kernel must allow SRv6 on the incoming interfaces for transit traffic
    (C(net.ipv6.conf.*.seg6_enabled)); the C(tcra.telco.hbr) role sets that up.
seealso:
  - name: Linux SRv6
    description: Segment routing in the Linux kernel.
    link: https://segment-routing.org/index.php/Implementation/Configuration
"""

EXAMPLES = r"""
- name: Steer traffic for a customer prefix through two SIDs
  tcra.telco.srv6_route:
    routes:
      - dst: fd00:23::/64
        dev: eth1
        segments: [fc00:2::100, fc00:2::106]

- name: Offer End.X and End.DX6 SIDs in a namespace, removing every other tcra route there
  tcra.telco.srv6_route:
    netns: hbr2
    purge: true
    routes:
      - dst: fc00:2::100/128
        dev: eth1
        behaviour: End.X
        nh6: fd00:23::3
      - dst: fc00:2::106/128
        dev: eth1
        behaviour: End.DX6
        nh6: fd00:23::3

- name: Program a chain's ingress route as the stack that owns it, refusing another's
  tcra.telco.srv6_route:
    netns: hbr1
    owner: chain-lab/lab/web-lab_faredge@0123456789abcdef0123456789abcdef
    routes:
      - dst: fd00:23::/64
        dev: eth1
        segments: [fc00:2::100]

- name: Remove one route
  tcra.telco.srv6_route:
    state: absent
    routes:
      - dst: fd00:23::/64
        dev: eth1
        segments: [fc00:2::100]
"""

RETURN = r"""
routes:
  description: The tcra routes (protocol 199) on the target after the run, normalised; owner
    markers are not listed.
  returned: always
  type: list
  elements: dict
  sample:
    - dst: fd00:23::/64
      src: null
      dev: eth1
      table: 254
      segments: [fc00:2::100, fc00:2::106]
    - dst: fc00:2::106/128
      src: null
      dev: eth1
      table: 254
      behaviour: End.DX6
      nh6: fd00:23::3
replaced:
  description: The routes written (new or different), normalised.
  returned: always
  type: list
  elements: dict
removed:
  description: The routes removed, normalised as the kernel held them.
  returned: always
  type: list
  elements: dict
"""

import os
import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.tcra.telco.plugins.module_utils._srv6 import (
    OWNERS_TABLE,
    TCRA_PROTO,
    RouteError,
    delete_spec,
    describe,
    from_kernel,
    key,
    marker,
    normalise,
    owner_of,
    sort_key,
    to_netlink,
)

try:
    from pyroute2 import IPRoute, NetNS
    from pyroute2.netlink.exceptions import NetlinkError
except ImportError:
    HAS_PYROUTE2 = False
    PYROUTE2_ERROR = traceback.format_exc()
else:
    HAS_PYROUTE2 = True
    PYROUTE2_ERROR = None

AF_INET6 = 10
RTN_UNICAST = 1

ROUTE_SPEC = dict(
    dst=dict(type="str", required=True),
    src=dict(type="str"),
    dev=dict(type="str", required=True),
    segments=dict(type="list", elements="str"),
    behaviour=dict(type="str", choices=["End", "End.X", "End.DX4", "End.DX6"]),
    nh6=dict(type="str"),
    nh4=dict(type="str"),
    table=dict(type="int", default=254),
)


def open_netlink(module):
    netns = module.params["netns"]
    if not netns:
        return IPRoute()
    if not os.path.exists(os.path.join("/run/netns", netns)):
        module.fail_json(msg="network namespace %s does not exist" % netns)
    return NetNS(netns, flags=0)


def read_routes(ipr):
    """The tcra routes the kernel holds, canonical, by key; and the owner markers, by dst."""
    names = dict((link["index"], link.get_attr("IFLA_IFNAME")) for link in ipr.get_links())
    held, markers = {}, {}
    for msg in ipr.route("dump", family=AF_INET6):
        if msg["proto"] == TCRA_PROTO and msg["type"] == RTN_UNICAST:
            route = from_kernel(msg, names)
            if route["table"] == OWNERS_TABLE:
                markers[route["dst"]] = route
            else:
                held[key(route)] = route
    return held, markers, dict((name, index) for index, name in names.items())


def plan(wanted, held, state, purge, mine):
    """What to write and what to remove, as lists of canonical routes; `mine(route)` says
    whether a held route may be changed or removed."""
    wanted_keys = set(key(route) for route in wanted)
    replace, remove = [], []
    for route in wanted:
        current = held.get(key(route))
        if state == "present" and current != route:
            replace.append(route)
        elif state == "absent" and current is not None and mine(current):
            remove.append(current)
    if purge:
        remove.extend(route for k, route in held.items() if k not in wanted_keys and mine(route))
    return replace, remove


def owned(module, wanted, held, markers):
    """With an owner: refuse a wanted route another owner (or no tcra owner) holds; return the
    test for what is this owner's."""
    owner = module.params["owner"]
    if not owner:
        return lambda route: True
    if module.params["state"] == "present":
        for route in wanted:
            if key(route) in held and owner_of(route, markers) != owner:
                holder = owner_of(route, markers)
                module.fail_json(msg="route %s belongs to %s; it was left untouched" % (
                    describe(route), holder if holder else "no tcra owner (made without one)"))
    return lambda route: owner_of(route, markers) == owner


def apply(module, ipr, indexes, replace, remove):
    for route in replace:
        if route["dev"] not in indexes:
            module.fail_json(msg="route %s: unknown dev %s%s" % (
                describe(route), route["dev"],
                " in namespace %s" % module.params["netns"] if module.params["netns"] else ""))
    if module.check_mode:
        return
    for action, routes in (("del", remove), ("replace", replace)):
        for route in routes:
            spec = (delete_spec(route) if action == "del"
                    else to_netlink(route, indexes[route["dev"]]))
            try:
                ipr.route(action, **spec)
            except NetlinkError as exc:
                module.fail_json(msg="route %s dev %s: the kernel refused to %s it: %s" % (
                    describe(route), route["dev"], action, exc))


def main():
    module = AnsibleModule(
        argument_spec=dict(
            routes=dict(type="list", elements="dict", default=[], options=ROUTE_SPEC),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            purge=dict(type="bool", default=False),
            owner=dict(type="str"),
            netns=dict(type="str"),
        ),
        supports_check_mode=True,
    )
    if not HAS_PYROUTE2:
        module.fail_json(msg=missing_required_lib("pyroute2"), exception=PYROUTE2_ERROR)

    wanted = []
    for route in module.params["routes"]:
        try:
            wanted.append(normalise(route, key_only=module.params["state"] == "absent"))
        except RouteError as exc:
            module.fail_json(msg=str(exc))
    keys = [key(route) for route in wanted]
    duplicates = sorted(set(k for k in keys if keys.count(k) > 1), key=str)
    if duplicates:
        module.fail_json(msg="routes listed twice (same dst, src and table): %s" % duplicates)

    ipr = open_netlink(module)
    try:
        held, markers, indexes = read_routes(ipr)
        mine = owned(module, wanted, held, markers)
        replace, remove = plan(wanted, held, module.params["state"], module.params["purge"],
                               mine)
        owner = module.params["owner"]
        marks, unmarks = [], []
        if owner:
            marks = [marker(r, owner) for r in wanted
                     if module.params["state"] == "present" and owner_of(r, markers) != owner]
            unmarks = [marker(r, owner) for r in remove]
        apply(module, ipr, indexes, replace + marks, remove + unmarks)
    finally:
        ipr.close()

    after = dict(held)
    for route in remove:
        after.pop(key(route), None)
    for route in replace:
        after[key(route)] = route
    before_list = sorted(held.values(), key=sort_key)
    after_list = sorted(after.values(), key=sort_key)
    result = dict(
        changed=bool(replace or remove or marks),
        routes=after_list,
        replaced=replace,
        removed=remove,
    )
    if module._diff:
        result["diff"] = dict(before=dict(routes=before_list), after=dict(routes=after_list))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
