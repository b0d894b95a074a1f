"""stacks/lab (the manufacturing blueprint) through a real Pulumi engine on the lab: preview
and up create real lab resources (a VM with the dedicated CPU, NUMA node and hugepages its
workload asked for); a second up changes nothing; a host powered off, an SRv6
route deleted and a VM destroyed by hand are refreshed and repaired; destroy leaves the lab as
it was. A wrong stack config and a missing passphrase fail before anything is touched. The
campus 5G stack deployed after it is placed on what the plant left, and its destroy leaves the
plant and its workload inventory rows as they were."""

import json
import re
import subprocess
import time
from datetime import datetime
from urllib.parse import urlencode
from urllib.request import urlopen

import libvirt
import pytest
import yaml

from tcra.act.model import ActionState
from tcra.act.store import ActionStore
from tcra.inventory import load
from tcra.lab import vip
from tcra.lab.kube import binaries
from tcra.lab.nodes import pool_name
from tcra.lab.processes import wait_until
from tcra.lab.spec import load_state
from tcra.lab.users import pinging
from tcra.mcm.chart import trust_env
from tcra.mco.store import Store
from tcra.tcm import kernel
from tcra.tcm.route import Behaviour
from tcra.vip.domain_xml import LiveFacts, facts
from tests.conftest import ROOT
from tests.e2e.test_chain_stack import reachable
from tests.e2e.test_pim_stack import pulumi_project
from tests.e2e.test_pim_stack import state_of as active
from tests.e2e.test_workload_stack import http_get, mqtt_round_trip
from tests.integration.conftest import needs_lab
from tests.integration.test_srv6_chain import srv6_destinations, traffic

pytestmark = [pytest.mark.lab, needs_lab]
URI = "qemu:///system"


@pytest.fixture(scope="module")
def lab_and_stack(tmp_path_factory, kubernetes_lab):
    """The shared lab with Kubernetes: the blueprint's container workloads go to site
    lab_factory's cluster, from the lab's registry (its CA trusted by the engine's Go)."""
    root = tmp_path_factory.mktemp("lab-stack")
    spec = kubernetes_lab.get()
    state = load_state(spec)
    trust = state.kubernetes.trust
    with pulumi_project(root, "lab", stack_config(spec, state),
                        env=trust_env(trust)) as run:
        yield spec, state, run


def stack_config(spec, state) -> dict[str, str]:
    """The stack's config for this lab: its fabric's service prefix the chain's destination,
    and its service address the one the chain's egress (app) answers at."""
    return {**lab_platform(spec), "chain.destination": state.fabric.service_prefix,
            f"catalog[{catalog_index('app')}].chart.values.serviceAddress":
                state.fabric.service_address}


def catalog_index(workload: str) -> int:
    """Where the shipped stack config lists the workload in its catalog."""
    config = yaml.safe_load((ROOT / "stacks/lab/Pulumi.lab.yaml").read_text())["config"]
    return next(i for i, e in enumerate(config["tcra-lab:catalog"]) if e["name"] == workload)


def lab_platform(spec) -> dict[str, str]:
    return {"inventory": str(spec.inventory), "vm_platform.pool": pool_name(spec),
            "vm_platform.network": vip.network_name(spec),
            "vm_platform.base_image": vip.base_image_name(spec)}


def workload_inventory(spec) -> list[dict]:
    """`tcra workloads --json` on the store the lab's inventory names (both stacks')."""
    listed = subprocess.run([str(ROOT / ".venv/bin/tcra"), "workloads", "--json",
                             "--inventory", str(spec.inventory)], capture_output=True,
                            text=True, check=True, timeout=120)
    return json.loads(listed.stdout)


# Tests run in random order: each one first brings the stack to the state it starts from.


def domain(name: str) -> tuple[LiveFacts, str]:
    conn = libvirt.open(URI)
    try:
        xml = conn.lookupByName(name).XMLDesc(0)
    finally:
        conn.close()
    return facts(xml), xml


