"""The kubeadm providers: KubeadmConfigTemplate (bootstrap.cluster.x-k8s.io/v1beta1) and
KubeadmControlPlane (controlplane.cluster.x-k8s.io/v1beta1)."""

from __future__ import annotations

from typing import Final, Literal

from pydantic import Field, model_validator

from tcra.capi._meta import (
    ApiModel,
    KubeObject,
    ObjectReference,
    TemplateMeta,
    TemplateResource,
    TemplateSpec,
)

BOOTSTRAP_API_VERSION: Final = "bootstrap.cluster.x-k8s.io/v1beta1"
CONTROL_PLANE_API_VERSION: Final = "controlplane.cluster.x-k8s.io/v1beta1"
KUBEADM_VERSION = r"^v1\.\d+\.\d+$"


class File(ApiModel):
    """A file cloud-init writes before kubeadm runs."""

    path: str = Field(pattern=r"^/")
    content: str
    owner: str | None = Field(default=None, pattern=r"^[a-z_][a-z0-9_-]*:[a-z_][a-z0-9_-]*$")
    permissions: str | None = Field(default=None, pattern=r"^0[0-7]{3}$")
    encoding: Literal["base64", "gzip", "gzip+base64"] | None = None


class NodeRegistrationOptions(ApiModel):
    name: str | None = None
    kubelet_extra_args: dict[str, str] | None = None


class Patches(ApiModel):
    """kubeadm applies `<target>[suffix][+patchtype].<json|yaml>` files from this directory;
    target `kubeletconfiguration` patches the KubeletConfiguration (kubeadm >= v1.25)."""

    directory: str = Field(pattern=r"^/")


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
    files: tuple[File, ...] | None = None
    pre_kubeadm_commands: tuple[str, ...] | None = None
    post_kubeadm_commands: tuple[str, ...] | None = None
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
    api_version: Literal["bootstrap.cluster.x-k8s.io/v1beta1"] = BOOTSTRAP_API_VERSION
    kind: Literal["KubeadmConfigTemplate"] = "KubeadmConfigTemplate"
    spec: KubeadmConfigTemplateSpec


class ControlPlaneMachineTemplate(ApiModel):
    """How control-plane machines are shaped (shared by the kubeadm and RKE2 control planes)."""

    metadata: TemplateMeta | None = None
    infrastructure_ref: ObjectReference
    node_drain_timeout: str | None = Field(default=None, pattern=r"^\d+(ms|s|m|h)$")


def check_control_plane(replicas: int, machines: ControlPlaneMachineTemplate, etcd: str) -> None:
    """What both control planes require: an odd number of etcd members, and a namespaced
    reference to their machine template."""
    if replicas % 2 == 0:
        raise ValueError(f"replicas {replicas} cannot be even: {etcd}")
    if machines.infrastructure_ref.namespace is None:
        raise ValueError("machineTemplate.infrastructureRef needs a namespace")


class ControlPlaneRollingUpdate(ApiModel):
    max_surge: Literal[0, 1] = 1


class RolloutStrategy(ApiModel):
    type: Literal["RollingUpdate"] = "RollingUpdate"
    rolling_update: ControlPlaneRollingUpdate


class KubeadmControlPlaneSpec(ApiModel):
    replicas: int = Field(ge=1)
    version: str = Field(pattern=KUBEADM_VERSION)
    machine_template: ControlPlaneMachineTemplate
    kubeadm_config_spec: KubeadmConfigSpec
    rollout_strategy: RolloutStrategy

    @model_validator(mode="after")
    def _quorum(self) -> KubeadmControlPlaneSpec:
        # The KubeadmControlPlane webhook's rules for stacked etcd (the only kind tcra makes).
        check_control_plane(self.replicas, self.machine_template,
                            "etcd is stacked on the control-plane nodes")
        if self.rollout_strategy.rolling_update.max_surge == 0 and self.replicas < 3:
            raise ValueError("a rollout that removes before it adds (maxSurge 0) needs at least"
                             " 3 replicas")
        return self


class KubeadmControlPlane(KubeObject):
    api_version: Literal["controlplane.cluster.x-k8s.io/v1beta1"] = CONTROL_PLANE_API_VERSION
    kind: Literal["KubeadmControlPlane"] = "KubeadmControlPlane"
    spec: KubeadmControlPlaneSpec
