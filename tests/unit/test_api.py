"""tcra serve's API in process (tcra.api.app), on the example inventory and a SQLite store:
zones, apps, tenants, tokens, the error form, correlators, bounds and the audit trail; app
instances booked by the MCO; app deployments, one instance at each zone asked, booked all or
none, changed by merge patches and deleted with their instances."""

import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi.testclient import TestClient

from tcra.api import catalog
from tcra.api.app import BASE, MAX_BODY, create
from tcra.api.auth import SCOPES, Verifier, ensure_signing_key, token
from tcra.api.deploy import Deployer
from tcra.api.policies import Policies
from tcra.api.schemas import AppManifest
from tcra.api.store import ApiStore
from tcra.api.zones import cluster_ref, region_zone_id, zone_id
from tcra.inventory import load
from tcra.mcm.chart import chart_problems
from tcra.model.inventory import ApiIssuer
from tcra.model.site import SiteCluster
from tests.conftest import ROOT

ISSUER = "tcra-test"
TENANT = "AcmeRobotics"


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    return ensure_signing_key(tmp_path_factory.mktemp("keys"))


CLUSTERS = ("factory_munich", "regional_frankfurt")  # the sites given one, to release onto


def with_clusters(tmp_path):
    """The example inventory, with an existing Kubernetes cluster at CLUSTERS."""
    inventory = load(ROOT / "inventories/example")
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("apiVersion: v1\nkind: Config\n")
    return inventory.model_copy(update={"sites": tuple(
        s.model_copy(update={"cluster": SiteCluster(name=f"{s.id}-k8s", kubeconfig=kubeconfig)})
        if s.id in CLUSTERS else s for s in inventory.sites)})


@pytest.fixture
def client(tmp_path, keys):
    store = ApiStore(f"sqlite:///{tmp_path / 'store.db'}")
    store.migrate()
    inventory = with_clusters(tmp_path)
    policies = Policies()
    deployer = Deployer(store, inventory, ROOT / "inventories/example",
                        f"sqlite:///{tmp_path / 'store.db'}",
                        tmp_path / "serve", policies, workers=0)
    app = create(inventory, store, Verifier(ApiIssuer(issuer=ISSUER, public_key=keys[1])),
                 deployer, policies)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        client.store = store
        yield client


def bearer(keys, tenant=TENANT, scopes=SCOPES, issuer=ISSUER, lifetime=600):
    return {"Authorization": f"Bearer {token(keys[0], issuer, tenant, scopes, lifetime)}"}


def manifest(**changes):
    return {"name": "ot_broker", "appProvider": TENANT, "version": "1.0.0",
            "packageType": "HELM",
            "appRepo": {"type": "PRIVATEREPO", "imagePath": "oci://127.0.0.1:5443/charts/mqtt",
                        "credentials": "s3cr3t-pull-token"},
            "requiredResources": {"infraKind": "kubernetes", "isStandalone": False,
                                  "applicationResources": {"cpuPool": {
                                      "numCPU": 1, "memory": 256, "topology": {
                                          "minNumberOfNodes": 1, "minNodeCpu": 1,
                                          "minNodeMemory": 256}}}},
            "componentSpec": [{"componentName": "broker", "networkInterfaces": [
                {"interfaceId": "mqtt", "protocol": "TCP", "port": 1883,
                 "visibilityType": "VISIBILITY_EXTERNAL"}]}], **changes}


