#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to hyperpod.eks_lifecycle
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: containerd_config_files
short_description: Write a set of containerd configuration files in one call, each validated by containerd
version_added: 1.1.0
description:
  - Puts each file of O(files) in the state given, in one module call (a role that renders several
    whole files from templates passes them all at once).
  - A file whose content, owner, group and mode already match is left alone. Otherwise the new
    content is written to a temporary file in the same directory, validated, and renamed over the
    old one, so that the file is never partially written nor replaced by a config containerd
    rejects.
  - TOML files are validated with C(containerd --config FILE config dump), the check containerd
    itself makes when it starts. Other files (systemd drop-ins) are written as they are.
  - Missing parent directories are created (owner root, mode 0755).
  - Returns what each changed file held before (for a caller that must be able to put it back).
  - With O(restore), puts files back exactly as the C(containerd_config_info) module's C(read_files)
    returned them (content, mode; a file that did not exist is removed), without validation.
options:
  restore:
    description:
      - Files to put back as they were, each as C(containerd_config_info)'s C(read_files) returns
        it - C(path), C(exists), C(content) (base64) and C(mode).
    type: list
    elements: dict
    default: []
  files:
    description: The files.
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: The file.
        type: path
        required: true
      content:
        description:
          - The whole content, when O(files[].state=present).
          - A dictionary or a list is written as JSON, the way the C(to_nice_json) filter writes it,
            with a final newline (Ansible turns a templated string that looks like JSON into data).
        type: raw
      state:
        description: V(present) writes O(files[].content); V(absent) removes the file.
        type: str
        choices: [present, absent]
        default: present
      validate:
        description:
          - V(containerd) checks a candidate with C(containerd --config CANDIDATE config dump) before
            it replaces the file; V(none) does not.
        type: str
        choices: [containerd, none]
        default: containerd
      mode:
        description: The file's mode.
        type: raw
        default: '0644'
      only_if_missing:
        description:
          - Write the file only where it does not exist, and never over one that appears meanwhile
            (it is linked into place, not renamed over it) - a placeholder for a file another
            program writes.
        type: bool
        default: false
        version_added: 1.1.0
  binary:
    description: The containerd binary that validates TOML files.
    type: path
    default: /usr/bin/containerd
author:
  - hyperpod.eks_lifecycle contributors (@hyperpod)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Reports what would change (validating candidates in a temporary directory) and changes nothing.
  diff_mode:
    support: full
    details: One diff entry per changed file.
  platform:
    platforms: posix
    details: Files are owned by the user the module runs as (root on a node).
seealso:
  - module: hyperpod.eks_lifecycle.containerd_config_info
  - module: ansible.builtin.template
'''

EXAMPLES = r'''
- name: Write the config layer and a drop-in rendered from templates
  hyperpod.eks_lifecycle.containerd_config_files:
    files:
      - path: /etc/containerd/hyperpod/config.toml
        content: "{{ lookup('ansible.builtin.template', 'layer-config.toml.j2') }}"
      - path: /etc/containerd/hyperpod/conf.d/10-data-root.toml
        content: "{{ lookup('ansible.builtin.template', 'data-root.toml.j2') }}"
      - path: /etc/systemd/system/containerd.service.d/50-layer.conf
        content: "{{ lookup('ansible.builtin.template', 'containerd-unit-dropin.conf.j2') }}"
        validate: none
  notify: Restart containerd
'''

RETURN = r'''
changed_files:
  description: The files that were (or in check mode would be) written or removed.
  returned: success
  type: list
  elements: str
  sample: [/etc/containerd/hyperpod/conf.d/10-data-root.toml]
previous:
  description: What each changed file was before, to restore it.
  returned: success
  type: list
  elements: dict
  contains:
    path:
      description: The file.
      type: str
    existed:
      description: Whether it existed.
      type: bool
    content:
      description: Its content, base64-encoded (empty when it did not exist).
      type: str
