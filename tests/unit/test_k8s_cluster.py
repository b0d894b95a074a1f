"""K8sCluster: its object graph (golden files, every reference consistent), the checks on its
arguments, its wiring under Pulumi's mocks, and day-2 changes that update rather than replace."""

import base64
import hashlib
import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pulumi
import pulumi_kubernetes as k8s
import pytest
import yaml
from pulumi.runtime import rpc
from pulumi.runtime.mocks import MockMonitor
from pydantic import ValidationError
from tcra.components.k8s_cluster import K8sCluster, K8sClusterArgs

from tcra.capi.capd import DevCluster, DevMachineTemplate
from tcra.capi.core import Cluster, MachineDeployment
from tcra.capi.kubeadm import KubeadmConfigTemplate, KubeadmControlPlane
from tcra.capi.metal3 import BareMetalHost, Metal3Cluster, Metal3MachineTemplate
from tcra.capi.rke2 import RKE2ConfigTemplate, RKE2ControlPlane
from tcra.errors import InvalidInputError
from tcra.inventory import load
from tcra.mcm import (
    AddOns,
    Chart,
    ControlPlane,
    ControlPlaneEndpoint,
    EmulatedVm,
    HostFilter,
    Image,
    InMemoryInfrastructure,
    K8sClusterSpec,
    Metal3Infrastructure,
    NodeFeatures,
    NodePool,
    machines_from_hosts,
    machines_from_vms,
    plan,
)
from tcra.model.host import BmcCredentials
from tcra.secrets import SecretUnavailableError
from tests.conftest import EXAMPLE

GOLDEN = Path(__file__).parent / "golden"
SERVER = "https://127.0.0.1:20443"
KUBECONFIG = (f"apiVersion: v1\nkind: Config\nclusters:\n- name: workload\n  cluster:\n"
              f"    server: {SERVER}\n")
MODELS = {model.model_fields["kind"].default: model for model in (
    Cluster, MachineDeployment, KubeadmControlPlane, KubeadmConfigTemplate, RKE2ControlPlane,
    RKE2ConfigTemplate, Metal3Cluster, Metal3MachineTemplate, BareMetalHost, DevCluster,
    DevMachineTemplate)}
GOLDENS = {"k8s_cluster_baremetal.yaml": "bare_metal", "k8s_cluster_vm_rke2.yaml": "vm_cluster",
           "k8s_cluster_in_memory.yaml": "in_memory"}


# --- a mock engine that records what the real one would be asked -------------------------------

class Mocks(pulumi.runtime.Mocks):
    """Echoes inputs; answers reads of a kubeconfig Secret, a Service and an Ingress the way a
    cluster would; returns no id for creates in a preview, as the engine does."""

    def __init__(self, preview: bool = False) -> None:
        self.preview = preview

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        outputs = dict(args.inputs)
        if args.resource_id:  # a read (Resource.get)
            if args.resource_id == rpc.UNKNOWN:
                return "", {}
            outputs.update(READS.get(args.typ, {}))
            return args.resource_id, outputs
        if args.typ == "kubernetes:helm.sh/v3:Release":
            outputs["status"] = {"name": args.inputs["name"], "namespace":
                                 args.inputs["namespace"], "revision": 1, "status": "deployed",
                                 "version": args.inputs["version"]}
        return ("" if self.preview else f"{args.name}-id"), outputs

    def call(self, args: pulumi.runtime.MockCallArgs):
        return {}


READS = {
    "kubernetes:core/v1:Secret": {"data": {"value": base64.b64encode(KUBECONFIG.encode())
                                           .decode()}},
    "kubernetes:core/v1:Service": {
        "spec": {"clusterIP": "10.96.0.20", "ports": [{"name": "http", "port": 80}]},
        "status": {"loadBalancer": {"ingress": [{"ip": "203.0.113.10"}]}}},
    "kubernetes:networking.k8s.io/v1:Ingress": {
        "spec": {"rules": [{"host": "mes.plant.example"}], "tls": [{"hosts": ["mes"]}]},
        "status": {"loadBalancer": {"ingress": [{"ip": "203.0.113.11"}]}}},
}


@dataclass
class Registered:
    type: str
    urn: str
    inputs: dict
    provider: str = ""
    parent: str = ""
    dependencies: list = field(default_factory=list)
    replace_on_changes: list = field(default_factory=list)
    ignore_changes: list = field(default_factory=list)
    delete_before_replace: bool = False
    secret_outputs: list = field(default_factory=list)
    timeouts: tuple = ()
    read_id: str = ""


class Recorder(MockMonitor):
    """The mock monitor, keeping each registration with the options the engine would get."""

    def __init__(self, mocks: Mocks) -> None:
        super().__init__(mocks)
        self.registered: dict[str, Registered] = {}

    def RegisterResource(self, request):  # noqa: N802 - the monitor's gRPC method
        response = super().RegisterResource(request)
        timeouts = request.customTimeouts
        self.registered[request.name] = Registered(
            request.type, response.urn, rpc.deserialize_properties(request.object),
            request.provider, request.parent, list(request.dependencies),
            list(request.replaceOnChanges), list(request.ignoreChanges),
            request.deleteBeforeReplace, list(request.additionalSecretOutputs),
            (timeouts.create, timeouts.update, timeouts.delete))
        return response

    def ReadResource(self, request):  # noqa: N802 - the monitor's gRPC method
        response = super().ReadResource(request)
        self.registered[request.name] = Registered(
            request.type, response.urn, {}, request.provider, request.parent,
            list(request.dependencies), read_id=request.id)
        return response

    def urn(self, name: str) -> str:
        return self.registered[name].urn


