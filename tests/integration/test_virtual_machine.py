"""VirtualMachine against the lab's libvirtd: pinning and hugepages in the live domain, drift,
a crash between define and start, in-place changes, refusal of a foreign domain and of one
another stack owns, and a delete that leaves nothing behind."""

import base64
import subprocess
import sys
import textwrap
from pathlib import Path

import dill
import libvirt
import pytest
from pulumi.dynamic.dynamic import serialize_provider
from tcra.providers.virtual_machine import VirtualMachineProvider

from tcra.lab import vip
from tcra.lab.nodes import pool_name
from tcra.ownership import OwnedElsewhereError, owner_text
from tcra.vip.libvirt_host import VipError
from tests.integration.conftest import needs_lab, running_lab

pytestmark = [pytest.mark.lab, pytest.mark.alone, needs_lab]
URI = "qemu:///system"
OWNER = owner_text("tests", "lab", "vm", "0" * 32)
OTHER_OWNER = owner_text("tests", "lab", "vm", "1" * 32)  # same names, another stack


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    with running_lab(tmp_path_factory.mktemp("vip"), "citvm", nodes=1) as spec:
        yield spec


def props(lab, name: str, **changes) -> dict:
    wanted = {
        "name": name, "uri": URI, "vcpus": 2, "memory": "64Mi", "hugepages": "2Mi",
        "pinning": {"cpus": [1, 0], "emulator_cpus": [0]},
        "disks": [{"pool": pool_name(lab), "size": "32Mi",
                   "base_image": vip.base_image_name(lab)}],
        "interfaces": [{"network": vip.network_name(lab)}],
        "cloud_init": {"user_data": "#cloud-config\nruncmd: [true]\n",
                       "ssh_authorized_keys": ["ssh-ed25519 AAAAC3Nza test@tcra"]},
        "shutdown_timeout": 1,
        "owner": OWNER,
    }
    return {**wanted, **changes}


def hugepages_free() -> int:
    return int(Path("/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages").read_text())


def domain_names() -> set[str]:
    conn = libvirt.open(URI)
    try:
        return {d.name() for d in conn.listAllDomains()}
    finally:
        conn.close()


def volume_names(lab) -> set[str]:
    conn = libvirt.open(URI)
    try:
        return {v.name() for v in conn.storagePoolLookupByName(pool_name(lab)).listAllVolumes()}
    finally:
        conn.close()


def live_xml(name: str) -> str:
    conn = libvirt.open(URI)
    try:
        return conn.lookupByName(name).XMLDesc(0)
    finally:
        conn.close()


def test_lifecycle_pinning_and_hugepages_are_live_and_delete_leaves_nothing(lab, tmp_path):
    # the provider as the engine runs it: pickled, then loaded in another process's shape
    provider = dill.loads(base64.b64decode(serialize_provider(VirtualMachineProvider())))
    wanted = props(lab, "citvm-life")
    assert provider.check({}, wanted).failures == []
    free = hugepages_free()
    created = provider.create(wanted)
    try:
        observe_the_live_vm(created, free, tmp_path)
        assert provider.diff(created.id, created.outs, wanted).changes is False
    finally:
        provider.delete(created.id, created.outs)
    assert "citvm-life" not in domain_names()
    assert volume_names(lab) == {vip.base_image_name(lab)}
    assert hugepages_free() == free
    provider.delete(created.id, created.outs)  # already gone is fine
    assert provider.read(created.id, created.outs).id == ""


