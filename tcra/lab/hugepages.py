"""The lab's 2 MiB hugepages: reserved for VMs that ask for them, given back on `down`.

libvirt backs guest memory with hugepages through a hugetlbfs mount it finds at start, so the
lab reserves and mounts before it starts libvirtd.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from tcra.lab.processes import LabError, run
from tcra.lab.spec import Hugepages

NR_HUGEPAGES = Path("/proc/sys/vm/nr_hugepages")
MOUNT_POINT = Path("/dev/hugepages")


def reserve(count: int, current: Hugepages | None) -> Hugepages:
    """Add `count` pages to the machine's; a re-run adjusts by the difference only."""
    before = _pages()
    total = before - (current.count if current else 0) + count
    _set_pages(total)
    if (got := _pages()) < total:
        _set_pages(before)
        raise LabError(f"the kernel reserved {got} of {total} hugepages of 2 MiB; free memory"
                       f" or ask for fewer (--hugepages)")
    mounted = current.mounted if current else False
    created = current.created_mount_point if current else False
    if hugetlbfs_mount() is None:
        created = not MOUNT_POINT.exists()
        MOUNT_POINT.mkdir(parents=True, exist_ok=True)
        run(["mount", "-t", "hugetlbfs", "hugetlbfs", str(MOUNT_POINT)])
        mounted = True
    return Hugepages(count=count, total=total, mounted=mounted, created_mount_point=created)


def release(state: Hugepages) -> list[str]:
    """Take back the lab's pages, unmount what it mounted; one note per thing left in place."""
    notes = []
    if state.mounted:
        try:
            run(["umount", str(MOUNT_POINT)])
        except LabError as exc:
            notes.append(f"left hugetlbfs mounted at {MOUNT_POINT}: {exc}")
        if state.created_mount_point:
            with contextlib.suppress(OSError):
                MOUNT_POINT.rmdir()
    elif (mount := hugetlbfs_mount()) is not None:
        notes.append(f"left hugetlbfs mounted at {mount}: the lab found it mounted")
    wanted = max(_pages() - state.count, 0)
    _set_pages(wanted)
    if (kept := _pages()) > wanted:  # the kernel keeps pages that are in use
        notes.append(f"left {kept - wanted} of the lab's hugepages reserved: still in use")
    return notes


def _pages() -> int:
    return int(NR_HUGEPAGES.read_text())


def _set_pages(count: int) -> None:
    NR_HUGEPAGES.write_text(f"{count}\n")


def hugetlbfs_mount() -> Path | None:
    for line in Path("/proc/mounts").read_text().splitlines():
        fields = line.split()
        if len(fields) > 2 and fields[2] == "hugetlbfs":
            return Path(fields[1])
    return None
