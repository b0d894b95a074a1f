"""The whole inventory as one validated object, with the checks that span sites and hosts."""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path

from pydantic import Field, model_validator

from tcra.errors import InvalidInputError, Problem
from tcra.model.base import Model
from tcra.model.fabric import Fabric
from tcra.model.host import Host, Hypervisor, VmPlatform
from tcra.model.site import ManagementCluster, Site


class ApiIssuer(Model):
    """Whose bearer tokens `tcra serve` accepts (variable tcra_api of group all): the issuer,
    and its key as a PEM file (the lab's) or the JWKS URL it publishes its keys at."""

    issuer: str = Field(min_length=1)
    public_key: Path | None = None
    jwks_url: str | None = Field(default=None, pattern=r"^https://\S+$")

    @model_validator(mode="after")
    def _one_key(self) -> ApiIssuer:
        if (self.public_key is None) == (self.jwks_url is None):
            raise ValueError("expected exactly one of public_key and jwks_url")
        return self


class Inventory(Model):
    sites: tuple[Site, ...] = Field(default=())
    hosts: tuple[Host, ...] = Field(default=())
    hypervisors: tuple[Hypervisor, ...] = Field(default=(), description="Hosts with"
                                                " tcra_libvirt_uri: where VMs can run.")
    fabric: Fabric | None = Field(default=None, description="HBRs and workload endpoints"
                                  " (variable tcra_fabric of group all).")
    store: str | None = Field(default=None, description="The sites' MCO store (TCRR and TCWI),"
                              " a database URL (variable tcra_store of group all): the"
                              " default of every stack deployed onto them, so services see"
                              " each other's use.")
    api: ApiIssuer | None = Field(default=None, description="Whose tokens the API accepts"
                                  " (variable tcra_api of group all).")
    vm_platform: VmPlatform | None = Field(default=None, description="The hypervisors' pool"
                                           " and network for VMs the API deploys (variable"
                                           " tcra_vm_platform of group all).")

    def site(self, site_id: str) -> Site:
        for site in self.sites:
            if site.id == site_id:
                return site
        raise KeyError(site_id)

    def management_cluster(self, site_id: str) -> ManagementCluster:
        """The management cluster that makes the site's Kubernetes clusters."""
        ids = sorted(site.id for site in self.sites)
        if site_id not in ids:
            raise InvalidInputError([Problem("inventory", "site", "expected one of the"
                                             f" inventory's sites ({', '.join(ids)})", site_id)])
        found = self.site(site_id).management_cluster
        if found is None:
            raise InvalidInputError([Problem(
                f"site {site_id}", "tcra_site.management_cluster", "missing; expected the"
                " kubeconfig of its management cluster (the lab writes it unless started"
                " with --no-kubernetes)", has_value=False)])
        return found

    def hosts_at(self, site_id: str) -> tuple[Host, ...]:
        return tuple(host for host in self.hosts if host.site == site_id)

    def hypervisor(self, name: str) -> Hypervisor:
        for hypervisor in self.hypervisors:
            if hypervisor.name == name:
                return hypervisor
        raise KeyError(name)


def cross_check(site_ids: set[str], sites: list[Site], hosts: list[Host]) -> list[Problem]:
    """Problems no single site or host shows alone: dangling sites, clashes between entries.

    `site_ids` names every site declared, valid or not, so one bad site does not also
    fail each of its hosts.
    """
    problems: list[Problem] = []
    for host in hosts:
        if host.site not in site_ids:
            problems.append(
                Problem(f"host {host.name}", "site", "expected one of the inventory's sites"
                        f" ({', '.join(sorted(site_ids)) or 'none defined'})", host.site)
            )
    claims: defaultdict[tuple[str, str], list[str]] = defaultdict(list)
    for host in hosts:
        claims[(host.bmc.address, host.bmc.system_id)].append(host.name)
    for (address, system_id), names in claims.items():
        for name in names[1:]:
            problems.append(
                Problem(f"host {name}", "bmc.system_id",
                        f"the same BMC system is already host {names[0]}'s ({address})", system_id)
            )
    locators = Counter(site.network.locator for site in sites if site.network.locator)
    for site in sites:
        if site.network.locator and locators[site.network.locator] > 1:
            problems.append(
                Problem(f"site {site.id}", "network.locator",
                        "expected a locator no other site uses", str(site.network.locator))
            )
    return problems
