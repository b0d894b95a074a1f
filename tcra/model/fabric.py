"""The connectivity model: host-based routers (HBRs) with their locators, the workload endpoints
behind them, and service chains through those endpoints."""

from __future__ import annotations

import hashlib
from ipaddress import IPv6Address as Address

from pydantic import Field, model_validator

from tcra.model.base import Model
from tcra.model.types import IPv6Address, IPv6Prefix, Name

MAX_SEGMENTS = 8
FUNCTION_BITS = 16


class PodNetwork(Model):
    """A site cluster's pod network as its HBR reaches it: the HBR sits on the pods' bridge, is
    their IPv6 gateway, and steers to a pod's own address there."""

    dev: str = Field(min_length=1, max_length=15, description="The HBR's interface on it.")
    prefix: IPv6Prefix = Field(description="The pods' IPv6 prefix.")
    gateway: IPv6Address = Field(description="The HBR's address on it: the pods' route out.")

    @model_validator(mode="after")
    def _gateway_inside(self) -> PodNetwork:
        if self.gateway not in self.prefix:
            raise ValueError(f"gateway {self.gateway} is outside prefix {self.prefix}")
        return self


class Hbr(Model):
    """A host-based router: the virtual PE on one host (or site) that terminates SRv6."""

    name: Name
    locator: IPv6Prefix = Field(description="The HBR's SRv6 locator; its SIDs come from here.")
    namespace: str | None = Field(default=None, description="Network namespace (lab); none:"
                                  " the host's own.")
    interfaces: tuple[str, ...] = Field(default=(), description="Interfaces that receive SRv6.")
    uplink: str = Field(description="Interface towards the underlay (H.Encaps leaves here).")
    site: Name | None = Field(default=None, description="The site whose workloads this HBR"
                              " serves: a chain steers to a workload through the HBR of the"
                              " site it was placed at. None: it serves no placed workloads.")
    host: Name | None = Field(default=None, description="The Ansible inventory host that runs"
                              " it (the tcra.telco.hbr role's target); none: its name.")
    pods: PodNetwork | None = Field(default=None, description="Its site cluster's pod network:"
                                    " a chain reaches a pod there at the pod's own address.")

    @property
    def inventory_host(self) -> str:
        return self.host or self.name

    @model_validator(mode="after")
    def _room_for_functions(self) -> Hbr:
        if self.locator.prefixlen > 128 - FUNCTION_BITS:
            raise ValueError(f"a locator of /{self.locator.prefixlen} leaves no room for the"
                             f" {FUNCTION_BITS}-bit function part; use /{128 - FUNCTION_BITS}"
                             " or shorter")
        return self


class FabricEndpoint(Model):
    """A workload's address behind an HBR, and the HBR interface that reaches it. A workload
    that may run at several sites has one endpoint behind each of their HBRs."""

    workload: Name
    hbr: Name
    address: IPv6Address
    dev: str = Field(min_length=1, max_length=15)


class Fabric(Model):
    """The HBRs of a continuum and the workload endpoints behind them: what the TCM programs."""

    hbrs: tuple[Hbr, ...]
    endpoints: tuple[FabricEndpoint, ...] = ()
    max_segments: int = Field(default=MAX_SEGMENTS, ge=1, le=64)

    @model_validator(mode="after")
    def _consistent(self) -> Fabric:
        names = [h.name for h in self.hbrs]
        for i, a in enumerate(self.hbrs):
            for b in self.hbrs[i + 1:]:
                if a.locator.overlaps(b.locator):
                    raise ValueError(f"locators of {a.name} ({a.locator}) and {b.name}"
                                     f" ({b.locator}) overlap")
        serving: dict[str, str] = {}
        for h in self.hbrs:
            if h.site is not None and serving.setdefault(h.site, h.name) != h.name:
                raise ValueError(f"HBRs {serving[h.site]} and {h.name} both serve site"
                                 f" {h.site}; expected one HBR per site")
        seen: set[tuple[str, str]] = set()
        for e in self.endpoints:
            if e.hbr not in names:
                raise ValueError(f"endpoint {e.workload}: unknown HBR {e.hbr!r}"
                                 f" (HBRs: {', '.join(names)})")
            if (e.workload, e.hbr) in seen:
                raise ValueError(f"endpoint {e.workload}: given twice behind HBR {e.hbr}")
            seen.add((e.workload, e.hbr))
        return self

    def hbr(self, name: str) -> Hbr:
        return next(h for h in self.hbrs if h.name == name)

    def serving(self, site: str) -> Hbr | None:
        """The HBR that serves a site's workloads, if the fabric has one."""
        return next((h for h in self.hbrs if h.site == site), None)

    def endpoints_of(self, workload: str) -> tuple[FabricEndpoint, ...]:
        return tuple(e for e in self.endpoints if e.workload == workload)

    def endpoint(self, workload: str, hbr: str) -> FabricEndpoint | None:
        return next((e for e in self.endpoints if e.workload == workload and e.hbr == hbr),
                    None)


class Chain(Model):
    """Users' traffic to `destination` (optionally only from `source`) enters at `ingress`, crosses
    `functions` in order, and is delivered to `egress`, the service's front end."""

    name: Name
    ingress: Name = Field(description="HBR where users attach.")
    destination: IPv6Prefix = Field(description="The service prefix users reach.")
    source: IPv6Prefix | None = None
    functions: tuple[Name, ...] = Field(default=(), description="Workloads, in order.")
    egress: Name = Field(description="Workload that receives the traffic, decapsulated.")
    latency_ms: float | None = Field(default=None, gt=0, description="QoS intent (reported).")
    sids: dict[Name, IPv6Address] = Field(default_factory=dict,
                                          description="Pinned SIDs; others are allocated.")
    placement: dict[Name, Name] = Field(default_factory=dict, description="Workload -> the HBR"
                                        " behind which it runs; needed for a workload the"
                                        " fabric has behind several HBRs.")
    addresses: dict[Name, IPv6Address | None] = Field(
        default_factory=dict, description="Workloads deployed as pods: each reached at its"
        " pod's address through the pod network of the HBR its placement names; None while"
        " the pod is not there yet (a preview).")


def allocate_sid(hbr: Hbr, chain: str, workload: str, taken: set[Address]) -> Address:
    """A SID in the HBR's locator: a stable hash of chain and workload picks the function part,
    so inserting a function elsewhere in the chain leaves every other SID where it was; the
    next free value resolves the rare collision, in a fixed order."""
    digest = hashlib.sha256(f"{chain}/{workload}".encode()).digest()
    function = int.from_bytes(digest[:2], "big") or 1
    shift = 128 - hbr.locator.prefixlen - FUNCTION_BITS
    base = int(hbr.locator.network_address)
    for step in range(2**FUNCTION_BITS):
        value = ((function + step - 1) % (2**FUNCTION_BITS - 1)) + 1
        sid = Address(base + (value << shift))
        if sid not in taken:
            return sid
    raise ValueError(f"HBR {hbr.name}: no free SID left in {hbr.locator}")
