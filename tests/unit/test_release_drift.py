"""A Helm release's drift: its deployed manifest against live objects as the API server returns
them (with the server's defaults, its spelling of quantities, others' labels), read and repaired
through KubeApi against an in-memory API server."""

import base64
import copy
import gzip
import json
from typing import ClassVar
from urllib.parse import parse_qs, urlsplit

import dill
import pytest
import requests
import yaml
from pulumi.dynamic.dynamic import serialize_provider
from pulumi.output import Unknown
from requests.adapters import BaseAdapter
from tcra.providers.release_drift import ReleaseDriftProvider

from tcra.kube_api import KubeApi
from tcra.wdm.release_drift import (
    FIELD_MANAGER,
    ObjectRef,
    ReleaseRecordError,
    compare,
    decode_release,
    manifest_objects,
    read_drift,
    repair,
)

NS = "plant"
# As `helm get manifest` prints it: a Source comment per template, documents in install order.
MANIFEST = """---
# Source: opcua-gateway/templates/secret.yaml
apiVersion: v1
kind: Secret
metadata:
  name: gw-token
stringData:
  token: s3cret-value
---
# Source: opcua-gateway/templates/service.yaml
apiVersion: v1
kind: Service
metadata:
  name: gw
  labels: {app.kubernetes.io/name: opcua-gateway}
spec:
  type: ClusterIP
  selector: {app.kubernetes.io/name: opcua-gateway}
  ports:
    - {name: api, port: 8080, targetPort: "8080"}
---
# Source: opcua-gateway/templates/clusterrole.yaml
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: gw-reader
  namespace: ignored-on-a-cluster-wide-kind
rules:
  - apiGroups: [""]
    resources: [pods]
    verbs: [get, list]
---
# Source: opcua-gateway/templates/deployment.yaml
apiVersion: apps/v1
kind: Deployment
metadata:
  name: gw
  labels: {app.kubernetes.io/name: opcua-gateway, app.kubernetes.io/instance: gw}
spec:
  replicas: 1
  selector:
    matchLabels: {app.kubernetes.io/name: opcua-gateway}
  template:
    metadata:
      creationTimestamp: null
      labels: {app.kubernetes.io/name: opcua-gateway}
    spec:
      automountServiceAccountToken: false
      hostNetwork: false
      containers:
        - name: gateway
          image: "127.0.0.1:5443/tcra/opcua-gateway:0.1.0"
          args: ["--port", "8080"]
          env:
            - {name: MQTT_BROKER, value: "mqtt-broker:1883"}
          ports:
            - {name: api, containerPort: 8080}
          resources:
            requests: {cpu: 0.5, memory: 16Mi}
            limits: {cpu: "1", memory: 0.0625Gi, ephemeral-storage: 1e3}
          securityContext:
            allowPrivilegeEscalation: false
            capabilities: {drop: [ALL]}
          volumeMounts: []
"""


