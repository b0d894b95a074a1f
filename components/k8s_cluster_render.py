"""K8sCluster's object graph as plain data: each Cluster API object built, and so validated, from
the arguments before Pulumi sees any of it. The same graph feeds the component and the golden files.

Names: the Cluster and its Metal3Cluster take the cluster's name, the control plane
`<cluster>-cp`, a pool's MachineDeployment `<cluster>-<pool>`. Machine and bootstrap templates are
immutable, so each is named after a hash of its spec: a new spec is a new template, and the
control plane or MachineDeployment that references it rolls its machines onto it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from tcra.components.k8s_cluster_args import (
    CONTROL_PLANE,
    HASH_LENGTH,
    Group,
    K8sClusterArgs,
    Machine,
    NodeFeatures,
    check,
)

from tcra.capi._meta import KubeObject, LabelSelector, ObjectMeta, TemplateMeta
from tcra.capi.core import (
    CLUSTER_NAME_LABEL,
    DEPLOYMENT_NAME_LABEL,
    Bootstrap,
    Cluster,
    ClusterNetwork,
    ClusterSpec,
    MachineDeployment,
    MachineDeploymentSpec,
    MachineDeploymentStrategy,
    MachineRollingUpdate,
    MachineSpec,
    MachineTemplateSpec,
    NetworkRanges,
)
from tcra.capi.kubeadm import (
    ControlPlaneMachineTemplate,
    ControlPlaneRollingUpdate,
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
    RolloutStrategy,
)
from tcra.capi.metal3 import (
    ApiEndpoint,
    BareMetalHost,
    BareMetalHostSpec,
    BMCDetails,
    Metal3Cluster,
    Metal3ClusterSpec,
    Metal3MachineSpec,
    Metal3MachineTemplate,
    Metal3MachineTemplateResource,
    Metal3MachineTemplateSpec,
    RootDeviceHints,
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
    RKE2ServerConfig,
)
from tcra.errors import InvalidInputError, problems_from, raise_if_any

CLUSTER_LABEL = "tcra.io/cluster"
POOL_LABEL = "tcra.io/pool"
WAIT_FOR = "pulumi.com/waitFor"
# Cluster API writes <cluster>-kubeconfig once the control plane has an endpoint; an up waits for
# the first control-plane node to initialize before reading it.
CONTROL_PLANE_READY = "jsonpath={.status.initialized}=true"
PATCH_DIRECTORY = "/etc/kubernetes/patches"
HUGEPAGES_FILE = "/etc/tmpfiles.d/tcra-hugepages.conf"
# cloud-init renders these from the metadata Metal3 gives each host.
HOSTNAME = "{{ ds.meta_data.local_hostname }}"
UUID_LABEL = "metal3.io/uuid={{ ds.meta_data.uuid }}"

BootstrapTemplate = KubeadmConfigTemplate | RKE2ConfigTemplate
ControlPlaneObject = KubeadmControlPlane | RKE2ControlPlane


@dataclass(frozen=True)
class HostPlan:
    machine: Machine
    secret_name: str
    host: BareMetalHost


@dataclass(frozen=True)
class PoolPlan:
    name: str
    machine_template: Metal3MachineTemplate
    bootstrap_template: BootstrapTemplate
    deployment: MachineDeployment
    hosts: tuple[str, ...]


@dataclass(frozen=True)
class ClusterPlan:
    cluster: Cluster
    infrastructure: Metal3Cluster
    control_plane: ControlPlaneObject
    control_plane_template: Metal3MachineTemplate
    control_plane_hosts: tuple[str, ...]
    pools: tuple[PoolPlan, ...]
    hosts: tuple[HostPlan, ...]
    warnings: tuple[str, ...] = ()

    def objects(self) -> list[KubeObject]:
        """Every Cluster API and Metal3 object, in the order they are declared."""
        pools: list[KubeObject] = []
        for pool in self.pools:
            pools += [pool.machine_template, pool.bootstrap_template, pool.deployment]
        return [*(h.host for h in self.hosts), self.infrastructure, self.cluster,
                self.control_plane_template, self.control_plane, *pools]

    def manifests(self) -> list[dict[str, Any]]:
        """What goes to the management cluster. BMC Secrets show where the password comes
        from, never the password."""
        secrets = [{"apiVersion": "v1", "kind": "Secret",
                    "metadata": {"name": h.secret_name, "namespace": h.host.metadata.namespace,
                                 "labels": h.host.metadata.labels},
                    "type": "Opaque",
                    "stringData": {"username": h.machine.bmc.credentials.username,
                                   "password": f"<secret {h.machine.bmc.credentials.password}>"}}
                   for h in self.hosts]
        return [*secrets, *(obj.manifest() for obj in self.objects())]


def plan(args: K8sClusterArgs) -> ClusterPlan:
    """The validated object graph; InvalidInputError names every problem with the arguments."""
    groups, problems = check(args)
    raise_if_any(problems)
    try:
        return _build(args, groups)
    except ValidationError as exc:  # a rule of an API the argument checks do not know yet
        raise InvalidInputError(problems_from(exc, f"K8sCluster {args.name}")) from None


def spec_hash(spec: Any) -> str:
    canonical = json.dumps(spec.wire(), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:HASH_LENGTH]


def _build(args: K8sClusterArgs, groups: list[Group]) -> ClusterPlan:
    name, namespace = args.name, args.namespace

    def meta(object_name: str, labels: dict[str, str] | None = None,
             annotations: dict[str, str] | None = None) -> ObjectMeta:
        return ObjectMeta(name=object_name, namespace=namespace,
                          labels={CLUSTER_NAME_LABEL: name, **(labels or {})},
                          annotations=annotations)

    def machine_template(base: str, group: Group) -> Metal3MachineTemplate:
        spec = Metal3MachineTemplateSpec(template=Metal3MachineTemplateResource(
            spec=Metal3MachineSpec(image=group.image, host_selector=LabelSelector(
                match_labels={CLUSTER_LABEL: name, POOL_LABEL: group.key}))))
        return Metal3MachineTemplate(metadata=meta(f"{base}-{spec_hash(spec)}"), spec=spec)

    hosts = _hosts(args, groups)
    control, *pools = groups
    infrastructure = Metal3Cluster(metadata=meta(name), spec=Metal3ClusterSpec(
        control_plane_endpoint=ApiEndpoint(host=args.endpoint.host, port=args.endpoint.port),
        no_cloud_provider=True, cloud_provider_enabled=False))
    cp_template = machine_template(f"{name}-cp", control)
    control_plane = _control_plane(args, control, cp_template,
                                   meta(f"{name}-cp", annotations={WAIT_FOR: CONTROL_PLANE_READY}))
    cluster = Cluster(metadata=meta(name), spec=ClusterSpec(
        cluster_network=ClusterNetwork(
            pods=NetworkRanges(cidr_blocks=args.network.pods),
            services=NetworkRanges(cidr_blocks=args.network.services),
            service_domain=args.network.service_domain),
        control_plane_ref=control_plane.ref(), infrastructure_ref=infrastructure.ref()))
    pool_plans = []
    for group, settings in zip(pools, args.pools, strict=True):
        infra = machine_template(f"{name}-{group.key}", group)
        bootstrap = _bootstrap_template(args, group, f"{name}-{group.key}", meta)
        selector = {CLUSTER_NAME_LABEL: name, DEPLOYMENT_NAME_LABEL: f"{name}-{group.key}"}
        deployment = MachineDeployment(metadata=meta(f"{name}-{group.key}"),
                                       spec=MachineDeploymentSpec(
            cluster_name=name, replicas=group.replicas,
            selector=LabelSelector(match_labels=selector),
            template=MachineTemplateSpec(metadata=TemplateMeta(labels=selector), spec=MachineSpec(
                cluster_name=name, bootstrap=Bootstrap(config_ref=bootstrap.ref()),
                infrastructure_ref=infra.ref(), version=args.kubernetes_version)),
            strategy=MachineDeploymentStrategy(rolling_update=MachineRollingUpdate(
                max_surge=settings.max_surge, max_unavailable=settings.max_unavailable))))
        pool_plans.append(PoolPlan(group.key, infra, bootstrap, deployment,
                                   tuple(m.name for m in group.machines)))
    warnings = tuple(w for g in groups if (w := g.short_of_spares))
    return ClusterPlan(cluster, infrastructure, control_plane, cp_template,
                       tuple(m.name for m in control.machines), tuple(pool_plans), hosts,
                       warnings)


def _hosts(args: K8sClusterArgs, groups: list[Group]) -> tuple[HostPlan, ...]:
    """One BareMetalHost per machine. Machines no group took stay registered as spares: Metal3
    inspects them, and no host selector matches them."""
    group_of = {m.name: g.key for g in groups for m in g.machines}
    plans = []
    for machine in args.machines:
        labels = {CLUSTER_LABEL: args.name}
        if machine.name in group_of:
            labels[POOL_LABEL] = group_of[machine.name]
        secret = f"{machine.name}-bmc"
        plans.append(HostPlan(machine, secret, BareMetalHost(
            metadata=ObjectMeta(name=machine.name, namespace=args.namespace, labels=labels),
            spec=BareMetalHostSpec(
                bmc=BMCDetails(address=machine.bmc_address, credentials_name=secret,
                               disable_certificate_verification=(
                                   None if machine.bmc.verify_tls else True)),
                online=True, boot_mac_address=machine.boot_mac, boot_mode=machine.boot_mode,
                root_device_hints=(RootDeviceHints(device_name=machine.root_device)
                                   if machine.root_device else None),
                description=f"tcra cluster {args.name}"))))
    return tuple(plans)


def node_labels(group: Group) -> list[str]:
    return [UUID_LABEL, f"{POOL_LABEL}={group.key}",
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
        name=HOSTNAME, kubelet_extra_args={"node-labels": ",".join(node_labels(group))})
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


def _control_plane(args: K8sClusterArgs, group: Group, template: Metal3MachineTemplate,
                   metadata: ObjectMeta) -> ControlPlaneObject:
    machines = ControlPlaneMachineTemplate(infrastructure_ref=template.ref())
    rollout = RolloutStrategy(rolling_update=ControlPlaneRollingUpdate(
        max_surge=args.control_plane.surge))
    if args.distribution == "rke2":
        return RKE2ControlPlane(metadata=metadata, spec=RKE2ControlPlaneSpec(
            replicas=group.replicas, version=args.kubernetes_version, machine_template=machines,
            server_config=RKE2ServerConfig(cni=args.rke2_cni, tls_san=(args.endpoint.host,)),
            registration_method="control-plane-endpoint", rollout_strategy=rollout,
            **_rke2_parts(group)))
    return KubeadmControlPlane(metadata=metadata, spec=KubeadmControlPlaneSpec(
        replicas=group.replicas, version=args.kubernetes_version, machine_template=machines,
        kubeadm_config_spec=_kubeadm_spec(group, control_plane=True), rollout_strategy=rollout))


def _bootstrap_template(args: K8sClusterArgs, group: Group, base: str,
                        meta: Callable[[str], ObjectMeta]) -> BootstrapTemplate:
    if args.distribution == "rke2":
        rke2 = RKE2ConfigTemplateSpec(template=RKE2ConfigTemplateResource(
            spec=RKE2ConfigSpec(**_rke2_parts(group))))
        return RKE2ConfigTemplate(metadata=meta(f"{base}-{spec_hash(rke2)}"), spec=rke2)
    kubeadm = KubeadmConfigTemplateSpec(template=KubeadmConfigTemplateResource(
        spec=_kubeadm_spec(group, control_plane=False)))
    return KubeadmConfigTemplate(metadata=meta(f"{base}-{spec_hash(kubeadm)}"), spec=kubeadm)


__all__ = ["CONTROL_PLANE", "ClusterPlan", "HostPlan", "PoolPlan", "plan"]