def entering_pod(state, release: str) -> list[str]:
    """The command that enters the network namespace of the release's ready pod, on the node
    of the site it runs at."""
    pods = json.loads(kubectl(state, "get", "pods", "-o", "json", "-l",
                              f"app.kubernetes.io/instance={release}"))["items"]
    [name] = {p["spec"]["nodeName"] for p in pods if "deletionTimestamp" not in p["metadata"]}
    [node] = [n for n in state.kubernetes.nodes if n.name == name]
    endpoint = f"unix://{node.socket}"
    crictl = [str(node.crictl), "--runtime-endpoint", endpoint, "--image-endpoint", endpoint]

    def run(*args: str) -> str:
        return subprocess.run([*crictl, *args], capture_output=True, text=True, check=True,
                              timeout=60).stdout
    [pod, *_] = run("pods", "--state", "ready", "-q", "--label",
                    f"app.kubernetes.io/instance={release}").split()
    spec = json.loads(run("inspectp", pod))["info"]["runtimeSpec"]
    [path] = [n["path"] for n in spec["linux"]["namespaces"] if n["type"] == "network"]
    return ["nsenter", f"--net={path}"]


def kubectl(state, *args: str) -> str:
    return subprocess.run([binaries.find().kubectl(), "--kubeconfig",
                           str(state.kubernetes.kubeconfig), "--request-timeout", "30s", *args],
                          capture_output=True, text=True, check=True, timeout=120).stdout


def end_x(state, site: str = "lab_factory") -> str:
    """Where the site's HBR sends what its End.X SID (fw's) receives."""
    hbr = state.fabric.fabric.hbr(site)
    [nexthop] = [r.nh6 for r in kernel.read(hbr.namespace) if r.behaviour is Behaviour.END_X]
    return str(nexthop)


def ready_pod_address(state, release: str) -> str:
    """The IPv6 address of the release's one pod that is not going."""
    pods = json.loads(kubectl(state, "get", "pods", "-o", "json", "-l",
                              f"app.kubernetes.io/instance={release}"))["items"]
    [address] = [a["ip"] for p in pods if "deletionTimestamp" not in p["metadata"]
                 for a in p["status"]["podIPs"] if ":" in a["ip"]]
    return address


def lab_snapshot(spec, state) -> dict:
    conn = libvirt.open(URI)
    try:
        # this lab's nodes and the VMs of its stacks: labs of other tests may run beside it
        domains = {d.name(): bool(d.isActive()) for d in conn.listAllDomains()
                   if d.name().startswith(spec.prefix) or (facts(d.XMLDesc()).owner or "")
                   .startswith(("tcra-lab/", "tcra-campus-lab/"))}
        volumes = {v.name() for v in conn.storagePoolLookupByName(pool_name(spec))
                   .listAllVolumes()}
    finally:
        conn.close()
    routes = {h.namespace: sorted(str(r.dst) for r in kernel.read(h.namespace))
              for h in state.fabric.fabric.hbrs}
    markers = {h.namespace: sorted(map(str, kernel.read_markers(h.namespace)))
               for h in state.fabric.fabric.hbrs}
    listed = kubectl(state, "get", "pods", "-o", "json", "-l", "app.kubernetes.io/instance")
    # The releases' pods; one being deleted is gone already (Helm's uninstall does not wait).
    pods = sorted(p["metadata"]["name"] for p in json.loads(listed)["items"]
                  if "deletionTimestamp" not in p["metadata"])
    return {"domains": domains, "volumes": volumes, "routes": routes, "markers": markers,
            "pods": pods}


@pytest.fixture
def before(lab_and_stack):
    """The lab with nothing of the stack on it."""
    spec, state, pulumi = lab_and_stack
    pulumi("destroy", "--yes")
    return lab_snapshot(spec, state)


def test_a_wrong_config_and_a_missing_passphrase_fail_before_anything(lab_and_stack):
    spec, state, pulumi = lab_and_stack
    before = lab_snapshot(spec, state)  # whatever the stack holds now stays as it is
    pulumi("config", "set", "--path", "factory_sites[0]", "atlantis")
    wrong = pulumi("preview", check=False)
    assert wrong.returncode != 0
    assert "factory_sites.0: expected a site of the inventory (lab_factory, lab_faredge)" \
        in wrong.stdout + wrong.stderr
    pulumi("config", "set", "--path", "factory_sites[0]", "lab_factory")
    pulumi("config", "set", "tyop", "1")
    typo = pulumi("preview", check=False)
    assert "tcra-lab:tyop: unknown key" in typo.stdout + typo.stderr
    pulumi("config", "rm", "tyop")
    no_passphrase = pulumi("up", "--yes", check=False, env={"PULUMI_CONFIG_PASSPHRASE": None})
    assert no_passphrase.returncode != 0
    assert "passphrase must be set" in no_passphrase.stdout + no_passphrase.stderr
    assert lab_snapshot(spec, state) == before