def observe_the_live_vm(created, free: int, tmp_path: Path) -> None:
    assert created.outs["state"] == "running"
    xml = live_xml("citvm-life")
    assert "<vcpupin vcpu='0' cpuset='1'/>" in xml and "<emulatorpin cpuset='0'/>" in xml
    assert "<page size='2048' unit='KiB'/>" in xml
    assert free - hugepages_free() == 32  # 64 MiB of guest memory on 2 MiB pages
    assert created.outs["live"]["vcpu_pins"] == {"0": "1", "1": "0"}

    root, seed_path = created.outs["volumes"]
    assert Path(root).read_bytes().startswith(vip.BASE_MARKER)  # cloned from the base image
    assert Path(root).stat().st_size == 32 * 1024 * 1024
    label = subprocess.run(["blkid", "-o", "value", "-s", "LABEL", seed_path],
                           capture_output=True, text=True, check=True).stdout.strip()
    assert label == "cidata"
    seed = tmp_path / "seed"  # read by libarchive, as a guest's Rock Ridge reader names it
    seed.mkdir()
    subprocess.run(["bsdtar", "-xf", seed_path, "-C", str(seed)], check=True, timeout=30)
    assert sorted(p.name for p in seed.iterdir()) == ["meta-data", "user-data"]
    assert "local-hostname: citvm-life" in (seed / "meta-data").read_text()
    assert (seed / "user-data").read_text() == "#cloud-config\nruncmd: [true]\n"


def test_drift_by_hand_is_read_and_repaired(lab):
    provider = VirtualMachineProvider()
    wanted = props(lab, "citvm-drift")
    created = provider.create(wanted)
    try:
        conn = libvirt.open(URI)
        try:
            conn.lookupByName("citvm-drift").destroy()
        finally:
            conn.close()
        read = provider.read(created.id, created.outs)
        assert read.outs["state"] == "shut off"
        diff = provider.diff(created.id, read.outs, wanted)
        assert diff.changes is True and diff.replaces == []
        repaired = provider.update(created.id, read.outs, wanted)
        assert repaired.outs["state"] == "running"
        assert repaired.outs["uuid"] == created.id
    finally:
        provider.delete(created.id, created.outs)


def test_in_place_changes_and_replacements_are_told_apart(lab):
    provider = VirtualMachineProvider()
    wanted = props(lab, "citvm-grow", vcpus=1, max_vcpus=2, memory="32Mi",
                   max_memory="64Mi", pinning={"cpus": [1, 0]})
    created = provider.create(wanted)
    try:
        grown = {**wanted, "vcpus": 2, "memory": "64Mi", "running": False}
        diff = provider.diff(created.id, created.outs, grown)
        assert diff.changes is True and diff.replaces == []
        updated = provider.update(created.id, created.outs, grown)
        assert updated.outs["state"] == "shut off"
        assert (updated.outs["live"]["vcpus"], updated.outs["live"]["memory_kib"]) == (2, 65536)
        assert updated.outs["uuid"] == created.id
        beyond = {**grown, "vcpus": 3, "max_vcpus": 3, "pinning": {"cpus": [0, 1, 1]}}
        replaced = provider.diff(created.id, updated.outs, beyond)
        assert replaced.replaces == ["max_vcpus", "pinning", "vcpus"]
        assert replaced.delete_before_replace  # the new domain would take the old one's name
        moved = provider.diff(created.id, updated.outs, {**grown, "uri": "qemu+ssh://far/system"})
        assert moved.replaces == ["uri"] and not moved.delete_before_replace  # made there first
    finally:
        provider.delete(created.id, created.outs)


CRASH = textwrap.dedent("""
    import json, os, signal, sys
    import libvirt
    from tcra.providers.virtual_machine import VirtualMachineProvider
    # the process dies where define has happened and start has not
    libvirt.virDomain.create = lambda self: os.kill(os.getpid(), signal.SIGKILL)
    VirtualMachineProvider().create(json.loads(sys.argv[1]))
""")


def test_a_crash_between_define_and_start_is_adopted_by_the_next_create(lab):
    import json

    wanted = props(lab, "citvm-crash")
    crashed = subprocess.run([sys.executable, "-c", CRASH, json.dumps(wanted)],
                             capture_output=True, text=True, timeout=120)
    assert crashed.returncode == -9
    conn = libvirt.open(URI)
    try:
        left = conn.lookupByName("citvm-crash")
        assert not left.isActive()
        uuid = left.UUIDString()
    finally:
        conn.close()
    provider = VirtualMachineProvider()
    created = provider.create(wanted)
    try:
        assert (created.id, created.outs["state"]) == (uuid, "running")
    finally:
        provider.delete(created.id, created.outs)
    assert "citvm-crash" not in domain_names()
    assert volume_names(lab) == {vip.base_image_name(lab)}


