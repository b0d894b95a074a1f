# -*- coding: utf-8 -*-
# Copyright: tcra developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    """The attributes every tcra.telco module shares: it runs on Linux, as a POSIX target."""

    DOCUMENTATION = r"""
options: {}
attributes:
  platform:
    description: Target platforms.
    support: full
    platforms: posix
"""
