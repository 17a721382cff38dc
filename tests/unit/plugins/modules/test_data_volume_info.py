# -*- coding: utf-8 -*-
# Copyright: contributors to hyperpod.eks_lifecycle
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""data_volume_info: the instance store when the instance has one, else the EBS volume, else none."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os

import pytest

from ansible_collections.hyperpod.eks_lifecycle.plugins.modules import data_volume_info
from ansible_collections.hyperpod.eks_lifecycle.tests.unit.plugins.modules.utils import run_main

STORE = '/opt/dlami/nvme'
EBS = '/opt/sagemaker'
DISK = '/dev/disk/by-id/nvme-Amazon_EC2_NVMe_Instance_Storage_AWS1'
ROOT_ONLY = '22 1 0:21 / / rw,relatime - overlay overlay rw\n'


def mountinfo(*points):
    lines = [ROOT_ONLY.rstrip('\n')]
    for number, point in enumerate(points):
        lines.append('%d 22 259:%d / %s rw,relatime - ext4 /dev/nvme%dn1 rw' % (30 + number, number + 1, point, number + 1))
    return '\n'.join(lines) + '\n'


class Node(object):
    """What instance_store_evidence looks at: mountinfo, the instance-store disks, the unit files."""

    def __init__(self, monkeypatch):
        self.points = []
        self.disks = []
        self.unit_files = set()
        self.globbed = []
        monkeypatch.setattr(data_volume_info, 'read_mountinfo', lambda: mountinfo(*self.points))
        monkeypatch.setattr(data_volume_info.glob, 'glob', self.glob)
        real_isfile = os.path.isfile
        monkeypatch.setattr(data_volume_info.os.path, 'isfile',
                            lambda path: path in self.unit_files or (not path.startswith(data_volume_info.UNIT_DIRS) and real_isfile(path)))

    def glob(self, pattern):
        self.globbed.append(pattern)
        return list(self.disks)


@pytest.fixture
def node(monkeypatch):
    return Node(monkeypatch)


class FakeWait(object):
    """A wait_for stand-in: (mounted, waited) per path, and the calls it had."""

    def __init__(self, answers):
        self.answers = answers
        self.calls = []

    def __call__(self, path, timeout, interval):
        self.calls.append((path, timeout, interval))
        return self.answers.get(path, (False, 0))


def params(**overrides):
    result = dict(instance_store=STORE, ebs=EBS, instance_store_unit='dlami-nvme.service', wait_timeout=120, wait_interval=2)
    result.update(overrides)
    return result


# -- is_mount_point and instance_store_evidence ---------------------------------------------------

def test_is_mount_point_is_an_exact_entry_or_its_real_path(tmp_path):
    real = tmp_path / 'real'
    real.mkdir()
    link = tmp_path / 'link'
    link.symlink_to(real)
    points = {str(real), '/opt/sagemaker'}
    assert data_volume_info.is_mount_point(str(real), points)
    assert data_volume_info.is_mount_point(str(link), points)  # resolved to the mount point
    assert data_volume_info.is_mount_point('/opt/sagemaker', points)
    assert not data_volume_info.is_mount_point('/opt/sagemaker-old', points)
    assert not data_volume_info.is_mount_point('/opt', points)  # a directory above a mount point is not one
    assert not data_volume_info.is_mount_point(str(tmp_path), points)


def test_evidence_a_mount_point_comes_first(node):
    node.disks = [DISK]
    node.unit_files = {'/etc/systemd/system/dlami-nvme.service'}
    points = data_volume_info.mount_points(mountinfo(STORE))
    assert data_volume_info.instance_store_evidence(STORE, 'dlami-nvme.service', points) == 'mounted at %s' % STORE
    assert node.globbed == []  # no need to look further


def test_evidence_the_first_disk_in_name_order(node):
    node.disks = [DISK.replace('AWS1', 'AWS9'), DISK, DISK.replace('AWS1', 'AWS5')]
    node.unit_files = {'/etc/systemd/system/dlami-nvme.service'}
    assert data_volume_info.instance_store_evidence(STORE, 'dlami-nvme.service', set(['/'])) == \
        'it has instance-store disks (%s)' % DISK
    assert node.globbed == [data_volume_info.INSTANCE_STORE_DISKS]
    assert data_volume_info.INSTANCE_STORE_DISKS == '/dev/disk/by-id/nvme-Amazon_EC2_NVMe_Instance_Storage_*'


