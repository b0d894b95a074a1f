"""Why a release's pods are not Ready, read from pods and events as the API server returns them
(the JSON below is what the lab's kubelet 1.37 reports), and the ReleaseRollout provider's
diff and failure line."""

import pytest
from tcra.providers import release_rollout
from tcra.providers.release_rollout import ReleaseRolloutProvider

from tcra.kube_api import ApiResource
from tcra.wdm import rollout
from tcra.wdm.rollout import Cause, RolloutError, diagnose

IMAGE = "127.0.0.1:5443/tcra/opcua-gateway:nope"
NOT_READY = [
    {"type": "PodReadyToStartContainers", "status": "True"},
    {"type": "Initialized", "status": "True"},
    {"type": "Ready", "status": "False", "reason": "ContainersNotReady",
     "message": "containers with unready status: [gateway]"},
    {"type": "PodScheduled", "status": "True"},
]


def pod(containers: list[dict], conditions: list[dict] = NOT_READY, phase: str = "Running",
        name: str = "x-7d9f") -> dict:
    return {"kind": "Pod", "metadata": {"name": name, "namespace": "ns"},
            "status": {"phase": phase, "conditions": conditions,
                       "containerStatuses": containers}}


def no_events(_pod: str) -> list[dict]:
    return []


def test_an_image_not_in_the_registry_names_the_image_and_the_gist():
    backoff = pod([{"name": "gateway", "image": IMAGE, "imageID": "", "ready": False,
                    "restartCount": 0, "started": False, "lastState": {},
                    "state": {"waiting": {"reason": "ImagePullBackOff", "message":
                              f'Back-off pulling image "{IMAGE}": ErrImagePull: rpc error:'
                              f' code = NotFound desc = failed to pull and unpack image'
                              f' "{IMAGE}": failed to resolve image: {IMAGE}: not found'}}}],
                  phase="Pending")
    assert diagnose(backoff, no_events) == Cause(rank=0, text=(
        f"pod x-7d9f: container gateway: ImagePullBackOff: {IMAGE} (failed to pull and unpack"
        " image: failed to resolve image: not found)"))


def test_a_crash_loop_names_the_exit_code_and_restarts():
    crashing = pod([{"name": "gateway", "image": "gw:1", "ready": False, "restartCount": 4,
                     "started": False,
                     "lastState": {"terminated": {"exitCode": 1, "reason": "Error",
                                                  "finishedAt": "2026-11-30T19:37:13Z"}},
                     "state": {"waiting": {"reason": "CrashLoopBackOff", "message":
                               "back-off 40s restarting failed container=gateway"
                               " pod=x-7d9f_ns(3f3ab0da)"}}}])
    assert diagnose(crashing, no_events).text == \
        "pod x-7d9f: container gateway: CrashLoopBackOff (exit code 1, 4 restarts)"


def test_a_failing_readiness_probe_is_read_from_the_pods_newest_unhealthy_event():
    running = pod([{"name": "gateway", "image": "gw:1", "ready": False, "restartCount": 0,
                    "started": True, "state": {"running": {"startedAt": "2026-11-30T19:37:01Z"}},
                    "lastState": {}}])
    asked = []

    def events(name: str) -> list[dict]:
        asked.append(name)
        field = {"kind": "Pod", "name": name, "fieldPath": "spec.containers{gateway}"}
        return [
            {"type": "Warning", "reason": "MissingClusterDNS", "involvedObject":
             {"kind": "Pod", "name": name}, "lastTimestamp": "2026-11-30T19:37:30Z",
             "message": "kubelet does not have ClusterDNS IP configured"},
            {"type": "Warning", "reason": "Unhealthy", "involvedObject": field, "count": 3,
             "lastTimestamp": "2026-11-30T19:37:09Z",
             "message": "Readiness probe failed: Get \"http://10.244.0.9:8080/\": connection"
                        " refused"},
            {"type": "Warning", "reason": "Unhealthy", "involvedObject": field, "count": 15,
             "lastTimestamp": "2026-11-30T19:37:27Z",
             "message": "Readiness probe failed: HTTP probe failed with statuscode: 404"},
            {"type": "Normal", "reason": "Started", "involvedObject": field,
             "lastTimestamp": "2026-11-30T19:37:01Z", "message": "Container started"},
        ]

    assert diagnose(running, events) == Cause(rank=2, text=(
        "pod x-7d9f: container gateway not Ready: Readiness probe failed: HTTP probe failed"
        " with statuscode: 404"))
    assert asked == ["x-7d9f"]


def test_a_pod_no_node_takes_names_the_schedulers_message():
    pending = pod([], phase="Pending", conditions=[
        {"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
         "message": "0/1 nodes are available: 1 node(s) didn't match Pod's node"
                    " affinity/selector. preemption: 0/1 nodes are available: 1 Preemption is"
                    " not helpful for scheduling."}])
    pending["status"].pop("containerStatuses")
    assert diagnose(pending, no_events) == Cause(rank=3, text=(
        "pod x-7d9f: Pending: 0/1 nodes are available: 1 node(s) didn't match Pod's node"
        " affinity/selector. preemption: 0/1 nodes are available: 1 Preemption is not helpful"
        " for scheduling."))


