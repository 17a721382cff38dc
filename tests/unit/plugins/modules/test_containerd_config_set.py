# -*- coding: utf-8 -*-
# Copyright: contributors to hyperpod.eks_lifecycle
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import stat
import subprocess

import pytest

from ansible_collections.hyperpod.eks_lifecycle.plugins.module_utils import atomic
from ansible_collections.hyperpod.eks_lifecycle.plugins.module_utils.containerd_toml import loads
from ansible_collections.hyperpod.eks_lifecycle.plugins.modules import containerd_config_set
from ansible_collections.hyperpod.eks_lifecycle.tests.unit.plugins.modules.utils import (
    CONTAINERD_17, CONTAINERD_21, run_main)


FIXTURES = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'module_utils', 'fixtures', 'containerd')

CRI = ['plugins', 'io.containerd.grpc.v1.cri']
NVIDIA = CRI + ['containerd', 'runtimes', 'nvidia']
NVIDIA_SETTINGS = [
    {'table': NVIDIA, 'key': 'runtime_type', 'value': 'io.containerd.runc.v2'},
    {'table': NVIDIA + ['options'], 'key': 'BinaryName', 'value': '/usr/bin/nvidia-container-runtime'},
    {'table': NVIDIA + ['options'], 'key': 'SystemdCgroup', 'value': True},
]
NVIDIA_BLOCK = (
    '\n'
    '[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.nvidia]\n'
    'runtime_type = "io.containerd.runc.v2"\n'
    '\n'
    '[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.nvidia.options]\n'
    'BinaryName = "/usr/bin/nvidia-container-runtime"\n'
    'SystemdCgroup = true\n'
)


def read_fixture(name):
    with open(os.path.join(FIXTURES, name), 'rb') as handle:
        return handle.read().decode('utf-8')


def read(path):
    with open(str(path), 'rb') as handle:
        return handle.read().decode('utf-8')


@pytest.fixture
def config(tmp_path):
    """Return a function copying a fixture (or writing text) to tmp_path/etc/config.toml."""
    directory = tmp_path / 'etc'
    directory.mkdir()

    def make(name=None, text=None):
        path = directory / 'config.toml'
        path.write_bytes((read_fixture(name) if text is None else text).encode('utf-8'))
        return str(path)

    return make


@pytest.fixture
def run_module(monkeypatch):
    """Run the module's main() with the given args; return (failed, result)."""
    def run(args, check_mode=False, diff=False):
        return run_main(monkeypatch, containerd_config_set,
                        dict(args, _ansible_check_mode=check_mode, _ansible_diff=diff))

    return run


def changed_lines(before, after):
    """Lines of before that are not in after and lines of after not in before (multiset-aware)."""
    old, new = before.splitlines(True), after.splitlines(True)
    removed = list(old)
    added = []
    for line in new:
        if line in removed:
            removed.remove(line)
        else:
            added.append(line)
    return removed, added


def leftovers(path):
    directory = os.path.dirname(path)
    return sorted(name for name in os.listdir(directory) if name != os.path.basename(path))


# -- replacing existing keys -----------------------------------------------------------------

def test_set_root_al2(run_module, config):
    path = config('al2-eks-containerd-config.toml')
    before = read(path)
    failed, result = run_module({'path': path, 'settings': [{'key': 'root', 'value': '/opt/sagemaker/containerd'}]})
    assert not failed, result
    assert result['changed'] is True
    assert result['previous'] == ['/var/lib/containerd']
    after = read(path)
    assert after == before.replace('root = "/var/lib/containerd"\n', 'root = "/opt/sagemaker/containerd"\n')
    assert leftovers(path) == []


def test_set_root_only_top_level(run_module, config):
    path = config('commented-root.toml')
    before = read(path)
    failed, result = run_module({'path': path, 'settings': [{'table': [], 'key': 'root', 'value': '/data'}]})
    assert not failed, result
    assert result['changed'] is True
    assert result['previous'] == ['/var/lib/containerd']
    after = read(path)
    assert changed_lines(before, after) == (['root = "/var/lib/containerd" # data root\n'],
                                            ['root = "/data" # data root\n'])
    assert '#root = "/x"\n' in after
    assert '  root = "/nested"\n' in after
    data = loads(after)
    assert data['root'] == '/data'
    assert data['plugins']['io.containerd.snapshotter.v1.native']['root'] == '/nested'


