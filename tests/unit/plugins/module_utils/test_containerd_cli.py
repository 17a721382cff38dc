# -*- coding: utf-8 -*-
# Copyright: contributors to hyperpod.eks_lifecycle
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""module_utils/containerd_cli: `containerd config dump`, and the imports it does not check."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import subprocess

import pytest

from ansible_collections.hyperpod.eks_lifecycle.plugins.module_utils import containerd_cli
from ansible_collections.hyperpod.eks_lifecycle.tests.unit.plugins.modules.utils import CONTAINERD_17, CONTAINERD_21


class Failed(Exception):
    pass


class FakeModule(object):
    """run_command answers with ANSWER (rc, out, err), or runs the command for real with REAL."""

    def __init__(self, answer=None, real=False):
        self.answer = answer
        self.real = real
        self.commands = []

    def run_command(self, cmd):
        self.commands.append(cmd)
        if self.real:
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            out, err = proc.communicate()
            return proc.returncode, out.decode('utf-8'), err.decode('utf-8')
        if self.answer is None:
            raise AssertionError('containerd was run: %r' % (cmd,))
        return self.answer

    def fail_json(self, **kwargs):
        raise Failed(kwargs)


def write(path, text):
    path.write_text(text)
    return str(path)


# -- missing_imports ------------------------------------------------------------------------------

def test_missing_imports_absolute_paths(tmp_path):
    present = write(tmp_path / 'base.toml', 'version = 3\n')
    config = write(tmp_path / 'layer.toml', 'version = 3\nimports = ["%s", "%s", "%s"]\n'
                   % (tmp_path / 'gone.toml', present, tmp_path / 'also-gone.toml'))
    assert containerd_cli.missing_imports(config) == [str(tmp_path / 'gone.toml'), str(tmp_path / 'also-gone.toml')]


def test_missing_imports_skips_wildcards(tmp_path):
    config = write(tmp_path / 'layer.toml', 'version = 3\nimports = ["%s/conf.d/*.toml", "%s/none-*.toml"]\n' % (tmp_path, tmp_path))
    assert containerd_cli.missing_imports(config) == []  # a glob that matches nothing is no error


def test_missing_imports_relative_to_the_config_directory(tmp_path, monkeypatch):
    (tmp_path / 'etc').mkdir()
    (tmp_path / 'cwd').mkdir()
    write(tmp_path / 'etc' / 'base.toml', 'version = 3\n')
    write(tmp_path / 'cwd' / 'other.toml', 'version = 3\n')  # beside the working directory, not the config
    config = write(tmp_path / 'etc' / 'layer.toml', 'version = 3\nimports = ["base.toml", "other.toml", "sub/x.toml"]\n')
    monkeypatch.chdir(str(tmp_path / 'cwd'))
    assert containerd_cli.missing_imports(config) == [str(tmp_path / 'etc' / 'other.toml'), str(tmp_path / 'etc' / 'sub' / 'x.toml')]
    # A relative config: its imports relative to its own directory, relative to the working directory.
    monkeypatch.chdir(str(tmp_path))
    assert containerd_cli.missing_imports(os.path.join('etc', 'layer.toml')) == [os.path.join('etc', 'other.toml'),
                                                                                 os.path.join('etc', 'sub', 'x.toml')]


def test_missing_imports_a_directory_exists(tmp_path):
    (tmp_path / 'conf.d').mkdir()
    config = write(tmp_path / 'layer.toml', 'version = 3\nimports = ["%s"]\n' % (tmp_path / 'conf.d'))
    assert containerd_cli.missing_imports(config) == []  # containerd's own error, not a missing file


@pytest.mark.parametrize('text', [
    'version = 3\n',
    'version = 3\nimports = []\n',
    'version = 3\nimports = "/not/a/list.toml"\n',
    'version = 3\nimports = [\n',  # not TOML
    'this is not toml\n',
    '',
])
def test_missing_imports_none(tmp_path, text):
    assert containerd_cli.missing_imports(write(tmp_path / 'c.toml', text)) == []


def test_missing_imports_of_an_unreadable_file(tmp_path):
    assert containerd_cli.missing_imports(str(tmp_path / 'missing.toml')) == []
    assert containerd_cli.missing_imports(str(tmp_path)) == []  # a directory
    (tmp_path / 'binary.toml').write_bytes(b'imports = ["\xff"]\n')
    assert containerd_cli.missing_imports(str(tmp_path / 'binary.toml')) == []