def test_up_deploys_the_blueprint_a_second_up_changes_nothing_and_destroy_leaves_the_lab(
        lab_and_stack, before):
    spec, state, pulumi = lab_and_stack
    assert not reachable(state)
    pulumi("up", "--yes")
    outputs = json.loads(pulumi("stack", "output", "--json").stdout)
    endpoints = outputs["endpoints"]
    assert endpoints["historian-db"]["form"] == "vm"
    assert endpoints["historian-db"]["state"] == "running"
    host = endpoints["visual-inspection-lab_factory"]["host"]
    assert host.startswith(f"tcra-{spec.name}-node-") and active(host)
    assert active("historian-db")
    # what the workload asked (dedicated CPU, one NUMA node, hugepages) is in its domain
    live, xml = domain("historian-db")
    assert live.vcpu_pins == {"0": "1"} and live.emulator_pin == "0"  # CPU 0 keeps the host
    assert live.hugepage_kib == 2048 and "<memory mode='strict' nodeset='0'/>" in xml
    # Far-edge users reach the app through the firewall: both are pods on lab_factory's
    # cluster, and the packets cross them, each already headed for its next segment.
    sids = dict(re.findall(r"(\w+) @ lab_factory \(([0-9a-f:]+)\)", outputs["chain"]))
    assert set(sids) == {"fw", "app"}
    reached, seen = traffic(state, inside={w: entering_pod(state, w) for w in sids})
    assert reached
    assert srv6_destinations(seen["fw"]) == {sids["app"]}
    assert {p["dst"] for p in seen["app"]} == {state.fabric.service_address}
    assert outputs["not_deployed"] == {}
    broker = endpoints["mqtt-broker-lab_factory"]
    gateway = endpoints["opcua-gateway-lab_factory"]
    assert (broker["form"], broker["cluster"]) == ("kubernetes", f"tcra-{spec.name}")
    assert mqtt_round_trip(broker["url"]) == "line-3 temperature 21.5"
    assert http_get(gateway["url"])["status"] == "ok"
    assert outputs["diagram"].startswith('digraph "plant"')
    pulumi("preview", "--expect-no-changes")
    pulumi("destroy", "--yes")
    assert lab_snapshot(spec, state) == before
    assert not reachable(state)


def test_changes_by_hand_are_refreshed_and_repaired(lab_and_stack):
    _spec, state, pulumi = lab_and_stack
    pulumi("up", "--yes")
    outputs = json.loads(pulumi("stack", "output", "--json").stdout)
    host = outputs["endpoints"]["visual-inspection-lab_factory"]["host"]
    conn = libvirt.open(URI)
    try:
        conn.lookupByName(host).destroy()            # a claimed host powered off
        conn.lookupByName("historian-db").destroy()  # a VM stopped
    finally:
        conn.close()
    factory = state.fabric.fabric.hbr("lab_factory")
    [sid] = [r for r in kernel.read(factory.namespace) if r.behaviour.value == "End.DX6"]
    subprocess.run(["ip", "-n", factory.namespace, "-6", "route", "del", str(sid.dst)],
                   check=True)                      # an SRv6 route deleted
    was = end_x(state)
    kubectl(state, "delete", "pod", "-l", "app.kubernetes.io/instance=fw",  # fw's pod replaced
            "--wait=false")
    assert not reachable(state)
    refreshed = pulumi("refresh", "--yes").stdout
    assert "~ 3 updated" in refreshed
    assert pulumi("preview", "--expect-no-changes", check=False).returncode != 0
    pulumi("up", "--yes")
    assert active(host) and active("historian-db") and reachable(state)
    # The chain follows fw to its new pod's address.
    now = end_x(state)
    assert now != was and now == ready_pod_address(state, "fw")
    pulumi("preview", "--expect-no-changes")