def test_set_nested_root_only(run_module, config):
    path = config('commented-root.toml')
    before = read(path)
    failed, result = run_module({'path': path, 'settings': [
        {'table': ['plugins', 'io.containerd.snapshotter.v1.native'], 'key': 'root', 'value': '/other'}]})
    assert not failed, result
    assert result['previous'] == ['/nested']
    assert read(path) == before.replace('  root = "/nested"\n', '  root = "/other"\n')


def test_insert_root_after_leading_comments(run_module, config):
    path = config('no-root.toml')
    failed, result = run_module({'path': path, 'settings': [{'key': 'root', 'value': '/data'}]})
    assert not failed, result
    assert result['previous'] == [None]
    assert read(path) == (
        '# Only a comment on top, then tables.\n'
        '#root = "/var/lib/containerd"\n'
        'root = "/data"\n'
        '\n'
        '[grpc]\n'
        'address = "/run/containerd/containerd.sock"\n')


def test_insert_root_after_last_top_level_key(run_module, config):
    text = read_fixture('al2-eks-containerd-config.toml').replace('root = "/var/lib/containerd"\n', '')
    path = config(text=text)
    failed, result = run_module({'path': path, 'settings': [{'key': 'root', 'value': '/data'}]})
    assert not failed, result
    assert result['changed'] is True
    assert result['previous'] == [None]
    assert read(path) == text.replace('imports = ["/etc/containerd/config.d/*.toml"]\n',
                                      'imports = ["/etc/containerd/config.d/*.toml"]\nroot = "/data"\n')


def test_insert_top_level_without_comments(run_module, config):
    path = config(text='[grpc]\naddress = "/x"\n')
    failed, result = run_module({'path': path, 'settings': [{'key': 'version', 'value': 2}]})
    assert not failed, result
    assert read(path) == 'version = 2\n[grpc]\naddress = "/x"\n'


def test_set_default_runtime_name(run_module, config):
    path = config('al2-eks-containerd-config.toml')
    before = read(path)
    failed, result = run_module({'path': path, 'settings': [
        {'table': CRI + ['containerd'], 'key': 'default_runtime_name', 'value': 'nvidia'}]})
    assert not failed, result
    assert result['previous'] == ['runc']
    assert read(path) == before.replace('default_runtime_name = "runc"', 'default_runtime_name = "nvidia"')


def test_insert_into_existing_table(run_module, config):
    path = config('al2-eks-containerd-config.toml')
    before = read(path)
    failed, result = run_module({'path': path, 'settings': [
        {'table': CRI + ['containerd'], 'key': 'snapshotter', 'value': 'overlayfs'}]})
    assert not failed, result
    assert result['previous'] == [None]
    assert read(path) == before.replace('discard_unpacked_layers = true\n',
                                        'discard_unpacked_layers = true\nsnapshotter = "overlayfs"\n')


def test_insert_into_indented_table_and_empty_table(run_module, config):
    text = ('version = 2\n\n[plugins]\n\n  [plugins."io.containerd.grpc.v1.cri"]\n    a = 1  # c\n\n'
            '    [plugins."io.containerd.grpc.v1.cri".registry.mirrors]\n\n[proxy_plugins]\n')
    path = config(text=text)
    failed, result = run_module({'path': path, 'settings': [
        {'table': CRI, 'key': 'b', 'value': 2},
        {'table': CRI + ['registry', 'mirrors'], 'key': 'c', 'value': 3},
        {'table': ['plugins'], 'key': 'd', 'value': 4},
    ]})
    assert not failed, result
    assert read(path) == (
        'version = 2\n\n[plugins]\nd = 4\n\n  [plugins."io.containerd.grpc.v1.cri"]\n    a = 1  # c\n    b = 2\n\n'
        '    [plugins."io.containerd.grpc.v1.cri".registry.mirrors]\n    c = 3\n\n[proxy_plugins]\n')