def test_every_site_then_every_region_is_a_zone_with_a_stable_id_filtered_and_paged(
        client, keys):
    got = client.get(f"{BASE}/edge-cloud-zones", params={"perPage": 100},
                     headers=bearer(keys))
    assert got.status_code == 200
    zones = got.json()["edgeCloudZones"]
    sites = load(ROOT / "inventories/example").sites
    regions = list(dict.fromkeys(s.region or s.jurisdiction for s in sites))
    assert [z["edgeCloudZoneName"] for z in zones] == [s.id for s in sites] + [
        f"any:{r}" for r in regions]
    assert all(z["edgeCloudZoneId"] == zone_id(z["edgeCloudZoneName"]) for z in zones[:-3])
    assert [z["edgeCloudZoneId"] for z in zones[-len(regions):]] == [
        region_zone_id(r) for r in regions]
    total = len(sites) + len(regions)
    assert got.headers["x-total-count"] == str(total)
    paged = client.get(f"{BASE}/edge-cloud-zones", params={"perPage": 1, "page": 2},
                       headers=bearer(keys)).json()
    assert [z["edgeCloudZoneName"] for z in paged["edgeCloudZones"]] == [sites[1].id]
    assert paged["pagination"] == {"page": 2, "perPage": 1, "totalCount": total,
                                   "totalPages": total}
    nowhere = client.get(f"{BASE}/edge-cloud-zones", params={"countryCode": "ZZ"},
                         headers=bearer(keys)).json()
    assert nowhere["edgeCloudZones"] == [] and nowhere["pagination"]["totalCount"] == 0


def test_a_container_app_runs_in_tcras_chart_with_its_ports_and_booked_resources():
    app = AppManifest.model_validate(manifest(
        packageType="CONTAINER",
        appRepo={"type": "PUBLICREPO",
                 "imagePath": "docker://127.0.0.1:5443/tcra/chain-function:0.1.0"},
        requiredResources={"infraKind": "container", "numCPU": "250m", "memory": 64},
        componentSpec=[{"componentName": "web", "networkInterfaces": [
            {"interfaceId": "http", "protocol": "TCP", "port": 8080,
             "visibilityType": "VISIBILITY_EXTERNAL"},
            {"interfaceId": "syslog", "protocol": "ANY", "port": 514,
             "visibilityType": "VISIBILITY_INTERNAL"}]}]))
    catalog.check(app)
    made = catalog.entry(app, "web-1a2b3c4d")
    assert made.chart is not None and made.chart.source == "path"
    assert chart_problems(made.chart, "test") == []  # its version is the chart's own
    assert made.chart.values == {
        "image": {"reference": "127.0.0.1:5443/tcra/chain-function:0.1.0"},
        "ports": [{"name": "p0", "port": 8080, "protocol": "TCP"},
                  {"name": "p1", "port": 514, "protocol": "TCP"},
                  {"name": "p2", "port": 514, "protocol": "UDP"}],
        "resources": {"requests": {"cpu": "250m", "memory": "64M"},
                      "limits": {"memory": "64M"}}}
    assert made.resources.cpu == 0.25


def test_a_submitted_app_is_listed_without_its_credentials_and_only_to_its_tenant(
        client, keys):
    submitted = client.post(f"{BASE}/apps", json=manifest(), headers=bearer(keys))
    assert submitted.status_code == 201
    app_id = submitted.json()["appId"]
    got = client.get(f"{BASE}/apps/{app_id}", headers=bearer(keys)).json()
    assert got["appId"] == app_id and got["name"] == "ot_broker"
    assert "credentials" not in got["appRepo"]
    assert "s3cr3t" not in client.get(f"{BASE}/apps", headers=bearer(keys)).text
    other = bearer(keys, tenant="OtherProvider")
    assert client.get(f"{BASE}/apps/{app_id}", headers=other).status_code == 404
    assert client.get(f"{BASE}/apps", headers=other).json() == []
    assert client.delete(f"{BASE}/apps/{app_id}", headers=other).status_code == 404
    again = client.post(f"{BASE}/apps", json=manifest(), headers=bearer(keys))
    assert (again.status_code, again.json()["code"]) == (409, "ALREADY_EXISTS")
    assert client.delete(f"{BASE}/apps/{app_id}", headers=bearer(keys)).status_code == 204
    gone = client.get(f"{BASE}/apps/{app_id}", headers=bearer(keys))
    assert gone.status_code == 404
    assert gone.json() == {"status": 404, "code": "NOT_FOUND",
                           "message": f"app {app_id} is not found"}


