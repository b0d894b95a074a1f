"""VMCluster: N alike VMs spread over hypervisors (TCRA VIP), scaled by changing N.

VM i is named <cluster>-<i> and runs on hypervisor i mod H, so neighbours never share a
host while there are hosts enough, and scaling only adds or removes the highest numbers:
the VMs that stay are not touched. Changing the hypervisor list moves the VMs whose
i mod H changes; append hosts rather than reorder them.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import pulumi
from pydantic import Field, ValidationError
from tcra.providers.virtual_machine import VirtualMachine, VirtualMachineArgs

from tcra.errors import InvalidInputError, Problem, problems_from
from tcra.model.base import Model
from tcra.model.host import Hypervisor
from tcra.vip.model import MachineShape


class VMClusterArgs(Model):
    hypervisors: tuple[Hypervisor, ...] = Field(min_length=1, description="Where the VMs run,"
                                                " in placement order (inventory.hypervisors).")
    count: int = Field(ge=0, le=1000)
    machine: MachineShape = Field(description="What each VM is; its host name is its VM name.")


def placement(name: str, args: VMClusterArgs) -> list[VirtualMachineArgs]:
    """Each VM's arguments, validated before anything is declared."""
    vms: list[VirtualMachineArgs] = []
    problems: list[Problem] = []
    for index in range(args.count):
        hypervisor = args.hypervisors[index % len(args.hypervisors)]
        fields = {**args.machine.model_dump(), "name": f"{name}-{index}",
                  "uri": hypervisor.libvirt_uri}
        try:
            vms.append(VirtualMachineArgs.model_validate(fields))
        except ValidationError as exc:
            problems += problems_from(exc, f"VMCluster {name}")
            break  # the same mistake for every VM: say it once
    if problems:
        raise InvalidInputError(problems)
    return vms


class VMCluster(pulumi.ComponentResource):
    """Outputs `vms`: per VM its name, host, UUID, power state and known addresses."""

    vms: pulumi.Output[list[dict[str, Any]]]

    def __init__(self, name: str, args: VMClusterArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("tcra:vip:VMCluster", name, None, opts)
        hosts = {h.libvirt_uri: h.name for h in args.hypervisors}
        children = [(vm, VirtualMachine(vm.name, vm, pulumi.ResourceOptions(parent=self)))
                    for vm in placement(name, args)]
        def entry(spec: VirtualMachineArgs, live: list[Any]) -> dict[str, Any]:
            return {"name": spec.name, "host": hosts[spec.uri], "uuid": live[0],
                    "state": live[1], "addresses": live[2] or []}

        self.vms = pulumi.Output.all(*[
            pulumi.Output.all(vm.uuid, vm.state, vm.addresses).apply(partial(entry, spec))
            for spec, vm in children])
        self.register_outputs({"vms": self.vms})
