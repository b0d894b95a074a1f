"""Workload: a pinned Helm chart onto a K8sCluster or a kubeconfig, upgraded in place, with the
endpoint the MCO reports back."""

from types import SimpleNamespace

import pulumi
import pulumi_kubernetes as k8s
import pytest
from pulumi.runtime import rpc
from tcra.components.k8s_cluster import K8sCluster
from tcra.components.workload import (
    Endpoint,
    EndpointNotFoundError,
    Workload,
    WorkloadArgs,
    ingress_url,
    service_url,
)

from tcra.errors import InvalidInputError
from tests.unit.test_k8s_cluster import bare_metal, changes, replaced, run

MES = {"chart": "mes", "version": "2.4.1", "repository": "https://charts.plant.example",
       "namespace": "mes", "values": {"replicaCount": 2, "image": {"tag": "2.4.1"}}}


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """The checks that ask the cluster and the chart's registry (test_workload_checks.py tests
    them): these charts and clusters are made up."""
    monkeypatch.setattr("tcra.components.workload.preflight", lambda *_, **__: None)


def on_cluster(**update):
    def program():
        management = k8s.Provider("management", kubeconfig="management-kubeconfig")
        cluster = K8sCluster("plant", bare_metal(management))
        return Workload("mes", WorkloadArgs(cluster=cluster, **{**MES, **update}))
    return program


def test_workload_on_a_cluster_uses_its_provider_after_its_addons(bmc_password):
    seen = {}

    def program():
        workload = on_cluster()()

        def keep(values):
            seen.update(zip(("endpoint", "revision", "status", "name"), values, strict=True))
        return pulumi.Output.all(workload.endpoint, workload.revision, workload.status,
                                 workload.release_name).apply(keep)

    recorder, _ = run(program)
    release = recorder.registered["mes-release"]
    assert release.type == "kubernetes:helm.sh/v3:Release"
    assert release.provider.startswith(recorder.urn("plant-workload") + "::")
    assert release.parent == recorder.urn("mes")
    assert {recorder.urn(f"plant-addon-{k}") for k in ("cni", "multus", "sriov")} <= set(
        release.dependencies)
    assert release.inputs["name"] == "mes" and release.inputs["namespace"] == "mes"
    assert release.inputs["chart"] == "mes" and release.inputs["version"] == "2.4.1"
    assert release.inputs["repositoryOpts"] == {"repo": "https://charts.plant.example"}
    assert release.inputs["values"] == MES["values"]
    assert release.inputs["atomic"] is True and release.inputs["createNamespace"] is False
    assert release.inputs["skipAwait"] is False and release.inputs["waitForJobs"] is True
    assert release.inputs["timeout"] == 180 and release.inputs["cleanupOnFail"] is True
    assert "mes-namespace" not in recorder.registered  # the namespace is not the Workload's
    assert release.delete_before_replace is True
    service = recorder.registered["mes-endpoint"]
    assert service.read_id == "mes/mes"
    assert service.provider == release.provider
    assert seen == {"endpoint": "http://203.0.113.10:80", "revision": 1, "status": "deployed",
                    "name": "mes"}


def test_workload_on_a_kubeconfig_gets_its_own_provider_with_the_kubeconfig_secret():
    seen = {}

    def program():
        workload = Workload("mes", WorkloadArgs(
            kubeconfig="apiVersion: v1\nkind: Config\n", release_name="mes-plant",
            endpoint=Endpoint(kind="ingress", name="mes-web"), **MES))
        return workload.endpoint.apply(lambda url: seen.update(endpoint=url))

    recorder, _ = run(program)
    provider = recorder.registered["mes-cluster"]
    assert provider.type == "pulumi:providers:kubernetes"
    assert rpc.is_rpc_secret(provider.inputs["kubeconfig"])
    release = recorder.registered["mes-release"]
    assert release.provider.startswith(provider.urn + "::")
    assert release.inputs["name"] == "mes-plant"
    assert recorder.registered["mes-endpoint"].read_id == "mes/mes-web"
    drift = recorder.registered["mes-drift"]  # the release's objects, read back on refresh
    assert (drift.inputs["release"], drift.inputs["namespace"]) == ("mes-plant", "mes")
    assert rpc.is_rpc_secret(drift.inputs["kubeconfig"])
    assert release.urn in drift.dependencies
    assert seen == {"endpoint": "https://mes.plant.example"}


def test_upgrading_the_chart_or_its_values_updates_the_one_release(bmc_password):
    before, _ = run(on_cluster())
    after, _ = run(on_cluster(version="2.5.0", values={"replicaCount": 3}))
    old, new = before.registered["mes-release"], after.registered["mes-release"]
    assert old.urn == new.urn
    assert changes(old, new) == {"version", "values.replicaCount", "values.image.tag"}
    assert not replaced(old, new)
    assert not any(changes(before.registered[n], after.registered[n])
                   for n in before.registered if n.startswith("plant"))


