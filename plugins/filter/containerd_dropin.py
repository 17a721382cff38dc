# -*- coding: utf-8 -*-
# Copyright: contributors to hyperpod.eks_lifecycle
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
name: containerd_dropin
short_description: The containerd drop-in that applies a list of settings
version_added: 1.1.0
description:
  - Turns settings (each C(table), the list of keys above it, C(key) and C(value)) into the data of
    a containerd drop-in in config schema O(schema), for the C(to_toml) filter.
  - containerd before 2.1 replaces a whole plugin section from an imported file, so with
    O(merges_plugin_sections=false) every plugin section a setting touches carries O(base)'s
    section (the config the drop-in is imported over) with the setting applied.
options:
  _input:
    description: The settings.
    type: list
    elements: dict
    required: true
  schema:
    description: The config schema (the C(version) key), 2 for containerd 1.x, 3 for 2.x.
    type: int
    required: true
  base:
    description: The effective configuration the drop-in is imported over.
    type: dict
    default: {}
  merges_plugin_sections:
    description: Whether this containerd deep-merges imported plugin sections (2.1 and later).
    type: bool
    default: true
author:
  - hyperpod.eks_lifecycle contributors (@hyperpod)
seealso:
  - plugin: hyperpod.eks_lifecycle.to_toml
    plugin_type: filter
'''

EXAMPLES = r'''
- name: Render the drop-in that sets containerd's root
  ansible.builtin.set_fact:
    dropin: "{{ [{'table': [], 'key': 'root', 'value': '/opt/sagemaker/containerd/data-root'}]
                | hyperpod.eks_lifecycle.containerd_dropin(schema=3) | hyperpod.eks_lifecycle.to_toml }}"
'''

RETURN = r'''
_value:
  description: The drop-in's data, C(version) first.
  type: dict
'''

from ansible.errors import AnsibleFilterError

from ansible_collections.hyperpod.eks_lifecycle.plugins.module_utils.containerd_settings import dropin


def containerd_dropin(settings, schema, base=None, merges_plugin_sections=True):
    try:
        return dropin(list(settings), int(schema), base or {}, bool(merges_plugin_sections))
    except (KeyError, TypeError, ValueError) as exc:
        raise AnsibleFilterError('containerd_dropin: %s' % exc)


class FilterModule(object):
    def filters(self):
        return {'containerd_dropin': containerd_dropin}
