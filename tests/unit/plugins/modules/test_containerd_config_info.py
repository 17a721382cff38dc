# -*- coding: utf-8 -*-
# Copyright: contributors to hyperpod.eks_lifecycle
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import stat

import pytest

from ansible_collections.hyperpod.eks_lifecycle.plugins.modules import containerd_config_info
from ansible_collections.hyperpod.eks_lifecycle.tests.unit.plugins.modules.utils import (
    CONTAINERD_17, CONTAINERD_21, run_main)


FIXTURES = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'module_utils', 'fixtures', 'containerd')


def fixture(name):
    return os.path.join(FIXTURES, name)


@pytest.fixture
def run_module(monkeypatch):
    """Run the module's main() with the given args; return (failed, result)."""
    return lambda args: run_main(monkeypatch, containerd_config_info, args)


def fake_binary(tmp_path, version_output, dump_output, dump_rc=0):
    """A shell script standing in for containerd."""
    script = tmp_path / 'containerd'
    script.write_text(
        '#!/bin/sh\n'
        'if [ "$1" = "--version" ]; then printf "%%s\\n" "%s"; exit 0; fi\n'
        'cat <<\'EOF\'\n%sEOF\n'
        'exit %d\n' % (version_output, dump_output, dump_rc))
    script.chmod(stat.S_IRWXU)
    return str(script)


# -- pure helpers ----------------------------------------------------------------------------

@pytest.mark.parametrize('output, expected', [
    ('containerd github.com/containerd/containerd 1.7.24~ds1 1.7.24~ds1-6+deb13u1\n', ('1.7.24', 1, 7)),
    ('containerd github.com/containerd/containerd/v2 2.1.9+unknown \n', ('2.1.9', 2, 1)),
    ('containerd github.com/containerd/containerd 1.7.27 05044ec0a9a75232cad458027ca83437aae3f4da\n', ('1.7.27', 1, 7)),
    ('containerd github.com/containerd/containerd v1.7.24 88bf19b2105c8b17560993bee28a01ddc2f97182\n', ('1.7.24', 1, 7)),
    ('containerd github.com/containerd/containerd/v2 v2.0.0 207ad711eabd375a01713109a8a197d197ff6542\n', ('2.0.0', 2, 0)),
    ('containerd containerd.io 1.6.33 d2d58213f83a351ca8f528a95fbd145f5654e957\n', ('1.6.33', 1, 6)),
])
def test_parse_version(output, expected):
    assert containerd_config_info.parse_version(output) == expected


@pytest.mark.parametrize('output', ['', 'containerd', 'containerd github.com/containerd/containerd unknown', 'garbage 1'])
def test_parse_version_none(output):
    assert containerd_config_info.parse_version(output) is None


def test_helpers():
    assert containerd_config_info.cri_runtime_plugin(2) == 'io.containerd.grpc.v1.cri'
    assert containerd_config_info.cri_runtime_plugin(3) == 'io.containerd.cri.v1.runtime'
    assert containerd_config_info.cri_runtime_plugin(None) == 'io.containerd.grpc.v1.cri'
    assert containerd_config_info.merges_plugin_sections(1, 7) is False
    assert containerd_config_info.merges_plugin_sections(2, 0) is False
    assert containerd_config_info.merges_plugin_sections(2, 1) is True
    assert containerd_config_info.merges_plugin_sections(3, 0) is True


# -- real containerd binaries ----------------------------------------------------------------

