# -*- coding: utf-8 -*-
# Copyright: contributors to hyperpod.eks_lifecycle
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import stat
import subprocess
import sys
import time

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
    # The main pid is this process's (its start time is read from /proc).
    pid = os.getpid()
    ctr, log = fake_tools(tmp_path, monkeypatch,
                          'ActiveState=active\nMainPID=%d\n'
                          'ExecStart={ path=/usr/bin/containerd ; argv[]=/usr/bin/containerd --config /etc/x.toml ; }\n'
                          'UnitFileState=disabled\n' % pid)
    failed, result = run_module({'binary': CONTAINERD_21, 'config': fixture('al2023-nodeadm-v3-rendered-runc.toml'),
                                 'daemon': True, 'ctr': ctr, 'address': '/run/c.sock', 'service': 'containerd'})
    assert not failed, result
    assert result['daemon'] == {
        'active_state': 'active', 'main_pid': pid,
        'exec_start': '{ path=/usr/bin/containerd ; argv[]=/usr/bin/containerd --config /etc/x.toml ; }',
        'answers': True,
        'content_root': '/opt/sagemaker/containerd/data-root/io.containerd.content.v1.content',
        'k8s_images': ['localhost/kubernetes/pause:latest', 'sha256:abc'],
        'unit_file_state': 'disabled',
        'started_at': containerd_config_info.started_at(pid),
    }
    assert isinstance(result['daemon']['started_at'], float) and result['daemon']['started_at'] <= time.time()
    calls = log.read_text().splitlines()
    assert calls[0] == ('systemctl show --property=ActiveState --property=MainPID --property=ExecStart '
                        '--property=UnitFileState containerd')
    assert calls[1] == 'ctr --address /run/c.sock version'


@pytest.mark.real_containerd
def test_daemon_that_does_not_answer(run_module, tmp_path, monkeypatch):
    ctr, log = fake_tools(tmp_path, monkeypatch, 'ActiveState=failed\nMainPID=0\nExecStart=\n', ctr_answers=False)
    failed, result = run_module({'binary': CONTAINERD_21, 'config': fixture('al2023-nodeadm-v3-rendered-runc.toml'),
                                 'daemon': True, 'ctr': ctr})
    assert not failed, result
    assert result['daemon'] == {'active_state': 'failed', 'main_pid': 0, 'exec_start': '', 'answers': False,
                                'content_root': None, 'k8s_images': [], 'unit_file_state': None, 'started_at': None}
    assert len(log.read_text().splitlines()) == 2  # no question asked of a daemon that does not answer


def test_daemon_helpers():
    assert containerd_config_info.parse_systemctl_show('A=1\nExecStart=x=y\nbroken\n') == {'A': '1', 'ExecStart': 'x=y'}
    assert containerd_config_info.parse_content_root(CTR_PLUGINS) == \
        '/opt/sagemaker/containerd/data-root/io.containerd.content.v1.content'
    assert containerd_config_info.parse_content_root('Type: x\n') is None


# -- 1.2.0: the sandbox lookup, the daemon's start, the config's origin -------------------------

@pytest.mark.parametrize('image, verbatim, expected', [
    ('localhost/kubernetes/pause', False, 'localhost/kubernetes/pause:latest'),
    ('localhost/kubernetes/pause', True, 'localhost/kubernetes/pause'),
    ('localhost/kubernetes/pause:3.10', False, 'localhost/kubernetes/pause:3.10'),
    ('localhost/kubernetes/pause:3.10', True, 'localhost/kubernetes/pause:3.10'),
    ('localhost:5000/pause', False, 'localhost:5000/pause:latest'),  # a port is not a tag
    ('localhost:5000/pause', True, 'localhost:5000/pause'),
    ('localhost:5000/pause:1', False, 'localhost:5000/pause:1'),
    ('registry/pause@sha256:abc', False, 'registry/pause@sha256:abc'),
    ('registry/pause@sha256:abc', True, 'registry/pause@sha256:abc'),
    (None, False, None),
    (None, True, None),
    ('', False, ''),
])
def test_image_ref(image, verbatim, expected):
    assert containerd_config_info.image_ref(image, verbatim) == expected


