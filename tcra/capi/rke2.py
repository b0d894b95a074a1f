"""The RKE2 providers (rancher/cluster-api-provider-rke2): RKE2ConfigTemplate
(bootstrap.cluster.x-k8s.io/v1beta1) and RKE2ControlPlane (controlplane.cluster.x-k8s.io/v1beta1).

v1beta1 is the version every CAPRKE2 release serves (those from v0.22 on also serve v1beta2 and
convert); a v1beta2 Cluster and MachineDeployment refer to these kinds by API group, so Cluster
API reads the version from the CRD. Here references still name an API version and namespace,
and RKE2 takes component flags as "flag=value" strings, where kubeadm takes {name, value}.
"""

from __future__ import annotations

from typing import ClassVar, Final, Literal

from pydantic import Field, model_validator

from tcra.capi._meta import (
    ApiModel,
    KubeObject,
    ObjectReference,
    TemplateMeta,
    TemplateResource,
    TemplateSpec,
)
from tcra.capi.kubeadm import File, check_quorum

BOOTSTRAP_API_VERSION: Final = "bootstrap.cluster.x-k8s.io/v1beta1"
CONTROL_PLANE_API_VERSION: Final = "controlplane.cluster.x-k8s.io/v1beta1"
RKE2_VERSION = r"^v1\.\d+\.\d+\+rke2r\d+$"

Flag = str
"""A command-line flag without its dashes, "name=value"."""


class ComponentConfig(ApiModel):
    extra_args: tuple[Flag, ...] | None = None

    @model_validator(mode="after")
    def _flags(self) -> ComponentConfig:
        for flag in self.extra_args or ():
            name, equals, _ = flag.partition("=")
            if not equals or not name or name.startswith("-"):
                raise ValueError(f"extraArgs entry {flag!r}: expected name=value, no dashes")
        return self


class RKE2AgentConfig(ApiModel):
    node_labels: tuple[str, ...] | None = None
    node_taints: tuple[str, ...] | None = None
    node_name_prefix: str | None = Field(default=None, alias="nodeName")
    kubelet: ComponentConfig | None = None


class RKE2ConfigSpec(ApiModel):
    files: tuple[File, ...] | None = None
    pre_rke2_commands: tuple[str, ...] | None = Field(default=None, alias="preRKE2Commands")
    post_rke2_commands: tuple[str, ...] | None = Field(default=None, alias="postRKE2Commands")
    agent_config: RKE2AgentConfig | None = None


RKE2ConfigTemplateResource = TemplateResource[RKE2ConfigSpec]
RKE2ConfigTemplateSpec = TemplateSpec[RKE2ConfigSpec]


class RKE2ConfigTemplate(KubeObject):
    api_version: Literal["bootstrap.cluster.x-k8s.io/v1beta1"] = BOOTSTRAP_API_VERSION
    kind: Literal["RKE2ConfigTemplate"] = "RKE2ConfigTemplate"
    spec: RKE2ConfigTemplateSpec


class RKE2MachineTemplate(ApiModel):
    """How control-plane machines are shaped (v1beta1): a namespaced, versioned reference."""

    metadata: TemplateMeta | None = None
    infrastructure_ref: ObjectReference
    node_drain_timeout: str | None = Field(default=None, pattern=r"^\d+(ms|s|m|h)$")


class RollingUpdate(ApiModel):
    max_surge: Literal[0, 1] = 1


class RolloutStrategy(ApiModel):
    type: Literal["RollingUpdate"] = "RollingUpdate"
    rolling_update: RollingUpdate


class RKE2ServerConfig(ApiModel):
    cni: Literal["none", "calico", "canal", "cilium"] | None = None
    cni_multus_enable: bool | None = None
    tls_san: tuple[str, ...] | None = None

    @model_validator(mode="after")
    def _multus_needs_a_cni(self) -> RKE2ServerConfig:
        if self.cni_multus_enable and self.cni is None:
            raise ValueError("cniMultusEnable needs a cni to chain to")
        return self


class RKE2ControlPlaneSpec(RKE2ConfigSpec):
    replicas: int = Field(ge=1)
    version: str = Field(pattern=RKE2_VERSION)
    machine_template: RKE2MachineTemplate
    server_config: RKE2ServerConfig | None = None
    registration_method: Literal["internal-first", "internal-only-ips", "external-only-ips",
                                 "address", "control-plane-endpoint"] = "control-plane-endpoint"
    registration_address: str | None = None
    rollout_strategy: RolloutStrategy

    @model_validator(mode="after")
    def _consistent(self) -> RKE2ControlPlaneSpec:
        check_quorum(self.replicas, "RKE2 servers run etcd")
        if self.machine_template.infrastructure_ref.namespace is None:
            raise ValueError("machineTemplate.infrastructureRef needs a namespace")
        if self.registration_method == "address" and not self.registration_address:
            raise ValueError("registrationMethod address needs a registrationAddress")
        return self


class RKE2ControlPlane(KubeObject):
    api_version: Literal["controlplane.cluster.x-k8s.io/v1beta1"] = CONTROL_PLANE_API_VERSION
    kind: Literal["RKE2ControlPlane"] = "RKE2ControlPlane"
    spec: RKE2ControlPlaneSpec

    INITIALIZED: ClassVar[str] = "{.status.initialized}"
    """Where the control plane says its first node is up (v1beta1 contract)."""
