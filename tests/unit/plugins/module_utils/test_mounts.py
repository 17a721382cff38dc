# -*- coding: utf-8 -*-
# Copyright: contributors to hyperpod.eks_lifecycle
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""module_utils/mounts: /proc/self/mountinfo as the kernel writes it."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os

import pytest

from ansible_collections.hyperpod.eks_lifecycle.plugins.module_utils import mounts

# Real lines (an optional field, "shared:1", and the "-" separator before the file system type).
MOUNTINFO = (
    "22 1 0:21 / / rw,relatime shared:1 - overlay overlay rw,lowerdir=/l\n"
    "23 22 259:1 /vol /opt/sagemaker rw,relatime shared:2 - ext4 /dev/nvme1n1 rw\n"
    "24 22 253:0 / /opt/dlami/nvme rw,relatime - xfs /dev/mapper/vg.01-lv_ephemeral rw\n"
    "25 22 259:2 /a\\040b /mnt/with\\040space rw - ext4 /dev/x rw\n"
    "26 22 259:3 / /mnt/back\\134slash\\011tab\\012newline rw - ext4 /dev/y rw\n"
    "\n"
    "27 22 0:5\n"
    "28 23 259:1 /vol/containerd /var/lib/containerd rw - ext4 /dev/nvme1n1 rw\n"
)


@pytest.mark.parametrize('field, expected', [
    ('/opt/sagemaker', '/opt/sagemaker'),
    ('/mnt/with\\040space', '/mnt/with space'),
    ('/a\\011b\\012c', '/a\tb\nc'),
    ('/back\\134slash', '/back\\slash'),
    ('\\134040', '\\040'),  # an escaped backslash followed by digits is not unescaped twice
    ('/end\\04', '/end\\04'),  # too short to be an escape
    ('/x\\abc', '/x\\abc'),  # not digits
    ('', ''),
])
def test_unescape_mountinfo(field, expected):
    assert mounts.unescape_mountinfo(field) == expected


def test_parse_mountinfo_keeps_the_mount_order_and_skips_short_lines():
    assert mounts.parse_mountinfo(MOUNTINFO) == [
        {'device': '0:21', 'root': '/', 'point': '/'},
        {'device': '259:1', 'root': '/vol', 'point': '/opt/sagemaker'},
        {'device': '253:0', 'root': '/', 'point': '/opt/dlami/nvme'},
        {'device': '259:2', 'root': '/a b', 'point': '/mnt/with space'},
        {'device': '259:3', 'root': '/', 'point': '/mnt/back\\slash\ttab\nnewline'},
        {'device': '259:1', 'root': '/vol/containerd', 'point': '/var/lib/containerd'},
    ]
    assert mounts.parse_mountinfo('') == []


def test_mount_points_are_exact_entries():
    points = mounts.mount_points(MOUNTINFO)
    assert points == {'/', '/opt/sagemaker', '/opt/dlami/nvme', '/mnt/with space', '/mnt/back\\slash\ttab\nnewline',
                      '/var/lib/containerd'}
    assert '/opt' not in points and '/opt/sagemaker-old' not in points and '/opt/dlami' not in points
    # A point mounted twice is one entry.
    assert mounts.mount_points(MOUNTINFO + MOUNTINFO) == points


def test_read_mountinfo_reads_this_process_mounts():
    text = mounts.read_mountinfo()
    if os.path.exists('/proc/self/mountinfo'):
        assert '/' in mounts.mount_points(text)
    else:
        assert text == ''


def test_read_mountinfo_without_proc_is_empty(monkeypatch):
    def no_proc(path, *args, **kwargs):
        raise IOError(2, 'No such file or directory', path)
    monkeypatch.setattr(mounts, 'open', no_proc, raising=False)
    assert mounts.read_mountinfo() == ''
    assert mounts.mount_points(mounts.read_mountinfo()) == set()


def test_data_root_info_uses_the_same_functions():
    from ansible_collections.hyperpod.eks_lifecycle.plugins.modules import data_root_info
    for name in ('unescape_mountinfo', 'parse_mountinfo', 'mount_points', 'read_mountinfo'):
        assert getattr(data_root_info, name) is getattr(mounts, name)