def run(program, preview: bool = False) -> tuple[Recorder, object]:
    """Run `program` (which returns an Output or a value) under fresh mocks; what it made."""
    mocks = Mocks(preview)
    recorder = Recorder(mocks)
    pulumi.runtime.set_mocks(mocks, preview=preview, monitor=recorder)
    result = {}

    @pulumi.runtime.test
    def program_run():
        value = program()
        result["value"] = value
        if isinstance(value, pulumi.Output):
            return value
        return value.urn if isinstance(value, pulumi.Resource) else None

    program_run()
    return recorder, result["value"]


# --- the two clusters the tests use ------------------------------------------------------------

IMAGE = Image(url="http://172.22.0.1/images/ubuntu-24.04-k8s-v1.30.4.raw",
              checksum="http://172.22.0.1/images/ubuntu-24.04-k8s-v1.30.4.raw.sha256sum",
              checksum_type="sha256", disk_format="raw")
RAN = NodeFeatures(cpu_manager_policy="static", topology_manager_policy="single-numa-node",
                   reserved_cpus="0-1", hugepages=({"size": "1Gi", "count": 8},),
                   labels={"tcra.io/ran": "du"})
ADDONS = AddOns(
    cni=Chart(chart="tigera-operator", version="3.28.1",
              repository="https://docs.tigera.io/calico/charts", namespace="tigera-operator"),
    multus=Chart(chart="rke2-multus", version="4.1.0",
                 repository="https://rke2-charts.rancher.io", namespace="kube-system"),
    sriov=Chart(chart="oci://ghcr.io/k8snetworkplumbingwg/sriov-network-operator-chart",
                version="1.5.0", namespace="sriov-network-operator"))


def changed(args: K8sClusterArgs, changes: dict) -> K8sClusterArgs:
    """`args` with `changes`; endpoint, image and machines go to its Metal3 infrastructure."""
    metal3 = {key: changes.pop(key) for key in ("endpoint", "image", "machines")
              if key in changes}
    if metal3:
        changes["infrastructure"] = args.infrastructure.model_copy(update=metal3)
    return args.model_copy(update=changes)


def bare_metal(management, **changes) -> K8sClusterArgs:
    """A kubeadm cluster on the example inventory's Munich and Frankfurt servers: three
    control-plane nodes picked by capability, a RAN pool with telco node features, a spare."""
    inventory = load(EXAMPLE)
    hosts = [h for site in ("factory_munich", "faredge_munich", "regional_frankfurt")
             for h in inventory.hosts_at(site)]
    args = K8sClusterArgs(
        name="plant", namespace="clusters", kubernetes_version="v1.30.4",
        infrastructure=Metal3Infrastructure(endpoint=ControlPlaneEndpoint(host="192.0.2.100"),
                                            image=IMAGE, machines=machines_from_hosts(hosts)),
        management=management,
        control_plane=ControlPlane(replicas=3, select=HostFilter(min_cores=32)),
        pools=(NodePool(name="ran", replicas=1, features=RAN,
                        select=HostFilter(ptp=True, min_sriov_vfs=16)),),
        addons=ADDONS)
    return changed(args, changes)


VMS = [EmulatedVm(name=f"lab-vm-{i}", domain_uuid=f"6f1a0c55-9d1e-4c1e-8a55-0000000000{i:02}",
                  boot_mac=f"52:54:00:00:00:{i:02x}",
                  capabilities={"cores": 4, "memory": "8Gi"}) for i in range(4)]


def vm_cluster(management, **changes) -> K8sClusterArgs:
    """An RKE2 cluster on four libvirt VMs behind the Redfish emulator, as metal3-dev-env runs."""
    machines = machines_from_vms(VMS, emulator="http://192.168.111.1:8000",
                                 credentials=BmcCredentials(username="admin",
                                                            password="env:TCRA_BMC_PASSWORD"))
    image = Image(url="http://172.22.0.1/images/ubuntu-24.04.qcow2", checksum="3f" * 32,
                  checksum_type="sha256", disk_format="qcow2")
    args = K8sClusterArgs(
        name="vmc", namespace="clusters", distribution="rke2",
        kubernetes_version="v1.30.4+rke2r1", infrastructure=Metal3Infrastructure(
            endpoint=ControlPlaneEndpoint(host="192.168.111.249"), image=image, machines=machines),
        management=management,
        pools=(NodePool(name="workers", replicas=2, features=NodeFeatures(
            cpu_manager_policy="static", reserved_cpus="0",
            hugepages=({"size": "2Mi", "count": 512},))),))
    return changed(args, changes)


def in_memory(management, **changes) -> K8sClusterArgs:
    """A kubeadm cluster of CAPD's simulated machines, shaped like Cluster API's in-memory scale
    test: one control-plane machine, a MachineDeployment of three, Calico as its CNI."""
    args = K8sClusterArgs(
        name="sim", namespace="clusters", kubernetes_version="v1.34.1",
        infrastructure=InMemoryInfrastructure(), management=management,
        pools=(NodePool(name="md-0", replicas=3, features=NodeFeatures(
            labels={"tcra.io/role": "worker"})),),
        addons=AddOns(cni=ADDONS.cni))
    return changed(args, changes)


@pytest.fixture
def management():
    pulumi.runtime.set_mocks(Mocks(), preview=False)
    return k8s.Provider("management", kubeconfig="management-kubeconfig")


# --- the object graph --------------------------------------------------------------------------

