"""The in-memory part of a cluster's graph, as Cluster API's own in-memory scale tests lay it
out: a DevCluster with `backend.inMemory` (CAPD picks the API server's address) and a
DevMachineTemplate per group with the simulated start-up times."""

from __future__ import annotations

from tcra.capi.capd import (
    DevCluster,
    DevClusterBackend,
    DevClusterSpec,
    DevMachineBackend,
    DevMachineSpec,
    DevMachineTemplate,
    DevMachineTemplateResource,
    DevMachineTemplateSpec,
    InMemoryClusterBackend,
    InMemoryMachineBackend,
    Provisioning,
    Startup,
)
from tcra.mcm.infrastructure import InMemoryInfrastructure
from tcra.mcm.naming import Metadata, spec_hash

LISTENER = "inmemorycluster.infrastructure.cluster.x-k8s.io/listener"


def infrastructure_cluster(name: str, namespace: str, meta: Metadata) -> DevCluster:
    """The DevCluster, annotated up front with the listener CAPD names after the Cluster:
    CAPD v1.13's in-memory backend writes that annotation into the object's annotations
    without making the map first, and panics on a DevCluster that has none."""
    return DevCluster(metadata=meta(name, {LISTENER: f"{namespace}/{name}"}), spec=DevClusterSpec(
        backend=DevClusterBackend(in_memory=InMemoryClusterBackend())))


def machine_template(infrastructure: InMemoryInfrastructure, base: str,
                     meta: Metadata) -> DevMachineTemplate:
    """Simulated machines; named after a hash of the spec, like every template."""
    jitter = f"{infrastructure.startup_jitter:.6f}".rstrip("0").rstrip(".")  # CAPD parses it

    def startup(duration: str) -> Startup:
        return Startup(provisioning=Provisioning(startup_duration=duration,
                                                 startup_jitter=jitter))

    spec = DevMachineTemplateSpec(template=DevMachineTemplateResource(spec=DevMachineSpec(
        backend=DevMachineBackend(in_memory=InMemoryMachineBackend(
            vm=startup(infrastructure.vm_startup), node=startup(infrastructure.node_startup),
            api_server=startup(infrastructure.api_server_startup),
            etcd=startup(infrastructure.etcd_startup))))))
    return DevMachineTemplate(metadata=meta(f"{base}-{spec_hash(spec)}"), spec=spec)
