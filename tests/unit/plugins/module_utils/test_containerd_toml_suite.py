# -*- coding: utf-8 -*-
# Copyright: contributors to hyperpod.eks_lifecycle
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""toml-test's TOML 1.0.0 cases against containerd_toml's reader and writer.

The cases are test data that `make units` unpacks (target toml-test-suite, tests/tools/fetch-toml-test.sh,
which also says where they come from) to SUITE: ansible-test runs these tests from a copy of the tree, so
they are found at that fixed path. Without them the tests fail; they do not skip.

A valid case NAME.toml comes with NAME.json, its value in toml-test's tagged JSON: tables are objects,
arrays are arrays, and every other value is {"type": TYPE, "value": STRING}. ``tagged`` turns what the
reader returns into that form, and ``compare_tagged`` compares two such structures the way toml-test's
CompareJSON does (json.go): floats by value (any NaN equals any NaN), date-times as instants, the rest
as strings.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import datetime
import io
import json
import math
import os
import re

import pytest

from ansible_collections.hyperpod.eks_lifecycle.plugins.module_utils.containerd_toml import TomlError, dumps, loads

try:
    import tomllib
except ImportError:  # Python < 3.11
    tomllib = None


SUITE = '/var/tmp/hyperpod-eks-lifecycle/toml-test/tomlkit-0.15.2/tests'
CASE_LIST = os.path.join(SUITE, 'files-toml-1.0.0')
MISSING = ('%s is missing: run `make toml-test-suite` (a prerequisite of `make units`), which unpacks '
           "toml-test's cases with tests/tools/fetch-toml-test.sh" % CASE_LIST)
# What toml-test v2.1.0 lists for TOML 1.0.0; a different count means a different or truncated suite.
VALID_COUNT = 205
INVALID_COUNT = 473


def _case_names():
    """(valid, invalid) case names without their .toml, or (None, None) when the suite is missing."""
    try:
        with io.open(CASE_LIST, encoding='utf-8') as handle:
            files = handle.read().split()
    except (IOError, OSError):
        return None, None
    valid = sorted(name[:-len('.toml')] for name in files if name.startswith('valid/') and name.endswith('.toml'))
    invalid = sorted(name[:-len('.toml')] for name in files if name.startswith('invalid/') and name.endswith('.toml'))
    return valid, invalid


VALID, INVALID = _case_names()
# With the suite missing, each parametrised test still runs once, and fails with MISSING.
VALID_PARAMS = VALID or ['suite-missing']
INVALID_PARAMS = INVALID or ['suite-missing']


def require_suite():
    if VALID is None:
        pytest.fail(MISSING, pytrace=False)


def read_bytes(name, ext):
    with open(os.path.join(SUITE, name + ext), 'rb') as handle:
        return handle.read()


def read_valid(name):
    """The TOML text of a valid case (valid cases are UTF-8) and its expected tagged JSON."""
    text = read_bytes(name, '.toml').decode('utf-8')
    expected = json.loads(read_bytes(name, '.json').decode('utf-8'))
    return text, expected


# -- the reader's values as toml-test's tagged JSON ------------------------------------------

def _format_time(value):
    text = '%02d:%02d:%02d' % (value.hour, value.minute, value.second)
    if value.microsecond:
        text += '.%06d' % value.microsecond
    return text


