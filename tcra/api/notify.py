"""The definition's callbacks: each status change of an instance whose creator gave a
subscriptionRequest is POSTed to its sink as a CloudEvent (application/cloudevents+json), with
the sink's bearer token; when the instance is gone, a subscription-ended event closes it.

Sent from a thread of its own, so no deployment waits for a sink. TLS is verified (the
system's CAs, or --sink-ca). A sink that does not answer or answers 429/5xx gets the same event
(same id: a receiver drops a repeat) at most ATTEMPTS times, with backoff; 4xx is final."""

from __future__ import annotations

import json
import logging
import ssl
import time
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tcra.api.schemas import ENDED_EVENT, INSTANCE_EVENT
from tcra.api.store import InstanceRow

ATTEMPTS = 3
TIMEOUT_S = 5
SOURCE = "urn:tcra:edge-application-management"
log = logging.getLogger("tcra.api.notify")


class Notifier:
    def __init__(self, ca: Path | None = None) -> None:
        self._tls = ssl.create_default_context(cafile=str(ca) if ca else None)
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="tcra-notify")

    def __call__(self, row: InstanceRow, gone: bool) -> None:
        if row.sink:
            self._pool.submit(self.send, row.sink, event(row, gone))

    def send(self, sink: dict[str, Any], body: dict[str, Any]) -> int | None:
        """The sink's answer status, None when it never answered."""
        headers = {"Content-Type": "application/cloudevents+json"}
        if sink.get("token"):
            headers["Authorization"] = f"Bearer {sink['token']}"
        data = json.dumps(body).encode()
        for attempt in range(ATTEMPTS):
            request = urllib.request.Request(sink["sink"], data=data, headers=headers,  # noqa: S310 - https only
                                             method="POST")
            try:
                with urllib.request.urlopen(request, timeout=TIMEOUT_S,  # noqa: S310 - https only
                                            context=self._tls) as answer:
                    return int(answer.status)
            except urllib.error.HTTPError as exc:
                if exc.code != 429 and exc.code < 500:
                    log.warning("sink refused event %s: %s", body["id"], exc.code)
                    return exc.code
            except (urllib.error.URLError, OSError) as exc:
                log.warning("sink unreachable for event %s: %s", body["id"], exc)
            time.sleep(0.5 * 2 ** attempt)
        return None


def event(row: InstanceRow, gone: bool) -> dict[str, Any]:
    return {"id": str(uuid.uuid4()), "source": SOURCE, "specversion": "1.0",
            "type": ENDED_EVENT if gone else INSTANCE_EVENT,
            "datacontenttype": "application/json",
            "time": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "data": {"appInstanceId": row.instance_id, "status": row.status,
                     **({"reason": row.reason} if row.reason else {}),
                     **({"terminationReason": "SUBSCRIPTION_DELETED"} if gone else {})}}