'''

import base64
import json
import os

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_bytes, to_native, to_text

from ansible_collections.hyperpod.eks_lifecycle.plugins.module_utils import atomic
from ansible_collections.hyperpod.eks_lifecycle.plugins.module_utils.containerd_cli import Rejected, checker


def content_bytes(value):
    """The bytes to write for a file's content: text as it is, data as to_nice_json writes it."""
    if isinstance(value, (dict, list)):
        value = json.dumps(value, indent=4, sort_keys=True, separators=(',', ': '), ensure_ascii=False) + '\n'
    elif not isinstance(value, (str, bytes)):
        value = str(value)
    return to_bytes(value, errors='surrogate_or_strict')


def parse_mode(module, value):
    try:
        mode = int(str(value), 8) if not isinstance(value, int) else value
    except ValueError:
        module.fail_json(msg='mode %r is not an octal number' % (value,))
    if mode < 0 or mode > 0o7777:
        module.fail_json(msg='mode %r is out of range' % (value,))
    return mode


def current_state(path):
    """(exists, content bytes, mode, uid, gid) of PATH; exists is False for a missing file."""
    try:
        st = os.lstat(path)
    except OSError:
        return False, b'', None, None, None
    if not os.path.isfile(path) or os.path.islink(path):
        return True, None, None, None, None
    with open(path, 'rb') as handle:
        return True, handle.read(), st.st_mode & 0o7777, st.st_uid, st.st_gid


def make_dirs(path):
    missing = []
    while path and not os.path.isdir(path):
        missing.append(path)
        path = os.path.dirname(path)
    for directory in reversed(missing):
        os.mkdir(directory, 0o755)
        os.chmod(directory, 0o755)


def write(module, spec, data, mode, assume=()):
    """Put DATA at the spec's path (in check mode, only validate it, the files of ASSUME counting as
    written), validated by containerd first when the spec asks: a rejected file replaces nothing."""
    path = spec['path']
    check = checker(module, module.params['binary'], assume if module.check_mode else ()) if spec['validate'] == 'containerd' else None
    try:
        if module.check_mode:
            if check is not None:
                atomic.check_only(data, check, name=os.path.basename(path))
            return
        make_dirs(os.path.dirname(path))
        return atomic.write_atomic(path, data, mode, check=check, owner=(0, 0) if os.getuid() == 0 else None,
                                   create_only=spec.get('only_if_missing', False))
    except Rejected as exc:
        module.fail_json(msg='containerd rejects the new %s, which was not written: %s' % (path, exc), **exc.details)


def restored(module, entry):
    """A files entry that puts back a file as containerd_config_info's read_files returned it."""
    if not isinstance(entry, dict) or not entry.get('path'):
        module.fail_json(msg='restore: each entry needs a path: %r' % (entry,))
    if not entry.get('exists'):
        return dict(path=entry['path'], state='absent', content=None, validate='none', mode='0644')
    try:
        content = base64.b64decode(entry.get('content') or '')
    except (TypeError, ValueError) as exc:
        module.fail_json(msg='restore: %s: the content is not base64: %s' % (entry['path'], exc))
    return dict(path=entry['path'], state='present', content=content, validate='none', mode=entry.get('mode') or '0644')


def main():
    module = AnsibleModule(
        argument_spec=dict(
            restore=dict(type='list', elements='dict', default=[]),
            files=dict(type='list', elements='dict', default=[], options=dict(
                path=dict(type='path', required=True),
                content=dict(type='raw'),
                state=dict(type='str', choices=['present', 'absent'], default='present'),
                validate=dict(type='str', choices=['containerd', 'none'], default='containerd'),
                only_if_missing=dict(type='bool', default=False),
                mode=dict(type='raw', default='0644'),
            )),
            binary=dict(type='path', default='/usr/bin/containerd'),
        ),
        supports_check_mode=True,
    )
    files = list(module.params['files']) + [restored(module, entry) for entry in module.params['restore']]
    paths = [spec['path'] for spec in files]
    if len(set(paths)) != len(paths):
        module.fail_json(msg='a file is listed twice: %s' % ', '.join(sorted(p for p in set(paths) if paths.count(p) > 1)))
    for spec in files:
        if spec['state'] == 'present' and spec['content'] is None:
            module.fail_json(msg='%s: content is required when state is present' % spec['path'])
    uses_containerd = any(s['state'] == 'present' and s['validate'] == 'containerd' for s in files)
    binary = module.params['binary']
    if uses_containerd and not (os.path.isfile(binary) and os.access(binary, os.X_OK)):
        module.fail_json(msg='containerd binary %s does not exist or is not executable' % binary)

    owner = (0, 0) if os.getuid() == 0 else (os.getuid(), os.getgid())
    changed_files, previous, diffs = [], [], []
    for spec in files:
        path = spec['path']
        exists, before, mode_now, uid, gid = current_state(path)
        if exists and before is None:
            module.fail_json(msg='%s exists and is not a regular file; move it away first' % path)
        if spec['state'] == 'absent':
            if not exists:
                continue
            if not module.check_mode:
                os.unlink(path)
            after = b''
        else:
            after = content_bytes(spec['content'])
            mode = parse_mode(module, spec['mode'])
            if exists and (spec['only_if_missing'] or (before == after and mode_now == mode and (uid, gid) == owner)):
                continue
            try:
                if write(module, spec, after, mode, [s['path'] for s in files if s['state'] == 'present']) is False:
                    continue  # only_if_missing, and someone else wrote it meanwhile
            except (IOError, OSError) as exc:
                module.fail_json(msg='cannot write %s: %s' % (path, to_native(exc)))
        changed_files.append(path)
        previous.append(dict(path=path, existed=exists, content=to_text(base64.b64encode(before or b''))))
        diffs.append(dict(before_header=path, after_header=path,
                          before=to_text(before or b'', errors='surrogate_or_replace'),
                          after=to_text(after, errors='surrogate_or_replace')))

    result = dict(changed=bool(changed_files), changed_files=changed_files, previous=previous)
    if module._diff:
        result['diff'] = diffs
    module.exit_json(**result)


if __name__ == '__main__':
    main()
