"""A pinned Helm chart's release: shared by Workload and by K8sCluster's add-ons.

Releases go through pulumi-kubernetes' `helm.v3.Release` (docs/mcm.md says why): one Helm release
object per chart, upgraded in place when the version or the values change.
"""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
import pulumi_kubernetes as k8s

from tcra.mcm.chart import Chart

RELEASE_TIMEOUT = 900  # seconds Helm waits for a release's resources to become ready


def declare_release(resource_name: str, chart: Chart, *, provider: k8s.Provider,
                    parent: pulumi.Resource, depends_on: Sequence[pulumi.Resource] = (),
                    timeout: int = RELEASE_TIMEOUT,
                    create_namespace: bool = True) -> k8s.helm.v3.Release:
    """One Helm release, waited for: its pods Ready and its Jobs complete within `timeout`
    seconds, else it is undone (atomic: a failed install is uninstalled, a failed upgrade
    rolled back; cleanup_on_fail deletes what the failed attempt made). A new version or new
    values upgrade it in place; only a new release name or namespace replaces it, and since
    Helm names are unique per namespace the old release goes first. `create_namespace` lets
    Helm make a missing namespace, which it then never deletes."""
    repository = (k8s.helm.v3.RepositoryOptsArgs(repo=chart.repository)
                  if chart.repository else None)
    return k8s.helm.v3.Release(resource_name, k8s.helm.v3.ReleaseArgs(
        name=chart.release, chart=chart.chart, version=chart.version,
        repository_opts=repository, namespace=chart.namespace,
        create_namespace=create_namespace, values=chart.values, atomic=True,
        cleanup_on_fail=True, skip_await=False, wait_for_jobs=True, timeout=timeout,
        max_history=10,
    ), pulumi.ResourceOptions(parent=parent, provider=provider, depends_on=list(depends_on),
                              delete_before_replace=True))