@pytest.mark.parametrize(("body", "message"), [
    (manifest(name="1bad"), "name: String should match pattern"),
    (manifest(packageType="OVA"), "packageType: expected one of HELM, CONTAINER, QCOW2"
                                  " (got 'OVA')"),
    (manifest(packageType="CONTAINER"), "appRepo.imagePath: expected a container image with"
                                        " a tag or a digest"),
    (manifest(packageType="CONTAINER", appRepo={"type": "PUBLICREPO",
                                                "imagePath": "docker://registry.example/app"}),
     "appRepo.imagePath: expected a container image with a tag or a digest"),
    (manifest(packageType="CONTAINER",
              appRepo={"type": "PUBLICREPO", "imagePath": "docker://registry.example/app:1"},
              componentSpec=[{"componentName": "a", "networkInterfaces": [
                  {"interfaceId": "mqtt", "protocol": "TCP", "port": 1883,
                   "visibilityType": "VISIBILITY_EXTERNAL"},
                  {"interfaceId": "any1883", "protocol": "ANY", "port": 1883,
                   "visibilityType": "VISIBILITY_EXTERNAL"}]}]),
     "componentSpec[0].networkInterfaces[1].port: expected each port once per protocol"),
    (manifest(version="latest"), "version: the chart's version, expected a pinned chart"),
    (manifest(appRepo={"type": "PUBLICREPO", "imagePath": "https://charts.example/x"}),
     "appRepo.imagePath: expected a chart as an oci:// reference"),
    (manifest(packageType="QCOW2", requiredResources={"infraKind": "virtualMachine",
                                                      "numCPU": 1, "memory": 64}),
     "appRepo.imagePath: expected the QCOW2 image as a file: URL"),
    (manifest(packageType="QCOW2"), "requiredResources.infraKind: expected virtualMachine"
                                    " for packageType QCOW2 (got 'kubernetes')"),
    (manifest(requiredResources={"infraKind": "container", "numCPU": "lots", "memory": 64}),
     "requiredResources.numCPU: String should match pattern"),
    (manifest(surprise=1), "surprise: Extra inputs are not permitted"),
])
def test_bad_manifests_get_400_naming_the_field(client, keys, body, message):
    got = client.post(f"{BASE}/apps", json=body, headers=bearer(keys))
    assert got.status_code == 400
    assert got.json()["code"] == "INVALID_ARGUMENT"
    assert got.json()["message"].startswith(message), got.json()


def test_a_secret_in_a_bad_field_is_never_echoed(client, keys):
    body = manifest(appRepo={"type": "PUBLICREPO", "imagePath": "oci://x/y",
                             "credentials": "s3cr3t" * 500})
    got = client.post(f"{BASE}/apps", json=body, headers=bearer(keys))
    assert got.status_code == 400 and "appRepo.credentials" in got.json()["message"]
    assert "s3cr3t" not in got.text


def test_tokens_missing_foreign_expired_or_without_the_scope_are_refused(client, keys, tmp_path):
    url = f"{BASE}/apps"
    assert client.get(url).json()["code"] == "UNAUTHENTICATED"
    assert client.get(url, headers={"Authorization": "Basic eDp5"}).status_code == 401
    assert client.get(url, headers=bearer(keys, issuer="someone-else")).status_code == 401
    foreign = ensure_signing_key(tmp_path / "foreign")
    assert client.get(url, headers=bearer(foreign)).status_code == 401
    now = int(time.time())
    expired = jwt.encode({"iss": ISSUER, "sub": TENANT, "scope": " ".join(SCOPES),
                          "exp": now - 10}, keys[0].read_bytes(), algorithm="ES256")
    refused = client.get(url, headers={"Authorization": f"Bearer {expired}"})
    assert (refused.status_code, refused.json()["message"]) == (
        401, "Request not authenticated: the token has expired")
    other_algorithm = jwt.encode(  # RS256, which the lab's EC key cannot verify
        {"iss": ISSUER, "sub": TENANT, "scope": " ".join(SCOPES), "exp": now + 60},
        rsa.generate_private_key(public_exponent=65537, key_size=2048), algorithm="RS256")
    refused = client.get(url, headers={"Authorization": f"Bearer {other_algorithm}"})
    assert (refused.status_code, refused.json()["message"]) == (
        401, "Request not authenticated: the token is not valid")
    reader = bearer(keys, scopes=("edge-application-management:apps:read",))
    denied = client.post(url, json=manifest(), headers=reader)
    assert (denied.status_code, denied.json()["code"]) == (403, "PERMISSION_DENIED")
    assert client.get(url, headers=reader).status_code == 200