def test_new_header_for_implied_super_table(run_module, config):
    """A table implied only by its sub-tables' headers gets a header of its own at the end."""
    path = config('al2-eks-containerd-config.toml')
    before = read(path)
    failed, result = run_module({'path': path, 'settings': [
        {'table': CRI + ['containerd', 'runtimes'], 'key': 'x', 'value': 'y'}]})
    assert not failed, result
    assert read(path) == before + '\n[plugins."io.containerd.grpc.v1.cri".containerd.runtimes]\nx = "y"\n'


def test_v3_single_quoted_headers(run_module, config):
    path = config('al2023-nodeadm-v3-rendered-runc.toml')
    before = read(path)
    failed, result = run_module({'path': path, 'settings': [
        {'table': ['plugins', 'io.containerd.cri.v1.runtime', 'containerd'], 'key': 'default_runtime_name',
         'value': 'nvidia'},
        {'table': ['plugins', 'io.containerd.cri.v1.images', 'registry'], 'key': 'config_path', 'value': '/etc/x'},
        {'table': ['plugins', 'io.containerd.cri.v1.images', 'pinned_images'], 'key': 'sandbox',
         'value': 'localhost/kubernetes/pause'},
    ]})
    assert not failed, result
    assert result['previous'] == ['runc', '/etc/containerd/certs.d:/etc/docker/certs.d', 'localhost/kubernetes/pause']
    assert read(path) == before.replace('default_runtime_name = "runc"', 'default_runtime_name = "nvidia"').replace(
        'config_path = "/etc/containerd/certs.d:/etc/docker/certs.d"', 'config_path = "/etc/x"')


def test_equal_value_keeps_its_spelling(run_module, config):
    text = "version = 3\nroot = '/var/lib/containerd'\n[a]\nn = 0x10\nf = 1e2\nl = [ 'x' ]\n"
    path = config(text=text)
    failed, result = run_module({'path': path, 'settings': [
        {'key': 'root', 'value': '/var/lib/containerd'},
        {'table': ['a'], 'key': 'n', 'value': 16},
        {'table': ['a'], 'key': 'f', 'value': 100.0},
        {'table': ['a'], 'key': 'l', 'value': ['x']},
    ]})
    assert not failed, result
    assert result['changed'] is False
    assert read(path) == text


def test_type_change_is_a_change(run_module, config):
    path = config(text='a = 1\nb = "true"\nc = 1\n')
    failed, result = run_module({'path': path, 'settings': [
        {'key': 'a', 'value': True},
        {'key': 'b', 'value': True},
        {'key': 'c', 'value': 1.5},
    ]})
    assert not failed, result
    assert result['previous'] == [1, 'true', 1]
    assert read(path) == 'a = true\nb = true\nc = 1.5\n'


def test_quoted_key_matches(run_module, config):
    path = config(text='[timeouts]\n  "io.containerd.timeout.shim.load" = "5s"\n  \'plain\' = 1\n')
    failed, result = run_module({'path': path, 'settings': [
        {'table': ['timeouts'], 'key': 'io.containerd.timeout.shim.load', 'value': '10s'},
        {'table': ['timeouts'], 'key': 'plain', 'value': 2},
    ]})
    assert not failed, result
    assert read(path) == '[timeouts]\n  "io.containerd.timeout.shim.load" = "10s"\n  \'plain\' = 2\n'


def test_string_escaping(run_module, config):
    path = config(text='a = ""\n')
    value = u'quote " backslash \\ tab \t newline \n unicode \u00e9'
    failed, result = run_module({'path': path, 'settings': [{'key': 'a', 'value': value}]})
    assert not failed, result
    assert read(path) == u'a = "quote \\" backslash \\\\ tab \\t newline \\n unicode \u00e9"\n'
    assert loads(read(path))['a'] == value


# -- new tables ------------------------------------------------------------------------------

def test_add_nvidia_runtime_tables(run_module, config):
    path = config('al2-eks-containerd-config.toml')
    before = read(path)
    failed, result = run_module({'path': path, 'settings': NVIDIA_SETTINGS})
    assert not failed, result
    assert result['changed'] is True
    assert result['previous'] == [None, None, None]
    assert read(path) == before + NVIDIA_BLOCK
    runtimes = loads(read(path))['plugins']['io.containerd.grpc.v1.cri']['containerd']['runtimes']
    assert runtimes['nvidia'] == {'runtime_type': 'io.containerd.runc.v2', 'options': {
        'BinaryName': '/usr/bin/nvidia-container-runtime', 'SystemdCgroup': True}}


