"""A Helm release's new revision watched until its pods are Ready, and when they are not, why.

Helm's own error on a release that never gets Ready is "context deadline exceeded", said after
it has undone the release, so nothing is left to ask. This watches beside Helm: it waits for the
revision Helm is writing (its storage Secret), then for Helm to record it deployed with the pods
of its Deployments, StatefulSets and DaemonSets Ready and its Jobs complete. When the time is up
first, or Helm records the revision failed, it reads the cause from the cluster while the
failing pods are still there (a container's waiting reason, a probe's last failure, the
scheduler's message) and raises it as one line. Only GETs.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any
from urllib.parse import quote

from tcra.errors import TcraError
from tcra.kube_api import KubeApi
from tcra.model.base import Model
from tcra.wdm.release_drift import decode_release, manifest_objects, revision_of

WORKLOADS = frozenset({"Deployment", "StatefulSet", "DaemonSet", "Job"})
"""Kinds whose pods Helm's --wait waits for."""
STARTING = frozenset({"ContainerCreating", "PodInitializing"})
"""Waiting reasons of a container on its way: not a cause by themselves."""
NOISE = frozenset({"MissingClusterDNS", "BackOff", "Unhealthy"})
"""Warning events that say nothing about why a container is not started yet."""
SHOWN = 160
"""Most characters of a message from the cluster a cause quotes."""
_RPC = re.compile(r"^rpc error: code = \w+ desc = ")


class RolloutError(TcraError):
    """A release's revision was not Ready in time, or Helm recorded it failed: one line, the
    cause as the cluster tells it. `revision`: the one watched, None when none was seen."""

    def __init__(self, message: str, revision: int | None) -> None:
        super().__init__(message)
        self.revision = revision


class Rollout(Model):
    """A revision Helm recorded deployed, its pods Ready."""

    revision: int
    seconds: float


class Cause(Model):
    """One reason a revision is not Ready; the lowest rank is the most specific."""

    rank: int
    text: str


def watch(api: KubeApi, release: str, namespace: str, after_revision: int | None,
          timeout: float, poll: float = 1.0) -> Rollout:
    """Wait for the release's newest revision after `after_revision` (any, when None) to be
    deployed and Ready; RolloutError with the cause when it is not within `timeout` seconds or
    Helm records it failed."""
    started = time.monotonic()
    revision: int | None = None
    while True:
        record = _record(api, release, namespace, after_revision, revision)
        if record is not None:
            revision = int(record.get("version") or 0)
            status = str((record.get("info") or {}).get("status") or "")
            causes = list(_causes(api, record, namespace))
            if status == "deployed" and not causes:
                return Rollout(revision=revision, seconds=round(time.monotonic() - started, 1))
            if status == "failed":
                raise RolloutError(_worst(causes) or f"Helm recorded revision {revision}"
                                   " failed", revision)
        elif revision is not None:  # seen, then gone: Helm uninstalled the failed install
            raise RolloutError(f"Helm removed revision {revision} (the install failed)",
                               revision)
        if time.monotonic() - started >= timeout:
            if record is None:
                raise RolloutError(f"Helm recorded no revision of release {release} in"
                                   f" {namespace}" + (f" after {after_revision}"
                                                      if after_revision else ""), None)
            raise RolloutError(_worst(causes) or f"Helm still records revision {revision}"
                               f" {status or 'without a status'}", revision)
        time.sleep(poll)


def _record(api: KubeApi, release: str, namespace: str, after: int | None,
            revision: int | None) -> dict[str, Any] | None:
    """Helm's record of `revision`, or (None) of the release's newest revision after `after`
    that is an install or upgrade: a rollback (Helm undoing an earlier failed upgrade, which
    `after` may name) is not the revision being made."""
    selector = quote(f"owner=helm,name={release}", safe="")
    secrets = [s for s in api.list(f"/api/v1/namespaces/{quote(namespace, safe='')}/secrets"
                                   f"?labelSelector={selector}")
               if s.get("type") == "helm.sh/release.v1"]
    if revision is not None:
        secrets = [s for s in secrets if revision_of(s) == revision]
    elif after is not None:
        secrets = [s for s in secrets if revision_of(s) > after]
    for secret in sorted(secrets, key=revision_of, reverse=True):
        record = decode_release(secret)
        description = str((record.get("info") or {}).get("description") or "")
        if revision is not None or not description.startswith("Rollback to"):
            return record
    return None


