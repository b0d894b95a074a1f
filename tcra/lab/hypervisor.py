"""The lab's libvirtd: reuse one that answers, otherwise start one and later stop it again."""

from __future__ import annotations

import shutil
from pathlib import Path

import libvirt

from tcra.lab.processes import LabError, alive, log_tail, start, stop, wait_until
from tcra.lab.spec import Hypervisor, LabSpec

# What a privileged libvirtd creates on first start; removed again by `down` when absent before.
LIBVIRT_PATHS = tuple(Path(p) for p in (
    "/var/log/libvirt", "/var/run/libvirt", "/var/lib/libvirt", "/var/cache/libvirt",
    "/etc/libvirt/qemu", "/etc/libvirt/nwfilter", "/etc/libvirt/secrets", "/etc/libvirt/storage",
))
START_TIMEOUT = 20.0


def connect(uri: str) -> libvirt.virConnect:
    """Open libvirt, turning its error into one that names the URI."""
    libvirt.registerErrorHandler(lambda _ctx, _err: None, None)  # errors raise; do not print
    try:
        return libvirt.open(uri)
    except libvirt.libvirtError as exc:
        raise LabError(f"libvirt at {uri}: {exc.get_error_message()}") from exc


def answers(uri: str) -> bool:
    try:
        connect(uri).close()
    except LabError:
        return False
    return True


def ensure(spec: LabSpec, current: Hypervisor | None) -> Hypervisor:
    """A libvirtd answering at spec.libvirt_uri; start our own only when none does."""
    if current and current.started and all(alive(p) for p in current.started):
        return current
    if answers(spec.libvirt_uri):
        return current or Hypervisor(uri=spec.libvirt_uri)
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
    run.mkdir(parents=True, exist_ok=True)
    (run / "virtlogd.conf").write_text(f'log_outputs = "3:file:{run / "virtlogd.log"}"\n')
    (run / "libvirtd.conf").write_text(f'log_outputs = "3:file:{run / "libvirtd.log"}"\n')
    virtlogd = start(["virtlogd", "-f", str(run / "virtlogd.conf"),
                      "-p", str(run / "virtlogd.pid")], run / "virtlogd.out")
    libvirtd = start(["libvirtd", "--config", str(run / "libvirtd.conf"),
                      "--pid-file", str(run / "libvirtd.pid")], run / "libvirtd.out")
    hypervisor = Hypervisor(uri=spec.libvirt_uri, started=(virtlogd, libvirtd),
                            created_paths=created)
    if not wait_until(lambda: answers(spec.libvirt_uri) or not alive(libvirtd), START_TIMEOUT):
        release(hypervisor)
        raise LabError(f"libvirtd did not answer within {START_TIMEOUT:.0f}s:\n"
                       f"{log_tail(run / 'libvirtd.log')}")
    if not alive(libvirtd):
        release(hypervisor)
        raise LabError(f"libvirtd exited at start:\n{log_tail(run / 'libvirtd.log')}")
    return hypervisor


def release(hypervisor: Hypervisor) -> str | None:
    """Stop the daemons the lab started (never one it found running) and remove what they made.

    Returns why libvirtd was left running, when domains the lab did not make still use it.
    """
    if not hypervisor.started:
        return None
    if any(alive(p) for p in hypervisor.started) and answers(hypervisor.uri):
        with_domains = connect(hypervisor.uri)
        try:
            others = with_domains.listAllDomains()
        finally:
            with_domains.close()
        if others:
            return (f"left libvirtd running: it has domains the lab did not make"
                    f" ({', '.join(sorted(d.name() for d in others))})")
    for process in reversed(hypervisor.started):
        stop(process)
    for path in hypervisor.created_paths:
        shutil.rmtree(path, ignore_errors=True)
    return None