def test_new_table_settings_grouped(run_module, config):
    """Settings of one new table land in one block, even when other settings come in between."""
    path = config(text='version = 2')  # no newline at the end
    failed, result = run_module({'path': path, 'settings': [
        {'table': ['a'], 'key': 'x', 'value': 1},
        {'table': ['b', 'c.d'], 'key': 'y', 'value': ['p', 'q']},
        {'table': ['a'], 'key': 'z', 'value': 0.5},
    ]})
    assert not failed, result
    assert read(path) == 'version = 2\n\n[a]\nx = 1\nz = 0.5\n\n[b."c.d"]\ny = ["p", "q"]\n'


def test_new_table_in_empty_file(run_module, config):
    path = config(text='')
    failed, result = run_module({'path': path, 'settings': [{'table': ['grpc'], 'key': 'gid', 'value': 0}]})
    assert not failed, result
    assert read(path) == '[grpc]\ngid = 0\n'


def test_idempotent(run_module, config):
    path = config('al2-eks-containerd-config.toml')
    settings = NVIDIA_SETTINGS + [
        {'table': CRI + ['containerd'], 'key': 'default_runtime_name', 'value': 'nvidia'},
        {'key': 'root', 'value': '/data'},
        {'key': 'imports', 'value': ['/etc/containerd/config.d/*.toml', '/etc/x.toml']},
    ]
    failed, first = run_module({'path': path, 'settings': settings})
    assert not failed, first
    assert first['changed'] is True
    after_first = read(path)
    mtime = os.stat(path).st_mtime_ns
    failed, second = run_module({'path': path, 'settings': settings})
    assert not failed, second
    assert second['changed'] is False
    assert second['previous'] == ['io.containerd.runc.v2', '/usr/bin/nvidia-container-runtime', True, 'nvidia', '/data',
                                  ['/etc/containerd/config.d/*.toml', '/etc/x.toml']]
    assert read(path) == after_first
    assert os.stat(path).st_mtime_ns == mtime


# -- check mode, diff, backup, attributes ----------------------------------------------------

def test_check_mode(run_module, config, monkeypatch):
    path = config('al2-eks-containerd-config.toml')
    before = read(path)

    def no_temp_files(*args, **kwargs):  # pylint: disable=unused-argument
        raise AssertionError('check mode without validate_binary must not write a temporary file')

    monkeypatch.setattr(atomic.tempfile, 'mkstemp', no_temp_files)
    failed, result = run_module({'path': path, 'settings': NVIDIA_SETTINGS}, check_mode=True)
    assert not failed, result
    assert result['changed'] is True
    assert result['previous'] == [None, None, None]
    assert read(path) == before
    assert leftovers(path) == []


def test_diff(run_module, config):
    path = config('al2-eks-containerd-config.toml')
    before = read(path)
    failed, result = run_module({'path': path, 'settings': [{'key': 'root', 'value': '/data'}]}, diff=True)
    assert not failed, result
    assert result['diff'] == {
        'before': before,
        'after': before.replace('root = "/var/lib/containerd"', 'root = "/data"'),
        'before_header': path,
        'after_header': path,
    }
    assert read(path) == result['diff']['after']


def test_diff_in_check_mode_unchanged(run_module, config):
    path = config('al2-eks-containerd-config.toml')
    before = read(path)
    failed, result = run_module({'path': path, 'settings': [{'key': 'root', 'value': '/var/lib/containerd'}]},
                                check_mode=True, diff=True)
    assert not failed, result
    assert result['changed'] is False
    assert result['diff']['before'] == result['diff']['after'] == before


def test_no_diff_unless_asked(run_module, config):
    path = config('al2-eks-containerd-config.toml')
    failed, result = run_module({'path': path, 'settings': [{'key': 'root', 'value': '/data'}]})
    assert not failed, result
    assert 'diff' not in result