class _Dumper(yaml.SafeDumper):
    pass


_Dumper.add_representer(str, lambda dumper, value: dumper.represent_scalar(
    "tag:yaml.org,2002:str", value, style="|" if "\n" in value else None))


@pytest.mark.parametrize(("golden", "build"), GOLDENS.items())
def test_rendered_graph_matches_its_golden_file(golden, build, management, bmc_password):
    text = yaml.dump_all(plan(globals()[build](management)).manifests(), Dumper=_Dumper,
                         sort_keys=False)
    path = GOLDEN / golden
    if os.environ.get("TCRA_UPDATE_GOLDEN"):
        path.write_text(text)
    assert text == path.read_text(), f"regenerate with TCRA_UPDATE_GOLDEN=1 and read {path}"


@pytest.mark.parametrize("golden", GOLDENS)
def test_golden_graph_is_consistent_and_round_trips(golden):
    manifests = list(yaml.safe_load_all((GOLDEN / golden).read_text()))
    for manifest in manifests:
        if manifest["kind"] != "Secret":
            assert MODELS[manifest["kind"]].model_validate(manifest).manifest() == manifest
    check_references(manifests)


def check_references(manifests: list[dict]) -> None:
    """Every reference resolves to an object of this graph, in its namespace, with its API group
    (v1beta2) or version (v1beta1); labels, selectors, cluster names and versions agree; nothing
    is left orphaned."""
    index = {(m["kind"], m["metadata"]["name"]): m for m in manifests}
    referenced = set()

    def resolve(ref: dict) -> dict:
        target = index[(ref["kind"], ref["name"])]
        if "apiGroup" in ref:  # v1beta2: by group, always in the referrer's namespace
            assert set(ref) == {"apiGroup", "kind", "name"}
            assert target["apiVersion"].rpartition("/")[0] == ref["apiGroup"]
        else:  # v1beta1 (RKE2's control plane): by version, namespace given
            assert ref["apiVersion"] == target["apiVersion"]
            assert ref["namespace"] == namespace
        assert target["metadata"]["namespace"] == namespace
        referenced.add((ref["kind"], ref["name"]))
        return target

    def hosts_selected(template: dict) -> list[str]:
        if template["kind"] == "DevMachineTemplate":  # simulated: as many as wanted
            return [template["metadata"]["name"]] * 1000
        wanted = template["spec"]["template"]["spec"]["hostSelector"]["matchLabels"]
        return [m["metadata"]["name"] for m in manifests if m["kind"] == "BareMetalHost"
                and wanted.items() <= m["metadata"]["labels"].items()]

    (cluster,) = [m for m in manifests if m["kind"] == "Cluster"]
    name, namespace = cluster["metadata"]["name"], cluster["metadata"]["namespace"]
    control_plane = resolve(cluster["spec"]["controlPlaneRef"])
    resolve(cluster["spec"]["infrastructureRef"])
    machines = control_plane["spec"]["machineTemplate"]
    cp_template = resolve(machines.get("spec", machines)["infrastructureRef"])
    assert len(hosts_selected(cp_template)) >= control_plane["spec"]["replicas"]
    for deployment in (m for m in manifests if m["kind"] == "MachineDeployment"):
        spec, template = deployment["spec"], deployment["spec"]["template"]
        assert spec["clusterName"] == template["spec"]["clusterName"] == name
        assert spec["selector"]["matchLabels"].items() <= template["metadata"]["labels"].items()
        assert template["spec"]["version"] == control_plane["spec"]["version"]
        resolve(template["spec"]["bootstrap"]["configRef"])
        infra = resolve(template["spec"]["infrastructureRef"])
        assert len(hosts_selected(infra)) >= spec["replicas"]
    for manifest in manifests:
        kind, object_name = manifest["kind"], manifest["metadata"]["name"]
        assert manifest["metadata"]["namespace"] == namespace
        if kind == "BareMetalHost":
            secret = index[("Secret", manifest["spec"]["bmc"]["credentialsName"])]
            assert set(secret["stringData"]) == {"username", "password"}
            assert secret["stringData"]["password"].startswith("<secret env:")
        elif kind != "Secret":
            assert manifest["metadata"]["labels"]["cluster.x-k8s.io/cluster-name"] == name
        if kind.endswith("Template"):  # immutable: named after a hash of the spec
            assert (kind, object_name) in referenced, f"{kind} {object_name} is orphaned"
            spec = json.dumps(manifest["spec"], sort_keys=True, separators=(",", ":"))
            assert object_name.endswith(hashlib.sha256(spec.encode()).hexdigest()[:8])


def test_machines_are_assigned_by_name_order_and_capability(management, bmc_password):
    graph = plan(bare_metal(management))
    assert graph.control_plane_hosts == ("frankfurt-reg-01", "frankfurt-reg-02",
                                         "munich-edge-01")
    assert [(p.name, p.hosts) for p in graph.pools] == [("ran", ("munich-cell-01",))]
    spare = next(h.host for h in graph.hosts if h.machine.name == "munich-edge-02")
    assert spare.metadata.labels == {"tcra.io/cluster": "plant"}  # registered, never selected


