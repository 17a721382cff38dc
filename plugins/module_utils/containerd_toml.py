# -*- coding: utf-8 -*-
# Copyright: contributors to hyperpod.eks_lifecycle
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""A small TOML 1.0 reader and writer for containerd configuration files.

This runs on the managed node (Python 3.7+, standard library only), so it cannot use
``tomllib`` (3.11+) or third-party packages.

``loads(text)`` returns plain ``dict``/``list``/``str``/``int``/``float``/``bool`` values.
Date-time values are returned like ``tomllib`` returns them: offset date-times as aware
``datetime.datetime`` objects, local date-times as naive ``datetime.datetime``, local dates
as ``datetime.date`` and local times as ``datetime.time`` (fractional seconds are truncated
to microseconds). containerd configurations do not use date-times. A UTF-8 byte order mark
(U+FEFF) at the very start of the text is skipped; the text must not hold lone surrogates
(what ``surrogateescape`` decoding makes of bytes that are not UTF-8).

``dumps(data)`` writes a deterministic document: in every table, first the plain values
(in insertion order), then the sub-tables as ``[dotted."quoted.key"]`` headers and lists of
tables as ``[[header]]`` blocks. TOML offsets are whole minutes, so an aware date-time whose
offset has seconds is written as the same instant in UTC; TOML has no time of day with an
offset, so an aware ``datetime.time`` is refused (TypeError), as are ``None`` and strings
with lone surrogates.

``parse_document(text)`` additionally returns the position of every statement (table header
or key/value pair) in the text; ``containerd_config_set`` uses it for in-place edits.
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import datetime
import math
import re

from collections.abc import Mapping


__all__ = ['TomlError', 'Statement', 'loads', 'dumps', 'parse_document', 'format_key', 'format_value']


class TomlError(ValueError):
    """Raised for malformed TOML. ``lineno`` and ``colno`` are 1-based (None when unknown)."""

    def __init__(self, msg, lineno=None, colno=None):
        self.msg = msg
        self.lineno = lineno
        self.colno = colno
        if lineno is None:
            text = msg
        else:
            text = 'line %d, column %d: %s' % (lineno, colno, msg)
        super(TomlError, self).__init__(text)


class Statement(object):
    """Where a statement sits in the parsed text (offsets into the text).

    ``kind`` is ``table`` (``[a.b]``), ``array_table`` (``[[a.b]]``) or ``keyval`` (``k = v``).
    ``key`` is the tuple of key segments as written (relative to its table for ``keyval``).
    ``table`` is the key of the header the statement belongs to (``()`` at top level) and
    ``section`` the index of that header statement in the statement list (-1 at top level);
    for a header, ``table`` is its own key and ``section`` its own index.
    ``start``/``end`` enclose the statement (without trailing whitespace or comment);
    ``value_start``/``value_end`` enclose the value of a ``keyval``.
    """

    __slots__ = ('kind', 'key', 'table', 'section', 'start', 'end', 'value_start', 'value_end')

    def __init__(self, kind, key, table, section, start, end, value_start=None, value_end=None):
        self.kind = kind
        self.key = key
        self.table = table
        self.section = section
        self.start = start
        self.end = end
        self.value_start = value_start
        self.value_end = value_end

    def __repr__(self):
        return 'Statement(%r, %r, table=%r, start=%r, end=%r)' % (self.kind, self.key, self.table, self.start, self.end)


_MISSING = object()
_BARE_KEY_CHARS = frozenset('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-')
_BARE_KEY_RE = re.compile(r'[A-Za-z0-9_-]+\Z')
_ESCAPE_IN = {'b': '\b', 't': '\t', 'n': '\n', 'f': '\f', 'r': '\r', '"': '"', '\\': '\\'}
_ESCAPE_OUT = {'\b': '\\b', '\t': '\\t', '\n': '\\n', '\f': '\\f', '\r': '\\r', '"': '\\"', '\\': '\\\\'}

