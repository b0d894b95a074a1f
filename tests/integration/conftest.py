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
def running_lab(root: Path, name: str, nodes: int) -> Iterator[LabSpec]:
    spec = LabSpec(name=name, nodes=nodes, state_root=root / "state", inventory=root / "inventory")
    try:
        lab.up(spec)
        yield spec
    finally:
        lab.down(spec)
