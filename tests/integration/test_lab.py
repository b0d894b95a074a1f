"""The lab against its real peers: libvirtd, KVM domains and sushy-tools' Redfish emulator."""

import ipaddress
import json
import ssl
import subprocess
import sys
import time
from pathlib import Path

import libvirt
import pytest
import requests
import sushy
import yaml
from cryptography import x509

from tcra import lab
from tcra.api.auth import ensure_signing_key, token
from tcra.bmc import BmcError, power_state
from tcra.inventory import load
from tcra.lab import bmc as lab_bmc
from tcra.lab import tls, vip
from tcra.lab.fabric import underlay
from tcra.lab.impair import impairments
from tcra.lab.monitor import ready
from tcra.lab.processes import alive
from tcra.lab.spec import LabSpec, load_state
from tcra.sense.probe import ProbeError, ProbeResult, ProbeTarget, probe
from tests.integration.api_server import serving
from tests.integration.conftest import needs_lab, running_lab, up_or_clean

pytestmark = [pytest.mark.lab, pytest.mark.alone, needs_lab]
TCRA = str(Path(sys.executable).parent / "tcra")


@pytest.fixture(scope="module")
def spec(tmp_path_factory):
    with running_lab(tmp_path_factory.mktemp("lab"), "citest", nodes=3) as spec:
        yield spec


def domains(prefix: str) -> list[str]:
    conn = libvirt.open("qemu:///system")
    try:
        return sorted(d.name() for d in conn.listAllDomains() if d.name().startswith(prefix))
    finally:
        conn.close()


def test_fabric_is_in_the_inventory_and_its_namespaces_exist(spec):
    fabric = load(spec.inventory).fabric
    assert fabric is not None
    assert {h.name for h in fabric.hbrs} == {"lab_factory", "lab_faredge"}
    assert {e.workload for e in fabric.endpoints} == {"fw", "upf", "app"}
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True,
                            check=True).stdout
    assert all(h.namespace in listed for h in fabric.hbrs)


def test_status_lists_every_node_behind_an_answering_bmc(spec):
    report = lab.status(spec)
    assert report.running and report.bmc_answers
    assert [n.name for n in report.nodes] == [f"tcra-citest-node-{i}" for i in range(3)]
    assert {n.site for n in report.nodes} == {"lab_factory", "lab_faredge"}
    assert {n.power for n in report.nodes} == {"shut off"}


def test_status_cli_json_matches(spec):
    result = subprocess.run([TCRA, "lab", "status", "--json", "--name", spec.name,
                             "--state-root", str(spec.state_root)],
                            capture_output=True, text=True, check=True, timeout=60)
    report = json.loads(result.stdout)
    assert report["bmc_url"].startswith("https://127.0.0.1:")
    assert len(report["nodes"]) == 3


def test_emulator_serves_redfish_for_each_node_and_powers_the_domain(spec):
    state = load_state(spec)
    root = sushy.Sushy(f"{state.bmc.url}/redfish/v1", username=state.bmc.username,
                       password=lab_bmc.read_password(spec), verify=str(state.bmc.ca_bundle))
    listed = {member.identity for member in root.get_system_collection().get_members()}
    assert listed == {node.uuid for node in state.nodes}
    conn = libvirt.open("qemu:///system")
    try:
        for node in state.nodes:
            system = root.get_system(f"/redfish/v1/Systems/{node.uuid}")
            assert system.name == node.name
            assert system.power_state == sushy.PowerState.OFF
            system.reset_system(sushy.ResetType.ON)
            assert conn.lookupByName(node.name).isActive()
            system.reset_system(sushy.ResetType.FORCE_OFF)
            assert not conn.lookupByName(node.name).isActive()
    finally:
        conn.close()


def test_inventory_loads_and_hosts_cli_reads_live_power(spec):
    inventory = load(spec.inventory)
    assert {h.site for h in inventory.hosts} == {"lab_factory", "lab_faredge"}
    result = subprocess.run([TCRA, "hosts", str(spec.inventory), "--json"],
                            capture_output=True, text=True, check=True, timeout=120)
    readings = json.loads(result.stdout)
    assert [(r["host"], r["power"], r["error"]) for r in readings] == [
        (f"tcra-citest-node-{i}", "Off", None) for i in range(3)]


