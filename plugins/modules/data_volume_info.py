#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to hyperpod.eks_lifecycle
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: data_volume_info
short_description: Choose the node's data volume - its instance store, else its EBS volume
version_added: 1.1.0
description:
  - A HyperPod node has its secondary EBS volume at C(/opt/sagemaker) only when its instance group
    has an C(EbsVolumeConfig), and its instance store (NVMe disks joined with LVM by the AMI's
    C(dlami-nvme.service)) at C(/opt/dlami/nvme) only on instance types that have one.
  - The module chooses O(instance_store) when the instance has one - it is a mount point, or the
    instance has instance-store disks, or the AMI's unit that mounts them is still at work
    (activating), and then it waits up to O(wait_timeout) seconds for the mount - and O(ebs)
    otherwise, waiting for it the same way.
    When neither is mounted it returns RV(path=null) and the caller applies its missing-volume
    policy.
  - A mount point is an entry of C(/proc/self/mountinfo), not a directory.
  - Nothing is changed on the node.
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - hyperpod.eks_lifecycle.attributes.read_only
attributes:
  platform:
    platforms: posix
options:
  instance_store:
    description: Where the AMI mounts the instance store.
    type: path
    default: /opt/dlami/nvme
  ebs:
    description: Where HyperPod mounts the instance group's EBS volume.
    type: path
    default: /opt/sagemaker
  instance_store_unit:
    description: The AMI's unit that joins and mounts the instance store.
    type: str
    default: dlami-nvme.service
  wait_timeout:
    description: Seconds to wait for the chosen volume's mount.
    type: int
    default: 120
  wait_interval:
    description: Seconds between two looks while waiting.
    type: int
    default: 2
author:
  - hyperpod.eks_lifecycle contributors (@hyperpod)
'''

EXAMPLES = r'''
- name: Choose the data volume
  hyperpod.eks_lifecycle.data_volume_info:
  register: volume

- name: Show it
  ansible.builtin.debug:
    msg: "{{ volume.path }} ({{ volume.reason }})"
'''

RETURN = r'''
path:
  description: The chosen volume's mount point, or V(null) when neither is mounted.
  returned: success
  type: str
  sample: /opt/dlami/nvme
kind:
  description: V(instance_store), V(ebs), or V(none).
  returned: success
  type: str
  sample: instance_store
reason:
  description: Why, in one sentence.
  returned: success
  type: str
  sample: the instance has an instance store (/dev/disk/by-id/nvme-Amazon_EC2_NVMe_Instance_Storage_AWS1), mounted at /opt/dlami/nvme
waited_seconds:
  description: How long the module waited for a mount.
  returned: success
  type: float
'''

import glob
import os
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.hyperpod.eks_lifecycle.plugins.module_utils.mounts import mount_points, read_mountinfo

INSTANCE_STORE_DISKS = '/dev/disk/by-id/nvme-Amazon_EC2_NVMe_Instance_Storage_*'
UNIT_DIRS = ('/etc/systemd/system', '/run/systemd/system', '/usr/lib/systemd/system', '/lib/systemd/system')


def is_mount_point(path, points):
    return os.path.realpath(path) in points or path in points


def instance_store_evidence(path, unit, points, unit_state=None):
    """Why the instance has an instance store (one phrase), or None.

    The AMI's unit counts only while it is still at work (UNIT_STATE(unit) is "activating"): the
    unit may be installed on instance types without an instance store."""
    if is_mount_point(path, points):
        return 'mounted at %s' % path
    disks = sorted(glob.glob(INSTANCE_STORE_DISKS))
    if disks:
        return 'it has instance-store disks (%s)' % disks[0]
    if unit_state is None:
        return None
    for directory in UNIT_DIRS:
        if os.path.isfile(os.path.join(directory, unit)) and unit_state(unit) == 'activating':
            return 'the AMI has %s, still setting it up' % unit
    return None


def wait_for(path, timeout, interval, clock=time.monotonic if hasattr(time, 'monotonic') else time.time, sleep=time.sleep):
    """Whether PATH became a mount point within TIMEOUT seconds, and the seconds waited."""
    started = clock()
    while True:
        if is_mount_point(path, mount_points(read_mountinfo())):
            return True, round(clock() - started, 2)
        waited = clock() - started
        if waited >= timeout:
            return False, round(waited, 2)
        sleep(min(interval, max(timeout - waited, 0.1)))


def choose(params, wait=wait_for, unit_state=None):
    """(path, kind, reason, waited) for the module's PARAMS."""
    store, ebs = params['instance_store'], params['ebs']
    timeout, interval = params['wait_timeout'], params['wait_interval']
    evidence = instance_store_evidence(store, params['instance_store_unit'], mount_points(read_mountinfo()), unit_state)
    if evidence:
        mounted, waited = wait(store, timeout, interval)
        if mounted and evidence.startswith('mounted'):
            return store, 'instance_store', 'the instance store is mounted at %s' % store, waited
        if mounted:
            return store, 'instance_store', ('the instance has an instance store (%s), mounted at %s after %ss'
                                             % (evidence, store, waited)), waited
        ebs_mounted, more = wait(ebs, 0, interval)
        if ebs_mounted:
            return ebs, 'ebs', ('the instance store (%s) was not mounted at %s after %ss; the EBS volume at %s is'
                                % (evidence, store, timeout, ebs)), waited + more
        return None, 'none', ('the instance store (%s) was not mounted at %s after %ss, and %s is not a mount point'
                              % (evidence, store, timeout, ebs)), waited + more
    mounted, waited = wait(ebs, timeout, interval)
    if mounted:
        return ebs, 'ebs', 'the instance has no instance store; its EBS volume is mounted at %s' % ebs, waited
    return None, 'none', ('the instance has no instance store, and %s is not a mount point after %ss (an instance group '
                          'without an EbsVolumeConfig?)' % (ebs, timeout)), waited


def main():
    module = AnsibleModule(
        argument_spec=dict(
            instance_store=dict(type='path', default='/opt/dlami/nvme'),
            ebs=dict(type='path', default='/opt/sagemaker'),
            instance_store_unit=dict(type='str', default='dlami-nvme.service'),
            wait_timeout=dict(type='int', default=120),
            wait_interval=dict(type='int', default=2),
        ),
        supports_check_mode=True,
    )
    params = module.params
    for name in ('instance_store', 'ebs'):
        if not os.path.isabs(params[name]):
            module.fail_json(msg='%s must be an absolute path, not %r' % (name, params[name]))
    if params['wait_timeout'] < 0 or params['wait_interval'] <= 0:
        module.fail_json(msg='wait_timeout must be 0 or more and wait_interval more than 0')
    systemctl = module.get_bin_path('systemctl')

    def unit_state(unit):
        if not systemctl:
            return None
        rc, out, dummy = module.run_command([systemctl, 'show', '--property=ActiveState', unit])
        return out.strip().partition('=')[2] if rc == 0 else None

    path, kind, reason, waited = choose(params, unit_state=unit_state)
    module.exit_json(changed=False, path=path, kind=kind, reason=reason, waited_seconds=waited)


if __name__ == '__main__':
    main()