def test_unauthenticated_bodies_are_not_looked_at(client):
    got = client.post(f"{BASE}/apps", content=b"{not json")
    assert got.status_code == 401


def test_the_correlator_is_echoed_and_a_bad_one_refused(client, keys):
    got = client.get(f"{BASE}/apps", headers={**bearer(keys), "x-correlator": "abc-123"})
    assert got.headers["x-correlator"] == "abc-123"
    error = client.get(f"{BASE}/apps/nope", headers={"x-correlator": "abc-124"})
    assert error.headers["x-correlator"] == "abc-124"
    bad = client.get(f"{BASE}/apps", headers={**bearer(keys), "x-correlator": "a b"})
    assert (bad.status_code, bad.json()["code"]) == (400, "INVALID_ARGUMENT")
    assert "x-correlator" not in bad.headers


def test_routing_failures_are_camara_errors(client, keys):
    missing = client.get(f"{BASE}/nothing", headers=bearer(keys))
    assert (missing.status_code, missing.json()["code"]) == (404, "NOT_FOUND")
    wrong = client.put(f"{BASE}/apps", headers=bearer(keys))
    assert (wrong.status_code, wrong.json()["code"]) == (405, "METHOD_NOT_ALLOWED")
    assert set(wrong.headers["allow"].split(", ")) == {"GET", "POST"}
    bad_id = client.get(f"{BASE}/apps/ABC", headers=bearer(keys))
    assert bad_id.status_code == 400 and bad_id.json()["message"].startswith("path.appId:")


def test_an_oversized_body_is_refused_before_it_is_read(client, keys):
    got = client.post(f"{BASE}/apps", content=b"x" * (MAX_BODY + 1),
                      headers={**bearer(keys), "content-type": "application/json"})
    assert (got.status_code, got.json()["code"]) == (400, "INVALID_ARGUMENT")


def test_every_request_is_audited_without_its_token(client, keys):
    client.get(f"{BASE}/apps", headers={**bearer(keys), "x-correlator": "trail-1"})
    client.get(f"{BASE}/apps")
    client.app.state.audit.flush()
    rows = [(r.tenant, r.method, r.path, r.status, r.correlator) for r in client.store.audited()]
    assert rows[-2:] == [(TENANT, "GET", f"{BASE}/apps", 200, "trail-1"),
                         (None, "GET", f"{BASE}/apps", 401, None)]


def submitted(client, keys, tenant=TENANT, **changes):
    answer = client.post(f"{BASE}/apps", json=manifest(**changes), headers=bearer(keys, tenant))
    assert answer.status_code == 201, answer.text
    return answer.json()["appId"]


def instantiate(client, keys, app_id, zone, name="broker_1", tenant=TENANT):
    return client.post(f"{BASE}/app-instances", json={
        "name": name, "appId": app_id, "edgeCloudZoneId": zone}, headers=bearer(keys, tenant))