# -- rejection, checker and dump refuse before running containerd ----------------------------------

def test_rejection_of_a_missing_import_runs_nothing(tmp_path):
    config = write(tmp_path / 'layer.toml', 'version = 3\nimports = ["%s"]\n' % (tmp_path / 'gone.toml'))
    module = FakeModule()
    why, rc, stderr, cmd = containerd_cli.rejection(module, '/usr/bin/containerd', config)
    assert why == '%s imports %s, which does not exist (containerd does not start with it)' % (config, tmp_path / 'gone.toml')
    assert (rc, stderr, cmd) == (1, '', ['/usr/bin/containerd', '--config', config, 'config', 'dump'])
    assert module.commands == []


def test_checker_raises_rejected_for_a_missing_import(tmp_path):
    config = write(tmp_path / 'layer.toml', 'version = 3\nimports = ["gone-1.toml", "gone-2.toml"]\n')
    with pytest.raises(containerd_cli.Rejected) as caught:
        containerd_cli.checker(FakeModule(), '/usr/bin/containerd')(config)
    assert str(caught.value) == '%s imports %s, %s, which does not exist (containerd does not start with it)' % (
        config, tmp_path / 'gone-1.toml', tmp_path / 'gone-2.toml')
    assert caught.value.details == {'rc': 1, 'stderr': '', 'cmd': ['/usr/bin/containerd', '--config', config, 'config', 'dump']}


def test_dump_of_a_missing_import_fails_before_running(tmp_path):
    config = write(tmp_path / 'layer.toml', 'version = 3\nimports = ["%s"]\n' % (tmp_path / 'gone.toml'))
    module = FakeModule()
    with pytest.raises(Failed) as caught:
        containerd_cli.dump(module, '/usr/bin/containerd', config)
    assert caught.value.args[0] == {
        'msg': '%s imports %s, which does not exist (containerd does not start with it)' % (config, tmp_path / 'gone.toml'),
        'cmd': ['/usr/bin/containerd', '--config', config, 'config', 'dump']}
    assert module.commands == []


@pytest.mark.parametrize('answer, expected', [
    ((0, 'version = 3\n', ''), None),
    ((1, '', 'containerd: failed to load TOML\n'), ('containerd: failed to load TOML', 1, 'containerd: failed to load TOML\n')),
    ((1, 'only on stdout\n', ''), ('only on stdout', 1, '')),
    ((2, '', ''), ('exit 2', 2, '')),
])
def test_rejection_without_missing_imports_asks_containerd(tmp_path, answer, expected):
    config = write(tmp_path / 'c.toml', 'version = 3\nimports = ["%s/*.toml"]\n' % tmp_path)
    module = FakeModule(answer)
    result = containerd_cli.rejection(module, '/bin/containerd', config)
    cmd = ['/bin/containerd', '--config', config, 'config', 'dump']
    assert module.commands == [cmd]
    assert result == (None if expected is None else expected + (cmd,))


def test_dump_parses_what_containerd_prints(tmp_path):
    config = write(tmp_path / 'c.toml', 'version = 3\n')
    assert containerd_cli.dump(FakeModule((0, 'version = 3\nroot = "/data"\n', '')), '/bin/containerd', config) == \
        {'version': 3, 'root': '/data'}
    with pytest.raises(Failed) as caught:
        containerd_cli.dump(FakeModule((1, '', 'bad\n')), '/bin/containerd', config)
    assert caught.value.args[0]['msg'] == '/bin/containerd --config %s config dump failed (rc=1): bad' % config


# -- why: containerd 2.x's dump does not see a missing import ----------------------------------------

def missing_import_layer(tmp_path, schema):
    conf = tmp_path / 'conf.d'
    conf.mkdir()
    write(conf / '10-data-root.toml', 'version = %d\nroot = "%s"\n' % (schema, tmp_path / 'data-root'))
    return write(tmp_path / 'layer.toml', 'version = %d\nimports = ["%s", "%s/*.toml"]\n' % (schema, tmp_path / 'gone.toml', conf))