def test_wrong_password_fails_at_once_naming_host_and_bmc(spec, monkeypatch):
    host = load(spec.inventory).hosts[0]
    monkeypatch.setenv("TCRA_TEST_WRONG", "wrong")
    wrong = host.model_copy(update={"bmc": host.bmc.model_copy(update={
        "credentials": host.bmc.credentials.model_copy(update={"password": "env:TCRA_TEST_WRONG"})
    })})
    with pytest.raises(BmcError) as caught:
        power_state(wrong)
    message = str(caught.value)
    assert message.startswith(f"host {host.name}: BMC {host.bmc.address}: access denied (HTTP 401)")
    assert "wrong" not in message.replace("TCRA_TEST_WRONG", "")


def test_unknown_system_is_named(spec):
    host = load(spec.inventory).hosts[0]
    ghost = host.model_copy(update={"bmc": host.bmc.model_copy(update={"system_id": "no-such"})})
    with pytest.raises(BmcError, match=r"Resource https://127\.0\.0\.1:\d+/redfish/v1/Systems/no-su"):
        power_state(ghost)


def test_bmc_serves_https_from_the_lab_ca_and_the_inventory_carries_it(spec):
    state = load_state(spec)
    files = tls.files(lab_bmc.tls_folder(spec))
    assert state.bmc.url.startswith("https://127.0.0.1:")
    assert state.bmc.ca_bundle == files.ca_bundle
    assert {oct(path.stat().st_mode & 0o777) for path in (files.ca_key, files.key)} == {"0o600"}
    ca = x509.load_pem_x509_certificate(files.ca_bundle.read_bytes())
    served = x509.load_pem_x509_certificate(ssl.get_server_certificate(
        ("127.0.0.1", state.bmc.port)).encode())
    served.verify_directly_issued_by(ca)
    assert served.extensions.get_extension_for_class(x509.SubjectAlternativeName).value \
        .get_values_for_type(x509.IPAddress) == [ipaddress.IPv4Address("127.0.0.1")]
    assert {(h.bmc.address, h.bmc.ca_bundle, h.bmc.verify_tls)
            for h in load(spec.inventory).hosts} == {(state.bmc.url, files.ca_bundle, True)}
    with pytest.raises(requests.exceptions.SSLError, match="CERTIFICATE_VERIFY_FAILED"):
        requests.get(f"{state.bmc.url}/redfish/v1/", timeout=10)  # the system's CAs: refused
    assert requests.get(f"{state.bmc.url}/redfish/v1/", verify=str(files.ca_bundle),
                        timeout=10).status_code == 200


def test_vms_get_hugepages_a_network_and_a_base_image(spec):
    state = load_state(spec)
    assert state.hugepages.count == 256
    assert int(Path("/proc/sys/vm/nr_hugepages").read_text()) >= 256
    assert "hugetlbfs" in Path("/proc/mounts").read_text()
    [hypervisor] = load(spec.inventory).hypervisors
    assert (hypervisor.name, hypervisor.site) == ("lab-hypervisor", "lab_factory")
    assert hypervisor.capabilities.hugepages[0].count == state.hugepages.total
    conn = libvirt.open("qemu:///system")
    try:
        assert conn.networkLookupByName(vip.network_name(spec)).isActive()
        pool = conn.storagePoolLookupByName(f"{spec.prefix}pool")
        volume = pool.storageVolLookupByName(vip.base_image_name(spec))
        assert Path(volume.path()).read_bytes().startswith(vip.BASE_MARKER)
    finally:
        conn.close()


