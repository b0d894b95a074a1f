"""A site of the edge-cloud continuum: where it is, who runs it, what its energy costs."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Literal

from pydantic import Field

from tcra.model.base import Model
from tcra.model.types import CountryCode, IPv6Prefix, Name


class Tier(StrEnum):
    """Position in the continuum, from the device side to the central cloud."""

    FAR_EDGE = "far-edge"
    EDGE = "edge"
    REGIONAL = "regional"
    CORE = "core"


class Location(Model):
    lat: float = Field(ge=-90, le=90, description="Latitude in degrees, -90 to 90.")
    lon: float = Field(ge=-180, le=180, description="Longitude in degrees, -180 to 180.")


class Energy(Model):
    """What a kWh used at the site costs, in money and in carbon; the MCO weighs these."""

    price_per_kwh: float = Field(ge=0, description="Electricity price in EUR per kWh.")
    carbon_intensity: float = Field(ge=0, description="Grid carbon intensity in gCO2 per kWh.")
    pue: float = Field(ge=1, le=5, description="Power usage effectiveness of the facility.")
    renewable_share: float = Field(
        ge=0, le=1, description="Share of renewable energy, 0 to 1."
    )


class SiteNetwork(Model):
    locator: IPv6Prefix | None = Field(
        default=None, description="SRv6 locator of the site's host-based router."
    )


class ManagementCluster(Model):
    """The Kubernetes cluster whose Cluster API creates, scales and upgrades the site's
    clusters (the TCRA's Multi-Cluster Manager)."""

    kubeconfig: Path = Field(description="File holding a kubeconfig for its API server.")
    namespace: str = Field(default="default", pattern=r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$",
                           description="Namespace the site's clusters are declared in.")


ClusterFeature = Literal["multus", "sriov", "ptp", "dedicated-cpus", "single-numa-node"]
"""What a cluster gives workloads beyond a CNI: Multus, the SR-IOV device plugin, the linuxptp
daemon, the kubelet's static CPU manager, its single-numa-node topology manager."""


class SiteCluster(Model):
    """A Kubernetes cluster already running at the site. The WDM releases the site's container
    workloads onto it, and the kubernetes block reuses it instead of making a new cluster."""

    name: str = Field(min_length=1, description="The cluster's name, as reports show it.")
    kubeconfig: Path = Field(description="File holding a kubeconfig for its API server.")
    registry: str | None = Field(default=None, description="host:port of the registry its"
                                 " nodes pull images and charts from.")
    registry_ca: Path | None = Field(default=None, description="CA bundle that registry's"
                                     " TLS certificate is verified with.")
    pod_endpoints: bool = Field(default=False, description="Pod addresses are routed from"
                                " where tcra runs (no load balancer or kube-proxy needed):"
                                " a workload's endpoint is a ready pod behind its Service.")
    node_selector: dict[str, str] = Field(default_factory=dict, description="The labels of"
                                          " the site's own nodes, when the cluster's nodes"
                                          " stand at several sites: the site's room is theirs,"
                                          " and its workloads' pods run only there (the"
                                          " charts' `nodeSelector` value).")
    features: tuple[ClusterFeature, ...] = Field(default=(), description="What it gives"
                                                 " workloads beyond a CNI; the MCO places no"
                                                 " workload here that needs another.")


class Site(Model):
    id: Name
    tier: Tier
    location: Location
    provider: str = Field(min_length=1, description="Who operates the site.")
    jurisdiction: CountryCode
    region: str | None = Field(default=None, min_length=1, max_length=64, description="The"
                               " region application providers choose sites by (CAMARA's edge"
                               " cloud region); default: the jurisdiction.")
    energy: Energy
    network: SiteNetwork = SiteNetwork()
    management_cluster: ManagementCluster | None = None
    cluster: SiteCluster | None = Field(default=None, description="The site's existing"
                                        " Kubernetes cluster, if it has one.")
    latency_ms: dict[Name, float] = Field(
        default_factory=dict, description="Measured round-trip time to user areas, in ms;"
        " areas not listed are estimated from coordinates.")
