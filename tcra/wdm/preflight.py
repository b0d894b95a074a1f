"""What a Workload checks over the network before it declares anything: the cluster answers,
the namespace is there (or the Workload makes it), and the chart's source serves the pinned
version. Helm would find each of these out only after starting, or after its timeout; here
each is one line naming the release, the cluster and the cause, within seconds."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from tcra.errors import TcraError
from tcra.kube_api import KubeApi, KubeApiError, KubeconfigError
from tcra.mcm.chart import Chart, ChartSourceError, source_problem

TIMEOUT = 5.0
"""Seconds each question may take (an unreachable cluster or registry fails in this time)."""


class PreflightError(TcraError):
    """The Workload cannot succeed; nothing was declared."""


def cluster_name(kubeconfig: str) -> str:
    """The cluster as errors name it: the kubeconfig's API server."""
    try:
        with KubeApi.from_kubeconfig(kubeconfig) as api:
            return f"cluster {api.server}"
    except KubeconfigError:
        return "the kubeconfig's cluster"


def preflight(where: str, chart: Chart, *, kubeconfig: str, namespace_made: bool,
              registry_ca: Path | None, timeout: float = TIMEOUT) -> None:
    """Raise PreflightError with the first cause found, after `where` (which names the release
    and the cluster)."""
    cause = _cluster_problem(kubeconfig, chart.namespace, namespace_made, timeout)
    if cause is None:
        try:
            cause = source_problem(chart, ca=registry_ca, timeout=timeout)
        except ChartSourceError as exc:
            cause = f"chart {chart.chart} {chart.version}: {exc}"
    if cause:
        raise PreflightError(f"{where}: {cause}")


def _cluster_problem(kubeconfig: str, namespace: str, namespace_made: bool,
                     timeout: float) -> str | None:
    try:
        api = KubeApi.from_kubeconfig(kubeconfig, timeout=timeout)
    except KubeconfigError:
        return None  # one pulumi-kubernetes reads and this client does not (exec, files)
    with api:
        if not api.ready():
            return (f"the API server does not answer, or is not ready (GET /readyz within"
                    f" {timeout:g} s)")
        if namespace_made:
            return None
        try:
            found = api.get(f"/api/v1/namespaces/{quote(namespace, safe='')}")
        except KubeApiError as exc:  # a user allowed into the namespace only may not read it
            return None if str(exc.status).startswith("403") else str(exc)
        if found is None:
            return (f"namespace {namespace} does not exist (set create_namespace to make it"
                    " with the Workload)")
    return None
