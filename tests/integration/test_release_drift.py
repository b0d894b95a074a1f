"""A Helm release's drift on the lab's cluster: a release installed with the real helm, its
Deployment scaled and its Service deleted by hand with kubectl, the drift read through the API
server and repaired by server-side apply, directly and through the ReleaseDrift provider."""

import base64
import os
import secrets
import subprocess
from pathlib import Path

import dill
import pytest
from pulumi.dynamic.dynamic import serialize_provider
from tcra.providers.release_drift import ReleaseDriftProvider

from tcra.kube_api import KubeApi
from tcra.lab.kube import binaries
from tcra.lab.spec import load_state
from tcra.wdm.release_drift import read_drift, repair
from tests.integration.conftest import needs_lab

pytestmark = [pytest.mark.lab, needs_lab]
RELEASE = "drift-demo"
IMAGE = "127.0.0.1:5443/tcra/opcua-gateway:0.1.0"
CHART = {
    "Chart.yaml": "apiVersion: v2\nname: drift-demo\nversion: 0.1.0\n",
    "values.yaml": "replicas: 1\n",
    "templates/deployment.yaml": f"""\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{{{ .Release.Name }}}}
  labels: {{app: {{{{ .Release.Name }}}}}}
spec:
  replicas: {{{{ .Values.replicas }}}}
  selector:
    matchLabels: {{app: {{{{ .Release.Name }}}}}}
  template:
    metadata:
      labels: {{app: {{{{ .Release.Name }}}}}}
    spec:
      automountServiceAccountToken: false
      terminationGracePeriodSeconds: 1  # the stand-in's httpd ignores SIGTERM
      containers:
        - name: gateway
          image: {IMAGE}
          ports:
            - {{name: api, containerPort: 8080}}
          resources:
            requests: {{cpu: 0.01, memory: 16Mi}}
            limits: {{memory: 0.0625Gi}}
""",
    "templates/service.yaml": """\
apiVersion: v1
kind: Service
metadata:
  name: {{ .Release.Name }}
spec:
  selector: {app: {{ .Release.Name }}}
  ports:
    - {name: api, port: 80, targetPort: api}
""",
    "templates/secret.yaml": """\
apiVersion: v1
kind: Secret
metadata:
  name: {{ .Release.Name }}-token
stringData:
  token: not-for-outputs
""",
    # A hook is not in the release's manifest: not drift, whatever becomes of it.
    "templates/hook.yaml": """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-hook
  annotations: {"helm.sh/hook": post-install}
data: {note: made once}
""",
}


@pytest.fixture(scope="module")
def kubeconfig(kubernetes_lab) -> Path:
    """The admin kubeconfig of the shared Kubernetes lab (TCRA_TEST_LAB=NAME: a lab already
    up)."""
    state = load_state(kubernetes_lab.get())
    assert state is not None and state.kubernetes is not None, "the lab runs no Kubernetes"
    return state.kubernetes.kubeconfig


@pytest.fixture(scope="module")
def tools(tmp_path_factory, kubeconfig):
    found = binaries.find()
    folder = tmp_path_factory.mktemp("helm")
    env = {**os.environ, "KUBECONFIG": str(kubeconfig),
           **{f"HELM_{kind}_HOME": str(folder / kind.lower())
              for kind in ("CONFIG", "CACHE", "DATA")}}

    def run(program, *args):
        done = subprocess.run([program, *args], env=env, capture_output=True, text=True,
                              timeout=120, check=False)
        assert done.returncode == 0, f"{Path(program).name} {' '.join(args)}: {done.stderr}"
        return done.stdout

    return {"helm": lambda *a: run(str(found.helm / "helm"), *a),
            "kubectl": lambda *a: run(found.kubectl(), *a)}


@pytest.fixture
def release(tmp_path, tools):
    """The chart installed into a namespace of its own, which goes at the end."""
    chart = tmp_path / "chart"
    for name, text in CHART.items():
        (chart / name).parent.mkdir(parents=True, exist_ok=True)
        (chart / name).write_text(text)
    namespace = f"drift-{secrets.token_hex(3)}"
    tools["helm"]("install", RELEASE, str(chart), "--namespace", namespace, "--create-namespace")
    try:
        yield namespace, chart
    finally:
        tools["kubectl"]("delete", "namespace", namespace, "--timeout=120s")


