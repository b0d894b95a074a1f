"""An HTTPS notification sink on 127.0.0.1, with a certificate from a CA of the test's own
(tcra.lab.tls), for the tests of the API's callbacks."""

import json
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tcra.lab import tls


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
