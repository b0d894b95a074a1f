"""The manufacturing blueprint on real sites: plants in Munich and Lyon, the far edge near
Munich, Kubernetes clusters per plant declared on a management cluster (Cluster API + Metal3),
GPU hosts claimed over Redfish, the historian as a VM. Set the management cluster's kubeconfig
first: pulumi config set --secret management_kubeconfig "$(cat mgmt.kubeconfig)"."""

import pulumi
from tcra.blueprints import stack_config
from tcra.blueprints.manufacturing import ManufacturingBlueprint, ManufacturingStack

config = stack_config.read(ManufacturingStack)
factory = ManufacturingBlueprint("plant", config.blueprint_args())
pulumi.export("plan", factory.plan)
pulumi.export("endpoints", factory.endpoints)
pulumi.export("chain", factory.chain)
pulumi.export("not_deployed", factory.not_deployed)
pulumi.export("diagram", factory.diagram)
