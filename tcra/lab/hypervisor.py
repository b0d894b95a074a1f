"""The lab's libvirtd: reuse one that answers, otherwise start one and later stop it again."""

from __future__ import annotations

import shutil
import socket
import struct
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import libvirt
from pydantic import ValidationError

from tcra.lab.processes import LabError, alive, log_tail, start, stop, wait_until
from tcra.lab.spec import LabHypervisor, LabSpec, Process
from tcra.vip.libvirt_host import find, quiet

# What a privileged libvirtd creates on first start; removed again by `down` when absent before.
LIBVIRT_PATHS = tuple(Path(p) for p in (
    "/var/log/libvirt", "/var/run/libvirt", "/var/lib/libvirt", "/var/cache/libvirt",
    "/etc/libvirt/qemu", "/etc/libvirt/nwfilter", "/etc/libvirt/secrets", "/etc/libvirt/storage",
))
START_TIMEOUT = 20.0
RECORD = Path("/run/tcra/libvirtd.json")
"""The libvirtd (and virtlogd) a lab started on this machine, read and written under the lab
lock: the lab that started it may go down while another lab's domains still use it."""
SOCKET = Path("/run/libvirt/libvirt-sock")  # where a system libvirtd listens
T = TypeVar("T")


def connect(uri: str) -> libvirt.virConnect:
    """Open libvirt, turning its error into one that names the URI."""
    quiet()
    try:
        return libvirt.open(uri)
    except libvirt.libvirtError as exc:
        raise LabError(f"libvirt at {uri}: {_cause(exc)}") from exc


@contextmanager
def session(uri: str) -> Iterator[libvirt.virConnect]:
    """A connection for one lab step, always closed; a libvirt error becomes one LabError line."""
    conn = connect(uri)
    try:
        yield conn
    except libvirt.libvirtError as exc:
        raise LabError(f"libvirt at {uri}: {_cause(exc)}") from exc
    finally:
        conn.close()


def lookup(what: str, call: Callable[[], T]) -> T | None:
    """What a libvirt lookup returns, None only when libvirt says `what` does not exist: any
    other error (libvirtd gone, access denied) is raised, naming `what`, never read as absent."""
    try:
        return find(call)
    except libvirt.libvirtError as exc:
        raise LabError(f"{what}: libvirt: {_cause(exc)}") from exc


def _cause(exc: libvirt.libvirtError) -> str:
    return exc.get_error_message() or str(exc)


def answers(uri: str) -> bool:
    try:
        connect(uri).close()
    except LabError:
        return False
    return True


def ensure(spec: LabSpec, current: LabHypervisor | None) -> LabHypervisor:
    """A libvirtd answering at spec.libvirt_uri; start our own only when none does."""
    if current and current.started and all(alive(p) for p in current.started):
        return current
    if answers(spec.libvirt_uri):
        return current or LabHypervisor(uri=spec.libvirt_uri)
    if spec.libvirt_uri != "qemu:///system":
        raise LabError(f"libvirt at {spec.libvirt_uri} does not answer; the lab starts a daemon"
                       " only for qemu:///system")
    for program in ("libvirtd", "virtlogd"):
        if shutil.which(program) is None:
            raise LabError(f"{program} is not installed; run `make setup` (see README)")
    # Paths a previous, since vanished, lab daemon created are still ours to remove.
    earlier = current.created_paths if current else ()
    created = earlier + tuple(p for p in LIBVIRT_PATHS if not p.exists() and p not in earlier)
    Path("/var/log/libvirt").mkdir(parents=True, exist_ok=True)
    run = spec.state_dir / "libvirt"
    virtlogd, libvirtd = start_daemons(run)
    hypervisor = LabHypervisor(uri=spec.libvirt_uri, started=(virtlogd, libvirtd),
                               created_paths=created)
    RECORD.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
    RECORD.write_text(hypervisor.model_dump_json())
    if not wait_until(lambda: answers(spec.libvirt_uri) or not alive(libvirtd), START_TIMEOUT):
        release(hypervisor)
        raise LabError(f"libvirtd did not answer within {START_TIMEOUT:.0f}s:\n"
                       f"{log_tail(run / 'libvirtd.log')}")
    if not alive(libvirtd):
        release(hypervisor)
        raise LabError(f"libvirtd exited at start:\n{log_tail(run / 'libvirtd.log')}")
    return hypervisor


def start_daemons(run: Path) -> tuple[Process, Process]:
    """virtlogd and libvirtd with their configuration, logs and pid files in `run`."""
    run.mkdir(parents=True, exist_ok=True)
    (run / "virtlogd.conf").write_text(f'log_outputs = "3:file:{run / "virtlogd.log"}"\n')
    (run / "libvirtd.conf").write_text(f'log_outputs = "3:file:{run / "libvirtd.log"}"\n')
    virtlogd = start(["virtlogd", "-f", str(run / "virtlogd.conf"),
                      "-p", str(run / "virtlogd.pid")], run / "virtlogd.out")
    libvirtd = start(["libvirtd", "--config", str(run / "libvirtd.conf"),
                      "--pid-file", str(run / "libvirtd.pid")], run / "libvirtd.out")
    return virtlogd, libvirtd


def release(hypervisor: LabHypervisor) -> str | None:
    """Stop the daemons a lab started (never one no lab started) and remove what they made, once
    no domain uses them: labs share one libvirtd, and the last lab down stops it, whichever lab
    started it (the machine's RECORD says which daemons a lab started).

    Returns why libvirtd was left running: the one answering is not a lab's (restarted from
    outside), or domains still use it.
    """
    if not hypervisor.started:
        recorded = _recorded()
        if recorded is None:
            return (f"left libvirtd running at {hypervisor.uri}: the lab found it running"
                    if answers(hypervisor.uri) else None)
        hypervisor = recorded
    answering = daemon_pid()
    if answering is not None and not any(p.pid == answering and alive(p)
                                         for p in hypervisor.started):
        for process in hypervisor.started:
            stop(process)  # only if it is still the process the lab started
        return (f"left libvirtd (pid {answering}) running at {hypervisor.uri}, and the libvirt"
                " folders it uses: the lab did not start it")
    if answering is not None and answers(hypervisor.uri):
        with session(hypervisor.uri) as conn:
            others = conn.listAllDomains()
        if others:
            return (f"left libvirtd running: it has domains the lab did not make"
                    f" ({', '.join(sorted(d.name() for d in others))})")
    for process in reversed(hypervisor.started):
        stop(process)
    for path in hypervisor.created_paths:
        shutil.rmtree(path, ignore_errors=True)
    RECORD.unlink(missing_ok=True)  # one lab-started libvirtd at a time: the one just stopped
    return None


def _recorded() -> LabHypervisor | None:
    """The daemons a lab started and a later lab may have to stop; None when none runs."""
    try:
        recorded = LabHypervisor.model_validate_json(RECORD.read_bytes())
    except (OSError, ValidationError):
        return None
    if not all(alive(p) for p in recorded.started):
        RECORD.unlink(missing_ok=True)  # stopped meanwhile: nothing left to hand over
        return None
    return recorded


def daemon_pid(path: Path = SOCKET) -> int | None:
    """The pid of the libvirtd listening on `path` (the kernel's SO_PEERCRED), None if none."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(2.0)
        try:
            probe.connect(str(path))
        except OSError:
            return None
        creds = probe.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    pid: int = struct.unpack("3i", creds)[0]
    return pid
