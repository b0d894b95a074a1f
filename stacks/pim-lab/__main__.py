"""Claim lab hosts over Redfish: PXE once, powered on; `pulumi destroy` releases them."""

import pulumi
from tcra.blueprints import stack_config

from tcra import Boot, HostFilter, PhysicalPool, PhysicalPoolArgs, load_inventory

config = pulumi.Config()
with stack_config.reported():
    pool = PhysicalPool("edge", PhysicalPoolArgs(
        inventory=load_inventory(config.require("inventory")), site=config.require("site"),
        count=config.require_int("count"), filter=HostFilter(min_cores=1),
        boot=Boot(target="pxe"), shutdown_timeout=5))
pulumi.export("hosts", pool.hosts)
pulumi.export("systems", pool.system_ids)
