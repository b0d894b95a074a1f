"""What a Workload asks before it declares anything (tcra.wdm.preflight), against real TLS
servers on loopback: a registry and a chart repository whose CA only the test knows, and an
API server (test_kube_api's); and the pod endpoint it reports."""

import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

import pytest

from tcra.lab import tls
from tcra.mcm.chart import Chart, ChartSourceError, source_problem
from tcra.wdm.endpoint import EndpointNotFoundError, pod_url
from tcra.wdm.preflight import PreflightError, cluster_name, preflight
from tests.unit import test_kube_api as kube

keys, server, kubeconfig = kube.keys, kube.server, kube.kubeconfig  # its fixtures, its kubeconfig

INDEX = """apiVersion: v1
entries:
  app:
    - {name: app, version: 1.1.0, urls: [app-1.1.0.tgz]}
    - {name: app, version: 1.0.0, urls: [app-1.0.0.tgz]}
"""


class Registry(BaseHTTPRequestHandler):
    """An OCI registry holding charts/app:1.0.0 (and charts/private, behind a login), and a
    chart repository at /repo."""

    def do_HEAD(self):
        if self.path.startswith("/v2/charts/private/"):
            return self.answer(401)
        return self.answer(200 if self.path == "/v2/charts/app/manifests/1.0.0" else 404)

    def do_GET(self):
        if self.path == "/repo/index.yaml":
            return self.answer(200, INDEX.encode())
        return self.answer(404)

    def answer(self, status, body=b""):
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    """host:port of the registry, and its CA."""
    made = tls.ensure(tmp_path_factory.mktemp("registry-tls"), "unit")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(made.certificate, made.key)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Registry)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield SimpleNamespace(host=f"127.0.0.1:{httpd.server_address[1]}", ca=made.ca_bundle)
    httpd.shutdown()
    httpd.server_close()


def test_an_oci_chart_is_looked_up_by_its_manifest(registry, monkeypatch):
    monkeypatch.setenv("SSL_CERT_FILE", str(registry.ca))  # as the engine must trust it

    def problem(name, version):
        return source_problem(Chart(chart=f"oci://{registry.host}/charts/{name}",
                                    version=version), ca=registry.ca, timeout=5)

    assert problem("app", "1.0.0") is None
    assert problem("app", "9.9.9") == (f"the registry {registry.host} has no chart"
                                       " charts/app:9.9.9 (no such manifest)")
    assert problem("private", "1.0.0") is None  # Helm may hold a login; this cannot tell


def test_a_registry_only_its_ca_vouches_for_is_refused_naming_ssl_cert_dir(registry,
                                                                           monkeypatch):
    """The engine's Kubernetes provider trusts the environment only for oci:// charts."""
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    chart = Chart(chart=f"oci://{registry.host}/charts/app", version="1.0.0")
    assert source_problem(chart, ca=registry.ca, timeout=5) == (
        f"the registry {registry.host} is trusted through {registry.ca} only, and the engine's"
        " Kubernetes provider pulls oci:// charts trusting the system's CAs and SSL_CERT_DIR"
        f" or SSL_CERT_FILE alone: run pulumi with SSL_CERT_DIR=/etc/ssl/certs:"
        f"{registry.ca.parent}")


def test_the_registry_is_trusted_through_its_ca_or_the_environment(registry, monkeypatch):
    chart = Chart(chart=f"oci://{registry.host}/charts/app", version="1.0.0")
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    with pytest.raises(ChartSourceError, match="its TLS certificate is not trusted"):
        source_problem(chart, timeout=5)
    monkeypatch.setenv("SSL_CERT_FILE", str(registry.ca))
    assert source_problem(chart, timeout=5) is None


