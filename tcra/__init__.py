"""tcra: the Telco Cloud Reference Architecture as code."""

from tcra.errors import InvalidInputError, TcraError
from tcra.inventory import load as load_inventory
from tcra.model import Host, Inventory, Quantity, Site, Tier

__all__ = [
    "Host",
    "InvalidInputError",
    "Inventory",
    "Quantity",
    "Site",
    "TcraError",
    "Tier",
    "load_inventory",
]
