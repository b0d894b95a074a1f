"""Every object tcra emits at a Cluster API v1beta2 API (core, kubeadm, CAPD) fits the CRD the
management cluster installs: each field exists in its openAPIV3Schema, with the type, enum,
pattern, bounds and required fields the API server checks.

The CRDs come from the Go modules Cluster API v1.13.6 and its test module v1.13.7 (CAPD), fetched
once into the Go module cache (`go mod download`, no compile). The API server prunes fields a
structural schema does not declare, silently; here every object schema is closed, so such a field
fails. CEL rules (x-kubernetes-validations) are not evaluated; the typed models in tcra.capi check
the ones tcra could break (extraArgs names unique).
"""

import copy
import functools
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import jsonschema
import pulumi
import pulumi_kubernetes as k8s
import pytest
import yaml

from tcra.mcm import plan
from tests.unit.test_k8s_cluster import Mocks, bare_metal, in_memory, vm_cluster

CAPI = ("sigs.k8s.io/cluster-api", "v1.13.6")
CAPD = ("sigs.k8s.io/cluster-api/test", "v1.13.7")
CRDS = {  # (API group, kind) -> (module, CRD file in it)
    ("cluster.x-k8s.io", "Cluster"): (CAPI, "config/crd/bases/cluster.x-k8s.io_clusters.yaml"),
    ("cluster.x-k8s.io", "MachineDeployment"):
        (CAPI, "config/crd/bases/cluster.x-k8s.io_machinedeployments.yaml"),
    ("controlplane.cluster.x-k8s.io", "KubeadmControlPlane"):
        (CAPI, "controlplane/kubeadm/config/crd/bases/"
               "controlplane.cluster.x-k8s.io_kubeadmcontrolplanes.yaml"),
    ("bootstrap.cluster.x-k8s.io", "KubeadmConfigTemplate"):
        (CAPI, "bootstrap/kubeadm/config/crd/bases/"
               "bootstrap.cluster.x-k8s.io_kubeadmconfigtemplates.yaml"),
    ("infrastructure.cluster.x-k8s.io", "DevCluster"):
        (CAPD, "infrastructure/docker/config/crd/bases/"
               "infrastructure.cluster.x-k8s.io_devclusters.yaml"),
    ("infrastructure.cluster.x-k8s.io", "DevMachineTemplate"):
        (CAPD, "infrastructure/docker/config/crd/bases/"
               "infrastructure.cluster.x-k8s.io_devmachinetemplates.yaml"),
}
BUILDS = {"bare-metal kubeadm": bare_metal, "rke2 on VMs": vm_cluster, "in-memory": in_memory}
# What the API server keeps of metadata for these objects (it handles ObjectMeta itself).
METADATA = {"type": "object", "required": ["name", "namespace"], "additionalProperties": False,
            "properties": {"name": {"type": "string"}, "namespace": {"type": "string"},
                           "labels": {"type": "object",
                                      "additionalProperties": {"type": "string"}},
                           "annotations": {"type": "object",
                                           "additionalProperties": {"type": "string"}}}}


@pytest.fixture
def management():
    pulumi.runtime.set_mocks(Mocks(), preview=False)
    return k8s.Provider("management", kubeconfig="management-kubeconfig")


@functools.cache
def module_dir(module: str, version: str) -> Path:
    """The module's folder in the Go module cache, downloading it the first time."""
    if shutil.which("go") is None:
        pytest.skip("go is not installed: the CRDs come from Cluster API's Go modules")
    env = {**os.environ, "GOTOOLCHAIN": "local"}
    if not env.get("GOPATH") and not env.get("HOME"):
        # CI runs with HOME empty: go then has no GOPATH for its checksum database's cache and
        # refuses even a module it has (GOMODCACHE, when set, still decides where modules go).
        env["GOPATH"] = str(Path(env.get("TCRA_CACHE") or tempfile.gettempdir()) / "go")
    result = subprocess.run(["go", "mod", "download", "-json", f"{module}@{version}"],
                            capture_output=True, text=True, cwd=tempfile.gettempdir(),
                            env=env, check=False)
    info = json.loads(result.stdout or "{}")
    assert result.returncode == 0 and "Dir" in info, (
        f"go mod download {module}@{version} failed: {info.get('Error') or result.stderr}")
    return Path(info["Dir"])


@functools.cache
def crd_schema(api_version: str, kind: str) -> dict:
    """The closed openAPIV3Schema of the served version `api_version` of `kind`."""
    group, _, version = api_version.rpartition("/")
    (module, path) = CRDS[(group, kind)]
    crd = yaml.safe_load((module_dir(*module) / path).read_text())
    assert (crd["spec"]["group"], crd["spec"]["names"]["kind"]) == (group, kind)
    (served,) = [v for v in crd["spec"]["versions"] if v["name"] == version]
    assert served["served"], f"{kind} {api_version} is not served"
    schema = closed(served["schema"]["openAPIV3Schema"])
    schema["properties"]["metadata"] = METADATA
    return schema


