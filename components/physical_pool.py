"""PhysicalPool: claim N hosts of one site from the inventory, by capability, deterministically."""

from __future__ import annotations

from typing import Literal

import pulumi
from pydantic import Field
from tcra.providers.physical_host import Boot, PhysicalHost, PhysicalHostArgs

from tcra.errors import InvalidInputError, Problem
from tcra.model import Host, Inventory
from tcra.model.base import Model
from tcra.model.host_filter import HostFilter
from tcra.secrets import resolve


def select_hosts(inventory: Inventory, site: str, count: int,
                 wanted: HostFilter) -> tuple[Host, ...]:
    """The first `count` matching hosts of `site` by name: same inputs, same hosts."""
    at_site = inventory.hosts_at(site)
    if not at_site:
        known = ", ".join(s.id for s in inventory.sites) or "none"
        raise InvalidInputError([Problem("PhysicalPool", "site",
                                         f"expected a site of the inventory ({known})", site)])
    matching = sorted((h for h in at_site if wanted.accepts(h.capabilities)), key=lambda h: h.name)
    if len(matching) < count:
        raise InvalidInputError([Problem(
            "PhysicalPool", "count",
            f"site {site} has {len(matching)} of {len(at_site)} host(s) matching"
            f" {wanted.model_dump(mode='json', exclude_defaults=True) or 'any'}, {count} wanted",
            count)])
    return tuple(matching[:count])


class PhysicalPoolArgs(Model):
    inventory: Inventory
    site: str
    count: int = Field(ge=1)
    filter: HostFilter = HostFilter()
    power: Literal["on", "off"] = "on"
    boot: Boot | None = None
    shutdown_timeout: float = 60.0


class PhysicalPool(pulumi.ComponentResource):
    """Hosts claimed for one purpose at one site; children are PhysicalHost resources."""

    hosts: pulumi.Output[list[str]]
    system_ids: pulumi.Output[list[str]]

    def __init__(self, name: str, args: PhysicalPoolArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("tcra:pim:PhysicalPool", name, None, opts)
        chosen = select_hosts(args.inventory, args.site, args.count, args.filter)
        children = [
            PhysicalHost(f"{name}-{host.name}", PhysicalHostArgs(
                host=host.name, address=host.bmc.address, system_id=host.bmc.system_id,
                username=host.bmc.credentials.username,
                password=pulumi.Output.secret(resolve(host.bmc.credentials.password)),
                verify_tls=host.bmc.verify_tls,
                ca_bundle=str(host.bmc.ca_bundle) if host.bmc.ca_bundle else None,
                auth=host.bmc.auth,
                power=args.power, boot=args.boot, shutdown_timeout=args.shutdown_timeout,
            ), pulumi.ResourceOptions(parent=self))
            for host in chosen
        ]
        self.hosts = pulumi.Output.from_input([h.name for h in chosen])
        self.system_ids = pulumi.Output.all(*[c.redfish_id for c in children])
        self.register_outputs({"hosts": self.hosts, "system_ids": self.system_ids})
