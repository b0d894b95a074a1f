"""One pure computation from (fabric, chain) to the exact SRv6 state every HBR needs; both
appliers take its output as it is."""

from __future__ import annotations

from ipaddress import IPv6Address as Address

from tcra.errors import InvalidInputError, Problem
from tcra.model.base import Model
from tcra.model.fabric import Chain, Fabric, allocate_sid
from tcra.tcm.route import Behaviour, Route

SYSCTLS = ("net.ipv6.conf.all.forwarding", "net.ipv6.conf.all.seg6_enabled")


class HbrConfig(Model):
    """What one HBR must hold for a chain: sysctls on, and these routes."""

    hbr: str
    namespace: str | None = None
    interfaces: tuple[str, ...] = ()
    routes: tuple[Route, ...] = ()


class ChainPlan(Model):
    chain: str
    segments: tuple[Address, ...]
    sids: dict[str, Address]
    hops: tuple[str, ...]
    hbrs: tuple[HbrConfig, ...]


def compute(fabric: Fabric, chain: Chain) -> ChainPlan:
    """The route set per HBR: H.Encaps at the ingress, End.X per function, End.DX6 at the end."""
    check(fabric, chain)
    routes: dict[str, list[Route]] = {h.name: [] for h in fabric.hbrs}
    taken: set[Address] = set(chain.sids.values())
    segments: list[Address] = []
    sids: dict[str, Address] = {}
    hops = (*chain.functions, chain.egress)
    for position, workload in enumerate(hops):
        endpoint = fabric.endpoint(workload)
        hbr = fabric.hbr(endpoint.hbr)
        sid = chain.sids.get(workload) or allocate_sid(hbr, chain.name, workload, taken)
        taken.add(sid)
        last = position == len(hops) - 1
        routes[hbr.name].append(Route(
            dst=f"{sid}/128", dev=endpoint.dev, nh6=endpoint.address,
            behaviour=Behaviour.END_DX6 if last else Behaviour.END_X))
        segments.append(sid)
        sids[workload] = sid
    ingress = fabric.hbr(chain.ingress)
    routes[ingress.name].append(Route(dst=chain.destination, src=chain.source,
                                      dev=ingress.uplink, segments=tuple(segments)))
    return ChainPlan(
        chain=chain.name, segments=tuple(segments), sids=sids, hops=hops,
        hbrs=tuple(HbrConfig(hbr=h.name, namespace=h.namespace, interfaces=h.interfaces,
                             routes=tuple(sorted(routes[h.name], key=lambda r: str(r.dst))))
                   for h in fabric.hbrs if routes[h.name]))


def check(fabric: Fabric, chain: Chain) -> None:
    """Everything that can be wrong with a chain, before any route is touched."""
    where = f"chain {chain.name}"
    problems: list[Problem] = []
    hbrs = {h.name: h for h in fabric.hbrs}
    endpoints = {e.workload: e for e in fabric.endpoints}
    if chain.ingress not in hbrs:
        problems.append(Problem(where, "ingress", f"expected one of the HBRs"
                                f" ({', '.join(hbrs)})", chain.ingress))
    hops = (*chain.functions, chain.egress)
    for field, workload in [*(("functions", f) for f in chain.functions), ("egress", chain.egress)]:
        if workload not in endpoints:
            problems.append(Problem(where, field, "expected a workload with an endpoint in the"
                                    f" fabric ({', '.join(endpoints) or 'none'})", workload))
    if len(hops) > fabric.max_segments:
        problems.append(Problem(where, "functions", f"expected at most {fabric.max_segments}"
                                " segments (functions plus egress)", len(hops)))
    for workload, sid in chain.sids.items():
        endpoint = endpoints.get(workload)
        if endpoint is None or workload not in hops:
            problems.append(Problem(where, f"sids.{workload}", "expected a workload of the"
                                    " chain", str(sid)))
        elif endpoint.hbr in hbrs and sid not in hbrs[endpoint.hbr].locator:
            problems.append(Problem(where, f"sids.{workload}", f"expected a SID inside"
                                    f" {endpoint.hbr}'s locator {hbrs[endpoint.hbr].locator}",
                                    str(sid)))
    if hops and hops[0] in endpoints and endpoints[hops[0]].hbr == chain.ingress:
        problems.append(Problem(where, "functions", f"the first hop runs on the ingress HBR"
                                f" {chain.ingress}: Linux does not apply a local SID to a packet"
                                " it just encapsulated; attach users to another HBR", hops[0]))
    if problems:
        raise InvalidInputError(problems)
