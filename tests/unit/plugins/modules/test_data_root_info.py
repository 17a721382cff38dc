# -*- coding: utf-8 -*-
# Copyright: contributors to hyperpod.eks_lifecycle
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import subprocess
import time

import pytest

from ansible_collections.hyperpod.eks_lifecycle.plugins.modules import data_root_info
from ansible_collections.hyperpod.eks_lifecycle.tests.unit.plugins.modules.utils import run_main

MOUNTINFO = (
    "22 1 0:21 / / rw,relatime - overlay overlay rw\n"
    "23 22 259:1 /vol /opt/sagemaker rw,relatime - ext4 /dev/nvme1n1 rw\n"
    "24 22 259:2 / /mnt/with\\040space rw - ext4 /dev/x rw\n"
    "25 22 259:3 / /mnt/back\\134slash rw - ext4 /dev/y rw\n"
)


def test_mount_points_are_exact_and_unescaped():
    points = data_root_info.mount_points(MOUNTINFO)
    assert points == {'/', '/opt/sagemaker', '/mnt/with space', '/mnt/back\\slash'}
    assert '/opt/sagemaker-old' not in points and '/opt' not in points


@pytest.mark.parametrize('path, unit', [
    ('/var/lib/kubelet', 'var-lib-kubelet.mount'),
    ('/var/lib/kubelet-x', 'var-lib-kubelet\\x2dx.mount'),
    ('/srv/.hidden/a b', 'srv-.hidden-a\\x20b.mount'),
    ('/', '-.mount'),
])
def test_mount_unit_names_are_escaped_as_systemd_does(path, unit):
    assert data_root_info.mount_unit(path) == unit
    escaped = subprocess.run(['systemd-escape', '--path', '--suffix=mount', path], capture_output=True, text=True,
                             check=False)
    if escaped.returncode == 0:  # systemd's own tool, where the machine has it
        assert escaped.stdout.strip() == unit


class Volume:
    """tmp_path/vol as a mounted data volume (a bind mount of tmp_path/disk), as mountinfo shows it."""

    def __init__(self, monkeypatch, tmp_path):
        self.path = tmp_path / 'vol'
        self.path.mkdir()
        self.extra = []
        monkeypatch.setattr(data_root_info, 'read_mountinfo', self.mountinfo)

    def mountinfo(self):
        lines = ["22 1 0:21 / / rw - overlay overlay rw",
                 "23 22 259:1 /disk %s rw - ext4 /dev/nvme1n1 rw" % self.path]
        return "\n".join(lines + self.extra) + "\n"

    def mount(self, point, root='/x', device='0:99'):
        self.extra.append("30 22 %s %s %s rw - tmpfs tmpfs rw" % (device, root, point))


@pytest.fixture
def volume(monkeypatch, tmp_path):
    return Volume(monkeypatch, tmp_path)


@pytest.fixture
def run_module(monkeypatch):
    return lambda args: run_main(monkeypatch, data_root_info, args)


def args(tmp_path, **overrides):
    result = {'volume': str(tmp_path / 'vol'), 'dir': str(tmp_path / 'vol' / 'containerd' / 'data-root'),
              'source': str(tmp_path / 'lib-containerd'), 'wait_timeout': 0}
    result.update(overrides)
    return result


def test_a_fresh_volume(run_module, volume, tmp_path):
    failed, result = run_module(args(tmp_path))
    assert not failed, result
    assert result['changed'] is False
    assert result['mounted'] is True
    assert result['volume'] == {'path': str(volume.path), 'is_symlink': False}
    assert result['dir_path'] == str(tmp_path / 'vol' / 'containerd' / 'data-root')
    assert result['data_root'] == {'exists': False, 'is_dir': False, 'marker': None, 'marker_data': None, 'entries': 0,
                                   'names': []}
    assert result['staging_exists'] is False
    assert result['parent'] == {'exists': False, 'mode': None, 'uid': None, 'gid': None}
    assert result['source'] == {'is_dir': False, 'mode': None, 'is_mount_point': False, 'bound_to_dir': False, 'mounts_below': [],
                                'mounts_below_count': 0, 'entries': {}}
    assert result['fresh'] is True and 'action' not in result and 'space' not in result


