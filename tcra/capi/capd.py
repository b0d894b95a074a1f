"""CAPD's in-memory backend (Cluster API's test infrastructure provider, the Dev kinds),
infrastructure.cluster.x-k8s.io/v1beta2: DevCluster and DevMachineTemplate.

With `spec.backend.inMemory` CAPD starts no container: it simulates each machine, its node, etcd
member and API server inside the controller, and serves the workload cluster's API from an
in-memory server whose address it writes into the DevCluster (so tcra sets no endpoint). This is
what Cluster API's own scale tests run; it needs no hardware and no images.
"""

from __future__ import annotations

from typing import Final, Literal

from pydantic import Field

from tcra.capi._meta import ApiModel, KubeObject, TemplateResource, TemplateSpec

API_VERSION: Final = "infrastructure.cluster.x-k8s.io/v1beta2"
GO_DURATION = r"^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$"


class InMemoryClusterBackend(ApiModel):
    """Empty: the in-memory cluster has nothing to set; its presence picks the backend."""


class DevClusterBackend(ApiModel):
    in_memory: InMemoryClusterBackend


class DevClusterSpec(ApiModel):
    backend: DevClusterBackend


class DevCluster(KubeObject):
    api_version: Literal["infrastructure.cluster.x-k8s.io/v1beta2"] = API_VERSION
    kind: Literal["DevCluster"] = "DevCluster"
    spec: DevClusterSpec


class Provisioning(ApiModel):
    """How long the simulated part takes to come up, plus up to `startupJitter` times that."""

    startup_duration: str = Field(pattern=GO_DURATION)
    startup_jitter: str | None = Field(default=None, pattern=r"^\d+(\.\d+)?$")


class Startup(ApiModel):
    provisioning: Provisioning


class InMemoryMachineBackend(ApiModel):
    vm: Startup | None = None
    node: Startup | None = None
    api_server: Startup | None = None
    etcd: Startup | None = None


class DevMachineBackend(ApiModel):
    in_memory: InMemoryMachineBackend


class DevMachineSpec(ApiModel):
    backend: DevMachineBackend


DevMachineTemplateResource = TemplateResource[DevMachineSpec]
DevMachineTemplateSpec = TemplateSpec[DevMachineSpec]


class DevMachineTemplate(KubeObject):
    api_version: Literal["infrastructure.cluster.x-k8s.io/v1beta2"] = API_VERSION
    kind: Literal["DevMachineTemplate"] = "DevMachineTemplate"
    spec: DevMachineTemplateSpec