def test_telco_features_reach_the_kubelet_and_the_kernel(management, bmc_password):
    kubeadm = plan(bare_metal(management)).pools[0].bootstrap_template.spec.template.spec
    files = {f.path: f.content for f in kubeadm.files}
    patch = json.loads(files["/etc/kubernetes/patches/kubeletconfiguration+strategic.json"])
    assert patch == {"apiVersion": "kubelet.config.k8s.io/v1beta1",
                     "kind": "KubeletConfiguration", "cpuManagerPolicy": "static",
                     "topologyManagerPolicy": "single-numa-node", "reservedSystemCPUs": "0-1"}
    assert kubeadm.join_configuration.patches.directory == "/etc/kubernetes/patches"
    assert files["/etc/tmpfiles.d/tcra-hugepages.conf"] == (
        "w /sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages - - - - 8\n")
    (labels,) = kubeadm.join_configuration.node_registration.kubelet_extra_args
    assert labels.wire() == {"name": "node-labels", "value": "metal3.io/uuid={{ ds.meta_data.uuid"
                             " }},tcra.io/pool=ran,tcra.io/ran=du"}
    rke2 = plan(vm_cluster(management)).pools[0].bootstrap_template.spec.template.spec
    assert rke2.agent_config.kubelet.extra_args == ("cpu-manager-policy=static",
                                                    "reserved-cpus=0")
    assert rke2.pre_rke2_commands == (
        "systemd-tmpfiles --create /etc/tmpfiles.d/tcra-hugepages.conf",)


# --- bad input ---------------------------------------------------------------------------------

def _pool(**changes) -> NodePool:
    return NodePool(name="ran", replicas=1, select=HostFilter(ptp=True)).model_copy(
        update=changes)


@pytest.mark.parametrize(("changes", "field", "message"), [
    ({"control_plane": ControlPlane(replicas=2)}, "control_plane.replicas",
     "expected an odd number (1, 3, 5): stacked etcd needs a majority"),
    ({"kubernetes_version": "1.30.4"}, "kubernetes_version",
     'expected a Kubernetes version kubeadm takes, like "v1.30.4"'),
    ({"kubernetes_version": "v1.30.4", "distribution": "rke2"}, "kubernetes_version",
     'expected an RKE2 release, like "v1.30.4+rke2r1"'),
    ({"name": "Plant_1"}, "name", "expected a DNS-1123 label"),
    ({"name": "p" * 52}, "name", "and at most 51 characters"),
    ({"namespace": "-clusters"}, "namespace", "expected a DNS-1123 label"),
    ({"pools": (_pool(name="r" * 50),)}, "pools.0.name", "expected a shorter name"),
    ({"pools": (_pool(name="cp"),)}, "pools.0.name", "expected a name other than 'cp'"),
    ({"pools": (_pool(features=NodeFeatures(hugepages=({"size": "1Gi", "count": 300},))),)},
     "pools.0.features.hugepages", "expected less than the node memory: 300Gi of hugepages on"
     " machine munich-cell-01, which has 64Gi"),
    ({"pools": (_pool(features=NodeFeatures(cpu_manager_policy="static")),)},
     "pools.0.features.reserved_cpus", "the static CPU manager policy needs some kept"),
    ({"pools": (_pool(features=NodeFeatures(reserved_cpus="0-15")),)},
     "pools.0.features.reserved_cpus", "expected fewer CPUs than machine munich-cell-01 has"),
    ({"pools": (_pool(features=NodeFeatures(reserved_cpus="0-")),)},
     "pools.0.features.reserved_cpus", 'expected a cpuset like "0-1,32-33"'),
    ({"pools": (_pool(machines=("atlantis-01",)),)}, "pools.0.machines",
     "expected the name of one of the cluster's machines"),
    ({"pools": (_pool(replicas=5),)}, "pools.0.replicas", "expected at most 2: that many free"),
    ({"control_plane": ControlPlane(replicas=1, max_surge=0)}, "control_plane.max_surge",
     "expected 1 below 3 replicas"),
    ({"pools": (_pool(features=RAN),), "kubernetes_version": "v1.24.9"}, "kubernetes_version",
     "expected v1.25 or later: kubeadm patches the kubelet configuration"),
    ({"addons": AddOns(cni=Chart(chart="tigera-operator", repository="https://x.example"))},
     "addons.cni.version", "expected a pinned chart version"),
])
def test_bad_input_names_field_value_and_expectation(changes, field, message, management,
                                                     bmc_password):
    with pytest.raises(InvalidInputError) as caught:
        plan(bare_metal(management, **changes))
    problems = {p.field: str(p) for p in caught.value.problems}
    assert field in problems, problems
    assert message in problems[field]
    assert problems[field].startswith("K8sCluster ")


def test_every_problem_is_reported_at_once(management, bmc_password):
    with pytest.raises(InvalidInputError) as caught:
        plan(bare_metal(management, name="Plant", kubernetes_version="latest",
                        control_plane=ControlPlane(replicas=4)))
    assert {p.field for p in caught.value.problems} >= {"name", "kubernetes_version",
                                                        "control_plane.replicas"}
    assert "(got 'latest')" in str(caught.value)


def test_network_booting_machines_need_a_mac(management, bmc_password):
    inventory = load(EXAMPLE)
    machines = machines_from_hosts(inventory.hosts_at("core_stockholm"), driver="redfish")
    args = bare_metal(management, machines=machines, pools=(),
                      control_plane=ControlPlane(replicas=1))
    with pytest.raises(InvalidInputError, match=r"infrastructure.machines.0.boot_mac: expected"
                       r" the boot NIC's"):
        plan(args)
    fixed = machines[0].model_copy(update={"boot_mac": "52:54:00:aa:bb:cc"})
    host = plan(changed(args, {"machines": (fixed,)})).hosts[0].host
    assert host.spec.bmc.address == "redfish+https://203.0.113.11/redfish/v1/Systems/1"
    assert host.spec.boot_mac_address == "52:54:00:aa:bb:cc"