def live_objects():
    """The release's objects as the API server returns them: defaults added, quantities in
    canonical form, Helm's and others' labels and annotations, status."""
    helm = {"meta.helm.sh/release-name": "gw", "meta.helm.sh/release-namespace": NS}
    meta = {"namespace": NS, "uid": "u-1", "resourceVersion": "42", "generation": 1,
            "creationTimestamp": "2026-11-30T18:42:28Z", "annotations": helm}
    secret = {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
              "metadata": {**meta, "name": "gw-token",
                           "labels": {"app.kubernetes.io/managed-by": "Helm"}},
              "data": {"token": base64.b64encode(b"s3cret-value").decode()}}
    service = {"apiVersion": "v1", "kind": "Service",
               "metadata": {**meta, "name": "gw",
                            "labels": {"app.kubernetes.io/name": "opcua-gateway",
                                       "app.kubernetes.io/managed-by": "Helm",
                                       "team.example/owner": "line-3"}},
               "spec": {"type": "ClusterIP", "clusterIP": "10.96.168.28",
                        "clusterIPs": ["10.96.168.28"], "ipFamilies": ["IPv4"],
                        "ipFamilyPolicy": "SingleStack", "sessionAffinity": "None",
                        "internalTrafficPolicy": "Cluster",
                        "selector": {"app.kubernetes.io/name": "opcua-gateway"},
                        "ports": [{"name": "api", "port": 8080, "protocol": "TCP",
                                   "targetPort": 8080}]},
               "status": {"loadBalancer": {}}}
    role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": {"name": "gw-reader", "uid": "u-2", "annotations": helm},
            "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}]}
    container = {
        "name": "gateway", "image": "127.0.0.1:5443/tcra/opcua-gateway:0.1.0",
        "args": ["--port", "8080"], "imagePullPolicy": "IfNotPresent",
        "env": [{"name": "MQTT_BROKER", "value": "mqtt-broker:1883"}],
        "ports": [{"name": "api", "containerPort": 8080, "protocol": "TCP"}],
        "resources": {"requests": {"cpu": "500m", "memory": "16Mi"},
                      "limits": {"cpu": "1", "memory": "64Mi", "ephemeral-storage": "1k"}},
        "securityContext": {"allowPrivilegeEscalation": False,
                            "capabilities": {"drop": ["ALL"]}},
        "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File"}
    deployment = {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {**meta, "name": "gw",
                     "annotations": {**helm, "deployment.kubernetes.io/revision": "1"},
                     "labels": {"app.kubernetes.io/name": "opcua-gateway",
                                "app.kubernetes.io/instance": "gw",
                                "app.kubernetes.io/managed-by": "Helm"}},
        "spec": {"replicas": 1, "revisionHistoryLimit": 10, "progressDeadlineSeconds": 600,
                 "selector": {"matchLabels": {"app.kubernetes.io/name": "opcua-gateway"}},
                 "strategy": {"type": "RollingUpdate",
                              "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
                 "template": {
                     "metadata": {"labels": {"app.kubernetes.io/name": "opcua-gateway"}},
                     "spec": {"automountServiceAccountToken": False, "containers": [container],
                              "dnsPolicy": "ClusterFirst", "restartPolicy": "Always",
                              "schedulerName": "default-scheduler", "securityContext": {},
                              "terminationGracePeriodSeconds": 30}}},
        "status": {"replicas": 1, "availableReplicas": 1, "observedGeneration": 1}}
    return {"secret": secret, "service": service, "role": role, "deployment": deployment}


def objects_by_kind():
    return {obj["kind"]: obj for obj in manifest_objects(MANIFEST)}


def ref(kind, name="gw", namespace=NS, api_version="v1"):
    return ObjectRef(api_version=api_version, kind=kind, name=name, namespace=namespace)


DEPLOYMENT = ref("Deployment", api_version="apps/v1")


def lines(want, live, at=DEPLOYMENT):
    found = compare(want, live, at)
    return [] if found is None else found.lines()


# -- the compare ---------------------------------------------------------------------------


def test_the_release_as_the_server_returns_it_is_no_drift():
    want, live = objects_by_kind(), live_objects()
    assert lines(want["Deployment"], live["deployment"]) == []
    assert lines(want["Service"], live["service"], ref("Service")) == []
    assert lines(want["Secret"], live["secret"], ref("Secret", "gw-token")) == []


def test_a_deployment_scaled_to_zero_names_the_field_and_both_values():
    live = live_objects()["deployment"]
    live["spec"]["replicas"] = 0
    assert lines(objects_by_kind()["Deployment"], live) == [
        "Deployment plant/gw: spec.replicas is 0, the release says 1"]


def test_a_missing_object_is_named_missing():
    assert lines(objects_by_kind()["Service"], None, ref("Service")) == [
        "Service plant/gw: missing"]
    assert str(ref("ClusterRole", "gw-reader", None)) == "ClusterRole gw-reader"


@pytest.mark.parametrize(("release", "live"), [
    (0.5, "500m"), ("0.5", "500m"), ("1Gi", "1024Mi"), ("0.0625Gi", "64Mi"), (1, "1"),
    ("1000m", "1"), ("8080", 8080), (1e3, "1k"), ("1e3", "1k"), ("2M", "2000k"),
    ("100Mi", "104857600"), (".5", "500m")])
def test_quantities_and_numbers_compare_by_value(release, live):
    want = {"spec": {"resources": {"requests": {"cpu": release}}}}
    held = {"spec": {"resources": {"requests": {"cpu": live}}}}
    assert lines(want, held) == []


@pytest.mark.parametrize(("release", "live"), [
    ("500m", "0.4"), ("1Gi", "1G"), ("8080", "http"), (True, 1), (True, "true"), ("1", "1x")])
def test_different_values_are_drift_however_close(release, live):
    assert lines({"spec": {"value": release}}, {"spec": {"value": live}}) == [
        f"Deployment plant/gw: spec.value is {live!r}, the release says {release!r}"]


def test_changed_image_resources_and_args_are_named_by_path():
    live = live_objects()["deployment"]
    container = live["spec"]["template"]["spec"]["containers"][0]
    container["image"] = "busybox:1"
    container["resources"]["requests"]["cpu"] = "200m"
    container["args"] = ["--port", "8080", "--debug"]
    prefix = "Deployment plant/gw: spec.template.spec.containers[0]"
    assert lines(objects_by_kind()["Deployment"], live) == [
        f"{prefix}.image is 'busybox:1', the release says"
        " '127.0.0.1:5443/tcra/opcua-gateway:0.1.0'",
        f"{prefix}.args is ['--port', '8080', '--debug'], the release says ['--port', '8080']",
        f"{prefix}.resources.requests.cpu is '200m', the release says 0.5"]


def test_labels_and_annotations_others_add_are_not_drift_but_a_removed_one_is():
    live = live_objects()["deployment"]
    live["metadata"]["labels"]["team.example/owner"] = "line-3"
    live["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"] = "now"
    assert lines(objects_by_kind()["Deployment"], live) == []
    del live["metadata"]["labels"]["app.kubernetes.io/instance"]
    assert lines(objects_by_kind()["Deployment"], live) == [
        "Deployment plant/gw: metadata.labels['app.kubernetes.io/instance'] is unset,"
        " the release says 'gw'"]


def test_items_the_cluster_appends_to_a_list_of_objects_are_not_drift_fewer_items_are():
    live = live_objects()["deployment"]
    containers = live["spec"]["template"]["spec"]["containers"]
    containers.append({"name": "mesh-proxy", "image": "proxy:1"})  # injected by a webhook
    assert lines(objects_by_kind()["Deployment"], live) == []
    containers[0]["env"] = []
    assert lines(objects_by_kind()["Deployment"], live) == [
        "Deployment plant/gw: spec.template.spec.containers[0].env is [], the release says"
        " [{'name': 'MQTT_BROKER', 'value': 'mqtt-broker:1883'}]"]


def test_status_and_values_the_server_omits_are_not_drift():
    want = {"spec": {"paused": False, "minReadySeconds": 0, "volumes": [], "note": ""},
            "status": {"replicas": 5, "conditions": []}}
    assert lines(want, {"spec": {}, "status": {"replicas": 1}}) == []


def test_a_secrets_values_never_show_in_its_drift():
    live = live_objects()["secret"]
    live["data"]["token"] = base64.b64encode(b"changed-by-hand").decode()
    found = lines(objects_by_kind()["Secret"], live, ref("Secret", "gw-token"))
    assert found == ["Secret plant/gw-token: data.token differs from the release (values"
                     " hidden: a Secret's data)"]
    shown = repr(compare(objects_by_kind()["Secret"], live, ref("Secret", "gw-token")))
    assert "s3cret" not in shown and "Y2hhbmdlZC" not in shown and "changed" not in shown


def test_a_long_value_is_shortened_in_the_message():
    found = lines({"data": {"config": "x" * 5000}}, {"data": {"config": "y" * 5000}})
    assert len(found) == 1 and len(found[0]) < 300 and "5,000 characters" in found[0]


# -- Helm's record -------------------------------------------------------------------------


def helm_secret(name, version, status, manifest=MANIFEST, *, compress=True, namespace=NS):
    """A storage Secret as Helm writes it: data.release = base64(base64(gzip(JSON)))."""
    record = json.dumps({"name": name, "namespace": namespace, "version": version,
                         "info": {"status": status}, "manifest": manifest,
                         "hooks": [{"name": "gw-hook", "manifest": "kind: Job"}]}).encode()
    helm = base64.b64encode(gzip.compress(record) if compress else record)
    return {"apiVersion": "v1", "kind": "Secret", "type": "helm.sh/release.v1",
            "metadata": {"name": f"sh.helm.release.v1.{name}.v{version}", "namespace": namespace,
                         "labels": {"name": name, "owner": "helm", "status": status,
                                    "version": str(version)}},
            "data": {"release": base64.b64encode(helm).decode()}}


@pytest.mark.parametrize("compress", [True, False])
def test_a_helm_storage_secret_decodes_to_the_release_record(compress):
    record = decode_release(helm_secret("gw", 3, "deployed", compress=compress))
    assert record["version"] == 3 and record["manifest"] == MANIFEST


def test_a_secret_that_is_not_a_helm_record_is_refused_in_one_line():
    bad = helm_secret("gw", 1, "deployed")
    bad["data"]["release"] = base64.b64encode(b"not base64 at all!").decode()
    with pytest.raises(ReleaseRecordError, match=r"^Helm release Secret sh.helm.release.v1.gw"
                       r".v1: not a Helm release record \(\w+\)$"):
        decode_release(bad)


def test_the_manifest_splits_into_its_objects_without_empty_documents():
    objects = manifest_objects(MANIFEST + "---\n# Source: x/templates/empty.yaml\n---\n")
    assert [o["kind"] for o in objects] == ["Secret", "Service", "ClusterRole", "Deployment"]


# -- read and repair through KubeApi, against an in-memory API server ----------------------


class FakeApiServer(BaseAdapter):
    """Serves discovery, GET, list (with labelSelector and pages) and server-side apply from a
    dict of objects by path, and records every request."""

    DISCOVERY: ClassVar[dict] = {
        "/api/v1": [("secrets", "Secret", True), ("services", "Service", True),
                    ("namespaces", "Namespace", False), ("pods/log", "Pod", True)],
        "/apis/apps/v1": [("deployments", "Deployment", True),
                          ("deployments/scale", "Scale", True)],
        "/apis/rbac.authorization.k8s.io/v1": [("clusterroles", "ClusterRole", False)]}

    def __init__(self):
        super().__init__()
        self.objects = {}
        self.requests = []

    def put(self, path, obj):
        self.objects[path] = copy.deepcopy(obj)

    def send(self, request, **kwargs):
        assert kwargs["timeout"] == 7.0  # every call carries the client's timeout
        url = urlsplit(request.url)
        query = parse_qs(url.query)
        self.requests.append((request.method, url.path, query))
        if request.method == "PATCH":
            assert request.headers["Content-Type"] == "application/apply-patch+yaml"
            body = json.loads(request.body)
            self.objects[url.path] = body
            return self.answer(request, 200, body)
        if url.path in self.DISCOVERY:
            return self.answer(request, 200, {"resources": [
                {"name": n, "kind": k, "namespaced": s} for n, k, s in self.DISCOVERY[url.path]]})
        if url.path in self.objects:
            return self.answer(request, 200, self.objects[url.path])
        if url.path.endswith("/secrets"):
            return self.list_secrets(request, url.path, query)
        return self.answer(request, 404, {"kind": "Status", "message": "not found"})

    def list_secrets(self, request, path, query):
        wanted = dict(pair.split("=") for pair in query["labelSelector"][0].split(","))
        items = [o for p, o in sorted(self.objects.items()) if p.startswith(path + "/")
                 and wanted.items() <= o["metadata"].get("labels", {}).items()]
        start = int(query.get("continue", ["0"])[0])
        page = items[start:start + 1]  # one item a page: the client must follow `continue`
        more = {"continue": str(start + 1)} if start + 1 < len(items) else {}
        return self.answer(request, 200, {"kind": "SecretList", "items": page, "metadata": more})

    @staticmethod
    def answer(request, status, body):
        response = requests.Response()
        response.status_code, response.request, response.url = status, request, request.url
        response.reason = {200: "OK", 404: "Not Found"}[status]
        response._content = json.dumps(body).encode()
        return response

    def close(self):
        pass


PATHS = {"secret": f"/api/v1/namespaces/{NS}/secrets/gw-token",
         "service": f"/api/v1/namespaces/{NS}/services/gw",
         "role": "/apis/rbac.authorization.k8s.io/v1/clusterroles/gw-reader",
         "deployment": f"/apis/apps/v1/namespaces/{NS}/deployments/gw"}


@pytest.fixture
def cluster():
    server = FakeApiServer()
    for name, obj in live_objects().items():
        server.put(PATHS[name], obj)
    server.put(f"/api/v1/namespaces/{NS}/secrets/sh.helm.release.v1.gw.v1",
               helm_secret("gw", 1, "superseded", manifest="---\nkind: Old\n"))
    server.put(f"/api/v1/namespaces/{NS}/secrets/sh.helm.release.v1.gw.v2",
               helm_secret("gw", 2, "deployed"))
    server.put(f"/api/v1/namespaces/{NS}/secrets/sh.helm.release.v1.other.v9",
               helm_secret("other", 9, "deployed", manifest="---\nkind: Other\n"))
    return server


def api_of(server):
    session = requests.Session()
    session.mount("https://", server)
    return KubeApi("https://kube.example:6443", session, timeout=7.0)


def test_read_drift_compares_the_deployed_revision_and_fills_in_the_namespace(cluster):
    report = read_drift(api_of(cluster), "gw", NS)
    assert report.revision == 2 and report.lines() == []
    assert [str(o) for o in report.objects] == [
        "Secret plant/gw-token", "Service plant/gw", "ClusterRole gw-reader",
        "Deployment plant/gw"]
    assert {method for method, _, _ in cluster.requests} == {"GET"}


def test_repair_applies_only_what_drifted_and_the_next_read_is_clean(cluster):
    cluster.objects[PATHS["deployment"]]["spec"]["replicas"] = 0
    del cluster.objects[PATHS["service"]]
    api = api_of(cluster)
    assert read_drift(api, "gw", NS).lines() == [
        "Service plant/gw: missing",
        "Deployment plant/gw: spec.replicas is 0, the release says 1"]
    repaired = repair(api, "gw", NS)
    assert len(repaired.drift) == 2
    patches = [(path, query) for method, path, query in cluster.requests if method == "PATCH"]
    assert patches == [(PATHS[name], {"fieldManager": [FIELD_MANAGER], "force": ["true"]})
                       for name in ("service", "deployment")]
    applied = cluster.objects[PATHS["service"]]
    assert applied["metadata"] == {"name": "gw", "namespace": NS,
                                   "labels": {"app.kubernetes.io/name": "opcua-gateway"}}
    cluster.objects[PATHS["deployment"]]["spec"]["replicas"] = 1  # as the server would hold it
    assert read_drift(api, "gw", NS).lines() == []


def test_a_kind_the_cluster_does_not_serve_is_missing_and_left_alone(cluster):
    widget = "---\napiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\n"
    cluster.put(f"/api/v1/namespaces/{NS}/secrets/sh.helm.release.v1.gw.v2",
                helm_secret("gw", 2, "deployed", manifest=MANIFEST + widget))
    api = api_of(cluster)
    assert read_drift(api, "gw", NS).lines() == [
        "Widget w: missing (the cluster serves no Widget in example.com/v1)"]
    repair(api, "gw", NS)
    assert not [r for r in cluster.requests if r[0] == "PATCH"]


def test_a_release_with_no_deployed_revision_says_so(cluster):
    report = read_drift(api_of(cluster), "gone", NS)
    assert report.revision is None
    assert report.lines() == ["Helm release plant/gone: no deployed revision"]


# -- the Pulumi provider (no cluster needed) -----------------------------------------------


KUBECONFIG = yaml.safe_dump({
    "apiVersion": "v1", "kind": "Config", "current-context": "c",
    "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:1"}}],
    "users": [{"name": "u", "user": {"token": "tok-very-secret"}}],
    "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}]})
