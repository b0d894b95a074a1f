"""A workload cluster on the lab: Cluster API objects on the management cluster the inventory
names for the site, in-memory machines. `pulumi up` again after changing replicas or the
Kubernetes version scales or upgrades it in place; `pulumi destroy` removes every object."""

import pulumi
import pulumi_kubernetes as k8s
from pydantic import BaseModel, Field
from tcra.blueprints import stack_config

from tcra import K8sCluster, K8sClusterArgs, load_inventory, mcm


class Config(BaseModel):
    inventory: str
    site: str
    name: str
    kubernetes_version: str
    control_plane_replicas: int = Field(default=1, ge=1)
    workers: int = Field(default=2, ge=0)


with stack_config.reported():
    config = stack_config.read(Config)
    management = load_inventory(config.inventory).management_cluster(config.site)
    provider = k8s.Provider("management", kubeconfig=management.kubeconfig.read_text(),
                            namespace=management.namespace)
    cluster = K8sCluster(config.name, K8sClusterArgs(
        name=config.name, namespace=management.namespace, management=provider,
        kubernetes_version=config.kubernetes_version,
        infrastructure=mcm.InMemoryInfrastructure(),
        control_plane=mcm.ControlPlane(replicas=config.control_plane_replicas),
        pools=(mcm.NodePool(name="workers", replicas=config.workers),)))
pulumi.export("cluster", cluster.cluster_name)
pulumi.export("endpoint", cluster.endpoint)
pulumi.export("kubeconfig", cluster.kubeconfig)
