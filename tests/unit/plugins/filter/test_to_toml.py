# -*- coding: utf-8 -*-
# Copyright: contributors to hyperpod.eks_lifecycle
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.hyperpod.eks_lifecycle.plugins.filter.to_toml import FilterModule, to_toml
from ansible_collections.hyperpod.eks_lifecycle.plugins.module_utils.containerd_toml import loads


DROPIN = {
    'version': 2,
    'plugins': {
        'io.containerd.grpc.v1.cri': {
            'containerd': {
                'runtimes': {
                    'nvidia': {
                        'runtime_type': 'io.containerd.runc.v2',
                        'options': {'BinaryName': '/usr/bin/nvidia-container-runtime', 'SystemdCgroup': True},
                    },
                },
            },
        },
    },
}


def test_registered():
    filters = FilterModule().filters()
    assert filters == {'to_toml': to_toml}


def test_dropin():
    assert to_toml(DROPIN) == (
        'version = 2\n'
        '\n'
        '[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.nvidia]\n'
        'runtime_type = "io.containerd.runc.v2"\n'
        '\n'
        '[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.nvidia.options]\n'
        'BinaryName = "/usr/bin/nvidia-container-runtime"\n'
        'SystemdCgroup = true\n'
    )
    assert loads(to_toml(DROPIN)) == DROPIN


def test_empty_and_leaf_tables():
    assert to_toml({}) == ''
    data = {'plugins': {'io.containerd.internal.v1.tracing': {}}, 'proxy_plugins': {}}
    assert to_toml(data) == '[plugins."io.containerd.internal.v1.tracing"]\n\n[proxy_plugins]\n'
    assert loads(to_toml(data)) == data


class _Dict(dict):
    """Stands in for the dict subclasses Ansible hands to filters."""


class _Str(str):
    """Stands in for AnsibleUnsafeText and other str subclasses."""


def test_subclasses():
    data = _Dict(root=_Str('/data'), imports=[_Str('a.toml')], grpc=_Dict(gid=0))
    assert to_toml(data) == 'root = "/data"\nimports = ["a.toml"]\n\n[grpc]\ngid = 0\n'


@pytest.mark.parametrize('bad, message', [
    (['not', 'a', 'dict'], 'expects a dictionary'),
    ('text', 'expects a dictionary'),
    ({'a': None}, 'null'),
    ({'a': {'b': object()}}, 'a.b'),
    ({1: 'x'}, 'keys must be strings'),
])
def test_errors(bad, message):
    with pytest.raises(AnsibleFilterError) as info:
        to_toml(bad)
    assert message in str(info.value)