def test_a_marked_data_root_with_an_unfinished_copy_beside_it(run_module, volume, tmp_path):
    root = tmp_path / 'vol' / 'containerd' / 'data-root'
    root.mkdir(parents=True)
    os.chmod(str(root.parent), 0o711)
    (root / '.hyperpod-eks-lifecycle.json').write_text('{"platform": "al2023"}\n')
    (root / 'io.containerd.content.v1.content').mkdir()
    (tmp_path / 'vol' / 'containerd' / 'data-root.partial').mkdir()
    (tmp_path / 'lib-containerd').mkdir()
    failed, result = run_module(args(tmp_path, platform='al2023'))
    assert not failed, result
    assert result['data_root'] == {'exists': True, 'is_dir': True, 'marker': '{"platform": "al2023"}\n',
                                   'marker_data': {'platform': 'al2023'}, 'entries': 2,
                                   'names': ['.hyperpod-eks-lifecycle.json', 'io.containerd.content.v1.content']}
    assert result['staging_exists'] is True
    assert result['parent'] == {'exists': True, 'mode': '0711', 'uid': os.getuid(), 'gid': os.getgid()}
    assert result['source']['is_dir'] is True
    assert (result['found'], result['found_platform'], result['action'], result['fresh']) == \
        ('marked', 'al2023', 'reuse', False)


def test_an_unmarked_data_root_lists_a_few_names(run_module, volume, tmp_path):
    root = tmp_path / 'vol' / 'containerd' / 'data-root'
    root.mkdir(parents=True)
    for index in range(30):
        (root / ('f%02d' % index)).write_text('x')
    failed, result = run_module(args(tmp_path, list_limit=3))
    assert not failed, result
    assert result['data_root']['marker'] is None
    assert result['data_root']['entries'] == 30 and result['data_root']['names'] == ['f00', 'f01', 'f02']


def test_a_file_where_the_data_root_should_be(run_module, volume, tmp_path):
    (tmp_path / 'vol' / 'containerd').mkdir(parents=True)
    (tmp_path / 'vol' / 'containerd' / 'data-root').write_text('x')
    failed, result = run_module(args(tmp_path))
    assert not failed
    assert result['data_root']['exists'] is True and result['data_root']['is_dir'] is False
    failed, result = run_module(args(tmp_path, platform='al2023'))
    assert failed and 'exists and is not a directory; move it away first' in result['msg']


def test_a_volume_that_is_not_mounted_is_waited_for(run_module, tmp_path):
    (tmp_path / 'unmounted').mkdir()
    started = time.time()
    failed, result = run_module(args(tmp_path, volume=str(tmp_path / 'unmounted'),
                                     dir=str(tmp_path / 'unmounted' / 'd'), wait_timeout=2, wait_interval=1))
    assert not failed, result
    assert result['mounted'] is False
    assert 2 <= result['waited'] < 4 and time.time() - started >= 2


def test_a_volume_given_as_a_symlink_to_the_mount_is_resolved_at_once(run_module, volume, tmp_path):
    (tmp_path / 'link').symlink_to(volume.path)
    started = time.time()
    failed, result = run_module(args(tmp_path, volume=str(tmp_path / 'link'), dir=str(tmp_path / 'link' / 'c' / 'd'),
                                     wait_timeout=30))
    assert not failed, result
    assert time.time() - started < 5
    assert result['mounted'] is True and result['volume'] == {'path': str(volume.path), 'is_symlink': True}
    assert result['dir_path'] == str(volume.path / 'c' / 'd')


@pytest.mark.parametrize('overrides, message', [
    ({'wait_interval': 0}, 'wait_interval more than 0'),
    ({'marker': 'a/b'}, 'marker must be a file name'),
    ({'reserve_mb': -1}, 'reserve_mb, plus_bytes and plus_inodes must be 0 or more'),
    ({'plus_bytes': -1}, 'reserve_mb, plus_bytes and plus_inodes must be 0 or more'),
])
def test_bad_arguments(run_module, volume, tmp_path, overrides, message):
    failed, result = run_module(args(tmp_path, **overrides))
    assert failed and message in result['msg']


@pytest.mark.parametrize('text, data', [
    ('{"platform": "al2"}\n', {'platform': 'al2'}),
    ('["al2"]', None),
    ('not json {', None),
    ('', None),
])
def test_the_marker_is_parsed_when_it_is_a_json_object(run_module, volume, tmp_path, text, data):
    root = tmp_path / 'vol' / 'containerd' / 'data-root'
    root.mkdir(parents=True)
    (root / '.hyperpod-eks-lifecycle.json').write_text(text)
    failed, result = run_module(args(tmp_path))
    assert not failed, result
    assert result['data_root']['marker'] == text and result['data_root']['marker_data'] == data


