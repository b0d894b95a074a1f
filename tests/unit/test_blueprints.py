"""Blueprints under Pulumi's mocks: manufacturing on the example continuum, the campus 5G
blueprint, a team's subclass, and bad arguments refused before anything is declared."""

import json
from ipaddress import IPv6Address

import pulumi
import pytest
from tcra.blueprints import stack_config
from tcra.blueprints.base import Blocks, CatalogEntry, VmPlatform
from tcra.blueprints.campus5g import CATALOG as CAMPUS_CATALOG
from tcra.blueprints.campus5g import Campus5gArgs, Campus5gBlueprint
from tcra.blueprints.kubernetes import ClusterTemplate
from tcra.blueprints.manufacturing import (
    CATALOG,
    ManufacturingArgs,
    ManufacturingBlueprint,
    ManufacturingStack,
)

from tcra.errors import InvalidInputError
from tcra.inventory import load
from tcra.mcm.chart import Chart
from tcra.mcm.spec import AddOns, NodeFeatures
from tcra.mco.model import Resources, WorkloadKind
from tcra.mco.store import Store
from tcra.model import Quantity
from tests.conftest import EXAMPLE
from tests.unit.test_k8s_cluster import ADDONS
from tests.unit.test_k8s_cluster import Mocks as KubernetesMocks
from tests.unit.test_physical_pool import Mocks

PLATFORM = VmPlatform(pool="default", network="ot-net", base_image="debian-12.qcow2")
NO_K8S = Blocks(kubernetes=False, connectivity=False)


def outputs_of(*outputs):
    return pulumi.Output.all(*outputs)


def test_manufacturing_places_the_catalog_and_declares_vms_and_hosts(bmc_password):
    mocks = Mocks()
    pulumi.runtime.set_mocks(mocks, preview=False)

    @pulumi.runtime.test
    def run():
        plant = ManufacturingBlueprint("plant", ManufacturingArgs(
            inventory=load(EXAMPLE), factory_sites=("factory_munich", "factory_lyon"),
            far_edge_site="faredge_munich", blocks=NO_K8S, vm_platform=PLATFORM,
            allow_partial=True))

        def verify(args):
            plan, endpoints, not_deployed, diagram = args
            sites = {a["workload"]: a["site"] for a in plan["assignments"]}
            assert sites["mqtt-broker-factory_munich"] == sites[
                "opcua-gateway-factory_munich"]  # the gateway publishes to its plant's broker
            gpu_site = sites["visual-inspection-factory_munich"]  # a GPU host within 10 ms
            assert f"plant-{gpu_site}-metal" in mocks.created
            historian = mocks.created["plant-historian-db"]
            assert historian["uri"].endswith("example.net/system")
            assert historian["disks"][0]["base_image"] == "debian-12.qcow2"
            assert endpoints["historian-db"]["form"] == "vm"
            assert not_deployed["mqtt-broker-factory_lyon"] == (
                "placed, not deployed: blocks.kubernetes is off")
            assert not_deployed["visual-inspection-factory_lyon"].startswith(
                "not placed: needs 8 cores and 32Gi and 1 GPU(s)")  # Lyon has no GPU host
            assert diagram.startswith('digraph "plant"')

        return outputs_of(plant.plan, plant.endpoints, plant.not_deployed,
                          plant.diagram).apply(verify)

    run()


def test_bad_arguments_are_refused_naming_the_field():
    inventory = load(EXAMPLE)
    with pytest.raises(ValueError, match="factory_sites"):
        ManufacturingArgs(inventory=inventory, factory_sites="factory_munich"[0:0])
    with pytest.raises(ValueError, match=r"catalog\.0\.resources\.cpu"):
        ManufacturingArgs(inventory=inventory, factory_sites=("factory_munich",),
                          catalog=({"name": "x", "form": "vaf",
                                    "resources": {"cpu": "many", "memory": "1Gi"}},))
    with pytest.raises(InvalidInputError) as caught:
        ManufacturingBlueprint("plant", ManufacturingArgs(
            inventory=inventory, factory_sites=("factory_munich", "atlantis"), blocks=NO_K8S,
            vm_platform=PLATFORM))
    assert str(caught.value) == (
        "ManufacturingBlueprint: factory_sites.1: expected a site of the inventory"
        " (core_stockholm, factory_lyon, factory_munich, faredge_munich, regional_frankfurt)"
        " (got 'atlantis')")
    with pytest.raises(InvalidInputError, match="vm_platform: VM workloads need a pool"):
        ManufacturingBlueprint("plant", ManufacturingArgs(
            inventory=inventory, factory_sites=("factory_munich",), blocks=NO_K8S))
    with pytest.raises(ValueError, match="chart: a container workload"):
        CatalogEntry(name="app", form=WorkloadKind.CAF,
                     resources=Resources(cpu=1, memory=Quantity("1Gi")))


