# -*- coding: utf-8 -*-
# Copyright: contributors to hyperpod.eks_lifecycle
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
name: to_toml
short_description: Convert a dictionary to a TOML document (for containerd configuration files)
version_added: 1.0.0
description:
  - Writes a dictionary as a TOML document, deterministically, the way the collection's containerd
    modules read it back.
  - In every table, first the plain values are written (strings, numbers, booleans, arrays, in the order
    of the dictionary), then the sub-tables as C([dotted."quoted.key"]) headers. A key segment is quoted
    (as a double-quoted string) whenever it is not a bare key (letters, digits, C(_) and C(-)).
  - An empty dictionary is written as a header with no keys, so C([plugins."x".y]) survives a round trip.
    A non-empty list whose items are all dictionaries becomes an array of tables (C([[...]])).
options:
  _input:
    description: The data to write; keys must be strings.
    type: dict
    required: true
notes:
  - TOML has no null; a V(null) anywhere in the data is an error, as are types TOML cannot hold.
author:
  - hyperpod.eks_lifecycle contributors (@hyperpod)
seealso:
  - module: hyperpod.eks_lifecycle.containerd_config_set
  - module: hyperpod.eks_lifecycle.containerd_config_info
'''

EXAMPLES = r'''
- name: Write a containerd drop-in that adds the nvidia runtime (containerd 1.7 schema)
  ansible.builtin.copy:
    dest: /etc/containerd/config.d/nvidia.toml
    mode: '0644'
    content: "{{ dropin | hyperpod.eks_lifecycle.to_toml }}"
  vars:
    dropin:
      version: 2
      plugins:
        io.containerd.grpc.v1.cri:
          containerd:
            runtimes:
              nvidia:
                runtime_type: io.containerd.runc.v2
                options:
                  BinaryName: /usr/bin/nvidia-container-runtime
                  SystemdCgroup: true
# The content is:
# version = 2
#
# [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.nvidia]
# runtime_type = "io.containerd.runc.v2"
#
# [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.nvidia.options]
# BinaryName = "/usr/bin/nvidia-container-runtime"
# SystemdCgroup = true
'''

RETURN = r'''
_value:
  description: The TOML document, ending with a newline (empty for an empty dictionary).
  type: string
'''

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.hyperpod.eks_lifecycle.plugins.module_utils.containerd_toml import dumps


def to_toml(data):
    """Return data (a mapping) as a TOML document."""
    if not isinstance(data, Mapping):
        raise AnsibleFilterError('to_toml expects a dictionary, got %s' % type(data).__name__)
    try:
        return dumps(data)
    except (TypeError, ValueError) as exc:
        raise AnsibleFilterError('to_toml cannot write this data: %s' % to_native(exc))


class FilterModule(object):
    """TOML filters."""

    def filters(self):
        return {
            'to_toml': to_toml,
        }