@pytest.mark.parametrize('check_mode', [False, True])
@pytest.mark.real_containerd
def test_17_nodeadm_v2(run_module, check_mode):
    failed, result = run_module({'binary': CONTAINERD_17, 'config': fixture('al2023-nodeadm-v2-rendered.toml'),
                                 '_ansible_check_mode': check_mode})
    assert not failed, result
    assert result['changed'] is False
    assert 'ansible_facts' not in result
    assert result['version'] == '1.7.24'
    assert (result['version_major'], result['version_minor']) == (1, 7)
    assert result['schema'] == 2
    assert result['cri_runtime_plugin'] == 'io.containerd.grpc.v1.cri'
    assert result['merges_plugin_sections'] is False
    assert result['root'] == '/var/lib/containerd'
    assert result['state'] == '/run/containerd'
    cri = result['config']['plugins'][result['cri_runtime_plugin']]
    assert cri['sandbox_image'] == 'localhost/kubernetes/pause'
    assert cri['containerd']['default_runtime_name'] == 'runc'
    assert cri['containerd']['runtimes']['runc']['options']['SystemdCgroup'] is True
    assert cri['registry']['config_path'] == '/etc/containerd/certs.d:/etc/docker/certs.d'
    # Defaults are filled in.
    assert cri['max_container_log_line_size'] == 16384


@pytest.mark.real_containerd
def test_17_al2(run_module):
    failed, result = run_module({'binary': CONTAINERD_17, 'config': fixture('al2-eks-containerd-config.toml')})
    assert not failed, result
    cri = result['config']['plugins']['io.containerd.grpc.v1.cri']
    assert cri['sandbox_image'] == 'SANDBOX_IMAGE'
    assert cri['enable_cdi'] is True


@pytest.mark.real_containerd
def test_21_nodeadm_v3(run_module):
    failed, result = run_module({'binary': CONTAINERD_21, 'config': fixture('al2023-nodeadm-v3-rendered-nvidia.toml')})
    assert not failed, result
    assert result['changed'] is False
    assert result['version'] == '2.1.9'
    assert (result['version_major'], result['version_minor']) == (2, 1)
    assert result['schema'] == 3
    assert result['cri_runtime_plugin'] == 'io.containerd.cri.v1.runtime'
    assert result['merges_plugin_sections'] is True
    assert result['root'] == '/var/lib/containerd'
    assert result['state'] == '/run/containerd'
    plugins = result['config']['plugins']
    runtime = plugins[result['cri_runtime_plugin']]
    assert runtime['containerd']['default_runtime_name'] == 'nvidia'
    assert runtime['containerd']['runtimes']['nvidia']['options']['BinaryName'] == '/usr/bin/nvidia-container-runtime'
    assert runtime['enable_cdi'] is True
    assert plugins['io.containerd.cri.v1.images']['pinned_images']['sandbox'] == 'localhost/kubernetes/pause'


@pytest.mark.real_containerd
def test_21_migrates_v2_file(run_module):
    """containerd 2.x loads a version 2 file and reports it in schema 3."""
    failed, result = run_module({'binary': CONTAINERD_21, 'config': fixture('al2023-nodeadm-v2-rendered.toml')})
    assert not failed, result
    assert result['schema'] == 3
    runtime = result['config']['plugins']['io.containerd.cri.v1.runtime']
    assert runtime['containerd']['runtimes']['runc']['options']['SystemdCgroup'] is True
    assert result['config']['plugins']['io.containerd.cri.v1.images']['pinned_images']['sandbox'] == 'localhost/kubernetes/pause'


@pytest.mark.real_containerd
def test_17_rejects_v3_file(run_module):
    failed, result = run_module({'binary': CONTAINERD_17, 'config': fixture('al2023-nodeadm-v3-rendered-runc.toml')})
    assert failed
    assert 'config dump failed' in result['msg']
    assert 'unsupported config version' in result['msg']


@pytest.mark.parametrize('binary', [
    CONTAINERD_17,
    CONTAINERD_21,
])
@pytest.mark.real_containerd
def test_syntax_error(run_module, binary):
    failed, result = run_module({'binary': binary, 'config': fixture('syntax-error.toml')})
    assert failed
    assert 'config dump failed' in result['msg']
    assert fixture('syntax-error.toml') in result['msg']
    assert result['stderr']
    assert result['rc'] != 0