# Runs of characters that need no special handling inside the various string kinds.
_BASIC_PLAIN = re.compile(r'[^"\\\x00-\x08\x0a-\x1f\x7f]+')
_LITERAL_PLAIN = re.compile(r"[^'\x00-\x08\x0a-\x1f\x7f]+")
_COMMENT_PLAIN = re.compile(r'[^\x00-\x08\x0a-\x1f\x7f]*')

# [0-9], not \d: \d would also match other scripts' digits, which int() accepts.
_DATETIME_RE = re.compile(
    r'([0-9]{4})-([0-9]{2})-([0-9]{2})'
    r'(?:[Tt ]([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]+))?(?:([Zz])|([+-])([0-9]{2}):([0-9]{2}))?)?')
_TIME_RE = re.compile(r'([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]+))?')
_HEX_RE = re.compile(r'0x([0-9A-Fa-f](?:_?[0-9A-Fa-f])*)')
_OCT_RE = re.compile(r'0o([0-7](?:_?[0-7])*)')
_BIN_RE = re.compile(r'0b([01](?:_?[01])*)')
_DEC_RE = re.compile(
    r'[+-]?(?:0|[1-9](?:_?[0-9])*)'
    r'(\.[0-9](?:_?[0-9])*)?'
    r'([eE][+-]?[0-9](?:_?[0-9])*)?')
_SPECIAL_FLOAT_RE = re.compile(r'([+-]?)(inf|nan)')
# A str holding a lone surrogate cannot be UTF-8 text; surrogateescape decoding turns bytes
# that are not UTF-8 into them.
_SURROGATE_RE = re.compile(u'[\ud800-\udfff]')
_BOM = u'\ufeff'
_MINUTE = datetime.timedelta(minutes=1)


def _is_control(ch):
    code = ord(ch)
    return (code < 0x20 and ch != '\t') or code == 0x7f