def test_backup(run_module, config):
    path = config('al2-eks-containerd-config.toml')
    before = read(path)
    failed, result = run_module({'path': path, 'settings': [{'key': 'root', 'value': '/data'}], 'backup': True})
    assert not failed, result
    assert result['backup_file'].startswith(path + '.')
    assert read(result['backup_file']) == before
    assert leftovers(path) == [os.path.basename(result['backup_file'])]


def test_keeps_mode(run_module, config):
    path = config('al2-eks-containerd-config.toml')
    os.chmod(path, 0o640)
    failed, result = run_module({'path': path, 'settings': [{'key': 'root', 'value': '/data'}]})
    assert not failed, result
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640


def test_crlf_file(run_module, config):
    path = config(text='version = 2\r\nroot = "/a"\r\n\r\n[grpc]\r\naddress = "/x"\r\n')
    failed, result = run_module({'path': path, 'settings': [
        {'key': 'root', 'value': '/b'},
        {'key': 'state', 'value': '/run/c'},
        {'table': ['grpc'], 'key': 'gid', 'value': 0},
        {'table': ['ttrpc'], 'key': 'gid', 'value': 0},
    ]})
    assert not failed, result
    assert read(path) == ('version = 2\r\nroot = "/b"\r\nstate = "/run/c"\r\n\r\n[grpc]\r\naddress = "/x"\r\ngid = 0\r\n'
                          '\r\n[ttrpc]\r\ngid = 0\r\n')


# -- multi-line values -----------------------------------------------------------------------

def test_multiline_array_replaced(run_module, config):
    path = config('multiline-array.toml')
    before = read(path)
    failed, result = run_module({'path': path, 'settings': [
        {'key': 'imports', 'value': ['/etc/containerd/config.d/*.toml']},
        {'table': CRI, 'key': 'cdi_spec_dirs', 'value': ['/etc/cdi']},
        {'table': CRI, 'key': 'root', 'value': '/cri'},
    ]})
    assert not failed, result
    assert result['previous'] == [
        ['/etc/containerd/config.d/*.toml', '/etc/containerd/local.toml'], ['/etc/cdi', '/var/run/cdi'], None]
    expected = before.replace(
        'imports = [\n'
        '  "/etc/containerd/config.d/*.toml",  # drop-ins\n'
        '  # "/etc/containerd/extra.toml",\n'
        '  "/etc/containerd/local.toml",\n'
        '] # keep this comment\n',
        'imports = ["/etc/containerd/config.d/*.toml"] # keep this comment\n',
    ).replace(
        "  cdi_spec_dirs = ['/etc/cdi',\n"
        "                   '/var/run/cdi']\n",
        '  cdi_spec_dirs = ["/etc/cdi"]\n',
    ).replace(
        'root = "inside a string"\n"""\n',
        'root = "inside a string"\n"""\n  root = "/cri"\n',
    )
    assert expected != before
    assert read(path) == expected
    # The look-alike header and key inside the multi-line string were not touched.
    assert loads(read(path))['plugins']['io.containerd.grpc.v1.cri']['description'] == (
        '[not.a.header]\nroot = "inside a string"\n')


def test_multiline_string_replaced(run_module, config):
    path = config('multiline-array.toml')
    before = read(path)
    failed, result = run_module({'path': path, 'settings': [{'table': CRI, 'key': 'description', 'value': 'short'}]})
    assert not failed, result
    assert read(path) == before.replace('  description = """\n[not.a.header]\nroot = "inside a string"\n"""\n',
                                        '  description = "short"\n')


# -- refusals --------------------------------------------------------------------------------