class Brewery(ManufacturingBlueprint):
    """A team's variant: one more workload per plant, the rest unchanged."""

    kind = "acme:blueprint:Brewery"

    def request(self, name, args):
        base = super().request(name, args)
        extra = CatalogEntry(name="fermenter-control", form=WorkloadKind.VAF, max_latency_ms=5,
                             resources=Resources(cpu=1, memory=Quantity("2Gi")))
        added = tuple(self.workload(extra, f"fermenter-control-{site}")
                      for site in args.factory_sites)
        return base.model_copy(update={"workloads": base.workloads + added})


def test_a_team_extends_the_blueprint_by_overriding_one_step(bmc_password):
    mocks = Mocks()
    pulumi.runtime.set_mocks(mocks, preview=False)

    @pulumi.runtime.test
    def run():
        brewery = Brewery("brewery", ManufacturingArgs(
            inventory=load(EXAMPLE), factory_sites=("factory_munich",), blocks=NO_K8S,
            vm_platform=PLATFORM, catalog=CATALOG[2:3]))

        def verify(endpoints):
            assert set(endpoints) == {"historian-db", "fermenter-control-factory_munich"}
            assert "brewery-fermenter-control-factory_munich" in mocks.created

        return brewery.endpoints.apply(verify)

    run()


def test_campus_5g_places_upf_firewall_and_app_near_the_campus(bmc_password):
    mocks = Mocks()
    pulumi.runtime.set_mocks(mocks, preview=False)

    @pulumi.runtime.test
    def run():
        campus = Campus5gBlueprint("campus", Campus5gArgs(
            inventory=load(EXAMPLE), campus_site="faredge_munich", blocks=NO_K8S,
            vm_platform=PLATFORM))

        def verify(args):
            plan, not_deployed, _vms_declared = args
            sites = {a["workload"]: a["site"] for a in plan["assignments"]}
            assert set(sites) == {"upf", "fw", "app"}
            assert not_deployed == {"app": "placed, not deployed: blocks.kubernetes is off"}
            # the UPF asked for dedicated CPUs, one NUMA node, hugepages and 2 VFs: its VM
            # gets them from its hypervisor (munich-edge-01: 1Gi pages, CPUs 2-15 on node 0)
            upf, fw = mocks.created["campus-upf"], mocks.created["campus-fw"]
            assert upf["uri"].startswith("qemu+ssh://root@munich-edge-01.")
            assert upf["pinning"] == {"cpus": [2, 3, 4, 5], "emulator_cpus": [0, 1],
                                      "dedicated": True}
            assert (upf["numa_node"], upf["hugepages"], upf["vcpus"]) == (0, "1Gi", 4)
            assert [i.get("vf_network") for i in upf["interfaces"]] == [
                None, "vf-ens1f0", "vf-ens1f0"]
            assert {"pinning", "numa_node", "hugepages"}.isdisjoint(fw)  # none: not declared

        return outputs_of(campus.plan, campus.not_deployed, campus.endpoints).apply(verify)

    run()


TEMPLATE_ADDONS = ADDONS.model_copy(update={"ptp": Chart(
    chart="linuxptp-daemon", version="0.1.0", repository="https://charts.example.net")})


def cluster_template(inventory, addons=TEMPLATE_ADDONS):
    """Every site's new cluster: Metal3 writes one image; each site an API address; the
    add-ons' charts, each released where the workloads need it."""
    return ClusterTemplate(
        kubernetes_version="v1.30.4",
        endpoints={s.id: {"host": "192.0.2.100"} for s in inventory.sites},
        image={"url": "https://images.example.net/kube.qcow2",
               "checksum": "https://images.example.net/kube.qcow2.sha256sum",
               "checksum_type": "sha256", "format": "qcow2"},
        addons=addons)


