"""stacks/workload-lab through the real engine and pulumi-kubernetes' helm.v3.Release, onto
the lab's site cluster (a real node): install, endpoints that answer (MQTT publish/subscribe,
HTTP GET), upgrade, failed installs and upgrades undone, a chart with a CRD and a hook, drift
by hand repaired, delete, and bad input that fails in seconds touching nothing."""

import json
import re
import shutil
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from tcra.inventory import load
from tcra.lab.kube import binaries
from tcra.mcm.chart import Chart, source_problem, trust_env
from tcra.model import SiteCluster
from tests.conftest import ROOT
from tests.e2e.test_pim_stack import pulumi_project
from tests.integration.conftest import needs_lab

pytestmark = [pytest.mark.lab, needs_lab]
REGISTRY = "127.0.0.1:5443"
BROKER = {"name": "wl-broker", "chart": f"oci://{REGISTRY}/charts/mqtt-broker",
          "version": "0.1.0", "namespace": "wl-broker", "create_namespace": True, "timeout": 60,
          "endpoint": {"kind": "pod"}}  # mqtt://: the Service port's appProtocol
GATEWAY = {"name": "wl-gateway", "chart": f"oci://{REGISTRY}/charts/opcua-gateway",
           "version": "0.1.0", "namespace": "wl-gateway", "create_namespace": True,
           "timeout": 60, "endpoint": {"kind": "pod"}}
CRD_HOOK = {"name": "wl-crd-hook", "chart": str(ROOT / "tests" / "charts" / "crd-hook"),
            "version": "0.1.0", "namespace": "wl-crd-hook", "create_namespace": True,
            "timeout": 60, "endpoint": "none"}
PLC = "opc.tcp://plc-01.line-3:4840"
FAILING = 20  # seconds: the timeout of the releases meant to fail
MISSING_TAG = {"image": {"tag": "does-not-exist"}}


@dataclass(frozen=True)
class Lab:
    inventory: Path
    cluster: SiteCluster

    @property
    def trust(self) -> Path:
        """A folder holding the lab's CA only, for SSL_CERT_DIR."""
        assert self.cluster.registry_ca is not None
        return self.cluster.registry_ca.parent


@pytest.fixture(scope="module")
def lab(kubernetes_lab) -> Lab:
    """Site lab_factory's cluster, of the tests' Kubernetes lab (TCRA_TEST_LAB=lab: the lab
    already up)."""
    inventory = kubernetes_lab.get().inventory
    cluster = load(inventory).site("lab_factory").cluster
    assert cluster is not None, "the lab's inventory records no cluster for lab_factory"
    return Lab(inventory, cluster)


@pytest.fixture(scope="module")
def stack(lab, tmp_path_factory):
    """The stack, run with the lab's CA trusted by Go (the provider pulls the oci:// charts and
    ignores caFile for them)."""
    with pulumi_project(tmp_path_factory.mktemp("workload-stack"), "workload-lab",
                        {"inventory": str(lab.inventory)},
                        env=trust_env(lab.trust)) as run:
        yield run


def kubectl(lab, *args: str) -> str:
    done = subprocess.run([binaries.find().kubectl(), "--kubeconfig",
                           str(lab.cluster.kubeconfig),
                           "--request-timeout", "30s", *args],
                          capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args)}: {done.stderr}")
    return done.stdout


def up(stack, *releases: dict, check: bool = True) -> subprocess.CompletedProcess[str]:
    stack("config", "set", "releases", json.dumps(list(releases)))
    return stack("up", "--yes", check=check)


def outputs(stack) -> dict:
    return json.loads(stack("stack", "output", "releases", "--json").stdout)


def with_values(release: dict, **changes) -> dict:
    return {**release, **changes}


def helm_revisions(lab, release: dict) -> dict[int, str]:
    """The release's revisions as Helm records them (its Secrets): number -> status."""
    found = json.loads(kubectl(lab, "get", "secrets", "-n", release["namespace"], "-o", "json",
                               "-l", f"owner=helm,name={release['name']}"))["items"]
    return {int(s["metadata"]["labels"]["version"]): s["metadata"]["labels"]["status"]
            for s in found}


