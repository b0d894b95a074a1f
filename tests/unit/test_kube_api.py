"""KubeApi against a real TLS server on loopback: the kubeconfig's CA and client certificate (or
token) are what the handshake uses, only GETs are retried, and the kubeconfig's text shows in no
error or repr."""

import base64
import json
import socket
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest
import yaml

from tcra import kube_api
from tcra.kube_api import KubeApi, KubeApiError, KubeconfigError
from tcra.lab import tls
from tcra.lab.kube import pki

USER = "tcra:unit"


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pki")
    made = pki.ensure(folder / "cluster", "unit")
    other = pki.ensure(folder / "other", "other")
    return {"pki": made, "server": made.issue("apiserver", pki.api_server_leaf()),
            "client": made.issue("client", tls.client(USER)), "other_ca": other.ca.certificate,
            "folder": folder}


class Handler(BaseHTTPRequestHandler):
    seen: ClassVar[list] = []  # the requests the server got, reset by the fixture

    def do_GET(self):
        peer = self.connection.getpeercert() or {}
        subject = dict(pair[0] for pair in peer.get("subject", ()))
        self.seen.append((self.command, self.path, subject.get("commonName"),
                          self.headers.get("Authorization")))
        if self.path == "/readyz":
            return self.reply(200, "ok", "text/plain")
        if self.path == "/api/v1/namespaces/plant":
            return self.reply(200, json.dumps({"kind": "Namespace", "metadata": {"name": "plant"}}))
        if self.path.startswith("/api/v1/namespaces/secret-place"):
            return self.reply(403, json.dumps({"kind": "Status", "message":
                                               'namespaces "secret-place" is forbidden:\nUser'
                                               ' "tcra:unit" cannot get'}))
        return self.reply(404, json.dumps({"kind": "Status", "message": "not found"}))

    def reply(self, status, body, kind="application/json"):
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def server(keys):
    """An HTTPS server for 127.0.0.1 signed by the cluster CA, asking for a client
    certificate from that CA (optional, so a token user can connect too)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(keys["server"].certificate, keys["server"].key)
    context.load_verify_locations(keys["pki"].ca.certificate)
    context.verify_mode = ssl.CERT_OPTIONAL
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    Handler.seen = []
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def kubeconfig(keys, server, *, ca=None, user=None, **cluster_extra):
    b64 = lambda path: base64.b64encode(path.read_bytes()).decode()  # noqa: E731
    client = keys["client"]
    return yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "lab",
        "clusters": [{"name": "lab", "cluster": {
            "server": server, "certificate-authority-data": b64(ca or keys["pki"].ca.certificate),
            **cluster_extra}}],
        "users": [{"name": "admin", "user": user or {
            "client-certificate-data": b64(client.certificate),
            "client-key-data": b64(client.key)}}],
        "contexts": [{"name": "lab", "context": {"cluster": "lab", "user": "admin",
                                                  "namespace": "plant"}}]})


def test_a_client_certificate_from_the_kubeconfig_authenticates_over_verified_tls(keys, server):
    with KubeApi.from_kubeconfig(kubeconfig(keys, server), timeout=5) as api:
        assert api.server == server and api.namespace == "plant"
        assert api.ready() is True
        assert api.get("/api/v1/namespaces/plant") == {"kind": "Namespace",
                                                       "metadata": {"name": "plant"}}
        assert api.get("/api/v1/namespaces/nowhere") is None
    assert {(cn, auth) for _, _, cn, auth in Handler.seen} == {(USER, None)}


def test_a_token_user_sends_it_as_a_bearer_token(keys, server):
    text = kubeconfig(keys, server, user={"token": "tok-123"})
    with KubeApi.from_kubeconfig(text) as api:
        assert api.ready() is True
    assert Handler.seen == [("GET", "/readyz", None, "Bearer tok-123")]


def test_an_error_is_one_line_with_method_path_status_and_message(keys, server):
    with KubeApi.from_kubeconfig(kubeconfig(keys, server)) as api, \
            pytest.raises(KubeApiError) as raised:
        api.get("/api/v1/namespaces/secret-place")
    assert str(raised.value) == (
        f"Kubernetes API {server}: GET /api/v1/namespaces/secret-place: 403 Forbidden:"
        ' namespaces "secret-place" is forbidden: User "tcra:unit" cannot get')
    assert len(Handler.seen) == 1  # a refusal is not retried


def test_a_server_another_ca_signed_is_refused_at_once(keys, server):
    with KubeApi.from_kubeconfig(kubeconfig(keys, server, ca=keys["other_ca"])) as api:
        assert api.ready() is False
        with pytest.raises(KubeApiError, match="CERTIFICATE_VERIFY_FAILED") as raised:
            api.get("/api/v1/namespaces/plant")
    assert "tries" not in str(raised.value)  # no second try: the CA will not change
    assert Handler.seen == []


@pytest.fixture
def hang_up(keys):
    """A TLS server that reads each request and closes the connection unanswered (the answer
    lost on the way); records the requests' first lines."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(keys["server"].certificate, keys["server"].key)
    listener = socket.create_server(("127.0.0.1", 0))
    accepted = []

    def serve():
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            try:
                with context.wrap_socket(conn, server_side=True) as secured:
                    accepted.append(secured.recv(65536).split(b"\r\n", 1)[0].decode())
            except (ssl.SSLError, OSError):
                accepted.append("no request")

    threading.Thread(target=serve, daemon=True).start()
    yield f"https://127.0.0.1:{listener.getsockname()[1]}", accepted
    listener.close()