class DeclaredMocks(KubernetesMocks):
    """Answers kubeconfig reads as a management cluster would, and keeps what was declared."""

    def __init__(self) -> None:
        super().__init__()
        self.created: dict[str, tuple[str, dict]] = {}

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        self.created[args.name] = (args.typ, args.inputs)
        return super().new_resource(args)


def test_campus_5g_releases_the_app_s_chart_with_the_kubernetes_block_on(bmc_password,
                                                                        tmp_path):
    """The shipped catalog's chart, released onto a Cluster API cluster the block makes at the
    app's site, and recorded in the workload inventory with the cluster and release made. The
    app is kept within 2 ms of the campus, in Munich: Lyon's BMC passwords are files on the
    operator's machine."""
    import pulumi_kubernetes as k8s

    mocks = DeclaredMocks()
    pulumi.runtime.set_mocks(mocks, preview=False)
    app = CAMPUS_CATALOG[2].model_copy(update={"max_latency_ms": 2})

    @pulumi.runtime.test
    def run():
        inventory = load(EXAMPLE)
        campus = Campus5gBlueprint("campus", Campus5gArgs(
            inventory=inventory, campus_site="faredge_munich", vm_platform=PLATFORM,
            catalog=(*CAMPUS_CATALOG[:2], app),
            blocks=Blocks(kubernetes=True, connectivity=False),
            store_url=f"sqlite:///{tmp_path / 'mco.db'}", live=False,  # mocks: no peers to read
            kubernetes=cluster_template(inventory),
            management=k8s.Provider("management", kubeconfig="apiVersion: v1\nkind: Config\n")))

        def verify(args):
            plan, endpoints, not_deployed, _ = args
            site = {a["workload"]: a["site"] for a in plan["assignments"]}["app"]
            (cluster,) = (a["cluster"] for a in plan["actions"] if a["kind"] == "caf")
            assert cluster == f"campus-{site}-caf".replace("_", "-")  # the plan's name for it
            assert not_deployed == {}
            assert endpoints["app"] == {"site": site, "form": "kubernetes", "cluster": cluster,
                                        "url": "http://203.0.113.10:80"}
            kind, release = mocks.created["campus-app-release"]
            assert kind == "kubernetes:helm.sh/v3:Release"
            assert (release["chart"], release["version"], release["name"],
                    release["namespace"]) == ("oci://registry-1.docker.io/bitnamicharts/nginx",
                                              "18.2.4", "app", "default")
            assert "repositoryOpts" not in release  # an oci:// chart names its own source
            assert mocks.created[cluster][0] == "tcra:mcm:K8sCluster"
            kind, record = mocks.created["campus-mco-inventory"]
            assert kind == "pulumi-python:dynamic/tcra:WorkloadInventory"
            deployed = {d["workload"]: d for d in record["deployed"]}
            assert deployed["app"] == {"workload": "app", "cluster": cluster,
                                       "release": "app", "namespace": "default"}
            assert set(deployed) == {"upf", "fw", "app"}  # the VMs' UUIDs: none under mocks
            assert not (tmp_path / "mco.db").exists() or not Store(
                f"sqlite:///{tmp_path / 'mco.db'}").placements()  # the program wrote nothing

        return outputs_of(campus.plan, campus.endpoints, campus.not_deployed,
                          campus.workload_inventory.id).apply(verify)

    run()


def test_every_shipped_catalog_chart_passes_the_release_s_checks():
    """A catalog's chart is the Chart a Workload releases: the blueprints' catalogs and the
    lab stack's (Pulumi.lab.yaml, key by key) pass the checks each release makes."""
    import yaml

    from tcra.mcm.chart import chart_problems
    from tests.conftest import ROOT

    shipped = yaml.safe_load((ROOT / "stacks/lab/Pulumi.lab.yaml").read_text())["config"]
    lab = ManufacturingStack.model_validate(
        {key.removeprefix("tcra-lab:"): value for key, value in shipped.items()})
    charts = {f"{where}.{e.name}": e.chart for where, catalog in (
        ("manufacturing", CATALOG), ("campus5g", CAMPUS_CATALOG), ("lab", lab.catalog))
        for e in catalog if e.chart is not None}
    assert charts["lab.mqtt-broker"].chart == "oci://127.0.0.1:5443/charts/mqtt-broker"
    assert len(charts) == 7
    assert {where: chart_problems(chart, where) for where, chart in charts.items()} == {
        where: [] for where in charts}