@pytest.mark.parametrize('binary', [
    CONTAINERD_17,
    CONTAINERD_21,
])
@pytest.mark.real_containerd
def test_missing_config(run_module, binary, tmp_path):
    missing = str(tmp_path / 'nope.toml')
    failed, result = run_module({'binary': binary, 'config': missing})
    assert failed
    assert result['msg'] == 'containerd config file %s does not exist' % missing


def test_config_is_a_directory(run_module, tmp_path):
    failed, result = run_module({'binary': '/bin/sh', 'config': str(tmp_path)})
    assert failed
    assert 'is not a regular file' in result['msg']


def test_missing_binary(run_module, tmp_path):
    binary = str(tmp_path / 'containerd')
    failed, result = run_module({'binary': binary, 'config': fixture('al2-eks-containerd-config.toml')})
    assert failed
    assert result['msg'] == 'containerd binary %s does not exist or is not executable' % binary


def test_unparsable_dump(run_module, tmp_path):
    binary = fake_binary(tmp_path, 'containerd github.com/containerd/containerd 1.7.27 abc', 'version = 2\nroot = \n')
    failed, result = run_module({'binary': binary, 'config': fixture('al2-eks-containerd-config.toml')})
    assert failed
    assert 'cannot parse the output of' in result['msg']
    assert 'line 2' in result['msg']


def test_unknown_version_output(run_module, tmp_path):
    binary = fake_binary(tmp_path, 'containerd (devel)', 'version = 2\n')
    failed, result = run_module({'binary': binary, 'config': fixture('al2-eks-containerd-config.toml')})
    assert failed
    assert 'cannot find a version number' in result['msg']


def test_fake_binary_result(run_module, tmp_path):
    binary = fake_binary(tmp_path, 'containerd github.com/containerd/containerd/v2 v2.0.5 abc',
                         'version = 3\nroot = "/data"\nstate = "/run/x"\n[plugins."io.containerd.cri.v1.runtime"]\n')
    failed, result = run_module({'binary': binary, 'config': fixture('al2-eks-containerd-config.toml')})
    assert not failed, result
    assert result['version'] == '2.0.5'
    assert result['merges_plugin_sections'] is False
    assert result['schema'] == 3
    assert result['root'] == '/data'
    assert result['config'] == {'version': 3, 'root': '/data', 'state': '/run/x',
                                'plugins': {'io.containerd.cri.v1.runtime': {}}}


# -- read_files and daemon (one call for what used to take one per file and per command) -----

@pytest.mark.real_containerd
def test_read_files(run_module, tmp_path):
    present = tmp_path / 'config.toml'
    present.write_bytes(b'version = 3\n\xff binary is fine\n')
    (tmp_path / 'a-dir').mkdir()
    failed, result = run_module({'binary': CONTAINERD_21, 'config': fixture('al2023-nodeadm-v3-rendered-runc.toml'),
                                 'read_files': [str(present), str(tmp_path / 'missing'), str(tmp_path / 'a-dir')]})
    assert not failed, result
    assert result['files'] == [
        {'path': str(present), 'exists': True, 'content': 'dmVyc2lvbiA9IDMK/yBiaW5hcnkgaXMgZmluZQo=',
         'mode': '%04o' % (present.stat().st_mode & 0o7777),
         'uid': os.getuid(), 'gid': os.getgid()},
        {'path': str(tmp_path / 'missing'), 'exists': False, 'content': '', 'mode': None, 'uid': None, 'gid': None},
        {'path': str(tmp_path / 'a-dir'), 'exists': False, 'content': '', 'mode': None, 'uid': None, 'gid': None},
    ]
    assert 'daemon' not in result
    assert result['systemd_running'] is os.path.isdir('/run/systemd/system')


CTR_PLUGINS = """Type:          io.containerd.content.v1
ID:            content
Platforms:     linux/amd64
Exports:
               root      /opt/sagemaker/containerd/data-root/io.containerd.content.v1.content
"""