def test_drift_made_by_hand_shows_and_repair_undoes_it(release, tools, kubeconfig):
    namespace, chart = release
    kubectl = tools["kubectl"]
    with KubeApi.from_kubeconfig(kubeconfig.read_text()) as api:
        first = read_drift(api, RELEASE, namespace)
        assert first.revision == 1 and first.lines() == []
        assert [str(o) for o in first.objects] == [
            f"Secret {namespace}/drift-demo-token", f"Service {namespace}/drift-demo",
            f"Deployment {namespace}/drift-demo"]  # the hook is not the release's object

        kubectl("scale", "deployment", RELEASE, "-n", namespace, "--replicas=0")
        assert read_drift(api, RELEASE, namespace).lines() == [
            f"Deployment {namespace}/drift-demo: spec.replicas is 0, the release says 1"]

        kubectl("delete", "service", RELEASE, "-n", namespace)
        kubectl("delete", "configmap", f"{RELEASE}-hook", "-n", namespace)
        assert read_drift(api, RELEASE, namespace).lines() == [
            f"Service {namespace}/drift-demo: missing",
            f"Deployment {namespace}/drift-demo: spec.replicas is 0, the release says 1"]

        assert len(repair(api, RELEASE, namespace).drift) == 2
        assert read_drift(api, RELEASE, namespace).lines() == []
    assert kubectl("get", "deployment", RELEASE, "-n", namespace,
                   "-o", "jsonpath={.spec.replicas}") == "1"
    assert kubectl("get", "service", RELEASE, "-n", namespace,
                   "-o", "jsonpath={.spec.ports[0].targetPort}") == "api"

    # A new revision is what the objects are compared against.
    tools["helm"]("upgrade", RELEASE, str(chart), "--namespace", namespace, "--set", "replicas=2")
    kubectl("scale", "deployment", RELEASE, "-n", namespace, "--replicas=1")
    with KubeApi.from_kubeconfig(kubeconfig.read_text()) as api:
        upgraded = read_drift(api, RELEASE, namespace)
    assert upgraded.revision == 2
    assert upgraded.lines() == [
        f"Deployment {namespace}/drift-demo: spec.replicas is 1, the release says 2"]


def test_the_provider_reads_drift_as_refresh_would_and_repairs_it_on_update(release, tools,
                                                                           kubeconfig):
    namespace, _ = release
    provider = dill.loads(base64.b64decode(serialize_provider(ReleaseDriftProvider())))
    inputs = {"kubeconfig": kubeconfig.read_text(), "release": RELEASE, "namespace": namespace,
              "revision": 1.0, "timeout": 10.0}
    assert provider.check({}, inputs).failures == []
    created = provider.create(inputs)
    assert created.id == f"{namespace}/{RELEASE}" and created.outs["drift"] == []

    tools["kubectl"]("scale", "deployment", RELEASE, "-n", namespace, "--replicas=3")
    tools["kubectl"]("patch", "secret", f"{RELEASE}-token", "-n", namespace,
                     "-p", '{"stringData": {"token": "changed-by-hand"}}')
    refreshed = provider.read(created.id, created.outs)
    assert refreshed.outs["drift"] == [
        f"Secret {namespace}/drift-demo-token: data.token differs from the release (values"
        " hidden: a Secret's data)",
        f"Deployment {namespace}/drift-demo: spec.replicas is 3, the release says 1"]
    assert provider.diff(created.id, refreshed.outs, inputs).changes is True

    updated = provider.update(created.id, refreshed.outs, inputs)
    assert updated.outs["drift"] == []
    assert provider.diff(created.id, updated.outs, inputs).changes is False
    token = tools["kubectl"]("get", "secret", f"{RELEASE}-token", "-n", namespace,
                             "-o", "jsonpath={.data.token}")
    assert base64.b64decode(token) == b"not-for-outputs"
    provider.delete(created.id, updated.outs)  # leaves the Release's objects alone
    tools["kubectl"]("get", "deployment", RELEASE, "-n", namespace)
