"""Users at the far edge reach the app's service prefix only through firewall -> UPF -> app."""

import pulumi

from tcra import Chain, SRv6Chain, SRv6ChainArgs, load_inventory

config = pulumi.Config()
inventory = load_inventory(config.require("inventory"))
if inventory.fabric is None:
    raise RuntimeError(f"{config.require('inventory')}: no tcra_fabric; run `tcra lab up` first")
web = SRv6Chain("web", SRv6ChainArgs(fabric=inventory.fabric, chain=Chain(
    name="web", ingress="lab_faredge", destination=config.require("service"),
    functions=config.get_object("functions") or ["fw", "upf"], egress="app")))
pulumi.export("path", web.path)
pulumi.export("segments", web.segments)
pulumi.export("diagram", web.diagram)
