"""What a lab is asked to be (LabSpec) and what it made (LabState), kept in its state folder."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

from pydantic import Field, model_validator

from tcra.lab.fabric_state import FabricState
from tcra.model.base import Model
from tcra.model.fabric import PodNetwork
from tcra.model.types import Quantity
from tcra.state import state_home

STATE_FILE = "state.json"
CA_FILE = "ca.pem"  # the lab Kubernetes CA's certificate, in LabKubernetes.trust
POD_CIDRS = ipaddress.ip_network("10.244.0.0/16")  # a /24 per node; one Kubernetes lab per machine


def default_state_root() -> Path:
    return state_home() / "labs"


class LabSpec(Model):
    name: str = Field(default="lab", pattern=r"^[a-z][a-z0-9]{0,11}$",
                      description="Lab name; all the lab makes is named tcra-<name>-...")
    nodes: int = Field(default=2, ge=1, le=32, description="Virtual bare-metal nodes.")
    memory: Quantity = Field(default=Quantity("64Mi"), description="Memory per node.")
    vcpus: int = Field(default=1, ge=1, le=8, description="vCPUs per node.")
    disk: Quantity = Field(default=Quantity("1Gi"), description="Blank sparse disk per node.")
    bmc_port: int = Field(default=0, ge=0, le=65535,
                          description="Redfish emulator port on 127.0.0.1; 0 picks a free one.")
    hugepages: int = Field(default=256, ge=0, le=65536,
                           description="2 MiB hugepages reserved for VMs (0: none).")
    kubernetes: bool = Field(default=True, description="Run a Kubernetes management cluster"
                             " with Cluster API (built from Go modules on first use).")
    libvirt_uri: str = "qemu:///system"
    state_root: Path = Field(default_factory=default_state_root)
    inventory: Path = Path("inventories/lab")

    @property
    def prefix(self) -> str:
        return f"tcra-{self.name}-"

    @property
    def state_dir(self) -> Path:
        return self.state_root / self.name


class Process(Model):
    """A daemon the lab started: enough to find it again and to be sure it is still ours."""

    pid: int
    program: str = Field(description="A word of its command line that names the program.")


class LabHypervisor(Model):
    uri: str
    started: tuple[Process, ...] = Field(default=(), description="Daemons the lab started.")
    created_paths: tuple[Path, ...] = Field(default=(), description="Paths that did not exist.")


class Hugepages(Model):
    """The lab adds its pages to the machine's and takes only those back: labs may overlap."""

    count: int = Field(ge=0, description="Pages the lab added.")
    total: int = Field(ge=0, description="The machine's count once they were added.")


class HugetlbfsMount(Model):
    """The hugetlbfs mount a lab made, which every lab up uses (libvirtd found it at start):
    the last of them down unmounts it, whichever lab mounted it."""

    created_mount_point: bool = False
    holders: tuple[Path, ...] = Field(default=(), description="State folders of the labs up.")


class Node(Model):
    name: str
    uuid: str
    site: str


class Bmc(Model):
    process: Process
    port: int
    username: str
    ca_bundle: Path | None = Field(
        default=None, description="The lab CA's certificate the BMC's HTTPS is verified with;"
        " none only in the state of a lab whose emulator an older tcra started, over HTTP.")

    @property
    def url(self) -> str:
        scheme = "https" if self.ca_bundle else "http"
        return f"{scheme}://127.0.0.1:{self.port}"


class Component(Model):
    """A program of the lab's Kubernetes, and the URL that says it is ready."""

    name: str
    process: Process
    health: str