def fake_tools(tmp_path, monkeypatch, systemctl_output, ctr_answers=True):
    """systemctl (on PATH) and ctr stand-ins that log their arguments."""
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    log = tmp_path / 'calls'
    systemctl = bin_dir / 'systemctl'
    systemctl.write_text('#!/bin/sh\necho "systemctl $*" >> %s\ncat <<\'EOF\'\n%sEOF\n' % (log, systemctl_output))
    ctr = bin_dir / 'ctr'
    ctr.write_text(
        '#!/bin/sh\necho "ctr $*" >> %s\n' % log
        + ('exit 1\n' if not ctr_answers else '')
        + 'case "$3 $4 $5" in\n'
        + '  "version  ") echo "Server: 2.1.9" ;;\n'
        + '  "plugins ls --detailed") cat <<\'EOF\'\n%sEOF\n ;;\n' % CTR_PLUGINS
        + '  "--namespace k8s.io images") printf "localhost/kubernetes/pause:latest\\nsha256:abc\\n" ;;\n'
        + 'esac\n')
    for tool in (systemctl, ctr):
        tool.chmod(stat.S_IRWXU)
    monkeypatch.setenv('PATH', '%s:%s' % (bin_dir, os.environ['PATH']))
    return str(ctr), log


@pytest.mark.real_containerd
def test_daemon(run_module, tmp_path, monkeypatch):
    ctr, log = fake_tools(tmp_path, monkeypatch,
                          'ActiveState=active\nMainPID=4242\n'
                          'ExecStart={ path=/usr/bin/containerd ; argv[]=/usr/bin/containerd --config /etc/x.toml ; }\n')
    failed, result = run_module({'binary': CONTAINERD_21, 'config': fixture('al2023-nodeadm-v3-rendered-runc.toml'),
                                 'daemon': True, 'ctr': ctr, 'address': '/run/c.sock', 'service': 'containerd'})
    assert not failed, result
    assert result['daemon'] == {
        'active_state': 'active', 'main_pid': 4242,
        'exec_start': '{ path=/usr/bin/containerd ; argv[]=/usr/bin/containerd --config /etc/x.toml ; }',
        'answers': True,
        'content_root': '/opt/sagemaker/containerd/data-root/io.containerd.content.v1.content',
        'k8s_images': ['localhost/kubernetes/pause:latest', 'sha256:abc'],
    }
    calls = log.read_text().splitlines()
    assert calls[0] == 'systemctl show --property=ActiveState --property=MainPID --property=ExecStart containerd'
    assert calls[1] == 'ctr --address /run/c.sock version'


@pytest.mark.real_containerd
def test_daemon_that_does_not_answer(run_module, tmp_path, monkeypatch):
    ctr, log = fake_tools(tmp_path, monkeypatch, 'ActiveState=failed\nMainPID=0\nExecStart=\n', ctr_answers=False)
    failed, result = run_module({'binary': CONTAINERD_21, 'config': fixture('al2023-nodeadm-v3-rendered-runc.toml'),
                                 'daemon': True, 'ctr': ctr})
    assert not failed, result
    assert result['daemon'] == {'active_state': 'failed', 'main_pid': 0, 'exec_start': '', 'answers': False,
                                'content_root': None, 'k8s_images': []}
    assert len(log.read_text().splitlines()) == 2  # no question asked of a daemon that does not answer


def test_daemon_helpers():
    assert containerd_config_info.parse_systemctl_show('A=1\nExecStart=x=y\nbroken\n') == {'A': '1', 'ExecStart': 'x=y'}
    assert containerd_config_info.parse_content_root(CTR_PLUGINS) == \
        '/opt/sagemaker/containerd/data-root/io.containerd.content.v1.content'
    assert containerd_config_info.parse_content_root('Type: x\n') is None