def names(lab, kind: str, namespace: str) -> list[str]:
    return kubectl(lab, "get", kind, "-n", namespace, "-o", "name").split()


def ready_pods(lab, namespace: str) -> set[str]:
    """Pods Ready and not being deleted."""
    pods = json.loads(kubectl(lab, "get", "pods", "-n", namespace, "-o", "json"))["items"]
    return {p["metadata"]["name"] for p in pods if "deletionTimestamp" not in p["metadata"]
            and any(c["type"] == "Ready" and c["status"] == "True"
                    for c in p["status"].get("conditions", []))}


def namespaces(lab) -> set[str]:
    return {n.removeprefix("namespace/") for n in kubectl(lab, "get", "namespaces", "-o",
                                                          "name").split()}


def mqtt_round_trip(url: str) -> str:
    """A message published through the broker at `url` (mqtt://host:port) and received by a
    subscriber; published again until it arrives (the subscriber may not be subscribed yet)."""
    address = urlsplit(url)
    assert address.scheme == "mqtt", url
    where = ["-h", str(address.hostname), "-p", str(address.port), "-t", "tcra/e2e"]
    receiver = subprocess.Popen(["mosquitto_sub", *where, "-C", "1", "-W", "20"],
                                stdout=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        while receiver.poll() is None and time.monotonic() < deadline:
            subprocess.run(["mosquitto_pub", *where, "-m", "line-3 temperature 21.5"],
                           check=True, timeout=10)
            time.sleep(0.5)
        out, _ = receiver.communicate(timeout=25)
    finally:
        receiver.kill()
    return out.strip()


def http_get(url: str) -> dict:
    assert urlsplit(url).scheme == "http", url
    with urllib.request.urlopen(url, timeout=10) as answer:  # noqa: S310 - http, checked above
        return json.loads(answer.read())


def gateway_env(lab) -> dict[str, str]:
    deployment = json.loads(kubectl(lab, "get", "deployment", GATEWAY["name"], "-n",
                                    GATEWAY["namespace"], "-o", "json"))
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e.get("value", "") for e in container.get("env", [])} | {
        "image": container["image"]}


# Tests run in random order: each one first brings the stack to the state it starts from.


def test_install_endpoints_that_answer_changes_by_hand_repaired_and_a_clean_destroy(
        stack, lab):
    stack("destroy", "--yes")
    up(stack, BROKER, GATEWAY)
    released = outputs(stack)
    for name in ("wl-broker", "wl-gateway"):
        assert released[name]["revision"] == 1 and released[name]["status"] == "deployed"
        assert urlsplit(released[name]["endpoint"]).hostname.startswith("10.244.")  # a pod
    assert mqtt_round_trip(released["wl-broker"]["endpoint"]) == "line-3 temperature 21.5"
    assert http_get(released["wl-gateway"]["endpoint"]) == {"service": "opcua-gateway",
                                                            "status": "ok"}
    stack("preview", "--expect-no-changes")

    # Objects changed by hand show in refresh, and up repairs them.
    kubectl(lab, "scale", "deployment", "wl-broker", "-n", "wl-broker", "--replicas", "0")
    kubectl(lab, "delete", "service", "wl-gateway", "-n", "wl-gateway")
    refreshed = stack("refresh", "--yes", "--diff").stdout
    assert "Deployment wl-broker/wl-broker: spec.replicas is 0, the release says 1" in refreshed
    assert "Service wl-gateway/wl-gateway: missing" in refreshed
    assert stack("preview", "--expect-no-changes", check=False).returncode != 0
    stack("up", "--yes")
    released = outputs(stack)
    assert released["wl-broker"]["drift"] == released["wl-gateway"]["drift"] == []
    assert mqtt_round_trip(released["wl-broker"]["endpoint"]) == "line-3 temperature 21.5"
    assert http_get(released["wl-gateway"]["endpoint"])["status"] == "ok"
    assert names(lab, "services", "wl-gateway") == ["service/wl-gateway"]
    stack("preview", "--expect-no-changes")

    stack("destroy", "--yes")
    left = namespaces(lab)
    for release in (BROKER, GATEWAY):
        assert release["namespace"] not in left
        for kind in ("secrets", "pods"):  # Helm's record of the release; the release's pods
            assert kubectl(lab, "get", kind, "-A", "-o", "name", "-l",
                           f"name={release['name']},owner=helm" if kind == "secrets" else
                           f"app.kubernetes.io/instance={release['name']}").strip() == ""


