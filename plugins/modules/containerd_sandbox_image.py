#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to hyperpod.eks_lifecycle
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: containerd_sandbox_image
short_description: Make the pinned sandbox image present in the running containerd, from the AMI's archive
version_added: 1.1.0
description:
  - Pods cannot start on a node whose containerd does not have the sandbox (pause) image its
    configuration pins - a C(localhost/) image exists only on the node and cannot be pulled.
  - An EKS AMI ships that image in its own C(/var/lib/containerd) and as an archive
    (C(/etc/eks/pause.tar)). When containerd runs on a data root that another AMI wrote (a data
    volume kept through a software update), the image the new AMI pins may be missing there.
  - This module imports O(archive) into the daemon's O(namespace) when O(ref) is missing, names the
    image O(ref) exactly as written (containerd 2.3 and later look the reference up verbatim), and
    labels it pinned so that image garbage collection keeps it. Images already in the store are
    kept; nothing is removed.
  - Needs a running daemon on O(address).
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  platform:
    platforms: posix
options:
  ref:
    description: The sandbox image reference, as the configuration names it (and the daemon looks it up).
    type: str
    required: true
  archive:
    description: The image archive (C(docker save) or OCI layout tar) to import when O(ref) is missing.
    type: path
    default: /etc/eks/pause.tar
  namespace:
    description: The containerd namespace of Kubernetes' images.
    type: str
    default: k8s.io
  ctr:
    description: The C(ctr) client.
    type: path
    default: /usr/bin/ctr
  address:
    description: The daemon's socket.
    type: path
    default: /run/containerd/containerd.sock
author:
  - hyperpod.eks_lifecycle contributors (@hyperpod)
'''

EXAMPLES = r'''
- name: Make the sandbox image the configuration pins present and pinned
  hyperpod.eks_lifecycle.containerd_sandbox_image:
    ref: localhost/kubernetes/pause:3.10
'''

RETURN = r'''
present:
  description: Whether O(ref) was in the store before this call.
  returned: success
  type: bool
imported:
  description: The references the import added (empty when nothing was imported).
  returned: success
  type: list
  elements: str
pinned:
  description: Whether O(ref) carries the C(io.cri-containerd.pinned=pinned) label (after the call).
  returned: success
  type: bool
'''

import json
import os
import tarfile

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_text

PINNED = 'io.cri-containerd.pinned=pinned'
MAX_MEMBERS = 10000
MAX_INDEX = 1024 * 1024


def parse_images(output):
    """`ctr images ls` output -> {ref: labels string} (the first column, the last one)."""
    images = {}
    lines = to_text(output).splitlines()
    for line in lines[1:]:
        fields = line.split()
        if fields:
            images[fields[0]] = fields[-1] if len(fields) > 5 else ''
    return images


def archive_refs(path):
    """The image references an archive names: RepoTags of a `docker save` manifest.json, or the
    ref.name annotations of an OCI index.json; [] when it names none or cannot be read."""
    refs = []
    found = {}
    try:
        # An uncompressed tar, as `docker save` writes it; its two index files read, small ones only.
        with tarfile.open(path, 'r:') as archive:
            for count, member in enumerate(archive):
                if count > MAX_MEMBERS:
                    break
                if member.name in ('manifest.json', 'index.json') and member.isfile() and member.size <= MAX_INDEX:
                    found[member.name] = json.loads(archive.extractfile(member).read().decode('utf-8'))
        for entry in found.get('manifest.json') or []:
            refs.extend(entry.get('RepoTags') or [])
        for entry in (found.get('index.json') or {}).get('manifests') or []:
            annotations = entry.get('annotations') or {}
            ref = annotations.get('io.containerd.image.name') or annotations.get('org.opencontainers.image.ref.name')
            if ref and ('/' in ref or ':' in ref):
                refs.append(ref)
    except (IOError, OSError, tarfile.TarError, ValueError, AttributeError, KeyError, TypeError, MemoryError):
        return []
    return [to_text(ref) for ref in refs if isinstance(ref, str) and ref]


class Ctr(object):
    def __init__(self, module):
        params = module.params
        self.module = module
        self.base = [params['ctr'], '--address', params['address'], '--namespace', params['namespace']]

    def run(self, *args):
        cmd = self.base + list(args)
        rc, out, err = self.module.run_command(cmd)
        if rc != 0:
            self.module.fail_json(msg='%s failed (rc=%d): %s' % (' '.join(cmd), rc, to_text(err).strip() or to_text(out).strip()),
                                  rc=rc, stdout=out, stderr=err, cmd=cmd)
        return out

    def images(self):
        return parse_images(self.run('images', 'ls'))


def main():
    module = AnsibleModule(
        argument_spec=dict(
            ref=dict(type='str', required=True),
            archive=dict(type='path', default='/etc/eks/pause.tar'),
            namespace=dict(type='str', default='k8s.io'),
            ctr=dict(type='path', default='/usr/bin/ctr'),
            address=dict(type='path', default='/run/containerd/containerd.sock'),
        ),
        supports_check_mode=True,
    )
    ref = module.params['ref']
    archive = module.params['archive']
    if not ref or any(c.isspace() for c in ref) or ref.startswith('-'):
        module.fail_json(msg='the sandbox image reference %r is not a reference' % ref)
    if not os.access(module.params['ctr'], os.X_OK):
        module.fail_json(msg='%s does not exist or is not executable' % module.params['ctr'])
    ctr = Ctr(module)
    before = ctr.images()
    present = ref in before
    pinned = present and PINNED in before[ref].split(',')
    if present and pinned:
        module.exit_json(changed=False, present=True, imported=[], pinned=True)
    if not present and not os.path.isfile(archive):
        module.fail_json(msg='the sandbox image %s is not in containerd (namespace %s) and %s, the archive to import it '
                             'from, does not exist: pods cannot start on this node' % (ref, module.params['namespace'], archive),
                         present=False, imported=[], pinned=False)
    if module.check_mode:
        module.exit_json(changed=True, present=present, imported=[], pinned=False)
    imported = []
    if not present:
        ctr.run('images', 'import', '--', archive)
        after = ctr.images()
        imported = sorted(set(after) - set(before))
        if ref not in after and '@' in ref:
            # A digest names one image: another one tagged with it would be another image.
            module.fail_json(msg='importing %s did not give %s (a reference by digest is never tagged onto another image)'
                                 % (archive, ref), present=False, imported=imported, pinned=False)
        if ref not in after:
            # The archive names the image otherwise (another registry, a tag where the configuration
            # has none): the same image under the name the configuration looks up.
            sources = [name for name in archive_refs(archive) if name in after] or \
                [name for name in imported if not name.startswith('sha256:')]
            if not sources:
                module.fail_json(msg='importing %s gave no image to name %s; the sandbox image is still missing' % (archive, ref),
                                 present=False, imported=imported, pinned=False)
            ctr.run('images', 'tag', '--', sources[0], ref)
            imported.append(ref)
    ctr.run('images', 'label', '--', ref, PINNED)
    after = ctr.images()
    if ref not in after:
        module.fail_json(msg='the sandbox image %s is still not in containerd after the import of %s' % (ref, archive),
                         present=present, imported=imported, pinned=False)
    module.exit_json(changed=True, present=present, imported=imported, pinned=PINNED in after[ref].split(','))


if __name__ == '__main__':
    main()
