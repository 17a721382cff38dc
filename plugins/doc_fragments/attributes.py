# -*- coding: utf-8 -*-
# Copyright: contributors to hyperpod.eks_lifecycle
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type


class ModuleDocFragment(object):
    """Attributes the collection's modules share (with ansible.builtin.action_common_attributes)."""

    # A module that only reads the node.
    READ_ONLY = r'''
options: {}
attributes:
  check_mode:
    support: full
    details: The module never changes anything, so it runs normally in check mode.
  diff_mode:
    support: none
'''
