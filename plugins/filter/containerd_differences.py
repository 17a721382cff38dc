# -*- coding: utf-8 -*-
# Copyright: contributors to hyperpod.eks_lifecycle
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
name: containerd_differences
short_description: How an effective containerd configuration differs from what a change asked for
version_added: 1.1.0
description:
  - Compares an effective configuration (the parsed C(containerd config dump)) with O(before) (the
    effective configuration before a change) with O(settings) applied, and returns one line per
    difference; an empty list when every setting has its value (of the same kind, so a boolean is
    not the string C("true")) and every other value of O(before) is unchanged.
  - The same check the C(containerd_config_info) module's C(expect) option makes, for a config
    that was read already.
options:
  _input:
    description: The effective configuration.
    type: dict
    required: true
  settings:
    description: The settings, each C(table), C(key) and C(value).
    type: list
    elements: dict
    required: true
  before:
    description: The effective configuration before the change.
    type: dict
    default: {}
author:
  - hyperpod.eks_lifecycle contributors (@hyperpod)
seealso:
  - module: hyperpod.eks_lifecycle.containerd_config_info
'''

EXAMPLES = r'''
- name: Check that containerd's root is the data root
  ansible.builtin.assert:
    that:
      - info.config | hyperpod.eks_lifecycle.containerd_differences(settings) | length == 0
  vars:
    settings: [{table: [], key: root, value: /opt/sagemaker/containerd/data-root}]
'''

RETURN = r'''
_value:
  description: The differences, one line each.
  type: list
  elements: str
'''

from ansible.errors import AnsibleFilterError

from ansible_collections.hyperpod.eks_lifecycle.plugins.module_utils.containerd_settings import differences


def containerd_differences(config, settings, before=None):
    try:
        return differences(config or {}, list(settings), before or {})
    except (KeyError, TypeError) as exc:
        raise AnsibleFilterError('containerd_differences: %s' % exc)


class FilterModule(object):
    def filters(self):
        return {'containerd_differences': containerd_differences}
