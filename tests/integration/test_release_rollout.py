"""A release's rollout watched on the lab's cluster while the real helm installs it (--wait
--atomic, in the background): a readiness probe that fails is named, with the pod and
container, before Helm gives up; a good release returns its revision. (An image missing from
the registry is named through the engine: tests/e2e/test_workload_stack.py.) Each case in a
namespace of its own, deleted at the end."""

import os
import secrets
import subprocess
import time
from pathlib import Path

import pytest

from tcra.kube_api import KubeApi
from tcra.lab.kube import binaries
from tcra.lab.spec import load_state
from tcra.wdm.rollout import RolloutError, watch
from tests.integration.conftest import needs_lab

pytestmark = [pytest.mark.lab, needs_lab]
RELEASE = "rollout-demo"
IMAGE = "127.0.0.1:5443/tcra/opcua-gateway"
DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
spec:
  replicas: 1
  selector:
    matchLabels: {app: {{ .Release.Name }}}
  template:
    metadata:
      labels: {app: {{ .Release.Name }}}
    spec:
      automountServiceAccountToken: false
      containers:
        - name: gateway
          image: {{ .Values.image }}
          ports:
            - {name: api, containerPort: 8080}
          readinessProbe:
            httpGet: {path: "{{ .Values.probe }}", port: api}
            periodSeconds: 2
"""
HELM_TIMEOUT, WATCH_TIMEOUT = 25, 15


@pytest.fixture(scope="module")
def kubeconfig(kubernetes_lab) -> Path:
    state = load_state(kubernetes_lab.get())
    assert state is not None and state.kubernetes is not None, "the lab runs no Kubernetes"
    return state.kubernetes.kubeconfig


@pytest.fixture
def install(tmp_path, kubeconfig):
    """install(image, probe): helm install --wait --atomic started in the background into a
    new namespace; yields the namespace. The namespace goes at the end."""
    found = binaries.find()
    chart = tmp_path / "chart"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text(f"apiVersion: v2\nname: {RELEASE}\nversion: 0.1.0\n")
    (chart / "templates" / "deployment.yaml").write_text(DEPLOYMENT)
    env = {**os.environ, "KUBECONFIG": str(kubeconfig),
           **{f"HELM_{kind}_HOME": str(tmp_path / kind.lower())
              for kind in ("CONFIG", "CACHE", "DATA")}}
    namespace = f"diag-{secrets.token_hex(3)}"
    started: list[subprocess.Popen[str]] = []

    def run(image: str, probe: str) -> str:
        started.append(subprocess.Popen(
            [str(found.helm / "helm"), "install", RELEASE, str(chart), "--namespace", namespace,
             "--create-namespace", "--wait", "--atomic", "--timeout", f"{HELM_TIMEOUT}s",
             "--set", f"image={image}", "--set", f"probe={probe}"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
        return namespace

    yield run
    for helm in started:
        helm.communicate(timeout=HELM_TIMEOUT + 30)
    subprocess.run([found.kubectl(), "delete", "namespace", namespace, "--timeout=120s",
                    "--ignore-not-found"], env=env, capture_output=True, check=True, timeout=150)


def watched(kubeconfig: Path, namespace: str) -> tuple[float, RolloutError | int]:
    started = time.monotonic()
    with KubeApi.from_kubeconfig(kubeconfig.read_text()) as api:
        try:
            result: RolloutError | int = watch(api, RELEASE, namespace, None, WATCH_TIMEOUT,
                                               poll=1.0).revision
        except RolloutError as exc:
            result = exc
    return time.monotonic() - started, result


def test_a_readiness_probe_that_fails_is_named(install, kubeconfig):
    elapsed, failed = watched(kubeconfig, install(f"{IMAGE}:0.1.0", "/not-served"))
    assert isinstance(failed, RolloutError), failed
    assert WATCH_TIMEOUT <= elapsed < WATCH_TIMEOUT + 30, elapsed  # its timeout, not a hang
    assert str(failed).endswith(": container gateway not Ready: Readiness probe failed: HTTP"
                                " probe failed with statuscode: 404"), failed


def test_a_good_release_returns_its_revision(install, kubeconfig):
    elapsed, revision = watched(kubeconfig, install(f"{IMAGE}:0.1.0", "/healthz"))
    assert revision == 1
    assert elapsed < WATCH_TIMEOUT
