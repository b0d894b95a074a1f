"""Labs for integration tests: each module gets its own, under a temporary state folder."""

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tcra import lab
from tcra.lab.spec import LabSpec

needs_lab = pytest.mark.skipif(os.geteuid() != 0,
                               reason="the lab runs a system libvirtd: needs root")


@contextmanager
def running_lab(root: Path, name: str, nodes: int, *,
                kubernetes: bool = False) -> Iterator[LabSpec]:
    """A lab of its own; without the management cluster unless asked (it costs about 20 s and
    1.3 GB, and only the Kubernetes tests use it)."""
    spec = LabSpec(name=name, nodes=nodes, state_root=root / "state", inventory=root / "inventory",
                   kubernetes=kubernetes)
    try:
        lab.up(spec)
        yield spec
    finally:
        lab.down(spec)