def root_of(dump_output):
    return [line for line in dump_output.splitlines() if line.startswith('root = ')]


@pytest.mark.real_containerd
def test_containerd_21_dump_ignores_a_missing_import_and_rejection_catches_it(tmp_path):
    layer = missing_import_layer(tmp_path, 3)
    proc = subprocess.Popen([CONTAINERD_21, '--config', layer, 'config', 'dump'], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, dummy = proc.communicate()
    # containerd 2.x exits 0 and prints its default root: the drop-in was silently left out.
    assert proc.returncode == 0
    assert root_of(out.decode('utf-8')) == ["root = '/var/lib/containerd'"]
    module = FakeModule(real=True)
    rejected = containerd_cli.rejection(module, CONTAINERD_21, layer)
    assert rejected is not None
    assert rejected[0] == '%s imports %s, which does not exist (containerd does not start with it)' % (layer, tmp_path / 'gone.toml')
    assert module.commands == []
    # Without the missing import, the same layer is accepted and the drop-in is in effect.
    write(tmp_path / 'gone.toml', 'version = 3\n')
    assert containerd_cli.rejection(module, CONTAINERD_21, layer) is None
    assert containerd_cli.dump(module, CONTAINERD_21, layer)['root'] == str(tmp_path / 'data-root')


def start_daemon(layer, tmp_path):
    """(exit code, output) of a containerd 2.1 daemon started with LAYER, on its own root, state and
    socket (nothing of the machine's containerd is touched, should it start), waited for 30 s."""
    proc = subprocess.Popen([CONTAINERD_21, '--config', layer, '--root', str(tmp_path / 'root'), '--state', str(tmp_path / 'state'),
                             '--address', str(tmp_path / 'c.sock')], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        out, dummy = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, out


@pytest.mark.real_containerd
def test_containerd_21_daemon_does_not_start_with_a_missing_import(tmp_path):
    layer = missing_import_layer(tmp_path, 3)
    returncode, out = start_daemon(layer, tmp_path)
    assert returncode != 0
    assert str(tmp_path / 'gone.toml') in out.decode('utf-8')
    assert 'no such file or directory' in out.decode('utf-8')


@pytest.mark.real_containerd
def test_containerd_17_dump_fails_on_a_missing_import(tmp_path):
    layer = missing_import_layer(tmp_path, 2)
    proc = subprocess.Popen([CONTAINERD_17, '--config', layer, 'config', 'dump'], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    dummy, err = proc.communicate()
    assert proc.returncode == 1
    assert str(tmp_path / 'gone.toml') in err.decode('utf-8')
    rejected = containerd_cli.rejection(FakeModule(real=True), CONTAINERD_17, layer)
    assert rejected is not None and rejected[1] == 1


def nested_missing_import_layer(tmp_path):
    """layer.toml imports base.toml, which imports a file that does not exist."""
    conf = tmp_path / 'conf.d'
    conf.mkdir()
    write(conf / '10-data-root.toml', 'version = 3\nroot = "%s"\n' % (tmp_path / 'data-root'))
    base = write(tmp_path / 'base.toml', 'version = 3\nimports = ["%s"]\n' % (tmp_path / 'gone.toml'))
    return write(tmp_path / 'layer.toml', 'version = 3\nimports = ["%s", "%s/*.toml"]\n' % (base, conf))


@pytest.mark.real_containerd
def test_containerd_21_with_a_missing_import_of_an_imported_file(tmp_path):
    """What the test below expects: the daemon does not start, though `config dump` exits 0."""
    layer = nested_missing_import_layer(tmp_path)
    proc = subprocess.Popen([CONTAINERD_21, '--config', layer, 'config', 'dump'], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, dummy = proc.communicate()
    assert proc.returncode == 0
    assert root_of(out.decode('utf-8')) == ["root = '%s'" % (tmp_path / 'data-root')]
    returncode, out = start_daemon(layer, tmp_path)
    assert returncode != 0
    assert str(tmp_path / 'gone.toml') in out.decode('utf-8')


@pytest.mark.real_containerd
def test_a_missing_import_of_an_imported_file_is_rejected(tmp_path):
    layer = nested_missing_import_layer(tmp_path)
    assert containerd_cli.rejection(FakeModule(real=True), CONTAINERD_21, layer) is not None