@pytest.mark.parametrize('directory', ['/etc/systemd/system', '/run/systemd/system', '/usr/lib/systemd/system',
                                       '/lib/systemd/system'])
def test_evidence_the_unit_file_in_any_unit_directory(node, directory):
    node.unit_files = {os.path.join(directory, 'dlami-nvme.service')}
    activating = {'dlami-nvme.service': 'activating'}.get
    assert data_volume_info.instance_store_evidence(STORE, 'dlami-nvme.service', set(['/']), activating) == \
        'the AMI has dlami-nvme.service, still setting it up'
    # Another unit's name is looked up as given.
    assert data_volume_info.instance_store_evidence(STORE, 'other.service', set(['/']), activating) is None


@pytest.mark.parametrize('state', ['active', 'inactive', 'failed', None])
def test_evidence_a_unit_that_is_not_at_work_is_none(node, state):
    """The AMI may install the unit on instance types without an instance store: only a unit still
    setting the disks up (activating) makes the module wait for the mount."""
    node.unit_files = {'/usr/lib/systemd/system/dlami-nvme.service'}
    assert data_volume_info.instance_store_evidence(STORE, 'dlami-nvme.service', set(['/']), lambda unit: state) is None
    assert data_volume_info.instance_store_evidence(STORE, 'dlami-nvme.service', set(['/'])) is None


def test_no_evidence(node):
    assert data_volume_info.instance_store_evidence(STORE, 'dlami-nvme.service', data_volume_info.mount_points(mountinfo(EBS))) is None


# -- choose: every branch ---------------------------------------------------------------------

def test_choose_an_instance_store_already_mounted(node):
    node.points = [STORE, EBS]
    wait = FakeWait({STORE: (True, 0)})
    assert data_volume_info.choose(params(), wait=wait) == (
        STORE, 'instance_store', 'the instance store is mounted at %s' % STORE, 0)
    assert wait.calls == [(STORE, 120, 2)]


def test_choose_an_instance_store_from_its_disks_once_mounted(node):
    node.disks = [DISK]
    node.points = [EBS]
    wait = FakeWait({STORE: (True, 14.5), EBS: (True, 0)})
    assert data_volume_info.choose(params(wait_timeout=30, wait_interval=3), wait=wait) == (
        STORE, 'instance_store',
        'the instance has an instance store (it has instance-store disks (%s)), mounted at %s after 14.5s' % (DISK, STORE), 14.5)
    assert wait.calls == [(STORE, 30, 3)]  # the EBS volume is not looked at


def test_choose_an_instance_store_from_the_unit(node):
    node.unit_files = {'/usr/lib/systemd/system/dlami-nvme.service'}
    wait = FakeWait({STORE: (True, 2)})
    path, kind, reason, waited = data_volume_info.choose(params(), wait=wait, unit_state=lambda unit: 'activating')
    assert (path, kind, waited) == (STORE, 'instance_store', 2)
    assert reason == 'the instance has an instance store (the AMI has dlami-nvme.service, still setting it up), mounted at %s after 2s' % STORE


def test_choose_the_ebs_volume_when_the_instance_store_never_mounts(node):
    node.disks = [DISK]
    wait = FakeWait({STORE: (False, 120.0), EBS: (True, 0.0)})
    assert data_volume_info.choose(params(), wait=wait) == (
        EBS, 'ebs', 'the instance store (it has instance-store disks (%s)) was not mounted at %s after 120s; '
                    'the EBS volume at %s is' % (DISK, STORE, EBS), 120.0)
    # The EBS volume is only looked at once (no second wait).
    assert wait.calls == [(STORE, 120, 2), (EBS, 0, 2)]


def test_choose_none_when_the_instance_store_never_mounts_and_there_is_no_ebs_volume(node):
    node.unit_files = {'/etc/systemd/system/dlami-nvme.service'}
    wait = FakeWait({STORE: (False, 10.0), EBS: (False, 0.25)})
    assert data_volume_info.choose(params(wait_timeout=10), wait=wait, unit_state=lambda unit: 'activating') == (
        None, 'none', 'the instance store (the AMI has dlami-nvme.service, still setting it up) was not mounted at %s '
                      'after 10s, and %s is not a mount point' % (STORE, EBS), 10.25)
    assert wait.calls == [(STORE, 10, 2), (EBS, 0, 2)]


