"""The API's callbacks to a real HTTPS sink on 127.0.0.1 (a certificate from a CA of the test's
own): a status change arrives as a CloudEvent with the sink's bearer token, is sent again
after a 5xx, not after a 4xx, and never to a sink whose certificate the CA did not sign."""

import json
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tcra.api.notify import Notifier, event
from tcra.api.schemas import ENDED_EVENT, INSTANCE_EVENT
from tcra.api.store import InstanceRow
from tcra.lab import tls

ROW = InstanceRow(instance_id="0f8fad5b-d9cb-469f-a165-70867728950e", status="ready",
                  reason=None, sink=None)


@contextmanager
def sink(folder, answers: list[int]) -> Iterator[tuple[str, list[tuple[dict, dict]]]]:
    """An HTTPS sink answering `answers` in turn (then 204); what it received."""
    made = tls.ensure(folder, "notify")
    received: list[tuple[dict, dict]] = []

    class Sink(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            received.append((dict(self.headers), body))
            self.send_response(answers.pop(0) if answers else 204)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Sink)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(made.certificate, made.key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}/events", received
    finally:
        server.shutdown()
        server.server_close()


def test_a_status_change_arrives_as_a_cloud_event_with_the_sinks_token(tmp_path):
    with sink(tmp_path, [503]) as (url, received):
        notifier = Notifier(tls.files(tmp_path).ca_bundle)
        sent = event(ROW, gone=False)
        assert notifier.send({"sink": url, "token": "sink-token"}, sent) == 204
    (_, first), (headers, body) = received  # the 503, then the same event again
    assert first == body == sent
    assert headers["Authorization"] == "Bearer sink-token"
    assert headers["Content-Type"] == "application/cloudevents+json"
    assert body["type"] == INSTANCE_EVENT and body["specversion"] == "1.0"
    assert body["data"] == {"appInstanceId": ROW.instance_id, "status": "ready"}
    assert event(ROW, gone=True)["type"] == ENDED_EVENT


def test_a_refusal_is_final_and_an_untrusted_sink_gets_nothing(tmp_path):
    with sink(tmp_path, [401]) as (url, received):
        assert Notifier(tls.files(tmp_path).ca_bundle).send(
            {"sink": url, "token": None}, event(ROW, gone=False)) == 401
        assert len(received) == 1 and "Authorization" not in received[0][0]
        untrusted = Notifier()  # the system's CAs: the test's CA is not one of them
        assert untrusted.send({"sink": url, "token": None}, event(ROW, gone=False)) is None
        assert len(received) == 1
