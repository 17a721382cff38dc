#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to hyperpod.eks_lifecycle
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: data_root_info
short_description: Wait for the data volume, check a data directory on it and describe it, in one call
version_added: 1.1.0
description:
  - Checks the three paths first, as strings and then as the file system resolves them, and fails
    before anything is waited for or changed when one of them could make a move or a delete land
    somewhere else - a relative path or one with C(..); an operating system directory (C(/),
    C(/etc), C(/usr), C(/var), C(/var/lib), ...) as the volume, the directory or the source; a
    directory that is not strictly inside the volume, or, once the volume is mounted, is on
    another file system than the volume (a symlink or a mount on the way); a directory and a
    source inside one another.
  - Waits up to O(wait_timeout) seconds for O(volume) to be a mount point (an entry of
    C(/proc/self/mountinfo), not a substring of C(mount) output). A volume path that is a symlink
    is resolved, and its target waited for.
  - Then describes, without changing anything, what the roles need to decide what to do with the
    directory O(dir) on it - whether it exists, its generation marker, what an unmarked one holds,
    an unfinished copy left beside it, its parent directory - and the data O(source) that would
    be copied there, the mounts below it, and whether it is already O(dir), bind-mounted.
  - With O(platform), also classifies the directory by its generation marker (the decision the
    C(containerd_data_root) role acts on), and fails, changing nothing, where it must stop.
  - With O(measure_copy), measures what a copy of O(source) would need (bytes and inodes) against
    what the volume has free, keeping O(reserve_mb) to spare (an unfinished copy of this
    collection's, which the role removes before it copies, counts as free).
  - A staging directory (O(dir) plus O(staging_suffix)) that this collection did not make, where a
    copy is coming, stops the module, changing nothing.
options:
  volume:
    description: The data volume's mount point.
    type: path
    required: true
  dir:
    description: The directory on the volume (containerd's data root, kubelet's state).
    type: path
    required: true
  source:
    description: Where the data comes from (the service's current directory).
    type: path
    required: true
  labels:
    description:
      - The names of the settings O(volume), O(dir) and O(source) come from, for the messages
        (keys C(volume), C(dir), C(source); values such as C(containerd_data_root_volume)).
    type: dict
    default: {}
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
    description: At most this many names (of an unmarked data root's entries, of the mounts below O(source)) are returned.
    type: int
    default: 20
  platform:
    description:
      - The node's platform. When set, the directory is classified by its generation marker and
        RV(action) says what to do with it.
    type: str
    choices: [al2, al2023]
  unmarked_policy:
    description: With O(platform), what to do with a non-empty directory that has no marker.
    type: str
    choices: [set_aside, adopt, fail]
    default: set_aside
  measure_copy:
    description:
      - Measure O(source) and the volume's free space when O(dir) is to be made afresh from it
        (RV(fresh)), and return RV(space).
    type: bool
    default: false
  reserve_mb:
    description: With O(measure_copy), the free space (MiB) the volume must keep after the copy.
    type: int
    default: 1024
  inspect:
    description: Subdirectories of O(source) whose entries are counted (for example C(pods) of kubelet's state).
    type: list
    elements: str
    default: []
  staging_marker:
    description:
      - The name of the file a copy writes into the staging directory before it copies anything. A
        staging directory that is empty, or holds this file or the generation marker O(marker), was
        made by this collection (RV(staging.ours)).
    type: str
    default: .hyperpod-eks-lifecycle.staging
  plus_bytes:
    description:
      - With O(measure_copy), what another copy to the same volume in the same run needs, in bytes
        (kubelet's state after containerd's data); RV(space.enough) is then for both.
    type: int
    default: 0
  plus_inodes:
    description: With O(measure_copy), the inodes that other copy needs.
    type: int
    default: 0
  disjoint_from:
    description:
      - Other directories (setting name to path) that O(dir) must be neither inside, nor hold, nor be
        (for example containerd's data root, for kubelet's state).
    type: dict
    default: {}
  for_mount_unit:
    description:
      - O(dir) and O(source) become a systemd mount unit's C(What=) and C(Where=), so paths with
        C(%), a backslash or whitespace (which systemd would read as specifiers, escapes or
        separators) are refused.
    type: bool
    default: false
author:
  - hyperpod.eks_lifecycle contributors (@hyperpod)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - hyperpod.eks_lifecycle.attributes.read_only
attributes:
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
    platform: al2023
    measure_copy: true
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
volume:
  description: O(volume) as the file system resolves it.
  returned: success
  type: dict
  contains:
    path:
      description: Its real path (symlinks resolved).
      type: str
    is_symlink:
      description: Whether O(volume) itself is a symlink (to RV(volume.path)).
      type: bool
dir_path:
  description: O(dir) as the file system resolves it; the path the roles act on.
  returned: when the volume is mounted
  type: str
source_path:
  description: O(source) as the file system resolves it.
  returned: when the volume is mounted
  type: str
source_mount_unit:
  description: The name of the systemd mount unit whose C(Where=) is RV(source_path).
  returned: when the volume is mounted
  type: str
data_root:
  description: O(dir).
  returned: when the volume is mounted
  type: dict
  contains:
    exists:
      description: Whether it exists.
      type: bool
    is_dir:
      description: Whether it is a directory.
      type: bool
    marker:
      description: The marker's text, or V(null) when there is none (a marker that is a symlink is not read).
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
  returned: when the volume is mounted
  type: bool
staging:
  description: The staging directory (O(dir) plus O(staging_suffix)).
  returned: when the volume is mounted
  type: dict
  contains:
    path:
      description: Its path.
      type: str
    exists:
      description: Whether it exists.
      type: bool
    ours:
      description: Whether it is this collection's (empty, or holding O(staging_marker) or O(marker)).
      type: bool
parent:
  description: The directory that holds O(dir).
  returned: when the volume is mounted
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
  returned: when the volume is mounted
  type: dict
  contains:
    is_dir:
      description: Whether it is a directory.
      type: bool
    mode:
      description: Its mode in octal (V(null) when it is not a directory), for the copy's own directory.
      type: str
    is_mount_point:
      description: Whether it is a mount point itself.
      type: bool
    bound_to_dir:
      description: Whether it is a mount point showing O(dir) of the volume (a bind mount of it).
      type: bool
    mounts_below:
      description: The first O(list_limit) mount points strictly inside it (pod volumes, for kubelet).
      type: list
      elements: str
    mounts_below_count:
      description: How many mount points are strictly inside it.
      type: int
    entries:
      description: For each of O(inspect), how many entries that subdirectory holds (V(0) when it does not exist).
      type: dict
found:
  description: With O(platform), what the directory is - V(absent), V(empty), V(marked) or V(unmarked).
  returned: when O(platform) is set and the volume is mounted
  type: str
found_platform:
  description: With O(platform), the platform its marker names (V(unknown) without one).
  returned: when O(platform) is set and the volume is mounted
  type: str
action:
  description:
    - With O(platform), what to do - V(create) (absent or empty), V(reuse) (written by this
      platform), V(set_aside) (written by the other platform, or unmarked with that policy), or
      V(adopt) (unmarked with that policy).
  returned: when O(platform) is set and the volume is mounted
  type: str
aside:
  description: With O(platform), where V(set_aside) moves the directory (a new name beside it).
  returned: when O(platform) is set and the volume is mounted
  type: str
fresh:
  description: Whether the directory is made afresh (with O(platform) - V(create) or V(set_aside); without - it does not exist).
  returned: when the volume is mounted
  type: bool
space:
  description: With O(measure_copy), when RV(fresh) - what the copy needs and what the volume has.
  returned: when O(measure_copy) is set and RV(fresh)
  type: dict
  contains:
    bytes:
      description: The space O(source)'s files take (blocks, each hard-linked file once), on its own file system.
      type: int
    inodes:
      description: How many entries O(source) holds.
      type: int
    free_bytes:
      description:
        - The space free on the volume (for an unprivileged user; root may have a little more), plus
          what an unfinished copy of this collection's holds.
      type: int
    needed_bytes:
      description: RV(space.bytes) plus O(plus_bytes).
      type: int
    needed_inodes:
      description: RV(space.inodes) plus O(plus_inodes).
      type: int
    free_inodes:
      description: The inodes free on the volume (V(null) where the file system does not count them).
      type: int
    reserve_bytes:
      description: O(reserve_mb) in bytes.
      type: int
    enough:
      description: Whether the copy (and the other one, O(plus_bytes)) fits with the reserve to spare.
      type: bool
'''

import json
import os
import re
import time

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_text

from ansible_collections.hyperpod.eks_lifecycle.plugins.module_utils.mounts import (  # noqa: F401 pylint: disable=unused-import
    mount_points, parse_mountinfo, read_mountinfo, unescape_mountinfo)

# The operating system's own directories: never a data volume, a data directory or a source to
# move from (a set-aside renames the directory; a bind mount hides what is below its target).
PROTECTED = frozenset([
    '/', '/bin', '/boot', '/dev', '/etc', '/home', '/lib', '/lib32', '/lib64', '/libx32', '/opt',
    '/proc', '/root', '/run', '/sbin', '/srv', '/sys', '/tmp', '/usr', '/usr/bin', '/usr/lib',
    '/usr/lib64', '/usr/libexec', '/usr/local', '/usr/sbin', '/usr/share', '/var', '/var/cache',
    '/var/lib', '/var/local', '/var/log', '/var/run', '/var/spool', '/var/tmp',
])
PLATFORM = re.compile(r'"platform": *"([a-z0-9_]+)"')


class Refusal(Exception):
    """A setting or a state the module must stop at, before anything is changed."""


def mount_at(mounts, path):
    """The mount that shows at PATH (the last one mounted there), or None."""
    found = None
    for entry in mounts:
        if entry['point'] == path:
            found = entry
    return found


def inside(path, parent):
    """Whether PATH is strictly inside PARENT (both normalised absolute paths)."""
    return path != parent and path.startswith(parent.rstrip('/') + '/')


def check_setting(label, value):
    if not value.startswith('/'):
        raise Refusal('%s %r must be an absolute path' % (label, value))
    if '..' in value.split('/'):
        raise Refusal("%s %r must not contain '..'" % (label, value))
    if any(ord(char) < 32 for char in value):
        raise Refusal('%s %r must not contain control characters' % (label, value))


def real(path):
    """PATH with every symlink resolved (a missing tail is kept as it is), normalised."""
    return os.path.normpath(os.path.realpath(path))


def nearest_existing(path):
    while not os.path.lexists(path) and path != '/':
        path = os.path.dirname(path)
    return path


def describe_dir(path, marker, limit):
    info = dict(exists=os.path.lexists(path), is_dir=os.path.isdir(path) and not os.path.islink(path),
                marker=None, marker_data=None, entries=0, names=[])
    if not info['is_dir']:
        return info
    names = sorted(os.listdir(path))
    info['entries'] = len(names)
    info['names'] = names[:limit]
    marker_path = os.path.join(path, marker)
    if os.path.isfile(marker_path) and not os.path.islink(marker_path):
        with open(marker_path, 'rb') as handle:
            info['marker'] = to_text(handle.read(65536), errors='surrogate_or_replace')
        try:
            data = json.loads(info['marker'])
        except ValueError:
            data = None
        info['marker_data'] = data if isinstance(data, dict) else None
    return info


def describe_staging(path, markers):
    exists = os.path.lexists(path)
    ours = False
    if exists and os.path.isdir(path) and not os.path.islink(path):
        names = os.listdir(path)
        ours = not names or any(name in names for name in markers)
    return dict(path=path, exists=exists, ours=ours)


def describe_parent(path):
    try:
        st = os.lstat(path)
    except OSError:
        return dict(exists=False, mode=None, uid=None, gid=None)
    if not os.path.isdir(path) or os.path.islink(path):
        return dict(exists=False, mode=None, uid=None, gid=None)
    return dict(exists=True, mode='%04o' % (st.st_mode & 0o7777), uid=st.st_uid, gid=st.st_gid)


def count_entries(path):
    try:
        return len(os.listdir(path)) if os.path.isdir(path) and not os.path.islink(path) else 0
    except OSError:
        return 0


def measure(path):
    """(bytes, entries) of what is below PATH on PATH's own file system; hard links counted once."""
    try:
        device = os.lstat(path).st_dev
    except OSError:
        return 0, 0
    seen = set()
    total = entries = 0
    for top, dirs, files in os.walk(path):
        keep = []
        for name in dirs + files:
            try:
                st = os.lstat(os.path.join(top, name))
            except OSError:
                continue
            if st.st_dev != device:
                continue
            entries += 1
            if name in dirs and not os.path.islink(os.path.join(top, name)):
                keep.append(name)
            if st.st_nlink > 1:
                if (st.st_dev, st.st_ino) in seen:
                    continue
                seen.add((st.st_dev, st.st_ino))
            total += st.st_blocks * 512
        dirs[:] = [name for name in dirs if name in keep]
    return total, entries


def classify(data_root, dir_path, platform, policy, marker, now):
    """What the directory is and what to do with it, or a Refusal where the role must stop."""
    if data_root['exists'] and not data_root['is_dir']:
        raise Refusal('%s exists and is not a directory; move it away first' % dir_path)
    if not data_root['exists']:
        found = 'absent'
    elif data_root['marker'] is not None:
        found = 'marked'
    elif data_root['entries'] == 0:
        found = 'empty'
    else:
        found = 'unmarked'
    found_platform = 'unknown'
    if found == 'marked':
        named = (data_root['marker_data'] or {}).get('platform')
        match = PLATFORM.search(data_root['marker'])
        if isinstance(named, str) and re.match(r'^[a-z0-9_]+$', named):
            found_platform = named
        elif match:
            found_platform = match.group(1)
        else:
            raise Refusal('%s exists but does not name a platform; fix it (e.g. {"platform": "%s"}) or remove it. '
                          'Nothing was changed.' % (os.path.join(dir_path, marker), platform))
    if found == 'unmarked' and policy == 'fail':
        raise Refusal('%s holds data that this collection did not write (no %s); stopping as '
                      'containerd_data_root_unmarked_policy=fail. Move it away, or set the policy to set_aside or '
                      'adopt. Nothing was changed.' % (dir_path, marker))
    if found in ('absent', 'empty'):
        action = 'create'
    elif found == 'marked':
        action = 'reuse' if found_platform == platform else 'set_aside'
    else:
        action = policy
    aside = '%s.%s-%s' % (dir_path, found_platform if found == 'marked' else 'unmarked',
                          time.strftime('%Y%m%dT%H%M%SZ', time.gmtime(now)))
    return dict(found=found, found_platform=found_platform, action=action, aside=aside,
                fresh=action in ('create', 'set_aside'))


def check_paths(params, labels):
    """The checks that need no mount: as strings, then as resolved, against the OS's directories."""
    for key in ('volume', 'dir', 'source'):
        check_setting(labels[key], params[key])
        if params['for_mount_unit'] and key != 'volume' and re.search(r'[%\\\s]', params[key]):
            raise Refusal("%s %r must not contain '%%', a backslash or whitespace (it names a systemd mount unit's "
                          "directory). Nothing was changed." % (labels[key], params[key]))
    paths = dict((key, real(params[key])) for key in ('volume', 'dir', 'source'))
    for key in ('volume', 'dir', 'source'):
        if paths[key] in PROTECTED:
            raise Refusal('%s %s%s is an operating system directory; refusing to use it as the %s. Nothing was changed.'
                          % (labels[key], params[key], describe_resolved(params[key], paths[key]),
                             {'volume': 'data volume', 'dir': 'directory on the volume',
                              'source': 'directory to move from'}[key]))
    if not inside(paths['dir'], paths['volume']):
        raise Refusal('%s %s%s is not inside %s %s%s. Nothing was changed.'
                      % (labels['dir'], params['dir'], describe_resolved(params['dir'], paths['dir']),
                         labels['volume'], params['volume'], describe_resolved(params['volume'], paths['volume'])))
    others = [(labels['source'], paths['source'])] + sorted(
        (name, real(path)) for name, path in (params['disjoint_from'] or {}).items())
    for name, other in others:
        if paths['dir'] == other or inside(paths['dir'], other) or inside(other, paths['dir']):
            raise Refusal('%s %s and %s %s are inside one another. Nothing was changed.'
                          % (labels['dir'], paths['dir'], name, other))
    return paths


def mount_unit(path):
    """The name of the systemd mount unit for PATH (what `systemd-escape --path --suffix=mount` gives)."""
    trimmed = path.strip('/')
    if not trimmed:
        return '-.mount'
    out = []
    for index, char in enumerate(trimmed):
        if char == '/':
            out.append('-')
        elif (char.isalnum() and ord(char) < 128) or char in ':_' or (char == '.' and index > 0):
            out.append(char)
        else:
            out.extend('\\x%02x' % byte for byte in char.encode('utf-8'))
    return ''.join(out) + '.mount'


def describe_resolved(given, resolved):
    return '' if os.path.normpath(given) == resolved else ' (resolves to %s)' % resolved


def main():
    module = AnsibleModule(
        argument_spec=dict(
            volume=dict(type='path', required=True),
            dir=dict(type='path', required=True),
            source=dict(type='path', required=True),
            labels=dict(type='dict', default={}),
            marker=dict(type='str', default='.hyperpod-eks-lifecycle.json'),
            staging_suffix=dict(type='str', default='.partial'),
            wait_timeout=dict(type='int', default=60),
            wait_interval=dict(type='int', default=5),
            list_limit=dict(type='int', default=20),
            platform=dict(type='str', choices=['al2', 'al2023']),
            unmarked_policy=dict(type='str', default='set_aside', choices=['set_aside', 'adopt', 'fail']),
            measure_copy=dict(type='bool', default=False),
            staging_marker=dict(type='str', default='.hyperpod-eks-lifecycle.staging'),
            plus_bytes=dict(type='int', default=0),
            plus_inodes=dict(type='int', default=0),
            disjoint_from=dict(type='dict', default={}),
            for_mount_unit=dict(type='bool', default=False),
            reserve_mb=dict(type='int', default=1024),
            inspect=dict(type='list', elements='str', default=[]),
        ),
        supports_check_mode=True,
    )
    params = module.params
    if params['wait_timeout'] < 0 or params['wait_interval'] <= 0:
        module.fail_json(msg='wait_timeout must be 0 or more and wait_interval more than 0')
    for key in ('marker', 'staging_marker'):
        if '/' in params[key]:
            module.fail_json(msg='%s must be a file name, not a path: %s' % (key, params[key]))
    if params['reserve_mb'] < 0 or params['plus_bytes'] < 0 or params['plus_inodes'] < 0:
        module.fail_json(msg='reserve_mb, plus_bytes and plus_inodes must be 0 or more')
    labels = dict((key, (params['labels'] or {}).get(key) or key) for key in ('volume', 'dir', 'source'))
    try:
        paths = check_paths(params, labels)
    except Refusal as exc:
        module.fail_json(msg=str(exc))

    started = time.time()
    deadline = started + params['wait_timeout']
    mounts = parse_mountinfo(read_mountinfo())
    volume = real(params['volume'])
    while mount_at(mounts, volume) is None and time.time() < deadline:
        time.sleep(min(params['wait_interval'], max(deadline - time.time(), 0)))
        mounts = parse_mountinfo(read_mountinfo())
        volume = real(params['volume'])
    volume_mount = mount_at(mounts, volume)
    result = dict(
        changed=False,
        mounted=volume_mount is not None,
        waited=round(time.time() - started, 3),
        volume=dict(path=volume, is_symlink=os.path.islink(params['volume'].rstrip('/') or '/')),
    )
    if not result['mounted']:
        module.exit_json(**result)
    try:
        paths = check_paths(params, labels)  # again: the mount may have changed what resolves where
        dir_path, source_path = paths['dir'], paths['source']
        if os.stat(nearest_existing(dir_path)).st_dev != os.stat(volume).st_dev:
            raise Refusal('%s %s is on another file system than %s %s (a mount or a symlink on the way). '
                          'Nothing was changed.' % (labels['dir'], dir_path, labels['volume'], volume))
        data_root = describe_dir(dir_path, params['marker'], params['list_limit'])
        source_mount = mount_at(mounts, source_path)
        below = sorted(set(entry['point'] for entry in mounts if inside(entry['point'], source_path)))
        expected_root = os.path.normpath(volume_mount['root'].rstrip('/') + '/' + os.path.relpath(dir_path, volume))
        result.update(
            dir_path=dir_path,
            source_path=source_path,
            source_mount_unit=mount_unit(source_path),
            data_root=data_root,
            staging_exists=os.path.lexists(dir_path + params['staging_suffix']),
            staging=describe_staging(dir_path + params['staging_suffix'], (params['staging_marker'], params['marker'])),
            parent=describe_parent(os.path.dirname(dir_path)),
            source=dict(
                is_dir=os.path.isdir(source_path),
                mode=describe_parent(source_path)['mode'],
                is_mount_point=source_mount is not None,
                bound_to_dir=source_mount is not None and source_mount['device'] == volume_mount['device']
                and os.path.normpath(source_mount['root']) == expected_root,
                mounts_below=below[:params['list_limit']],
                mounts_below_count=len(below),
                entries=dict((name, count_entries(os.path.join(source_path, name))) for name in params['inspect']),
            ),
        )
        if params['platform']:
            result.update(classify(data_root, dir_path, params['platform'], params['unmarked_policy'],
                                   params['marker'], time.time()))
        else:
            result['fresh'] = not data_root['exists']
        staging = result['staging']
        if result['fresh'] and staging['exists'] and not staging['ours']:
            raise Refusal('%s exists and was not made by this collection (it holds no %s); a copy would remove it. '
                          'Move it away. Nothing was changed.' % (staging['path'], params['staging_marker']))
    except Refusal as exc:
        module.fail_json(msg=str(exc), **result)
    if params['measure_copy'] and result['fresh'] and not result['source']['bound_to_dir']:
        size, entries = measure(source_path) if result['source']['is_dir'] else (0, 0)
        # An unfinished copy of ours is removed before the copy: what it holds is free for it.
        held, held_entries = measure(result['staging']['path']) if result['staging']['ours'] else (0, 0)
        vfs = os.statvfs(volume)
        reserve = params['reserve_mb'] * 1024 * 1024
        free_bytes = vfs.f_bavail * vfs.f_frsize + held
        free_inodes = vfs.f_favail + held_entries if vfs.f_files else None
        needed_bytes = size + params['plus_bytes']
        needed_inodes = entries + params['plus_inodes']
        result['space'] = dict(
            bytes=size, inodes=entries, free_bytes=free_bytes, free_inodes=free_inodes, reserve_bytes=reserve,
            needed_bytes=needed_bytes, needed_inodes=needed_inodes,
            enough=free_bytes - needed_bytes >= reserve and (free_inodes is None or free_inodes > needed_inodes),
        )
    module.exit_json(**result)


if __name__ == '__main__':
    main()
