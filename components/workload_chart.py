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
                    parent: pulumi.Resource,
                    depends_on: Sequence[pulumi.Resource] = ()) -> k8s.helm.v3.Release:
    """One Helm release. A new version or new values upgrade it in place (atomically: a failed
    upgrade rolls back); only a new release name or namespace replaces it, and since Helm
    names are unique per namespace the old release goes first."""
    repository = (k8s.helm.v3.RepositoryOptsArgs(repo=chart.repository)
                  if chart.repository else None)
    return k8s.helm.v3.Release(resource_name, k8s.helm.v3.ReleaseArgs(
        name=chart.release, chart=chart.chart, version=chart.version,
        repository_opts=repository, namespace=chart.namespace, create_namespace=True,
        values=chart.values, atomic=True, cleanup_on_fail=True, timeout=RELEASE_TIMEOUT,
        max_history=10,
    ), pulumi.ResourceOptions(parent=parent, provider=provider, depends_on=list(depends_on),
                              delete_before_replace=True))
