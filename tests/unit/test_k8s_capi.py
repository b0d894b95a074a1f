"""tcra.capi: the typed Cluster API objects refuse what the API servers and controllers would."""

import re

import pytest
import yaml
from pydantic import ValidationError

from tcra.capi import ObjectMeta
from tcra.capi.core import Cluster, MachineDeployment
from tcra.capi.kubeadm import KubeadmConfigSpec, KubeadmControlPlane
from tcra.capi.metal3 import BareMetalHost, Metal3Cluster
from tcra.capi.rke2 import RKE2ConfigSpec, RKE2ControlPlane
from tests.unit.test_k8s_cluster import GOLDEN


def golden(kind: str, file: str = "k8s_cluster_baremetal.yaml") -> dict:
    return next(m for m in yaml.safe_load_all((GOLDEN / file).read_text()) if m["kind"] == kind)


def edited(manifest: dict, path: str, value) -> dict:
    """A deep copy of `manifest` with the dotted `path` set to `value` (None deletes it)."""
    copy = yaml.safe_load(yaml.safe_dump(manifest))
    *parents, last = path.split(".")
    node = copy
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node[key]
    if value is None:
        del node[last]
    else:
        node[last] = value
    return copy


@pytest.mark.parametrize(("model", "kind", "path", "value", "message"), [
    (Cluster, "Cluster", "spec.controlPlaneRefs", {}, "Extra inputs are not permitted"),
    (Cluster, "Cluster", "spec.infrastructureRef.namespace", "clusters",
     "Extra inputs are not permitted"),  # v1beta2 references stay in the Cluster's namespace
    (Cluster, "Cluster", "spec.infrastructureRef.apiVersion",
     "infrastructure.cluster.x-k8s.io/v1beta1", "Extra inputs are not permitted"),
    (Cluster, "Cluster", "spec.controlPlaneRef.apiGroup", "controlplane.cluster.x-k8s.io/v1beta2",
     "expected a DNS-1123 subdomain"),
    (Cluster, "Cluster", "spec.clusterNetwork.pods.cidrBlocks", ["10.244.0.1/16"],
     "expected a CIDR block"),
    (Cluster, "Cluster", "metadata.name", "Plant", "expected a DNS-1123 subdomain"),
    (Cluster, "Cluster", "metadata.labels", {"cluster.x-k8s.io/cluster-name": "p" * 64},
     "expected a label value"),
    (KubeadmControlPlane, "KubeadmControlPlane", "spec.replicas", 4,
     "cannot be even: etcd is stacked on the control-plane nodes"),
    (KubeadmControlPlane, "KubeadmControlPlane", "spec.replicas", 1,
     "maxSurge 0) needs at least 3 replicas"),
    (KubeadmControlPlane, "KubeadmControlPlane",
     "spec.rollout.strategy.rollingUpdate.maxSurge", 2, "Input should be 0 or 1"),
    (KubeadmControlPlane, "KubeadmControlPlane", "spec.rolloutStrategy", {}, "Extra inputs"),
    (KubeadmControlPlane, "KubeadmControlPlane", "spec.version", "1.30.4",
     "String should match pattern"),
    (KubeadmControlPlane, "KubeadmControlPlane",
     "spec.kubeadmConfigSpec.joinConfiguration.kubeletExtraArgs", {}, "Extra inputs"),
    (KubeadmControlPlane, "KubeadmControlPlane",
     "spec.kubeadmConfigSpec.initConfiguration.nodeRegistration.kubeletExtraArgs",
     {"node-labels": "a=b"}, "Input should be a valid tuple"),  # v1beta1's map
    (KubeadmControlPlane, "KubeadmControlPlane",
     "spec.kubeadmConfigSpec.initConfiguration.nodeRegistration.kubeletExtraArgs",
     [{"name": "v", "value": "2"}, {"name": "v", "value": "4"}], "expected each argument name"),
    (KubeadmControlPlane, "KubeadmControlPlane",
     "spec.kubeadmConfigSpec.initConfiguration.nodeRegistration.kubeletExtraArgs", [],
     "expected at least one argument"),
    (KubeadmControlPlane, "KubeadmControlPlane", "spec.machineTemplate.infrastructureRef",
     {"apiGroup": "infrastructure.cluster.x-k8s.io", "kind": "Metal3MachineTemplate",
      "name": "x"}, "Extra inputs"),  # v1beta1's place; v1beta2 has machineTemplate.spec
    (MachineDeployment, "MachineDeployment", "spec.template.spec.clusterName", "other",
     "differs from clusterName plant"),
    (MachineDeployment, "MachineDeployment", "spec.selector.matchLabels",
     {"cluster.x-k8s.io/deployment-name": "plant-other"}, "does not match the template's"),
    (MachineDeployment, "MachineDeployment",
     "spec.rollout.strategy.rollingUpdate.maxUnavailable", 0,
     "maxSurge and maxUnavailable cannot both be 0"),
    (MachineDeployment, "MachineDeployment", "spec.strategy", {}, "Extra inputs"),
    (BareMetalHost, "BareMetalHost", "spec.bmc.address",
     "redfish+https://192.0.2.11/redfish/v1/Systems/1", "it needs bootMACAddress"),
    (BareMetalHost, "BareMetalHost", "spec.bmc.address", "vnc://192.0.2.11",
     "expected <driver>[+http|+https]://host/..."),
    (BareMetalHost, "BareMetalHost", "spec.bootMACAddress", "52-54-00-00-00-01",
     "String should match pattern"),
    (BareMetalHost, "BareMetalHost", "spec.bootMode", "BIOS", "Input should be 'UEFI'"),
    (Metal3Cluster, "Metal3Cluster", "spec.cloudProviderEnabled", True,
     "noCloudProvider and cloudProviderEnabled contradict each other"),
])
def test_objects_refuse_what_the_api_would(model, kind, path, value, message):
    with pytest.raises(ValidationError, match=re.escape(message)):
        model.model_validate(edited(golden(kind), path, value))