def test_image_ref_is_normalized_by_default():
    assert containerd_config_info.image_ref('localhost/kubernetes/pause') == 'localhost/kubernetes/pause:latest'


@pytest.mark.parametrize('lookup, major, minor, expected', [
    ('auto', 1, 7, False),
    ('auto', 2, 0, False),
    ('auto', 2, 1, False),
    ('auto', 2, 2, False),
    ('auto', 2, 3, True),
    ('auto', 2, 10, True),
    ('auto', 3, 0, True),
    ('verbatim', 1, 7, True),
    ('verbatim', 2, 3, True),
    ('normalized', 2, 3, False),
    ('normalized', 3, 0, False),
])
def test_looks_up_verbatim(lookup, major, minor, expected):
    assert containerd_config_info.looks_up_verbatim(lookup, major, minor) is expected


def test_started_at_of_this_process():
    started = containerd_config_info.started_at(os.getpid())
    assert isinstance(started, float)
    assert started <= time.time() + 1  # btime is whole seconds: at most a second off
    with open('/proc/stat') as stat_file:
        boot = int([line.split()[1] for line in stat_file if line.startswith('btime ')][0])
    assert started >= boot
    assert containerd_config_info.started_at(os.getpid()) == started  # the same each time


def test_started_at_of_a_new_process_is_now():
    child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(30)'])
    try:
        started = containerd_config_info.started_at(child.pid)
    finally:
        child.kill()
        child.wait()
    assert abs(started - time.time()) < 60


def test_started_at_of_a_missing_process_is_none():
    with open('/proc/sys/kernel/pid_max') as handle:
        beyond = int(handle.read()) + 1  # no process can have it
    assert containerd_config_info.started_at(beyond) is None


def test_first_line(tmp_path):
    path = tmp_path / 'config.toml'
    path.write_bytes(b'# Written by nodeadm; do not edit\r\nversion = 3\n')
    assert containerd_config_info.first_line(str(path)) == '# Written by nodeadm; do not edit'
    path.write_bytes(b'version = 2')
    assert containerd_config_info.first_line(str(path)) == 'version = 2'
    path.write_bytes(b'#' * 1000 + b'\n')
    assert containerd_config_info.first_line(str(path)) == '#' * 200
    path.write_bytes(b'# \xff\xfe\n')
    head = containerd_config_info.first_line(str(path))  # bytes that are not UTF-8 do not fail it
    assert head.startswith('# ') and len(head) == 4
    path.write_bytes(b'')
    assert containerd_config_info.first_line(str(path)) == ''
    assert containerd_config_info.first_line(str(tmp_path / 'missing')) is None
    assert containerd_config_info.first_line(str(tmp_path)) is None  # a directory


# -- overridden and read_dropins --------------------------------------------------------------

CRI = 'io.containerd.grpc.v1.cri'
BASE_TREE = {
    'version': 2,
    'root': '/var/lib/containerd',
    'imports': ['/etc/containerd/config.d/*.toml'],
    'plugins': {CRI: {'sandbox_image': 'localhost/kubernetes/pause', 'enable_cdi': True,
                      'containerd': {'default_runtime_name': 'runc', 'runtimes': {'runc': {'options': {'SystemdCgroup': True}}}}}},
}


def tree(**changes):
    """BASE_TREE with CHANGES ({dotted.path: value}, None deletes) applied."""
    import copy
    result = copy.deepcopy(BASE_TREE)
    for dotted, value in changes.items():
        keys = dotted.split('|')
        table = result
        for key in keys[:-1]:
            table = table[key]
        if value is None:
            del table[keys[-1]]
        else:
            table[keys[-1]] = value
    return result