def test_an_instance_is_booked_at_the_zone_asked_and_shown_to_its_tenant_alone(client, keys):
    app_id = submitted(client, keys)
    created = instantiate(client, keys, app_id, zone_id("factory_munich"))
    assert created.status_code == 202, created.text
    shown = created.json()
    assert shown["status"] == "instantiating" and shown["appProvider"] == TENANT
    assert shown["edgeCloudZoneId"] == zone_id("factory_munich")
    assert shown["kubernetesClusterRef"] == cluster_ref("factory_munich", "factory_munich-k8s")
    location = created.headers["Location"]
    assert location == f"http://127.0.0.1{BASE}/app-instances/{shown['appInstanceId']}"
    assert client.get(location, headers=bearer(keys)).json() == shown
    assert client.get(f"{BASE}/app-instances", params={"appId": app_id},
                      headers=bearer(keys)).json() == [shown]
    assert client.get(f"{BASE}/app-instances", params={"region": "SE"},
                      headers=bearer(keys)).json() == []
    other = bearer(keys, "OtherRobotics")
    assert client.get(location, headers=other).status_code == 404
    assert client.get(f"{BASE}/app-instances", headers=other).json() == []
    assert client.delete(location, headers=other).status_code == 404
    (row,) = client.store.instances(TENANT)
    assert row.site == "factory_munich" and row.placement["service"] == row.stack


def test_in_a_region_zone_the_mco_chooses_the_site_and_the_instance_shows_its_zone(
        client, keys):
    app_id = submitted(client, keys)
    shown = instantiate(client, keys, app_id, region_zone_id("DE")).json()
    chosen = client.store.instance(shown["appInstanceId"]).site
    assert chosen in CLUSTERS  # the DE sites with a cluster
    assert shown["edgeCloudZoneId"] == zone_id(chosen)
    nowhere = instantiate(client, keys, app_id, region_zone_id("SE"), name="broker_2")
    assert nowhere.status_code == 409 and nowhere.json()["code"] == "CONFLICT"
    assert "no room for ot_broker" in nowhere.json()["message"]


def test_what_a_zone_has_no_room_for_is_refused_with_the_mcos_reason(client, keys):
    huge = submitted(client, keys, name="huge", requiredResources={
        "infraKind": "kubernetes", "isStandalone": False, "applicationResources": {
            "cpuPool": {"numCPU": 256, "memory": 1024, "topology": {
                "minNumberOfNodes": 1, "minNodeCpu": 1, "minNodeMemory": 1}}}})
    refused = instantiate(client, keys, huge, zone_id("factory_munich"))
    assert refused.status_code == 409
    assert "needs 256 cores" in refused.json()["message"]
    assert client.store.instances(TENANT) == []


def test_what_deploying_instances_booked_is_not_offered_again(client, keys):
    big = submitted(client, keys, name="big", requiredResources={
        "infraKind": "kubernetes", "isStandalone": False, "applicationResources": {
            "cpuPool": {"numCPU": 20, "memory": 1024, "topology": {
                "minNumberOfNodes": 1, "minNodeCpu": 1, "minNodeMemory": 1}}}})
    zone = zone_id("factory_munich")
    answers = [instantiate(client, keys, big, zone, name=f"big_{i}").status_code
               for i in range(6)]
    free = client.store.instances(TENANT)
    assert 202 in answers and answers[-1] == 409, answers
    assert len(free) == answers.count(202)


def test_unknown_ids_get_400_naming_the_field_and_a_second_instance_name_409(client, keys):
    app_id = submitted(client, keys)
    zone = zone_id("factory_munich")
    unknown = "4f0b6c1e-0000-4000-8000-000000000000"
    for body, field in ((instantiate(client, keys, unknown, zone), "appId"),
                        (instantiate(client, keys, app_id, unknown), "edgeCloudZoneId"),
                        (instantiate(client, keys, app_id, zone, tenant="OtherRobotics"),
                         "appId")):
        assert body.status_code == 400 and body.json()["message"].startswith(f"{field}: ")
    assert instantiate(client, keys, app_id, zone).status_code == 202
    again = instantiate(client, keys, app_id, zone)
    assert again.status_code == 409 and again.json()["code"] == "ALREADY_EXISTS"
    assert client.get(f"{BASE}/app-instances/{unknown}", headers=bearer(keys)
                      ).status_code == 404


