"""The lab's 2 MiB hugepages: reserved for VMs that ask for them, given back on `down`.

libvirt backs guest memory with hugepages through a hugetlbfs mount it finds at start, so the
lab reserves and mounts before it starts libvirtd.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from pydantic import ValidationError

from tcra.lab.processes import LabError, run
from tcra.lab.spec import STATE_FILE, Hugepages, HugetlbfsMount

NR_HUGEPAGES = Path("/proc/sys/vm/nr_hugepages")
MOUNT_POINT = Path("/dev/hugepages")
RECORD = Path("/run/tcra/hugetlbfs.json")
"""Which labs use the mount a lab made; read and written under the machine's lab lock."""


def reserve(count: int, current: Hugepages | None, holder: Path) -> Hugepages:
    """Add `count` pages to the machine's; a re-run adjusts by the difference only. The lab in
    state folder `holder` joins the labs that use the lab-made mount (making it if none is)."""
    holder = holder.resolve()
    before = _pages()
    total = before - (current.count if current else 0) + count
    _set_pages(total)
    if (got := _pages()) < total:
        _set_pages(before)
        raise LabError(f"the kernel reserved {got} of {total} hugepages of 2 MiB; free memory"
                       f" or ask for fewer (--hugepages)")
    record = _record()
    if hugetlbfs_mount() is None:
        record = HugetlbfsMount(created_mount_point=not MOUNT_POINT.exists())
        MOUNT_POINT.mkdir(parents=True, exist_ok=True)
        run(["mount", "-t", "hugetlbfs", "hugetlbfs", str(MOUNT_POINT)])
    if record is not None and holder not in record.holders:
        _save(record.model_copy(update={"holders": (*record.holders, holder)}))
    return Hugepages(count=count, total=total)


def release(state: Hugepages, holder: Path) -> list[str]:
    """Take back the lab's pages; unmount the lab-made mount when no other lab is up to use it
    (a lab whose state is gone is not). One note per thing left in place."""
    holder = holder.resolve()
    notes = []
    record = _record()
    if record is None:
        if (mount := hugetlbfs_mount()) is not None:
            notes.append(f"left hugetlbfs mounted at {mount}: the lab found it mounted")
    elif others := tuple(h for h in record.holders
                         if h != holder and (h / STATE_FILE).exists()):
        _save(record.model_copy(update={"holders": others}))
    else:
        try:
            run(["umount", str(MOUNT_POINT)])
        except LabError as exc:
            notes.append(f"left hugetlbfs mounted at {MOUNT_POINT}: {exc}")
        else:
            if record.created_mount_point:
                with contextlib.suppress(OSError):
                    MOUNT_POINT.rmdir()
            RECORD.unlink(missing_ok=True)
    wanted = max(_pages() - state.count, 0)
    _set_pages(wanted)
    if (kept := _pages()) > wanted:  # the kernel keeps pages that are in use
        notes.append(f"left {kept - wanted} of the lab's hugepages reserved: still in use")
    return notes


def _record() -> HugetlbfsMount | None:
    """The lab-made mount, None when no lab made the one there (or none is there)."""
    try:
        record = HugetlbfsMount.model_validate_json(RECORD.read_bytes())
    except (OSError, ValidationError):
        return None
    if MOUNT_POINT not in _mounts():
        RECORD.unlink(missing_ok=True)  # unmounted from outside: nothing left to hand over
        return None
    return record


def _save(record: HugetlbfsMount) -> None:
    RECORD.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
    RECORD.write_text(record.model_dump_json())


def _pages() -> int:
    return int(NR_HUGEPAGES.read_text())


def _set_pages(count: int) -> None:
    NR_HUGEPAGES.write_text(f"{count}\n")


def hugetlbfs_mount() -> Path | None:
    return next(iter(_mounts()), None)


def _mounts() -> list[Path]:
    fields = (line.split() for line in Path("/proc/mounts").read_text().splitlines())
    return [Path(f[1]) for f in fields if len(f) > 2 and f[2] == "hugetlbfs"]
