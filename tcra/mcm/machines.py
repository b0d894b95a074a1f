"""Machines Metal3 provisions: bare-metal hosts from the inventory, or VMs exposed through a
Redfish emulator (sushy-tools), which Metal3 cannot tell apart from bare metal."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal
from urllib.parse import quote, urlsplit

from pydantic import Field

from tcra.model import Capabilities, Host
from tcra.model.base import Model
from tcra.model.host import BmcCredentials, BmcEndpoint

BmcDriver = Literal["redfish", "redfish-virtualmedia", "idrac-virtualmedia"]


class Machine(Model):
    """A server Metal3 can provision, known by its Redfish BMC."""

    name: str = Field(description="The BareMetalHost's name, and the node's host name.")
    bmc: BmcEndpoint
    driver: BmcDriver = Field(default="redfish-virtualmedia", description="Ironic driver:"
                              " virtual media boots an ISO the BMC mounts; redfish boots PXE.")
    boot_mac: str | None = Field(default=None, description="MAC of the NIC that boots (PXE).")
    boot_mode: Literal["UEFI", "UEFISecureBoot", "legacy"] = "UEFI"
    root_device: str | None = Field(default=None, description="Disk to install on (/dev/...).")
    capabilities: Capabilities | None = Field(default=None, description="What it offers, to"
                                              " select it and to check node features against.")

    @property
    def bmc_address(self) -> str:
        """The BareMetalHost's spec.bmc.address: driver, transport, and the Redfish system."""
        parts = urlsplit(self.bmc.address)
        system = quote(self.bmc.system_id, safe="")
        return f"{self.driver}+{parts.scheme}://{parts.netloc}/redfish/v1/Systems/{system}"


class EmulatedVm(Model):
    """A libvirt domain that a Redfish emulator (sushy-tools) presents as a bare-metal system."""

    name: str
    domain_uuid: str = Field(min_length=1, description="The libvirt domain's UUID: the"
                             " emulator's Redfish system id.")
    boot_mac: str | None = None
    capabilities: Capabilities | None = None


def machines_from_hosts(hosts: Iterable[Host], *,
                        driver: BmcDriver = "redfish-virtualmedia") -> tuple[Machine, ...]:
    """Machines for inventory hosts: their BMC, credential references and capabilities."""
    return tuple(Machine(name=host.name, bmc=host.bmc, driver=driver,
                         capabilities=host.capabilities) for host in hosts)


def machines_from_vms(vms: Iterable[EmulatedVm], *, emulator: str, credentials: BmcCredentials,
                      driver: BmcDriver = "redfish-virtualmedia") -> tuple[Machine, ...]:
    """Machines for VMs behind a Redfish emulator at `emulator` (http://host:port), as
    metal3-dev-env runs them: Metal3 provisions them exactly like bare metal."""
    return tuple(Machine(name=vm.name, driver=driver, boot_mac=vm.boot_mac,
                         capabilities=vm.capabilities,
                         bmc=BmcEndpoint(address=emulator, system_id=vm.domain_uuid,
                                         credentials=credentials)) for vm in vms)