def test_a_deleted_instance_is_terminating_and_its_app_cannot_go_before_it(client, keys):
    app_id = submitted(client, keys)
    shown = instantiate(client, keys, app_id, zone_id("factory_munich")).json()
    gone = client.delete(f"{BASE}/apps/{app_id}", headers=bearer(keys))
    assert gone.status_code == 409 and "1 instance" in gone.json()["message"]
    path = f"{BASE}/app-instances/{shown['appInstanceId']}"
    assert client.delete(path, headers=bearer(keys)).status_code == 202
    assert client.get(path, headers=bearer(keys)).json()["status"] == "terminating"


MUNICH, FRANKFURT = zone_id("factory_munich"), zone_id("regional_frankfurt")
PATCH = {"Content-Type": "application/merge-patch+json"}


def deploy(client, keys, app_id, zones, name="brokers", tenant=TENANT, **more):
    return client.post(f"{BASE}/deployments", json={
        "appDeploymentName": name, "appId": app_id, "edgeCloudZones": zones, **more},
        headers=bearer(keys, tenant))


def merge_patch(client, keys, location, body, tenant=TENANT):
    return client.patch(location, json=body, headers={**bearer(keys, tenant), **PATCH})


def sites(client, shown):
    return sorted(client.store.instance(i).site for i in shown["appInstances"])


def test_a_deployment_is_an_instance_at_each_zone_shown_to_its_tenant_alone(client, keys):
    app_id = submitted(client, keys)
    created = deploy(client, keys, app_id, [MUNICH, FRANKFURT])
    assert created.status_code == 202, created.text
    deployment_id = created.json()["appDeploymentId"]
    location = created.headers["Location"]
    assert location == f"http://127.0.0.1{BASE}/deployments/{deployment_id}"
    shown = client.get(location, headers=bearer(keys)).json()
    assert shown["appDeploymentName"] == "brokers" and shown["appId"] == app_id
    assert shown["edgeCloudZones"] == [MUNICH, FRANKFURT]
    assert sites(client, shown) == ["factory_munich", "regional_frankfurt"]
    instances = client.get(f"{BASE}/app-instances", headers=bearer(keys)).json()
    assert sorted(i["appInstanceId"] for i in instances) == sorted(shown["appInstances"])
    assert all(i["name"].startswith("brokers_") and i["status"] == "instantiating"
               for i in instances)
    assert client.get(f"{BASE}/deployments", params={"appId": app_id},
                      headers=bearer(keys)).json() == [shown]
    other = bearer(keys, "OtherRobotics")
    assert client.get(location, headers=other).status_code == 404
    assert client.get(f"{BASE}/deployments", headers=other).json() == []
    assert client.delete(location, headers=other).status_code == 404
    assert merge_patch(client, keys, location, {"edgeCloudZones": []},
                 "OtherRobotics").status_code == 404
    refused = client.delete(f"{BASE}/apps/{app_id}", headers=bearer(keys))
    assert refused.status_code == 409 and "1 deployment" in refused.json()["message"]


def test_zones_are_booked_all_or_none_and_bad_ids_name_their_field(client, keys):
    app_id = submitted(client, keys)
    nowhere = deploy(client, keys, app_id, [MUNICH, region_zone_id("SE")])
    assert nowhere.status_code == 409 and nowhere.json()["code"] == "CONFLICT"
    assert "no room for ot_broker" in nowhere.json()["message"]
    assert client.store.instances(TENANT) == [] and client.store.deployments(TENANT) == []
    unknown = "4f0b6c1e-0000-4000-8000-000000000000"
    for answer, field in (
            (deploy(client, keys, unknown, [MUNICH]), "appId"),
            (deploy(client, keys, app_id, [MUNICH, unknown]), "edgeCloudZones[1]"),
            (deploy(client, keys, app_id, [MUNICH, MUNICH]), "edgeCloudZones[1]"),
            (deploy(client, keys, app_id, [MUNICH], kubernetesClusterRefs=[unknown]),
             "kubernetesClusterRefs[0]")):
        assert answer.status_code == 400, answer.text
        assert answer.json()["message"].startswith(f"{field}: "), answer.json()
    assert deploy(client, keys, app_id, [MUNICH]).status_code == 202
    again = deploy(client, keys, app_id, [FRANKFURT])
    assert again.status_code == 409 and again.json()["code"] == "ALREADY_EXISTS"