def closed(schema: dict) -> dict:
    """The schema with every object closed to undeclared fields, as pruning would treat them."""
    schema = copy.deepcopy(schema)

    def close(node: dict) -> None:
        if node.get("type") == "object" and "additionalProperties" not in node \
                and not node.get("x-kubernetes-preserve-unknown-fields"):
            node.setdefault("properties", {})
            node["additionalProperties"] = False
        for child in node.get("properties", {}).values():
            close(child)
        for key in ("items", "additionalProperties"):
            if isinstance(node.get(key), dict):
                close(node[key])
        for key in ("anyOf", "allOf", "oneOf"):
            for child in node.get(key, []):
                close(child)

    close(schema)
    return schema


def schema_errors(manifest: dict) -> list[str]:
    schema = crd_schema(manifest["apiVersion"], manifest["kind"])
    validator = jsonschema.Draft7Validator(schema)
    return sorted(f"{manifest['kind']} {manifest['metadata']['name']}:"
                  f" {'.'.join(map(str, error.absolute_path)) or '<root>'}: {error.message}"
                  for error in validator.iter_errors(manifest))


def validated(manifests: list[dict]) -> list[str]:
    """Validate every object whose API has a CRD here; the kinds validated."""
    kinds, errors = [], []
    for manifest in manifests:
        group = manifest["apiVersion"].rpartition("/")[0]
        if (group, manifest["kind"]) in CRDS:
            errors += schema_errors(manifest)
            kinds.append(manifest["kind"])
        else:  # Metal3, RKE2 and Secrets are not at a v1beta2 API
            assert not manifest["apiVersion"].endswith("/v1beta2"), manifest["kind"]
    assert errors == []
    return kinds


@pytest.mark.parametrize("build", BUILDS.values(), ids=BUILDS.keys())
def test_emitted_objects_fit_the_v1beta2_crds(build, management, bmc_password):
    kinds = validated(plan(build(management)).manifests())
    assert {"Cluster", "MachineDeployment"} <= set(kinds)
    if build is not vm_cluster:
        assert {"KubeadmControlPlane", "KubeadmConfigTemplate"} <= set(kinds)
    if build is in_memory:
        assert set(kinds) == {"DevCluster", "Cluster", "DevMachineTemplate",
                              "KubeadmControlPlane", "KubeadmConfigTemplate", "MachineDeployment"}


def test_the_validator_refuses_what_the_api_server_would_prune_or_reject(management,
                                                                            bmc_password):
    manifests = plan(bare_metal(management)).manifests()
    kcp = next(m for m in manifests if m["kind"] == "KubeadmControlPlane")
    stale = copy.deepcopy(kcp)
    stale["spec"]["rolloutStrategy"] = stale["spec"].pop("rollout")["strategy"]  # v1beta1's place
    stale["spec"]["kubeadmConfigSpec"]["initConfiguration"]["nodeRegistration"][
        "kubeletExtraArgs"] = {"node-labels": "a=b"}  # v1beta1's map
    stale["spec"]["replicas"] = "3"
    errors = "\n".join(schema_errors(stale))
    assert ("spec: Additional properties are not allowed ('rolloutStrategy' was unexpected)"
            in errors)
    assert "kubeletExtraArgs: {'node-labels': 'a=b'} is not of type 'array'" in errors
    assert "spec.replicas: '3' is not of type 'integer'" in errors
    assert "spec: 'rollout'" not in errors  # optional: its absence is no error
    cluster = next(m for m in manifests if m["kind"] == "Cluster")
    old_ref = copy.deepcopy(cluster)
    old_ref["spec"]["controlPlaneRef"] = {"apiVersion": "controlplane.cluster.x-k8s.io/v1beta1",
                                          "kind": "KubeadmControlPlane", "name": "plant-cp"}
    errors = "\n".join(schema_errors(old_ref))
    assert "'apiGroup' is a required property" in errors
    assert "('apiVersion' was unexpected)" in errors
    dev = next(m for m in plan(in_memory(management)).manifests()
               if m["kind"] == "DevMachineTemplate")
    dev["spec"]["template"]["spec"]["backend"]["inMemory"]["vm"] = {"provisioning": {}}
    dev["spec"]["template"]["spec"]["backend"]["inMemory"]["disk"] = {}
    errors = "\n".join(schema_errors(dev))
    assert "'startupDuration' is a required property" in errors
    assert "('disk' was unexpected)" in errors