def test_bad_input_declares_nothing(bmc_password):
    recorder, _ = run(lambda: _fails(lambda m: bare_metal(m, kubernetes_version="v1.30")))
    assert [r.type for r in recorder.registered.values()
            if r.type != "pulumi:pulumi:Stack"] == ["pulumi:providers:kubernetes"]


def _fails(build):
    management = k8s.Provider("management", kubeconfig="management-kubeconfig")
    with pytest.raises(InvalidInputError):
        K8sCluster("plant", build(management))
    return management


# --- in-memory infrastructure ------------------------------------------------------------------

def test_an_in_memory_cluster_is_capd_dev_objects_and_no_hardware(management):
    graph = plan(in_memory(management))
    kinds = [m["kind"] for m in graph.manifests()]
    assert kinds == ["DevCluster", "Cluster", "DevMachineTemplate", "DevMachineTemplate",
                     "KubeadmControlPlane", "KubeadmConfigTemplate", "MachineDeployment"]
    assert graph.hosts == () and graph.control_plane_hosts == () and graph.warnings == ()
    assert graph.infrastructure.wire()["spec"] == {"backend": {"inMemory": {}}}  # CAPD's address
    assert graph.cluster.spec.infrastructure_ref.wire() == {
        "apiGroup": "infrastructure.cluster.x-k8s.io", "kind": "DevCluster", "name": "sim"}
    startups = graph.control_plane_template.wire()["spec"]["template"]["spec"]["backend"]
    assert startups == {"inMemory": {part: {"provisioning": {"startupDuration": duration,
                                                             "startupJitter": "0.2"}}
                                     for part, duration in (("vm", "10s"), ("node", "2s"),
                                                            ("apiServer", "2s"), ("etcd", "2s"))}}
    # No Metal3 cloud-init metadata: the node name and labels are the simulator's and tcra's.
    kcp = graph.control_plane.spec.kubeadm_config_spec
    assert kcp.init_configuration.node_registration.wire() == {
        "kubeletExtraArgs": [{"name": "node-labels", "value": "tcra.io/pool=control-plane"}]}
    worker = graph.pools[0].bootstrap_template.spec.template.spec.join_configuration
    assert worker.node_registration.kubelet_extra_args[0].value == (
        "tcra.io/pool=md-0,tcra.io/role=worker")


def test_in_memory_start_up_times_are_settings(management):
    fast = InMemoryInfrastructure(vm_startup="1s", node_startup="500ms", startup_jitter=0)
    graph = plan(in_memory(management, infrastructure=fast))
    spec = graph.pools[0].machine_template.wire()["spec"]["template"]["spec"]["backend"]
    assert spec["inMemory"]["vm"] == {"provisioning": {"startupDuration": "1s",
                                                       "startupJitter": "0"}}
    assert spec["inMemory"]["node"]["provisioning"]["startupDuration"] == "500ms"
    default = plan(in_memory(management)).pools[0].machine_template.metadata.name
    assert graph.pools[0].machine_template.metadata.name != default  # a new template


@pytest.mark.parametrize(("changes", "field", "message"), [
    ({"distribution": "rke2", "kubernetes_version": "v1.30.4+rke2r1"}, "distribution",
     "expected kubeadm with infrastructure in-memory: CAPD's in-memory backend simulates"
     " kubeadm control planes only (got 'rke2')"),
    ({"control_plane": ControlPlane(machines=("node-0",))}, "control_plane.machines",
     "expected none with infrastructure in-memory: its machines are simulated, not chosen or"
     " imaged (got ('node-0',))"),
    ({"pools": (NodePool(name="md-0", replicas=1, select=HostFilter(ptp=True)),)},
     "pools.0.select", "expected none with infrastructure in-memory: its machines are"
     " simulated, not chosen or imaged (got {'ptp': True})"),
    ({"pools": (NodePool(name="md-0", replicas=1, image=IMAGE),)}, "pools.0.image",
     "expected none with infrastructure in-memory"),
    ({"infrastructure": InMemoryInfrastructure(vm_startup="10 seconds")},
     "infrastructure.vm_startup", 'expected a Go duration like "10s" or "1m30s"'
     " (got '10 seconds')"),
    ({"control_plane": ControlPlane(replicas=2)}, "control_plane.replicas",
     "expected an odd number (1, 3, 5)"),
    ({"kubernetes_version": "v1.34"}, "kubernetes_version", "expected a Kubernetes version"),
    ({"name": "Sim"}, "name", "expected a DNS-1123 label"),
    ({"pools": (NodePool(name="md-0", replicas=1, features=NodeFeatures(
        hugepages=({"size": "1Gi", "count": 1}, {"size": "1Gi", "count": 2}))),)},
     "pools.0.features.hugepages", "expected each hugepage size once"),
])
def test_bad_in_memory_input_is_one_line_naming_field_and_value(changes, field, message,
                                                                management):
    with pytest.raises(InvalidInputError) as caught:
        plan(in_memory(management, **changes))
    problems = {p.field: str(p) for p in caught.value.problems}
    assert field in problems, problems
    assert message in problems[field]
    assert problems[field].startswith(f"K8sCluster {changes.get('name', 'sim')}: {field}: ")
    assert "\n" not in problems[field]