def test_a_cluster_ref_narrows_a_region_zone_to_its_site(client, keys):
    app_id = submitted(client, keys)
    ref = cluster_ref("regional_frankfurt", "regional_frankfurt-k8s")
    created = deploy(client, keys, app_id, [region_zone_id("DE")], kubernetesClusterRefs=[ref])
    shown = client.get(created.headers["Location"], headers=bearer(keys)).json()
    assert sites(client, shown) == ["regional_frankfurt"]


def test_a_merge_patch_keeps_adds_and_ends_instances_and_renames(client, keys):
    app_id = submitted(client, keys)
    location = deploy(client, keys, app_id, [MUNICH]).headers["Location"]
    (munich,) = client.get(location, headers=bearer(keys)).json()["appInstances"]
    renamed = merge_patch(client, keys, location, {"appDeploymentName": "line_brokers"})
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["appDeploymentName"] == "line_brokers"
    assert renamed.json()["appInstances"] == [munich]
    grown = merge_patch(client, keys, location, {"edgeCloudZones": [MUNICH, FRANKFURT]}).json()
    assert grown["edgeCloudZones"] == [MUNICH, FRANKFURT] and munich in grown["appInstances"]
    assert sites(client, grown) == ["factory_munich", "regional_frankfurt"]
    (added,) = set(grown["appInstances"]) - {munich}
    assert client.store.instance(added).name.startswith("line_brokers_")
    moved = merge_patch(client, keys, location, {"edgeCloudZones": [FRANKFURT]}).json()
    assert client.store.instance(munich).status == "terminating"
    assert client.store.instance(added).status == "instantiating"
    assert moved["edgeCloudZones"] == [FRANKFURT]
    no_room = merge_patch(client, keys, location, {"edgeCloudZones": [region_zone_id("SE")]})
    assert no_room.status_code == 409
    assert client.get(location, headers=bearer(keys)).json()["edgeCloudZones"] == [FRANKFURT]
    assert client.store.instance(added).status == "instantiating"  # nothing changed
    bad = merge_patch(client, keys, location, {"edgeCloudZones": None})
    assert bad.status_code == 400 and "edgeCloudZones: expected a value" in bad.json()["message"]


def test_a_deleted_deployment_ends_its_instances_and_goes_with_the_last(client, keys):
    app_id = submitted(client, keys)
    location = deploy(client, keys, app_id, [MUNICH, FRANKFURT]).headers["Location"]
    ids = client.get(location, headers=bearer(keys)).json()["appInstances"]
    assert client.delete(location, headers=bearer(keys)).status_code == 202
    assert {client.store.instance(i).status for i in ids} == {"terminating"}
    assert client.get(location, headers=bearer(keys)).status_code == 200
    late = merge_patch(client, keys, location, {"appDeploymentName": "late"})
    assert late.status_code == 409 and late.json()["code"] == "CONFLICT"
    first, last = ids
    assert client.store.remove_instance(first) is None
    ended = client.store.remove_instance(last)
    assert ended is not None and ended.deployment_id == location.rsplit("/", 1)[1]
    assert client.get(location, headers=bearer(keys)).status_code == 404
    empty = deploy(client, keys, app_id, [], name="empty").headers["Location"]
    assert client.delete(empty, headers=bearer(keys)).status_code == 202
    assert client.get(empty, headers=bearer(keys)).status_code == 404
