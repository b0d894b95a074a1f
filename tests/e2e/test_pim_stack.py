"""stacks/pim-lab through a real Pulumi engine, against the lab: preview, up, no-change re-run,
drift by hand, refresh, repair, destroy."""

import json
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import libvirt
import pytest

from tests.conftest import ROOT
from tests.integration.conftest import needs_lab, running_lab

pytestmark = [pytest.mark.lab, needs_lab]
Runner = Callable[..., subprocess.CompletedProcess[str]]


def engine() -> str:
    """The engine's folders, ':'-joined for PATH (the script's last line); a first build from
    an empty cache takes ~20 minutes."""
    built = subprocess.run([str(ROOT / "scripts" / "build-pulumi")], check=True,
                           capture_output=True, text=True, timeout=3600)
    return built.stdout.strip().splitlines()[-1]


@contextmanager
def pulumi_project(root: Path, name: str, config: dict[str, str],
                   env: dict[str, str] | None = None,
                   programs: Path = ROOT / "stacks") -> Iterator[Runner]:
    """programs/NAME (a stack by default) copied under root (its virtualenv made absolute), a
    stack "lab" on a local backend with the config given (keys may be paths:
    "chain.destination") and `env` added to every run's environment; yields a runner, and
    destroys the stack at the end."""
    project = root / name
    project.mkdir()
    shutil.copy(programs / name / "__main__.py", project)
    shipped_config = programs / name / "Pulumi.lab.yaml"
    if shipped_config.exists():  # keys given below override it; a user's salt is not ours
        (project / "Pulumi.lab.yaml").write_text("".join(
            line for line in shipped_config.read_text().splitlines(keepends=True)
            if not line.startswith("encryptionsalt:")))
    shipped = (programs / name / "Pulumi.yaml").read_text()
    (project / "Pulumi.yaml").write_text(shipped.replace("../../.venv", str(ROOT / ".venv")))
    (root / "pulumi-state").mkdir()
    # The venv first: the language host finds the project's Python only through PATH.
    path = f"{ROOT / '.venv' / 'bin'}:{engine()}:{os.environ['PATH']}"
    base: dict[str, str | None] = {**os.environ, "PATH": path,
           "PULUMI_BACKEND_URL": f"file://{root / 'pulumi-state'}",
           "PULUMI_CONFIG_PASSPHRASE": "e2e", "PULUMI_HOME": str(root / "pulumi-home"),
           "PULUMI_SKIP_UPDATE_CHECK": "true", **(env or {})}

    def pulumi(*args: str, check: bool = True,
               env: dict[str, str | None] | None = None) -> subprocess.CompletedProcess[str]:
        """Run pulumi; `env` changes the environment for this call (None removes a key). An
        `up` skips its own preview, which would run the program and every check once more:
        a test previews where the preview is what it tests."""
        if args[:1] == ("up",) and "--skip-preview" not in args:
            args = (*args, "--skip-preview")
        changed = {**base, **(env or {})}
        result = subprocess.run(["pulumi", *args, "--non-interactive"], cwd=project,
                                env={k: v for k, v in changed.items() if v is not None},
                                capture_output=True, text=True, timeout=600)
        if check and result.returncode != 0:
            raise AssertionError(f"pulumi {' '.join(args)}:\n{result.stdout}{result.stderr}")
        return result

    # for a program that runs pulumi on this stack itself (tcra actions)
    pulumi.project = project  # type: ignore[attr-defined]
    pulumi.env = {k: v for k, v in base.items() if v is not None}  # type: ignore[attr-defined]
    pulumi("stack", "init", "lab")
    for key, value in config.items():
        pulumi("config", "set", "--path", key, value)
    try:
        yield pulumi
    finally:
        pulumi("destroy", "--yes", check=False)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    root = tmp_path_factory.mktemp("pim-stack")
    with running_lab(root, "citeste2e", nodes=2) as spec, pulumi_project(
            root, "pim-lab", {"inventory": str(spec.inventory), "site": "lab_factory",
                              "count": "1"}) as run:
        yield run


def state_of(name: str) -> bool:
    conn = libvirt.open("qemu:///system")
    try:
        return bool(conn.lookupByName(name).isActive())
    finally:
        conn.close()


# Tests run in random order: each one first brings the stack to the state it starts from.


def test_preview_up_and_a_second_up_changes_nothing(stack):
    stack("destroy", "--yes")
    assert "+ 4 to create" in stack("preview").stdout  # the stack, its owner, the pool, a host
    stack("up", "--yes")
    hosts = json.loads(stack("stack", "output", "hosts", "--json").stdout)
    assert hosts == ["tcra-citeste2e-node-0"]
    assert state_of(hosts[0])
    stack("preview", "--expect-no-changes")


def test_refresh_shows_a_host_powered_off_by_hand_and_up_repairs_it(stack):
    stack("up", "--yes")
    conn = libvirt.open("qemu:///system")
    try:
        conn.lookupByName("tcra-citeste2e-node-0").destroy()
    finally:
        conn.close()
    refreshed = stack("refresh", "--yes").stdout
    assert "~ 1 updated" in refreshed
    assert stack("preview", "--expect-no-changes", check=False).returncode != 0
    stack("up", "--yes")
    assert state_of("tcra-citeste2e-node-0")
    stack("preview", "--expect-no-changes")


def test_state_holds_the_password_only_encrypted(stack):
    stack("up", "--yes")
    exported = json.loads(stack("stack", "export").stdout)
    hosts = [r for r in exported["deployment"]["resources"]
             if r["type"].endswith("tcra:PhysicalHost")]
    assert hosts and all("ciphertext" in r["outputs"]["password"] for r in hosts)


def test_destroy_releases_the_host(stack):
    stack("up", "--yes")
    assert state_of("tcra-citeste2e-node-0")
    stack("destroy", "--yes")
    assert not state_of("tcra-citeste2e-node-0")
