"""One pure computation from (fabric, chain) to the exact SRv6 state every HBR needs; both
appliers take its output as it is."""

from __future__ import annotations

from ipaddress import IPv6Address as Address

from tcra.errors import InvalidInputError, Problem
from tcra.model.base import Model
from tcra.model.fabric import Chain, Fabric, FabricEndpoint, allocate_sid
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
    placement: dict[str, str]
    """Each hop's HBR."""
    hbrs: tuple[HbrConfig, ...]


def compute(fabric: Fabric, chain: Chain) -> ChainPlan:
    """The route set per HBR: H.Encaps at the ingress, End.X per function, End.DX6 at the end."""
    check(fabric, chain)
    routes: dict[str, list[Route]] = {h.name: [] for h in fabric.hbrs}
    taken: set[Address] = set(chain.sids.values())
    segments: list[Address] = []
    sids: dict[str, Address] = {}
    hops = (*chain.functions, chain.egress)
    placement: dict[str, str] = {}
    for position, workload in enumerate(hops):
        endpoint = located(fabric, chain, workload)
        assert endpoint is not None  # noqa: S101 - check() saw to it
        hbr = fabric.hbr(endpoint.hbr)
        placement[workload] = hbr.name
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
        chain=chain.name, segments=tuple(segments), sids=sids, hops=hops, placement=placement,
        hbrs=tuple(HbrConfig(hbr=h.name, namespace=h.namespace, interfaces=h.interfaces,
                             routes=tuple(sorted(routes[h.name], key=lambda r: str(r.dst))))
                   for h in fabric.hbrs if routes[h.name]))


def located(fabric: Fabric, chain: Chain, workload: str) -> FabricEndpoint | None:
    """The workload's endpoint: behind the HBR the chain's placement names, else its only one."""
    if workload in chain.placement:
        return fabric.endpoint(workload, chain.placement[workload])
    found = fabric.endpoints_of(workload)
    return found[0] if len(found) == 1 else None


def check(fabric: Fabric, chain: Chain) -> None:
    """Everything that can be wrong with a chain, before any route is touched."""
    where = f"chain {chain.name}"
    problems: list[Problem] = []
    hbrs = {h.name: h for h in fabric.hbrs}
    known = sorted({e.workload for e in fabric.endpoints})
    if chain.ingress not in hbrs:
        problems.append(Problem(where, "ingress", f"expected one of the HBRs"
                                f" ({', '.join(hbrs)})", chain.ingress))
    hops = (*chain.functions, chain.egress)
    endpoints: dict[str, FabricEndpoint] = {}
    for field, workload in [*(("functions", f) for f in chain.functions), ("egress", chain.egress)]:
        behind = [e.hbr for e in fabric.endpoints_of(workload)]
        if (endpoint := located(fabric, chain, workload)) is not None:
            endpoints[workload] = endpoint
        elif not behind:
            problems.append(Problem(where, field, "expected a workload with an endpoint in the"
                                    f" fabric ({', '.join(known) or 'none'})", workload))
        elif workload in chain.placement:
            problems.append(Problem(where, f"placement.{workload}", "expected an HBR the"
                                    f" fabric has {workload} behind ({', '.join(behind)})",
                                    chain.placement[workload]))
        else:
            problems.append(Problem(where, field, f"the fabric has it behind several HBRs"
                                    f" ({', '.join(behind)}); expected its placement",
                                    workload))
    for workload, hbr in chain.placement.items():
        if workload not in hops:
            problems.append(Problem(where, f"placement.{workload}", "expected a workload of"
                                    " the chain", hbr))
    if len(hops) > fabric.max_segments:
        problems.append(Problem(where, "functions", f"expected at most {fabric.max_segments}"
                                " segments (functions plus egress)", len(hops)))
    for workload, sid in chain.sids.items():
        endpoint = endpoints.get(workload)
        if workload not in hops:
            problems.append(Problem(where, f"sids.{workload}", "expected a workload of the"
                                    " chain", str(sid)))
        elif endpoint is not None and sid not in hbrs[endpoint.hbr].locator:
            problems.append(Problem(where, f"sids.{workload}", f"expected a SID inside"
                                    f" {endpoint.hbr}'s locator {hbrs[endpoint.hbr].locator}",
                                    str(sid)))
    if hops and hops[0] in endpoints and endpoints[hops[0]].hbr == chain.ingress:
        problems.append(Problem(where, "functions", f"the first hop runs on the ingress HBR"
                                f" {chain.ingress}: Linux does not apply a local SID to a packet"
                                " it just encapsulated; attach users to another HBR", hops[0]))
    if problems:
        raise InvalidInputError(problems)