def test_an_up_that_replaces_fw_switches_the_chain_before_the_old_pod_goes(lab_and_stack):
    """fw's pod replaced by an `up` (new values roll it, as an upgrade or a new node would):
    the new pod comes up first, the same `up` steers the chain to it, and the old one keeps
    forwarding while it drains. Users pinging through the chain all along lose nothing."""
    _spec, state, pulumi = lab_and_stack
    pulumi("up", "--yes")
    was = end_x(state)
    generation = f"catalog[{catalog_index('fw')}].chart.values.podAnnotations.generation"
    pulumi("config", "set", "--path", generation, "2")
    try:
        with pinging(state.fabric) as losses:
            pulumi("up", "--yes")
    finally:
        pulumi("config", "rm", "--path", generation)
    now = end_x(state)
    assert now != was and now == ready_pod_address(state, "fw")
    assert losses.sent > 0 and losses.lost == 0, losses


def test_a_second_stack_of_the_blueprint_can_neither_take_nor_destroy_the_first_ones(
        lab_and_stack, tmp_path):
    spec, state, pulumi = lab_and_stack
    pulumi("up", "--yes")
    deployed = lab_snapshot(spec, state)
    # the same program, project and stack name on the same lab, with a backend of its own
    trust = trust_env(state.kubernetes.trust)
    with pulumi_project(tmp_path, "lab", stack_config(spec, state), env=trust) as other:
        taken = other("up", "--yes", check=False)
        output = taken.stdout + taken.stderr
        assert taken.returncode != 0
        # the engine stops at the first refusal: which of VMs, host and routes comes first varies
        refused = re.findall(r"(domain [\w-]+|host tcra-\w+-node-\d|SRv6 route \S+)"
                             r" at [^\n]* belongs to tcra-lab/lab/\S+@[0-9a-f]{32}; it was"
                             r" left untouched", output)
        assert refused, output
        other("destroy", "--yes")
    assert lab_snapshot(spec, state) == deployed
    assert reachable(state)
    pulumi("preview", "--expect-no-changes")


def test_the_campus_after_the_plant_uses_what_it_left_and_its_destroy_leaves_the_plant(
        lab_and_stack, tmp_path):
    spec, state, pulumi = lab_and_stack
    pulumi("up", "--yes")
    plant = lab_snapshot(spec, state)
    plant_rows = workload_inventory(spec)
    assert {r["service"] for r in plant_rows} == {"plant"}
    trust = trust_env(state.kubernetes.trust)
    with pulumi_project(tmp_path, "campus-lab", lab_platform(spec), env=trust) as campus:
        # a UPF asking a CPU of its own finds lab_factory's hypervisor full of the plant:
        # refused while only the plan exists, saying what is left
        campus("config", "set", "--path", "catalog[1].resources.dedicated_cpus", "true")
        campus("config", "set", "--path", "catalog[1].resources.cpu", "1")
        refused = campus("preview", check=False)
        assert refused.returncode != 0
        assert ("cannot place upf: needs 1 cores and 64Mi and 2 ms to area campus"
                in refused.stdout)
        assert "lab_factory (needs 1 cores, 0.3 free)" in refused.stdout
        campus("config", "set", "--path", "catalog[1].resources.dedicated_cpus", "false")
        campus("config", "set", "--path", "catalog[1].resources.cpu", "0.1")
        campus("up", "--yes")
        outputs = json.loads(campus("stack", "output", "--json").stdout)
        roles = {h["host"]: (h["role"], h["service"]) for h in outputs["plan"]["hosts"]}
        # the lab node the plant claimed stays the plant's: the DU gets the other one
        assert roles == {f"tcra-{spec.name}-node-1": ("bare-metal", "campus"),
                         "lab-hypervisor": ("hypervisor", "campus")}
        assert [(a["action"], a["cluster"]) for a in outputs["plan"]["actions"]
                if a["kind"] == "caf"] == [("reuse", f"tcra-{spec.name}")]
        assert active(f"tcra-{spec.name}-node-1") and active("upf")
        live, _xml = domain("upf")  # on the hugepages the historian left, its vCPU floating
        assert live.hugepage_kib == 2048 and live.vcpu_pins == {}
        assert http_get(outputs["endpoints"]["campus-app"]["url"])["status"] == "ok"
        rows = workload_inventory(spec)
        assert {(r["service"], r["workload"]) for r in rows} == {
            *((r["service"], r["workload"]) for r in plant_rows),
            ("campus", "du"), ("campus", "upf"), ("campus", "campus-fw"),
            ("campus", "campus-app")}
        campus("destroy", "--yes")
    assert lab_snapshot(spec, state) == plant
    assert workload_inventory(spec) == plant_rows
    pulumi("preview", "--expect-no-changes")


