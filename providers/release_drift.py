"""ReleaseDrift: a Helm release's objects as the cluster holds them, beside the release itself
(TCRA Workload Deployment Manager).

pulumi-kubernetes' Release reads only Helm's record, so an object of the release scaled, edited
or deleted by hand never shows. This resource compares the record's manifest with the live
objects (tcra.wdm.release_drift): read = the drift now, so `pulumi refresh` shows it as the
`drift` output; diff = a change whenever the last read saw drift; create and update = repair
(server-side apply of the drifted objects) then read. Delete leaves the objects alone: they
are the Release's. Each call opens its own API client from the (secret) kubeconfig input.
"""

from __future__ import annotations

from typing import Any

import pulumi
from pulumi.dynamic import (
    CheckFailure,
    CheckResult,
    CreateResult,
    DiffResult,
    ReadResult,
    Resource,
    ResourceProvider,
    UpdateResult,
)
from pulumi.output import Unknown
from pydantic import Field, SecretStr, ValidationError

from tcra.errors import problems_from
from tcra.kube_api import KubeApi
from tcra.model.base import Model
from tcra.wdm.release_drift import DriftReport, read_drift, repair

REPLACE_ON = ("release", "namespace")
"""Inputs that name another release: the drift of that one is another resource."""


class _Release(Model):
    """Which release, and how long any one API call may take."""

    release: str = Field(max_length=53, pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
    namespace: str = Field(max_length=63, pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    timeout: float = Field(default=10.0, gt=0, le=300,
                           description="Seconds for any one Kubernetes API call.")


class ReleaseDriftSpec(_Release):
    """The provider's validated inputs."""

    kubeconfig: SecretStr
    revision: int | str | None = Field(default=None, description="The Release's revision: a"
                                       " new one makes the engine read and repair again.")


def _spec(props: dict[str, Any]) -> ReleaseDriftSpec:
    fields = ReleaseDriftSpec.model_fields
    return ReleaseDriftSpec.model_validate({k: v for k, v in props.items() if k in fields})


def _api(spec: ReleaseDriftSpec) -> KubeApi:
    return KubeApi.from_kubeconfig(spec.kubeconfig.get_secret_value(), timeout=spec.timeout)


def _outputs(spec: ReleaseDriftSpec, report: DriftReport) -> dict[str, Any]:
    # The kubeconfig is returned so read and update can connect; ReleaseDrift marks it secret.
    return {**spec.model_dump(mode="json", exclude={"kubeconfig"}),
            "kubeconfig": spec.kubeconfig.get_secret_value(), "drift": report.lines()}


def _repaired(spec: ReleaseDriftSpec) -> DriftReport:
    """Repair what drifted, if anything did, and read again."""
    with _api(spec) as api:
        report = read_drift(api, spec.release, spec.namespace)
        if not report.drift:
            return report
        repair(api, spec.release, spec.namespace)
        return read_drift(api, spec.release, spec.namespace)


class ReleaseDriftProvider(ResourceProvider):
    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        """Every known input checked; one not known yet (a preview) is checked at `up`."""
        unknown = {key for key, value in news.items() if isinstance(value, Unknown)}
        try:
            _spec({k: v for k, v in news.items() if k not in unknown})
        except ValidationError as exc:
            failures = [CheckFailure(p.field or "inputs", p.message)
                        for p in problems_from(exc, "ReleaseDrift")
                        if p.field.split(".")[0] not in unknown]
            return CheckResult(news, failures)
        return CheckResult(news, [])

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        keys = ("kubeconfig", *ReleaseDriftSpec.model_fields)
        differ = [k for k in dict.fromkeys(keys)
                  if isinstance(news.get(k), Unknown) or olds.get(k) != news.get(k)]
        drift = bool(olds.get("drift"))
        return DiffResult(changes=bool(differ) or drift,
                          replaces=[k for k in differ if k in REPLACE_ON], stables=[],
                          delete_before_replace=True)

    def create(self, props: dict[str, Any]) -> CreateResult:
        spec = _spec(props)
        return CreateResult(id_=f"{spec.namespace}/{spec.release}",
                            outs=_outputs(spec, _repaired(spec)))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        spec = _spec(props)
        with _api(spec) as api:
            report = read_drift(api, spec.release, spec.namespace)
        return ReadResult(id_=id_, outs=_outputs(spec, report))

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        spec = _spec(news)
        return UpdateResult(outs=_outputs(spec, _repaired(spec)))

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        """Nothing to remove: the objects are the Release's, and it deletes them."""


class ReleaseDriftArgs(_Release):
    """The program's arguments."""

    kubeconfig: Any = Field(description="The cluster's kubeconfig (str or Output[str]); made"
                            " a secret.")
    revision: Any = Field(default=None, description="The Release's revision (an Output), so"
                          " each new revision is read and repaired once it is deployed.")


class ReleaseDrift(Resource, module="tcra", name="ReleaseDrift"):
    """Output `drift`: one line per object of the release that is missing or holds a field
    otherwise than the release says, e.g. "Deployment ns/x: spec.replicas is 0, the release
    says 1"; empty when the cluster holds the release as deployed."""

    drift: pulumi.Output[list[str]]

    def __init__(self, name: str, args: ReleaseDriftArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        props: dict[str, Any] = {
            **args.model_dump(mode="json", exclude={"kubeconfig", "revision"}),
            "kubeconfig": pulumi.Output.secret(args.kubeconfig),
            "revision": args.revision,
            "drift": None,
        }
        secret = pulumi.ResourceOptions(additional_secret_outputs=["kubeconfig"])
        super().__init__(ReleaseDriftProvider(), name, props,
                         pulumi.ResourceOptions.merge(opts, secret))