def test_a_marker_that_is_a_symlink_is_not_read(run_module, volume, tmp_path):
    root = tmp_path / 'vol' / 'containerd' / 'data-root'
    root.mkdir(parents=True)
    (tmp_path / 'secret').write_text('{"platform": "al2023", "secret": "x"}')
    (root / '.hyperpod-eks-lifecycle.json').symlink_to(tmp_path / 'secret')
    failed, result = run_module(args(tmp_path))
    assert not failed, result
    assert result['data_root']['marker'] is None


# -- the classification the containerd_data_root role acts on --------------------------------------

def make_root(tmp_path, marker=None, entries=0):
    root = tmp_path / 'vol' / 'containerd' / 'data-root'
    root.mkdir(parents=True)
    if marker is not None:
        (root / '.hyperpod-eks-lifecycle.json').write_text(marker)
    for index in range(entries):
        (root / ('f%d' % index)).write_text('x')
    return root


@pytest.mark.parametrize('marker, entries, policy, expected', [
    (None, None, 'set_aside', ('absent', 'unknown', 'create', True)),
    (None, 0, 'set_aside', ('empty', 'unknown', 'create', True)),
    ('{"platform": "al2023"}', 3, 'set_aside', ('marked', 'al2023', 'reuse', False)),
    ('{"platform": "al2"}', 3, 'set_aside', ('marked', 'al2', 'set_aside', True)),
    ('not json "platform": "al2" x', 0, 'set_aside', ('marked', 'al2', 'set_aside', True)),
    (None, 2, 'set_aside', ('unmarked', 'unknown', 'set_aside', True)),
    (None, 2, 'adopt', ('unmarked', 'unknown', 'adopt', False)),
])
def test_the_data_root_is_classified(run_module, volume, tmp_path, marker, entries, policy, expected):
    if entries is not None:
        make_root(tmp_path, marker, entries)
    failed, result = run_module(args(tmp_path, platform='al2023', unmarked_policy=policy))
    assert not failed, result
    assert (result['found'], result['found_platform'], result['action'], result['fresh']) == expected
    kind = expected[1] if expected[0] == 'marked' else 'unmarked'
    assert result['aside'].startswith(str(tmp_path / 'vol' / 'containerd' / ('data-root.%s-' % kind)))


def test_a_marker_naming_no_platform_stops_the_role(run_module, volume, tmp_path):
    make_root(tmp_path, '{"written_by": "someone"}')
    failed, result = run_module(args(tmp_path, platform='al2023'))
    assert failed
    assert 'exists but does not name a platform; fix it (e.g. {"platform": "al2023"}) or remove it.' in result['msg']
    assert 'Nothing was changed' in result['msg']


def test_unmarked_data_with_the_fail_policy_stops_the_role(run_module, volume, tmp_path):
    make_root(tmp_path, None, 2)
    failed, result = run_module(args(tmp_path, platform='al2023', unmarked_policy='fail'))
    assert failed and 'holds data that this collection did not write' in result['msg']
    assert 'containerd_data_root_unmarked_policy=fail' in result['msg']


# -- settings that point somewhere else ----------------------------------------------------------

LABELS = {'volume': 'containerd_data_root_volume', 'dir': 'containerd_data_root_dir',
          'source': 'containerd_data_root_source'}


@pytest.mark.parametrize('overrides, message', [
    ({'dir': '{vol}/../../etc'}, "containerd_data_root_dir '{vol}/../../etc' must not contain '..'"),
    ({'dir': 'relative/dir'}, "containerd_data_root_dir 'relative/dir' must be an absolute path"),
    ({'volume': '/', 'dir': '/var'}, 'containerd_data_root_volume / is an operating system directory'),
    ({'volume': '/opt', 'dir': '/opt/data'}, 'containerd_data_root_volume /opt is an operating system directory'),
    ({'dir': '{vol}'}, 'containerd_data_root_dir {vol} is not inside containerd_data_root_volume {vol}'),
    ({'dir': '/etc/containerd-data'}, 'containerd_data_root_dir /etc/containerd-data is not inside'),
    ({'source': '/var/lib'}, 'containerd_data_root_source /var/lib is an operating system directory'),
    ({'source': '{vol}/containerd'}, 'are inside one another'),
    ({'dir': '{vol}/x\ny'}, 'must not contain control characters'),
])
def test_path_settings_that_lead_elsewhere_are_refused_before_anything(
        run_module, volume, tmp_path, overrides, message):
    vol = str(volume.path)
    overrides = dict((key, value.format(vol=vol)) for key, value in overrides.items())
    started = time.time()
    failed, result = run_module(args(tmp_path, labels=LABELS, wait_timeout=30, **overrides))
    assert failed, result
    assert message.format(vol=vol) in result['msg'], result['msg']
    assert time.time() - started < 5  # refused at once, not after waiting for the volume