def test_overridden_nothing_when_the_layer_keeps_the_base():
    assert containerd_config_info.overridden(BASE_TREE, BASE_TREE, []) == []
    # Keys the layer adds are not the base's.
    layered = tree(**{'state': '/run/containerd', 'plugins|%s|max_container_log_line_size' % CRI: 16384})
    assert containerd_config_info.overridden(BASE_TREE, layered, []) == []


def test_overridden_names_what_the_layer_lost_or_changed():
    layered = tree(**{'plugins|%s|sandbox_image' % CRI: 'registry.k8s.io/pause:3.8',
                      'plugins|%s|enable_cdi' % CRI: None,
                      'plugins|%s|containerd|runtimes|runc|options|SystemdCgroup' % CRI: 'true'})
    assert containerd_config_info.overridden(BASE_TREE, layered, []) == [
        "plugins.%s.sandbox_image: 'localhost/kubernetes/pause' in the base, 'registry.k8s.io/pause:3.8' in the layer" % CRI,
        'plugins.%s.enable_cdi: True in the base, missing in the layer' % CRI,
        "plugins.%s.containerd.runtimes.runc.options.SystemdCgroup: True in the base, 'true' in the layer" % CRI,
    ]


def test_overridden_a_whole_plugin_section_lost():
    layered = tree(**{'plugins|%s' % CRI: {'enable_cdi': True}})
    assert containerd_config_info.overridden(BASE_TREE, layered, [{'version': 2, 'plugins': {CRI: {'enable_cdi': True}}}]) == [
        "plugins.%s.sandbox_image: 'localhost/kubernetes/pause' in the base, missing in the layer" % CRI,
        "plugins.%s.containerd.default_runtime_name: 'runc' in the base, missing in the layer" % CRI,
        'plugins.%s.containerd.runtimes.runc.options.SystemdCgroup: True in the base, missing in the layer' % CRI,
    ]


def test_overridden_skips_what_a_dropin_sets():
    layered = tree(root='/data', **{'plugins|%s|containerd|runtimes|runc|options|SystemdCgroup' % CRI: False})
    dropins = [{'version': 2, 'root': '/data'},
               {'version': 2, 'plugins': {CRI: {'containerd': {'runtimes': {'runc': {'options': {'SystemdCgroup': False}}}}}}}]
    assert containerd_config_info.overridden(BASE_TREE, layered, dropins) == []
    # One drop-in less, and its setting is named.
    assert containerd_config_info.overridden(BASE_TREE, layered, dropins[:1]) == [
        'plugins.%s.containerd.runtimes.runc.options.SystemdCgroup: True in the base, False in the layer' % CRI]


def test_overridden_a_dropin_table_covers_what_is_below_it():
    # A drop-in that sets a table empty (an empty table is a leaf) covers every base setting below it.
    layered = tree(**{'plugins|%s|containerd' % CRI: {}})
    assert containerd_config_info.overridden(BASE_TREE, layered, [{'plugins': {CRI: {'containerd': {}}}}]) == []
    # A drop-in key that only shares a prefix with a base key does not cover it.
    layered = tree(**{'plugins|%s|enable_cdi' % CRI: False})
    assert containerd_config_info.overridden(BASE_TREE, layered, [{'plugins': {CRI: {'enable_cd': False}}}]) == [
        'plugins.%s.enable_cdi: True in the base, False in the layer' % CRI]


def test_overridden_ignores_imports_and_version():
    layered = tree(version=3, imports=['/etc/containerd/config.toml', '/etc/hyperpod/conf.d/*.toml'])
    assert containerd_config_info.overridden(BASE_TREE, layered, []) == []
    assert containerd_config_info.overridden(BASE_TREE, tree(version=None, imports=None), []) == []