def test_stack_config_names_the_key_of_each_problem():
    pulumi.runtime.set_mocks(Mocks(), project="tcra-lab", stack="lab", preview=False)
    pulumi.runtime.set_all_config({
        "tcra-lab:inventory": str(EXAMPLE), "tcra-lab:factory_sites": json.dumps(["x"]),
        "tcra-lab:blocks": json.dumps({"kubernetes": "maybe"}), "tcra-lab:tyop": "1"})
    with pytest.raises(InvalidInputError) as caught:
        stack_config.read(ManufacturingStack)
    message = str(caught.value)
    assert "stack lab config: tcra-lab:tyop: unknown key" in message
    assert "stack lab config: tcra-lab:blocks.kubernetes: Input should be a valid boolean" \
        in message


def test_report_prints_the_plan_and_writes_the_picture(tmp_path):
    from tcra.blueprints import report

    outputs = {
        "plan": {"service": "plant", "tenant": "acme", "unplaced": [],
                 "assignments": [{"workload": "historian-db", "site": "lab_factory",
                                  "score": 0.5}]},
        "endpoints": {"historian-db": {"site": "lab_factory", "form": "vm",
                                       "host": "lab-hypervisor", "state": "running"}},
        "not_deployed": {"mqtt-broker-lab_factory": "placed, not deployed: blocks.kubernetes"
                                                    " is off"},
        "chain": "users any to fd00::/64 -> lab_faredge (H.Encaps) -> ...",
        "diagram": 'digraph "plant" { "a" -> "b"; }\n'}
    text = report.render(outputs)
    assert "historian-db                     -> lab_factory      score 0.500" in text
    assert "at lab_factory: form vm, host lab-hypervisor, state running" in text
    assert text.endswith("chain: users any to fd00::/64 -> lab_faredge (H.Encaps) -> ...")
    picture = report.write_picture(outputs["diagram"], tmp_path)
    assert picture.suffix == ".svg" and picture.read_text().lstrip().startswith("<?xml")


def test_report_says_whether_each_endpoint_answers_in_its_protocol():
    import socket
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    from tcra.blueprints import report

    class Ok(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Ok)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        gone = closed.getsockname()[1]  # bound, never listening: connections are refused
        outputs = {"endpoints": {
            "gateway": {"site": "s", "form": "kubernetes",
                        "url": f"http://127.0.0.1:{server.server_address[1]}"},
            "broker": {"site": "s", "form": "kubernetes", "url": f"mqtt://127.0.0.1:{gone}"},
            "db": {"site": "s", "form": "vm", "host": "h"}}}
        text = report.render(outputs)
    server.shutdown()
    assert f"http://127.0.0.1:{server.server_address[1]}: answers" in text
    assert f"mqtt://127.0.0.1:{gone}: DOES NOT ANSWER" in text
    assert "at s: form vm, host h\n" in text  # no URL: nothing to ask


def campus_with_kubernetes(catalog, store_url, name="campus", addons=None):
    """The campus blueprint, Kubernetes on, run once under mocks: its plan and what it
    declared, the workload inventory's inputs among them."""
    import pulumi_kubernetes as k8s

    mocks = DeclaredMocks()
    pulumi.runtime.set_mocks(mocks, preview=False)
    seen = {}

    @pulumi.runtime.test
    def run():
        inventory = load(EXAMPLE)
        campus = Campus5gBlueprint(name, Campus5gArgs(
            inventory=inventory, campus_site="faredge_munich", vm_platform=PLATFORM,
            catalog=catalog, blocks=Blocks(kubernetes=True, connectivity=False,
                                           virtual_machines=False),
            store_url=store_url, live=False,  # mocks: no peers to read
            kubernetes=cluster_template(inventory, *(() if addons is None else (addons,))),
            management=k8s.Provider("management", kubeconfig="apiVersion: v1\nkind: Config\n")))
        return outputs_of(campus.plan, campus.workload_inventory.id).apply(
            lambda args: seen.update(plan=args[0]))

    run()
    return seen["plan"], mocks.created


SECRET = "4dabf18193072939515e22adb298388d"  # Pulumi's mark of a secret value