def test_ansible_sees_the_routers_and_the_hypervisor_by_role(spec):
    listed = subprocess.run([str(Path(sys.executable).parent / "ansible-inventory"), "-i",
                             str(spec.inventory), "--list"], capture_output=True, text=True,
                            check=True, timeout=60)
    groups = json.loads(listed.stdout)
    assert groups["hypervisors"]["hosts"] == ["lab-hypervisor"]
    assert sorted(groups["hbr"]["hosts"]) == [f"{spec.prefix}hbr-factory",
                                              f"{spec.prefix}hbr-faredge"]
    router = groups["_meta"]["hostvars"][f"{spec.prefix}hbr-factory"]
    assert router["hbr_netns"] == f"{spec.prefix}hbr-factory"
    assert router["hbr_purge_routes"] is False


def test_up_again_duplicates_nothing(spec):
    before = load_state(spec)
    again = lab.up(spec)
    assert again.nodes == before.nodes
    assert again.bmc == before.bmc  # same emulator process, same port
    assert domains(spec.prefix) == [n.name for n in before.nodes]


def test_down_leaves_no_domain_process_or_file(tmp_path):
    # a lab of its own: the module's lab stays up for the other tests, in any order
    spec = LabSpec(name="citdown", nodes=1, state_root=tmp_path / "state",
                   inventory=tmp_path / "inventory", kubernetes=False)
    up_or_clean(spec)
    state = load_state(spec)
    processes = [state.bmc.process, *state.hypervisor.started]
    monitoring = [state.monitor.prometheus, state.monitor.alertmanager]
    assert all(alive(p) for p in monitoring)
    pages = int(Path("/proc/sys/vm/nr_hugepages").read_text())
    lab.down(spec)
    assert int(Path("/proc/sys/vm/nr_hugepages").read_text()) == pages - state.hugepages.count
    assert not Path(f"/sys/class/net/{vip.bridge_name(spec)}").exists()
    if state.hypervisor.started:
        assert not any(alive(p) for p in processes)
        assert not any(path.exists() for path in state.hypervisor.created_paths)
    else:  # a libvirtd we found running stays; the lab's domains do not
        assert domains(spec.prefix) == []
    assert not alive(state.bmc.process)
    assert not any(alive(p) for p in monitoring)
    assert not spec.state_dir.exists()
    assert not state.bmc.ca_bundle.parent.exists()  # the CA and its keys went with it
    namespaces = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True,
                                check=True).stdout
    assert spec.prefix not in namespaces
    assert not spec.inventory.exists()
    assert lab.down(spec) == []  # twice is fine
    assert not lab.status(spec).running


def test_tcra_serve_on_the_lab_inventory_takes_the_lab_s_tokens_and_lists_its_sites(spec):
    """The docs/api.md walkthrough's first step: the lab's key, named in its inventory, signs
    `tcra lab token`; a token of another key is refused."""
    lab_token = subprocess.run([TCRA, "lab", "token", "--tenant", "AcmeRobotics", "--name",
                                spec.name, "--state-root", str(spec.state_root)],
                               capture_output=True, text=True, check=True, timeout=60).stdout
    foreign = token(ensure_signing_key(spec.state_root / "foreign")[0],
                    f"tcra-lab-{spec.name}", "AcmeRobotics")
    with serving("--inventory", str(spec.inventory), "--workers", "0") as url:
        def zones(bearer: str) -> requests.Response:
            return requests.get(f"{url}/edge-cloud-zones", timeout=30,
                                headers={"Authorization": f"Bearer {bearer.strip()}"})
        listed = zones(lab_token)
        assert listed.status_code == 200
        assert {(z["edgeCloudZoneName"], z["edgeCloudZoneStatus"], z["countryCode"])
                for z in listed.json()["edgeCloudZones"]} == {
            ("lab_factory", "active", "DE"), ("lab_faredge", "active", "DE"),
            ("any:DE", "active", "DE")}  # the region's zone: the MCO chooses the site
        assert zones(foreign).status_code == 401


def round_trips(namespace: str, address: str, pings: int = 10) -> ProbeResult:
    """tcra sense's own probe: the round trip and loss from `namespace` to `address`."""
    return probe(ProbeTarget(service="lab", workload="hbr", namespace=namespace,
                             address=address), pings)


