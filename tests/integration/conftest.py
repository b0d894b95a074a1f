"""Labs for integration tests: each module gets its own, under a temporary state folder."""

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tcra import lab
from tcra.lab.spec import LabSpec, load_state

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


def up_or_clean(spec: LabSpec) -> LabSpec:
    """`up` for a test that takes the lab down itself: an `up` that fails half-way is taken
    down at once, so nothing it made outlives the test."""
    try:
        lab.up(spec)
    except BaseException:
        lab.down(spec)
        raise
    return spec


class KubernetesLab:
    """The one lab with Kubernetes that the tests share (one such lab per machine: CAPD's and
    the registry's ports are fixed). Started when a module first asks for it; a module that
    needs the machine without it calls `release`, and the next one to ask starts it again.
    TCRA_TEST_LAB=NAME uses a lab already up under the default state folder instead, and
    leaves it up (for working on one module against a running lab)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.spec: LabSpec | None = None
        self.given = os.environ.get("TCRA_TEST_LAB")

    def get(self) -> LabSpec:
        if self.given:
            state = load_state(LabSpec(name=self.given))
            assert state is not None and state.kubernetes is not None, \
                f"TCRA_TEST_LAB={self.given}: that lab is not up with Kubernetes"
            return state.spec.model_copy(update={"inventory": state.inventory})
        if self.spec is None:
            spec = LabSpec(name="citk8s", nodes=2, hugepages=64, state_root=self.root / "state",
                           inventory=self.root / "inventory", kubernetes=True)
            self.spec = up_or_clean(spec)
        return self.spec

    def release(self) -> None:
        """Take the shared lab down, for a module that needs the machine without one."""
        if self.given:
            pytest.skip(f"needs the machine without a Kubernetes lab; TCRA_TEST_LAB={self.given}")
        self.stop()

    def stop(self) -> None:
        if self.spec is not None:
            lab.down(self.spec)
            self.spec = None
