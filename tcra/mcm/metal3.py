"""The Metal3 part of a cluster's graph: a BareMetalHost and BMC Secret per machine, the
Metal3Cluster with the API endpoint, and a Metal3MachineTemplate per group that selects the
group's hosts by label."""

from __future__ import annotations

from dataclasses import dataclass

from tcra.capi._meta import LabelSelector, ObjectMeta
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
from tcra.mcm.assign import Group
from tcra.mcm.infrastructure import Metal3Infrastructure
from tcra.mcm.machines import Machine
from tcra.mcm.naming import CLUSTER_LABEL, POOL_LABEL, Metadata, spec_hash


@dataclass(frozen=True)
class HostPlan:
    machine: Machine
    secret_name: str
    host: BareMetalHost


def infrastructure_cluster(infrastructure: Metal3Infrastructure, name: str,
                           meta: Metadata) -> Metal3Cluster:
    """The Metal3Cluster. Both cloud-provider spellings: CAPM3 releases before the rename read
    only noCloudProvider, later ones prefer cloudProviderEnabled; off, CAPM3 sets each node's
    providerID from its metal3.io/uuid label."""
    endpoint = infrastructure.endpoint
    return Metal3Cluster(metadata=meta(name), spec=Metal3ClusterSpec(
        control_plane_endpoint=ApiEndpoint(host=endpoint.host, port=endpoint.port),
        no_cloud_provider=True, cloud_provider_enabled=False))


def machine_template(cluster: str, group: Group, base: str,
                     meta: Metadata) -> Metal3MachineTemplate:
    """The group's image on the hosts labelled for the group, named after a hash of its spec."""
    assert group.image is not None  # noqa: S101 - assign gives every Metal3 group an image
    spec = Metal3MachineTemplateSpec(template=Metal3MachineTemplateResource(
        spec=Metal3MachineSpec(image=group.image, host_selector=LabelSelector(
            match_labels={CLUSTER_LABEL: cluster, POOL_LABEL: group.key}))))
    return Metal3MachineTemplate(metadata=meta(f"{base}-{spec_hash(spec)}"), spec=spec)


def hosts(infrastructure: Metal3Infrastructure, cluster: str, namespace: str,
          groups: list[Group]) -> tuple[HostPlan, ...]:
    """One BareMetalHost per machine. Machines no group took stay registered as spares: Metal3
    inspects them, and no host selector matches them."""
    group_of = {m.name: g.key for g in groups for m in g.machines or ()}
    plans = []
    for machine in infrastructure.machines:
        labels = {CLUSTER_LABEL: cluster}
        if machine.name in group_of:
            labels[POOL_LABEL] = group_of[machine.name]
        secret = f"{machine.name}-bmc"
        plans.append(HostPlan(machine, secret, BareMetalHost(
            metadata=ObjectMeta(name=machine.name, namespace=namespace, labels=labels),
            spec=BareMetalHostSpec(
                bmc=BMCDetails(address=machine.bmc_address, credentials_name=secret,
                               disable_certificate_verification=(
                                   None if machine.bmc.verify_tls else True)),
                online=True, boot_mac_address=machine.boot_mac, boot_mode=machine.boot_mode,
                root_device_hints=(RootDeviceHints(device_name=machine.root_device)
                                   if machine.root_device else None),
                description=f"tcra cluster {cluster}"))))
    return tuple(plans)
