"""A fault-injecting HTTP proxy in front of a Redfish BMC that records what reaches the BMC.

It takes the production TLS path on both sides: it forwards to the BMC's HTTPS verifying the
lab's CA (`ca_bundle`), and serves HTTPS itself with the lab's certificate for 127.0.0.1
(`serve`), so the client under test verifies it against the same CA and meets each fault
through its TLS stack, as it would a real BMC's (a dropped connection is a TLS EOF, not a bare
socket close).

Faults, each for requests whose method matches and whose path ends with a given part:
- "503_after_forward": the BMC gets the request (and acts on it); the client gets 503.
- "drop_after_forward": the BMC gets the request; the client's connection is closed unanswered.
- "503": the client gets 503; the BMC never sees the request.
"""

from __future__ import annotations

import http.server
import json
import ssl
import threading
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Literal

import requests

from tcra.lab.tls import LabTls

Fault = Literal["503_after_forward", "drop_after_forward", "503"]
_HOP_BY_HOP = {"content-length", "transfer-encoding", "connection", "content-encoding"}


@dataclass
class Rule:
    method: str
    path_part: str
    fault: Fault
    times: int | None = None  # None: every matching request


@dataclass
class Reached:
    """One request the BMC received."""

    method: str
    path: str
    body: dict[str, object] = field(default_factory=dict)


class RedfishProxy:
    """Start with `with RedfishProxy(upstream, tls) as proxy:`; point the client at proxy.url,
    verifying it with tls.ca_bundle."""

    def __init__(self, upstream: str, tls: LabTls) -> None:
        self.upstream = upstream.rstrip("/")
        self.ca_bundle: Path = tls.ca_bundle
        self.rules: list[Rule] = []
        self.reached: list[Reached] = []
        self._lock = threading.Lock()
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(tls.certificate, tls.key)
        # the handshake happens in the request's thread, so one slow client blocks no other
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True,
                                                  do_handshake_on_connect=False)
        self.url = f"https://127.0.0.1:{self._server.server_address[1]}"

    def inject(self, method: str, path_part: str, fault: Fault, times: int | None = None) -> None:
        with self._lock:
            self.rules.append(Rule(method, path_part, fault, times))

    def clear(self) -> None:
        with self._lock:
            self.rules.clear()
            self.reached.clear()

    def count(self, method: str, path_part: str = "") -> int:
        with self._lock:
            return sum(1 for r in self.reached if r.method == method and path_part in r.path)

    def count_exact(self, method: str, path: str) -> int:
        with self._lock:
            return sum(1 for r in self.reached if r.method == method and r.path == path)

    def resets(self) -> list[str]:
        """The ResetType of every reset action that reached the BMC, in order."""
        with self._lock:
            return [str(r.body.get("ResetType")) for r in self.reached
                    if r.method == "POST" and "ComputerSystem.Reset" in r.path]

    def _fault_for(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for rule in self.rules:
                matches = path.split("?")[0].rstrip("/").endswith(rule.path_part)
                if rule.method == method and matches and rule.times != 0:
                    if rule.times is not None:
                        rule.times -= 1
                    return rule.fault
        return None

    def _record(self, method: str, path: str, body: bytes) -> None:
        try:
            parsed = json.loads(body) if body else {}
        except ValueError:
            parsed = {}
        with self._lock:
            self.reached.append(Reached(method, path, parsed if isinstance(parsed, dict) else {}))

    def _handler(self) -> type[http.server.BaseHTTPRequestHandler]:
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                fault = proxy._fault_for(self.command, self.path)
                if fault == "503":
                    self._answer(503, {}, b"")
                    return
                proxy._record(self.command, self.path, body)
                reply = requests.request(
                    self.command, proxy.upstream + self.path, data=body or None,
                    headers={k: v for k, v in self.headers.items() if k.lower() != "host"},
                    verify=str(proxy.ca_bundle), timeout=30)
                if fault == "drop_after_forward":
                    self.close_connection = True  # the server closes the socket, no answer
                    return
                if fault == "503_after_forward":
                    self._answer(503, {}, b"")
                    return
                self._answer(reply.status_code, dict(reply.headers), reply.content)

            def _answer(self, status: int, headers: dict[str, str], content: bytes) -> None:
                self.send_response(status)
                for key, value in headers.items():
                    if key.lower() not in _HOP_BY_HOP:
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(content)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(content)
                self.close_connection = True

            do_GET = do_POST = do_PATCH = do_DELETE = _handle

            def log_message(self, *_args: object) -> None:
                pass

        return Handler

    def __enter__(self) -> RedfishProxy:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, _type: type[BaseException] | None, _exc: BaseException | None,
                 _tb: TracebackType | None) -> None:
        self._server.shutdown()
        self._server.server_close()