@pytest.mark.parametrize('setting, message', [
    ({'table': CRI + ['containerd'], 'key': 'default_runtime_name', 'value': 'nvidia'},
     'cannot set default_runtime_name in [plugins."io.containerd.grpc.v1.cri".containerd]: it is defined implicitly '
     'through the dotted key containerd.default_runtime_name in [plugins."io.containerd.grpc.v1.cri"]'),
    ({'table': CRI + ['containerd'], 'key': 'snapshotter', 'value': 'overlayfs'},
     'cannot set snapshotter in [plugins."io.containerd.grpc.v1.cri".containerd]: table '
     '[plugins."io.containerd.grpc.v1.cri".containerd] is defined implicitly through the dotted key'),
    ({'table': CRI + ['registry'], 'key': 'config_path', 'value': '/x'},
     'cannot set config_path in [plugins."io.containerd.grpc.v1.cri".registry]: it is defined implicitly inside the '
     'inline table registry = {...} in [plugins."io.containerd.grpc.v1.cri"]'),
    ({'table': CRI + ['registry', 'mirrors'], 'key': 'x', 'value': '/x'},
     'inline table registry'),
    ({'table': CRI, 'key': 'containerd', 'value': 'x'},
     'cannot set containerd in [plugins."io.containerd.grpc.v1.cri"]: it is a table'),
    ({'table': ['plugins'], 'key': 'io.containerd.grpc.v1.cri', 'value': 'x'},
     'cannot set "io.containerd.grpc.v1.cri" in [plugins]: it is a table ([plugins."io.containerd.grpc.v1.cri"])'),
    ({'table': ['root'], 'key': 'x', 'value': 'x'},
     'cannot set x in [root]: root is assigned a value that is not a table in the top level'),
])
def test_implicit_layout_refused(run_module, config, setting, message):
    path = config('implicit-dotted.toml')
    before = read(path)
    failed, result = run_module({'path': path, 'settings': [{'key': 'root', 'value': '/data'}, setting]})
    assert failed
    assert message in result['msg'], result['msg']
    assert result['msg'].startswith(path + ': ')
    assert read(path) == before
    assert leftovers(path) == []


def test_top_level_dotted_key_refused(run_module, config):
    path = config(text='version = 2\nplugins.x.y = 1\n')
    failed, result = run_module({'path': path, 'settings': [{'table': ['plugins', 'x'], 'key': 'y', 'value': 2}]})
    assert failed
    assert 'cannot set y in [plugins.x]: it is defined implicitly through the dotted key plugins.x.y in the top level' \
        in result['msg']


def test_array_of_tables_refused(run_module, config):
    path = config('dump-1.7-nodeadm-v2.toml')
    before = read(path)
    failed, result = run_module({'path': path, 'settings': [
        {'table': ['plugins', 'io.containerd.transfer.v1.local', 'unpack_config'], 'key': 'differ', 'value': 'x'}]})
    assert failed
    assert 'is an array of tables' in result['msg']
    assert read(path) == before


def test_unparsable_file(run_module, config):
    path = config('syntax-error.toml')
    before = read(path)
    failed, result = run_module({'path': path, 'settings': [{'key': 'root', 'value': '/data'}]})
    assert failed
    assert result['msg'].startswith('cannot parse %s: line 5, column ' % path)
    assert 'unterminated string' in result['msg']
    assert read(path) == before


def test_missing_file(run_module, tmp_path):
    path = str(tmp_path / 'config.toml')
    failed, result = run_module({'path': path, 'settings': [{'key': 'root', 'value': '/data'}]})
    assert failed
    assert path in result['msg'] and 'does not exist' in result['msg']
    assert not os.path.exists(path)


@pytest.mark.parametrize('value', [{'a': 1}, None, [['nested']], [{'a': 1}], [None]])
def test_bad_value(run_module, config, value):
    path = config('al2-eks-containerd-config.toml')
    failed, result = run_module({'path': path, 'settings': [{'key': 'root', 'value': value}]})
    assert failed
    assert 'cannot set root in the top level:' in result['msg']


def test_safety_net(monkeypatch):
    """An edit that would change anything else is refused."""
    text = read_fixture('al2-eks-containerd-config.toml')

    def sloppy(text, table, key, value):  # pylint: disable=unused-argument
        return text.replace('"/var/lib/containerd"', '"/data"').replace('"/run/containerd"', '"/elsewhere"')

    monkeypatch.setattr(containerd_config_set, 'apply_one', sloppy)
    with pytest.raises(containerd_config_set.EditError) as info:
        containerd_config_set.edit_text(text, [{'table': [], 'key': 'root', 'value': '/data'}])
    assert str(info.value) == 'internal error: edit would change other keys'


