"""The kubeadm providers at v1beta2 (Cluster API v1.11 and later): KubeadmConfigTemplate
(bootstrap.cluster.x-k8s.io) and KubeadmControlPlane (controlplane.cluster.x-k8s.io).

v1beta2 follows kubeadm's v1beta4 API: extra arguments are lists of {name, value}; the control
plane's machine template holds a `spec` with the infrastructure reference (by API group); rollout
settings live under `rollout`; the control plane reports `status.initialization`.
"""

from __future__ import annotations

from typing import ClassVar, Final, Literal

from pydantic import Field, model_validator

from tcra.capi._meta import (
    ApiModel,
    Args,
    ContractReference,
    KubeObject,
    TemplateMeta,
    TemplateResource,
    TemplateSpec,
)
from tcra.capi.core import MachineDeletion

BOOTSTRAP_API_VERSION: Final = "bootstrap.cluster.x-k8s.io/v1beta2"
CONTROL_PLANE_API_VERSION: Final = "controlplane.cluster.x-k8s.io/v1beta2"
KUBEADM_VERSION = r"^v1\.\d+\.\d+$"


class File(ApiModel):
    """A file cloud-init writes before kubeadm runs (also RKE2's, which has the same shape)."""

    path: str = Field(pattern=r"^/", max_length=512)
    content: str = Field(min_length=1, max_length=10240)
    owner: str | None = Field(default=None, pattern=r"^[a-z_][a-z0-9_-]*:[a-z_][a-z0-9_-]*$")
    permissions: str | None = Field(default=None, pattern=r"^0[0-7]{3}$")
    encoding: Literal["base64", "gzip", "gzip+base64"] | None = None


class NodeRegistrationOptions(ApiModel):
    name: str | None = Field(default=None, min_length=1, max_length=253)
    kubelet_extra_args: Args | None = None


class Patches(ApiModel):
    """kubeadm applies `<target>[suffix][+patchtype].<json|yaml>` files from this directory;
    target `kubeletconfiguration` patches the KubeletConfiguration (kubeadm >= v1.25)."""

    directory: str = Field(pattern=r"^/", max_length=512)


class InitConfiguration(ApiModel):
    node_registration: NodeRegistrationOptions
    patches: Patches | None = None


class JoinControlPlane(ApiModel):
    """Present (even empty) when the joining node becomes a control-plane node."""


class JoinConfiguration(ApiModel):
    node_registration: NodeRegistrationOptions
    patches: Patches | None = None
    control_plane: JoinControlPlane | None = None


class KubeadmConfigSpec(ApiModel):
    files: tuple[File, ...] | None = Field(default=None, min_length=1, max_length=200)
    pre_kubeadm_commands: tuple[str, ...] | None = Field(default=None, min_length=1)
    post_kubeadm_commands: tuple[str, ...] | None = Field(default=None, min_length=1)
    init_configuration: InitConfiguration | None = None
    join_configuration: JoinConfiguration | None = None
    format: Literal["cloud-config", "ignition"] | None = None

    @model_validator(mode="after")
    def _patch_directory_is_written(self) -> KubeadmConfigSpec:
        directories = {c.patches.directory for c in (self.init_configuration,
                                                     self.join_configuration)
                       if c is not None and c.patches is not None}
        written = {f.path.rsplit("/", 1)[0] for f in self.files or ()}
        if directories - written:
            raise ValueError(f"patches.directory {sorted(directories - written)} has no file in"
                             " files: kubeadm would find nothing to apply")
        return self


KubeadmConfigTemplateResource = TemplateResource[KubeadmConfigSpec]
KubeadmConfigTemplateSpec = TemplateSpec[KubeadmConfigSpec]


class KubeadmConfigTemplate(KubeObject):
    api_version: Literal["bootstrap.cluster.x-k8s.io/v1beta2"] = BOOTSTRAP_API_VERSION
    kind: Literal["KubeadmConfigTemplate"] = "KubeadmConfigTemplate"
    spec: KubeadmConfigTemplateSpec


def check_quorum(replicas: int, etcd: str) -> None:
    """What every stacked-etcd control plane requires: an odd number of members."""
    if replicas % 2 == 0:
        raise ValueError(f"replicas {replicas} cannot be even: {etcd}")


class ControlPlaneMachineSpec(ApiModel):
    infrastructure_ref: ContractReference
    deletion: MachineDeletion | None = None


class ControlPlaneMachineTemplate(ApiModel):
    """How control-plane machines are shaped: their infrastructure template, by API group."""

    metadata: TemplateMeta | None = None
    spec: ControlPlaneMachineSpec


class ControlPlaneRollingUpdate(ApiModel):
    max_surge: Literal[0, 1] = 1


class ControlPlaneRolloutStrategy(ApiModel):
    type: Literal["RollingUpdate"] = "RollingUpdate"
    rolling_update: ControlPlaneRollingUpdate


class ControlPlaneRollout(ApiModel):
    strategy: ControlPlaneRolloutStrategy


class KubeadmControlPlaneSpec(ApiModel):
    replicas: int = Field(ge=1)
    version: str = Field(pattern=KUBEADM_VERSION)
    machine_template: ControlPlaneMachineTemplate
    kubeadm_config_spec: KubeadmConfigSpec
    rollout: ControlPlaneRollout

    @model_validator(mode="after")
    def _quorum(self) -> KubeadmControlPlaneSpec:
        # The KubeadmControlPlane webhook's rules for stacked etcd (the only kind tcra makes).
        check_quorum(self.replicas, "etcd is stacked on the control-plane nodes")
        if self.rollout.strategy.rolling_update.max_surge == 0 and self.replicas < 3:
            raise ValueError("a rollout that removes before it adds (maxSurge 0) needs at least"
                             " 3 replicas")
        return self


class KubeadmControlPlane(KubeObject):
    api_version: Literal["controlplane.cluster.x-k8s.io/v1beta2"] = CONTROL_PLANE_API_VERSION
    kind: Literal["KubeadmControlPlane"] = "KubeadmControlPlane"
    spec: KubeadmControlPlaneSpec

    INITIALIZED: ClassVar[str] = "{.status.initialization.controlPlaneInitialized}"
    """Where the control plane says its first node is up, and so the kubeconfig written."""