def test_overridden_compares_lists_and_types():
    base = {'a': [1, 2], 'b': 1, 'c': 1.5, 'd': {}}
    assert containerd_config_info.overridden(base, {'a': [1, 2], 'b': 1, 'c': 1.5, 'd': {}}, []) == []
    assert containerd_config_info.overridden(base, {'a': [2, 1], 'b': True, 'c': 1.5, 'd': {}}, []) == [
        'a: [1, 2] in the base, [2, 1] in the layer', 'b: 1 in the base, True in the layer']
    assert containerd_config_info.overridden(base, {'a': [1, 2], 'b': 1, 'c': 1.5}, []) == ['d: {} in the base, missing in the layer']


def test_overridden_a_dropin_that_fills_a_table_empty_in_the_base():
    base = {'version': 2, 'proxy_plugins': {}, 'root': '/var/lib/containerd'}
    layered = {'version': 2, 'proxy_plugins': {'soci': {'type': 'snapshot', 'address': '/run/soci.sock'}},
               'root': '/var/lib/containerd'}
    dropin = {'version': 2, 'proxy_plugins': {'soci': {'type': 'snapshot', 'address': '/run/soci.sock'}}}
    assert containerd_config_info.overridden(base, layered, [dropin]) == []


class FailingModule(object):
    def fail_json(self, **kwargs):
        raise AssertionError(kwargs['msg'])


def test_read_dropins_in_name_order_toml_only(tmp_path):
    conf = tmp_path / 'conf.d'
    conf.mkdir()
    (conf / '20-nvidia-runtime.toml').write_text('version = 2\nname = "20"\n')
    (conf / '10-data-root.toml').write_text('version = 2\nroot = "/data"\n')
    (conf / '05.toml.bak').write_text('this is not toml [[[')
    (conf / 'README').write_text('neither')
    (conf / '99.TOML').write_text('not a match either [[[')
    (conf / '30.toml').mkdir()  # a directory
    (conf / '40-empty.toml').write_text('')
    assert containerd_config_info.read_dropins(FailingModule(), str(conf)) == [
        {'version': 2, 'root': '/data'}, {'version': 2, 'name': '20'}, {}]


def test_read_dropins_of_no_directory(tmp_path):
    assert containerd_config_info.read_dropins(FailingModule(), str(tmp_path / 'missing')) == []
    assert containerd_config_info.read_dropins(FailingModule(), None) == []
    assert containerd_config_info.read_dropins(FailingModule(), '') == []
    (tmp_path / 'file').write_text('')
    assert containerd_config_info.read_dropins(FailingModule(), str(tmp_path / 'file')) == []


def test_read_dropins_fails_on_a_broken_one(tmp_path):
    (tmp_path / '10.toml').write_text('root = \n')
    with pytest.raises(AssertionError) as caught:
        containerd_config_info.read_dropins(FailingModule(), str(tmp_path))
    assert str(caught.value).startswith('cannot read the drop-in %s: ' % (tmp_path / '10.toml'))


# -- missing_config, config_exists/mtime/head, sandbox_lookup (fake containerd) -------------------

def logging_binary(tmp_path, version_output, output, rc=0):
    """A containerd stand-in that logs its arguments and prints OUTPUT for any other command."""
    log = tmp_path / 'containerd.calls'
    script = tmp_path / 'containerd'
    script.write_text(
        '#!/bin/sh\n'
        'echo "$*" >> %s\n'
        'if [ "$1" = "--version" ]; then printf "%%s\\n" "%s"; exit 0; fi\n'
        'cat <<\'EOF\'\n%sEOF\n'
        'exit %d\n' % (log, version_output, output, rc))
    script.chmod(stat.S_IRWXU)
    return str(script), log


VERSION_21 = 'containerd github.com/containerd/containerd/v2 v2.1.9 abc'
VERSION_23 = 'containerd github.com/containerd/containerd/v2 v2.3.0 abc'
DEFAULT_V3 = ('version = 3\nroot = "/var/lib/containerd"\nstate = "/run/containerd"\n'
              '[plugins."io.containerd.cri.v1.images".pinned_images]\nsandbox = "localhost/kubernetes/pause"\n')


