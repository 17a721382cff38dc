# -*- coding: utf-8 -*-
# Copyright: contributors to hyperpod.eks_lifecycle
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import base64
import os

import pytest

from ansible_collections.hyperpod.eks_lifecycle.plugins.modules import containerd_config_files
from ansible_collections.hyperpod.eks_lifecycle.tests.unit.plugins.modules.utils import (
    CONTAINERD_17, CONTAINERD_21, run_main)


LAYER = 'version = 3\nimports = ["/etc/containerd/config.toml"]\n'
DROPIN = 'version = 3\nroot = "/opt/sagemaker/containerd/data-root"\n'
UNIT = '[Service]\nExecStart=\nExecStart=/usr/bin/containerd --config /etc/containerd/hyperpod/config.toml\n'


@pytest.fixture
def run_module(monkeypatch):
    return lambda args: run_main(monkeypatch, containerd_config_files, args)


def layer(tmp_path, **overrides):
    files = [
        {'path': str(tmp_path / 'hyperpod' / 'config.toml'), 'content': LAYER},
        {'path': str(tmp_path / 'hyperpod' / 'conf.d' / '10-data-root.toml'), 'content': DROPIN},
        {'path': str(tmp_path / 'systemd' / 'containerd.service.d' / '50-layer.conf'), 'content': UNIT,
         'validate': 'none'},
    ]
    args = {'binary': CONTAINERD_21, 'files': files}
    args.update(overrides)
    return args


def leftovers(tmp_path):
    return [p for p in tmp_path.rglob('.*') if p.is_file()]


@pytest.mark.parametrize('binary', [CONTAINERD_17, CONTAINERD_21])
@pytest.mark.real_containerd
def test_writes_every_file_once_then_changes_nothing(run_module, tmp_path, binary):
    args = layer(tmp_path, binary=binary)
    if binary == CONTAINERD_17:  # 1.7 reads version 2 files
        for spec in args['files'][:2]:
            spec['content'] = spec['content'].replace('version = 3', 'version = 2')
    failed, result = run_module(args)
    assert not failed, result
    assert result['changed'] is True
    assert result['changed_files'] == [f['path'] for f in args['files']]
    assert all(p == {'path': f['path'], 'existed': False, 'content': ''} for p, f in zip(result['previous'], args['files']))
    for spec in args['files']:
        assert open(spec['path']).read() == spec['content']
        assert os.stat(spec['path']).st_mode & 0o7777 == 0o644
    assert os.stat(str(tmp_path / 'hyperpod' / 'conf.d')).st_mode & 0o7777 == 0o755
    assert leftovers(tmp_path) == []

    failed, again = run_module(args)
    assert not failed, again
    assert again == {'changed': False, 'changed_files': [], 'previous': []}


@pytest.mark.real_containerd
def test_a_changed_file_returns_what_it_held(run_module, tmp_path):
    assert run_module(layer(tmp_path))[1]['changed']
    args = layer(tmp_path)
    args['files'][1]['content'] = DROPIN.replace('/opt/sagemaker', '/data')
    os.chmod(args['files'][0]['path'], 0o666)  # drifted mode: put back
    failed, result = run_module(dict(args, _ansible_diff=True))
    assert not failed, result
    assert result['changed_files'] == [args['files'][0]['path'], args['files'][1]['path']]
    assert base64.b64decode(result['previous'][1]['content']).decode() == DROPIN
    assert result['previous'][1]['existed'] is True
    assert os.stat(args['files'][0]['path']).st_mode & 0o7777 == 0o644
    assert result['diff'][1] == {'before_header': args['files'][1]['path'], 'after_header': args['files'][1]['path'],
                                 'before': DROPIN, 'after': args['files'][1]['content']}


@pytest.mark.real_containerd
def test_a_config_containerd_rejects_is_never_written(run_module, tmp_path):
    assert run_module(layer(tmp_path))[1]['changed']
    args = layer(tmp_path)
    args['files'][1]['content'] = 'version = 3\nroot = [not toml\n'
    failed, result = run_module(args)
    assert failed
    assert 'containerd rejects the new %s, which was not written' % args['files'][1]['path'] in result['msg']
    assert open(args['files'][1]['path']).read() == DROPIN
    assert leftovers(tmp_path) == []


@pytest.mark.real_containerd
def test_check_mode_validates_and_writes_nothing(run_module, tmp_path):
    args = layer(tmp_path, _ansible_check_mode=True)
    failed, result = run_module(args)
    assert not failed, result
    assert result['changed'] is True and len(result['changed_files']) == 3
    assert not (tmp_path / 'hyperpod').exists()
    args['files'][0]['content'] = 'version = = 3\n'
    failed, result = run_module(args)
    assert failed and 'containerd rejects' in result['msg']


