# -*- coding: utf-8 -*-
# Copyright: contributors to hyperpod.eks_lifecycle
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import base64

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.hyperpod.eks_lifecycle.plugins.filter.containerd_differences import containerd_differences
from ansible_collections.hyperpod.eks_lifecycle.plugins.filter.containerd_dropin import containerd_dropin
from ansible_collections.hyperpod.eks_lifecycle.plugins.filter.containerd_files_to_write import containerd_files_to_write

ROOT = [{'table': [], 'key': 'root', 'value': '/opt/sagemaker/containerd/data-root'}]


def entry(path, content=None, mode='0644', uid=0, gid=0):
    """A file as containerd_config_info's read_files returns it."""
    if content is None:
        return {'path': path, 'exists': False, 'content': '', 'mode': None, 'uid': None, 'gid': None}
    return {'path': path, 'exists': True, 'content': base64.b64encode(content.encode()).decode(), 'mode': mode,
            'uid': uid, 'gid': gid}


def test_files_that_match_are_not_written_again():
    wanted = [{'path': '/a', 'content': 'x\n'}, {'path': '/b', 'content': 'y\n', 'validate': 'none'}]
    current = {'/a': entry('/a', 'x\n'), '/b': entry('/b', 'y\n')}
    assert containerd_files_to_write(wanted, current) == []


@pytest.mark.parametrize('now', [
    entry('/a', 'old\n'), entry('/a', 'x\n', mode='0600'), entry('/a', 'x\n', uid=1000), entry('/a'),
])
def test_files_that_differ_in_content_mode_or_owner_or_are_missing_are_written(now):
    wanted = [{'path': '/a', 'content': 'x\n'}]
    assert containerd_files_to_write(wanted, {'/a': now}) == wanted


def test_a_file_to_take_away_is_written_only_when_it_exists():
    wanted = [{'path': '/a', 'state': 'absent'}]
    assert containerd_files_to_write(wanted, {'/a': entry('/a')}) == []
    assert containerd_files_to_write(wanted, {'/a': entry('/a', 'x')}) == wanted


def test_a_file_the_node_was_not_read_for_is_always_written():
    wanted = [{'path': '/new', 'content': 'x'}]
    assert containerd_files_to_write(wanted, {}) == wanted


def test_the_dropin_and_differences_filters():
    data = containerd_dropin(ROOT, '3')
    assert data == {'version': 3, 'root': '/opt/sagemaker/containerd/data-root'}
    assert containerd_differences({'root': '/var/lib/containerd'}, ROOT) == [
        "root: '/var/lib/containerd', expected '/opt/sagemaker/containerd/data-root'"]
    with pytest.raises(AnsibleFilterError):
        containerd_dropin([{'table': [], 'value': 1}], 3)
