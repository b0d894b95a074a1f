"""The TCRA information model: typed, validated, exportable as JSON Schema."""

from tcra.model.fabric import Chain, Fabric, FabricEndpoint, Hbr
from tcra.model.host import (
    BmcCredentials,
    BmcEndpoint,
    Capabilities,
    Gpu,
    Host,
    HugepagePool,
    Hypervisor,
    NumaNode,
    SriovNic,
)
from tcra.model.inventory import Inventory
from tcra.model.site import (
    Energy,
    Location,
    ManagementCluster,
    Site,
    SiteCluster,
    SiteNetwork,
    Tier,
)
from tcra.model.types import CountryCode, IPv6Address, IPv6Prefix, Name, Quantity

__all__ = [
    "BmcCredentials",
    "BmcEndpoint",
    "Capabilities",
    "Chain",
    "CountryCode",
    "Energy",
    "Fabric",
    "FabricEndpoint",
    "Gpu",
    "Hbr",
    "Host",
    "HugepagePool",
    "Hypervisor",
    "IPv6Address",
    "IPv6Prefix",
    "Inventory",
    "Location",
    "ManagementCluster",
    "Name",
    "NumaNode",
    "Quantity",
    "Site",
    "SiteCluster",
    "SiteNetwork",
    "SriovNic",
    "Tier",
]