def _worst(causes: list[Cause]) -> str | None:
    return min(causes, key=lambda c: c.rank).text if causes else None


def _causes(api: KubeApi, record: dict[str, Any], namespace: str) -> Iterator[Cause]:
    """Why each workload of the revision (its hooks' Jobs too) is not Ready; nothing when all
    are."""
    objects = [(obj, False) for obj in manifest_objects(str(record.get("manifest") or ""))]
    objects += [(obj, True) for hook in record.get("hooks") or []
                for obj in manifest_objects(str(hook.get("manifest") or ""))]
    for obj, hook in objects:
        kind = str(obj.get("kind"))
        if kind not in WORKLOADS:
            continue
        metadata = obj.get("metadata") or {}
        name, where = str(metadata.get("name")), metadata.get("namespace") or namespace
        path = api.resource(str(obj.get("apiVersion")), kind).path(name, where)
        live = api.get(path)
        if live is None:
            if not hook:  # a hook's Job may be deleted once it succeeded
                yield Cause(rank=9, text=f"no {kind} {name} yet")
            continue
        yield from _workload_causes(api, live, where)


def _workload_causes(api: KubeApi, live: dict[str, Any], namespace: str) -> Iterator[Cause]:
    kind, name = live.get("kind"), (live.get("metadata") or {}).get("name")
    spec, status = live.get("spec") or {}, live.get("status") or {}
    if kind == "Job":
        conditions = {c.get("type"): c for c in status.get("conditions") or []
                      if c.get("status") == "True"}
        if "Complete" in conditions:
            return
        if "Failed" in conditions:
            failed = conditions["Failed"]
            yield Cause(rank=1, text=f"job {name}: failed ({failed.get('reason')})")
            return
        wanted = 1
    elif kind == "DaemonSet":
        wanted = int(status.get("desiredNumberScheduled") or 0)
    else:
        wanted = int(spec.get("replicas", 1))
    pods = [p for p in api.list(f"/api/v1/namespaces/{quote(namespace, safe='')}/pods"
                                f"?labelSelector={quote(_selector(spec), safe='')}")
            if not (p.get("metadata") or {}).get("deletionTimestamp")]
    unready = [p for p in pods if not pod_ready(p) and not _succeeded(p, kind)]
    for pod in unready[:3]:  # a few pods say why; the rest fail alike
        yield diagnose(pod, lambda p: _events(api, namespace, p))
    if not unready and wanted and sum(map(pod_ready, pods)) < wanted and kind != "Job":
        yield Cause(rank=9, text=f"no pods for {kind} {name} yet" if not pods else
                     f"{kind} {name}: {sum(map(pod_ready, pods))} of {wanted} pods Ready")


def _selector(spec: dict[str, Any]) -> str:
    """A workload's spec.selector as a label selector query."""
    selector = spec.get("selector") or {}
    terms = [f"{k}={v}" for k, v in (selector.get("matchLabels") or {}).items()]
    for term in selector.get("matchExpressions") or []:
        key, values = term.get("key"), ",".join(term.get("values") or [])
        terms.append({"In": f"{key} in ({values})", "NotIn": f"{key} notin ({values})",
                      "Exists": str(key), "DoesNotExist": f"!{key}"}[term.get("operator")])
    return ",".join(terms)


def pod_ready(pod: Mapping[str, Any]) -> bool:
    """Whether the pod's Ready condition is True."""
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or [])


def _succeeded(pod: dict[str, Any], kind: object) -> bool:
    return kind == "Job" and (pod.get("status") or {}).get("phase") == "Succeeded"


def _events(api: KubeApi, namespace: str, pod: str) -> list[dict[str, Any]]:
    selector = quote(f"involvedObject.name={pod}", safe="")
    return api.list(f"/api/v1/namespaces/{quote(namespace, safe='')}/events"
                    f"?fieldSelector={selector}")


