"""One lab command at a time on a machine: `up` and `down` of any lab hold one lock.

The lock is machine-wide, not per lab, because every step of `up` and `down` touches what all
labs share: the kernel's hugepage count (read, then written), the hugetlbfs mount, the libvirtd
one lab starts and another's `down` may stop, and libvirt's lists of domains, pools and
networks. A lab command takes seconds, so serialising them costs little. flock() is released by
the kernel when its holder dies, so a killed `up` never leaves the lock behind.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from pydantic import ValidationError

from tcra.lab.processes import LabError
from tcra.model.base import Model

LOCK_FILE = Path("/run/tcra/lab.lock")
POLL = 0.2


class Holder(Model):
    """Who holds the lock, written into the lock file so a waiting command can name it."""

    pid: int
    action: str
    lab: str


@contextlib.contextmanager
def held(lab: str, action: str, wait: float, report: Callable[[str], None],
         path: Path = LOCK_FILE) -> Iterator[None]:
    """Hold the machine's lab lock, waiting up to `wait` seconds for another command to end."""
    path.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        _acquire(fd, lab, wait, report, path)
        os.ftruncate(fd, 0)
        os.pwrite(fd, Holder(pid=os.getpid(), action=action, lab=lab).model_dump_json().encode(),
                  0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
    finally:
        os.close(fd)  # closing the last descriptor releases the lock


def holder(path: Path = LOCK_FILE) -> Holder | None:
    try:
        return Holder.model_validate_json(path.read_bytes())
    except (OSError, ValidationError):
        return None  # no lock file, or its holder has not written itself yet


def _acquire(fd: int, lab: str, wait: float, report: Callable[[str], None], path: Path) -> None:
    deadline = time.monotonic() + wait
    announced = False
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            pass
        other = holder(path)
        if time.monotonic() >= deadline:
            raise LabError(f"lab {lab}: another lab command is running ({_name(other)});"
                           f" waited {wait:.0f}s for {path} (--wait)")
        if not announced and other is not None:
            report(f"waiting up to {wait:.0f}s for {_name(other)}")
            announced = True
        time.sleep(POLL)


def _name(other: Holder | None) -> str:
    if other is None:
        return "holder unknown"
    return f"`lab {other.action}` of lab {other.lab}, pid {other.pid}"
