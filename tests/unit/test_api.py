"""tcra serve's API in process (tcra.api.app), on the example inventory and a SQLite store:
zones, apps, tenants, tokens, the error form, correlators, bounds and the audit trail."""

import time

import jwt
import pytest
from fastapi.testclient import TestClient

from tcra.api.app import BASE, MAX_BODY, create
from tcra.api.auth import SCOPES, Verifier, ensure_signing_key, token
from tcra.api.store import ApiStore
from tcra.api.zones import zone_id
from tcra.inventory import load
from tcra.model.inventory import ApiIssuer
from tests.conftest import ROOT

ISSUER = "tcra-test"
TENANT = "AcmeRobotics"


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    return ensure_signing_key(tmp_path_factory.mktemp("keys"))


@pytest.fixture
def client(tmp_path, keys):
    store = ApiStore(f"sqlite:///{tmp_path / 'store.db'}")
    store.migrate()
    inventory = load(ROOT / "inventories/example")
    app = create(inventory, store, Verifier(ApiIssuer(issuer=ISSUER, public_key=keys[1])))
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
                                  "applicationResources": {}},
            "componentSpec": [{"componentName": "broker", "networkInterfaces": [
                {"interfaceId": "mqtt", "protocol": "TCP", "port": 1883,
                 "visibilityType": "VISIBILITY_EXTERNAL"}]}], **changes}


def test_every_site_is_a_zone_with_a_stable_id_filtered_and_paged(client, keys):
    got = client.get(f"{BASE}/edge-cloud-zones", headers=bearer(keys))
    assert got.status_code == 200
    zones = got.json()["edgeCloudZones"]
    sites = [s.id for s in load(ROOT / "inventories/example").sites]
    assert [z["edgeCloudZoneName"] for z in zones] == sites[:20]
    assert all(z["edgeCloudZoneId"] == zone_id(z["edgeCloudZoneName"]) for z in zones)
    assert got.headers["x-total-count"] == str(len(sites))
    paged = client.get(f"{BASE}/edge-cloud-zones", params={"perPage": 1, "page": 2},
                       headers=bearer(keys)).json()
    assert [z["edgeCloudZoneName"] for z in paged["edgeCloudZones"]] == sites[1:2]
    assert paged["pagination"] == {"page": 2, "perPage": 1, "totalCount": len(sites),
                                   "totalPages": len(sites)}
    nowhere = client.get(f"{BASE}/edge-cloud-zones", params={"countryCode": "ZZ"},
                         headers=bearer(keys)).json()
    assert nowhere["edgeCloudZones"] == [] and nowhere["pagination"]["totalCount"] == 0


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
    rows = [(r.tenant, r.method, r.path, r.status, r.correlator) for r in client.store.audited()]
    assert rows[-2:] == [(TENANT, "GET", f"{BASE}/apps", 200, "trail-1"),
                         (None, "GET", f"{BASE}/apps", 401, None)]