def test_the_infrastructure_choice_is_typed():
    with pytest.raises(ValidationError, match="does not match any of the expected tags:"
                       " 'metal3', 'in-memory'"):
        K8sClusterSpec(name="sim", kubernetes_version="v1.34.1",
                       infrastructure={"provider": "docker"})
    spec = K8sClusterSpec(name="sim", kubernetes_version="v1.34.1",
                          infrastructure={"provider": "in-memory", "vm_startup": "1s"})
    assert spec.infrastructure == InMemoryInfrastructure(vm_startup="1s")
    with pytest.raises(ValidationError, match="less than or equal to 1"):
        InMemoryInfrastructure(startup_jitter=2)
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        InMemoryInfrastructure(image=IMAGE)
    with pytest.raises(ValidationError, match="Field required"):
        Metal3Infrastructure(endpoint=ControlPlaneEndpoint(host="192.0.2.1"), image=IMAGE)


# --- the component under Pulumi's mocks -------------------------------------------------------

def declare(build, **changes):
    def program():
        management = k8s.Provider("management", kubeconfig="management-kubeconfig")
        return K8sCluster("plant", build(management, **changes))
    return program


def test_component_declares_the_rendered_graph_on_the_management_provider(bmc_password):
    recorder, cluster = run(declare(bare_metal))
    management = recorder.registered["management"]
    expected = {(m["kind"], m["metadata"]["name"]): m for m in cluster.plan.manifests()
                if m["kind"] != "Secret"}
    declared = {}
    for name, registration in recorder.registered.items():
        inputs = registration.inputs
        if registration.type.startswith("kubernetes:") and "kind" in inputs:
            if inputs["kind"] != "Secret":
                declared[(inputs["kind"], inputs["metadata"]["name"])] = inputs
            assert registration.provider.startswith(management.urn + "::"), name
            assert registration.parent == recorder.urn("plant"), name
    assert declared == expected
    check_references(list(declared.values()) + [
        m for m in cluster.plan.manifests() if m["kind"] == "Secret"])
    read = recorder.registered["plant-kubeconfig"]
    assert read.read_id == "clusters/plant-kubeconfig"
    assert read.provider.startswith(management.urn + "::")
    assert recorder.urn("plant-cp") in read.dependencies


def test_bmc_passwords_and_the_kubeconfig_are_secrets(bmc_password):
    seen = {}

    def program():
        cluster = declare(bare_metal)()

        async def probe(value):
            seen.update(value=value, secret=await cluster.kubeconfig.is_secret(),
                        name_secret=await cluster.cluster_name.is_secret())
        return cluster.kubeconfig.apply(probe)

    recorder, _ = run(program)
    assert seen == {"value": KUBECONFIG, "secret": True, "name_secret": False}
    secret = recorder.registered["plant-munich-edge-01-bmc"]
    assert rpc.is_rpc_secret(secret.inputs["stringData"])
    assert rpc.unwrap_rpc_secret(secret.inputs["stringData"]) == {
        "username": "tcra", "password": "not-a-real-password"}
    assert set(secret.secret_outputs) == {"data", "stringData"}
    host = recorder.registered["plant-munich-edge-01"]
    assert "not-a-real-password" not in json.dumps(host.inputs)
    assert recorder.urn("plant-munich-edge-01-bmc") in host.dependencies


def test_resource_options_are_chosen_per_kind(bmc_password):
    recorder, _ = run(declare(bare_metal))
    options = {name: r for name, r in recorder.registered.items()}
    for name in ("plant-cp-machines", "plant-ran-machines", "plant-ran-bootstrap"):
        assert options[name].replace_on_changes == ["spec"]
        assert options[name].delete_before_replace is False
    host = options["plant-munich-cell-01"]
    assert host.ignore_changes == ["spec.online"]
    assert host.replace_on_changes == ["spec.bootMACAddress"]
    assert host.delete_before_replace is True
    assert options["plant-cp"].timeouts == ("60m", "60m", "60m")
    settled = ["condition=RollingOut=False", "condition=ScalingUp=False",
               "condition=ScalingDown=False"]
    waits = {name: json.loads(options[name].inputs["metadata"]["annotations"]
                              ["pulumi.com/waitFor"]) for name in ("plant-cp", "plant-ran")}
    assert {options[name].inputs["metadata"]["annotations"]["pulumi.com/patchForce"]
            for name in ("plant-cp", "plant-ran")} == {"true"}
    assert waits == {
        "plant-cp": ["jsonpath={.status.initialization.controlPlaneInitialized}=true", *settled],
        "plant-ran": ["condition=Available", *settled]}
    for name in ("plant-cluster", "plant-metal3cluster", "plant-cp", "plant-ran"):
        assert options[name].replace_on_changes == [], name
        assert options[name].ignore_changes == [], name
    assert recorder.urn("plant-cluster") in options["plant-cp"].dependencies
    assert recorder.urn("plant-cp-machines") in options["plant-cp"].dependencies
    assert {recorder.urn("plant-ran-machines"), recorder.urn("plant-ran-bootstrap"),
            recorder.urn("plant-munich-cell-01")} <= set(options["plant-ran"].dependencies)


