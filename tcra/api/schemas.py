"""The CAMARA Edge Application Management bodies tcra reads and writes, as pydantic models.

Field names are the API's (camelCase), so bodies validate as they come. Patterns run on
Python's `re`, as JSON Schema validators (and conformance tools) read them; unknown fields are
refused, as CAMARA's request strictness asks."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

NAME = r"^[A-Za-z][A-Za-z0-9_]{1,63}$"
PROVIDER = r"^[A-Za-z][A-Za-z0-9_]{7,63}$"
ID = r"^[0-9a-f]{8}-[0-9a-f]{4}-[1-5][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"
STORAGE_SIZE = r"^\d+(GB|MB)$"
KUBERNETES_VERSION = r"^v?\d+\.\d+(?:\.\d+)?(?:[-+][0-9A-Za-z.-]+)?$"

Id = Annotated[str, Field(min_length=36, max_length=36, pattern=ID)]
Text64 = Annotated[str, Field(max_length=64)]
Int32 = Annotated[int, Field(strict=True)]


class Reply(BaseModel):
    """What tcra answers."""

    model_config = ConfigDict(extra="forbid", regex_engine="python-re", frozen=True)


class Body(Reply):
    """What a caller sends."""

    @model_validator(mode="before")
    @classmethod
    def _no_nulls(cls, data: Any) -> Any:
        """An optional field is left out, never null: the definition has no nullable field."""
        if isinstance(data, dict):
            for key, value in data.items():
                if value is None and key in cls.model_fields:
                    raise ValueError(f"{key}: expected a value (got null)")
        return data


class PackageType(StrEnum):
    QCOW2 = "QCOW2"
    OVA = "OVA"
    CONTAINER = "CONTAINER"
    HELM = "HELM"
    CSAR = "CSAR"


class AppRepo(Body):
    type: Literal["PRIVATEREPO", "PUBLICREPO"]
    imagePath: str = Field(max_length=2048, pattern=r"^[A-Za-z][A-Za-z0-9+.-]*:\S+$")
    userName: Text64 | None = None
    credentials: SecretStr | None = Field(default=None, max_length=2048)
    authType: Literal["DOCKER", "HTTP_BASIC", "HTTP_BEARER", "NONE"] | None = None
    checksum: str | None = Field(default=None, max_length=128,
                                 pattern=r"^(?:[A-Fa-f0-9]{32}|[A-Fa-f0-9]{64})$")


class OperatingSystem(Body):
    architecture: Literal["x86_64", "x86"]
    family: Literal["RHEL", "UBUNTU", "COREOS", "WINDOWS", "OTHER"]
    version: Literal["OS_VERSION_UBUNTU_2204_LTS", "OS_VERSION_RHEL_8", "OS_MS_WINDOWS_2022",
                     "OTHER"]
    license: Literal["OS_LICENSE_TYPE_FREE", "OS_LICENSE_TYPE_ON_DEMAND", "OTHER"]


class NetworkInterface(Body):
    interfaceId: str = Field(min_length=4, max_length=32,
                             pattern=r"^[A-Za-z0-9][A-Za-z0-9_]{2,30}[A-Za-z0-9]$")
    protocol: Literal["TCP", "UDP", "ANY"]
    port: Int32 = Field(ge=1, le=65535)
    visibilityType: Literal["VISIBILITY_EXTERNAL", "VISIBILITY_INTERNAL"]


class ComponentSpec(Body):
    componentName: Text64
    networkInterfaces: list[NetworkInterface] = Field(min_length=1, max_length=100)


class Storage(Body):
    name: Text64 | None = None
    storageSize: str = Field(max_length=32, pattern=STORAGE_SIZE)
    mountPoint: Text64


Storages = Annotated[list[Storage], Field(max_length=50)]


class GpuInfo(Body):
    gpuMemory: Int32 = Field(ge=0, le=16384)
    numGPU: Int32 = Field(ge=0, le=16)


class Topology(Body):
    minNumberOfNodes: Int32 = Field(ge=1, le=1000)
    minNodeCpu: Int32 = Field(ge=1, le=256)
    minNodeMemory: Int32 = Field(ge=1, le=16384)


class GpuTopology(Topology):
    minNodeGpuMemory: Int32 = Field(ge=1, le=16)


class CpuPool(Body):
    numCPU: Int32 = Field(ge=1, le=256)
    memory: Int32 = Field(ge=1, le=16384)
    topology: Topology


class GpuPool(Body):
    numCPU: Int32 = Field(ge=1, le=1024)
    memory: Int32 = Field(ge=1, le=16384)
    gpuMemory: Int32 = Field(ge=1, le=16)
    topology: GpuTopology


class ApplicationResources(Body):
    cpuPool: CpuPool | None = None
    gpuPool: GpuPool | None = None


class PrimaryNetwork(Body):
    provider: Text64 | None = None
    version: Text64 | None = None


class AdditionalNetwork(Body):
    name: Text64 | None = None
    interfaceType: Literal["netdevice", "vfio-pci", "interface"] | None = None


class K8sNetworking(Body):
    primaryNetwork: PrimaryNetwork
    additionalNetworks: list[AdditionalNetwork] | None = Field(default=None, max_length=100)


class KubernetesResources(Body):
    infraKind: Literal["kubernetes"]
    applicationResources: ApplicationResources
    isStandalone: bool
    version: str | None = Field(default=None, max_length=64, pattern=KUBERNETES_VERSION)
    additionalStorage: str | None = Field(default=None, max_length=32, pattern=STORAGE_SIZE)
    networking: K8sNetworking | None = None
    addons: set[Literal["monitoring", "ingress"]] | None = Field(default=None, max_length=2)


class VmResources(Body):
    infraKind: Literal["virtualMachine"]
    numCPU: Int32 = Field(ge=1, le=256)
    memory: Int32 = Field(ge=1, le=32768)
    additionalStorages: Storages | None = None
    gpu: GpuInfo | None = None


class _Packaged(Body):
    """What a container and a Docker Compose application both describe."""

    memory: Int32 = Field(ge=1, le=16384)
    storage: Storages | None = None
    gpu: GpuInfo | None = None


class ContainerResources(_Packaged):
    infraKind: Literal["container"]
    numCPU: str = Field(max_length=16, pattern=r"^\d+((\.\d{1,3})|(m))?$")


class DockerComposeResources(_Packaged):
    infraKind: Literal["dockerCompose"]
    numCPU: Int32 = Field(ge=1, le=256)


RequiredResources = Annotated[
    KubernetesResources | VmResources | ContainerResources | DockerComposeResources,
    Field(discriminator="infraKind")]
# Each variant's tag, which pydantic puts in an error's location within requiredResources.
INFRA_KINDS = frozenset(get_args(variant.model_fields["infraKind"].annotation)[0]
                        for variant in get_args(get_args(RequiredResources)[0]))


class AppManifest(Body):
    name: str = Field(max_length=64, pattern=NAME)
    appProvider: str = Field(max_length=64, pattern=PROVIDER)
    version: Text64
    packageType: PackageType
    operatingSystem: OperatingSystem | None = None
    appRepo: AppRepo
    requiredResources: RequiredResources
    componentSpec: list[ComponentSpec] = Field(max_length=100)


class SubmittedApp(Reply):
    appId: Id


class EdgeCloudZoneStatus(StrEnum):
    ACTIVE = "active"
    INACTIVE = "inactive"
    UNKNOWN = "unknown"


class ClusterInfo(Reply):
    name: Text64
    edgeCloudProvider: Text64
    clusterRef: Id


class EdgeCloudZone(Reply):
    edgeCloudZoneId: Id
    edgeCloudZoneName: Text64
    edgeCloudZoneStatus: EdgeCloudZoneStatus
    edgeCloudProvider: Text64
    edgeCloudRegion: Text64
    countryCode: str = Field(pattern=r"^[A-Z]{2}$")
    clusters: list[ClusterInfo] | None = Field(default=None, max_length=100)


class Pagination(Reply):
    page: int
    perPage: int
    totalCount: int
    totalPages: int


class EdgeCloudZoneList(Reply):
    edgeCloudZones: list[EdgeCloudZone]
    pagination: Pagination


class AccessTokenCredential(Body):
    credentialType: Literal["ACCESSTOKEN"]
    accessToken: SecretStr = Field(max_length=4096)
    accessTokenExpiresUtc: str = Field(max_length=64)
    accessTokenType: Literal["bearer"]


class SubscriptionConfig(Body):
    subscriptionDetail: dict[str, Any]
    subscriptionExpireTime: str | None = Field(default=None, max_length=64)
    subscriptionMaxEvents: Int32 | None = Field(default=None, ge=1, le=2**31 - 1)
    initialEvent: bool | None = None


EventType = Literal[
    "org.camaraproject.edge-application-management.v0.app-instance-status-change",
    "org.camaraproject.edge-application-management.v0.app-deployment-status-change",
    "org.camaraproject.edge-application-management.v0.subscription-ended"]
INSTANCE_EVENT, DEPLOYMENT_EVENT, ENDED_EVENT = get_args(EventType)


class SubscriptionRequest(Body):
    sink: str = Field(max_length=2048, pattern=r"^https:\/\/.+$")
    sinkCredential: AccessTokenCredential | None = None
    types: list[EventType] | None = Field(default=None, min_length=1, max_length=1)
    config: SubscriptionConfig | None = None


class AppInstanceRequest(Body):
    name: str = Field(max_length=64, pattern=NAME)
    appId: Id
    edgeCloudZoneId: Id
    kubernetesClusterRef: Id | None = None
    subscriptionRequest: SubscriptionRequest | None = None


ZoneIds = Annotated[list[Id], Field(max_length=100)]


class AppDeploymentRequest(Body):
    appDeploymentName: str = Field(max_length=64, pattern=NAME)
    appId: Id
    edgeCloudZones: ZoneIds
    kubernetesClusterRefs: ZoneIds | None = None
    subscriptionRequest: SubscriptionRequest | None = None


class AppDeploymentPatch(Body):
    """A JSON merge patch (RFC 7396): what it names is replaced, arrays whole."""

    appDeploymentName: str | None = Field(default=None, max_length=64, pattern=NAME)
    edgeCloudZones: ZoneIds | None = None
    kubernetesClusterRefs: ZoneIds | None = None


class SubmittedDeployment(Reply):
    appDeploymentId: str


class AppDeploymentInfo(Reply):
    appDeploymentName: str
    appDeploymentId: Id
    appId: Id
    edgeCloudZones: list[Id]
    appInstances: list[Id]


class InstanceStatus(StrEnum):
    READY = "ready"
    INSTANTIATING = "instantiating"
    FAILED = "failed"
    TERMINATING = "terminating"
    UNKNOWN = "unknown"


class AccessEndpoint(Reply):
    port: Int32 = Field(ge=1, le=65535)
    ipv4Addresses: list[str] | None = Field(default=None, min_length=1, max_length=16)
    ipv6Addresses: list[str] | None = Field(default=None, min_length=1, max_length=16)


class ComponentEndpoint(Reply):
    interfaceId: str
    accessPoints: AccessEndpoint


class AppInstanceInfo(Reply):
    name: str
    appId: Id
    appInstanceId: Id
    appProvider: str
    status: InstanceStatus
    componentEndpointInfo: list[ComponentEndpoint] | None = Field(default=None, min_length=1,
                                                                  max_length=100)
    kubernetesClusterRef: Id | None = None
    edgeCloudZoneId: Id
    reason: str | None = Field(default=None, description="tcra's addition: why it failed.")
