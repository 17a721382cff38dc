#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to hyperpod.eks_lifecycle
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: data_root_info
short_description: Wait for the data volume and describe a data root on it, in one call
version_added: 1.0.0
description:
  - Waits up to O(wait_timeout) seconds for O(volume) to be a mount point (an entry of
    C(/proc/self/mountinfo), not a substring of C(mount) output), then describes, without changing
    anything, what the roles need to decide what to do with the data root O(dir) on it - whether it
    exists, its generation marker, what an unmarked one holds, an unfinished copy left beside it,
    its parent directory - and the data to copy there from O(source).
options:
  volume:
    description: The data volume's mount point.
    type: path
    required: true
  dir:
    description: The data root, a directory inside O(volume).
    type: path
    required: true
  source:
    description: Where the data comes from (the service's current data root).
    type: path
    required: true
  marker:
    description: The name of the generation marker file inside O(dir).
    type: str
    default: .hyperpod-eks-lifecycle.json
  staging_suffix:
    description: The suffix of the staging directory beside O(dir) that a copy fills before it becomes O(dir).
    type: str
    default: .partial
  wait_timeout:
    description: How long to wait for O(volume) to be mounted, in seconds.
    type: int
    default: 60
  wait_interval:
    description: How often to look, in seconds.
    type: int
    default: 5
  list_limit:
    description: At most this many names of an unmarked data root's entries are returned.
    type: int
    default: 20
author:
  - hyperpod.eks_lifecycle contributors (@hyperpod)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: The module never changes anything, so it runs normally in check mode.
  diff_mode:
    support: none
  platform:
    platforms: posix
    details: Linux (reads C(/proc/self/mountinfo)).
'''

EXAMPLES = r'''
- name: Wait for the volume and look at the data root
  hyperpod.eks_lifecycle.data_root_info:
    volume: /opt/sagemaker
    dir: /opt/sagemaker/containerd/data-root
    source: /var/lib/containerd
  register: data_root
'''

RETURN = r'''
mounted:
  description: Whether O(volume) is a mount point (after waiting).
  returned: success
  type: bool
waited:
  description: Seconds spent waiting for the mount.
  returned: success
  type: float
data_root:
  description: O(dir).
  returned: success
  type: dict
  contains:
    exists:
      description: Whether it exists.
      type: bool
    is_dir:
      description: Whether it is a directory.
      type: bool
    marker:
      description: The marker's text, or V(null) when there is none.
      type: str
    marker_data:
      description: The marker parsed as JSON, or V(null) when there is none or it is not a JSON object.
      type: dict
    entries:
      description: How many entries it holds (V(0) when it does not exist).
      type: int
    names:
      description: The first O(list_limit) names of its entries, sorted.
      type: list
      elements: str
staging_exists:
  description: Whether an unfinished copy (O(dir) plus O(staging_suffix)) exists.
  returned: success
  type: bool
parent:
  description: The directory that holds O(dir).
  returned: success
  type: dict
  contains:
    exists:
      description: Whether it is a directory.
      type: bool
    mode:
      description: Its mode in octal (V(null) when it does not exist).
      type: str
    uid:
      description: Its owner.
      type: int
    gid:
      description: Its group.
      type: int
source:
  description: O(source).
  returned: success
  type: dict
  contains:
    is_dir:
      description: Whether it is a directory.
      type: bool
'''

import json
import os
import time

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_text


def unescape_mountinfo(field):
    """Mount points in /proc/self/mountinfo escape space, tab, newline and backslash as \\ooo."""
    out = []
    i = 0
    while i < len(field):
        if field[i] == "\\" and i + 4 <= len(field) and field[i + 1:i + 4].isdigit():
            out.append(chr(int(field[i + 1:i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return ''.join(out)


def mount_points(text):
    points = set()
    for line in text.splitlines():
        fields = line.split(' ')
        if len(fields) > 4:
            points.add(unescape_mountinfo(fields[4]))
    return points


def is_mounted(path):
    try:
        with open('/proc/self/mountinfo') as handle:
            text = handle.read()
    except (IOError, OSError):
        return False
    return os.path.normpath(path) in mount_points(text)


def describe_dir(path, marker, limit):
    info = dict(exists=os.path.lexists(path), is_dir=os.path.isdir(path) and not os.path.islink(path),
                marker=None, marker_data=None, entries=0, names=[])
    if not info['is_dir']:
        return info
    names = sorted(os.listdir(path))
    info['entries'] = len(names)
    info['names'] = names[:limit]
    marker_path = os.path.join(path, marker)
    if os.path.isfile(marker_path):
        with open(marker_path, 'rb') as handle:
            info['marker'] = to_text(handle.read(65536), errors='surrogate_or_replace')
        try:
            data = json.loads(info['marker'])
        except ValueError:
            data = None
        info['marker_data'] = data if isinstance(data, dict) else None
    return info


def describe_parent(path):
    try:
        st = os.stat(path)
    except OSError:
        return dict(exists=False, mode=None, uid=None, gid=None)
    if not os.path.isdir(path):
        return dict(exists=False, mode=None, uid=None, gid=None)
    return dict(exists=True, mode='%04o' % (st.st_mode & 0o7777), uid=st.st_uid, gid=st.st_gid)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            volume=dict(type='path', required=True),
            dir=dict(type='path', required=True),
            source=dict(type='path', required=True),
            marker=dict(type='str', default='.hyperpod-eks-lifecycle.json'),
            staging_suffix=dict(type='str', default='.partial'),
            wait_timeout=dict(type='int', default=60),
            wait_interval=dict(type='int', default=5),
            list_limit=dict(type='int', default=20),
        ),
        supports_check_mode=True,
    )
    params = module.params
    if params['wait_timeout'] < 0 or params['wait_interval'] <= 0:
        module.fail_json(msg='wait_timeout must be 0 or more and wait_interval more than 0')
    if '/' in params['marker']:
        module.fail_json(msg='marker must be a file name, not a path: %s' % params['marker'])

    started = time.time()
    deadline = started + params['wait_timeout']
    mounted = is_mounted(params['volume'])
    while not mounted and time.time() < deadline:
        time.sleep(min(params['wait_interval'], max(deadline - time.time(), 0)))
        mounted = is_mounted(params['volume'])

    data_root = params['dir'].rstrip('/')
    module.exit_json(
        changed=False,
        mounted=mounted,
        waited=round(time.time() - started, 3),
        data_root=describe_dir(data_root, params['marker'], params['list_limit']),
        staging_exists=os.path.lexists(data_root + params['staging_suffix']),
        parent=describe_parent(os.path.dirname(data_root)),
        source=dict(is_dir=os.path.isdir(params['source'])),
    )


if __name__ == '__main__':
    main()
