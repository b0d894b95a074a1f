"""The Virtual Infrastructure Platform manager: VMs on libvirt, modelled and rendered."""

from tcra.vip.model import CloudInit, Disk, Interface, MachineShape, Pinning, VirtualMachineSpec

__all__ = ["CloudInit", "Disk", "Interface", "MachineShape", "Pinning", "VirtualMachineSpec"]
