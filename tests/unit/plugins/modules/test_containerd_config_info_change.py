# -*- coding: utf-8 -*-
# Copyright: contributors to hyperpod.eks_lifecycle
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""containerd_config_info as the change transaction uses it, with real containerd binaries: the
layered config read in the same call, the check after a change, the sandbox image, the files'
modes."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os

import pytest

from ansible_collections.hyperpod.eks_lifecycle.plugins.modules import containerd_config_info
from ansible_collections.hyperpod.eks_lifecycle.tests.unit.plugins.modules.utils import (
    CONTAINERD_17, CONTAINERD_21, run_main)

BASE_V3 = '''version = 3
root = "/var/lib/containerd"
[plugins."io.containerd.cri.v1.images".pinned_images]
sandbox = "localhost/kubernetes/pause"
[plugins."io.containerd.cri.v1.runtime".containerd]
default_runtime_name = "runc"
[plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc]
runtime_type = "io.containerd.runc.v2"
[plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc.options]
SystemdCgroup = true
'''
BASE_V2 = '''version = 2
root = "/var/lib/containerd"
[plugins."io.containerd.grpc.v1.cri"]
sandbox_image = "localhost/kubernetes/pause:3.10"
'''


@pytest.fixture
def run_module(monkeypatch):
    return lambda args: run_main(monkeypatch, containerd_config_info, args)


def layer(tmp_path, base, dropin):
    (tmp_path / 'base.toml').write_text(base)
    (tmp_path / 'conf.d').mkdir()
    (tmp_path / 'conf.d' / '10.toml').write_text(dropin)
    (tmp_path / 'layer.toml').write_text('version = 3\nimports = ["%s", "%s/*.toml"]\n' % (tmp_path / 'base.toml', tmp_path / 'conf.d'))
    return str(tmp_path / 'base.toml'), str(tmp_path / 'layer.toml')


@pytest.mark.real_containerd
def test_the_layered_config_is_read_in_the_same_call(run_module, tmp_path):
    base, layered = layer(tmp_path, BASE_V3, 'version = 3\nroot = "/data"\n')
    failed, result = run_module({'binary': CONTAINERD_21, 'config': base, 'layered': layered})
    assert not failed, result
    assert result['root'] == '/var/lib/containerd'
    assert result['layered']['exists'] is True and result['layered']['root'] == '/data'
    assert result['layered']['config']['plugins']['io.containerd.cri.v1.runtime']['containerd']['default_runtime_name'] == 'runc'
    failed, result = run_module({'binary': CONTAINERD_21, 'config': base, 'layered': str(tmp_path / 'none.toml')})
    assert not failed and result['layered'] == {'exists': False}


@pytest.mark.real_containerd
def test_a_change_as_asked_has_no_differences_and_a_wrong_one_is_named(run_module, tmp_path):
    base, layered = layer(tmp_path, BASE_V3, 'version = 3\n[plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc.options]\n'
                                             'SystemdCgroup = "true"\n')
    failed, before = run_module({'binary': CONTAINERD_21, 'config': base})
    settings = [{'table': ['plugins', 'io.containerd.cri.v1.runtime', 'containerd', 'runtimes', 'runc', 'options'],
                 'key': 'SystemdCgroup', 'value': True}]
    failed, result = run_module({'binary': CONTAINERD_21, 'config': layered,
                                 'expect': {'settings': settings, 'before': before['config']}})
    assert not failed, result
    # containerd accepts the string (it is an option map); the check does not.
    assert result['differences'] == [
        "plugins.io.containerd.cri.v1.runtime.containerd.runtimes.runc.options.SystemdCgroup: 'true', expected True"]
    failed, result = run_module({'binary': CONTAINERD_21, 'config': base,
                                 'expect': {'settings': settings, 'before': before['config']}})
    assert not failed and result['differences'] == []


@pytest.mark.real_containerd
@pytest.mark.parametrize('binary, base, image, ref', [
    (CONTAINERD_21, BASE_V3, 'localhost/kubernetes/pause', 'localhost/kubernetes/pause:latest'),
    (CONTAINERD_17, BASE_V2, 'localhost/kubernetes/pause:3.10', 'localhost/kubernetes/pause:3.10'),
])
def test_the_sandbox_image_is_named_in_either_schema(run_module, tmp_path, binary, base, image, ref):
    (tmp_path / 'c.toml').write_text(base)
    failed, result = run_module({'binary': binary, 'config': str(tmp_path / 'c.toml')})
    assert not failed, result
    assert result['sandbox_image'] == image and result['sandbox_image_ref'] == ref
    assert 'sandbox_image_ok' not in result  # only with the daemon


@pytest.mark.real_containerd
def test_files_are_read_with_their_mode_and_owner(run_module, tmp_path):
    (tmp_path / 'c.toml').write_text(BASE_V3)
    (tmp_path / 'f').write_text('x')
    os.chmod(str(tmp_path / 'f'), 0o600)
    failed, result = run_module({'binary': CONTAINERD_21, 'config': str(tmp_path / 'c.toml'),
                                 'read_files': [str(tmp_path / 'f'), str(tmp_path / 'missing')]})
    assert not failed, result
    assert result['files'][0]['mode'] == '0600' and result['files'][0]['uid'] == os.getuid()
    assert result['files'][1] == {'path': str(tmp_path / 'missing'), 'exists': False, 'content': '', 'mode': None,
                                  'uid': None, 'gid': None}


def test_image_refs():
    assert containerd_config_info.image_ref('localhost/kubernetes/pause') == 'localhost/kubernetes/pause:latest'
    assert containerd_config_info.image_ref('localhost:5000/pause') == 'localhost:5000/pause:latest'
    assert containerd_config_info.image_ref('registry/pause@sha256:abc') == 'registry/pause@sha256:abc'
    assert containerd_config_info.image_ref(None) is None