def diagnose(pod: dict[str, Any], events: Callable[[str], list[dict[str, Any]]]) -> Cause:
    """Why a pod is not Ready, most specific first: a container waiting on an error or
    crashing, a container running but failing its probe (from the pod's events, read by
    `events(pod_name)` only then), the pod not scheduled, the pod's Ready condition."""
    name = str((pod.get("metadata") or {}).get("name"))
    status = pod.get("status") or {}
    containers = [*(status.get("initContainerStatuses") or []),
                  *(status.get("containerStatuses") or [])]
    for container in containers:
        found = _container_cause(container)
        if found:
            return Cause(rank=0, text=f"pod {name}: container {container.get('name')}: {found}")
    conditions = {c.get("type"): c for c in status.get("conditions") or []}
    scheduled = conditions.get("PodScheduled") or {}
    if scheduled.get("status") == "False":
        return Cause(rank=3, text=f"pod {name}: {status.get('phase') or 'Pending'}:"
                      f" {_short(str(scheduled.get('message') or scheduled.get('reason')))}")
    warnings = sorted((e for e in events(name) if e.get("type") == "Warning"),
                      key=_when, reverse=True)
    for container in containers:
        if "running" in (container.get("state") or {}) and not container.get("ready"):
            field = f"spec.containers{{{container.get('name')}}}"
            probe = next((e for e in warnings if e.get("reason") == "Unhealthy" and
                          (e.get("involvedObject") or {}).get("fieldPath") == field), None)
            if probe is not None:
                return Cause(rank=2, text=f"pod {name}: container {container.get('name')}"
                              f" not Ready: {_short(str(probe.get('message')))}")
    other = next((e for e in warnings if e.get("reason") not in NOISE), None)
    if other is not None:
        return Cause(rank=2, text=f"pod {name}: {other.get('reason')}:"
                      f" {_short(str(other.get('message')))}")
    ready = conditions.get("Ready") or {}
    why = ready.get("message") or ready.get("reason") or f"phase {status.get('phase')}"
    return Cause(rank=4, text=f"pod {name}: not Ready: {_short(str(why))}")


def _container_cause(container: dict[str, Any]) -> str | None:
    """A container's error, as its state says it: waiting on a reason other than starting up
    (the image, the message's gist), or ended with an error."""
    state, image = container.get("state") or {}, str(container.get("image") or "")
    waiting = state.get("waiting") or {}
    reason = waiting.get("reason")
    if reason == "CrashLoopBackOff":
        last = (container.get("lastState") or {}).get("terminated") or {}
        said = f": {_short(str(last['message']))}" if last.get("message") else ""
        return (f"CrashLoopBackOff (exit code {last.get('exitCode', '?')},"
                f" {container.get('restartCount', 0)} restarts){said}")
    if reason in ("ImagePullBackOff", "ErrImagePull", "InvalidImageName", "ErrImageNeverPull"):
        message = _short(str(waiting.get("message") or ""), image)
        return f"{reason}: {image}" + (f" ({message})" if message else "")
    if reason and reason not in STARTING:
        message = _short(str(waiting.get("message") or ""), image)
        return f"{reason}" + (f": {message}" if message else "")
    terminated = state.get("terminated") or {}
    if terminated and terminated.get("exitCode"):
        return (f"terminated: {terminated.get('reason') or 'Error'} (exit code"
                f" {terminated.get('exitCode')})")
    return None


def _short(message: str, image: str = "") -> str:
    """A message from the cluster in one short line: the image named once (not in every
    clause), gRPC's wrapping and Back-off's preamble left out, the middle of a long one cut."""
    text = " ".join(message.split())
    if image:
        text = re.sub(rf'^(Back-off pulling image|Failed to pull image) "{re.escape(image)}":'
                      r" (\w+: )?", "", text)
        text = text.replace(f' "{image}"', "").replace(f"{image}: ", "")
    text = _RPC.sub("", text)
    if len(text) <= SHOWN:
        return text
    parts = text.split(": ")
    short = f"{parts[0]}: ...: {': '.join(parts[-2:])}" if len(parts) > 3 else text
    return short if len(short) <= SHOWN else short[:SHOWN - 3] + "..."


def _when(event: dict[str, Any]) -> str:
    """When an event last happened (RFC 3339 text sorts by time)."""
    series = event.get("series") or {}
    return str(series.get("lastObservedTime") or event.get("lastTimestamp") or
               event.get("eventTime") or (event.get("metadata") or {}).get("creationTimestamp")
               or "")
