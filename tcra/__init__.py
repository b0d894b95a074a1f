"""tcra: the Telco Cloud Reference Architecture as code."""

from typing import TYPE_CHECKING, Any

from tcra.errors import InvalidInputError, TcraError
from tcra.inventory import load as load_inventory
from tcra.model import Chain, Fabric, Host, Inventory, Quantity, Site, Tier
from tcra.model.host_filter import HostFilter

if TYPE_CHECKING:
    from tcra.components.k8s_cluster import K8sCluster, K8sClusterArgs
    from tcra.components.orchestrator import MultiCloudOrchestrator, MultiCloudOrchestratorArgs
    from tcra.components.physical_pool import PhysicalPool, PhysicalPoolArgs
    from tcra.components.srv6_chain import SRv6Chain, SRv6ChainArgs
    from tcra.components.vm_cluster import VMCluster, VMClusterArgs
    from tcra.components.workload import Workload, WorkloadArgs
    from tcra.mco.engine import place
    from tcra.mco.model import Policy, ServiceRequest
    from tcra.mco.plan import Plan
    from tcra.providers.physical_host import Boot, PhysicalHost, PhysicalHostArgs
    from tcra.providers.virtual_machine import VirtualMachine, VirtualMachineArgs

# Pulumi resources and the MCO load on first use: the CLI and the model do not pay for them.
_RESOURCES = {
    "Boot": "tcra.providers.physical_host",
    "PhysicalHost": "tcra.providers.physical_host",
    "PhysicalHostArgs": "tcra.providers.physical_host",
    "PhysicalPool": "tcra.components.physical_pool",
    "PhysicalPoolArgs": "tcra.components.physical_pool",
    "K8sCluster": "tcra.components.k8s_cluster",
    "K8sClusterArgs": "tcra.components.k8s_cluster",
    "MultiCloudOrchestrator": "tcra.components.orchestrator",
    "MultiCloudOrchestratorArgs": "tcra.components.orchestrator",
    "Plan": "tcra.mco.plan",
    "Policy": "tcra.mco.model",
    "ServiceRequest": "tcra.mco.model",
    "place": "tcra.mco.engine",
    "SRv6Chain": "tcra.components.srv6_chain",
    "SRv6ChainArgs": "tcra.components.srv6_chain",
    "Workload": "tcra.components.workload",
    "WorkloadArgs": "tcra.components.workload",
    "VMCluster": "tcra.components.vm_cluster",
    "VMClusterArgs": "tcra.components.vm_cluster",
    "VirtualMachine": "tcra.providers.virtual_machine",
    "VirtualMachineArgs": "tcra.providers.virtual_machine",
}

__all__ = [
    "Boot",
    "Chain",
    "Fabric",
    "Host",
    "HostFilter",
    "InvalidInputError",
    "Inventory",
    "K8sCluster",
    "K8sClusterArgs",
    "MultiCloudOrchestrator",
    "MultiCloudOrchestratorArgs",
    "PhysicalHost",
    "PhysicalHostArgs",
    "PhysicalPool",
    "PhysicalPoolArgs",
    "Plan",
    "Policy",
    "Quantity",
    "SRv6Chain",
    "SRv6ChainArgs",
    "ServiceRequest",
    "Site",
    "TcraError",
    "Tier",
    "VMCluster",
    "VMClusterArgs",
    "VirtualMachine",
    "VirtualMachineArgs",
    "Workload",
    "WorkloadArgs",
    "load_inventory",
    "place",
]


def __getattr__(name: str) -> Any:
    if name in _RESOURCES:
        import importlib

        return getattr(importlib.import_module(_RESOURCES[name]), name)
    raise AttributeError(f"module 'tcra' has no attribute {name!r}")
