"""How each group's nodes are bootstrapped: kubeadm (KubeadmControlPlane, KubeadmConfigTemplate)
or RKE2 (RKE2ControlPlane, RKE2ConfigTemplate), with the telco node features of the group."""

from __future__ import annotations

import json
from typing import Any

from tcra.capi._meta import Arg, KubeObject
from tcra.capi.kubeadm import (
    ControlPlaneMachineSpec,
    ControlPlaneMachineTemplate,
    ControlPlaneRollingUpdate,
    ControlPlaneRollout,
    ControlPlaneRolloutStrategy,
    File,
    InitConfiguration,
    JoinConfiguration,
    JoinControlPlane,
    KubeadmConfigSpec,
    KubeadmConfigTemplate,
    KubeadmConfigTemplateResource,
    KubeadmConfigTemplateSpec,
    KubeadmControlPlane,
    KubeadmControlPlaneSpec,
    NodeRegistrationOptions,
    Patches,
)
from tcra.capi.rke2 import (
    ComponentConfig,
    RKE2AgentConfig,
    RKE2ConfigSpec,
    RKE2ConfigTemplate,
    RKE2ConfigTemplateResource,
    RKE2ConfigTemplateSpec,
    RKE2ControlPlane,
    RKE2ControlPlaneSpec,
    RKE2MachineTemplate,
    RKE2ServerConfig,
    RollingUpdate,
    RolloutStrategy,
)
from tcra.mcm.assign import Group
from tcra.mcm.infrastructure import Metal3Infrastructure
from tcra.mcm.naming import POOL_LABEL, Metadata, spec_hash
from tcra.mcm.spec import K8sClusterSpec, NodeFeatures

PATCH_DIRECTORY = "/etc/kubernetes/patches"
HUGEPAGES_FILE = "/etc/tmpfiles.d/tcra-hugepages.conf"
# cloud-init renders these from the metadata Metal3 gives each host.
HOSTNAME = "{{ ds.meta_data.local_hostname }}"
UUID_LABEL = "metal3.io/uuid={{ ds.meta_data.uuid }}"
WAIT_FOR = "pulumi.com/waitFor"
PATCH_FORCE = "pulumi.com/patchForce"

BootstrapTemplate = KubeadmConfigTemplate | RKE2ConfigTemplate
ControlPlaneObject = KubeadmControlPlane | RKE2ControlPlane


def node_labels(group: Group) -> list[str]:
    """The pool's label and the feature labels; on Metal3 also the host's UUID, which CAPM3
    matches to set the node's providerID."""
    return [*(() if group.simulated else (UUID_LABEL,)), f"{POOL_LABEL}={group.key}",
            *(f"{key}={value}" for key, value in sorted(group.features.labels.items()))]


def kubelet_configuration(features: NodeFeatures) -> dict[str, str]:
    """KubeletConfiguration fields for the features, by their config-file names."""
    config: dict[str, str] = {}
    if features.cpu_manager_policy != "none":
        config["cpuManagerPolicy"] = features.cpu_manager_policy
    if features.topology_manager_policy != "none":
        config["topologyManagerPolicy"] = features.topology_manager_policy
    if features.reserved_cpus is not None:
        config["reservedSystemCPUs"] = features.reserved_cpus
    return config


def kubelet_flags(features: NodeFeatures) -> list[str]:
    """The same settings as kubelet flags (name=value), the way RKE2 takes them."""
    flags = {"cpuManagerPolicy": "cpu-manager-policy",
             "topologyManagerPolicy": "topology-manager-policy",
             "reservedSystemCPUs": "reserved-cpus"}
    return [f"{flags[key]}={value}" for key, value in kubelet_configuration(features).items()]


def hugepage_setup(features: NodeFeatures) -> tuple[list[File], list[str]]:
    """Hugepages reserved before the kubelet starts, and again at every boot (systemd-tmpfiles).
    1Gi pages reserved this late can come short on fragmented memory; the kernel command line
    (the EPA node role) is the sure way for those."""
    if not features.hugepages:
        return [], []
    lines = [f"w /sys/kernel/mm/hugepages/hugepages-{pool.size.bytes // 1024}kB/nr_hugepages"
             f" - - - - {pool.count}" for pool in features.hugepages]
    return ([File(path=HUGEPAGES_FILE, owner="root:root", permissions="0644",
                  content="\n".join(lines) + "\n")],
            [f"systemd-tmpfiles --create {HUGEPAGES_FILE}"])