PROPS = {"kubeconfig": KUBECONFIG, "release": "gw", "namespace": NS, "revision": 2.0,
         "timeout": 10.0}


def provider():
    """As the engine gets it: pickled with dill, loaded in another process."""
    return dill.loads(base64.b64decode(serialize_provider(ReleaseDriftProvider())))


def test_the_provider_survives_the_pickle_round_trip_and_holds_nothing():
    assert vars(provider()) == {}


def test_check_names_bad_inputs_and_skips_those_not_known_yet():
    failures = provider().check({}, {**PROPS, "release": "Bad_Name", "timeout": 0,
                                     "kubeconfig": Unknown()}).failures
    assert [f.property for f in failures] == ["release", "timeout"]
    assert "tok-very-secret" not in repr([f.reason for f in failures])
    assert provider().check({}, PROPS).failures == []


def test_diff_changes_on_drift_or_new_inputs_and_replaces_for_another_release():
    outs = {**PROPS, "revision": 2, "drift": []}
    diff = provider().diff
    assert diff("plant/gw", outs, PROPS).changes is False
    assert diff("plant/gw", {**outs, "drift": ["Service plant/gw: missing"]}, PROPS).changes
    assert diff("plant/gw", outs, {**PROPS, "revision": 3.0}).replaces == []
    assert diff("plant/gw", outs, {**PROPS, "revision": Unknown()}).changes
    assert diff("plant/gw", outs, {**PROPS, "kubeconfig": "other"}).changes
    assert diff("plant/gw", outs, {**PROPS, "namespace": "other"}).replaces == ["namespace"]
