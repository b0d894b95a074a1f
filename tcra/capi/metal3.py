"""Metal3: Metal3Cluster and Metal3MachineTemplate (CAPM3, infrastructure.cluster.x-k8s.io/v1beta1)
and BareMetalHost (baremetal-operator, metal3.io/v1alpha1)."""

from __future__ import annotations

from typing import Final, Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from tcra.capi._meta import (
    ApiModel,
    DnsSubdomain,
    KubeObject,
    LabelSelector,
    TemplateResource,
    TemplateSpec,
)

INFRASTRUCTURE_API_VERSION: Final = "infrastructure.cluster.x-k8s.io/v1beta1"
BMO_API_VERSION: Final = "metal3.io/v1alpha1"

# Ironic drivers the baremetal-operator knows by the scheme of spec.bmc.address ("driver" or
# "driver+http(s)"). Virtual-media drivers boot from an image the BMC mounts; the others boot over
# the network (PXE) and so need the boot NIC's MAC address.
BMC_DRIVERS = frozenset({
    "ipmi", "redfish", "redfish-virtualmedia", "redfish-uefihttp", "idrac-redfish",
    "idrac-virtualmedia", "ilo5-redfish", "ilo5-virtualmedia", "irmc", "irmc-virtualmedia",
})
MAC = r"^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$"


def bmc_driver(address: str) -> str:
    return urlsplit(address).scheme.split("+", 1)[0]


def boots_over_network(driver: str) -> bool:
    return not driver.endswith("virtualmedia")


class ApiEndpoint(ApiModel):
    host: str = Field(min_length=1)
    port: int = Field(ge=1, le=65535)


class Metal3ClusterSpec(ApiModel):
    control_plane_endpoint: ApiEndpoint
    # Both spellings: CAPM3 releases before the rename read only noCloudProvider, later ones
    # prefer cloudProviderEnabled. Off, CAPM3 sets each node's providerID from its
    # metal3.io/uuid label.
    no_cloud_provider: bool | None = None
    cloud_provider_enabled: bool | None = None

    @model_validator(mode="after")
    def _agree(self) -> Metal3ClusterSpec:
        if None not in (self.no_cloud_provider, self.cloud_provider_enabled) \
                and self.no_cloud_provider == self.cloud_provider_enabled:
            raise ValueError("noCloudProvider and cloudProviderEnabled contradict each other")
        return self


class Metal3Cluster(KubeObject):
    api_version: Literal["infrastructure.cluster.x-k8s.io/v1beta1"] = INFRASTRUCTURE_API_VERSION
    kind: Literal["Metal3Cluster"] = "Metal3Cluster"
    spec: Metal3ClusterSpec


class Image(ApiModel):
    url: str = Field(pattern=r"^(https?|file)://")
    checksum: str = Field(min_length=1, description="The checksum, or a URL to a checksum file.")
    checksum_type: Literal["md5", "sha256", "sha512"] | None = None
    disk_format: Literal["raw", "qcow2", "vdi", "vmdk", "live-iso"] | None = Field(
        default=None, alias="format")


class Metal3MachineSpec(ApiModel):
    image: Image
    host_selector: LabelSelector
    automated_cleaning_mode: Literal["metadata", "disabled"] | None = None


Metal3MachineTemplateResource = TemplateResource[Metal3MachineSpec]


class Metal3MachineTemplateSpec(TemplateSpec[Metal3MachineSpec]):
    node_reuse: bool | None = None


class Metal3MachineTemplate(KubeObject):
    api_version: Literal["infrastructure.cluster.x-k8s.io/v1beta1"] = INFRASTRUCTURE_API_VERSION
    kind: Literal["Metal3MachineTemplate"] = "Metal3MachineTemplate"
    spec: Metal3MachineTemplateSpec


class BMCDetails(ApiModel):
    address: str
    credentials_name: DnsSubdomain
    disable_certificate_verification: bool | None = None

    @field_validator("address")
    @classmethod
    def _known_driver(cls, address: str) -> str:
        if bmc_driver(address) not in BMC_DRIVERS or not urlsplit(address).hostname:
            raise ValueError(f"expected <driver>[+http|+https]://host/... with a driver of"
                             f" {', '.join(sorted(BMC_DRIVERS))}")
        return address


class RootDeviceHints(ApiModel):
    device_name: str = Field(pattern=r"^/dev/")


class BareMetalHostSpec(ApiModel):
    bmc: BMCDetails
    online: bool
    boot_mac_address: str | None = Field(default=None, alias="bootMACAddress", pattern=MAC)
    boot_mode: Literal["UEFI", "UEFISecureBoot", "legacy"] | None = None
    root_device_hints: RootDeviceHints | None = None
    description: str | None = None

    @model_validator(mode="after")
    def _network_boot_needs_mac(self) -> BareMetalHostSpec:
        driver = bmc_driver(self.bmc.address)
        if boots_over_network(driver) and self.boot_mac_address is None:
            raise ValueError(f"driver {driver} boots over the network: it needs bootMACAddress")
        return self


class BareMetalHost(KubeObject):
    api_version: Literal["metal3.io/v1alpha1"] = BMO_API_VERSION
    kind: Literal["BareMetalHost"] = "BareMetalHost"
    spec: BareMetalHostSpec
