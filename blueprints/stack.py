"""A stack's configuration for a blueprint (Pulumi.<stack>.yaml, key by key): what every
blueprint takes. A blueprint's own stack model adds its sites and catalog, and
tcra.blueprints.stack_config reads it."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import pulumi_kubernetes as k8s
from pydantic import Field
from tcra.blueprints.base import Blocks, BlueprintArgs, ChainIntent, VmPlatform
from tcra.blueprints.kubernetes import ClusterTemplate
from tcra.blueprints.stack_config import Secret

from tcra.inventory import load as load_inventory
from tcra.mco.model import Policy
from tcra.model.base import Model

A = TypeVar("A", bound=BlueprintArgs)


class BlueprintStack(Model):
    inventory: Path = Field(description="The Ansible inventory of the sites.")
    blocks: Blocks = Blocks()
    policy: Policy = Policy()
    vm_platform: VmPlatform | None = None
    chain: ChainIntent | None = None
    store_url: str | None = Field(default=None, description="The MCO store (TCRR and TCWI):"
                                  " stacks that share one see each other's use.")
    live: bool = True
    allow_partial: bool = False
    kubernetes: ClusterTemplate | None = None
    management_kubeconfig: Secret | None = Field(default=None, description="The management"
                                                 " cluster's kubeconfig (set it as a secret).")

    def _args(self, kind: type[A]) -> A:
        """The blueprint's arguments: the inventory loaded, the management cluster a
        provider."""
        management = None
        if self.management_kubeconfig is not None:
            management = k8s.Provider("management", kubeconfig=self.management_kubeconfig)
        return kind(inventory=load_inventory(self.inventory), management=management,
                    **self.model_dump(exclude={"inventory", "management_kubeconfig"},
                                      round_trip=True))
