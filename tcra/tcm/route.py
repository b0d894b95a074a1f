"""An SRv6 route as data: what one HBR's kernel must hold. Both appliers (pyroute2 here, the
tcra.telco.srv6_route Ansible module on remote hosts) take exactly this shape.

Segments are listed in travel order (first visited first), as `ip route ... segs A,B` does;
the kernel's SRH stores them reversed, and appliers convert at the boundary.
"""

from __future__ import annotations

from enum import StrEnum
from ipaddress import IPv4Address

from pydantic import Field, model_validator

from tcra.model.base import Model
from tcra.model.types import IPv6Address, IPv6Prefix

RouteKey = tuple[str, str | None, int]
"""What identifies a route in the kernel: destination, source, table."""
TCRA_PROTO = 199
"""Route protocol number tcra marks its routes with (ip route ... proto 199), so a dump can
tell them from everything else on the host."""
MAIN_TABLE = 254


class Behaviour(StrEnum):
    END = "End"
    END_X = "End.X"
    END_DX4 = "End.DX4"
    END_DX6 = "End.DX6"


class Route(Model):
    """Either an H.Encaps route (segments) or a seg6local SID route (behaviour)."""

    dst: IPv6Prefix
    src: IPv6Prefix | None = Field(default=None, description="Source classifier (ingress).")
    dev: str = Field(min_length=1, max_length=15, description="Outgoing interface.")
    segments: tuple[IPv6Address, ...] = Field(default=(), description="H.Encaps segment list.")
    behaviour: Behaviour | None = None
    nh6: IPv6Address | None = None
    nh4: IPv4Address | None = None
    table: int = Field(default=MAIN_TABLE, ge=1, le=2**32 - 1)

    @model_validator(mode="after")
    def _one_kind(self) -> Route:
        if bool(self.segments) == (self.behaviour is not None):
            raise ValueError("a route has either segments (H.Encaps) or a behaviour (SID)")
        needs = {Behaviour.END_X: "nh6", Behaviour.END_DX6: "nh6", Behaviour.END_DX4: "nh4"}
        if self.behaviour in needs and getattr(self, needs[self.behaviour]) is None:
            raise ValueError(f"{self.behaviour.value} needs {needs[self.behaviour]}")
        return self

    @property
    def key(self) -> RouteKey:
        """What identifies a route in the kernel: destination, source, table."""
        return str(self.dst), str(self.src) if self.src else None, self.table
