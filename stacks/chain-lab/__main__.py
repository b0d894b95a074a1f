"""Users at the far edge reach the app's service prefix only through firewall -> UPF -> app."""

from pathlib import Path

import pulumi
from tcra.blueprints import stack_config

from tcra import Chain, SRv6Chain, SRv6ChainArgs, load_inventory
from tcra.errors import InvalidInputError, Problem
from tcra.model.base import Model
from tcra.model.types import IPv6Prefix, Name


class ChainLabStack(Model):
    """This project's configuration, key by key."""

    inventory: Path
    service: IPv6Prefix
    functions: tuple[Name, ...] = ("fw", "upf")


with stack_config.reported():
    config = stack_config.read(ChainLabStack)
    inventory = load_inventory(config.inventory)
    if inventory.fabric is None:
        raise InvalidInputError([Problem(str(config.inventory), "tcra_fabric", "missing; run"
                                         " `tcra lab up` first", has_value=False)])
    web = SRv6Chain("web", SRv6ChainArgs(fabric=inventory.fabric, chain=Chain(
        name="web", ingress="lab_faredge", destination=config.service,
        functions=config.functions, egress="app")))
pulumi.export("path", web.path)
pulumi.export("segments", web.segments)
pulumi.export("diagram", web.diagram)
