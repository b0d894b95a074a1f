"""K8sCluster: a Kubernetes cluster as Cluster API objects on a management cluster (TCRA MCM).

The component declares the graph tcra.mcm.plan builds, through pulumi-kubernetes on the
management cluster's provider (always the one passed in, never an ambient kubeconfig), in order:
on Metal3 one BMC Secret and BareMetalHost per machine; the infrastructure cluster (Metal3Cluster,
or CAPD's in-memory DevCluster) and the Cluster; the machine templates (Metal3MachineTemplates or
DevMachineTemplates); the control plane (kubeadm or RKE2); per node pool its bootstrap template
and MachineDeployment. It then reads the kubeconfig Cluster API writes, builds a provider for the
new cluster, and releases the add-ons.

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
from pydantic import ConfigDict, Field
from tcra.components.workload_chart import declare_release

from tcra import yamlsafe
from tcra.capi._meta import KubeObject
from tcra.capi.core import KUBECONFIG_SUFFIX
from tcra.errors import TcraError
from tcra.mcm.infrastructure import Metal3Infrastructure
from tcra.mcm.naming import CONTROL_PLANE, POOL_LABEL
from tcra.mcm.plan import ClusterPlan, plan
from tcra.mcm.spec import AddOns, K8sClusterSpec
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


class K8sClusterArgs(K8sClusterSpec):
    """The cluster (tcra.mcm.K8sClusterSpec) and the management cluster to declare it on."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    management: k8s.Provider = Field(description="The management cluster, passed explicitly.")


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
        self._management = args.management
        graph = self.plan
        hosts_of = self._declare_hosts(name, args.namespace, passwords)
        infrastructure = self._declare(f"{name}-{graph.infrastructure.kind.lower()}",
                                       graph.infrastructure)
        cluster = self._declare(f"{name}-cluster", graph.cluster, depends_on=[infrastructure])
        cp_machines = self._declare(f"{name}-cp-machines", graph.control_plane_template,
                                    TEMPLATE_OPTIONS)
        machines = {pool.name: self._declare(f"{name}-{pool.name}-machines",
                                             pool.machine_template, TEMPLATE_OPTIONS)
                    for pool in graph.pools}
        timeout = args.control_plane_timeout
        # The control plane is its own resource, with its own options, and the kubeconfig read
        # hangs off it: where an up waits for the control plane to be ready.
        control_plane = self._declare(
            f"{name}-cp", graph.control_plane, pulumi.ResourceOptions(
                custom_timeouts=pulumi.CustomTimeouts(create=timeout, update=timeout,
                                                      delete=timeout)),
            depends_on=[cluster, cp_machines, *hosts_of.get(CONTROL_PLANE, [])])
        bootstrap = {pool.name: self._declare(f"{name}-{pool.name}-bootstrap",
                                              pool.bootstrap_template, TEMPLATE_OPTIONS)
                     for pool in graph.pools}
        for pool in graph.pools:
            self._declare(f"{name}-{pool.name}", pool.deployment,
                          pulumi.ResourceOptions(custom_timeouts=pulumi.CustomTimeouts(
                              delete=timeout)),
                          depends_on=[cluster, machines[pool.name], bootstrap[pool.name],
                                      *hosts_of.get(pool.name, [])])

        self.kubeconfig = read_kubeconfig(name, args.namespace, args.name, args.management,
                                          pulumi.ResourceOptions(parent=self), control_plane)
        self.provider = k8s.Provider(f"{name}-workload", kubeconfig=self.kubeconfig,
                                     opts=pulumi.ResourceOptions(parent=self))
        self.addons = self._release_addons(name, args.addons)
        self.cluster_name = pulumi.Output.from_input(args.name)
        self.namespace = pulumi.Output.from_input(args.namespace)
        self.endpoint = self._endpoint(args)
        self.register_outputs({"cluster_name": self.cluster_name, "namespace": self.namespace,
                               "endpoint": self.endpoint, "kubeconfig": self.kubeconfig})

    def _declare_hosts(self, name: str, namespace: str,
                       passwords: Mapping[str, str]) -> dict[str, list[pulumi.Resource]]:
        """Metal3's BMC Secrets and BareMetalHosts, by the group that took them."""
        hosts_of: dict[str, list[pulumi.Resource]] = {}
        for host in self.plan.hosts:
            secret = k8s.core.v1.Secret(
                f"{name}-{host.machine.name}-bmc",
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    name=host.secret_name, namespace=namespace,
                    labels=host.host.metadata.labels),
                type="Opaque",
                string_data={"username": host.machine.bmc.credentials.username,
                             "password": pulumi.Output.secret(passwords[host.machine.name])},
                opts=self._on(additional_secret_outputs=SECRET_OUTPUTS))
            self.objects[f"Secret/{host.secret_name}"] = secret
            bmh = self._declare(f"{name}-{host.machine.name}", host.host, HOST_OPTIONS,
                                depends_on=[secret])
            group = (host.host.metadata.labels or {}).get(POOL_LABEL, "")
            hosts_of.setdefault(group, []).append(bmh)
        return hosts_of

    def _endpoint(self, args: K8sClusterArgs) -> pulumi.Output[str]:
        """Metal3: the endpoint given. In-memory: the address CAPD picked, as the kubeconfig
        says; not a secret, though the kubeconfig is."""
        if isinstance(args.infrastructure, Metal3Infrastructure):
            endpoint = args.infrastructure.endpoint
            return pulumi.Output.from_input(f"https://{endpoint.host}:{endpoint.port}")
        return pulumi.Output.unsecret(self.kubeconfig.apply(
            lambda text: _server(text, args.namespace, args.name)))

    def _on(self, **options: Any) -> pulumi.ResourceOptions:
        """Options for an object on the management cluster, always its provider."""
        return pulumi.ResourceOptions(parent=self, provider=self._management, **options)

    def _declare(self, resource_name: str, obj: KubeObject,
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
                self._on(depends_on=list(depends_on)), options))
        self.objects[f"{obj.kind}/{obj.metadata.name}"] = resource
        return resource

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


