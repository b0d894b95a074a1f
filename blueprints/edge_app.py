"""One app instance of the northbound API (`tcra serve`) as a blueprint: the app's one workload,
placed by the MCO at the site its instance was booked at, and deployed by the block its package
needs: a Helm release on the site's cluster, or a VM on a hypervisor there. tcra.api.deploy runs
it as one Pulumi stack per instance, with the instance in the stack's configuration."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from tcra.blueprints import stack_config
from tcra.blueprints.base import Blocks, Blueprint, BlueprintArgs, CatalogEntry

from tcra.inventory import load as load_inventory
from tcra.mco.model import Policy, ServiceRequest, WorkloadKind
from tcra.model.base import Model
from tcra.model.host import VmPlatform
from tcra.model.types import Name


class EdgeAppArgs(BlueprintArgs):
    site: Name = Field(description="Where the instance was booked: the MCO places it there"
                       " or nowhere.")


class EdgeAppBlueprint(Blueprint):
    kind = "tcra:blueprint:EdgeApp"

    def request(self, name: str, args: BlueprintArgs) -> ServiceRequest:
        assert isinstance(args, EdgeAppArgs)  # noqa: S101 - this blueprint's own arguments
        (entry,) = args.catalog
        workload = self.workload(entry, entry.name).model_copy(update={"sites": (args.site,)})
        return ServiceRequest(name=name, tenant=args.policy.tenant, workloads=(workload,))


class EdgeAppStack(Model):
    """The stack's configuration: one instance, as tcra.api.deploy writes it."""

    inventory: Path
    store_url: str
    service: Name
    site: Name
    app: CatalogEntry
    policy: Policy = Policy()
    vm_platform: VmPlatform | None = Field(default=None, description="A VM app's: the"
                                           " inventory's, its disk cloned from the app's image.")

    def blueprint_args(self) -> EdgeAppArgs:
        inventory = load_inventory(self.inventory)
        vm = self.app.form is WorkloadKind.VAF
        return EdgeAppArgs(
            inventory=inventory, catalog=(self.app,), policy=self.policy, site=self.site,
            store_url=self.store_url, vm_platform=self.vm_platform,
            blocks=Blocks(bare_metal=False, virtual_machines=vm, kubernetes=not vm,
                          connectivity=False))


def main() -> None:
    """The stack program: the instance its configuration names."""
    with stack_config.reported():
        stack = stack_config.read(EdgeAppStack)
        app = EdgeAppBlueprint(stack.service, stack.blueprint_args())
    app.export()


__all__ = ["EdgeAppArgs", "EdgeAppBlueprint", "EdgeAppStack", "main"]