def test_a_data_root_reached_through_a_symlink_out_of_the_volume_is_refused(run_module, volume, tmp_path):
    (tmp_path / 'elsewhere').mkdir()
    (volume.path / 'containerd').symlink_to(tmp_path / 'elsewhere')
    failed, result = run_module(args(tmp_path, labels=LABELS))
    assert failed
    assert 'containerd_data_root_dir %s (resolves to %s) is not inside' % (
        volume.path / 'containerd' / 'data-root', tmp_path / 'elsewhere' / 'data-root') in result['msg']


def test_a_data_root_reached_through_a_symlink_to_the_os_is_refused(run_module, volume, tmp_path):
    (volume.path / 'containerd').symlink_to('/')
    failed, result = run_module(args(tmp_path, labels=LABELS, dir=str(volume.path / 'containerd' / 'etc')))
    assert failed and 'resolves to /etc) is an operating system directory' in result['msg'], result['msg']


def test_a_data_root_on_another_file_system_than_the_volume_is_refused(run_module, volume, tmp_path, monkeypatch):
    real_stat = os.stat
    other = str(volume.path / 'containerd')
    os.mkdir(other)

    def stat(path, *rest, **kwargs):
        st = real_stat(path, *rest, **kwargs)
        if str(path) == other:
            return os.stat_result((st.st_mode, st.st_ino, st.st_dev + 1) + tuple(st)[3:])
        return st
    monkeypatch.setattr(data_root_info.os, 'stat', stat)
    failed, result = run_module(args(tmp_path, labels=LABELS))
    assert failed and 'is on another file system than containerd_data_root_volume' in result['msg'], result['msg']


# -- what a copy needs, mounts below the source, a bind mount in place ---------------------------

