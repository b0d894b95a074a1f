"""The manufacturing blueprint on the lab: the MCO places the catalog, a lab node is claimed
over Redfish, a VM runs on the lab's hypervisor, far-edge users reach the application through
an SRv6 chain, and the container workloads run as Helm releases on site lab_factory's cluster
(the lab's Kubernetes with its real node), from charts and images in the lab's registry."""

from tcra.blueprints import stack_config
from tcra.blueprints.manufacturing import ManufacturingBlueprint, ManufacturingStack

with stack_config.reported():
    factory = ManufacturingBlueprint("plant",
                                     stack_config.read(ManufacturingStack).blueprint_args())
factory.export()