class _Parser(object):

    def __init__(self, text):
        if not isinstance(text, str):
            raise TypeError('TOML text must be str, not %s' % type(text).__name__)
        self.s = text
        self.n = len(text)
        # A byte order mark may start the document; positions stay offsets into the text given.
        self.i = 1 if text.startswith(_BOM) else 0
        self.root = {}
        self.statements = []
        # ids of tables that may no longer be (re)defined by a header or extended by dotted keys:
        # tables opened by a [header], and tables created by dotted keys in an earlier section.
        self.closed = set()
        # ids of tables created by dotted keys in the current section.
        self.dotted = set()
        # ids of inline tables (immutable, including their nested tables).
        self.frozen = set()
        # ids of the lists created by [[header]].
        self.aot = set()

    # -- helpers -----------------------------------------------------------------------------

    def error(self, msg, pos=None):
        if pos is None:
            pos = self.i
        pos = max(0, min(pos, self.n))
        lineno = self.s.count('\n', 0, pos) + 1
        colno = pos - (self.s.rfind('\n', 0, pos) + 1) + 1
        return TomlError(msg, lineno, colno)

    def peek(self, offset=0):
        pos = self.i + offset
        if pos < self.n:
            return self.s[pos]
        return ''

    def skip_ws(self):
        s, n, i = self.s, self.n, self.i
        while i < n and s[i] in ' \t':
            i += 1
        self.i = i

    def skip_comment(self):
        if self.peek() != '#':
            return
        self.i += 1
        m = _COMMENT_PLAIN.match(self.s, self.i)
        self.i = m.end()
        c = self.peek()
        if c and c != '\n' and not self.s.startswith('\r\n', self.i):
            raise self.error('control character %r is not allowed in a comment' % c)

    def newline_len(self):
        c = self.peek()
        if c == '\n':
            return 1
        if c == '\r' and self.peek(1) == '\n':
            return 2
        return 0

    def expect_eol(self, what):
        if self.i >= self.n:
            return
        length = self.newline_len()
        if not length:
            c = self.peek()
            raise self.error('expected end of line after %s, found %r' % (what, c))
        self.i += length

    def skip_blank(self):
        """Skip whitespace, comments and newlines (inside arrays)."""
        while True:
            self.skip_ws()
            self.skip_comment()
            length = self.newline_len()
            if not length:
                return
            self.i += length

    # -- document ----------------------------------------------------------------------------

    def parse(self):
        bad = _SURROGATE_RE.search(self.s)
        if bad:
            raise self.error('character U+%04X (a lone surrogate) is not allowed: a TOML document must be valid UTF-8'
                             % ord(bad.group()), bad.start())
        current = self.root
        current_path = ()
        section = -1
        while True:
            self.skip_ws()
            if self.i >= self.n:
                break
            c = self.peek()
            if c == '\r' and not self.newline_len():
                raise self.error('carriage return without a following newline')
            if c == '#' or self.newline_len():
                self.skip_comment()
                self.expect_eol('comment')
                continue
            start = self.i
            if c == '[':
                aot = self.peek(1) == '['
                self.i += 2 if aot else 1
                self.skip_ws()
                key = self.parse_key()
                self.skip_ws()
                closing = ']]' if aot else ']'
                if not self.s.startswith(closing, self.i):
                    raise self.error("expected '%s' at the end of table header" % closing)
                self.i += len(closing)
                # Tables made by dotted keys in the section that just ended can no longer change.
                self.closed.update(self.dotted)
                self.dotted = set()
                current = self.open_table(key, aot, start)
                current_path = tuple(key)
                section = len(self.statements)
                self.statements.append(Statement('array_table' if aot else 'table', current_path, current_path,
                                                 section, start, self.i))
                what = 'table header'
            else:
                key, value, value_start, value_end = self.parse_keyval()
                self.store(current, key, value, start)
                self.statements.append(Statement('keyval', tuple(key), current_path, section, start, value_end,
                                                 value_start, value_end))
                what = 'value'
            self.skip_ws()
            self.skip_comment()
            self.expect_eol(what)
        return self.root

    def open_table(self, key, aot, start):
        node = self.root
        for idx, seg in enumerate(key[:-1]):
            child = node.get(seg, _MISSING)
            if child is _MISSING:
                child = {}
                node[seg] = child
            elif isinstance(child, dict):
                if id(child) in self.frozen:
                    raise self.error('cannot extend inline table %s' % _show(key[:idx + 1]), start)
            elif isinstance(child, list) and id(child) in self.aot:
                child = child[-1]
            else:
                raise self.error('key %s is already defined as a value, not a table' % _show(key[:idx + 1]), start)
            node = child
        last = key[-1]
        existing = node.get(last, _MISSING)
        if aot:
            if existing is _MISSING:
                existing = []
                node[last] = existing
                self.aot.add(id(existing))
            elif not (isinstance(existing, list) and id(existing) in self.aot):
                raise self.error('cannot define array of tables [[%s]]: key is already defined' % _show(key), start)
            table = {}
            existing.append(table)
            self.closed.add(id(table))
            return table
        if existing is _MISSING:
            table = {}
            node[last] = table
            self.closed.add(id(table))
            return table
        if isinstance(existing, dict) and id(existing) not in self.closed and id(existing) not in self.frozen:
            # A table so far only implied by the header of one of its sub-tables.
            self.closed.add(id(existing))
            return existing
        raise self.error('table [%s] is defined more than once' % _show(key), start)

    def store(self, table, key, value, start):
        node = table
        for idx, seg in enumerate(key[:-1]):
            child = node.get(seg, _MISSING)
            if child is _MISSING:
                child = {}
                node[seg] = child
                self.dotted.add(id(child))
            elif not isinstance(child, dict):
                raise self.error('key %s is already defined as a value, not a table' % _show(key[:idx + 1]), start)
            elif id(child) in self.frozen:
                raise self.error('cannot extend inline table %s' % _show(key[:idx + 1]), start)
            elif id(child) in self.closed:
                raise self.error('cannot add keys to table %s with dotted keys: it is defined elsewhere'
                                 % _show(key[:idx + 1]), start)
            node = child
        if key[-1] in node:
            raise self.error('duplicate key %s' % _show(key), start)
        node[key[-1]] = value
        self.freeze(value)

    def freeze(self, value):
        if isinstance(value, dict):
            self.frozen.add(id(value))
            for item in value.values():
                self.freeze(item)
        elif isinstance(value, list):
            for item in value:
                self.freeze(item)

    # -- keys --------------------------------------------------------------------------------

    def parse_key(self):
        parts = [self.parse_simple_key()]
        while True:
            save = self.i
            self.skip_ws()
            if self.peek() != '.':
                self.i = save
                return parts
            self.i += 1
            self.skip_ws()
            parts.append(self.parse_simple_key())

    def parse_simple_key(self):
        c = self.peek()
        if c == '"':
            if self.s.startswith('"""', self.i):
                raise self.error('multi-line strings cannot be used as keys')
            return self.parse_basic_string()
        if c == "'":
            if self.s.startswith("'''", self.i):
                raise self.error('multi-line strings cannot be used as keys')
            return self.parse_literal_string()
        s, n, i = self.s, self.n, self.i
        j = i
        while j < n and s[j] in _BARE_KEY_CHARS:
            j += 1
        if j == i:
            if not c or c in '\r\n':
                raise self.error('expected a key, found end of line')
            raise self.error('expected a key, found %r' % c)
        self.i = j
        return s[i:j]

    def parse_keyval(self):
        key = self.parse_key()
        self.skip_ws()
        if self.peek() != '=':
            c = self.peek()
            raise self.error("expected '=' after key %s, found %r" % (_show(key), c) if c and c not in '\r\n'
                             else "expected '=' after key %s, found end of line" % _show(key))
        self.i += 1
        self.skip_ws()
        value_start = self.i
        value = self.parse_value()
        return key, value, value_start, self.i

    # -- values ------------------------------------------------------------------------------

    def parse_value(self):
        s = self.s
        c = self.peek()
        if c == '"':
            if s.startswith('"""', self.i):
                return self.parse_ml_basic_string()
            return self.parse_basic_string()
        if c == "'":
            if s.startswith("'''", self.i):
                return self.parse_ml_literal_string()
            return self.parse_literal_string()
        if c == '[':
            return self.parse_array()
        if c == '{':
            return self.parse_inline_table()
        if s.startswith('true', self.i):
            self.i += 4
            return True
        if s.startswith('false', self.i):
            self.i += 5
            return False
        return self.parse_number_or_date()

    def parse_escape(self, out):
        """At a backslash in a basic string: append the escaped character."""
        s = self.s
        start = self.i
        esc = self.peek(1)
        if esc in _ESCAPE_IN:
            out.append(_ESCAPE_IN[esc])
            self.i += 2
            return
        if esc in ('u', 'U'):
            width = 4 if esc == 'u' else 8
            digits = s[self.i + 2:self.i + 2 + width]
            if len(digits) != width or not all(ch in '0123456789abcdefABCDEF' for ch in digits):
                raise self.error('invalid \\%s escape: expected %d hex digits' % (esc, width), start)
            code = int(digits, 16)
            if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
                raise self.error('escape \\%s%s is not a Unicode scalar value' % (esc, digits), start)
            out.append(chr(code))
            self.i += 2 + width
            return
        if not esc:
            raise self.error('unterminated string', start)
        raise self.error('invalid escape sequence \\%s' % (esc if esc not in '\r\n' else 'newline'), start)

    def parse_basic_string(self):
        s = self.s
        start = self.i
        self.i += 1
        out = []
        while True:
            m = _BASIC_PLAIN.match(s, self.i)
            if m:
                out.append(m.group())
                self.i = m.end()
            c = self.peek()
            if c == '"':
                self.i += 1
                return ''.join(out)
            if c == '\\':
                self.parse_escape(out)
            elif not c or c in '\r\n':
                raise self.error('unterminated string', start)
            else:
                raise self.error('control character %r is not allowed in a string' % c)

    def close_ml_string(self, quote, out):
        """At a QUOTE inside a multi-line string: consume it, and return True if it ends the string.

        Up to two quotes right before the closing three belong to the string's content.
        """
        if not self.s.startswith(quote * 3, self.i):
            out.append(quote)
            self.i += 1
            return False
        j = self.i
        while j < self.n and self.s[j] == quote:
            j += 1
        run = j - self.i
        if run > 5:
            raise self.error('too many quotes at the end of a multi-line string')
        out.append(quote * (run - 3))
        self.i = j
        return True

    def parse_ml_basic_string(self):
        s = self.s
        start = self.i
        self.i += 3
        self.i += self.newline_len()
        out = []
        while True:
            m = _BASIC_PLAIN.match(s, self.i)
            if m:
                out.append(m.group())
                self.i = m.end()
            c = self.peek()
            if c == '"':
                if self.close_ml_string('"', out):
                    return ''.join(out)
            elif c == '\\':
                nxt = self.peek(1)
                if nxt in (' ', '\t', '\n', '\r'):
                    # Line-ending backslash: it must be followed by only whitespace up to the newline.
                    j = self.i + 1
                    while j < self.n and s[j] in ' \t':
                        j += 1
                    self.i = j
                    if not self.newline_len():
                        raise self.error('invalid escape sequence: backslash followed by whitespace')
                    while True:
                        self.skip_ws()
                        length = self.newline_len()
                        if not length:
                            break
                        self.i += length
                else:
                    self.parse_escape(out)
            elif c == '\n':
                out.append('\n')
                self.i += 1
            elif c == '\r' and self.peek(1) == '\n':
                out.append('\n')
                self.i += 2
            elif not c:
                raise self.error('unterminated multi-line string', start)
            else:
                raise self.error('control character %r is not allowed in a string' % c)

    def parse_literal_string(self):
        s = self.s
        start = self.i
        self.i += 1
        m = _LITERAL_PLAIN.match(s, self.i)
        text = ''
        if m:
            text = m.group()
            self.i = m.end()
        c = self.peek()
        if c == "'":
            self.i += 1
            return text
        if not c or c in '\r\n':
            raise self.error('unterminated string', start)
        raise self.error('control character %r is not allowed in a string' % c)

    def parse_ml_literal_string(self):
        s = self.s
        start = self.i
        self.i += 3
        self.i += self.newline_len()
        out = []
        while True:
            m = _LITERAL_PLAIN.match(s, self.i)
            if m:
                out.append(m.group())
                self.i = m.end()
            c = self.peek()
            if c == "'":
                if self.close_ml_string("'", out):
                    return ''.join(out)
            elif c == '\n':
                out.append('\n')
                self.i += 1
            elif c == '\r' and self.peek(1) == '\n':
                out.append('\n')
                self.i += 2
            elif not c:
                raise self.error('unterminated multi-line string', start)
            else:
                raise self.error('control character %r is not allowed in a string' % c)

    def parse_array(self):
        start = self.i
        self.i += 1
        items = []
        while True:
            self.skip_blank()
            c = self.peek()
            if c == ']':
                self.i += 1
                return items
            if not c:
                raise self.error('unterminated array', start)
            items.append(self.parse_value())
            self.skip_blank()
            c = self.peek()
            if c == ',':
                self.i += 1
                continue
            if c == ']':
                self.i += 1
                return items
            if not c:
                raise self.error('unterminated array', start)
            raise self.error("expected ',' or ']' in array, found %r" % c)

    def parse_inline_table(self):
        start = self.i
        self.i += 1
        table = {}
        made_by_dots = set()
        self.skip_ws()
        if self.peek() == '}':
            self.i += 1
            return table
        while True:
            self.skip_ws()
            if not self.peek() or self.peek() in '\r\n':
                raise self.error('unterminated inline table (inline tables must be on one line)', start)
            key_start = self.i
            key, value = self.parse_keyval()[:2]
            node = table
            for idx, seg in enumerate(key[:-1]):
                child = node.get(seg, _MISSING)
                if child is _MISSING:
                    child = {}
                    node[seg] = child
                    made_by_dots.add(id(child))
                elif not isinstance(child, dict) or id(child) not in made_by_dots:
                    raise self.error('key %s is already defined in this inline table' % _show(key[:idx + 1]), key_start)
                node = child
            if key[-1] in node:
                raise self.error('duplicate key %s in inline table' % _show(key), key_start)
            node[key[-1]] = value
            self.skip_ws()
            c = self.peek()
            if c == ',':
                self.i += 1
                continue
            if c == '}':
                self.i += 1
                return table
            if not c or c in '\r\n':
                raise self.error('unterminated inline table (inline tables must be on one line)', start)
            raise self.error("expected ',' or '}' in inline table, found %r" % c)

    def parse_number_or_date(self):
        s, i = self.s, self.i
        c = self.peek()
        if not c or c in '\r\n#':
            raise self.error('expected a value')
        m = _DATETIME_RE.match(s, i)
        if m:
            self.i = m.end()
            return self.make_datetime(m, i)
        m = _TIME_RE.match(s, i)
        if m:
            self.i = m.end()
            try:
                return datetime.time(int(m.group(1)), int(m.group(2)), int(m.group(3)), _micros(m.group(4)))
            except ValueError as exc:
                raise self.error('invalid time %r: %s' % (m.group(), exc), i)
        for regex, base in ((_HEX_RE, 16), (_OCT_RE, 8), (_BIN_RE, 2)):
            m = regex.match(s, i)
            if m:
                self.i = m.end()
                return int(m.group(1).replace('_', ''), base)
        m = _SPECIAL_FLOAT_RE.match(s, i)
        if m:
            self.i = m.end()
            value = float(m.group(2))
            return -value if m.group(1) == '-' else value
        m = _DEC_RE.match(s, i)
        if m:
            self.i = m.end()
            text = m.group().replace('_', '')
            if m.group(1) or m.group(2):
                return float(text)
            try:
                return int(text)
            except ValueError:  # longer than sys.get_int_max_str_digits() (Python 3.7.14+)
                raise self.error('integer %s... is too long (%d digits)' % (text[:20], len(text)), i)
        raise self.error('invalid value starting with %r' % c)

    def make_datetime(self, m, pos):
        try:
            year, month, day = int(m.group(1)), int(m.group(2)), int(m.group(3))
            if m.group(4) is None:
                return datetime.date(year, month, day)
            tz = None
            if m.group(8):
                tz = datetime.timezone.utc
            elif m.group(9):
                hours, minutes = int(m.group(10)), int(m.group(11))
                if hours > 23 or minutes > 59:
                    raise ValueError('offset %s%s:%s out of range (-23:59 to +23:59)' % m.group(9, 10, 11))
                offset = datetime.timedelta(hours=hours, minutes=minutes)
                tz = datetime.timezone(-offset if m.group(9) == '-' else offset)
            return datetime.datetime(year, month, day, int(m.group(4)), int(m.group(5)), int(m.group(6)),
                                     _micros(m.group(7)), tz)
        except ValueError as exc:
            raise self.error('invalid date-time %r: %s' % (m.group(), exc), pos)


