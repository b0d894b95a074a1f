"""The manufacturing blueprint on the lab: the MCO places the catalog, a lab node is claimed
over Redfish, a VM runs on the lab's hypervisor, far-edge users reach the application through
an SRv6 chain. Container workloads are placed but not deployed: the lab has no Kubernetes."""

from tcra.blueprints import stack_config
from tcra.blueprints.manufacturing import ManufacturingBlueprint, ManufacturingStack

with stack_config.reported():
    factory = ManufacturingBlueprint("plant",
                                     stack_config.read(ManufacturingStack).blueprint_args())
factory.export()
