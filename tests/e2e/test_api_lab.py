"""`tcra serve` on the lab, as an application provider uses it, over HTTP with a lab token:
a Helm app and a QCOW2 app submitted, instantiated where the MCO chooses, deployed by their
own Pulumi stacks (workers of the server), the Helm one answering at the endpoint the API
reports, then removed with nothing left: no release, no domain, no record in the workload
inventory, no stack; the server killed mid-deployment, and its successor finishing the job;
an app deployment of a CONTAINER app (an image in tcra's container-app chart), answering at
its endpoint, whose sink hears its instance ready and the deployment's end."""

import contextlib
import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import libvirt
import pytest

from tcra.api.app import BASE
from tcra.api.auth import token
from tcra.api.schemas import DEPLOYMENT_EVENT, ENDED_EVENT
from tcra.api.zones import region, region_zone_id, zone_id
from tcra.inventory import load
from tcra.lab import tls
from tcra.lab.issuer import issuer, signing_key
from tcra.lab.kube import binaries
from tcra.lab.kube.images import function_image
from tcra.lab.processes import free_port
from tcra.lab.spec import LabSpec
from tcra.mco.store import Store
from tests.conftest import ROOT
from tests.e2e.test_pim_stack import engine
from tests.integration.conftest import needs_lab
from tests.integration.https_sink import sink

pytestmark = [pytest.mark.lab, needs_lab]
TENANT = "LabRobotics"
CHART = "oci://127.0.0.1:5443/charts/chain-function"
IMAGE = function_image().reference  # the lab's httpd: / and /healthz on 8080
RUN = uuid.uuid4().hex[:6]
DEPLOYED_S = 240  # an instance's stack, from nothing to ready (or gone)


@pytest.fixture(scope="module")
def spec(kubernetes_lab) -> LabSpec:
    return kubernetes_lab.get()


class Api:
    """An application provider's view: a base URL and its bearer token."""

    def __init__(self, url: str, bearer: str) -> None:
        self.url, self.bearer = url, bearer

    def call(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
        request = urllib.request.Request(  # noqa: S310 - http://127.0.0.1
            f"{self.url}{path}", method=method, headers={
                "Authorization": f"Bearer {self.bearer}", "Content-Type": "application/json"},
            data=json.dumps(body).encode() if body is not None else None)
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310
                text = answer.read()
                return answer.status, json.loads(text) if text else {}
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"{}")

    def until(self, instance: str, wanted: str | None) -> dict:
        """The instance once its status is `wanted` (None: once it is gone)."""
        deadline = time.monotonic() + DEPLOYED_S
        while True:
            status, shown = self.call("GET", f"/app-instances/{instance}")
            if (wanted is None and status == 404) or shown.get("status") == wanted:
                return shown
            assert shown.get("status") != "failed", shown.get("reason")
            assert time.monotonic() < deadline, f"still {shown} after {DEPLOYED_S} s"
            time.sleep(1)


@contextmanager
def serving(spec: LabSpec, state: Path, *more: str
            ) -> Iterator[tuple[Api, subprocess.Popen[str]]]:
    """`tcra serve` on the lab's inventory (and `more` options), in a process group of its own
    (killable with its workers' pulumi processes); its log must hold no traceback."""
    port = free_port()
    log = (state / "serve.log").open("a")
    server = subprocess.Popen(
        [str(ROOT / ".venv/bin/tcra"), "serve", "--inventory", str(spec.inventory),
         "--port", str(port), "--state", str(state), *more], stdout=log, stderr=subprocess.STDOUT,
        text=True, start_new_session=True,
        env={**os.environ, "PATH": f"{engine()}{os.pathsep}{os.environ['PATH']}"})
    bearer = token(signing_key(spec), issuer(spec).issuer, TENANT)
    api = Api(f"http://127.0.0.1:{port}{BASE}", bearer)
    deadline = time.monotonic() + 30
    while not _answers(api):
        assert server.poll() is None and time.monotonic() < deadline, (state / "serve.log"
                                                                      ).read_text()[-3000:]
        time.sleep(0.3)
    try:
        yield api, server
    finally:
        if server.poll() is None:
            server.terminate()
            server.wait(timeout=60)
        log.close()
    assert "Traceback" not in (state / "serve.log").read_text()


