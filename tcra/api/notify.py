"""The definition's callbacks: each status change of an instance whose creator gave a
subscriptionRequest is POSTed to its sink as a CloudEvent (application/cloudevents+json), with
the sink's bearer token; when the instance is gone, a subscription-ended event closes it. An
instance of a deployment tells the deployment's sink instead: the statuses of all its
instances, and subscription-ended when the deployment is gone.

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

from tcra.api.schemas import DEPLOYMENT_EVENT, ENDED_EVENT, INSTANCE_EVENT
from tcra.api.store import ApiStore, DeploymentRow, InstanceRow

ATTEMPTS = 3
TIMEOUT_S = 5
SOURCE = "urn:tcra:edge-application-management"
ENDED = {"terminationReason": "SUBSCRIPTION_DELETED"}
log = logging.getLogger("tcra.api.notify")


class Notifier:
    def __init__(self, store: ApiStore, ca: Path | None = None) -> None:
        self.store = store
        self._tls = ssl.create_default_context(cafile=str(ca) if ca else None)
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="tcra-notify")

    def changed(self, row: InstanceRow, gone: bool) -> None:
        if row.deployment_id is not None:
            self._pool.submit(self._deployment_changed, row.deployment_id)
        elif row.sink:
            self._pool.submit(self.send, row.sink, event(row, gone))

    def ended(self, deployment: DeploymentRow) -> None:
        if deployment.sink:
            self._pool.submit(self.send, deployment.sink, _cloud_event(ENDED_EVENT, {
                "appDeploymentId": deployment.deployment_id, **ENDED}))

    def _deployment_changed(self, deployment_id: str) -> None:
        """Read when sent, so the sink hears where all its instances are now."""
        deployment = self.store.deployment(deployment_id)
        if deployment is not None and deployment.sink:
            self.send(deployment.sink, deployment_event(
                deployment, self.store.instances(deployment_id=deployment_id)))

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
    return _cloud_event(ENDED_EVENT if gone else INSTANCE_EVENT, {
        "appInstanceId": row.instance_id, "status": row.status,
        **({"reason": row.reason} if row.reason else {}), **(ENDED if gone else {})})


def deployment_event(deployment: DeploymentRow, instances: list[InstanceRow]
                     ) -> dict[str, Any]:
    return _cloud_event(DEPLOYMENT_EVENT, {
        "appDeploymentId": deployment.deployment_id,
        "appInstances": [{"appInstanceId": i.instance_id, "status": i.status,
                          **({"reason": i.reason} if i.reason else {})} for i in instances]})


def _cloud_event(kind: str, data: dict[str, Any]) -> dict[str, Any]:
    return {"id": str(uuid.uuid4()), "source": SOURCE, "specversion": "1.0", "type": kind,
            "datacontenttype": "application/json",
            "time": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "data": data}
