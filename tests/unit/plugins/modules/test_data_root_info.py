# -*- coding: utf-8 -*-
# Copyright: contributors to hyperpod.eks_lifecycle
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
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


@pytest.fixture
def run_module(monkeypatch):
    return lambda args: run_main(monkeypatch, data_root_info, args)


def test_mount_points_are_exact_and_unescaped():
    points = data_root_info.mount_points(MOUNTINFO)
    assert points == {'/', '/opt/sagemaker', '/mnt/with space', '/mnt/back\\slash'}
    assert '/opt/sagemaker-old' not in points and '/opt' not in points


def args(tmp_path, **overrides):
    result = {'volume': '/', 'dir': str(tmp_path / 'vol' / 'containerd' / 'data-root'),
              'source': str(tmp_path / 'lib-containerd'), 'wait_timeout': 0}
    result.update(overrides)
    return result


def test_a_fresh_volume(run_module, tmp_path):
    failed, result = run_module(args(tmp_path))
    assert not failed, result
    assert result['changed'] is False
    assert result['mounted'] is True  # / is always a mount point
    assert result['data_root'] == {'exists': False, 'is_dir': False, 'marker': None, 'marker_data': None, 'entries': 0,
                                   'names': []}
    assert result['staging_exists'] is False
    assert result['parent'] == {'exists': False, 'mode': None, 'uid': None, 'gid': None}
    assert result['source'] == {'is_dir': False}


def test_a_marked_data_root_with_an_unfinished_copy_beside_it(run_module, tmp_path):
    root = tmp_path / 'vol' / 'containerd' / 'data-root'
    root.mkdir(parents=True)
    os.chmod(str(root.parent), 0o711)
    (root / '.hyperpod-eks-lifecycle.json').write_text('{"platform": "al2023"}\n')
    (root / 'io.containerd.content.v1.content').mkdir()
    (tmp_path / 'vol' / 'containerd' / 'data-root.partial').mkdir()
    (tmp_path / 'lib-containerd').mkdir()
    failed, result = run_module(args(tmp_path))
    assert not failed, result
    assert result['data_root'] == {'exists': True, 'is_dir': True, 'marker': '{"platform": "al2023"}\n',
                                   'marker_data': {'platform': 'al2023'}, 'entries': 2,
                                   'names': ['.hyperpod-eks-lifecycle.json', 'io.containerd.content.v1.content']}
    assert result['staging_exists'] is True
    assert result['parent'] == {'exists': True, 'mode': '0711', 'uid': os.getuid(), 'gid': os.getgid()}
    assert result['source'] == {'is_dir': True}


def test_an_unmarked_data_root_lists_a_few_names(run_module, tmp_path):
    root = tmp_path / 'vol' / 'containerd' / 'data-root'
    root.mkdir(parents=True)
    for index in range(30):
        (root / ('f%02d' % index)).write_text('x')
    failed, result = run_module(args(tmp_path, list_limit=3))
    assert not failed, result
    assert result['data_root']['marker'] is None
    assert result['data_root']['entries'] == 30 and result['data_root']['names'] == ['f00', 'f01', 'f02']


def test_a_file_where_the_data_root_should_be(run_module, tmp_path):
    (tmp_path / 'vol' / 'containerd').mkdir(parents=True)
    (tmp_path / 'vol' / 'containerd' / 'data-root').write_text('x')
    failed, result = run_module(args(tmp_path))
    assert not failed
    assert result['data_root']['exists'] is True and result['data_root']['is_dir'] is False


def test_a_volume_that_is_not_mounted_is_waited_for(run_module, tmp_path):
    started = time.time()
    failed, result = run_module(args(tmp_path, volume=str(tmp_path), wait_timeout=2, wait_interval=1))
    assert not failed, result
    assert result['mounted'] is False
    assert 2 <= result['waited'] < 4 and time.time() - started >= 2


@pytest.mark.parametrize('overrides, message', [
    ({'wait_interval': 0}, 'wait_interval more than 0'),
    ({'marker': 'a/b'}, 'marker must be a file name'),
])
def test_bad_arguments(run_module, tmp_path, overrides, message):
    failed, result = run_module(args(tmp_path, **overrides))
    assert failed and message in result['msg']


@pytest.mark.parametrize('text, data', [
    ('{"platform": "al2"}\n', {'platform': 'al2'}),
    ('["al2"]', None),
    ('not json {', None),
    ('', None),
])
def test_the_marker_is_parsed_when_it_is_a_json_object(run_module, tmp_path, text, data):
    root = tmp_path / 'vol' / 'containerd' / 'data-root'
    root.mkdir(parents=True)
    (root / '.hyperpod-eks-lifecycle.json').write_text(text)
    failed, result = run_module(args(tmp_path))
    assert not failed, result
    assert result['data_root']['marker'] == text and result['data_root']['marker_data'] == data
