"""PhysicalPool: claim hosts of one site from the inventory: those a plan names, or N picked by
capability, deterministically."""

from __future__ import annotations

from typing import Literal

import pulumi
from pydantic import Field, model_validator
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


def named_hosts(inventory: Inventory, site: str, names: tuple[str, ...]) -> tuple[Host, ...]:
    """The hosts `names` of `site`, in that order: the ones a plan gave this pool."""
    at_site = {h.name: h for h in inventory.hosts_at(site)}
    problems = [Problem("PhysicalPool", f"hosts.{i}", f"expected a host of site {site}"
                        f" ({', '.join(sorted(at_site)) or 'none'})", name)
                for i, name in enumerate(names) if name not in at_site]
    if problems:
        raise InvalidInputError(problems)
    return tuple(at_site[name] for name in names)


class PhysicalPoolArgs(Model):
    inventory: Inventory
    site: str
    hosts: tuple[str, ...] = Field(default=(), description="These hosts, by name (a plan's"
                                   " bare-metal hosts); or give count and filter.")
    count: int = Field(default=0, ge=0, description="How many hosts matching filter.")
    filter: HostFilter = HostFilter()
    power: Literal["on", "off"] = "on"
    boot: Boot | None = None
    shutdown_timeout: float = 60.0

    @model_validator(mode="after")
    def _hosts_or_count(self) -> PhysicalPoolArgs:
        if bool(self.hosts) == bool(self.count):
            raise ValueError("give either hosts (by name) or a count of hosts to pick")
        return self


class PhysicalPool(pulumi.ComponentResource):
    """Hosts claimed for one purpose at one site; children are PhysicalHost resources.
    Outputs, in the order of `hosts`: `system_ids` (Redfish) and `serial_numbers` (as each
    BMC reports it; "" where it reports none)."""

    hosts: pulumi.Output[list[str]]
    system_ids: pulumi.Output[list[str]]
    serial_numbers: pulumi.Output[list[str]]

    def __init__(self, name: str, args: PhysicalPoolArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("tcra:pim:PhysicalPool", name, None, opts)
        chosen = (named_hosts(args.inventory, args.site, args.hosts) if args.hosts
                  else select_hosts(args.inventory, args.site, args.count, args.filter))
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
        self.serial_numbers = pulumi.Output.all(*[c.serial_number for c in children])
        self.register_outputs({"hosts": self.hosts, "system_ids": self.system_ids,
                               "serial_numbers": self.serial_numbers})
