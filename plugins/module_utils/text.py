# -*- coding: utf-8 -*-
# Copyright: contributors to hyperpod.eks_lifecycle
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Values made fit for a one-line message or for JSON, for the modules and the controller plugins.

Standard library only, Python 3.7+.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime

MAX_MESSAGE = 2000


def one_line(text, limit=MAX_MESSAGE):
    """TEXT on one line (each run of whitespace one space), cut at LIMIT characters with '...'."""
    text = " ".join(str(text).split())
    return text[:limit] + "..." if len(text) > limit else text


def _isoformat(value):
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    return value


def jsonable(value, convert=_isoformat):
    """VALUE with every leaf passed through CONVERT (by default: dates and times as ISO 8601
    strings), tuples as lists, so that it survives JSON."""
    if isinstance(value, dict):
        return dict((k, jsonable(v, convert)) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return [jsonable(v, convert) for v in value]
    return convert(value)