def test_upgrade_by_values_and_failed_install_and_upgrade_are_undone(stack, lab):
    up(stack, BROKER, GATEWAY)
    before = outputs(stack)["wl-gateway"]["revision"]
    up(stack, BROKER, with_values(GATEWAY, values={"opcua": {"endpoints": [PLC]}}))
    upgraded = outputs(stack)["wl-gateway"]
    assert upgraded["revision"] == before + 1 and upgraded["status"] == "deployed"
    assert gateway_env(lab)["OPCUA_ENDPOINTS"] == PLC
    assert http_get(upgraded["endpoint"])["status"] == "ok"
    pods = ready_pods(lab, GATEWAY["namespace"])

    # An upgrade to an image that is not in the registry, and a new release of one, in one up.
    new = with_values(BROKER, name="wl-no-image", namespace="wl-no-image", values=MISSING_TAG,
                      timeout=FAILING)
    started = time.monotonic()
    failed = up(stack, BROKER, with_values(
        GATEWAY, values={"opcua": {"endpoints": [PLC]}, **MISSING_TAG}, timeout=FAILING), new,
        check=False)
    elapsed = time.monotonic() - started
    printed = failed.stdout + failed.stderr
    assert failed.returncode != 0
    assert elapsed < FAILING + 90, elapsed  # bounded by the timeout, never a hang
    assert "release wl-gateway failed, and has been rolled back due to atomic being set" in printed
    assert "release wl-no-image failed, and has been uninstalled due to atomic being set" in printed
    # The cause, read from the cluster before Helm undid the release: one line each.
    causes = {line[line.index("error: Workload "):].strip() for line in printed.splitlines()
              if "error: Workload " in line and " not Ready within " in line}
    cause = re.compile(
        rf"error: Workload (wl-gateway|wl-no-image) \(release \1 in \1 on cluster https://\S+"
        rf" \({re.escape(lab.cluster.name)}\)\): not Ready within {FAILING - 3}s: pod \1-\S+:"
        rf" container \S+: (ImagePullBackOff|ErrImagePull): {REGISTRY}/tcra/\S+:does-not-exist"
        r" \(.*not found\)")
    assert {m[1] if (m := cause.fullmatch(line)) else line for line in causes} == {
        "wl-gateway", "wl-no-image"}, printed
    assert outputs(stack)["wl-gateway"] == upgraded  # the last good up's
    revisions = helm_revisions(lab, GATEWAY)
    newest = max(revisions)
    assert revisions[newest] == "deployed" and revisions[newest - 1] == "failed"
    rolled_back = gateway_env(lab)
    assert rolled_back["OPCUA_ENDPOINTS"] == PLC
    assert rolled_back["image"] == f"{REGISTRY}/tcra/opcua-gateway:0.1.0"
    assert ready_pods(lab, GATEWAY["namespace"]) == pods  # the old pod, never replaced
    assert http_get(upgraded["endpoint"])["status"] == "ok"
    assert helm_revisions(lab, new) == {}  # no half-made release
    assert names(lab, "deployments,replicasets,pods,services", "wl-no-image") == []


