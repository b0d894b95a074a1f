"""The agent's webhook for Alertmanager, on 127.0.0.1: a call is checked (token, payload) and
answered at once; one worker thread turns the queued notifications into actions, since a
preview takes longer than Alertmanager waits for an answer."""

from __future__ import annotations

import json
import logging
import queue
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tcra.act.agent import Agent
from tcra.act.alerts import Notification, RefusedCallError, authorize, parse

PATH = "/alerts"
MAX_BODY = 1 << 20  # Alertmanager sends at most a group's alerts; 1 MiB is far above that
log = logging.getLogger("tcra.act")


class Webhook:
    def __init__(self, agent: Agent, token: str, host: str, port: int) -> None:
        self.agent = agent
        self.queue: queue.SimpleQueue[Notification | None] = queue.SimpleQueue()
        self.server = ThreadingHTTPServer((host, port), _handler(self.queue, token))
        self.worker = threading.Thread(target=self._work, name="tcra-act", daemon=True)

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def serve(self) -> None:
        """Until `close` (from another thread)."""
        self.worker.start()
        self.server.serve_forever()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.queue.put(None)
        if self.worker.is_alive():
            self.worker.join()

    def _work(self) -> None:
        while (notification := self.queue.get()) is not None:
            try:
                for action in self.agent.receive(notification):
                    log.warning("action %s: %s/%s %s", action.id, action.service,
                                action.workload, action.state)
            except Exception:  # one bad notification must not stop the agent
                log.exception("a notification could not be acted on")


def _handler(notifications: queue.SimpleQueue[Notification | None], token: str
             ) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            try:
                if self.path != PATH:
                    raise RefusedCallError(404, [f"expected POST {PATH}"])
                authorize(self.headers.get("Authorization"), token)
                length = _length(self.headers.get("Content-Length"))
                if not 0 < length <= MAX_BODY:
                    raise RefusedCallError(413 if length > MAX_BODY else 411, [
                        f"expected a body of 1 to {MAX_BODY} bytes (got {length})"])
                notifications.put(parse(self.rfile.read(length)))
            except RefusedCallError as exc:
                self._answer(exc.status, {"problems": exc.problems})
            else:
                self._answer(202, {"queued": True})

        def _answer(self, status: int, body: dict[str, object]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            log.info(format, *args)

    return Handler


def _length(header: str | None) -> int:
    try:
        return int(header or 0)
    except ValueError:
        return -1