def _micros(fraction):
    if not fraction:
        return 0
    return int(fraction[:6].ljust(6, '0'))


def _show(key):
    return '.'.join(format_key(k) if isinstance(k, str) else repr(k) for k in key)


def _run(parser):
    try:
        return parser.parse()
    except RecursionError:
        raise parser.error('arrays or inline tables are nested too deeply')


def loads(text):
    """Parse TOML text into a dict. Raises TomlError (a ValueError) with the line number."""
    return _run(_Parser(text))


def parse_document(text):
    """Parse TOML text; return ``(data, statements)`` where statements is a list of Statement."""
    parser = _Parser(text)
    data = _run(parser)
    return data, parser.statements


# -- writer ----------------------------------------------------------------------------------

def format_string(value):
    """A TOML basic (double-quoted) string."""
    bad = _SURROGATE_RE.search(value)
    if bad:
        raise TypeError('TOML strings are Unicode text: cannot write lone surrogate U+%04X in %r' % (ord(bad.group()), value))
    out = ['"']
    for ch in value:
        if ch in _ESCAPE_OUT:
            out.append(_ESCAPE_OUT[ch])
        elif _is_control(ch):
            out.append('\\u%04x' % ord(ch))
        else:
            out.append(ch)
    out.append('"')
    return ''.join(out)


