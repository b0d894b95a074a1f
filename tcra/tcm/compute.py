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


class Steering(Model):
    """Where a chain goes, known before its pods run: each hop's SID and HBR, and the segment
    list the ingress pushes."""

    chain: str
    segments: tuple[Address, ...]
    sids: dict[str, Address]
    hops: tuple[str, ...]
    placement: dict[str, str]
    """Each hop's HBR."""
    routers: tuple[str, ...]
    """The HBRs that hold routes of the chain, in the fabric's order."""


class ChainPlan(Steering):
    """The steering, and the exact routes each HBR holds for it."""

    hbrs: tuple[HbrConfig, ...]


def steer(fabric: Fabric, chain: Chain) -> Steering:
    """SIDs and HBRs of the chain's hops; a pod's address is not needed yet."""
    check(fabric, chain)
    taken: set[Address] = set(chain.sids.values())
    sids: dict[str, Address] = {}
    hops = (*chain.functions, chain.egress)
    placement: dict[str, str] = {}
    for workload in hops:
        name = behind(fabric, chain, workload)
        assert name is not None  # noqa: S101 - check() saw to it
        placement[workload] = name
        sid = chain.sids.get(workload) or allocate_sid(fabric.hbr(name), chain.name, workload,
                                                       taken)
        taken.add(sid)
        sids[workload] = sid
    used = {*placement.values(), chain.ingress}
    return Steering(chain=chain.name, segments=tuple(sids[w] for w in hops), sids=sids,
                    hops=hops, placement=placement,
                    routers=tuple(h.name for h in fabric.hbrs if h.name in used))


def compute(fabric: Fabric, chain: Chain) -> ChainPlan:
    """The route set per HBR: H.Encaps at the ingress, End.X per function, End.DX6 at the end.
    Needs the address of every hop deployed as a pod."""
    steering = steer(fabric, chain)
    pending = [w for w in steering.hops if w in chain.addresses and chain.addresses[w] is None]
    if pending:
        raise InvalidInputError([Problem(f"chain {chain.name}", f"addresses.{w}", "expected"
                                         " the address of its pod", has_value=False)
                                 for w in pending])
    routes: dict[str, list[Route]] = {h: [] for h in steering.routers}
    for position, workload in enumerate(steering.hops):
        endpoint = located(fabric, chain, workload)
        assert endpoint is not None  # noqa: S101 - check() saw to it
        last = position == len(steering.hops) - 1
        routes[endpoint.hbr].append(Route(
            dst=f"{steering.sids[workload]}/128", dev=endpoint.dev, nh6=endpoint.address,
            behaviour=Behaviour.END_DX6 if last else Behaviour.END_X))
    ingress = fabric.hbr(chain.ingress)
    routes[ingress.name].append(Route(dst=chain.destination, src=chain.source,
                                      dev=ingress.uplink, segments=steering.segments))
    return ChainPlan(**dict(steering), hbrs=tuple(
        HbrConfig(hbr=h.name, namespace=h.namespace, interfaces=h.interfaces,
                  routes=tuple(sorted(routes[h.name], key=lambda r: str(r.dst))))
        for h in fabric.hbrs if h.name in routes))


def behind(fabric: Fabric, chain: Chain, workload: str) -> str | None:
    """The HBR a workload is reached through: its placement's for a pod, else its endpoint's."""
    if workload in chain.addresses:
        return chain.placement.get(workload)
    endpoint = located(fabric, chain, workload)
    return endpoint.hbr if endpoint is not None else None


def located(fabric: Fabric, chain: Chain, workload: str) -> FabricEndpoint | None:
    """The workload's endpoint: a pod's address on its HBR's pod network; else the fabric's
    endpoint behind the HBR the chain's placement names, else its only one."""
    if workload in chain.addresses:
        hbr = next((h for h in fabric.hbrs if h.name == chain.placement.get(workload)), None)
        address = chain.addresses[workload]
        if hbr is None or hbr.pods is None or address is None:
            return None
        return FabricEndpoint(workload=workload, hbr=hbr.name, address=address,
                              dev=hbr.pods.dev)
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
    at: dict[str, str] = {}
    for field, workload in [*(("functions", f) for f in chain.functions), ("egress", chain.egress)]:
        if workload in chain.addresses:
            problems += _pod_problems(where, fabric, chain, workload)
            if (hbr := chain.placement.get(workload)) in hbrs:
                at[workload] = hbr
            continue
        endpoints = [e.hbr for e in fabric.endpoints_of(workload)]
        if (name := behind(fabric, chain, workload)) is not None:
            at[workload] = name
        elif not endpoints:
            problems.append(Problem(where, field, "expected a workload with an endpoint in the"
                                    f" fabric ({', '.join(known) or 'none'})", workload))
        elif workload in chain.placement:
            problems.append(Problem(where, f"placement.{workload}", "expected an HBR the"
                                    f" fabric has {workload} behind ({', '.join(endpoints)})",
                                    chain.placement[workload]))
        else:
            problems.append(Problem(where, field, f"the fabric has it behind several HBRs"
                                    f" ({', '.join(endpoints)}); expected its placement",
                                    workload))
    for key, given in (("placement", chain.placement), ("addresses", chain.addresses)):
        for workload, value in given.items():
            if workload not in hops:
                problems.append(Problem(where, f"{key}.{workload}", "expected a workload of"
                                        " the chain", None if value is None else str(value)))
    if len(hops) > fabric.max_segments:
        problems.append(Problem(where, "functions", f"expected at most {fabric.max_segments}"
                                " segments (functions plus egress)", len(hops)))
    for workload, sid in chain.sids.items():
        if workload not in hops:
            problems.append(Problem(where, f"sids.{workload}", "expected a workload of the"
                                    " chain", str(sid)))
        elif workload in at and sid not in hbrs[at[workload]].locator:
            problems.append(Problem(where, f"sids.{workload}", f"expected a SID inside"
                                    f" {at[workload]}'s locator {hbrs[at[workload]].locator}",
                                    str(sid)))
    if problems:
        raise InvalidInputError(problems)


def _pod_problems(where: str, fabric: Fabric, chain: Chain, workload: str) -> list[Problem]:
    """A pod is reached through the pod network of the HBR its placement names."""
    hbr = chain.placement.get(workload)
    names = [h.name for h in fabric.hbrs if h.pods is not None]
    if hbr is None or hbr not in names:
        return [Problem(where, f"placement.{workload}", "expected the HBR whose pod network"
                        f" its pod runs on ({', '.join(names) or 'none has one'})", hbr)]
    pods = fabric.hbr(hbr).pods
    address = chain.addresses[workload]
    assert pods is not None  # noqa: S101 - hbr is one of names
    if address is not None and address not in pods.prefix:
        return [Problem(where, f"addresses.{workload}", f"expected an address in {hbr}'s pod"
                        f" network {pods.prefix}", str(address))]
    return []