def _kubeadm_spec(group: Group, *, control_plane: bool) -> KubeadmConfigSpec:
    files, commands = hugepage_setup(group.features)
    patches = None
    config = kubelet_configuration(group.features)
    if config:
        patches = Patches(directory=PATCH_DIRECTORY)
        patch = {"apiVersion": "kubelet.config.k8s.io/v1beta1", "kind": "KubeletConfiguration",
                 **config}
        files.append(File(path=f"{PATCH_DIRECTORY}/kubeletconfiguration+strategic.json",
                          owner="root:root", permissions="0644",
                          content=json.dumps(patch, indent=2) + "\n"))
    registration = NodeRegistrationOptions(
        name=None if group.simulated else HOSTNAME,
        kubelet_extra_args=(Arg(name="node-labels", value=",".join(node_labels(group))),))
    return KubeadmConfigSpec(
        files=tuple(files) or None, pre_kubeadm_commands=tuple(commands) or None,
        init_configuration=(InitConfiguration(node_registration=registration, patches=patches)
                            if control_plane else None),
        join_configuration=JoinConfiguration(
            node_registration=registration, patches=patches,
            control_plane=JoinControlPlane() if control_plane else None))


def _rke2_parts(group: Group) -> dict[str, Any]:
    files, commands = hugepage_setup(group.features)
    flags = kubelet_flags(group.features)
    return {"files": tuple(files) or None, "pre_rke2_commands": tuple(commands) or None,
            "agent_config": RKE2AgentConfig(
                node_labels=tuple(node_labels(group)),
                kubelet=ComponentConfig(extra_args=tuple(flags)) if flags else None)}


def control_plane(args: K8sClusterSpec, group: Group, template: KubeObject,
                  meta: Metadata) -> ControlPlaneObject:
    """The control plane on machines of `template`, annotated so that an up waits until its
    first node is up (pulumi-kubernetes' waitFor) before the kubeconfig is read."""
    name = f"{args.name}-cp"
    if args.distribution == "rke2":
        return RKE2ControlPlane(metadata=meta(name, _until(RKE2ControlPlane.INITIALIZED)),
                                spec=RKE2ControlPlaneSpec(
            replicas=group.replicas, version=args.kubernetes_version,
            machine_template=RKE2MachineTemplate(infrastructure_ref=template.ref()),
            server_config=RKE2ServerConfig(cni=args.rke2_cni, tls_san=_endpoint_host(args)),
            registration_method="control-plane-endpoint",
            rollout_strategy=RolloutStrategy(rolling_update=RollingUpdate(
                max_surge=args.control_plane.surge)),
            **_rke2_parts(group)))
    return KubeadmControlPlane(metadata=meta(name, replicated(
        f"jsonpath={KubeadmControlPlane.INITIALIZED}=true")),
                               spec=KubeadmControlPlaneSpec(
        replicas=group.replicas, version=args.kubernetes_version,
        machine_template=ControlPlaneMachineTemplate(spec=ControlPlaneMachineSpec(
            infrastructure_ref=template.contract_ref())),
        kubeadm_config_spec=_kubeadm_spec(group, control_plane=True),
        rollout=ControlPlaneRollout(strategy=ControlPlaneRolloutStrategy(
            rolling_update=ControlPlaneRollingUpdate(max_surge=args.control_plane.surge)))))


def _endpoint_host(args: K8sClusterSpec) -> tuple[str, ...] | None:
    if isinstance(args.infrastructure, Metal3Infrastructure):
        return (args.infrastructure.endpoint.host,)
    return None


def _until(field: str) -> dict[str, str]:
    return {WAIT_FOR: f"jsonpath={field}=true"}


def replicated(*first: str) -> dict[str, str]:
    """Annotations of an object that owns machines (a control plane, a MachineDeployment).

    An `up` waits until its machines are all there, up to date and none leaving: Cluster API
    v1beta2's RollingOut, ScalingUp and ScalingDown conditions all False (each checked at the
    object's current generation), after what `first` asks. And the declared spec wins over a
    hand-made change: `kubectl scale` takes `spec.replicas` through the scale subresource, and
    without force server-side apply would refuse `up`'s repair as a field conflict."""
    return {WAIT_FOR: json.dumps([*first, "condition=RollingOut=False",
                                  "condition=ScalingUp=False", "condition=ScalingDown=False"]),
            PATCH_FORCE: "true"}


def bootstrap_template(args: K8sClusterSpec, group: Group, base: str,
                       meta: Metadata) -> BootstrapTemplate:
    """The bootstrap configuration of a pool's machines, named after a hash of its spec."""
    if args.distribution == "rke2":
        rke2 = RKE2ConfigTemplateSpec(template=RKE2ConfigTemplateResource(
            spec=RKE2ConfigSpec(**_rke2_parts(group))))
        return RKE2ConfigTemplate(metadata=meta(f"{base}-{spec_hash(rke2)}"), spec=rke2)
    kubeadm = KubeadmConfigTemplateSpec(template=KubeadmConfigTemplateResource(
        spec=_kubeadm_spec(group, control_plane=False)))
    return KubeadmConfigTemplate(metadata=meta(f"{base}-{spec_hash(kubeadm)}"), spec=kubeadm)