def test_safety_net_catches_type(monkeypatch):
    text = 'a = 1\n'
    monkeypatch.setattr(containerd_config_set, 'apply_one', lambda text, table, key, value: 'a = true\n')
    with pytest.raises(containerd_config_set.EditError):
        containerd_config_set.edit_text(text, [{'table': [], 'key': 'a', 'value': 1}])


# -- validation with a real containerd -------------------------------------------------------

@pytest.mark.real_containerd
def test_validated_result(run_module, config):
    path = config('al2-eks-containerd-config.toml')
    failed, result = run_module({'path': path, 'validate_binary': CONTAINERD_17, 'settings': NVIDIA_SETTINGS + [
        {'table': CRI + ['containerd'], 'key': 'default_runtime_name', 'value': 'nvidia'},
        {'key': 'root', 'value': '/opt/sagemaker/containerd'},
    ]})
    assert not failed, result
    assert result['changed'] is True
    assert leftovers(path) == []
    dump = loads(subprocess.check_output([CONTAINERD_17, '--config', path, 'config', 'dump']).decode('utf-8'))
    assert dump['root'] == '/opt/sagemaker/containerd'
    containerd = dump['plugins']['io.containerd.grpc.v1.cri']['containerd']
    assert containerd['default_runtime_name'] == 'nvidia'
    assert containerd['runtimes']['nvidia']['runtime_type'] == 'io.containerd.runc.v2'
    assert containerd['runtimes']['nvidia']['options'] == {
        'BinaryName': '/usr/bin/nvidia-container-runtime', 'SystemdCgroup': True}


@pytest.mark.real_containerd
def test_validated_result_v3(run_module, config):
    path = config('al2023-nodeadm-v3-rendered-runc.toml')
    failed, result = run_module({'path': path, 'validate_binary': CONTAINERD_21, 'settings': [
        {'key': 'root', 'value': '/opt/sagemaker/containerd'}]})
    assert not failed, result
    assert result['changed'] is True


@pytest.mark.real_containerd
def test_validated_in_check_mode(run_module, config):
    path = config('al2-eks-containerd-config.toml')
    before = read(path)
    failed, result = run_module({'path': path, 'validate_binary': CONTAINERD_17, 'settings': NVIDIA_SETTINGS},
                                check_mode=True)
    assert not failed, result
    assert result['changed'] is True
    assert read(path) == before
    assert leftovers(path) == []


@pytest.mark.parametrize('check_mode', [False, True])
@pytest.mark.real_containerd
def test_validation_failure_leaves_file(run_module, config, check_mode):
    path = config('al2-eks-containerd-config.toml')
    before = read(path)
    failed, result = run_module({'path': path, 'validate_binary': CONTAINERD_17, 'backup': True,
                                 'settings': [{'key': 'oom_score', 'value': 'high'}]}, check_mode=check_mode)
    assert failed
    assert result['msg'].startswith('%s rejects the edited configuration (%s left unchanged): ' % (CONTAINERD_17, path))
    assert "Can't convert high(string) to int" in result['msg']
    assert result['rc'] != 0
    assert read(path) == before
    assert leftovers(path) == []


@pytest.mark.real_containerd
def test_validation_failure_21(run_module, config):
    path = config('al2023-nodeadm-v3-rendered-runc.toml')
    before = read(path)
    failed, result = run_module({'path': path, 'validate_binary': CONTAINERD_21,
                                 'settings': [{'key': 'oom_score', 'value': 'high'}]})
    assert failed
    assert 'rejects the edited configuration' in result['msg']
    assert read(path) == before


@pytest.mark.real_containerd
def test_validation_resolves_relative_imports(run_module, config):
    """The candidate is validated next to the target, so relative imports resolve."""
    path = config('al2-eks-containerd-config.toml')
    with open(os.path.join(os.path.dirname(path), 'extra.toml'), 'w') as handle:
        handle.write('version = 2\n')
    failed, result = run_module({'path': path, 'validate_binary': CONTAINERD_17,
                                 'settings': [{'key': 'imports', 'value': ['extra.toml']}]})
    assert not failed, result
    assert result['changed'] is True