def up(created, name="campus"):
    """What the engine's `up` does with the declared workload inventory: the provider's
    create, with the inputs the program gave it."""
    from tcra.providers.workload_inventory import WorkloadInventoryProvider

    _kind, inputs = created[f"{name}-mco-inventory"]
    WorkloadInventoryProvider().create({  # secrets reach it unwrapped
        key: value["value"] if isinstance(value, dict) and SECRET in value else value
        for key, value in inputs.items()})


def caf_action(plan):
    (action,) = (a for a in plan["actions"] if a["kind"] == "caf")
    return action["action"], action["cluster"]


def app_entry(name, cpu):
    return CAMPUS_CATALOG[2].model_copy(update={
        "name": name, "max_latency_ms": 2,
        "resources": Resources(cpu=cpu, memory=Quantity("4Gi"))})


def test_a_second_up_with_more_workloads_scales_the_cluster_the_first_made(bmc_password,
                                                                          tmp_path):
    """The store holds what the first `up` recorded; the second, with one more container
    workload than the cluster has room for, declares the same cluster with another worker:
    its MachineDeployment's replicas rise, no parallel cluster."""
    store = f"sqlite:///{tmp_path / 'mco.db'}"
    plan, created = campus_with_kubernetes((app_entry("app", 20),), store)
    assert caf_action(plan) == ("create", "campus-factory-munich-caf")
    assert "campus-factory-munich-caf-workers" not in created  # one node: the control plane
    up(created)
    plan, created = campus_with_kubernetes((app_entry("app", 20), app_entry("gateway", 20)),
                                           store)
    assert caf_action(plan) == ("scale", "campus-factory-munich-caf")
    clusters = [n for n, (kind, _) in created.items() if kind == "tcra:mcm:K8sCluster"]
    assert clusters == ["campus-factory-munich-caf"]
    _kind, workers = created["campus-factory-munich-caf-workers"]
    assert workers["spec"]["replicas"] == 1


def test_another_service_reuses_the_first_service_s_cluster_without_declaring_it(
        bmc_password, tmp_path):
    store = f"sqlite:///{tmp_path / 'mco.db'}"
    _plan, created = campus_with_kubernetes((app_entry("app", 4),), store)
    up(created)
    plan, created = campus_with_kubernetes((app_entry("portal", 2),), store, name="visitors")
    assert caf_action(plan) == ("reuse", "campus-factory-munich-caf")
    assert not [n for n, (kind, _) in created.items() if kind == "tcra:mcm:K8sCluster"]
    kind, release = created["visitors-portal-release"]
    assert (kind, release["name"]) == ("kubernetes:helm.sh/v3:Release", "portal")
    assert "visitors-campus-factory-munich-caf-kubeconfig" in created  # read, not declared


UPF = CAMPUS_CATALOG[0].model_copy(update={  # the UPF in a container: VFs, CPUs, hugepages
    "form": WorkloadKind.CAF, "chart": Chart(chart="oci://registry.example.net/charts/upf",
                                             version="1.0.0")})


def addon_releases(created, cluster):
    return [n.removeprefix(f"{cluster}-addon-") for n, (kind, _) in created.items()
            if kind == "kubernetes:helm.sh/v3:Release" and n.startswith(f"{cluster}-addon-")]


def test_a_cluster_for_a_vf_workload_gets_multus_sriov_and_the_kubelet_it_needs(
        bmc_password, tmp_path):
    """The UPF asks for VFs, dedicated CPUs on one NUMA node and hugepages: its cluster gets
    the CNI, Multus and the SR-IOV device plugin, in that order (no PTP daemon: nobody asks),
    and a kubelet with the static CPU manager on the node it runs on."""
    plan, created = campus_with_kubernetes((UPF,), f"sqlite:///{tmp_path / 'mco.db'}")
    _action, cluster = caf_action(plan)
    assert addon_releases(created, cluster) == ["cni", "multus", "sriov"]
    _kind, sriov = created[f"{cluster}-addon-sriov"]
    assert sriov["chart"] == ADDONS.sriov.chart
    # One node, munich-edge-02: the control plane runs the UPF, so it gets the features.
    spec = created[f"{cluster}-cp"][1]["spec"]["kubeadmConfigSpec"]
    (patch,) = (f for f in spec["files"]
                if f["path"].endswith("kubeletconfiguration+strategic.json"))
    kubelet = json.loads(patch["content"])
    assert (kubelet["cpuManagerPolicy"], kubelet["topologyManagerPolicy"]) == (
        "static", "single-numa-node")
    assert kubelet["reservedSystemCPUs"] == "0"  # the host declares no pinnable CPUs
    (pages,) = (f for f in spec["files"] if f["path"] == "/etc/tmpfiles.d/tcra-hugepages.conf")
    assert "hugepages-1048576kB/nr_hugepages - - - - 64" in pages["content"]  # as the host has