def format_key(key):
    """One key segment: bare when possible, otherwise a basic quoted string."""
    if not isinstance(key, str):
        raise TypeError('TOML keys must be strings, not %s (%r)' % (type(key).__name__, key))
    if _BARE_KEY_RE.match(key):
        return key
    return format_string(key)


def _is_sequence(value):
    return isinstance(value, (list, tuple))


def format_value(value):
    """A value as written on the right-hand side of ``key = value`` (arrays and tables inline)."""
    if isinstance(value, bool):
        return 'true' if value else 'false'
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, float):
        if math.isnan(value):
            return 'nan'
        if math.isinf(value):
            return 'inf' if value > 0 else '-inf'
        return repr(float(value))
    if isinstance(value, str):
        return format_string(value)
    if isinstance(value, datetime.datetime):
        return _format_datetime(value)
    if isinstance(value, datetime.time) and value.utcoffset() is not None:
        raise TypeError('TOML has no time of day with an offset: cannot write %s (make it a local time or a date-time)'
                        % value.isoformat())
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, Mapping):
        if not value:
            return '{}'
        return '{ %s }' % ', '.join('%s = %s' % (format_key(k), format_value(v)) for k, v in value.items())
    if _is_sequence(value):
        return '[%s]' % ', '.join(format_value(item) for item in value)
    if value is None:
        raise TypeError('TOML has no null value: cannot write None')
    raise TypeError('cannot write a value of type %s to TOML' % type(value).__name__)