def test_missing_config_default_reads_the_builtin_defaults(run_module, tmp_path):
    binary, log = logging_binary(tmp_path, VERSION_21, DEFAULT_V3)
    missing = str(tmp_path / 'nope.toml')
    failed, result = run_module({'binary': binary, 'config': missing, 'missing_config': 'default'})
    assert not failed, result
    assert result['config_exists'] is False
    assert result['config_mtime'] is None and result['config_head'] is None
    assert result['root'] == '/var/lib/containerd' and result['schema'] == 3
    assert result['sandbox_image'] == 'localhost/kubernetes/pause'
    assert log.read_text().splitlines() == ['--version', 'config default']  # no dump of the missing file


def test_missing_config_default_reads_an_existing_file(run_module, tmp_path):
    binary, log = logging_binary(tmp_path, VERSION_21, DEFAULT_V3)
    config = tmp_path / 'config.toml'
    config.write_text('# Generated by nodeadm\nversion = 3\n')
    failed, result = run_module({'binary': binary, 'config': str(config), 'missing_config': 'default'})
    assert not failed, result
    assert result['config_exists'] is True
    assert result['config_mtime'] == os.stat(str(config)).st_mtime
    assert result['config_head'] == '# Generated by nodeadm'
    assert log.read_text().splitlines() == ['--version', '--config %s config dump' % config]


@pytest.mark.parametrize('missing_config', [None, 'fail'])
def test_missing_config_fail_is_the_default(run_module, tmp_path, missing_config):
    binary, log = logging_binary(tmp_path, VERSION_21, DEFAULT_V3)
    args = {'binary': binary, 'config': str(tmp_path / 'nope.toml')}
    if missing_config:
        args['missing_config'] = missing_config
    failed, result = run_module(args)
    assert failed
    assert result['msg'] == 'containerd config file %s does not exist' % (tmp_path / 'nope.toml')
    assert not log.exists()  # refused before containerd runs


def test_missing_config_default_still_refuses_a_directory(run_module, tmp_path):
    binary, dummy = logging_binary(tmp_path, VERSION_21, DEFAULT_V3)
    failed, result = run_module({'binary': binary, 'config': str(tmp_path), 'missing_config': 'default'})
    assert failed and 'is not a regular file' in result['msg']


def test_missing_config_default_when_the_defaults_fail(run_module, tmp_path):
    binary, dummy = logging_binary(tmp_path, VERSION_21, 'boom\n', rc=3)
    failed, result = run_module({'binary': binary, 'config': str(tmp_path / 'nope.toml'), 'missing_config': 'default'})
    assert failed
    assert result['msg'].startswith('%s config default failed (rc=3)' % binary)
    assert result['rc'] == 3


def test_missing_config_default_with_unparsable_defaults(run_module, tmp_path):
    binary, dummy = logging_binary(tmp_path, VERSION_21, 'root = \n')
    failed, result = run_module({'binary': binary, 'config': str(tmp_path / 'nope.toml'), 'missing_config': 'default'})
    assert failed
    assert result['msg'].startswith('cannot parse the output of %s config default' % binary)


def test_bad_missing_config_choice(run_module, tmp_path):
    binary, dummy = logging_binary(tmp_path, VERSION_21, DEFAULT_V3)
    failed, result = run_module({'binary': binary, 'config': str(tmp_path / 'nope.toml'), 'missing_config': 'ignore'})
    assert failed and 'missing_config' in result['msg']


@pytest.mark.parametrize('version, lookup, ref', [
    (VERSION_21, 'auto', 'localhost/kubernetes/pause:latest'),
    (VERSION_23, 'auto', 'localhost/kubernetes/pause'),
    (VERSION_21, 'verbatim', 'localhost/kubernetes/pause'),
    (VERSION_23, 'normalized', 'localhost/kubernetes/pause:latest'),
])
def test_sandbox_lookup(run_module, tmp_path, version, lookup, ref):
    binary, dummy = logging_binary(tmp_path, version, DEFAULT_V3)
    config = tmp_path / 'config.toml'
    config.write_text('version = 3\n')
    failed, result = run_module({'binary': binary, 'config': str(config), 'sandbox_lookup': lookup})
    assert not failed, result
    assert result['sandbox_image'] == 'localhost/kubernetes/pause'
    assert result['sandbox_image_ref'] == ref