def test_choose_the_ebs_volume_without_an_instance_store(node):
    node.points = [EBS]
    wait = FakeWait({EBS: (True, 0)})
    assert data_volume_info.choose(params(), wait=wait) == (
        EBS, 'ebs', 'the instance has no instance store; its EBS volume is mounted at %s' % EBS, 0)
    assert wait.calls == [(EBS, 120, 2)]  # waited for with the whole timeout


def test_choose_none_without_an_instance_store_or_an_ebs_volume(node):
    wait = FakeWait({EBS: (False, 120)})
    assert data_volume_info.choose(params(), wait=wait) == (
        None, 'none', 'the instance has no instance store, and %s is not a mount point after 120s (an instance group '
                      'without an EbsVolumeConfig?)' % EBS, 120)
    assert wait.calls == [(EBS, 120, 2)]


def test_choose_with_other_paths(node, tmp_path):
    store, ebs = str(tmp_path / 'nvme'), str(tmp_path / 'ebs')
    node.points = [store]
    wait = FakeWait({store: (True, 0)})
    path, kind, dummy, dummy = data_volume_info.choose(params(instance_store=store, ebs=ebs), wait=wait)
    assert (path, kind) == (store, 'instance_store')
    # /opt/dlami/nvme mounted is no evidence for another instance_store path.
    node.points = [STORE, ebs]
    wait = FakeWait({ebs: (True, 0)})
    path, kind, dummy, dummy = data_volume_info.choose(params(instance_store=store, ebs=ebs), wait=wait)
    assert (path, kind) == (ebs, 'ebs')


# -- wait_for with a fake clock --------------------------------------------------------------

