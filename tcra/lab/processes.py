"""Start and stop the lab's daemons, and never signal a process that is not the one we started."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from tcra.errors import TcraError
from tcra.lab.spec import Process

EXEC_TIMEOUT = 5.0


class LabError(TcraError):
    """The lab could not be brought up or down."""


def start(argv: Sequence[str], log: Path, program: str | None = None,
          env: Mapping[str, str] | None = None) -> Process:
    """Run argv in its own session so it outlives the CLI, with output going to `log`.

    `program` is the word of the command line that identifies it (default: argv[0]); `env`
    adds variables to the environment it inherits.
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        child = subprocess.Popen(
            list(argv), stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True, env={**os.environ, **env} if env else None,
        )
    process = Process(pid=child.pid, program=program or argv[0])
    # Until exec completes the child still looks like us; wait so alive() can be trusted.
    wait_until(lambda: alive(process) or child.poll() is not None, EXEC_TIMEOUT, interval=0.01)
    return process


def start_ready(name: str, argv: Sequence[str], log: Path, ready: Callable[[], bool],
                timeout: float, what: str, interval: float = 0.25,
                env: Mapping[str, str] | None = None) -> Process:
    """start(), then wait until `ready()` (what: where readiness is asked, for the error); a
    program that exits or is not ready in time is stopped and its log's tail raised."""
    process = start(argv, log, program=argv[0], env=env)
    if not wait_until(lambda: ready() or not alive(process), timeout, interval=interval):
        stop(process)
        raise LabError(f"{name} was not ready at {what} within {timeout:.0f}s:\n{log_tail(log)}")
    if not alive(process):
        raise LabError(f"{name} exited at start:\n{log_tail(log)}")
    return process


def alive(process: Process) -> bool:
    """True while the pid runs the program we started (a recycled pid is not ours)."""
    proc = Path(f"/proc/{process.pid}")
    try:
        status = (proc / "status").read_text()
        cmdline = (proc / "cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    if "\nState:\tZ" in status:
        return False
    # A Python console script runs as "python /path/to/script": look at every word.
    return any(Path(os.fsdecode(word)).name == Path(process.program).name for word in cmdline)


def stop(process: Process, timeout: float = 10.0) -> None:
    """SIGTERM, then SIGKILL after `timeout`; a process already gone is fine."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if not alive(process):
            return
        os.kill(process.pid, sig)
        if wait_until(lambda: _reaped(process) or not alive(process), timeout):
            return
    raise LabError(f"process {process.pid} ({process.program}) did not stop")


def _reaped(process: Process) -> bool:
    """Collect the exit status when the process is our own child, so no zombie is left."""
    try:
        pid, _ = os.waitpid(process.pid, os.WNOHANG)
    except ChildProcessError:
        return False
    return pid == process.pid


def wait_until(condition: Callable[[], bool], timeout: float, interval: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def log_tail(log: Path, lines: int = 15) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


PORTS_FROM = 20000  # the lab's daemons' ports: from here to the ephemeral range
_HANDED_OUT: set[int] = set()


def run(command: list[str], timeout: float = 30.0) -> None:
    """Run a short system command; its error output becomes the LabError's message."""
    done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=timeout)
    if done.returncode != 0:
        raise LabError(f"{' '.join(command)}: {done.stderr.strip() or done.returncode}")


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now, for a daemon the lab is about to start: below the
    kernel's ephemeral range, so no outgoing connection takes it before the daemon binds it
    (one did: a manager's health port, tens of seconds after it was chosen), and never one
    this process handed out already."""
    first = max(_ephemeral_start(), PORTS_FROM + 1000)
    for _ in range(1000):
        port = secrets.randbelow(first - PORTS_FROM) + PORTS_FROM
        if port in _HANDED_OUT:
            continue
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        _HANDED_OUT.add(port)
        return port
    raise LabError(f"no free TCP port on 127.0.0.1 between {PORTS_FROM} and {first}")


def _ephemeral_start() -> int:
    """Where the kernel's ephemeral ports (outgoing connections' own) begin."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default
