"""Helm releases onto the existing Kubernetes cluster the inventory records for a site (its
`cluster`): one tcra Workload per entry of `releases`. Change a release's version or values and
`pulumi up` upgrades it in place (a release not Ready within its timeout is rolled back);
`pulumi destroy` uninstalls them and deletes the namespaces they made.

Exports `cluster` and, per release, its `endpoint` (a ready pod's address when the site routes
pod addresses, else the Service's), Helm `revision` and `status`, and `drift` (objects of the
release changed by hand, as `refresh` reads them; `up` repairs them)."""

from typing import Any, Literal

import pulumi
from pydantic import Field
from tcra.blueprints import stack_config
from tcra.components.workload import Endpoint

from tcra import Workload, WorkloadArgs, load_inventory
from tcra.errors import TcraError
from tcra.model import Inventory, SiteCluster
from tcra.model.base import Model


class Release(Model):
    """One Workload: the WorkloadArgs a stack config can hold."""

    name: str = Field(description="The Workload's and the Helm release's name.")
    chart: str
    version: str | None = None
    repository: str | None = None
    namespace: str = "default"
    create_namespace: bool = False
    values: dict[str, Any] = Field(default_factory=dict)
    endpoint: Endpoint | Literal["none"] | None = Field(
        default=None, description="Defaults to a ready pod behind the release's Service where"
        " the site routes pod addresses, else to the Service; \"none\" for a chart that"
        " serves nothing.")
    timeout: int = Field(default=180, ge=10)


class Config(Model):
    inventory: str
    site: str = "lab_factory"
    releases: list[Release] = Field(default_factory=list)


def site_cluster(inventory: Inventory, site: str) -> SiteCluster:
    found = next((s for s in inventory.sites if s.id == site), None)
    if found is None or found.cluster is None:
        raise TcraError(f"site {site}: the inventory records no existing Kubernetes cluster"
                        " for it (tcra_site.cluster)" if found else
                        f"site {site}: not in the inventory")
    return found.cluster


with stack_config.reported():
    config = stack_config.read(Config)
    cluster = site_cluster(load_inventory(config.inventory), config.site)
    kubeconfig = cluster.kubeconfig.read_text()
    default = Endpoint(kind="pod" if cluster.pod_endpoints else "service")
    workloads = {release.name: Workload(release.name, WorkloadArgs(
        chart=release.chart, version=release.version, repository=release.repository,
        namespace=release.namespace, create_namespace=release.create_namespace,
        values=release.values, kubeconfig=kubeconfig, registry_ca=cluster.registry_ca,
        cluster_name=cluster.name, node_selector=cluster.node_selector,
        endpoint=None if release.endpoint == "none" else release.endpoint or default,
        timeout=release.timeout))
        for release in config.releases}
pulumi.export("cluster", cluster.name)
pulumi.export("releases", {name: {"endpoint": w.endpoint, "revision": w.revision,
                                  "status": w.status, "drift": w.drift}
                           for name, w in workloads.items()})