class Clock(object):
    """A clock that only moves when slept on; PATH shows in mountinfo from MOUNTED_AT on."""

    def __init__(self, monkeypatch, path, mounted_at=None):
        self.now = 1000.0
        self.start = self.now
        self.sleeps = []
        self.looks = []
        self.path = path
        self.mounted_at = mounted_at
        monkeypatch.setattr(data_volume_info, 'read_mountinfo', self.mountinfo)

    def clock(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds

    def mountinfo(self):
        elapsed = self.now - self.start
        self.looks.append(elapsed)
        if self.mounted_at is not None and elapsed >= self.mounted_at:
            return mountinfo(self.path)
        return ROOT_ONLY


def test_wait_for_an_existing_mount_returns_at_once(monkeypatch):
    clock = Clock(monkeypatch, EBS, mounted_at=0)
    assert data_volume_info.wait_for(EBS, 120, 2, clock=clock.clock, sleep=clock.sleep) == (True, 0)
    assert clock.sleeps == [] and clock.looks == [0]


def test_wait_for_a_mount_that_comes(monkeypatch):
    clock = Clock(monkeypatch, STORE, mounted_at=5)
    assert data_volume_info.wait_for(STORE, 120, 2, clock=clock.clock, sleep=clock.sleep) == (True, 6.0)
    assert clock.sleeps == [2, 2, 2]
    assert clock.looks == [0, 2, 4, 6]


def test_wait_for_gives_up_at_the_timeout_after_a_last_look(monkeypatch):
    clock = Clock(monkeypatch, STORE)
    assert data_volume_info.wait_for(STORE, 5, 2, clock=clock.clock, sleep=clock.sleep) == (False, 5.0)
    # The last sleep is shortened to end at the timeout, and the mount is looked at there.
    assert clock.sleeps == [2, 2, 1]
    assert clock.looks == [0, 2, 4, 5]


def test_wait_for_a_mount_that_comes_at_the_deadline(monkeypatch):
    clock = Clock(monkeypatch, STORE, mounted_at=5)
    assert data_volume_info.wait_for(STORE, 5, 2, clock=clock.clock, sleep=clock.sleep) == (True, 5.0)


def test_wait_for_with_a_zero_timeout_looks_once(monkeypatch):
    clock = Clock(monkeypatch, EBS)
    assert data_volume_info.wait_for(EBS, 0, 2, clock=clock.clock, sleep=clock.sleep) == (False, 0)
    assert clock.sleeps == [] and clock.looks == [0]


def test_wait_for_an_interval_longer_than_the_timeout(monkeypatch):
    clock = Clock(monkeypatch, EBS)
    assert data_volume_info.wait_for(EBS, 3, 60, clock=clock.clock, sleep=clock.sleep) == (False, 3.0)
    assert clock.sleeps == [3]


def test_wait_for_sleeps_at_least_a_tenth_of_a_second(monkeypatch):
    times = iter([0.0, 0.0, 4.95, 5.05])
    slept = []
    monkeypatch.setattr(data_volume_info, 'read_mountinfo', lambda: ROOT_ONLY)
    assert data_volume_info.wait_for(EBS, 5, 2, clock=lambda: next(times), sleep=slept.append) == (False, 5.05)
    assert slept == [2, 0.1]


def test_wait_for_rounds_to_hundredths(monkeypatch):
    times = iter([10.0, 10.123456])
    monkeypatch.setattr(data_volume_info, 'read_mountinfo', lambda: mountinfo(EBS))
    assert data_volume_info.wait_for(EBS, 5, 2, clock=lambda: next(times), sleep=None) == (True, 0.12)


def test_wait_for_defaults_to_a_monotonic_clock():
    defaults = data_volume_info.wait_for.__defaults__
    assert defaults[0] is getattr(data_volume_info.time, 'monotonic')
    assert defaults[1] is data_volume_info.time.sleep


# -- main ----------------------------------------------------------------------------------------

@pytest.fixture
def run_module(monkeypatch):
    return lambda args: run_main(monkeypatch, data_volume_info, args)


@pytest.mark.parametrize('args, message', [
    ({'instance_store': 'opt/dlami/nvme'}, "instance_store must be an absolute path, not 'opt/dlami/nvme'"),
    ({'ebs': 'sagemaker'}, "ebs must be an absolute path, not 'sagemaker'"),
    ({'wait_timeout': -1}, 'wait_timeout must be 0 or more and wait_interval more than 0'),
    ({'wait_interval': 0}, 'wait_timeout must be 0 or more and wait_interval more than 0'),
    ({'wait_interval': -2}, 'wait_timeout must be 0 or more and wait_interval more than 0'),
])
def test_main_refuses(run_module, monkeypatch, args, message):
    def no_choice(params, wait=None):
        raise AssertionError('choose() called with refused arguments')
    monkeypatch.setattr(data_volume_info, 'choose', no_choice)
    failed, result = run_module(args)
    assert failed
    assert result['msg'] == message


@pytest.mark.parametrize('check_mode', [False, True])
def test_main_chooses_the_ebs_volume(run_module, node, check_mode):
    node.points = [EBS]
    failed, result = run_module({'wait_timeout': 0, '_ansible_check_mode': check_mode})
    assert not failed, result
    assert result['changed'] is False
    assert (result['path'], result['kind']) == (EBS, 'ebs')
    assert result['reason'] == 'the instance has no instance store; its EBS volume is mounted at %s' % EBS
    assert result['waited_seconds'] == 0


def test_main_chooses_the_instance_store(run_module, node):
    node.points = [EBS, STORE]
    failed, result = run_module({})
    assert not failed, result
    assert (result['path'], result['kind'], result['waited_seconds']) == (STORE, 'instance_store', 0)
    assert result['reason'] == 'the instance store is mounted at %s' % STORE


def test_main_a_zero_timeout_and_nothing_mounted_is_none(run_module, node):
    node.disks = [DISK]
    failed, result = run_module({'wait_timeout': 0, 'wait_interval': 1})
    assert not failed, result
    assert result['path'] is None and result['kind'] == 'none'
    assert result['reason'] == ('the instance store (it has instance-store disks (%s)) was not mounted at %s after 0s, and %s '
                                'is not a mount point' % (DISK, STORE, EBS))


def test_main_passes_its_arguments_to_choose(run_module, monkeypatch, tmp_path):
    seen = []

    def choose(params, wait=None, unit_state=None):  # pylint: disable=unused-argument
        seen.append(dict(params))
        return None, 'none', 'because', 1.5
    monkeypatch.setattr(data_volume_info, 'choose', choose)
    failed, result = run_module({'instance_store': str(tmp_path / 'a'), 'ebs': str(tmp_path / 'b'),
                                 'instance_store_unit': 'x.service', 'wait_timeout': 7, 'wait_interval': 3})
    assert not failed
    assert seen == [{'instance_store': str(tmp_path / 'a'), 'ebs': str(tmp_path / 'b'), 'instance_store_unit': 'x.service',
                     'wait_timeout': 7, 'wait_interval': 3}]
    assert result['path'] is None and result['kind'] == 'none' and result['reason'] == 'because'
    assert result['waited_seconds'] == 1.5
