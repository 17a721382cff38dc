#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to hyperpod.eks_lifecycle
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: os_release_facts
short_description: Read os-release(5) and tell which HyperPod platform the node runs
version_added: 1.0.0
description:
  - Reads the os-release(5) file of the managed node (no command is run) and returns every
    assignment in it as the C(os_release) fact.
  - Decides from C(ID) and C(VERSION_ID) together which HyperPod platform the node is,
    C(al2) for Amazon Linux 2, C(al2023) for Amazon Linux 2023, C(unsupported) for anything else,
    and says why in C(hyperpod_platform_reason).
  - Values are unquoted and unescaped the way os-release(5) specifies (shell-style double quotes,
    single quotes and backslash escapes). Lines that are not C(KEY=value) assignments, including
    values with an unterminated quote, are ignored. So an empty or garbled file is not an error;
    it gives an empty C(os_release) and the platform C(unsupported).
  - Bytes that are not valid UTF-8 are replaced by U+FFFD rather than failing.
options:
  path:
    description:
      - The os-release file to read.
      - When not set, reads C(/etc/os-release) and, only if that file does not exist,
        C(/usr/lib/os-release), as os-release(5) prescribes.
      - When set, reads exactly this file, without any fallback.
    type: path
notes:
  - Fails when the file cannot be read. By default that means C(/etc/os-release) exists but cannot be read,
    or neither C(/etc/os-release) nor C(/usr/lib/os-release) exists.
  - Only the first MiB of the file is read.
seealso:
  - name: os-release(5)
    description: The file format and its fields.
    link: https://www.freedesktop.org/software/systemd/man/latest/os-release.html
author:
  - hyperpod.eks_lifecycle contributors (@hyperpod)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.facts
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  facts:
    support: full
  platform:
    platforms: posix
'''

EXAMPLES = r'''
- name: Read /etc/os-release (or /usr/lib/os-release)
  hyperpod.eks_lifecycle.os_release_facts:

- name: Stop early on a node HyperPod provisioning does not support
  ansible.builtin.assert:
    that:
      - ansible_facts['hyperpod_platform'] != 'unsupported'
    fail_msg: "{{ ansible_facts['hyperpod_platform_reason'] }}"

- name: Something only Amazon Linux 2023 needs
  ansible.builtin.debug:
    msg: "{{ ansible_facts['os_release']['pretty_name'] }} derives from {{ ansible_facts['os_release']['id_like'] | join(', ') }}"
  when: ansible_facts['hyperpod_platform'] == 'al2023'

- name: Inspect the os-release of a mounted image
  hyperpod.eks_lifecycle.os_release_facts:
    path: /mnt/image/usr/lib/os-release
'''

RETURN = r'''
ansible_facts:
  description: Facts added to the host's facts.
  returned: always
  type: dict
  contains:
    os_release:
      description:
        - Every assignment of the file, keys lower-cased, values unquoted and unescaped.
        - Only keys present in the file appear. C(id_like) is a list of words; every other value is a string.
        - Empty when the file holds no valid assignment.
      returned: always
      type: dict
      sample:
        name: Amazon Linux
        version: '2023'
        id: amzn
        id_like:
          - fedora
        version_id: '2023'
        platform_id: platform:al2023
        pretty_name: Amazon Linux 2023.6.20241212
        ansi_color: 0;33
        cpe_name: cpe:2.3:o:amazon:amazon_linux:2023
        home_url: https://aws.amazon.com/linux/amazon-linux-2023/
        documentation_url: https://docs.aws.amazon.com/linux/
        support_url: https://aws.amazon.com/premiumsupport/
        bug_report_url: https://github.com/amazonlinux/amazon-linux-2023
        vendor_name: AWS
        vendor_url: https://aws.amazon.com/
        support_end: '2029-06-30'
    os_release_path:
      description: The file actually read.
      returned: always
      type: str
      sample: /etc/os-release
    hyperpod_platform:
      description:
        - V(al2) when C(ID) is C(amzn) and C(VERSION_ID) is C(2).
        - V(al2023) when C(ID) is C(amzn) and C(VERSION_ID) is C(2023).
        - V(unsupported) otherwise, including a future Amazon Linux release.
      returned: always
      type: str
      sample: al2023
    hyperpod_platform_reason:
      description: A short sentence saying why C(hyperpod_platform) has its value.
      returned: always
      type: str
      sample: "ID 'amzn' VERSION_ID '2023': Amazon Linux 2023"
'''

import errno

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.hyperpod.eks_lifecycle.plugins.module_utils.os_release import (
    hyperpod_platform,
    parse_os_release,
)


# Where os-release(5) says to look, in order. The second is read only when the
# first does not exist.
DEFAULT_PATH = '/etc/os-release'
FALLBACK_PATH = '/usr/lib/os-release'

# os-release files are a few hundred bytes; do not slurp /dev/zero if pointed at it.
MAX_BYTES = 1024 * 1024

# errno values meaning "this file does not exist" (as opposed to "cannot read it").
_MISSING = (errno.ENOENT, errno.ENOTDIR)


def _describe(exc):
    return exc.strerror or str(exc)


def _try_read(path):
    """Return (bytes, None) or (None, the OSError raised)."""
    try:
        with open(path, 'rb') as handle:
            return handle.read(MAX_BYTES), None
    except (IOError, OSError) as exc:
        return None, exc


def read_os_release(path=None):
    """Return (path read, bytes) or raise ValueError with a message naming the path(s) tried."""
    if path:
        candidates = [path]
    else:
        candidates = [DEFAULT_PATH, FALLBACK_PATH]

    tried = []
    for position, candidate in enumerate(candidates):
        data, error = _try_read(candidate)
        if error is None:
            return candidate, data
        tried.append('%s (%s)' % (candidate, _describe(error)))
        remaining = candidates[position + 1:]
        if remaining and error.errno not in _MISSING:
            # os-release(5): fall back only when the first file does not exist.
            raise ValueError(
                'cannot read %s: %s (not falling back to %s, which is only read when %s does not exist)'
                % (candidate, _describe(error), ', '.join(remaining), candidate))
    if len(candidates) == 1:
        raise ValueError('cannot read os-release file %s' % tried[0])
    raise ValueError('cannot read an os-release file: tried %s' % ', '.join(tried))


def gather_facts(path=None):
    """Return the facts this module sets; raise ValueError when no file can be read."""
    path_read, data = read_os_release(path)
    os_release = parse_os_release(data.decode('utf-8', 'replace'))
    platform, reason = hyperpod_platform(os_release, path_read)
    return dict(
        os_release=os_release,
        os_release_path=path_read,
        hyperpod_platform=platform,
        hyperpod_platform_reason=reason,
    )


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type='path'),
        ),
        supports_check_mode=True,
    )

    try:
        facts = gather_facts(module.params['path'])
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    else:
        module.exit_json(changed=False, ansible_facts=facts)


if __name__ == '__main__':
    main()
