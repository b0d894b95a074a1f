"""ReleaseRollout: a Helm release's install or upgrade watched beside it, failing with the
cause (TCRA Workload Deployment Manager).

pulumi-kubernetes' Release, given a release whose pods never get Ready, fails with Helm's
"context deadline exceeded" after it has undone the release: no cluster, no cause, and a
program cannot catch it. This resource runs at the same time as the Release (it must not
depend on it) and watches the revision Helm writes (tcra.wdm.rollout), with a timeout a little
shorter than Helm's, so it reads the cause while the failing pods are still there.

The failure is an output, `failure` (one line naming the Workload, its release and cluster,
and the cause), not an exception: the engine prints a dynamic provider's exception with its
Python traceback, while `ready()`, which the Workload registers, logs the line alone. A failure
recorded makes the next `up` watch again.

create watches the release's first revision; update (a new `trigger`: chart, version or values
changed; or a failure recorded) watches the first install or upgrade after the revision last
watched. read returns the state as it is; delete does nothing. Each call opens its own API
client from the (secret) kubeconfig input.
"""

from __future__ import annotations

from typing import Any

import pulumi
from pulumi.dynamic import (
    CreateResult,
    DiffResult,
    ReadResult,
    Resource,
    ResourceProvider,
    UpdateResult,
)
from pulumi.output import Unknown
from pydantic import Field, SecretStr

from tcra.errors import TcraError
from tcra.kube_api import KubeApi
from tcra.model.base import Model
from tcra.wdm.rollout import RolloutError, watch

WATCHED = ("trigger", "timeout")
"""Inputs whose change means a new revision to watch."""
CALL_TIMEOUT = 10.0
"""Seconds for any one Kubernetes API call."""


class _Rollout(Model):
    release: str = Field(max_length=53)
    namespace: str = Field(max_length=63)
    where: str = Field(description="How the error names the Workload, its release and cluster.")
    trigger: str = Field(description="Changes with each install or upgrade (a hash of the"
                         " chart, its version and values).")
    timeout: float = Field(gt=0, description="Seconds to wait for the revision to be Ready.")


class ReleaseRolloutSpec(_Rollout):
    """The provider's inputs."""

    kubeconfig: SecretStr


def _spec(props: dict[str, Any]) -> ReleaseRolloutSpec:
    fields = ReleaseRolloutSpec.model_fields
    return ReleaseRolloutSpec.model_validate({k: v for k, v in props.items() if k in fields})


def _watched(spec: ReleaseRolloutSpec, after: int | None, *, install: bool) -> dict[str, Any]:
    """The state: the inputs (the kubeconfig left out), the revision watched and the failure
    (None when the revision is Ready). A failed install's revision is not kept: Helm
    uninstalls it, and the next install starts from 1 again."""
    revision, failure = after, None
    try:
        with KubeApi.from_kubeconfig(spec.kubeconfig.get_secret_value(),
                                     timeout=CALL_TIMEOUT) as api:
            revision = watch(api, spec.release, spec.namespace, after, spec.timeout).revision
    except RolloutError as exc:
        failure = f"{spec.where}: not Ready within {spec.timeout:g}s: {exc}"
        revision = after if install or exc.revision is None else exc.revision
    except TcraError as exc:
        failure = f"{spec.where}: watching the release: {exc}"
    return {**spec.model_dump(mode="json", exclude={"kubeconfig"}), "revision": revision,
            "failure": " ".join(failure.split()) if failure else None}


class ReleaseRolloutProvider(ResourceProvider):
    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        differ = [k for k in WATCHED
                  if isinstance(news.get(k), Unknown) or olds.get(k) != news.get(k)]
        return DiffResult(changes=bool(differ) or bool(olds.get("failure")), replaces=[],
                          stables=[], delete_before_replace=False)

    def create(self, props: dict[str, Any]) -> CreateResult:
        spec = _spec(props)
        return CreateResult(id_=f"{spec.namespace}/{spec.release}",
                            outs=_watched(spec, None, install=True))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        return ReadResult(id_=id_, outs=props)

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        after = olds.get("revision")
        after = int(after) if after is not None else None
        return UpdateResult(outs=_watched(_spec(news), after, install=after is None))

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        """Nothing to remove: the release is the Release's."""


class ReleaseRolloutArgs(_Rollout):
    """The program's arguments."""

    kubeconfig: Any = Field(description="The cluster's kubeconfig (str or Output[str]); made"
                            " a secret.")


class ReleaseRollout(Resource, module="tcra", name="ReleaseRollout"):
    """Outputs `revision` (the Helm revision last watched) and `failure` (None when it is
    Ready); see `ready()`."""

    revision: pulumi.Output[int | None]
    failure: pulumi.Output[str | None]

    def __init__(self, name: str, args: ReleaseRolloutArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        props: dict[str, Any] = {**args.model_dump(mode="json", exclude={"kubeconfig"}),
                                 "kubeconfig": pulumi.Output.secret(args.kubeconfig),
                                 "revision": None, "failure": None}
        super().__init__(ReleaseRolloutProvider(), name, props, opts)

    def ready(self, owner: pulumi.Resource, release: pulumi.Output[Any]) -> pulumi.Output[Any]:
        """The revision once Ready. A failure is logged at once as an error of `owner`, one
        line, every Workload's however many fail in one `up` (an exception ends the program
        at the first); the program fails on it (a RunError: no traceback) only once the
        `release` Output resolves, i.e. Helm succeeded after all; when Helm fails, its error
        fails the update. Register the result among the component's outputs: an Output that
        nothing awaits may never run."""
        def log(failure: str | None) -> str | None:
            if failure:
                pulumi.log.error(failure, resource=owner)
            return failure

        def check(state: list[Any]) -> int | None:
            if state[1]:
                raise pulumi.RunError(state[1])
            return None if state[0] is None else int(state[0])
        return pulumi.Output.all(self.revision, self.failure.apply(log), release).apply(check)
