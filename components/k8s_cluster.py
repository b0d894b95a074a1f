"""K8sCluster: a Kubernetes cluster as Cluster API objects on a management cluster (TCRA MCM).

The component declares, through pulumi-kubernetes on the management cluster's provider (always
the one passed in, never an ambient kubeconfig): one BareMetalHost and BMC Secret per machine, a
Metal3Cluster and a Cluster, a control plane (kubeadm or RKE2) with its Metal3MachineTemplate, and
per node pool a MachineDeployment with its machine and bootstrap templates. It then reads the
kubeconfig Cluster API writes, builds a provider for the new cluster, and releases the add-ons.

Day 2 is an ordinary `pulumi up`: a new Kubernetes version or image rolls the machines (new
templates under new names; the control plane and MachineDeployments are updated in place), new
replicas scale a pool, a pool added or removed is a MachineDeployment created or deleted. None of
these touches the Cluster object.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
from tcra.components.k8s_cluster_args import (
    CONTROL_PLANE,
    AddOns,
    ApiEndpoint,
    ControlPlane,
    EmulatedVm,
    K8sClusterArgs,
    Machine,
    Network,
    NodeFeatures,
    NodePool,
    machines_from_hosts,
    machines_from_vms,
)
from tcra.components.k8s_cluster_render import POOL_LABEL, ClusterPlan, plan
from tcra.components.workload_chart import Chart, declare_release

from tcra.capi._meta import KubeObject
from tcra.capi.core import KUBECONFIG_SUFFIX
from tcra.capi.metal3 import Image
from tcra.errors import TcraError
from tcra.secrets import resolve

# Resource options by kind, each for a reason:
TEMPLATE_OPTIONS = pulumi.ResourceOptions(
    # Templates are immutable: a new spec is a new object under a new (hashed) name, created
    # before the old one goes, so the MachineDeployment or control plane can switch to it.
    replace_on_changes=["spec"], delete_before_replace=False)
HOST_OPTIONS = pulumi.ResourceOptions(
    # Metal3 powers hosts on and off while it provisions them: after creation `online` is its call.
    ignore_changes=["spec.online"],
    # Another boot NIC is another host to Ironic; the name stays, so the old one goes first.
    replace_on_changes=["spec.bootMACAddress"], delete_before_replace=True)
SECRET_OUTPUTS = ["data", "stringData"]


class KubeconfigMissingError(TcraError):
    """Cluster API's kubeconfig Secret for the cluster has no usable `value`."""