def test_a_repository_chart_is_looked_up_in_its_index(registry):
    def problem(name, version):
        return source_problem(Chart(chart=name, version=version,
                                    repository=f"https://{registry.host}/repo"),
                              ca=registry.ca, timeout=5)

    assert problem("app", "1.1.0") is None
    assert problem("app", "2.0.0") == (f"the repository https://{registry.host}/repo has no"
                                       " version 2.0.0 of chart app (it has 1.1.0, 1.0.0)")
    assert problem("other", "1.0.0") == (f"the repository https://{registry.host}/repo has no"
                                         " chart other")


def test_a_source_that_does_not_answer_fails_in_one_line():
    chart = Chart(chart="oci://127.0.0.1:1/charts/app", version="1.0.0")
    with pytest.raises(ChartSourceError, match=r"127.0.0.1:1/v2/charts/app/manifests/1.0.0"
                                               r" does not answer \(.*Connection refused"):
        source_problem(chart, timeout=5)


def test_preflight_names_the_release_the_cluster_and_the_cause(keys, server, registry,
                                                               monkeypatch):
    monkeypatch.setenv("SSL_CERT_FILE", str(registry.ca))
    chart = Chart(chart=f"oci://{registry.host}/charts/app", version="1.0.0", namespace="plant")
    text = kubeconfig(keys, server)
    assert cluster_name(text) == f"cluster {server}"
    preflight("Workload app", chart, kubeconfig=text, namespace_made=False,
              registry_ca=registry.ca)
    for namespace in ("secret-place", "made"):  # not ours to read; or made by the Workload
        preflight("Workload app", chart.model_copy(update={"namespace": namespace}),
                  kubeconfig=text, namespace_made=namespace == "made", registry_ca=registry.ca)
    with pytest.raises(PreflightError, match=r"^Workload app: namespace nowhere does not exist"):
        preflight("Workload app", chart.model_copy(update={"namespace": "nowhere"}),
                  kubeconfig=text, namespace_made=False, registry_ca=registry.ca)
    with pytest.raises(PreflightError, match=r"^Workload app: the registry .* has no chart"
                                               r" charts/app:9.9.9 \(no such manifest\)$"):
        preflight("Workload app", chart.model_copy(update={"version": "9.9.9"}),
                  kubeconfig=text, namespace_made=False, registry_ca=registry.ca)


def test_a_cluster_that_does_not_answer_fails_within_the_timeout(keys, registry):
    chart = Chart(chart=f"oci://{registry.host}/charts/app", version="1.0.0")
    started = time.monotonic()
    with pytest.raises(PreflightError) as caught:
        preflight("Workload app", chart, kubeconfig=kubeconfig(keys, "https://127.0.0.1:1"),
                  namespace_made=True, registry_ca=registry.ca, timeout=2)
    assert time.monotonic() - started < 12  # bounded by the timeout, never a hang
    assert str(caught.value) == ("Workload app: the API server does not answer, or is not ready"
                                 " (GET /readyz within 2 s)")


def _subset(ips, *ports):
    return {"addresses": [{"ip": ip} for ip in ips],
            "ports": [{"name": name, "port": port} for name, port in ports]}


def test_pod_url_is_a_ready_pod_at_the_port_behind_the_wanted_service_port():
    spec = {"ports": [{"name": "api", "port": 80}, {"name": "metrics", "port": 9090}]}
    subsets = [_subset([], ("api", 8080)),  # no ready pod in this one
               _subset(["10.244.0.7", "10.244.0.9"], ("metrics", 9100), ("api", 8080))]
    assert pod_url(spec, subsets, None, "http") == "http://10.244.0.7:8080"
    assert pod_url(spec, subsets, 9090, "http") == "http://10.244.0.7:9100"
    unnamed = {"ports": [{"port": 1883}]}
    assert pod_url(unnamed, [_subset(["fd00::7"], (None, 1883))], None, "mqtt") == (
        "mqtt://[fd00::7]:1883")
    with pytest.raises(EndpointNotFoundError, match="no ready pod behind the Service"):
        pod_url(spec, [_subset([], ("api", 8080))], None, "http")
    with pytest.raises(EndpointNotFoundError, match=r"ports \[80, 9090\], not 443"):
        pod_url(spec, subsets, 443, "http")