def test_addons_are_helm_releases_on_the_workload_provider_in_order(bmc_password):
    recorder, _ = run(declare(bare_metal))
    workload = recorder.registered["plant-workload"]
    assert workload.type == "pulumi:providers:kubernetes"
    assert rpc.unwrap_rpc_secret(workload.inputs["kubeconfig"]) == KUBECONFIG
    releases = {name: r for name, r in recorder.registered.items()
                if r.type == "kubernetes:helm.sh/v3:Release"}
    assert sorted(releases) == ["plant-addon-cni", "plant-addon-multus", "plant-addon-sriov"]
    for release in releases.values():
        assert release.provider.startswith(workload.urn + "::")
        assert release.delete_before_replace is True
    sriov = releases["plant-addon-sriov"]
    assert sriov.inputs["chart"].startswith("oci://") and "repositoryOpts" not in sriov.inputs
    assert sriov.inputs["version"] == "1.5.0" and sriov.inputs["name"] == (
        "sriov-network-operator-chart")
    assert {recorder.urn("plant-addon-cni"), recorder.urn("plant-addon-multus")} <= set(
        sriov.dependencies)
    assert releases["plant-addon-cni"].inputs["repositoryOpts"] == {
        "repo": "https://docs.tigera.io/calico/charts"}


def test_a_preview_of_a_new_cluster_does_not_read_the_kubeconfig(bmc_password):
    recorder, _ = run(declare(bare_metal), preview=True)
    assert recorder.registered["plant-kubeconfig"].read_id == rpc.UNKNOWN
    assert "plant-addon-cni" in recorder.registered


def test_an_in_memory_cluster_declares_its_objects_in_order_without_hardware():
    recorder, cluster = run(declare(in_memory))
    assert [key.split("/")[0] for key in cluster.objects] == [
        "DevCluster", "Cluster", "DevMachineTemplate", "DevMachineTemplate",
        "KubeadmControlPlane", "KubeadmConfigTemplate", "MachineDeployment"]
    assert not [r for r in recorder.registered.values()
                if r.inputs.get("kind") in ("Secret", "BareMetalHost", "Metal3Cluster")]
    expected = {(m["kind"], m["metadata"]["name"]): m for m in cluster.plan.manifests()}
    assert {(r.inputs["kind"], r.inputs["metadata"]["name"]): r.inputs
            for r in recorder.registered.values() if "kind" in r.inputs} == expected
    options = recorder.registered
    for name in ("plant-cp-machines", "plant-md-0-machines", "plant-md-0-bootstrap"):
        assert options[name].replace_on_changes == ["spec"], name
        assert options[name].delete_before_replace is False, name
    assert recorder.urn("plant-devcluster") in options["plant-cluster"].dependencies
    assert {recorder.urn("plant-cluster"), recorder.urn("plant-cp-machines")} <= set(
        options["plant-cp"].dependencies)
    assert options["plant-cp"].timeouts == ("60m", "60m", "60m")
    assert {recorder.urn("plant-md-0-machines"), recorder.urn("plant-md-0-bootstrap")} <= set(
        options["plant-md-0"].dependencies)
    read = options["plant-kubeconfig"]
    assert read.read_id == "clusters/sim-kubeconfig"  # the resource name, the cluster's name
    assert recorder.urn("plant-cp") in read.dependencies


def test_an_in_memory_cluster_reports_the_endpoint_capd_picked_and_keeps_the_kubeconfig_secret():
    seen = {}

    def program():
        cluster = declare(in_memory)()

        async def probe(values):
            seen.update(endpoint=values[0], kubeconfig=values[1],
                        endpoint_secret=await cluster.endpoint.is_secret(),
                        kubeconfig_secret=await cluster.kubeconfig.is_secret())
        return pulumi.Output.all(cluster.endpoint, cluster.kubeconfig).apply(probe)

    run(program)
    assert seen == {"endpoint": SERVER, "kubeconfig": KUBECONFIG, "endpoint_secret": False,
                    "kubeconfig_secret": True}


def test_day_two_on_in_memory_machines_rolls_templates_and_keeps_the_cluster():
    before, after = day2(in_memory, kubernetes_version="v1.35.0",
                         infrastructure=InMemoryInfrastructure(vm_startup="5s"))
    assert before.keys() == after.keys()
    moved = {name for name in before if changes(before[name], after[name])}
    assert moved == {"plant-cp", "plant-md-0", "plant-cp-machines", "plant-md-0-machines"}
    assert not replaced(before["plant-cp"], after["plant-cp"])
    assert not replaced(before["plant-md-0"], after["plant-md-0"])
    assert replaced(before["plant-cp-machines"], after["plant-cp-machines"])
    assert not changes(before["plant-devcluster"], after["plant-devcluster"])


# --- day 2 -------------------------------------------------------------------------------------

def flatten(value, prefix=""):
    if isinstance(value, dict) and not rpc.is_rpc_secret(value):
        items = {}
        for key, inner in value.items():
            items.update(flatten(inner, f"{prefix}.{key}" if prefix else key))
        return items
    return {prefix: value}


def changes(before: Registered, after: Registered) -> set[str]:
    old, new = flatten(before.inputs), flatten(after.inputs)
    return {path for path in old.keys() | new.keys() if old.get(path) != new.get(path)}


def replaced(before: Registered, after: Registered) -> bool:
    """Whether the engine would replace the resource: pulumi-kubernetes replaces an object whose
    name, namespace, kind or API version changes; replace_on_changes adds paths."""
    if before.urn != after.urn:
        return True
    identity = ("apiVersion", "kind", "metadata.name", "metadata.namespace")
    moved = changes(before, after)
    return any(path in moved for path in identity) or any(
        path == rule or path.startswith(rule + ".") for path in moved
        for rule in after.replace_on_changes)


def day2(build, **update):
    before, _ = run(declare(build))
    after, _ = run(declare(build, **update))
    return before.registered, after.registered


