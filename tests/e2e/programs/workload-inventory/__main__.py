"""One service placed by the MCO on an inventory and recorded in the workload inventory
(TCWI), with plain values for what was made: the WorkloadInventory resource is the only one,
so it runs without a lab and reads no live peers. Config: inventory (a path), service,
store_url."""

import pulumi
from tcra.components.orchestrator import MultiCloudOrchestrator, MultiCloudOrchestratorArgs
from tcra.providers.workload_inventory import DeployedObject

from tcra.inventory import load
from tcra.mco.model import Resources, ServiceRequest, WorkloadKind, WorkloadRequest
from tcra.model import Quantity

config = pulumi.Config()
service = config.require("service")
small = Resources(cpu=1, memory=Quantity("1Gi"))
mco = MultiCloudOrchestrator("mco", MultiCloudOrchestratorArgs(
    inventory=load(config.require("inventory")), store_url=config.require("store_url"),
    live=False,  # the example inventory's peers are not there to read
    request=ServiceRequest(name=service, tenant="ot", workloads=(
        WorkloadRequest(name="broker", kind=WorkloadKind.CAF, resources=small),
        WorkloadRequest(name="historian", kind=WorkloadKind.VAF, resources=small)))))
mco.record([
    DeployedObject(workload="broker", cluster=f"{service}-k8s", release="broker",
                   namespace=service, sid="fcbb:bb00:1::b"),
    DeployedObject(workload="historian", vm_uuid="0b7f5a54-49a1-4b4e-9d4e-2f1b3f0c0001"),
])
pulumi.export("sites", mco.sites)
