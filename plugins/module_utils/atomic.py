# -*- coding: utf-8 -*-
# Copyright: contributors to hyperpod.eks_lifecycle
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Replacing a file atomically, for the modules and the provision_report callback.

Standard library only, Python 3.7+.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import tempfile


def _candidate(data, directory, name):
    """A synced temporary file holding DATA in DIRECTORY (the system's when None); its path."""
    fd, path = tempfile.mkstemp(prefix='.%s.' % name, dir=directory)
    try:
        with os.fdopen(fd, 'wb') as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        os.unlink(path)
        raise
    return path


def fsync_directory(directory):
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path, data, mode, check=None, owner=None, create_only=False):
    """Replace PATH with DATA (bytes): a synced temporary file in the same directory, passed to
    CHECK (which raises to refuse it, leaving PATH as it was), given MODE and OWNER ((uid, gid)),
    renamed over PATH, and the directory synced. CREATE_ONLY: linked to PATH instead, so that a
    file someone else put there meanwhile is never replaced; returns whether PATH was written."""
    directory = os.path.dirname(os.path.abspath(path))
    candidate = _candidate(data, directory, os.path.basename(path))
    try:
        if check is not None:
            check(candidate)
        os.chmod(candidate, mode)
        if owner is not None:
            os.chown(candidate, owner[0], owner[1])
        if create_only:
            try:
                os.link(candidate, path)
            except OSError as exc:
                if not os.path.lexists(path):
                    raise
                del exc
                return False
        else:
            os.rename(candidate, path)
            candidate = None
    finally:
        if candidate is not None and os.path.exists(candidate):
            os.unlink(candidate)
    fsync_directory(directory)
    return True


def check_only(data, check, directory=None, name='candidate'):
    """Pass DATA, as a temporary file in DIRECTORY (the system's when None), to CHECK; write nothing."""
    candidate = _candidate(data, directory, name)
    try:
        check(candidate)
    finally:
        os.unlink(candidate)