def test_upgrading_kubernetes_rolls_the_machines_and_keeps_the_cluster(bmc_password):
    image = IMAGE.model_copy(update={"url": IMAGE.url.replace("v1.30.4", "v1.31.1")})
    before, after = day2(bare_metal, kubernetes_version="v1.31.1", image=image)
    assert before.keys() == after.keys()
    assert {name: before[name].urn for name in before} == {n: after[n].urn for n in after}
    untouched = [n for n in before if not changes(before[n], after[n])]
    assert {"plant-cluster", "plant-metal3cluster", "plant-munich-edge-01",
            "plant-munich-edge-01-bmc", "plant-ran-bootstrap"} <= set(untouched)
    assert changes(before["plant-cp"], after["plant-cp"]) == {
        "spec.version", "spec.machineTemplate.spec.infrastructureRef.name"}
    assert changes(before["plant-ran"], after["plant-ran"]) == {
        "spec.template.spec.version", "spec.template.spec.infrastructureRef.name"}
    assert not replaced(before["plant-cp"], after["plant-cp"])
    assert not replaced(before["plant-ran"], after["plant-ran"])
    # New immutable machine templates under new names: created before the old ones go.
    for name in ("plant-cp-machines", "plant-ran-machines"):
        assert replaced(before[name], after[name])
        assert after[name].delete_before_replace is False
    assert (after["plant-ran"].inputs["spec"]["template"]["spec"]["infrastructureRef"]["name"]
            == after["plant-ran-machines"].inputs["metadata"]["name"])


def test_upgrading_rke2_changes_versions_only(bmc_password):
    before, after = day2(vm_cluster, kubernetes_version="v1.31.1+rke2r1")
    moved = {name for name in before if changes(before[name], after[name])}
    assert moved == {"plant-cp", "plant-workers"}
    assert changes(before["plant-cp"], after["plant-cp"]) == {"spec.version"}
    assert not any(replaced(before[name], after[name]) for name in before)


def test_scaling_a_pool_changes_its_replicas_only(bmc_password):
    pool = NodePool(name="ran", replicas=2, features=RAN,
                    select=HostFilter(ptp=True, min_sriov_vfs=16))
    before, after = day2(bare_metal, pools=(pool,))
    assert before.keys() == after.keys()
    moved = {name: changes(before[name], after[name]) for name in before
             if changes(before[name], after[name])}
    assert moved == {"plant-ran": {"spec.replicas"},
                     "plant-munich-edge-02": {"metadata.labels.tcra.io/pool"},
                     "plant-munich-edge-02-bmc": {"metadata.labels.tcra.io/pool"}}
    assert not any(replaced(before[name], after[name]) for name in moved)


def test_adding_and_removing_a_pool_leaves_the_rest_alone(bmc_password):
    inventory = load(EXAMPLE)
    machines = machines_from_hosts(
        [h for site in ("factory_munich", "faredge_munich", "regional_frankfurt",
                        "core_stockholm") for h in inventory.hosts_at(site)])
    one = (NodePool(name="ran", replicas=1, machines=("munich-cell-01",), features=RAN),)
    two = (*one, NodePool(name="core", replicas=2,
                          machines=("stockholm-core-01", "stockholm-core-02")))
    control_plane = ControlPlane(replicas=3, machines=("frankfurt-reg-01", "frankfurt-reg-02",
                                                       "munich-edge-01"))
    small, _ = run(declare(bare_metal, machines=machines, pools=one, control_plane=control_plane))
    big, _ = run(declare(bare_metal, machines=machines, pools=two, control_plane=control_plane))
    small, big = small.registered, big.registered
    added = big.keys() - small.keys()
    assert added == {"plant-core", "plant-core-machines", "plant-core-bootstrap"}
    moved = {name for name in small if changes(small[name], big[name])}
    assert moved == {"plant-stockholm-core-01", "plant-stockholm-core-02",
                     "plant-stockholm-core-01-bmc", "plant-stockholm-core-02-bmc"}
    assert not any(replaced(small[name], big[name]) for name in small)
    # Removing it again is the same comparison the other way round.
    assert small.keys() - big.keys() == set()


def test_a_group_without_a_spare_warns_that_upgrades_will_wait(management, bmc_password):
    full = plan(vm_cluster(management))
    assert full.control_plane_hosts == ("lab-vm-0", "lab-vm-3")  # replicas first, then spares
    assert full.warnings == ()
    machines = vm_cluster(management).infrastructure.machines
    short = plan(vm_cluster(management, machines=machines[:3]))
    assert short.control_plane_hosts == ("lab-vm-0",)
    assert short.warnings == (
        "control_plane: 1 replicas with max_surge 1 need 2 machines and have 1; a rolling"
        " upgrade will wait for a free machine",)


def test_an_unresolvable_bmc_password_fails_before_anything_is_declared(monkeypatch):
    monkeypatch.delenv("TCRA_BMC_PASSWORD", raising=False)

    def program():
        management = k8s.Provider("management", kubeconfig="management-kubeconfig")
        with pytest.raises(SecretUnavailableError, match="environment variable"
                           " TCRA_BMC_PASSWORD is not set"):
            K8sCluster("plant", bare_metal(management))
        return management

    recorder, _ = run(program)
    assert [n for n, r in recorder.registered.items() if r.type != "pulumi:pulumi:Stack"] == [
        "management"]


def test_the_cluster_logic_imports_no_pulumi():
    """tcra.mcm is plain data: plans are made and checked without the Pulumi SDK loaded."""
    code = ("import sys, tcra.mcm, tcra.mcm.plan; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in"
            " ('pulumi', 'pulumi_kubernetes')))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "[]"
