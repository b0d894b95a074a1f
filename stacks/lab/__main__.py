"""The manufacturing blueprint on the lab: the MCO places the catalog, a lab node is claimed
over Redfish, a VM runs on the lab's hypervisor, far-edge users reach the application through
an SRv6 chain. Container workloads are placed but not deployed: the lab has no Kubernetes."""

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
