"""The manufacturing blueprint on real sites: plants in Munich and Lyon, the far edge near
Munich, Kubernetes clusters per plant declared on a management cluster (Cluster API + Metal3),
GPU hosts claimed over Redfish, the historian as a VM. Set the management cluster's kubeconfig
first: pulumi config set --secret management_kubeconfig "$(cat mgmt.kubeconfig)"."""

from tcra.blueprints import stack_config
from tcra.blueprints.manufacturing import ManufacturingBlueprint, ManufacturingStack

with stack_config.reported():
    factory = ManufacturingBlueprint("plant",
                                     stack_config.read(ManufacturingStack).blueprint_args())
factory.export()
