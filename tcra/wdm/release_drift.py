"""Drift of a Helm release: its objects as the cluster holds them, against its last deployed
manifest.

pulumi-kubernetes' Release reads only Helm's release record, so a Deployment scaled or deleted
by hand never shows in `pulumi refresh`. This reads the record's manifest (hooks are not in it,
and are not drift), fetches each object, and reports each field the manifest sets that the
cluster holds otherwise, and each object that is gone. Fields the manifest does not set
(server defaults, labels and annotations others add, status) are not drift. `repair`
server-side-applies the drifted objects, as the manifest has them.
"""

from __future__ import annotations

import base64
import gzip
import json
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import yaml

from tcra.errors import TcraError, excerpt
from tcra.kube_api import KubeApi, NotServedError, quantity
from tcra.model.base import Model

FIELD_MANAGER = "tcra-wdm"
_GZIP = b"\x1f\x8b\x08"
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_EMPTY: tuple[Any, ...] = (None, "", {}, [], False, 0)
"""Values the API server leaves out of an object (omitempty): the manifest setting one is
matched by the field's absence."""
_NOT_COMPARED = ("status",)
"""Top-level fields that are the cluster's, not the release's, whatever the manifest says."""


class ReleaseRecordError(TcraError):
    """Helm's record of a release cannot be read (not the encoding Helm writes)."""


class ObjectRef(Model):
    """One object of the release, as messages name it: `Deployment ns/name`."""

    api_version: str
    kind: str
    name: str
    namespace: str | None = None

    def __str__(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}" if self.namespace else \
            f"{self.kind} {self.name}"


class FieldDrift(Model):
    """One field the manifest sets that the cluster holds otherwise."""

    path: str
    live: Any = None
    release: Any = None
    unset: bool = False
    """The cluster's object lacks the field."""
    hidden: bool = False
    """A Secret's data: the values are kept out (they would end up in plain outputs)."""

    def __str__(self) -> str:
        if self.hidden:
            return f"{self.path} differs from the release (values hidden: a Secret's data)"
        live = "is unset" if self.unset else f"is {excerpt(self.live)}"
        return f"{self.path} {live}, the release says {excerpt(self.release)}"


class ObjectDrift(Model):
    """An object of the release that is gone, or holds some of its fields otherwise."""

    object: ObjectRef
    missing: bool = False
    reason: str | None = None
    """Why a missing object cannot be read at all (its kind is not served)."""
    fields: tuple[FieldDrift, ...] = ()

    def lines(self) -> list[str]:
        if self.missing:
            return [f"{self.object}: missing" + (f" ({self.reason})" if self.reason else "")]
        return [f"{self.object}: {field}" for field in self.fields]


class DriftReport(Model):
    """A release's drift: empty `drift` when the cluster holds every object as released."""

    release: str
    namespace: str
    revision: int | None = None
    """The deployed revision compared against; None when Helm records none deployed."""
    objects: tuple[ObjectRef, ...] = ()
    """Every object of the deployed manifest."""
    drift: tuple[ObjectDrift, ...] = ()

    def lines(self) -> list[str]:
        """One line per drifted field or missing object, as `pulumi refresh` shows them."""
        if self.revision is None:
            return [f"Helm release {self.namespace}/{self.release}: no deployed revision"]
        return [line for found in self.drift for line in found.lines()]


class _Planned(Model):
    """One manifest object beside the cluster's copy of it."""

    ref: ObjectRef
    want: dict[str, Any]
    """The manifest's object, with the release's namespace filled in where the kind needs one."""
    live: dict[str, Any] | None
    not_served: str | None = None


def read_drift(api: KubeApi, release: str, namespace: str) -> DriftReport:
    """The release's drift now: its last deployed manifest against the cluster."""
    return _report(release, namespace, *_plan(api, release, namespace))


def repair(api: KubeApi, release: str, namespace: str) -> DriftReport:
    """Server-side apply (field manager `tcra-wdm`, forced) every drifted object the cluster
    can take, as the manifest has it; returns the drift it found and repaired. An object whose
    kind the cluster does not serve stays missing."""
    revision, planned = _plan(api, release, namespace)
    report = _report(release, namespace, revision, planned)
    drifted = {found.object for found in report.drift}
    for item in planned:
        if item.ref in drifted and item.not_served is None:
            api.apply(item.want, FIELD_MANAGER)
    return report


def _report(release: str, namespace: str, revision: int | None,
            planned: list[_Planned]) -> DriftReport:
    drift = [found for item in planned
             if (found := compare(item.want, item.live, item.ref, item.not_served)) is not None]
    return DriftReport(release=release, namespace=namespace, revision=revision,
                       objects=tuple(item.ref for item in planned), drift=tuple(drift))


def _plan(api: KubeApi, release: str, namespace: str) -> tuple[int | None, list[_Planned]]:
    record = latest_deployed(api, release, namespace)
    if record is None:
        return None, []
    planned = []
    for obj in manifest_objects(str(record.get("manifest") or "")):
        metadata = obj.setdefault("metadata", {})
        ref = ObjectRef(api_version=str(obj.get("apiVersion")), kind=str(obj.get("kind")),
                        name=str(metadata.get("name")), namespace=metadata.get("namespace"))
        try:
            resource = api.resource(ref.api_version, ref.kind)
        except NotServedError:
            planned.append(_Planned(ref=ref, want=obj, live=None,
                                    not_served=f"the cluster serves no {ref.kind} in"
                                    f" {ref.api_version}"))
            continue
        if resource.namespaced:
            metadata["namespace"] = metadata.get("namespace") or namespace
        else:
            metadata.pop("namespace", None)  # Helm ignores it on a cluster-wide kind
        ref = ref.model_copy(update={"namespace": metadata.get("namespace")})
        live = api.get(resource.path(ref.name, ref.namespace))
        planned.append(_Planned(ref=ref, want=obj, live=live))
    return int(record.get("version") or 0), planned