class K8sCluster(pulumi.ComponentResource):
    """Outputs: `cluster_name`, `namespace`, `endpoint` (https URL of the API server) and
    `kubeconfig` (a secret). `provider` is a pulumi_kubernetes.Provider for the new cluster;
    `plan` is the object graph as data; `objects` maps "Kind/name" to the declared resources."""

    cluster_name: pulumi.Output[str]
    namespace: pulumi.Output[str]
    endpoint: pulumi.Output[str]
    kubeconfig: pulumi.Output[str]

    def __init__(self, name: str, args: K8sClusterArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        self.plan: ClusterPlan = plan(args)  # bad input fails here, before anything is declared
        passwords = {h.machine.name: resolve(h.machine.bmc.credentials.password)
                     for h in self.plan.hosts}
        super().__init__("tcra:mcm:K8sCluster", name, None, opts)
        for warning in self.plan.warnings:
            pulumi.log.warn(warning, resource=self)
        self.objects: dict[str, pulumi.CustomResource] = {}
        management = args.management
        hosts_of: dict[str, list[pulumi.Resource]] = {}
        for host in self.plan.hosts:
            secret = k8s.core.v1.Secret(
                f"{name}-{host.machine.name}-bmc",
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    name=host.secret_name, namespace=args.namespace,
                    labels=host.host.metadata.labels),
                type="Opaque",
                string_data={"username": host.machine.bmc.credentials.username,
                             "password": pulumi.Output.secret(passwords[host.machine.name])},
                opts=self._on(management, additional_secret_outputs=SECRET_OUTPUTS))
            self.objects[f"Secret/{host.secret_name}"] = secret
            bmh = self._declare(f"{name}-{host.machine.name}", host.host, management,
                                HOST_OPTIONS, depends_on=[secret])
            group = (host.host.metadata.labels or {}).get(POOL_LABEL, "")
            hosts_of.setdefault(group, []).append(bmh)
        infrastructure = self._declare(f"{name}-metal3cluster", self.plan.infrastructure,
                                       management)
        cluster = self._declare(f"{name}-cluster", self.plan.cluster, management,
                                depends_on=[infrastructure])
        cp_template = self._declare(f"{name}-cp-machines", self.plan.control_plane_template,
                                    management, TEMPLATE_OPTIONS)
        timeouts = pulumi.CustomTimeouts(create=args.control_plane_timeout,
                                         update=args.control_plane_timeout,
                                         delete=args.control_plane_timeout)
        control_plane = self._declare(
            f"{name}-cp", self.plan.control_plane, management,
            pulumi.ResourceOptions(custom_timeouts=timeouts),
            depends_on=[cluster, cp_template, *hosts_of.get(CONTROL_PLANE, [])])
        for pool in self.plan.pools:
            machines = self._declare(f"{name}-{pool.name}-machines", pool.machine_template,
                                     management, TEMPLATE_OPTIONS)
            bootstrap = self._declare(f"{name}-{pool.name}-bootstrap", pool.bootstrap_template,
                                      management, TEMPLATE_OPTIONS)
            self._declare(f"{name}-{pool.name}", pool.deployment, management,
                          pulumi.ResourceOptions(custom_timeouts=pulumi.CustomTimeouts(
                              delete=args.control_plane_timeout)),
                          depends_on=[cluster, machines, bootstrap,
                                      *hosts_of.get(pool.name, [])])

        self.kubeconfig = self._read_kubeconfig(name, args, control_plane)
        self.provider = k8s.Provider(f"{name}-workload", kubeconfig=self.kubeconfig,
                                     opts=pulumi.ResourceOptions(parent=self))
        self.addons = self._release_addons(name, args.addons)
        self.cluster_name = pulumi.Output.from_input(args.name)
        self.namespace = pulumi.Output.from_input(args.namespace)
        self.endpoint = pulumi.Output.from_input(
            f"https://{args.endpoint.host}:{args.endpoint.port}")
        self.register_outputs({"cluster_name": self.cluster_name, "namespace": self.namespace,
                               "endpoint": self.endpoint, "kubeconfig": self.kubeconfig})

    def _on(self, provider: k8s.Provider, **options: Any) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, provider=provider, **options)

    def _declare(self, resource_name: str, obj: KubeObject, provider: k8s.Provider,
                 options: pulumi.ResourceOptions | None = None,
                 depends_on: Sequence[pulumi.Resource] = ()) -> pulumi.CustomResource:
        manifest = obj.manifest()
        metadata = manifest["metadata"]
        resource = k8s.apiextensions.CustomResource(
            resource_name, api_version=obj.api_version, kind=obj.kind,
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=metadata["name"], namespace=metadata["namespace"],
                labels=metadata.get("labels"), annotations=metadata.get("annotations")),
            spec=manifest["spec"],
            opts=pulumi.ResourceOptions.merge(
                self._on(provider, depends_on=list(depends_on)), options))
        self.objects[f"{obj.kind}/{obj.metadata.name}"] = resource
        return resource

    def _read_kubeconfig(self, name: str, args: K8sClusterArgs,
                         control_plane: pulumi.CustomResource) -> pulumi.Output[str]:
        """Cluster API's `<cluster>-kubeconfig` Secret, read once the control plane is up. Its
        id waits on the control plane's, so a preview of a new cluster skips the read."""
        secret_id = control_plane.id.apply(
            lambda _: f"{args.namespace}/{args.name}{KUBECONFIG_SUFFIX}")
        secret = k8s.core.v1.Secret.get(
            f"{name}-kubeconfig", secret_id,
            opts=pulumi.ResourceOptions(parent=self, provider=args.management,
                                        depends_on=[control_plane]))
        return pulumi.Output.secret(secret.data.apply(
            lambda data: _decode_kubeconfig(data, args.namespace, args.name)))

    def _release_addons(self, name: str, addons: AddOns) -> dict[str, k8s.helm.v3.Release]:
        """CNI first; Multus after it; the SR-IOV device plugin after Multus, whose
        meta-plugin attaches its networks."""
        releases: dict[str, k8s.helm.v3.Release] = {}
        for key, chart in addons.charts():
            after = [releases[k] for k in ("cni", "multus") if k in releases
                     and (k == "cni" or key == "sriov")]
            releases[key] = declare_release(f"{name}-addon-{key}", chart,
                                            provider=self.provider, parent=self,
                                            depends_on=after)
        return releases


def _decode_kubeconfig(data: Mapping[str, str] | None, namespace: str, cluster: str) -> str:
    try:
        return base64.b64decode((data or {})["value"], validate=True).decode()
    except (KeyError, binascii.Error, UnicodeDecodeError):
        raise KubeconfigMissingError(
            f"K8sCluster {cluster}: Secret {namespace}/{cluster}{KUBECONFIG_SUFFIX} on the"
            " management cluster has no base64 kubeconfig under key 'value'") from None


__all__ = ["AddOns", "ApiEndpoint", "Chart", "ControlPlane", "EmulatedVm", "Image",
           "K8sCluster", "K8sClusterArgs", "Machine", "Network", "NodeFeatures", "NodePool",
           "machines_from_hosts", "machines_from_vms"]
