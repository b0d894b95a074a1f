"""The `tcra.telco.hbr` role's variables for a chain: HBRs on remote hosts get from Ansible
exactly the routes `SRv6Chain` programs locally, from the same `compute`."""

from __future__ import annotations

from typing import Any

from tcra.model.fabric import Fabric
from tcra.tcm.compute import ChainPlan


def role_vars(fabric: Fabric, plan: ChainPlan, *, owner: str | None = None
              ) -> dict[str, dict[str, Any]]:
    """Per inventory host of an HBR the chain uses, the role's variables (as YAML takes them;
    unset route fields left out, so the role's defaults apply)."""
    hosts: dict[str, dict[str, Any]] = {}
    for config in plan.hbrs:
        hbr = fabric.hbr(config.hbr)
        hosts[hbr.inventory_host] = {
            "hbr_locator": str(hbr.locator),
            "hbr_locator_dev": hbr.uplink,
            "hbr_interfaces": list(config.interfaces),
            "hbr_netns": config.namespace or "",
            "hbr_routes": [route.model_dump(mode="json", exclude_defaults=True)
                           for route in config.routes],
            **({"hbr_owner": owner} if owner else {}),
        }
    return hosts
