"""tcra: the Telco Cloud Reference Architecture as code."""

from typing import TYPE_CHECKING, Any

from tcra.errors import InvalidInputError, TcraError
from tcra.inventory import load as load_inventory
from tcra.model import Host, Inventory, Quantity, Site, Tier

if TYPE_CHECKING:
    from tcra.components.physical_pool import HostFilter, PhysicalPool, PhysicalPoolArgs
    from tcra.providers.physical_host import Boot, PhysicalHost, PhysicalHostArgs

# Pulumi resources load on first use, so the CLI and the model do not pay for importing Pulumi.
_RESOURCES = {
    "Boot": "tcra.providers.physical_host",
    "PhysicalHost": "tcra.providers.physical_host",
    "PhysicalHostArgs": "tcra.providers.physical_host",
    "HostFilter": "tcra.components.physical_pool",
    "PhysicalPool": "tcra.components.physical_pool",
    "PhysicalPoolArgs": "tcra.components.physical_pool",
}

__all__ = [
    "Boot",
    "Host",
    "HostFilter",
    "InvalidInputError",
    "Inventory",
    "PhysicalHost",
    "PhysicalHostArgs",
    "PhysicalPool",
    "PhysicalPoolArgs",
    "Quantity",
    "Site",
    "TcraError",
    "Tier",
    "load_inventory",
]


def __getattr__(name: str) -> Any:
    if name in _RESOURCES:
        import importlib

        return getattr(importlib.import_module(_RESOURCES[name]), name)
    raise AttributeError(f"module 'tcra' has no attribute {name!r}")