def prometheus(state, path: str, **params: str) -> list[dict]:
    """Prometheus' HTTP API: the data of the answer (its result, or its alerts)."""
    query = f"?{urlencode(params)}" if params else ""
    url = f"{state.monitor.prometheus_url}/api/v1/{path}{query}"  # http://127.0.0.1
    with urlopen(url, timeout=10) as answer:  # noqa: S310
        data = json.load(answer)["data"]
    return data["alerts"] if path == "alerts" else data["result"]


def alert(state, name: str) -> dict | None:
    """The plant's alert `name` once it fires."""
    return next((a for a in prometheus(state, "alerts") if a["labels"]["alertname"] == name
                 and a["labels"].get("service") == "plant" and a["state"] == "firing"), None)


def sense(spec, *args: str) -> list[str]:
    return [str(ROOT / ".venv/bin/tcra"), "sense", *args, "--lab", spec.name, "--state-root",
            str(spec.state_root)]


def test_a_congested_path_is_alerted_and_an_approved_move_brings_it_back_under_budget(
        lab_and_stack, tmp_path):
    """The loop on the deployed plant: `tcra sense serve` probes the chain from the far-edge
    users to app, `tcra sense rules` gives the lab's Prometheus app's own budget, and a
    congested underlay fires the alert within two scrape intervals of the measured round trip
    crossing it. The action agent proposes the MCO's remedy: app, and fw on its users' path,
    to lab_faredge, where the users are. Approved, they move, the chain follows to their new
    pods, the round trip is back under budget while the underlay stays congested, the alert
    clears, and nothing else moved. A downed users' link fires the loss alert; the picture
    shows both alerts and the action. The accounting is each placement's estimate times the
    time it has run."""
    spec, state, pulumi = lab_and_stack
    pulumi("up", "--yes")
    state = load_state(spec)
    config = yaml.safe_load((ROOT / "stacks/lab/Pulumi.lab.yaml").read_text())["config"]
    budget = config["tcra-lab:catalog"][catalog_index("app")]["max_latency_ms"]
    written = subprocess.run(sense(spec, "rules"), capture_output=True, text=True, timeout=60,
                             check=True).stdout
    assert "Prometheus" in written and "reloaded" in written
    serving = subprocess.Popen(sense(spec, "serve", "--probe", "plant/app", "--every", "2"),
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    acting = subprocess.Popen(  # the agent Alertmanager sends to, on this stack
        [str(ROOT / ".venv/bin/tcra"), "actions", "serve", "--lab", spec.name, "--state-root",
         str(spec.state_root), "--stack", str(pulumi.project), "--stack-name", "lab"],
        env=pulumi.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    impair = [str(ROOT / ".venv/bin/tcra"), "lab", "impair", "--name", spec.name,
              "--state-root", str(spec.state_root)]
    repair = [str(ROOT / ".venv/bin/tcra"), "lab", "repair", "--name", spec.name,
              "--state-root", str(spec.state_root)]
    try:
        def probed() -> list[dict]:
            return prometheus(state, "query", query="tcra_probe_rtt_ms")
        assert wait_until(probed, 30, interval=1)
        [healthy] = probed()
        assert float(healthy["value"][1]) < budget
        assert alert(state, "TcraLatencyBudgetExceeded") is None

        store = Store(load(state.inventory).store)
        before = accrued(store, time.time())
        with urlopen(f"http://127.0.0.1:{state.monitor.sense_port}/metrics",
                     timeout=10) as answer:
            scraped = answer.read().decode()
        after = accrued(store, time.time())
        [cost] = [float(line.split()[-1]) for line in scraped.splitlines()
                  if line.startswith('tcra_tenant_cost_eur_total{tenant="default"}')]
        assert before["default"] <= cost <= after["default"], (before, cost, after)

        congested = time.time()
        subprocess.run([*impair, "--link", "underlay"], check=True, timeout=60)
        try:
            assert wait_until(lambda: alert(state, "TcraLatencyBudgetExceeded"), 60, interval=1)
            fired = alert(state, "TcraLatencyBudgetExceeded")
            # when the round trip Prometheus scraped first crossed the budget
            [series] = prometheus(state, "query_range", query="tcra_probe_rtt_ms",
                                  start=str(congested), end=str(time.time()), step="1")
            crossed = min(float(t) for t, v in series["values"] if float(v) > budget)
            active_at = datetime.fromisoformat(fired["activeAt"].replace("Z", "+00:00"))
            assert active_at.timestamp() - crossed <= 2 * 5 + 1, (crossed, fired)
            assert fired["labels"]["workload"] == "app"
            # the agent previews the plant placed on the measured round trip: app and fw to
            # the users' site, and nothing else
            actions = ActionStore(load(state.inventory).store)

            def new_actions():  # the lab's store keeps those of earlier runs
                return [a for a in actions.actions() if a.created >= congested]
            assert wait_until(new_actions, 120, interval=1), "no action for the alert"
            [action] = new_actions()
            assert (action.service, action.workload, action.measurement.site) == (
                "plant", "app", "lab_factory")
            assert action.measurement.rtt_ms > budget
            assert action.state is ActionState.PROPOSED, action
            assert [step for step in action.preview if step.startswith(("move", "remove"))] == [
                "move app: lab_factory -> lab_faredge", "move fw: lab_factory -> lab_faredge"]
            rows = {(r["workload"], r["site"]) for r in workload_inventory(spec)}
            approved = subprocess.run(
                [str(ROOT / ".venv/bin/tcra"), "actions", "approve", action.id, "--lab",
                 spec.name, "--state-root", str(spec.state_root), "--stack",
                 str(pulumi.project), "--stack-name", "lab", "--by", "e2e"],
                env=pulumi.env, capture_output=True, text=True, timeout=900)
            assert approved.returncode == 0, approved.stdout + approved.stderr
            assert actions.action(action.id).state is ActionState.APPLIED
            outputs = json.loads(pulumi("stack", "output", "--json").stdout)
            sids = dict(re.findall(r"(\w+) @ lab_faredge \(([0-9a-f:]+)\)", outputs["chain"]))
            assert set(sids) == {"fw", "app"}, outputs["chain"]
            assert end_x(state, "lab_faredge") == ready_pod_address(state, "fw")
            reached, seen = traffic(state, inside={w: entering_pod(state, w) for w in sids})
            assert reached and srv6_destinations(seen["fw"]) == {sids["app"]}
            assert {(r["workload"], r["site"]) for r in workload_inventory(spec)} == {
                (w, "lab_faredge") if w in sids else (w, site) for w, site in rows}
            # still congested: the probe's round trip is back under budget, the alert clears
            assert wait_until(lambda: float(probed()[0]["value"][1]) < budget, 60, interval=1)
            assert wait_until(lambda: alert(state, "TcraLatencyBudgetExceeded") is None, 60,
                              interval=1)
        finally:
            subprocess.run(repair, check=True, timeout=60)

        subprocess.run([*impair, "--link", "users", "--down"], check=True, timeout=60)
        try:
            assert wait_until(lambda: alert(state, "TcraChainLosesPackets"), 60, interval=1)
        finally:
            subprocess.run(repair, check=True, timeout=60)
        assert wait_until(lambda: alert(state, "TcraChainLosesPackets") is None, 60, interval=1)

        drawn = subprocess.run(sense(spec, "picture", "plant/app", "--out",
                                     str(tmp_path / "latency.svg"), "--minutes", "10"),
                               capture_output=True, text=True, timeout=120, check=True).stdout
        assert int(re.search(r"(\d+) alert\(s\) fired", drawn)[1]) >= 2, drawn
        assert int(re.search(r"(\d+) action event\(s\)", drawn)[1]) >= 3, drawn
        svg = (tmp_path / "latency.svg").read_text()
        assert all(name in svg for name in (
            "TcraLatencyBudgetExceeded", "TcraChainLosesPackets", f"budget {budget} ms",
            "proposed (agent)", "approved (e2e)", "applied (agent)"))
    finally:
        serving.terminate()
        acting.terminate()
        output, _ = serving.communicate(timeout=30)
        agent_output, _ = acting.communicate(timeout=30)
        pulumi("destroy", "--yes")  # the other tests start from the plant as the MCO places it
    assert serving.returncode == 0, output
    assert acting.returncode == 0, agent_output


def accrued(store: Store, now: float) -> dict[str, float]:
    """Per tenant, the estimates times the hours each placement has run by `now`, and what
    the runs that ended cost."""
    total = {tenant: cost for tenant, (cost, _carbon) in store.ended().items()}
    for run in store.running():
        total[run.tenant] = total.get(run.tenant, 0.0) + (
            run.placement.cost_per_hour * (now - run.since) / 3600)
    return total