def test_a_container_still_being_created_names_the_warning_that_holds_it():
    creating = pod([{"name": "gateway", "image": "gw:1", "ready": False, "restartCount": 0,
                     "state": {"waiting": {"reason": "ContainerCreating"}}}], phase="Pending")
    mount = {"type": "Warning", "reason": "FailedMount", "lastTimestamp": "2026-11-30T19:38:00Z",
             "involvedObject": {"kind": "Pod", "name": "x-7d9f"},
             "message": 'MountVolume.SetUp failed for volume "config" : configmap "x-config"'
                        " not found"}
    assert diagnose(creating, lambda _: [mount]).text == (
        'pod x-7d9f: FailedMount: MountVolume.SetUp failed for volume "config" : configmap'
        ' "x-config" not found')
    assert diagnose(creating, no_events).text == \
        "pod x-7d9f: not Ready: containers with unready status: [gateway]"


class FakeApi:
    """GETs answered from a dict of path -> object or list."""

    def __init__(self, answers: dict[str, object]) -> None:
        self.answers = answers

    def get(self, path: str):
        return self.answers.get(path)

    def list(self, path: str):
        return self.answers.get(path, [])

    def resource(self, api_version: str, kind: str):
        plural = {"Deployment": "deployments", "Job": "jobs"}[kind]
        return ApiResource(api_version=api_version, kind=kind, plural=plural, namespaced=True)


def test_a_failed_hook_job_and_a_deployment_without_pods_rank_below_a_pod_error(monkeypatch):
    record = {"version": 2, "info": {"status": "failed"}, "manifest":
              "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec:\n"
              "  selector: {matchLabels: {app: x}}\n",
              "hooks": [{"kind": "Job", "name": "x-hook", "manifest":
                         "apiVersion: batch/v1\nkind: Job\nmetadata: {name: x-hook}\n"}]}
    api = FakeApi({
        "/apis/apps/v1/namespaces/ns/deployments/x": {
            "kind": "Deployment", "metadata": {"name": "x"},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "x"}}}},
        "/apis/batch/v1/namespaces/ns/jobs/x-hook": {
            "kind": "Job", "metadata": {"name": "x-hook"}, "spec": {},
            "status": {"conditions": [{"type": "Failed", "status": "True",
                                       "reason": "BackoffLimitExceeded"}]}}})
    causes = list(rollout._causes(api, record, "ns"))
    assert [c.text for c in sorted(causes, key=lambda c: c.rank)] == [
        "job x-hook: failed (BackoffLimitExceeded)", "no pods for Deployment x yet"]

    monkeypatch.setattr(rollout, "_record", lambda *_: record)
    with pytest.raises(RolloutError, match=r"^job x-hook: failed \(BackoffLimitExceeded\)$") \
            as failed:
        rollout.watch(api, "x", "ns", 1, timeout=60)  # failed: said at once, not in 60 s
    assert failed.value.revision == 2


def test_the_provider_watches_again_on_a_new_trigger_or_after_a_failure():
    provider = ReleaseRolloutProvider()
    olds = {"release": "wl", "namespace": "ns", "where": "Workload wl", "trigger": "a",
            "timeout": 27.0, "revision": 3, "failure": None}
    assert provider.diff("ns/wl", olds, {**olds}).changes is False
    assert provider.diff("ns/wl", olds, {**olds, "trigger": "b"}).changes is True
    assert provider.diff("ns/wl", {**olds, "failure": "x"}, {**olds}).changes is True
    assert provider.diff("ns/wl", olds, {**olds, "trigger": "b"}).replaces == []


def test_a_failure_is_one_line_naming_the_workload_and_keeps_the_failed_revision(monkeypatch):
    def fails(*_args, **_kwargs):
        raise RolloutError("pod x-7d9f: container gateway: ImagePullBackOff: img (not found)", 4)

    monkeypatch.setattr(release_rollout, "watch", fails)
    monkeypatch.setattr(release_rollout.KubeApi, "from_kubeconfig",
                        lambda *_a, **_k: FakeContext())
    news = {"kubeconfig": "x", "release": "wl", "namespace": "ns", "trigger": "b",
            "where": "Workload wl (release wl in ns on https://127.0.0.1:6443)", "timeout": 27.0}
    outs = ReleaseRolloutProvider().update("ns/wl", {"revision": 3}, news).outs
    assert outs["failure"] == ("Workload wl (release wl in ns on https://127.0.0.1:6443): not"
                               " Ready within 27s: pod x-7d9f: container gateway:"
                               " ImagePullBackOff: img (not found)")
    assert outs["revision"] == 4 and "kubeconfig" not in outs
    created = ReleaseRolloutProvider().create(news).outs
    assert created["revision"] is None  # a failed install is uninstalled: 1 again next time


class FakeContext:
    def __enter__(self):
        return self

    def __exit__(self, *_):
        return None
