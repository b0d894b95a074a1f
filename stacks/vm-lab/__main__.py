"""Three VMs on the lab's hypervisor: vCPU on host CPU 1, QEMU's threads on CPU 0, memory on
2 MiB hugepages, a disk cloned from the lab's base image, a cloud-init seed with an SSH key."""

import pulumi
from tcra.blueprints import stack_config

from tcra import VMCluster, VMClusterArgs, load_inventory
from tcra.vip import CloudInit, Disk, Interface, MachineShape, Pinning

config = pulumi.Config()
with stack_config.reported():
    inventory = load_inventory(config.require("inventory"))
cluster = VMCluster("edge-vm", VMClusterArgs(
    hypervisors=inventory.hypervisors, count=config.require_int("count"),
    machine=MachineShape(
        vcpus=1, memory="64Mi", hugepages="2Mi", pinning=Pinning(cpus=(1,), emulator_cpus=(0,)),
        disks=(Disk(pool=config.require("pool"), size="64Mi",
                    base_image=config.require("base_image")),),
        interfaces=(Interface(network=config.require("network")),),
        cloud_init=CloudInit(ssh_authorized_keys=tuple(config.get_object("ssh_keys") or ())),
        shutdown_timeout=5)))
pulumi.export("vms", cluster.vms)
