"""What the lab's fabric offers besides the Fabric model: where users are, what they reach."""

from __future__ import annotations

from pydantic import Field

from tcra.model.base import Model
from tcra.model.fabric import Fabric


class FabricState(Model):
    """What the lab's fabric offers a test or a user besides the Fabric model itself."""

    fabric: Fabric
    namespaces: tuple[str, ...]
    user_namespace: str
    user_address: str
    users_hbr: str
    service_prefix: str
    service_address: str
    workload_namespaces: dict[str, str] = Field(default_factory=dict)