def test_rke2_objects_check_flags_versions_and_registration():
    manifest = golden("RKE2ControlPlane", "k8s_cluster_vm_rke2.yaml")
    assert RKE2ControlPlane.model_validate(manifest).manifest() == manifest
    for path, value, message in [
            ("spec.version", "v1.30.4", "String should match pattern"),
            ("spec.replicas", 2, "cannot be even: RKE2 servers run etcd"),
            ("spec.registrationMethod", "address", "needs a registrationAddress"),
            ("spec.serverConfig.cni", "flannel", "Input should be 'none'"),
            ("spec.machineTemplate.infrastructureRef.namespace", None, "needs a namespace")]:
        with pytest.raises(ValidationError, match=message):
            RKE2ControlPlane.model_validate(edited(manifest, path, value))
    with pytest.raises(ValidationError, match="expected name=value, no dashes"):
        RKE2ConfigSpec.model_validate({"agentConfig": {"kubelet": {
            "extraArgs": ["--cpu-manager-policy=static"]}}})
    with pytest.raises(ValidationError, match="cniMultusEnable needs a cni"):
        RKE2ControlPlane.model_validate(edited(manifest, "spec.serverConfig",
                                               {"cniMultusEnable": True}))


def test_kubeadm_patches_need_their_files():
    spec = {"joinConfiguration": {"nodeRegistration": {},
                                  "patches": {"directory": "/etc/kubernetes/patches"}}}
    with pytest.raises(ValidationError, match="has no file in files"):
        KubeadmConfigSpec.model_validate(spec)
    spec["files"] = [{"path": "/etc/kubernetes/patches/kubeletconfiguration+strategic.json",
                      "content": "{}"}]
    assert KubeadmConfigSpec.model_validate(spec).wire()["files"][0]["content"] == "{}"


def test_references_name_group_or_version_and_python_names_map_to_api_names():
    cluster = Cluster.model_validate(golden("Cluster"))
    assert cluster.contract_ref().wire() == {"apiGroup": "cluster.x-k8s.io", "kind": "Cluster",
                                             "name": "plant"}
    assert cluster.ref().wire() == {"apiVersion": "cluster.x-k8s.io/v1beta2", "kind": "Cluster",
                                    "name": "plant", "namespace": "clusters"}
    assert cluster.spec.control_plane_ref.kind == "KubeadmControlPlane"
    meta = ObjectMeta(name="a", namespace="b", labels={"example.com/role": "x"})
    assert meta.wire() == {"name": "a", "namespace": "b", "labels": {"example.com/role": "x"}}
    with pytest.raises(ValidationError, match="expected a label key"):
        ObjectMeta(name="a", namespace="b", labels={"-bad/role": "x"})