@pytest.mark.parametrize('version, lookup, ok', [
    (VERSION_21, 'auto', True),  # the daemon adds :latest, and has that image
    (VERSION_23, 'auto', False),  # the daemon looks up the untagged name, which it does not have
    (VERSION_23, 'normalized', True),
    (VERSION_21, 'verbatim', False),
])
def test_sandbox_image_ok_follows_the_lookup(run_module, tmp_path, monkeypatch, version, lookup, ok):
    binary, dummy = logging_binary(tmp_path, version, DEFAULT_V3)
    config = tmp_path / 'config.toml'
    config.write_text('version = 3\n')
    ctr, dummy = fake_tools(tmp_path, monkeypatch, 'ActiveState=active\nMainPID=0\nExecStart=\n')
    failed, result = run_module({'binary': binary, 'config': str(config), 'sandbox_lookup': lookup, 'daemon': True,
                                 'ctr': ctr})
    assert not failed, result
    assert result['daemon']['k8s_images'] == ['localhost/kubernetes/pause:latest', 'sha256:abc']
    assert result['sandbox_image_ok'] is ok


# -- layer_dropins with the real binaries ---------------------------------------------------------

BASE_17 = '''version = 2
root = "/var/lib/containerd"
[plugins."io.containerd.grpc.v1.cri"]
sandbox_image = "localhost/kubernetes/pause:3.10"
max_container_log_line_size = 1000
'''
BASE_21 = '''version = 3
root = "/var/lib/containerd"
[plugins."io.containerd.cri.v1.images".pinned_images]
sandbox = "localhost/kubernetes/pause"
[plugins."io.containerd.cri.v1.runtime"]
max_container_log_line_size = 1000
'''


def layered_files(tmp_path, base, dropins, schema):
    (tmp_path / 'base.toml').write_text(base)
    conf = tmp_path / 'conf.d'
    conf.mkdir()
    for name, text in dropins.items():
        (conf / name).write_text(text)
    imports = [str(tmp_path / 'base.toml'), '%s/*.toml' % conf]
    (tmp_path / 'layer.toml').write_text('version = %d\nimports = ["%s", "%s"]\n' % (schema, imports[0], imports[1]))
    return {'config': str(tmp_path / 'base.toml'), 'layered': str(tmp_path / 'layer.toml'), 'layer_dropins': str(conf)}, imports


@pytest.mark.parametrize('binary, base, schema', [
    (CONTAINERD_17, BASE_17, 2),
    (CONTAINERD_21, BASE_21, 3),
])
@pytest.mark.real_containerd
def test_a_layer_that_keeps_the_base(run_module, tmp_path, binary, base, schema):
    files, imports = layered_files(tmp_path, base, {'10-data-root.toml': 'version = %d\nroot = "/data"\n' % schema,
                                                    'README': 'not imported, not read'}, schema)
    failed, result = run_module(dict(files, binary=binary))
    assert not failed, result
    assert result['root'] == '/var/lib/containerd'
    assert result['layered']['root'] == '/data'
    assert result['layered']['imports'] == imports
    assert result['layered']['overridden'] == []
    assert result['config_exists'] is True and result['config_head'] == 'version = %d' % schema