def _format_offset(offset):
    sign = '-' if offset < datetime.timedelta(0) else '+'
    seconds = int(abs(offset).total_seconds())
    text = '%s%02d:%02d' % (sign, seconds // 3600, seconds // 60 % 60)
    if seconds % 60 or abs(offset).microseconds:
        # Not RFC 3339: compare_tagged refuses it, as toml-test would.
        text += ':%02d' % (seconds % 60)
    return text


def tagged(value):
    """The tagged JSON structure of a value the reader returns (written independently of the writer)."""
    if isinstance(value, dict):
        return dict((key, tagged(item)) for key, item in value.items())
    if isinstance(value, list):
        return [tagged(item) for item in value]
    if isinstance(value, bool):
        return {'type': 'bool', 'value': 'true' if value else 'false'}
    if isinstance(value, int):
        return {'type': 'integer', 'value': str(value)}
    if isinstance(value, float):
        if math.isnan(value):
            text = 'nan'
        elif math.isinf(value):
            text = 'inf' if value > 0 else '-inf'
        else:
            text = repr(value)
        return {'type': 'float', 'value': text}
    if isinstance(value, str):
        return {'type': 'string', 'value': value}
    if isinstance(value, datetime.datetime):
        text = '%04d-%02d-%02dT%s' % (value.year, value.month, value.day, _format_time(value))
        offset = value.utcoffset()
        if offset is None:
            return {'type': 'datetime-local', 'value': text}
        return {'type': 'datetime', 'value': text + _format_offset(offset)}
    if isinstance(value, datetime.date):
        return {'type': 'date-local', 'value': '%04d-%02d-%02d' % (value.year, value.month, value.day)}
    if isinstance(value, datetime.time):
        if value.utcoffset() is not None:
            raise TypeError('TOML has no time with an offset: %r' % value)
        return {'type': 'time-local', 'value': _format_time(value)}
    raise TypeError('not a value the TOML reader returns: %r' % (value,))


# -- toml-test's comparison (json.go, CompareJSON) -------------------------------------------

_DATE = r'([0-9]{4})-([0-9]{2})-([0-9]{2})'
_TIME = r'([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]+))?'
# The layouts toml-test parses each kind with (Go's time.Parse also takes a fraction after the seconds).
_LAYOUTS = {
    'datetime': re.compile(_DATE + 'T' + _TIME + r'(Z|[+-][0-9]{2}:[0-9]{2})\Z'),
    'datetime-local': re.compile(_DATE + 'T' + _TIME + r'\Z'),
    'date-local': re.compile(_DATE + r'\Z'),
    'time-local': re.compile(_TIME + r'\Z'),
}


def _nanos(fraction):
    return int((fraction or '0')[:9].ljust(9, '0'))


def datetime_key(kind, text):
    """What toml-test compares of a date-time: the instant of an offset date-time, else the fields."""
    text = text.replace(' ', 'T').replace('t', 'T').replace('z', 'Z')
    match = _LAYOUTS[kind].match(text)
    if not match:
        raise ValueError('%r is not a %s' % (text, kind))
    fields = match.groups()
    if kind == 'time-local':
        hour, minute, second = (int(field) for field in fields[:3])
        datetime.time(hour, minute, second)  # range checks
        return hour, minute, second, _nanos(fields[3])
    day = datetime.date(int(fields[0]), int(fields[1]), int(fields[2]))
    if kind == 'date-local':
        return (day,)
    hour, minute, second = (int(field) for field in fields[3:6])
    datetime.time(hour, minute, second)
    if kind == 'datetime-local':
        return day, hour, minute, second, _nanos(fields[6])
    offset = 0
    if fields[7] != 'Z':
        offset = (int(fields[7][1:3]) * 60 + int(fields[7][4:6])) * 60
        if fields[7][0] == '-':
            offset = -offset
    seconds = day.toordinal() * 86400 + hour * 3600 + minute * 60 + second - offset
    return seconds * 10 ** 9 + _nanos(fields[6])


def _is_value(node):
    return isinstance(node, dict) and len(node) == 2 and 'type' in node and 'value' in node


def _compare_values(want, have, key):
    if want['type'] != have['type']:
        return '%s: expected a %s, got a %s (%r)' % (key, want['type'], have['type'], have['value'])
    kind, wanted, got = want['type'], want['value'], have['value']
    if kind == 'float':
        wanted, got = wanted.lower(), got.lower()
        if wanted.endswith('nan') or got.endswith('nan'):
            equal = wanted.lstrip('+-') == got.lstrip('+-')
        else:
            try:
                equal = float(wanted) == float(got)
            except ValueError:
                return '%s: %r is not a float' % (key, got)
    elif kind in _LAYOUTS:
        try:
            equal = datetime_key(kind, wanted) == datetime_key(kind, got)
        except ValueError as exc:
            return '%s: %s' % (key, exc)
    elif kind == 'bool':
        equal = wanted.lower() == got.lower()
    else:
        equal = wanted == got
    if not equal:
        return '%s: expected %s %r, got %r' % (key, kind, wanted, got)
    return None


def compare_tagged(want, have, key='(top)'):
    """None when the tagged structures are equal as toml-test compares them, else the first difference."""
    if isinstance(want, list):
        if not isinstance(have, list):
            return '%s: expected an array, got %r' % (key, have)
        if len(want) != len(have):
            return '%s: expected %d items, got %d' % (key, len(want), len(have))
        for index, (item_want, item_have) in enumerate(zip(want, have)):
            diff = compare_tagged(item_want, item_have, '%s[%d]' % (key, index))
            if diff:
                return diff
        return None
    if not isinstance(want, dict):
        raise ValueError('%s: malformed expected value %r' % (key, want))
    if not isinstance(have, dict):
        return '%s: expected a table or a value, got an array %r' % (key, have)
    if _is_value(want) != _is_value(have):
        return '%s: expected %s, got %r' % (key, 'a value' if _is_value(want) else 'a table', have)
    if _is_value(want):
        return _compare_values(want, have, key)
    if set(want) != set(have):
        return '%s: keys differ: missing %s, unexpected %s' % (key, sorted(set(want) - set(have)), sorted(set(have) - set(want)))
    for name in sorted(want):
        diff = compare_tagged(want[name], have[name], '%s.%s' % (key, json.dumps(name)))
        if diff:
            return diff
    return None


# -- the comparison itself -------------------------------------------------------------------

@pytest.mark.parametrize('want, have', [
    ({'type': 'float', 'value': '1e2'}, {'type': 'float', 'value': '100.0'}),
    ({'type': 'float', 'value': '-0.0'}, {'type': 'float', 'value': '0.0'}),
    ({'type': 'float', 'value': '+nan'}, {'type': 'float', 'value': 'nan'}),
    ({'type': 'float', 'value': '+inf'}, {'type': 'float', 'value': 'inf'}),
    ({'type': 'bool', 'value': 'true'}, {'type': 'bool', 'value': 'TRUE'}),
    ({'type': 'datetime', 'value': '1979-05-27T00:32:00-07:00'}, {'type': 'datetime', 'value': '1979-05-27T07:32:00Z'}),
    ({'type': 'datetime', 'value': '1987-07-05 17:45:00z'}, {'type': 'datetime', 'value': '1987-07-05T17:45:00.000+00:00'}),
    ({'type': 'datetime-local', 'value': '1979-05-27T00:32:00.999'}, {'type': 'datetime-local', 'value': '1979-05-27t00:32:00.999000'}),
    ({'type': 'time-local', 'value': '00:32:00.5'}, {'type': 'time-local', 'value': '00:32:00.500000'}),
    ({'a': [{'type': 'integer', 'value': '1'}], 'b': {}}, {'b': {}, 'a': [{'type': 'integer', 'value': '1'}]}),
])
def test_compare_tagged_equal(want, have):
    assert compare_tagged(want, have) is None


@pytest.mark.parametrize('want, have', [
    ({'type': 'integer', 'value': '1'}, {'type': 'float', 'value': '1.0'}),
    ({'type': 'integer', 'value': '255'}, {'type': 'integer', 'value': '0xff'}),
    ({'type': 'float', 'value': 'nan'}, {'type': 'float', 'value': 'inf'}),
    ({'type': 'float', 'value': '0.1'}, {'type': 'float', 'value': '0.10000000000000002'}),
    ({'type': 'string', 'value': 'a'}, {'type': 'string', 'value': 'A'}),
    ({'type': 'datetime', 'value': '1979-05-27T00:32:00-07:00'}, {'type': 'datetime', 'value': '1979-05-27T00:32:00Z'}),
    ({'type': 'datetime', 'value': '1979-05-27T00:32:00Z'}, {'type': 'datetime', 'value': '1979-05-27T00:32:00+00:00:30'}),
    ({'type': 'datetime', 'value': '1979-05-27T00:32:00Z'}, {'type': 'datetime-local', 'value': '1979-05-27T00:32:00'}),
    ({'type': 'time-local', 'value': '00:32:00.5'}, {'type': 'time-local', 'value': '00:32:00.500001'}),
    ({'type': 'date-local', 'value': '1979-05-27'}, {'type': 'date-local', 'value': '1979-02-30'}),
    ({'a': {}}, {'a': {}, 'b': {}}),
    ({'a': []}, {'a': {}}),
    ({'a': [{}]}, {'a': [{}, {}]}),
    ({'a': {'type': 'integer', 'value': '1'}}, {'a': {'b': {'type': 'integer', 'value': '1'}}}),
])
def test_compare_tagged_different(want, have):
    assert compare_tagged(want, have) is not None


def test_tagged():
    utc = datetime.timezone.utc
    assert tagged({
        'b': True, 'i': -3, 'f': -0.0, 'n': float('-nan'), 'inf': float('-inf'), 's': '', 'a': [[]], 't': {},
        'odt': datetime.datetime(1, 1, 1, tzinfo=utc),
        'odt2': datetime.datetime(1979, 5, 27, 0, 32, 0, 999000, datetime.timezone(-datetime.timedelta(hours=7, minutes=30))),
        'ldt': datetime.datetime(9999, 12, 31, 23, 59, 59, 1), 'ld': datetime.date(2000, 2, 29), 'lt': datetime.time(7, 32),
    }) == {
        'b': {'type': 'bool', 'value': 'true'}, 'i': {'type': 'integer', 'value': '-3'},
        'f': {'type': 'float', 'value': '-0.0'}, 'n': {'type': 'float', 'value': 'nan'},
        'inf': {'type': 'float', 'value': '-inf'}, 's': {'type': 'string', 'value': ''}, 'a': [[]], 't': {},
        'odt': {'type': 'datetime', 'value': '0001-01-01T00:00:00+00:00'},
        'odt2': {'type': 'datetime', 'value': '1979-05-27T00:32:00.999000-07:30'},
        'ldt': {'type': 'datetime-local', 'value': '9999-12-31T23:59:59.000001'},
        'ld': {'type': 'date-local', 'value': '2000-02-29'}, 'lt': {'type': 'time-local', 'value': '07:32:00'},
    }


# -- the suite ----------------------------------------------------------------------------------

def test_suite_is_complete():
    require_suite()
    assert (len(VALID), len(INVALID)) == (VALID_COUNT, INVALID_COUNT)
    for name in VALID:
        assert os.path.isfile(os.path.join(SUITE, name + '.json')), name


@pytest.mark.parametrize('name', VALID_PARAMS)
def test_valid_case(name):
    require_suite()
    text, expected = read_valid(name)
    diff = compare_tagged(expected, tagged(loads(text)))
    assert diff is None, diff


@pytest.mark.parametrize('name', INVALID_PARAMS)
def test_invalid_case(name):
    """Refused with TomlError; any other exception fails the test.

    Some cases are not UTF-8 (that is what they test): they are decoded the way the modules decode
    what they read (to_text's surrogate_or_strict), so their undecodable bytes reach the reader as
    lone surrogates.
    """
    require_suite()
    text = read_bytes(name, '.toml').decode('utf-8', 'surrogateescape')
    with pytest.raises(TomlError):
        loads(text)


@pytest.mark.parametrize('name', VALID_PARAMS)
def test_valid_case_round_trip(name):
    """The writer writes what the reader returned so that the reader gives it back, exactly."""
    require_suite()
    text, expected = read_valid(name)
    data = loads(text)
    written = dumps(data)
    again = loads(written)
    # Stricter than toml-test's comparison: the same offsets, the same sign of zero.
    assert tagged(again) == tagged(data), written
    diff = compare_tagged(expected, tagged(again))
    assert diff is None, '%s\n%s' % (diff, written)
    assert dumps(again) == written


@pytest.mark.parametrize('name', VALID_PARAMS)
def test_valid_case_written_reads_with_tomllib(name):
    require_suite()
    if tomllib is None:
        pytest.skip('tomllib needs Python 3.11 or later')
    text, expected = read_valid(name)
    written = dumps(loads(text))
    diff = compare_tagged(expected, tagged(tomllib.loads(written)))
    assert diff is None, '%s\n%s' % (diff, written)