def test_a_preview_of_a_new_workload_leaves_the_endpoint_unknown(bmc_password):
    seen = {}

    def program():
        workload = on_cluster()()

        async def probe(_):
            seen["known"] = await workload.endpoint.is_known()
        return workload.release.urn.apply(probe)

    recorder, _ = run(program, preview=True)
    assert recorder.registered["mes-endpoint"].read_id == rpc.UNKNOWN
    assert seen == {"known": False}


@pytest.mark.parametrize(("update", "field", "message"), [
    ({"version": None}, "version", "expected a pinned chart version like \"1.2.3\""),
    ({"version": "^2.4"}, "version", "not a range"),
    ({"version": "latest"}, "version", "(got 'latest')"),
    ({"version": "2.x"}, "version", "expected a pinned chart version"),
    ({"repository": None}, "repository", "expected the http(s) URL of the repository that"
     " serves chart 'mes'"),
    ({"chart": "oci://registry.plant.example/charts/mes"}, "repository",
     "expected none: a chart given as oci reference names its own source"),
    ({"namespace": "MES"}, "namespace", "expected a DNS-1123 label"),
    ({"release_name": "m" * 54}, "release_name", "at most 53 characters"),
    ({"endpoint": Endpoint(name="Web")}, "endpoint.name", "expected a DNS-1123 label"),
])
def test_bad_workload_input_is_refused_before_anything_is_declared(update, field, message):
    recorder, _ = run(lambda: _refused({**MES, "kubeconfig": "k", **update}))
    assert all(r.type == "pulumi:pulumi:Stack" for r in recorder.registered.values())
    problems = {p.field: str(p) for p in _refused.last.problems}
    assert field in problems, problems
    assert message in problems[field]
    assert problems[field].startswith("Workload mes (release ")


def _refused(fields):
    with pytest.raises(InvalidInputError) as caught:
        Workload("mes", WorkloadArgs(**fields))
    _refused.last = caught.value


def test_exactly_one_target_cluster():
    with pytest.raises(InvalidInputError, match="cluster: expected exactly one of cluster"):
        Workload("mes", WorkloadArgs(**MES))


def test_a_local_chart_must_be_the_pinned_version(tmp_path):
    chart = tmp_path / "mes"
    chart.mkdir()
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: mes\nversion: 2.4.1\n")
    fields = {**MES, "chart": str(chart), "repository": None, "kubeconfig": "k"}
    recorder, _ = run(lambda: Workload("mes", WorkloadArgs(**fields)))
    assert recorder.registered["mes-release"].inputs["chart"] == str(chart)
    with pytest.raises(InvalidInputError, match=r"version: expected the version .*Chart.yaml"
                                                r" declares \(2.4.1\) \(got '2.5.0'\)"):
        Workload("mes", WorkloadArgs(**{**fields, "version": "2.5.0"}))
    with pytest.raises(InvalidInputError, match="chart: expected a chart folder"):
        Workload("mes", WorkloadArgs(**{**fields, "chart": str(tmp_path / "missing")}))


def _port(number, name="http"):
    return SimpleNamespace(port=number, name=name)


def test_service_url_prefers_the_load_balancer_and_the_wanted_port():
    spec = SimpleNamespace(cluster_ip="10.96.0.20", ports=[_port(80), _port(443, "https")])
    balanced = SimpleNamespace(load_balancer=SimpleNamespace(
        ingress=[SimpleNamespace(ip=None, hostname="mes.lb.example")]))
    assert service_url(spec, balanced, None, "http") == "http://mes.lb.example:80"
    assert service_url(spec, None, 443, "https") == "https://10.96.0.20:443"
    v6 = SimpleNamespace(cluster_ip="fd00::20", ports=[_port(8080)])
    assert service_url(v6, None, None, "http") == "http://[fd00::20]:8080"
    with pytest.raises(EndpointNotFoundError, match=r"ports \[80, 443\], not 8443"):
        service_url(spec, None, 8443, "https")
    with pytest.raises(EndpointNotFoundError, match="no address or no port"):
        service_url(SimpleNamespace(cluster_ip="None", ports=[]), None, None, "http")


def test_ingress_url_takes_the_rule_host_then_the_balancer():
    status = SimpleNamespace(load_balancer=SimpleNamespace(
        ingress=[SimpleNamespace(ip="203.0.113.11", hostname=None)]))
    assert ingress_url(SimpleNamespace(rules=[], tls=None), status, "http") == (
        "http://203.0.113.11")
    with pytest.raises(EndpointNotFoundError):
        ingress_url(SimpleNamespace(rules=[], tls=None), None, "http")
