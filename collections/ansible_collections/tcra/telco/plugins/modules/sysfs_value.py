#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: tcra developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: sysfs_value
short_description: Set one kernel attribute in sysfs or procfs, and read it back
version_added: 0.1.0
description:
  - Reads a kernel attribute file (like C(/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages)
    or C(/sys/class/net/ens1f0/device/sriov_numvfs)), writes I(value) only when the file holds
    something else, then reads it back.
  - Kernel attributes are not files to copy over; they take one write in place, and the kernel
    may keep less than it was asked for (fewer hugepages when memory is fragmented). The module
    fails when the value read back is not I(value), naming both, unless I(verify=false).
  - Values are compared as text with surrounding white space removed.
author:
  - tcra developers (!UNKNOWN)
extends_documentation_fragment:
  - tcra.telco.attributes
attributes:
  check_mode:
    description: Reads the attribute and reports whether it would write, without writing.
    support: full
  diff_mode:
    description: Shows the attribute's value before and after.
    support: full
options:
  path:
    description: The attribute file. It must exist; the module never creates one.
    type: path
    required: true
  value:
    description: The value the attribute must hold.
    type: str
    required: true
  reset_value:
    description:
      - Write this value first when the attribute holds neither it nor I(value).
      - C(sriov_numvfs) needs it (C(0)), as the kernel refuses to change one non-zero VF count
        into another.
    type: str
  verify:
    description:
      - Fail when the value read back after the write is not I(value).
      - With C(false) the module reports what the kernel kept in RV(value) and RV(matches).
    type: bool
    default: true
notes:
  - Needs the privileges the attribute asks for to be written (root for most).
"""

EXAMPLES = r"""
- name: Reserve 512 hugepages of 2 MiB
  tcra.telco.sysfs_value:
    path: /sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages
    value: "512"

- name: Give a physical function 8 virtual functions
  tcra.telco.sysfs_value:
    path: /sys/class/net/ens1f0/device/sriov_numvfs
    value: "8"
    reset_value: "0"
"""

RETURN = r"""
value:
  description: The attribute's value after the run (in check mode, the value it would hold).
  returned: always
  type: str
  sample: "512"
previous:
  description: The attribute's value before the run.
  returned: always
  type: str
  sample: "0"
matches:
  description: Whether RV(value) is the value asked for.
  returned: always
  type: bool
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native


def read(module, path):
    try:
        with open(path) as handle:
            return handle.read().strip()
    except (IOError, OSError) as exc:
        module.fail_json(msg="cannot read %s: %s" % (path, to_native(exc)))


def write(module, path, value):
    try:
        with open(path, "w") as handle:
            handle.write(value + "\n")
    except (IOError, OSError) as exc:
        module.fail_json(msg="the kernel refused %s in %s: %s" % (value, path, to_native(exc)),
                         previous=read(module, path))


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", required=True),
            value=dict(type="str", required=True),
            reset_value=dict(type="str"),
            verify=dict(type="bool", default=True),
        ),
        supports_check_mode=True,
    )
    path = module.params["path"]
    wanted = module.params["value"].strip()
    reset = module.params["reset_value"]
    if not os.path.isfile(path):
        module.fail_json(msg="%s does not exist (or is not an attribute file)" % path)

    previous = read(module, path)
    changed = previous != wanted
    after = previous
    if changed and module.check_mode:
        after = wanted
    elif changed:
        if reset is not None and previous != reset.strip():
            write(module, path, reset.strip())
        write(module, path, wanted)
        after = read(module, path)
        if after != wanted and module.params["verify"]:
            module.fail_json(msg="%s holds %s after writing %s (it held %s before)" % (
                path, after, wanted, previous), previous=previous, value=after)

    result = dict(changed=changed, value=after, previous=previous, matches=after == wanted)
    if module._diff:
        result["diff"] = dict(before_header=path, after_header=path,
                              before=previous + "\n", after=after + "\n")
    module.exit_json(**result)


if __name__ == "__main__":
    main()