def _format_datetime(value):
    offset = value.utcoffset()
    if offset is not None and offset % _MINUTE:
        # isoformat() would write +hh:mm:ss, which is not TOML: write the same instant in UTC.
        try:
            value = value.astimezone(datetime.timezone.utc)
        except (OverflowError, ValueError):
            raise TypeError('cannot write %s: TOML offsets are whole minutes, and the instant is out of range in UTC'
                            % value.isoformat())
    return value.isoformat()


def _is_array_of_tables(value):
    return _is_sequence(value) and len(value) > 0 and all(isinstance(item, Mapping) for item in value)


def _is_subtable(value):
    return isinstance(value, Mapping) or _is_array_of_tables(value)


def _dump_table(table, path, out):
    subtables = []
    for key, value in table.items():
        if _is_subtable(value):
            subtables.append((key, value))
        else:
            try:
                out.append('%s = %s' % (format_key(key), format_value(value)))
            except TypeError as exc:
                raise TypeError('%s (at %s)' % (exc, _show(path + (key,))))
    for key, value in subtables:
        sub_path = path + (key,)
        header = _show(sub_path)
        if isinstance(value, Mapping):
            # A table holding only sub-tables needs no header of its own; an empty one does.
            if not value or not all(_is_subtable(v) for v in value.values()):
                out.append('')
                out.append('[%s]' % header)
            _dump_table(value, sub_path, out)
        else:
            for item in value:
                out.append('')
                out.append('[[%s]]' % header)
                _dump_table(item, sub_path, out)


def dumps(data):
    """Write a mapping as a TOML document. Raises TypeError for values TOML cannot hold."""
    if not isinstance(data, Mapping):
        raise TypeError('a TOML document must be a mapping, not %s' % type(data).__name__)
    out = []
    _dump_table(data, (), out)
    while out and out[0] == '':
        out.pop(0)
    if not out:
        return ''
    return '\n'.join(out) + '\n'
