#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: tcra developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: hugetlbfs_mount
short_description: Mount or unmount a hugetlbfs of one page size
version_added: 0.1.0
description:
  - Makes sure a hugetlbfs with the given page size is mounted at I(path) (creating the folder
    when missing), or that no hugetlbfs is mounted there.
  - Reads the mount table (C(/proc/mounts)), so it sees mounts made by anyone, and never
    replaces something else mounted at I(path), and fails instead, naming what is there.
  - Only the running mount is managed; for one that survives a reboot add an C(/etc/fstab)
    line (the C(tcra.telco.libvirt_host) role does).
author:
  - tcra developers (!UNKNOWN)
extends_documentation_fragment:
  - tcra.telco.attributes
attributes:
  check_mode:
    description: Reports whether it would mount or unmount, without doing it.
    support: full
  diff_mode:
    description: Shows the mount at I(path) before and after, as a C(/proc/mounts) line.
    support: full
options:
  path:
    description: The mount point, an absolute path.
    type: path
    required: true
  pagesize:
    description: The page size of the hugetlbfs (the kernel's default size if one of these).
    type: str
    choices: [2M, 1G]
    default: 2M
  state:
    description:
      - C(mounted) mounts a hugetlbfs of I(pagesize) at I(path) unless one is there.
      - C(unmounted) unmounts the hugetlbfs at I(path) if there is one; the folder stays.
    type: str
    choices: [mounted, unmounted]
    default: mounted
notes:
  - Needs root (CAP_SYS_ADMIN) to mount, and the page size reserved or reservable
    (see M(tcra.telco.sysfs_value)).
"""

EXAMPLES = r"""
- name: Give libvirt a hugetlbfs of 1 GiB pages
  tcra.telco.hugetlbfs_mount:
    path: /dev/hugepages1G
    pagesize: 1G
"""

RETURN = r"""
mount:
  description: The C(/proc/mounts) line of what is mounted at I(path) after the run; empty for none.
  returned: always
  type: str
  sample: hugetlbfs /dev/hugepages hugetlbfs rw,relatime,pagesize=2M 0 0
created_dir:
  description: Whether the module created the mount point folder.
  returned: always
  type: bool
"""

import os

from ansible.module_utils.basic import AnsibleModule

MOUNTS = "/proc/mounts"
UNITS = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}


def unescape(field):
    """Undo the octal escapes the kernel puts in mount table paths (space is \\040)."""
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and field[i + 1:i + 4].isdigit():
            out.append(chr(int(field[i + 1:i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def size_bytes(text):
    """'2M' or '1024M' (the kernel's form) or '1G' in bytes; None when not a size."""
    text = text.strip().upper()
    if text[-1:] in UNITS and text[:-1].isdigit():
        return int(text[:-1]) * UNITS[text[-1]]
    return None


def mounted_at(path):
    """The last /proc/mounts entry at path (the one in effect) as (line, fstype, options)."""
    found = ("", "", "")
    with open(MOUNTS) as table:
        for line in table:
            fields = line.split()
            if len(fields) >= 4 and unescape(fields[1]) == path:
                found = (line.strip(), fields[2], fields[3].split(","))
    return found


def pagesize_of(options):
    for option in options:
        if option.startswith("pagesize="):
            return size_bytes(option.split("=", 1)[1])
    return None


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", required=True),
            pagesize=dict(type="str", choices=["2M", "1G"], default="2M"),
            state=dict(type="str", choices=["mounted", "unmounted"], default="mounted"),
        ),
        supports_check_mode=True,
    )
    path = os.path.normpath(module.params["path"])
    if not os.path.isabs(path):
        module.fail_json(msg="path must be absolute, got %s" % path)
    pagesize = module.params["pagesize"]
    before, fstype, options = mounted_at(path)
    after, changed, created = before, False, False

    if module.params["state"] == "mounted":
        if before and (fstype != "hugetlbfs" or pagesize_of(options) != size_bytes(pagesize)):
            module.fail_json(msg="%s already has a mount that is not a hugetlbfs of %s pages: %s"
                             % (path, pagesize, before))
        if not before:
            changed = True
            after = "hugetlbfs %s hugetlbfs pagesize=%s" % (path, pagesize)
            if not module.check_mode:
                if not os.path.isdir(path):
                    os.makedirs(path, 0o755)
                    created = True
                module.run_command(["mount", "-t", "hugetlbfs", "-o", "pagesize=" + pagesize,
                                    "hugetlbfs", path], check_rc=True)
                after = mounted_at(path)[0]
    elif before and fstype == "hugetlbfs":
        changed = True
        after = ""
        if not module.check_mode:
            module.run_command(["umount", path], check_rc=True)
            after = mounted_at(path)[0]

    result = dict(changed=changed, mount=after, created_dir=created)
    if module._diff:
        result["diff"] = dict(before=before + "\n" if before else "",
                              after=after + "\n" if after else "")
    module.exit_json(**result)


if __name__ == "__main__":
    main()