def test_a_foreign_domain_of_the_same_name_is_refused_and_left_alone(lab):
    conn = libvirt.open(URI)
    try:
        foreign = conn.defineXML("<domain type='kvm'><name>citvm-foreign</name>"
                                 "<memory unit='MiB'>32</memory><os><type>hvm</type></os>"
                                 "</domain>")
        try:
            with pytest.raises(OwnedElsewhereError, match=r"domain citvm-foreign at"
                               r" qemu:///system was not made by tcra; it was left untouched"):
                VirtualMachineProvider().create(props(lab, "citvm-foreign"))
            assert conn.lookupByName("citvm-foreign").UUIDString() == foreign.UUIDString()
            assert volume_names(lab) == {vip.base_image_name(lab)}
        finally:
            foreign.undefine()
    finally:
        conn.close()


def test_check_asks_the_host_and_names_each_problem(lab):
    bad = props(lab, "citvm-bad", pinning={"cpus": [0, 64]}, hugepages="1Gi", memory="1Gi",
                interfaces=[{"network": "no-such-net"}],
                disks=[{"pool": "no-such-pool", "size": "1Gi"}])
    failures = {f.property: f.reason for f in VirtualMachineProvider().check({}, bad).failures}
    assert failures.keys() == {"pinning", "hugepages", "interfaces.0.network", "disks.0.pool"}
    assert "the host has online CPUs 0,1 (got [64])" in failures["pinning"]
    assert "the host has no 1Gi hugepages reserved" in failures["hugepages"]
    assert "expected a network of the host" in failures["interfaces.0.network"]
    assert "expected a storage pool of the host" in failures["disks.0.pool"]
    too_much = props(lab, "citvm-big", memory="4Gi")
    [failure] = VirtualMachineProvider().check({}, too_much).failures
    assert failure.property == "memory" and "needs 2048 free 2Mi hugepages" in failure.reason
    assert "citvm-bad" not in domain_names()


def test_a_failed_start_takes_back_what_create_made(lab):
    wanted = props(lab, "citvm-nobridge", interfaces=[{"bridge": "tcranobr0"}])
    with pytest.raises(VipError, match=r"VM citvm-nobridge: libvirt qemu:///system: .*tcranobr0"):
        VirtualMachineProvider().create(wanted)
    assert "citvm-nobridge" not in domain_names()
    assert volume_names(lab) == {vip.base_image_name(lab)}


def test_a_domain_another_stack_owns_is_refused_never_adopted_and_never_deleted(lab):
    provider = VirtualMachineProvider()
    mine = provider.create(props(lab, "citvm-owned"))
    try:
        theirs = props(lab, "citvm-owned", owner=OTHER_OWNER)  # same program, other backend
        with pytest.raises(OwnedElsewhereError, match=rf"domain citvm-owned at qemu:///system"
                           rf" belongs to {OWNER}; it was left untouched"):
            provider.create(theirs)
        # its refresh sees nothing of its own, and its destroy removes nothing of ours
        assert provider.read(mine.id, {**mine.outs, "owner": OTHER_OWNER}).id == ""
        provider.delete(mine.id, {**mine.outs, "owner": OTHER_OWNER})
        assert provider.read(mine.id, mine.outs).outs["state"] == "running"
        assert len(volume_names(lab)) > 1  # our disk and seed are still there
    finally:
        provider.delete(mine.id, mine.outs)
    assert "citvm-owned" not in domain_names()
    assert volume_names(lab) == {vip.base_image_name(lab)}


def test_check_names_a_missing_or_malformed_owner(lab):
    for owner, reason in ((None, "missing; this field is required"),
                          ("someone", "expected <project>/<stack>/<resource>@<stack identity")):
        wanted = props(lab, "citvm-noowner")
        if owner is None:
            del wanted["owner"]
        else:
            wanted["owner"] = owner
        [failure] = VirtualMachineProvider().check({}, wanted).failures
        assert failure.property == "owner" and reason in failure.reason