def read_kubeconfig(name: str, namespace: str, cluster: str, management: k8s.Provider,
                    opts: pulumi.ResourceOptions,
                    after: pulumi.CustomResource | None = None) -> pulumi.Output[str]:
    """Cluster API's `<cluster>-kubeconfig` Secret on the management cluster, kept secret.
    After `after` (the control plane of a cluster being made) its id waits on that one's, so
    a preview of a new cluster skips the read."""
    secret_id: Any = f"{namespace}/{cluster}{KUBECONFIG_SUFFIX}"
    if after is not None:
        secret_id = after.id.apply(lambda _: f"{namespace}/{cluster}{KUBECONFIG_SUFFIX}")
    secret = k8s.core.v1.Secret.get(
        f"{name}-kubeconfig", secret_id, opts=pulumi.ResourceOptions.merge(
            opts, pulumi.ResourceOptions(provider=management,
                                         depends_on=[after] if after is not None else [])))
    return pulumi.Output.secret(secret.data.apply(
        lambda data: _decode_kubeconfig(data, namespace, cluster)))


def _decode_kubeconfig(data: Mapping[str, str] | None, namespace: str, cluster: str) -> str:
    try:
        return base64.b64decode((data or {})["value"], validate=True).decode()
    except (KeyError, binascii.Error, UnicodeDecodeError):
        raise KubeconfigMissingError(
            f"K8sCluster {cluster}: Secret {namespace}/{cluster}{KUBECONFIG_SUFFIX} on the"
            " management cluster has no base64 kubeconfig under key 'value'") from None


def _server(kubeconfig: str, namespace: str, cluster: str) -> str:
    """The API server URL of the kubeconfig's first cluster (Cluster API writes one)."""
    try:
        config = yamlsafe.parse(kubeconfig, f"{namespace}/{cluster}{KUBECONFIG_SUFFIX}")
        server = config["clusters"][0]["cluster"]["server"]
    except (yamlsafe.UnsafeInputError, KeyError, IndexError, TypeError):
        server = None
    if not isinstance(server, str) or not server.startswith("https://"):
        raise KubeconfigMissingError(
            f"K8sCluster {cluster}: Secret {namespace}/{cluster}{KUBECONFIG_SUFFIX} on the"
            " management cluster has no clusters[0].cluster.server https URL")
    return server


__all__ = ["K8sCluster", "K8sClusterArgs", "KubeconfigMissingError", "read_kubeconfig"]