def test_only_gets_are_retried(keys, hang_up, monkeypatch):
    monkeypatch.setattr(kube_api, "BACKOFF", 0.0)
    address, accepted = hang_up
    api = KubeApi.from_kubeconfig(kubeconfig(keys, address), timeout=5)
    api._discovered["v1"] = {"ConfigMap": kube_api.ApiResource(
        api_version="v1", kind="ConfigMap", plural="configmaps", namespaced=True)}
    with pytest.raises(KubeApiError, match=r": GET /api/v1/namespaces/plant: no answer: .*"
                       r"\(3 tries\)$"):
        api.get("/api/v1/namespaces/plant")
    assert accepted == ["GET /api/v1/namespaces/plant HTTP/1.1"] * kube_api.ATTEMPTS
    accepted.clear()
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}
    with pytest.raises(KubeApiError, match=r": PATCH /api/v1/namespaces/plant/configmaps/c:"
                       r" no answer"):
        api.apply(cm, "tcra-wdm")
    assert accepted == ["PATCH /api/v1/namespaces/plant/configmaps/c?fieldManager=tcra-wdm"
                        "&force=true HTTP/1.1"]


def test_nothing_answering_is_not_ready_and_a_get_fails_naming_the_cause(keys, monkeypatch):
    monkeypatch.setattr(kube_api, "BACKOFF", 0.0)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = f"https://127.0.0.1:{probe.getsockname()[1]}"
    api = KubeApi.from_kubeconfig(kubeconfig(keys, closed), timeout=2)
    assert api.ready() is False
    with pytest.raises(KubeApiError, match=r"ConnectionRefusedError.*\(3 tries\)"):
        api.get("/api")


@pytest.mark.parametrize(("change", "message"), [
    (lambda c: c.pop("current-context"), "current-context is not set"),
    (lambda c: c["clusters"][0]["cluster"].update({"insecure-skip-tls-verify": True}),
     "insecure-skip-tls-verify is refused"),
    (lambda c: c["clusters"][0]["cluster"].update({"server": "http://127.0.0.1:1"}),
     "must be an https:// URL"),
    (lambda c: c["users"][0]["user"].pop("client-key-data"), "needs both"),
    (lambda c: c["users"][0].update({"user": {"exec": {"command": "x"}}}),
     "exec is not supported"),
    (lambda c: c["users"][0]["user"].update({"client-key-data": "@@not base64@@"}),
     "client-key-data is not base64"),
    (lambda c: c["users"][0]["user"].update(
        {"client-key-data": base64.b64encode(b"-----BEGIN EC PRIVATE KEY-----\nAAAA\n").decode()}),
     "unusable certificate or key"),
])
def test_a_bad_kubeconfig_fails_in_one_line_that_never_shows_its_text(keys, change, message):
    config = yaml.safe_load(kubeconfig(keys, "https://127.0.0.1:1"))
    change(config)
    text = yaml.safe_dump(config)
    with pytest.raises(KubeconfigError, match=message) as raised:
        KubeApi.from_kubeconfig(text)
    shown = f"{raised.value!s} {raised.value!r} {raised.value.__cause__!r}"
    assert "KEY" not in shown and "CERTIFICATE" not in shown and "\n" not in str(raised.value)


def test_broken_yaml_never_shows_its_text(keys):
    text = kubeconfig(keys, "https://127.0.0.1:1").replace("users:", "users: [")
    with pytest.raises(KubeconfigError, match=r"^kubeconfig: not valid YAML$") as raised:
        KubeApi.from_kubeconfig(text)
    assert raised.value.__cause__ is None and raised.value.__suppress_context__


def test_the_client_keeps_no_kubeconfig_text_and_shows_only_its_server(keys):
    key_b64 = base64.b64encode(keys["client"].key.read_bytes()).decode()
    api = KubeApi.from_kubeconfig(kubeconfig(keys, "https://127.0.0.1:1"))
    assert repr(api) == "KubeApi('https://127.0.0.1:1')"
    assert key_b64 not in repr(vars(api)) and "PRIVATE KEY" not in repr(vars(api))