class LabNode(Model):
    """Where the node's parts are, and what it made outside its own folders."""

    name: str
    site: str = Field(description="The lab site whose pods it runs (its tcra.io/site label).")
    pod_cidr: ipaddress.IPv4Network = Field(description="Its pods' IPv4 addresses, the first"
                                            " its own on the bridge.")
    folder: Path
    run_folder: Path
    crictl: Path
    bridge: str
    cgroup_root: str = Field(description="kubelet's cgroupRoot, made in every hierarchy.")
    ports: dict[str, int]
    created_paths: tuple[Path, ...] = ()
    pods: PodNetwork | None = Field(default=None, description="The pods' IPv6 network, its"
                                    " gateway the fabric's HBR (none: IPv4 only).")

    @property
    def socket(self) -> Path:
        return self.run_folder / "containerd.sock"

    @property
    def hbr_port(self) -> str:
        """The bridge's port that leads to its site's HBR (a veth whose other end, in the
        HBR's namespace, is the pods' gateway): the bridge's name with another first letter."""
        return f"v{self.bridge[1:]}"

    @property
    def short(self) -> str:
        """The site without its "lab_": how the node's components are named."""
        return self.site.removeprefix("lab_")

    @property
    def address(self) -> str:
        """The node's InternalIP: the bridge's, the pods' gateway."""
        return str(next(self.pod_cidr.hosts()))


class LabKubernetes(Model):
    """The lab's management cluster: the components it runs and where clients find it."""

    folder: Path
    ports: dict[str, int]
    kubeconfig: Path = Field(description="The admin's kubeconfig (user tcra-lab:admin).")
    components: tuple[Component, ...] = ()
    nodes: tuple[LabNode, ...] = Field(default=(), description="Its real nodes, one per lab"
                                       " site: each runs its site's pods.")
    registry: str | None = Field(default=None, description="The lab's image and chart"
                                 " registry, host:port on 127.0.0.1.")

    @model_validator(mode="before")
    @classmethod
    def _one_node(cls, data: Any) -> Any:
        """The state of a lab an older tcra brought up, with one node (lab_factory's) whose
        programs are named without the site: read as this tcra's, so `down` still removes the
        node's pods through its containerd, and all the lab made."""
        if not isinstance(data, dict) or "node" not in data:
            return data
        node, named = data["node"], {"containerd": "containerd-factory",
                                     "kubelet": "kubelet-factory"}
        return {**{key: value for key, value in data.items() if key != "node"},
                "nodes": [{"site": "lab_factory",
                           "pod_cidr": next(POD_CIDRS.subnets(new_prefix=24)), **node}]
                if node else [],
                "components": [{**c, "name": named.get(c["name"], c["name"])}
                               for c in data.get("components", ())]}

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.ports['apiserver']}"

    @property
    def trust(self) -> Path:
        """A folder holding only the CA's certificate: SSL_CERT_DIR for programs (Helm, the
        Pulumi provider) that must trust the lab's registry."""
        return self.folder / "trust"


class LabMonitor(Model):
    """The lab's Prometheus and Alertmanager, on 127.0.0.1, and where Prometheus looks for
    tcra's metrics (`tcra sense serve --lab`) and its rules (`tcra sense rules --lab`)."""

    folder: Path
    prometheus: Process
    prometheus_port: int
    alertmanager: Process
    alertmanager_port: int
    sense_port: int = Field(description="Where Prometheus scrapes `tcra sense serve`.")
    act_port: int = Field(default=0, description="Where Alertmanager sends alerts: `tcra"
                          " actions serve --lab` (0: a lab from before the agent).")

    @property
    def prometheus_url(self) -> str:
        return f"http://127.0.0.1:{self.prometheus_port}"

    @property
    def alertmanager_url(self) -> str:
        return f"http://127.0.0.1:{self.alertmanager_port}"

    @property
    def rules(self) -> Path:
        """The folder whose *.yml Prometheus loads as rule files."""
        return self.folder / "rules"

    @property
    def act_token(self) -> Path:
        """The bearer token Alertmanager sends the agent, readable by root only."""
        return self.folder / "act.token"


class LabState(Model):
    spec: LabSpec
    hugepages: Hugepages | None = None
    hypervisor: LabHypervisor | None = None
    nodes: tuple[Node, ...] = ()
    bmc: Bmc | None = None
    fabric: FabricState | None = None
    kubernetes: LabKubernetes | None = None
    monitor: LabMonitor | None = None
    inventory: Path | None = None

    def save(self) -> None:
        self.spec.state_dir.mkdir(parents=True, exist_ok=True)
        path = self.spec.state_dir / STATE_FILE
        path.write_text(self.model_dump_json(indent=2))


def load_state(spec: LabSpec) -> LabState | None:
    path = spec.state_dir / STATE_FILE
    if not path.exists():
        return None
    return LabState.model_validate_json(path.read_text())
