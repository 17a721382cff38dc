# -*- coding: utf-8 -*-
# Copyright: contributors to hyperpod.eks_lifecycle
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
name: containerd_files_to_write
short_description: The files of a set that differ from what is on the node
version_added: 1.1.0
description:
  - Of the wanted files (the C(files) of the C(containerd_config_files) module - C(path),
    C(content), C(state), C(mode)), returns those that the node does not have as wanted, judged by
    O(current) (what the C(containerd_config_info) module's C(read_files) returned, by path) - a
    file to be present whose content, mode or owner differs or that is missing, a file to be
    absent that exists. A file O(current) does not know is always returned.
  - So that a run that changes nothing writes nothing, and needs no module call to find that out.
options:
  _input:
    description: The wanted files.
    type: list
    elements: dict
    required: true
  current:
    description: The files as they are, C({path - read_files entry}).
    type: dict
    required: true
  uid:
    description: The owner the files get.
    type: int
    default: 0
  gid:
    description: The group the files get.
    type: int
    default: 0
author:
  - hyperpod.eks_lifecycle contributors (@hyperpod)
seealso:
  - module: hyperpod.eks_lifecycle.containerd_config_files
  - module: hyperpod.eks_lifecycle.containerd_config_info
'''

EXAMPLES = r'''
- name: Write what differs
  hyperpod.eks_lifecycle.containerd_config_files:
    files: "{{ wanted | hyperpod.eks_lifecycle.containerd_files_to_write(current) }}"
'''

RETURN = r'''
_value:
  description: The wanted files that differ, in their order.
  type: list
  elements: dict
'''

import base64

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.text.converters import to_bytes


def _differs(wanted, now, uid, gid):
    if wanted.get('state', 'present') == 'absent':
        return bool(now.get('exists'))
    if not now.get('exists'):
        return True
    mode = wanted.get('mode', '0644')
    mode = '%04o' % mode if isinstance(mode, int) else str(mode).zfill(4)
    if now.get('mode') != mode or now.get('uid') != uid or now.get('gid') != gid:
        return True
    return base64.b64decode(now.get('content') or '') != to_bytes(wanted.get('content'), errors='surrogate_or_strict')


def containerd_files_to_write(wanted, current, uid=0, gid=0):
    try:
        return [spec for spec in wanted
                if spec['path'] not in current or _differs(spec, current[spec['path']], uid, gid)]
    except (KeyError, TypeError, ValueError) as exc:
        raise AnsibleFilterError('containerd_files_to_write: %s' % exc)


class FilterModule(object):
    def filters(self):
        return {'containerd_files_to_write': containerd_files_to_write}