def test_a_plain_cluster_gets_the_cni_alone_and_a_kubelet_left_as_it_is(bmc_password,
                                                                        tmp_path):
    plan, created = campus_with_kubernetes((app_entry("app", 4),),
                                           f"sqlite:///{tmp_path / 'mco.db'}")
    _action, cluster = caf_action(plan)
    assert addon_releases(created, cluster) == ["cni"]
    assert "files" not in created[f"{cluster}-cp"][1]["spec"]["kubeadmConfigSpec"]


def test_a_chart_missing_for_an_add_on_a_workload_needs_is_refused_naming_both(
        bmc_password, tmp_path):
    with pytest.raises(InvalidInputError) as caught:
        campus_with_kubernetes((UPF,), f"sqlite:///{tmp_path / 'mco.db'}",
                               addons=AddOns(cni=ADDONS.cni, multus=ADDONS.multus))
    (problem,) = caught.value.problems
    assert problem.field == "kubernetes.addons.sriov"
    assert problem.message.startswith("expected a chart for the SR-IOV device plugin, which"
                                      " hands VFs out to pods: cluster campus-")
    assert problem.message.endswith("needs it for upf")
    assert not (tmp_path / "mco.db").exists() or not Store(
        f"sqlite:///{tmp_path / 'mco.db'}").placements()


def test_node_features_follow_the_workloads_and_the_machines_cpus_and_hugepages(
        bmc_password):
    """Plain data, no Pulumi: what the kubelet and the kernel of a new cluster's nodes get."""
    from tcra.blueprints.kubernetes import node_features

    from tcra.mcm.bootstrap import kubelet_configuration, kubelet_flags
    from tcra.mcm.machines import machines_from_hosts

    hosts = {h.name: h for h in load(EXAMPLE).hosts}
    edge = machines_from_hosts((hosts["munich-edge-01"], hosts["munich-edge-02"]))
    plain = Resources(cpu=2, memory=Quantity("4Gi"))
    assert node_features([plain], edge) == NodeFeatures()  # a kubelet left as it is
    pinned = Resources(cpu=4, memory=Quantity("8Gi"), dedicated_cpus=True)
    # edge-01 keeps 0-1 and 16-17 for the system (outside its pinnable CPUs), edge-02 CPU 0.
    assert kubelet_configuration(node_features([plain, pinned], edge)) == {
        "cpuManagerPolicy": "static", "topologyManagerPolicy": "best-effort",
        "reservedSystemCPUs": "0-1,16-17"}
    upf = CAMPUS_CATALOG[0].resources  # one NUMA node, 8Gi of hugepages
    features = node_features([upf], edge[1:])
    assert kubelet_flags(features) == ["cpu-manager-policy=static",
                                       "topology-manager-policy=single-numa-node",
                                       "reserved-cpus=0"]
    assert [(p.size, p.count) for p in features.hugepages] == [(Quantity("1Gi"), 64)]
    cell = machines_from_hosts((hosts["munich-cell-01"],))  # 16 x 1Gi: each host has them
    assert [p.count for p in node_features([upf], [*edge, *cell]).hugepages] == [16]


SITES = ("factory_munich", "factory_lyon", "faredge_munich", "regional_frankfurt",
         "core_stockholm")


def with_fabric(inventory):
    """The example continuum with one HBR per site, and `fw` and `app` reachable behind each:
    wherever the plan puts them, the fabric knows their address there."""
    from tcra.model.fabric import Fabric

    fabric = Fabric.model_validate({
        "hbrs": [{"name": f"hbr-{i}", "site": site, "locator": f"fd00:{i + 1}::/48",
                  "uplink": "up0"} for i, site in enumerate(SITES)],
        "endpoints": [{"workload": w, "hbr": f"hbr-{i}", "address": f"fd00:{i + 1}:{n}::2",
                       "dev": f"{w}0"} for i in range(len(SITES))
                      for n, w in enumerate(("fw", "app"), start=1)]})
    return inventory.model_copy(update={"fabric": fabric})


