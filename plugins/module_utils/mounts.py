# -*- coding: utf-8 -*-
# Copyright: contributors to hyperpod.eks_lifecycle
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Mount points as the kernel lists them in /proc/self/mountinfo (not a substring of `mount`)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


def unescape_mountinfo(field):
    """Mount points in /proc/self/mountinfo escape space, tab, newline and backslash as \\ooo."""
    out = []
    i = 0
    while i < len(field):
        if field[i] == "\\" and i + 4 <= len(field) and field[i + 1:i + 4].isdigit():
            out.append(chr(int(field[i + 1:i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return ''.join(out)


def parse_mountinfo(text):
    """[{'device': 'maj:min', 'root': path in its file system, 'point': mount point}] in mount order."""
    mounts = []
    for line in text.splitlines():
        fields = line.split(' ')
        if len(fields) > 4:
            mounts.append({'device': fields[2], 'root': unescape_mountinfo(fields[3]),
                           'point': unescape_mountinfo(fields[4])})
    return mounts


def mount_points(text):
    return set(entry['point'] for entry in parse_mountinfo(text))


def read_mountinfo():
    try:
        with open('/proc/self/mountinfo') as handle:
            return handle.read()
    except (IOError, OSError):
        return ''