def test_a_copy_is_measured_against_the_free_space(run_module, volume, tmp_path):
    source = tmp_path / 'lib-containerd'
    (source / 'sub').mkdir(parents=True)
    (source / 'sub' / 'blob').write_bytes(os.urandom(64 * 1024))
    os.link(str(source / 'sub' / 'blob'), str(source / 'hardlink'))
    failed, result = run_module(args(tmp_path, platform='al2023', measure_copy=True, reserve_mb=0))
    assert not failed, result
    copy = result['space']
    assert 64 * 1024 <= copy['bytes'] < 2 * 64 * 1024  # the hard link counts once
    assert copy['inodes'] == 3 and copy['reserve_bytes'] == 0
    vfs = os.statvfs(str(volume.path))
    assert abs(copy['free_bytes'] - vfs.f_bavail * vfs.f_frsize) < 16 * 1024 * 1024
    assert copy['enough'] is True
    failed, result = run_module(args(tmp_path, platform='al2023', measure_copy=True,
                                     reserve_mb=copy['free_bytes'] // 1048576 + 1))
    assert not failed and result['space']['enough'] is False


def test_nothing_is_measured_when_the_data_root_is_reused(run_module, volume, tmp_path):
    make_root(tmp_path, '{"platform": "al2023"}')
    failed, result = run_module(args(tmp_path, platform='al2023', measure_copy=True))
    assert not failed and 'space' not in result


def test_mounts_below_the_source_and_pods_are_reported(run_module, volume, tmp_path):
    source = tmp_path / 'kubelet'
    (source / 'pods' / 'uid-1').mkdir(parents=True)
    volume.mount(str(source / 'pods' / 'uid-1' / 'volumes' / 'kubernetes.io~secret' / 'token'))
    volume.mount(str(tmp_path / 'kubelet-other'))  # beside it, not inside
    failed, result = run_module(args(tmp_path, dir=str(volume.path / 'kubelet'), source=str(source), inspect=['pods']))
    assert not failed, result
    assert result['source']['mounts_below'] == [str(source / 'pods' / 'uid-1' / 'volumes' / 'kubernetes.io~secret' / 'token')]
    assert result['source']['mounts_below_count'] == 1
    assert result['source']['entries'] == {'pods': 1}


def test_a_source_already_bind_mounted_from_the_dir_is_recognised(run_module, volume, tmp_path):
    source = tmp_path / 'kubelet'
    source.mkdir()
    (volume.path / 'kubelet').mkdir()
    volume.mount(str(source), root='/disk/kubelet', device='259:1')
    failed, result = run_module(args(tmp_path, dir=str(volume.path / 'kubelet'), source=str(source)))
    assert not failed, result
    assert result['source']['is_mount_point'] is True and result['source']['bound_to_dir'] is True
    # Another file system mounted there is not the volume's directory.
    volume.extra = []
    volume.mount(str(source), root='/disk/kubelet', device='8:1')
    failed, result = run_module(args(tmp_path, dir=str(volume.path / 'kubelet'), source=str(source)))
    assert not failed and result['source']['is_mount_point'] is True and result['source']['bound_to_dir'] is False


@pytest.mark.parametrize('content, ours', [
    ({}, True),                                         # empty: a copy killed before it began
    ({'.hyperpod-eks-lifecycle.staging': ''}, True),    # marked as this collection's
    ({'.hyperpod-eks-lifecycle.json': '{}', 'x': 'y'}, True),
    ({'epoch-7.pt': 'a user checkpoint'}, False),
])
def test_a_staging_directory_is_ours_only_when_marked(run_module, volume, tmp_path, content, ours):
    staging = tmp_path / 'vol' / 'containerd' / 'data-root.partial'
    staging.mkdir(parents=True)
    for name, text in content.items():
        (staging / name).write_text(text)
    failed, result = run_module(args(tmp_path))
    if ours:
        assert not failed, result
        assert result['staging'] == {'path': str(staging), 'exists': True, 'ours': True}
    else:
        assert failed and 'data-root.partial exists and was not made by this collection' in result['msg']
        assert (staging / 'epoch-7.pt').read_text() == 'a user checkpoint'


def test_what_our_unfinished_copy_holds_counts_as_free(run_module, volume, tmp_path):
    staging = tmp_path / 'vol' / 'containerd' / 'data-root.partial'
    staging.mkdir(parents=True)
    (staging / '.hyperpod-eks-lifecycle.staging').write_text('')
    failed, before = run_module(args(tmp_path, measure_copy=True, reserve_mb=0))
    assert not failed, before
    (staging / 'blob').write_bytes(os.urandom(4 * 1024 * 1024))
    failed, after = run_module(args(tmp_path, measure_copy=True, reserve_mb=0))
    assert not failed, after
    assert abs(after['space']['free_bytes'] - before['space']['free_bytes']) < 1024 * 1024


def test_two_copies_are_measured_together(run_module, volume, tmp_path):
    failed, result = run_module(args(tmp_path, measure_copy=True, reserve_mb=0))
    free = result['space']['free_bytes']
    # A margin: the tests running beside this one change the free space between the two calls.
    more = free + 256 * 1024 * 1024
    failed, result = run_module(args(tmp_path, measure_copy=True, reserve_mb=0, plus_bytes=more))
    assert not failed and result['space']['enough'] is False and result['space']['needed_bytes'] == more
    failed, result = run_module(args(tmp_path, measure_copy=True, reserve_mb=0, plus_bytes=0, plus_inodes=10 ** 15))
    assert not failed and result['space']['enough'] is (result['space']['free_inodes'] is None)


def test_directories_that_must_be_apart_are_refused_together(run_module, volume, tmp_path):
    containerd = str(volume.path / 'containerd' / 'data-root')
    for kubelet in (containerd, containerd + '/kubelet', str(volume.path / 'containerd')):
        failed, result = run_module(args(tmp_path, dir=kubelet, source=str(tmp_path / 'kubelet'),
                                         labels={'dir': 'containerd_data_root_kubelet_dir'},
                                         disjoint_from={'containerd_data_root_dir': containerd}))
        assert failed and 'and containerd_data_root_dir %s are inside one another' % containerd in result['msg'], kubelet


@pytest.mark.parametrize('dir_name', ['kube%let', 'kube let', 'kube\\let'])
def test_paths_for_a_mount_unit_carry_no_specifiers_or_separators(run_module, volume, tmp_path, dir_name):
    failed, result = run_module(args(tmp_path, dir=str(volume.path / dir_name), source=str(tmp_path / 'kubelet'),
                                     for_mount_unit=True))
    assert failed and "must not contain '%', a backslash or whitespace" in result['msg']