def campus_chain(campus_site, functions=("fw",)):
    """fw (a VM) and app near the campus; users attach in Stockholm, where neither runs."""
    from tcra.blueprints.base import ChainIntent

    return Campus5gArgs(
        inventory=with_fabric(load(EXAMPLE)), campus_site=campus_site, vm_platform=PLATFORM,
        catalog=CAMPUS_CATALOG[1:], blocks=Blocks(kubernetes=False),
        chain=ChainIntent(destination="fd00:40::/64", functions=functions, egress="app",
                          ingress="core_stockholm"))


def test_the_chain_follows_the_workloads_to_where_the_plan_puts_them(bmc_password):
    """The same chain, the campus moved from Munich to Frankfurt: fw is placed elsewhere, and
    its SID moves to the locator of the HBR serving its new site, with the route there."""
    fw_at = {}
    for campus_site in ("faredge_munich", "regional_frankfurt"):
        mocks = Mocks()
        pulumi.runtime.set_mocks(mocks, preview=False)
        seen = {}

        @pulumi.runtime.test
        def run(campus_site=campus_site, seen=seen):
            campus = Campus5gBlueprint("campus", campus_chain(campus_site))
            seen["fabric"] = campus.args.inventory.fabric

            def verify(args):
                plan, seen["path"], seen["diagram"] = args
                seen["site"] = {a["workload"]: a["site"] for a in plan["assignments"]}["fw"]

            return outputs_of(campus.plan, campus.chain, campus.diagram).apply(verify)

        run()
        fabric, site = seen["fabric"], seen["site"]
        hbr = fabric.serving(site)
        (end_x,) = [r for r in mocks.created[f"campus-chain-{hbr.name}"]["routes"]
                    if r.get("behaviour") == "End.X"]
        sid = IPv6Address(end_x["dst"].removesuffix("/128"))
        assert sid in hbr.locator  # fw's SID is the serving HBR's
        assert end_x["nh6"] == str(fabric.endpoint("fw", hbr.name).address)
        (encap,) = [r for r in mocks.created["campus-chain-hbr-4"]["routes"]
                    if r.get("segments")]
        assert encap["segments"][0] == str(sid)  # users' HBR (Stockholm) steers to it
        assert f"fw @ {hbr.name} ({sid})" in seen["path"]
        # the picture draws the chain through the placed workloads' own nodes
        assert f'"HBR hbr-4" -> "fw" [label="SID {sid}"' in seen["diagram"]
        assert '"fw" -> "app"' in seen["diagram"]
        fw_at[campus_site] = (site, hbr.name)
    assert fw_at == {"faredge_munich": ("factory_munich", "hbr-0"),
                     "regional_frankfurt": ("regional_frankfurt", "hbr-3")}


def test_a_chain_through_workloads_the_plan_did_not_place_is_refused(bmc_password):
    pulumi.runtime.set_mocks(Mocks(), preview=False)
    with pytest.raises(InvalidInputError) as caught:
        Campus5gBlueprint("campus", campus_chain("faredge_munich", functions=("ids", "fw")))
    assert str(caught.value) == (
        "Campus5gBlueprint: chain.functions.0: expected a workload the plan placed (app, fw)"
        " (got 'ids')")
    args = campus_chain("faredge_munich")
    fabric = args.inventory.fabric
    alone = fabric.model_copy(update={"endpoints": tuple(
        e for e in fabric.endpoints if e.workload != "fw" or e.hbr == "hbr-4")})
    with pytest.raises(InvalidInputError, match=r"chain\.functions\.0: placed at site"
                       r" factory_munich: expected an endpoint of it behind HBR hbr-0 in the"
                       r" fabric \(got 'fw'\)"):
        Campus5gBlueprint("campus", args.model_copy(update={
            "inventory": args.inventory.model_copy(update={"fabric": alone})}))