def latest_deployed(api: KubeApi, release: str, namespace: str) -> dict[str, Any] | None:
    """Helm's record of the release's deployed revision (the highest, should there be two),
    from its storage Secrets; None when no revision is deployed."""
    selector = quote(f"owner=helm,name={release},status=deployed", safe="")
    secrets = api.list(f"/api/v1/namespaces/{quote(namespace, safe='')}/secrets"
                       f"?labelSelector={selector}")
    secrets = [s for s in secrets if s.get("type") == "helm.sh/release.v1"]
    if not secrets:
        return None
    newest = max(secrets, key=revision_of)
    return decode_release(newest)


def revision_of(secret: dict[str, Any]) -> int:
    """The revision a Helm storage Secret holds, from its `version` label (0 when it has none)."""
    label = ((secret.get("metadata") or {}).get("labels") or {}).get("version", "0")
    return int(label) if str(label).isdigit() else 0


def decode_release(secret: dict[str, Any]) -> dict[str, Any]:
    """The release record a Helm storage Secret holds: the Secret's base64 of Helm's base64 of
    gzipped JSON (plain JSON when Helm did not compress it)."""
    name = (secret.get("metadata") or {}).get("name", "?")
    try:
        encoded = base64.b64decode((secret.get("data") or {})["release"], validate=True)
        raw = base64.b64decode(encoded, validate=True)
        record = json.loads(gzip.decompress(raw) if raw.startswith(_GZIP) else raw)
    except (KeyError, ValueError, OSError, EOFError) as exc:
        raise ReleaseRecordError(f"Helm release Secret {name}: not a Helm release record"
                                 f" ({type(exc).__name__})") from None
    if not isinstance(record, dict):
        raise ReleaseRecordError(f"Helm release Secret {name}: not a Helm release record")
    return record


def manifest_objects(manifest: str) -> list[dict[str, Any]]:
    """The objects of a rendered multi-document manifest (empty documents left out)."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        documents = list(yaml.load_all(manifest, Loader=loader))
    except yaml.YAMLError as exc:
        raise ReleaseRecordError(f"the release's manifest is not YAML: {exc}") from None
    return [doc for doc in documents if isinstance(doc, dict) and doc.get("kind")]


def compare(want: dict[str, Any], live: dict[str, Any] | None, ref: ObjectRef,
            not_served: str | None = None) -> ObjectDrift | None:
    """How the cluster's object differs from the manifest's; None when it does not."""
    if live is None:
        return ObjectDrift(object=ref, missing=True, reason=not_served)
    hidden = ref.kind == "Secret" and ref.api_version == "v1"
    if hidden:
        want = _secret_as_stored(want)
    fields = [FieldDrift(path=path, unset=unset,
                         hidden=hidden and path.startswith("data"),
                         live=None if hidden else live_value,
                         release=None if hidden else want_value)
              for path, live_value, want_value, unset in _differences(
                  {k: v for k, v in want.items() if k not in _NOT_COMPARED}, live, "")]
    return ObjectDrift(object=ref, fields=tuple(fields)) if fields else None


def _secret_as_stored(want: dict[str, Any]) -> dict[str, Any]:
    """A Secret's stringData is write-only: the cluster keeps it, base64-encoded, in data."""
    string_data = want.get("stringData") or {}
    if not string_data:
        return want
    data = {**(want.get("data") or {}),
            **{k: base64.b64encode(str(v).encode()).decode() for k, v in string_data.items()}}
    return {**{k: v for k, v in want.items() if k != "stringData"}, "data": data}


def _differences(want: Any, live: Any, path: str) -> Iterator[tuple[str, Any, Any, bool]]:
    """(path, live, want, unset) for each field `want` sets that `live` holds otherwise.
    Mappings: only the keys `want` has. Lists of scalars: equal as a whole. Lists of objects:
    item by item; items the cluster added after them (a sidecar, a defaulted port) are not
    drift, fewer items are."""
    if isinstance(want, dict):
        if not isinstance(live, dict):
            yield path, live, want, False
            return
        for key, value in want.items():
            where = _join(path, key)
            if value is None:  # null in a manifest sets nothing
                continue
            if live.get(key) is None:
                if value not in _EMPTY:
                    yield where, None, value, True
                continue
            yield from _differences(value, live[key], where)
    elif isinstance(want, list):
        if not isinstance(live, list):
            yield path, live, want, False
        elif not all(isinstance(item, dict) for item in want):
            if len(want) != len(live) or not all(map(_same, want, live)):
                yield path, live, want, False
        elif len(live) < len(want):
            yield path, live, want, False
        else:
            for index, (item, held) in enumerate(zip(want, live, strict=False)):
                yield from _differences(item, held, f"{path}[{index}]")
    elif not _same(want, live):
        yield path, live, want, False


def _same(want: Any, live: Any) -> bool:
    """Equal, or the same number however written: a quantity ("0.5" and "500m", "1Gi" and
    "1024Mi") or an int and its string ("8080" and 8080)."""
    if type(want) is type(live) and want == live:
        return True
    if isinstance(want, bool) or isinstance(live, bool):
        return want == live and type(want) is type(live)
    wanted, held = quantity(want), quantity(live)
    return wanted is not None and wanted == held


def _join(path: str, key: str) -> str:
    if _IDENTIFIER.match(key):
        return f"{path}.{key}" if path else key
    return f"{path}[{key!r}]"