def test_impair_congests_or_takes_down_the_underlay_and_repair_undoes_it(spec):
    """Users at the far edge reach the factory's HBR over the underlay: a congested underlay
    (tbf and a background flow) makes them wait in its queue, a downed one loses everything,
    and repair gives back the link as it was."""
    fabric = load_state(spec).fabric
    far = underlay(fabric)["lab_factory"]
    near = {h.name: h.namespace for h in fabric.fabric.hbrs}[fabric.users_hbr]

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        command = [TCRA, "lab", args[0], "--name", spec.name, "--state-root",
                   str(spec.state_root), *args[1:]]
        return subprocess.run(command, capture_output=True, text=True, timeout=60,
                              check=False)

    base = round_trips(fabric.user_namespace, far)
    assert base.loss == 0 and base.rtt_ms is not None
    assert cli("impair", "--link", "underlay", "--rate", "200").returncode == 0
    (flow,) = [i.flow_pid for i in impairments(spec)]
    time.sleep(2)  # the flow fills tbf's queue
    congested = round_trips(fabric.user_namespace, far).rtt_ms
    assert congested is not None and congested > base.rtt_ms + 100, (base, congested)
    again = cli("impair", "--link", "underlay", "--down")
    assert again.returncode == 2 and "not impaired already" in again.stdout
    assert "underlay repaired" in cli("repair").stdout
    deadline = time.monotonic() + 10
    while Path(f"/proc/{flow}").exists():  # the flow ends (and its parent, init, reaps it)
        assert time.monotonic() < deadline, f"the background flow {flow} still runs"
        time.sleep(0.1)
    assert "tbf" not in subprocess.run(
        ["ip", "netns", "exec", near, "tc", "qdisc", "show"],
        capture_output=True, text=True, check=True).stdout
    repaired = round_trips(fabric.user_namespace, far)
    assert repaired.loss == 0 and repaired.rtt_ms is not None
    assert repaired.rtt_ms < congested / 4
    assert cli("impair", "--link", "underlay", "--down").returncode == 0
    down = round_trips(fabric.user_namespace, far, pings=3)
    assert (down.rtt_ms, down.loss) == (None, 1.0)
    assert cli("repair", "--link", "underlay").returncode == 0
    assert round_trips(fabric.user_namespace, far).loss == 0
    assert impairments(spec) == []
    with pytest.raises(ProbeError, match=r"probe lab/hbr: .*tcra-nosuch"):
        round_trips("tcra-nosuch", far, pings=1)  # a namespace that is not there


def test_prometheus_and_alertmanager_answer_on_loopback_only(spec):
    monitor = load_state(spec).monitor
    assert ready(monitor.prometheus_url) and ready(monitor.alertmanager_url)
    listening = subprocess.run(["ss", "-Hltnp"], capture_output=True, text=True, check=True,
                               timeout=10).stdout
    theirs = [line.split()[3] for line in listening.splitlines()
              if f"pid={monitor.prometheus.pid}," in line
              or f"pid={monitor.alertmanager.pid}," in line]
    assert sorted(theirs) == sorted([f"127.0.0.1:{monitor.prometheus_port}",
                                     f"127.0.0.1:{monitor.alertmanager_port}"])
    config = (monitor.folder / "prometheus.yml").read_text()
    assert f"127.0.0.1:{monitor.sense_port}" in config  # where `tcra sense serve --lab` listens
    # Alertmanager (running: it took the config) sends to the action agent's port with the
    # token only root reads
    (receiver,) = yaml.safe_load((monitor.folder / "alertmanager.yml").read_text())["receivers"]
    (webhook,) = receiver["webhook_configs"]
    assert webhook["url"] == f"http://127.0.0.1:{monitor.act_port}/alerts"
    assert webhook["http_config"]["authorization"]["credentials_file"] == str(monitor.act_token)
    assert monitor.act_token.stat().st_mode & 0o777 == 0o600
    assert len(monitor.act_token.read_text()) >= 32
