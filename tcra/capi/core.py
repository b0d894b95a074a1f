"""Cluster API core, cluster.x-k8s.io/v1beta2 (what Cluster API v1.11 and later store): Cluster and
MachineDeployment. References name an API group, not a version; durations are whole seconds."""

from __future__ import annotations

import ipaddress
from typing import Final, Literal

from pydantic import Field, field_validator, model_validator

from tcra.capi._meta import (
    ApiModel,
    ContractReference,
    DnsLabel,
    KubeObject,
    LabelSelector,
    TemplateMeta,
)

API_VERSION: Final = "cluster.x-k8s.io/v1beta2"
CLUSTER_NAME_LABEL = "cluster.x-k8s.io/cluster-name"
DEPLOYMENT_NAME_LABEL = "cluster.x-k8s.io/deployment-name"
KUBECONFIG_SUFFIX = "-kubeconfig"
"""Cluster API writes the workload cluster's admin kubeconfig to Secret `<cluster>-kubeconfig`,
key `value`."""


class NetworkRanges(ApiModel):
    cidr_blocks: tuple[str, ...] = Field(min_length=1, max_length=2)

    @field_validator("cidr_blocks")
    @classmethod
    def _cidrs(cls, blocks: tuple[str, ...]) -> tuple[str, ...]:
        for block in blocks:
            try:
                ipaddress.ip_network(block, strict=True)
            except ValueError as exc:
                raise ValueError(f"expected a CIDR block like 10.96.0.0/12 ({exc})") from None
        return blocks


class ClusterNetwork(ApiModel):
    pods: NetworkRanges
    services: NetworkRanges
    service_domain: str | None = Field(default=None, min_length=1, max_length=253)
    api_server_port: int | None = Field(default=None, ge=1, le=65535)


class ClusterSpec(ApiModel):
    cluster_network: ClusterNetwork
    control_plane_ref: ContractReference
    infrastructure_ref: ContractReference
    paused: bool | None = None


class Cluster(KubeObject):
    api_version: Literal["cluster.x-k8s.io/v1beta2"] = API_VERSION
    kind: Literal["Cluster"] = "Cluster"
    spec: ClusterSpec


class Bootstrap(ApiModel):
    config_ref: ContractReference


class MachineDeletion(ApiModel):
    """How long Cluster API waits while it takes a machine away; 0 waits for ever."""

    node_drain_timeout_seconds: int | None = Field(default=None, ge=0)
    node_volume_detach_timeout_seconds: int | None = Field(default=None, ge=0)
    node_deletion_timeout_seconds: int | None = Field(default=None, ge=0)


class MachineSpec(ApiModel):
    cluster_name: DnsLabel
    bootstrap: Bootstrap
    infrastructure_ref: ContractReference
    version: str = Field(pattern=r"^v\d+\.\d+\.\d+(\+[0-9A-Za-z.-]+)?$")
    deletion: MachineDeletion | None = None


class MachineTemplateSpec(ApiModel):
    metadata: TemplateMeta
    spec: MachineSpec


class MachineRollingUpdate(ApiModel):
    max_surge: int = Field(ge=0)
    max_unavailable: int = Field(ge=0)

    @model_validator(mode="after")
    def _can_progress(self) -> MachineRollingUpdate:
        if self.max_surge == 0 and self.max_unavailable == 0:
            raise ValueError("maxSurge and maxUnavailable cannot both be 0: a rollout could never"
                             " replace a machine")
        return self


class MachineDeploymentStrategy(ApiModel):
    type: Literal["RollingUpdate", "OnDelete"] = "RollingUpdate"
    rolling_update: MachineRollingUpdate | None = None


class MachineDeploymentRollout(ApiModel):
    strategy: MachineDeploymentStrategy


class MachineDeploymentDeletion(ApiModel):
    order: Literal["Random", "Newest", "Oldest"]


class MachineDeploymentSpec(ApiModel):
    cluster_name: DnsLabel
    replicas: int = Field(ge=0)
    selector: LabelSelector
    template: MachineTemplateSpec
    rollout: MachineDeploymentRollout | None = None
    deletion: MachineDeploymentDeletion | None = None


class MachineDeployment(KubeObject):
    api_version: Literal["cluster.x-k8s.io/v1beta2"] = API_VERSION
    kind: Literal["MachineDeployment"] = "MachineDeployment"
    spec: MachineDeploymentSpec

    @model_validator(mode="after")
    def _consistent(self) -> MachineDeployment:
        # What the Cluster API webhook would reject, said before anything is sent.
        spec = self.spec
        if spec.template.spec.cluster_name != spec.cluster_name:
            raise ValueError(f"template.spec.clusterName {spec.template.spec.cluster_name} differs"
                             f" from clusterName {spec.cluster_name}")
        labels = spec.template.metadata.labels or {}
        unmatched = {k: v for k, v in spec.selector.match_labels.items() if labels.get(k) != v}
        if unmatched:
            raise ValueError(f"selector {unmatched} does not match the template's labels {labels}")
        return self