def test_a_chart_with_a_crd_and_a_pre_install_hook_installs_and_deletes_cleanly(stack, lab):
    up(stack, BROKER, GATEWAY)
    up(stack, BROKER, GATEWAY, CRD_HOOK)
    namespace = CRD_HOOK["namespace"]
    assert outputs(stack)["wl-crd-hook"] == {"endpoint": None, "revision": 1,
                                             "status": "deployed", "drift": []}
    widget = json.loads(kubectl(lab, "get", "widgets.tcra.example", "wl-crd-hook", "-n",
                                namespace, "-o", "json"))
    assert widget["spec"] == {"size": 3}
    assert names(lab, "jobs,pods", namespace) == []  # the hook ran, and was deleted (succeeded)
    up(stack, BROKER, GATEWAY)
    # Deleted cleanly: the release, its objects, its hook and its namespace are gone. Helm
    # never deletes a CRD from crds/ (other releases' objects of that kind would go with it):
    # it stays, with no objects left of its kind, and the next install uses it again.
    assert namespace not in namespaces(lab)
    assert kubectl(lab, "get", "widgets.tcra.example", "-A", "-o", "name").strip() == ""
    assert kubectl(lab, "get", "crd", "widgets.tcra.example", "-o", "name").strip()
    assert set(outputs(stack)) == {"wl-broker", "wl-gateway"}


def resources(stack) -> list[str]:
    exported = json.loads(stack("stack", "export").stdout)
    return sorted(r["urn"] for r in exported["deployment"].get("resources") or ()
                  if r["type"] != "pulumi:pulumi:Stack")  # made by any up, even one that fails


def fails_fast(stack, *releases: dict) -> str:
    """One up of `releases`, which must fail in seconds changing nothing: its message."""
    before = resources(stack)
    started = time.monotonic()
    failed = up(stack, *releases, check=False)
    elapsed = time.monotonic() - started
    assert failed.returncode != 0
    assert elapsed < 120, elapsed  # bounded: asked in seconds, never a hang until Helm's timeout
    assert resources(stack) == before
    return next(line.strip() for line in failed.stdout.splitlines()
                if line.strip().startswith("error: Workload "))


def test_a_chart_version_that_does_not_exist_fails_in_seconds_touching_nothing(stack, lab):
    missing = with_values(BROKER, name="wl-missing", namespace="wl-missing", version="9.9.9")
    message = fails_fast(stack, missing)
    assert message.startswith("error: Workload wl-missing (release wl-missing in wl-missing on"
                              " cluster https://127.0.0.1:")
    assert f"({lab.cluster.name})): " in message
    assert message.endswith(f"the registry {REGISTRY} has no chart"
                            " charts/mqtt-broker:9.9.9 (no such manifest)")
    assert "wl-missing" not in namespaces(lab)


def test_an_unreachable_cluster_fails_in_seconds_touching_nothing(stack, lab, tmp_path):
    closed = tmp_path / "closed.kubeconfig"  # the same kubeconfig, its server on a closed port
    kubeconfig = lab.cluster.kubeconfig
    config = yaml.safe_load(kubeconfig.read_text())
    config["clusters"][0]["cluster"]["server"] = "https://127.0.0.1:1"
    closed.write_text(yaml.safe_dump(config))
    inventory = tmp_path / "inventory"
    shutil.copytree(lab.inventory, inventory)
    variables = inventory / "group_vars" / "lab_factory.yml"
    variables.write_text(variables.read_text().replace(str(kubeconfig), str(closed)))
    stack("config", "set", "inventory", str(inventory))
    try:
        message = fails_fast(stack, BROKER)
    finally:
        stack("config", "set", "inventory", str(lab.inventory))
    assert message == ("error: Workload wl-broker (release wl-broker in wl-broker on cluster"
                       f" https://127.0.0.1:1 ({lab.cluster.name})): the API server does not"
                       " answer, or is not ready (GET /readyz within 5 s)")


def test_the_shipped_lab_config_names_charts_the_registry_serves(lab, monkeypatch):
    for name, value in trust_env(lab.trust).items():  # as scripts/deploy-lab runs the engine
        monkeypatch.setenv(name, value)
    shipped = yaml.safe_load((ROOT / "stacks" / "workload-lab" / "Pulumi.lab.yaml").read_text())
    for release in shipped["config"]["tcra-workload-lab:releases"]:
        chart = Chart(chart=release["chart"], version=release["version"])
        assert source_problem(chart, ca=lab.cluster.registry_ca) is None
