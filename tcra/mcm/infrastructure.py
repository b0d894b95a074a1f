"""Where a cluster's machines come from: Metal3 (real hardware, or VMs behind a Redfish emulator),
or CAPD's in-memory backend (simulated machines, for scale tests and for a lab with no hardware).
A typed choice on `K8sClusterSpec.infrastructure`, told apart by `provider`."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from tcra.capi.metal3 import Image
from tcra.mcm.machines import Machine
from tcra.model.base import Model


class ControlPlaneEndpoint(Model):
    """Where the workload cluster's API server answers: a virtual IP or a load balancer."""

    host: str
    port: int = Field(default=6443, ge=1, le=65535)


class Metal3Infrastructure(Model):
    """Machines Metal3 provisions from their BMCs, an OS image written to each, and the API
    endpoint (a VIP) you provide: BareMetalHosts, their BMC Secrets, a Metal3Cluster and
    Metal3MachineTemplates. The choice for real hardware."""

    provider: Literal["metal3"] = "metal3"
    endpoint: ControlPlaneEndpoint
    image: Image = Field(description="OS image Metal3 writes to every machine.")
    machines: tuple[Machine, ...]


class InMemoryInfrastructure(Model):
    """CAPD's in-memory backend: a DevCluster and DevMachineTemplates whose machines, nodes,
    etcd members and API servers CAPD simulates, answering on an address it picks. No hosts,
    no image, no endpoint. The defaults are those of Cluster API's own in-memory templates."""

    provider: Literal["in-memory"] = "in-memory"
    vm_startup: str = Field(default="10s", description="How long a machine takes to start, as a"
                            ' Go duration ("10s", "1m30s").')
    node_startup: str = Field(default="2s", description="Then its node, to register.")
    api_server_startup: str = Field(default="2s", description="A control-plane machine's API"
                                    " server.")
    etcd_startup: str = Field(default="2s", description="A control-plane machine's etcd.")
    startup_jitter: float = Field(default=0.2, ge=0, le=1, description="Each start takes up to"
                                  " this fraction longer, at random.")


Infrastructure = Annotated[Metal3Infrastructure | InMemoryInfrastructure,
                           Field(discriminator="provider")]