def _answers(api: Api) -> bool:
    try:
        api.call("GET", "/apps")
    except OSError:
        return False
    return True


def descendants(pid: int) -> list[int]:
    """The process's children, theirs, and so on: the worker's `pulumi` and the plugins it
    started, each in a process group of its own."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        children = parents.get(todo.pop(), [])
        found += children
        todo += children
    return found


def crash(pid: int) -> None:
    """The server and everything it started killed at once, as a machine failing would."""
    for each in [pid, *descendants(pid)]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(each, signal.SIGKILL)


def helm_app(name: str, cpu: int = 1) -> dict:
    """A Helm app, named `name` and a suffix of this run's (a lab kept up between runs keeps
    what a failed run submitted)."""
    return {"name": f"{name}_{RUN}", "appProvider": TENANT, "version": "0.1.0",
            "packageType": "HELM",
            "appRepo": {"type": "PUBLICREPO", "imagePath": CHART},
            "requiredResources": {"infraKind": "kubernetes", "isStandalone": False,
                                  "applicationResources": {"cpuPool": {
                                      "numCPU": cpu, "memory": 16, "topology": {
                                          "minNumberOfNodes": 1, "minNodeCpu": 1,
                                          "minNodeMemory": 16}}}},
            "componentSpec": [{"componentName": "web", "networkInterfaces": [
                {"interfaceId": "http", "protocol": "TCP", "port": 8080,
                 "visibilityType": "VISIBILITY_EXTERNAL"}]}]}


def answers(instance: dict) -> None:
    """The instance's one endpoint answers its health check (the lab's httpd)."""
    (endpoint,) = instance["componentEndpointInfo"]
    points = endpoint["accessPoints"]
    address = (points.get("ipv4Addresses") or points["ipv6Addresses"])[0]
    host = f"[{address}]" if ":" in address else address
    with urllib.request.urlopen(f"http://{host}:{points['port']}/healthz",
                                timeout=10) as answer:
        assert answer.status == 200


def releases(spec: LabSpec) -> list[str]:
    cluster = load(spec.inventory).site("lab_factory").cluster
    assert cluster is not None
    done = subprocess.run([str(binaries.find().helm / "helm"), "--kubeconfig",
                           str(cluster.kubeconfig), "list", "--all", "--all-namespaces",
                           "--short"],
                          capture_output=True, text=True, timeout=60, check=True)
    return done.stdout.split()


def placements(spec: LabSpec, instance: str) -> list:
    return [p for p in Store(load(spec.inventory).store).usage().placements
            if p.service == f"app-{instance}"]


def test_a_helm_app_is_placed_deployed_answers_at_its_endpoint_and_goes(spec, tmp_path):
    """The MCO chooses the site in the lab's region; the server is killed while its worker
    installs the release, and the next one finishes it: one release, which answers."""
    with serving(spec, tmp_path) as (api, server):
        status, zones = api.call("GET", "/edge-cloud-zones?perPage=100")
        assert status == 200
        named = {z["edgeCloudZoneName"]: z for z in zones["edgeCloudZones"]}
        assert named["lab_factory"]["clusters"][0]["name"]
        status, app = api.call("POST", "/apps", helm_app("web_api"))
        assert status == 201, app
        status, asked = api.call("POST", "/app-instances", {
            "name": f"web_{RUN}", "appId": app["appId"],
            "edgeCloudZoneId": region_zone_id(named["lab_factory"]["edgeCloudRegion"])})
        assert status == 202, asked
        assert asked["edgeCloudZoneId"] == zone_id("lab_factory")  # the MCO's choice
        instance = asked["appInstanceId"]
        release = f"web-api-{RUN}-{instance[:8]}"
        deadline = time.monotonic() + DEPLOYED_S
        while release not in releases(spec):  # the worker's `up` is installing it
            assert time.monotonic() < deadline
            time.sleep(0.5)
        crash(server.pid)
        server.wait(timeout=30)
    with serving(spec, tmp_path) as (api, _server):
        ready = api.until(instance, "ready")
        assert releases(spec).count(release) == 1
        answers(ready)
        assert [p.site for p in placements(spec, instance)] == ["lab_factory"]
        assert api.call("DELETE", f"/apps/{app['appId']}")[0] == 409
        assert api.call("DELETE", f"/app-instances/{instance}")[0] == 202
        api.until(instance, None)
        assert release not in releases(spec)
        assert placements(spec, instance) == []
        assert api.call("DELETE", f"/apps/{app['appId']}")[0] == 204
    assert not (tmp_path / "work" / instance).exists()


def test_a_deployment_is_deployed_patched_and_deleted_telling_its_sink(spec, tmp_path):
    with (sink(tmp_path, []) as (url, received),
          serving(spec, tmp_path, "--sink-ca", str(tls.files(tmp_path).ca_bundle)) as (api, _)):
        status, app = api.call("POST", "/apps", {
            **helm_app("line"), "packageType": "CONTAINER",
            "appRepo": {"type": "PUBLICREPO", "imagePath": f"docker://{IMAGE}"},
            "requiredResources": {"infraKind": "container", "numCPU": "50m", "memory": 32}})
        assert status == 201, app
        status, made = api.call("POST", "/deployments", {
            "appDeploymentName": f"line_{RUN}", "appId": app["appId"],
            "edgeCloudZones": [zone_id("lab_factory")],
            "subscriptionRequest": {"sink": url, "types": [DEPLOYMENT_EVENT]}})
        assert status == 202, made
        path = f"/deployments/{made['appDeploymentId']}"
        status, shown = api.call("GET", path)
        (instance,) = shown["appInstances"]
        answers(api.until(instance, "ready"))
        status, renamed = api.call("PATCH", path, {"appDeploymentName": f"lines_{RUN}"})
        assert status == 200 and renamed["appInstances"] == [instance], renamed
        assert api.call("DELETE", path)[0] == 202
        api.until(instance, None)
        assert api.call("GET", path)[0] == 404
        assert placements(spec, instance) == []
        assert api.call("DELETE", f"/apps/{app['appId']}")[0] == 204
        deadline = time.monotonic() + 30
        while not received or received[-1][1]["type"] != ENDED_EVENT:
            assert time.monotonic() < deadline, received
            time.sleep(0.2)
    told = [body["data"] for _, body in received]
    assert any({"appInstanceId": instance, "status": "ready"} in t.get("appInstances", [])
               for t in told), told
    assert told[-1] == {"appDeploymentId": made["appDeploymentId"],
                        "terminationReason": "SUBSCRIPTION_DELETED"}


def test_a_qcow2_app_becomes_a_vm_on_the_lab_hypervisor_and_goes(spec, tmp_path):
    pool = load(spec.inventory).vm_platform
    assert pool is not None
    app = {"name": f"vm_{RUN}", "appProvider": TENANT, "version": "1", "packageType": "QCOW2",
           "appRepo": {"type": "PUBLICREPO",
                       "imagePath": f"file:///var/lib/tcra/{spec.prefix}base.img"},
           "requiredResources": {"infraKind": "virtualMachine", "numCPU": 1, "memory": 32},
           "componentSpec": [{"componentName": "vm", "networkInterfaces": [
               {"interfaceId": "sshd", "protocol": "TCP", "port": 22,
                "visibilityType": "VISIBILITY_INTERNAL"}]}]}
    with serving(spec, tmp_path) as (api, _server):
        status, made = api.call("POST", "/apps", app)
        assert status == 201, made
        status, asked = api.call("POST", "/app-instances", {
            "name": f"vm_{RUN}", "appId": made["appId"],
            "edgeCloudZoneId": region_zone_id(region(load(spec.inventory).site("lab_factory")))})
        assert status == 202, asked
        instance = asked["appInstanceId"]
        api.until(instance, "ready")
        (placed,) = placements(spec, instance)
        assert placed.kind == "vaf"
        conn = libvirt.open(spec.libvirt_uri)
        try:
            domain = f"vm-{RUN}-{instance[:8]}"
            assert domain in [d.name() for d in conn.listAllDomains()]
            assert api.call("DELETE", f"/app-instances/{instance}")[0] == 202
            api.until(instance, None)
            assert domain not in [d.name() for d in conn.listAllDomains()]
        finally:
            conn.close()
        assert placements(spec, instance) == []