@pytest.mark.real_containerd
def test_absent_removes_and_returns_the_content(run_module, tmp_path):
    assert run_module(layer(tmp_path))[1]['changed']
    path = str(tmp_path / 'hyperpod' / 'conf.d' / '10-data-root.toml')
    failed, result = run_module({'binary': CONTAINERD_21, 'files': [{'path': path, 'state': 'absent'}]})
    assert not failed, result
    assert result['changed_files'] == [path] and not os.path.exists(path)
    assert base64.b64decode(result['previous'][0]['content']).decode() == DROPIN
    failed, result = run_module({'binary': CONTAINERD_21, 'files': [{'path': path, 'state': 'absent'}]})
    assert result['changed'] is False


@pytest.mark.parametrize('files, message', [
    ([{'path': '/x/a.toml', 'content': ''}, {'path': '/x/a.toml', 'content': ''}], 'a file is listed twice: /x/a.toml'),
    ([{'path': '/x/a.toml'}], '/x/a.toml: content is required when state is present'),
    ([{'path': '/x/a.toml', 'content': '', 'mode': '0999'}], "mode '0999' is not an octal number"),
])
@pytest.mark.real_containerd
def test_bad_arguments(run_module, files, message):
    failed, result = run_module({'binary': CONTAINERD_21, 'files': files})
    assert failed and message in result['msg'], result


@pytest.mark.real_containerd
def test_a_directory_in_the_way_is_refused(run_module, tmp_path):
    (tmp_path / 'config.toml').mkdir()
    failed, result = run_module({'binary': CONTAINERD_21, 'files': [{'path': str(tmp_path / 'config.toml'), 'content': LAYER}]})
    assert failed and 'exists and is not a regular file' in result['msg']


def test_a_missing_binary_is_refused(run_module, tmp_path):
    failed, result = run_module(layer(tmp_path, binary=str(tmp_path / 'nope')))
    assert failed and 'does not exist or is not executable' in result['msg']
    assert not (tmp_path / 'hyperpod').exists()


def test_data_is_written_as_json_and_text_as_it_is(run_module, tmp_path):
    path = str(tmp_path / 'marker.json')
    marker = {'written_by': 'hyperpod.eks_lifecycle', 'platform': 'al2023'}
    failed, result = run_module({'files': [{'path': path, 'content': marker, 'validate': 'none'}]})
    assert not failed, result
    # Byte for byte what `{{ marker | to_nice_json }}` followed by a newline gives.
    assert open(path).read() == '{\n    "platform": "al2023",\n    "written_by": "hyperpod.eks_lifecycle"\n}\n'
    assert run_module({'files': [{'path': path, 'content': marker, 'validate': 'none'}]})[1]['changed'] is False
    failed, result = run_module({'files': [{'path': path, 'content': 42, 'validate': 'none'}]})
    assert not failed and open(path).read() == '42'


def test_only_if_missing_never_replaces_a_file(run_module, tmp_path):
    path = tmp_path / 'etc' / 'config.toml'
    spec = {'path': str(path), 'content': '# placeholder\nversion = 3\n', 'only_if_missing': True}
    failed, result = run_module({'binary': CONTAINERD_21, 'files': [spec]})
    assert not failed and result['changed'] and path.read_text() == '# placeholder\nversion = 3\n', result
    # Written by someone else since: kept as it is, whatever the placeholder says.
    path.write_text('version = 3\nroot = "/var/lib/containerd"\n')
    failed, result = run_module({'binary': CONTAINERD_21, 'files': [spec]})
    assert not failed and not result['changed'], result
    assert path.read_text() == 'version = 3\nroot = "/var/lib/containerd"\n'
    assert leftovers(tmp_path) == []


def test_only_if_missing_loses_a_race_to_the_other_writer(monkeypatch, tmp_path):
    from ansible_collections.hyperpod.eks_lifecycle.plugins.module_utils import atomic
    path = tmp_path / 'config.toml'

    def check(candidate):  # the other program writes the file between our check and our link
        path.write_text('theirs\n')
    assert atomic.write_atomic(str(path), b'ours\n', 0o644, check=check, create_only=True) is False
    assert path.read_text() == 'theirs\n'
    assert [p.name for p in tmp_path.iterdir()] == ['config.toml']


def test_check_mode_counts_the_files_the_call_writes_as_there(run_module, tmp_path):
    """A preview of a layer that imports a file the same call creates (nodeadm's placeholder)."""
    base = tmp_path / 'etc' / 'config.toml'
    args = layer(tmp_path)
    args['files'][0]['content'] = 'version = 3\nimports = ["%s", "%s/*.toml"]\n' % (base, tmp_path / 'hyperpod' / 'conf.d')
    args['files'].insert(0, {'path': str(base), 'content': '# placeholder\nversion = 3\n', 'only_if_missing': True})
    args['_ansible_check_mode'] = True
    failed, result = run_module(args)
    assert not failed and result['changed'], result
    assert not base.exists() and not (tmp_path / 'hyperpod').exists()
    # Without the placeholder in the call, the layer is refused: containerd would not start with it.
    del args['files'][0]
    failed, result = run_module(args)
    assert failed and 'which does not exist' in result['msg'], result
