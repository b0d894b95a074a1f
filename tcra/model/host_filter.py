"""HostFilter: the least a host must offer, checked against its capabilities.

Plain data, so that both the Pulumi components (PhysicalPool) and the pure cluster logic
(tcra.mcm) select hosts the same way without the latter importing Pulumi.
"""

from __future__ import annotations

from pydantic import Field

from tcra.model.base import Model
from tcra.model.host import Capabilities
from tcra.model.types import Quantity


class HostFilter(Model):
    """The least a host must offer to be claimed."""

    min_cores: int = Field(default=0, ge=0)
    min_memory: Quantity = Quantity(0)
    min_gpus: int = Field(default=0, ge=0)
    min_sriov_vfs: int = Field(default=0, ge=0)
    ptp: bool = Field(default=False, description="Require PTP-capable hosts.")

    def accepts(self, capabilities: Capabilities) -> bool:
        return (capabilities.cores >= self.min_cores
                and capabilities.memory >= self.min_memory
                and capabilities.gpu_count >= self.min_gpus
                and capabilities.sriov_vfs >= self.min_sriov_vfs
                and (capabilities.ptp or not self.ptp))