def test_the_lab_stack_s_chain_crosses_workloads_its_plan_places(tmp_path, monkeypatch):
    """stacks/lab's configuration on an inventory as `tcra lab up` writes it: fw and app are
    catalog workloads, placed at the site of the lab's cluster, and the chain reaches them
    through that site's HBR (what the e2e test pings through, there to their pods; here, the
    kubernetes block off, to the fabric's endpoints for them)."""
    import yaml

    from tcra.lab import fabric as lab_fabric
    from tcra.lab import inventory_writer
    from tcra.lab.bmc import password_file
    from tcra.lab.spec import Bmc, Hugepages, LabKubernetes, LabNode, LabSpec, Node, Process
    from tests.conftest import ROOT

    spec = LabSpec(state_root=tmp_path / "state", inventory=tmp_path / "inventory")
    # this machine as the lab sees it: one NUMA node with the hugepages `lab up` reserves
    pages = tmp_path / "sys" / "node0" / "hugepages" / "hugepages-2048kB"
    pages.mkdir(parents=True)
    (pages / "nr_hugepages").write_text("32\n")
    (tmp_path / "sys" / "node0" / "cpulist").write_text("0-1\n")
    monkeypatch.setattr(inventory_writer, "NODES", tmp_path / "sys")
    password_file(spec).parent.mkdir(parents=True)
    password_file(spec).write_text("not-a-real-password")
    nodes = tuple(Node(name=f"tcra-lab-node-{i}", uuid=f"uuid-{i}", site=site)
                  for i, site in enumerate(("lab_factory", "lab_faredge")))
    kube = tuple(LabNode(name=f"tcra-lab-kube-{i}", site=site, pod_cidr=f"10.244.{i}.0/24",
                         folder=tmp_path, run_folder=tmp_path, crictl=tmp_path,
                         bridge=f"t{i}-lab", cgroup_root=f"/tcra-lab-{i}", ports={})
                 for i, site in enumerate(("lab_factory", "lab_faredge")))
    kubernetes = LabKubernetes(folder=tmp_path, ports={}, kubeconfig=tmp_path / "kubeconfig",
                               nodes=kube, registry="127.0.0.1:5443")
    inventory = inventory_writer.write(spec, Bmc(process=Process(pid=1, program="sushy"),
                                                 port=8000, username="tcra"),
                                       nodes, lab_fabric.plan(spec), Hugepages(count=32, total=32),
                                       kubernetes)
    shipped = yaml.safe_load((ROOT / "stacks/lab/Pulumi.lab.yaml").read_text())["config"]
    config = {key.removeprefix("tcra-lab:"): value for key, value in shipped.items()}
    config |= {"inventory": str(inventory), "blocks": {**config["blocks"], "kubernetes": False},
               "live": False}  # mocks: no peers to read (the lab's store would switch it on)
    pulumi.runtime.set_mocks(Mocks(), preview=False)

    @pulumi.runtime.test
    def run():
        plant = ManufacturingBlueprint(
            "plant", ManufacturingStack.model_validate(config).blueprint_args())
        # fw is on the users' path to app: the request names the chain, and fw has app's budget
        wanted = {w.name: w for w in plant.request_made.workloads}
        assert plant.request_made.chain == ("fw", "app")
        assert wanted["fw"].latency == wanted["app"].latency != ()

        def verify(args):
            plan, path = args
            sites = {a["workload"]: a["site"] for a in plan["assignments"]}
            assert (sites["fw"], sites["app"]) == ("lab_factory", "lab_factory")
            assert path.startswith("users any to fda5:1146:d380:4000::/64 -> lab_faredge"
                                   " (H.Encaps) -> fw @ lab_factory (")
            assert " -> app @ lab_factory (" in path

        return outputs_of(plant.plan, plant.chain).apply(verify)

    run()


def test_the_route_computation_s_refusals_come_before_any_block(bmc_password):
    """A chain longer than the fabric's HBRs push: refused while only the plan exists."""
    args = campus_chain("faredge_munich")
    inventory = args.inventory
    assert inventory.fabric is not None
    args = args.model_copy(update={"inventory": inventory.model_copy(update={
        "fabric": inventory.fabric.model_copy(update={"max_segments": 1})})})
    mocks = Mocks()
    pulumi.runtime.set_mocks(mocks, preview=False)
    with pytest.raises(InvalidInputError, match=r"chain campus-chain: functions: expected at"
                       r" most 1 segments \(functions plus egress\) \(got 2\)"):
        Campus5gBlueprint("campus", args)
    assert not any(name.startswith("campus-fw") for name in mocks.created)