@pytest.mark.real_containerd
def test_containerd_17_replaces_a_whole_plugin_section_from_a_dropin(run_module, tmp_path):
    """containerd before 2.1 replaces a whole plugin section from an import: the base's settings in
    that section that the drop-in does not carry fall back to containerd's defaults."""
    files, dummy = layered_files(tmp_path, BASE_17, {'20-cdi.toml': 'version = 2\n[plugins."io.containerd.grpc.v1.cri"]\n'
                                                                    'enable_cdi = true\n'}, 2)
    failed, result = run_module(dict(files, binary=CONTAINERD_17))
    assert not failed, result
    assert result['merges_plugin_sections'] is False
    cri = result['layered']['config']['plugins'][CRI]
    assert cri['enable_cdi'] is True
    assert cri['sandbox_image'] != 'localhost/kubernetes/pause:3.10'  # containerd's default
    assert result['layered']['overridden'] == [
        'plugins.io.containerd.grpc.v1.cri.max_container_log_line_size: 1000 in the base, 16384 in the layer',
        "plugins.io.containerd.grpc.v1.cri.sandbox_image: 'localhost/kubernetes/pause:3.10' in the base, %r in the layer"
        % cri['sandbox_image'],
    ]


@pytest.mark.real_containerd
def test_containerd_21_merges_a_plugin_section_from_a_dropin(run_module, tmp_path):
    files, dummy = layered_files(tmp_path, BASE_21, {'20-cdi.toml': 'version = 3\n[plugins."io.containerd.cri.v1.runtime"]\n'
                                                                    'enable_cdi = false\n'}, 3)
    failed, result = run_module(dict(files, binary=CONTAINERD_21))
    assert not failed, result
    assert result['merges_plugin_sections'] is True
    assert result['layered']['config']['plugins']['io.containerd.cri.v1.runtime']['enable_cdi'] is False
    assert result['layered']['config']['plugins']['io.containerd.cri.v1.runtime']['max_container_log_line_size'] == 1000
    assert result['layered']['overridden'] == []


@pytest.mark.real_containerd
def test_a_dropin_carrying_the_whole_section_keeps_the_base_on_17(run_module, tmp_path):
    """What the roles write for containerd 1.7: the base's section with the setting applied."""
    section = ('version = 2\n[plugins."io.containerd.grpc.v1.cri"]\nsandbox_image = "localhost/kubernetes/pause:3.10"\n'
               'max_container_log_line_size = 1000\nenable_cdi = true\n')
    files, dummy = layered_files(tmp_path, BASE_17, {'20-cdi.toml': section}, 2)
    failed, result = run_module(dict(files, binary=CONTAINERD_17))
    assert not failed, result
    assert result['layered']['overridden'] == []


@pytest.mark.real_containerd
def test_overridden_only_with_layer_dropins(run_module, tmp_path):
    files, imports = layered_files(tmp_path, BASE_21, {'10.toml': 'version = 3\nroot = "/data"\n'}, 3)
    del files['layer_dropins']
    failed, result = run_module(dict(files, binary=CONTAINERD_21))
    assert not failed, result
    assert 'overridden' not in result['layered']
    assert result['layered']['imports'] == imports


@pytest.mark.real_containerd
def test_a_broken_dropin_fails_the_layered_read(run_module, tmp_path):
    files, dummy = layered_files(tmp_path, BASE_21, {'10.toml': 'version = 3\nroot = \n'}, 3)
    failed, result = run_module(dict(files, binary=CONTAINERD_21))
    assert failed
    assert str(tmp_path / 'conf.d' / '10.toml') in result['msg']


@pytest.mark.real_containerd
def test_missing_config_default_with_the_real_binaries(run_module, tmp_path):
    for binary, schema in ((CONTAINERD_17, 2), (CONTAINERD_21, 3)):
        failed, result = run_module({'binary': binary, 'config': str(tmp_path / 'nope.toml'), 'missing_config': 'default'})
        assert not failed, result
        assert result['config_exists'] is False and result['config_mtime'] is None and result['config_head'] is None
        assert result['schema'] == schema
        assert result['root'] == '/var/lib/containerd'
        assert result['sandbox_image'].startswith('registry.k8s.io/pause:')
